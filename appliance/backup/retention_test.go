package backup_test

import (
	"sort"
	"testing"
	"time"

	"avanti/appliance/backup"
)

func TestRetentionKeepsSevenDailyFourWeeklyTwelveMonthly(t *testing.T) {
	// A backup every night at 02:00 UTC for two years, plus a second one on
	// the last day.
	end := time.Date(2026, 12, 2, 2, 0, 0, 0, time.UTC)
	var names []string
	for d := 0; d < 730; d++ {
		names = append(names, "avanti-"+end.AddDate(0, 0, -d).Format("20060102T150405Z"))
	}
	names = append(names, "avanti-"+end.Add(3*time.Hour).Format("20060102T150405Z"))
	keep := backup.KeepNames(names, backup.Retention{}, time.UTC)
	var kept []string
	for n, ok := range keep {
		if ok {
			kept = append(kept, n)
		}
	}
	sort.Strings(kept)
	// 7 days (the newest of the last day counts for it), the Sundays of
	// the three weeks before, and the last day of each of the 11 months
	// before the current one; some coincide.
	want := map[string]bool{
		"avanti-20261202T050000Z": true, // newest, and daily 1
		"avanti-20261201T020000Z": true,
		"avanti-20261130T020000Z": true,
		"avanti-20261129T020000Z": true, // a Sunday: weekly too
		"avanti-20261128T020000Z": true,
		"avanti-20261127T020000Z": true,
		"avanti-20261126T020000Z": true,
		"avanti-20261122T020000Z": true, // weekly
		"avanti-20261115T020000Z": true, // weekly
		"avanti-20261031T020000Z": true, // monthly
		"avanti-20260930T020000Z": true,
		"avanti-20260831T020000Z": true,
		"avanti-20260731T020000Z": true,
		"avanti-20260630T020000Z": true,
		"avanti-20260531T020000Z": true,
		"avanti-20260430T020000Z": true,
		"avanti-20260331T020000Z": true,
		"avanti-20260228T020000Z": true,
		"avanti-20260131T020000Z": true,
	}
	for _, n := range kept {
		if !want[n] {
			t.Errorf("kept %s", n)
		}
	}
	for n := range want {
		if !keep[n] {
			t.Errorf("did not keep %s", n)
		}
	}

	// Fewer kept when asked; a negative count keeps none of that kind.
	keep = backup.KeepNames(names, backup.Retention{Daily: 2, Weekly: -1, Monthly: -1}, time.UTC)
	n := 0
	for _, ok := range keep {
		if ok {
			n++
		}
	}
	if n != 2 {
		t.Errorf("2 daily only: kept %d", n)
	}
}

func TestDumpStatementsFitOnOneLine(t *testing.T) {
	for in, want := range map[string]string{
		"CREATE TABLE `t` (\n  `a` int COMMENT 'x\ny'\n)":                "CREATE TABLE `t` (   `a` int COMMENT 'x\\ny' )",
		"BEGIN\n  -- a comment; with */ inside\n  SELECT 'it''s;';\nEND": "BEGIN   /*  a comment; with * / inside */   SELECT 'it''s;'; END",
		"SELECT \"a\\\"\nb\" /* multi\nline */ # end":                    "SELECT \"a\\\"\\nb\" /* multi line */ /*  end */",
	} {
		got, err := backup.OneLine(in)
		if err != nil || got != want {
			t.Errorf("OneLine(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}
