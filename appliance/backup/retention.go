package backup

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"avanti/appliance/atomicfile"
)

// keepNames says which of the named backups the retention keeps: the
// newest, and the newest of each of the most recent days, ISO weeks and
// months that have one (in loc; nil is the local time zone).
func keepNames(names []string, r Retention, loc *time.Location) map[string]bool {
	if loc == nil {
		loc = time.Local
	}
	if r.Daily == 0 {
		r.Daily = DefaultRetention.Daily
	}
	if r.Weekly == 0 {
		r.Weekly = DefaultRetention.Weekly
	}
	if r.Monthly == 0 {
		r.Monthly = DefaultRetention.Monthly
	}
	sorted := append([]string(nil), names...)
	sortNames(sorted)
	keep := map[string]bool{}
	if len(sorted) > 0 {
		keep[sorted[len(sorted)-1]] = true
	}
	buckets := []struct {
		n   int
		key func(time.Time) string
	}{
		{r.Daily, func(t time.Time) string { return t.Format("2006-01-02") }},
		{r.Weekly, func(t time.Time) string { y, w := t.ISOWeek(); return fmt.Sprintf("%d-W%02d", y, w) }},
		{r.Monthly, func(t time.Time) string { return t.Format("2006-01") }},
	}
	for _, b := range buckets {
		seen := map[string]bool{}
		for i := len(sorted) - 1; i >= 0 && len(seen) < b.n; i-- {
			t, _, _ := parseName(sorted[i])
			k := b.key(t.In(loc))
			if !seen[k] {
				seen[k] = true
				keep[sorted[i]] = true
			}
		}
	}
	return keep
}

// prune deletes the backups the retention does not keep (never the newest,
// nor the newest verified one), then the shipped binlogs older than the
// oldest backup kept. It returns the names of the backups deleted.
func prune(dir string, r Retention, _ time.Time) ([]string, error) {
	all, err := backups(dir)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(all))
	for i, m := range all {
		names[i] = m.Name
	}
	keep := keepNames(names, r, nil)
	for i := len(all) - 1; i >= 0; i-- {
		var v Verification
		if readJSON(filepath.Join(dir, all[i].Name+verifiedExt), &v) == nil && v.OK {
			keep[all[i].Name] = true
			break
		}
	}
	var deleted []string
	var firstErr error
	var oldest *BinlogPos
	for _, m := range all {
		if keep[m.Name] {
			if oldest == nil && m.Binlog != nil {
				oldest = m.Binlog
			}
			continue
		}
		// The manifest goes first: without it the rest is a leftover that
		// the next run removes, never a backup that looks whole.
		for _, f := range []string{m.Name + manifestExt, m.Archive, m.Name + verifiedExt} {
			if err := os.Remove(filepath.Join(dir, f)); err != nil && !os.IsNotExist(err) && firstErr == nil {
				firstErr = err
			}
		}
		deleted = append(deleted, m.Name)
	}
	if oldest != nil {
		if err := pruneBinlogs(dir, *oldest); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	if len(deleted) > 0 {
		atomicfile.SyncDir(dir)
	}
	return deleted, firstErr
}

// pruneBinlogs deletes the shipped binlog files before from's file, which
// no kept backup needs.
func pruneBinlogs(dir string, from BinlogPos) error {
	local, err := localBinlogs(dir)
	if err != nil || len(local) == 0 {
		return err
	}
	base, seq, ok := splitBinlogName(from.File)
	if !ok {
		return nil
	}
	for _, f := range local[:len(local)-1] { // never the one being written
		if f.base == base && f.seq < seq {
			if err := os.Remove(filepath.Join(dir, binlogDir, f.name)); err != nil && !os.IsNotExist(err) {
				return err
			}
		}
	}
	return nil
}
