package agenda

import (
	"errors"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // Europe/Rome on machines without a zoneinfo database

	"avanti/appliance/civil"
)

func rome(t testing.TB) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Europe/Rome")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// weekday returns the date of s after checking it falls on wd, so a wrong
// date in a test fails loudly instead of testing the wrong day.
func weekday(t testing.TB, s string, wd time.Weekday) civil.Date {
	t.Helper()
	d := day(t, s)
	if d.Weekday() != wd {
		t.Fatalf("%s is a %s, not a %s", s, d.Weekday(), wd)
	}
	return d
}

func hm(h, m int) int { return h*60 + m }

func utc(t testing.TB, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// weekdays makes one range per weekday in wds.
func weekdays(start, end, slot, places int, wds ...time.Weekday) []Range {
	var rs []Range
	for _, wd := range wds {
		rs = append(rs, Range{Weekday: wd, Start: start, End: end, SlotMinutes: slot, Places: places})
	}
	return rs
}

var monToFri = []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday}

var everyDay = []time.Weekday{time.Sunday, time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday, time.Saturday}

func from2026(ranges ...Range) Agenda {
	return Agenda{ID: 1, ValidFrom: civil.Date{Year: 2026, Month: time.January, Day: 1}, Ranges: ranges}
}

func mustValid(t testing.TB, as ...Agenda) {
	t.Helper()
	for _, a := range as {
		if err := a.Validate(); err != nil {
			t.Fatalf("agenda %d: %v", a.ID, err)
		}
	}
}

// checkOrdered asserts the Generate contract: sorted by Start then End, no
// duplicate (Start, End), 0 <= Reserved <= Capacity, and UTC instants.
func checkOrdered(t testing.TB, slots []Slot) {
	t.Helper()
	for i, s := range slots {
		if s.Start.Location() != time.UTC || s.End.Location() != time.UTC {
			t.Fatalf("slot %d not in UTC: %v", i, s.Start)
		}
		if !s.End.After(s.Start) {
			t.Fatalf("slot %d ends before it starts: %v", i, s)
		}
		if s.Reserved < 0 || s.Reserved > s.Capacity {
			t.Fatalf("slot %d reserves %d of %d", i, s.Reserved, s.Capacity)
		}
		if i == 0 {
			continue
		}
		p := slots[i-1]
		if c := p.Start.Compare(s.Start); c > 0 || c == 0 && !p.End.Before(s.End) {
			t.Fatalf("slots %d and %d out of order or duplicated: %v / %v", i-1, i, p, s)
		}
	}
}

// checkNoOverlap asserts that consecutive slots do not overlap (for agendas
// whose slots should tile time).
func checkNoOverlap(t testing.TB, slots []Slot) {
	t.Helper()
	for i := 1; i < len(slots); i++ {
		if slots[i].Start.Before(slots[i-1].End) {
			t.Fatalf("slot %d %v overlaps slot %d %v", i, slots[i], i-1, slots[i-1])
		}
	}
}

func TestMorningAgendaMakesQuarterHourSlots(t *testing.T) {
	loc := rome(t)
	monday := weekday(t, "2026-06-15", time.Monday)
	for _, tc := range []struct {
		name        string
		end, slot   int
		wantN       int
		wantLastEnd string
	}{
		{"quarter hours", hm(12, 0), 15, 16, "2026-06-15T10:00:00Z"},
		{"partial last slot dropped", hm(12, 10), 15, 16, "2026-06-15T10:00:00Z"},
		{"twenty minutes", hm(12, 0), 20, 12, "2026-06-15T10:00:00Z"},
		{"one slot for the whole morning", hm(12, 0), 240, 1, "2026-06-15T10:00:00Z"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := from2026(Range{Weekday: time.Monday, Start: hm(8, 0), End: tc.end, SlotMinutes: tc.slot, Places: 2})
			mustValid(t, a)
			slots := Generate([]Agenda{a}, Rules{}, Holidays{}, loc, monday, monday.AddDays(1))
			checkOrdered(t, slots)
			checkNoOverlap(t, slots)
			if len(slots) != tc.wantN {
				t.Fatalf("got %d slots, want %d", len(slots), tc.wantN)
			}
			// 08:00 in Rome in June is 06:00 UTC (CEST, +02:00).
			if got := slots[0].Start; !got.Equal(utc(t, "2026-06-15T06:00:00Z")) {
				t.Errorf("first slot starts %v", got)
			}
			if got := slots[len(slots)-1].End; !got.Equal(utc(t, tc.wantLastEnd)) {
				t.Errorf("last slot ends %v, want %s", got, tc.wantLastEnd)
			}
			for _, s := range slots {
				if s.End.Sub(s.Start) != time.Duration(tc.slot)*time.Minute || s.Capacity != 2 || s.Reserved != 0 {
					t.Fatalf("slot %v", s)
				}
			}
		})
	}
}

func TestSpringForwardDayHas23HoursOfSlots(t *testing.T) {
	loc := rome(t)
	sunday := weekday(t, "2026-03-29", time.Sunday)
	a := from2026(Range{Weekday: time.Sunday, Start: 0, End: hm(24, 0), SlotMinutes: 5, Places: 1})
	slots := Generate([]Agenda{a}, Rules{}, Holidays{}, loc, sunday, sunday)
	checkOrdered(t, slots)
	checkNoOverlap(t, slots)
	if len(slots) != 276 {
		t.Fatalf("got %d slots, want 276 (23 hours of 5 minutes)", len(slots))
	}
	// Midnight CET is 23:00 UTC the day before; at 02:00 CET (01:00 UTC) the
	// clocks jump to 03:00 CEST; midnight CEST at the end is 22:00 UTC.
	want := map[int]string{
		0:   "2026-03-28T23:00:00Z", // 00:00 CET
		23:  "2026-03-29T00:55:00Z", // 01:55 CET, the last slot before the jump
		24:  "2026-03-29T01:00:00Z", // 03:00 CEST, straight after it
		275: "2026-03-29T21:55:00Z", // 23:55 CEST
	}
	for i, w := range want {
		if !slots[i].Start.Equal(utc(t, w)) {
			t.Errorf("slot %d starts %v, want %s", i, slots[i].Start, w)
		}
	}
	if got := slots[275].End; !got.Equal(utc(t, "2026-03-29T22:00:00Z")) {
		t.Errorf("last slot ends %v, want 22:00 UTC", got)
	}
	if got := slots[24].Start.In(loc).Format("15:04 MST"); got != "03:00 CEST" {
		t.Errorf("slot after the jump starts at %s local, want 03:00 CEST", got)
	}
	for i := 1; i < len(slots); i++ {
		if !slots[i].Start.Equal(slots[i-1].End) {
			t.Fatalf("gap between slot %d and %d", i-1, i)
		}
	}
}

func TestAutumnFallBackDayHas25HoursOfSlots(t *testing.T) {
	loc := rome(t)
	sunday := weekday(t, "2026-10-25", time.Sunday)
	a := from2026(Range{Weekday: time.Sunday, Start: 0, End: hm(24, 0), SlotMinutes: 5, Places: 1})
	slots := Generate([]Agenda{a}, Rules{}, Holidays{}, loc, sunday, sunday)
	checkOrdered(t, slots)
	checkNoOverlap(t, slots)
	if len(slots) != 300 {
		t.Fatalf("got %d slots, want 300 (25 hours of 5 minutes)", len(slots))
	}
	// 02:00-03:00 happens twice: first in CEST (00:00-01:00 UTC), then in CET
	// (01:00-02:00 UTC); both get slots.
	want := map[int]string{
		0:   "2026-10-24T22:00:00Z", // 00:00 CEST
		24:  "2026-10-25T00:00:00Z", // 02:00 CEST
		36:  "2026-10-25T01:00:00Z", // 02:00 CET, the hour again
		299: "2026-10-25T22:55:00Z", // 23:55 CET
	}
	for i, w := range want {
		if !slots[i].Start.Equal(utc(t, w)) {
			t.Errorf("slot %d starts %v, want %s", i, slots[i].Start, w)
		}
	}
	if got := slots[299].End; !got.Equal(utc(t, "2026-10-25T23:00:00Z")) {
		t.Errorf("last slot ends %v, want 23:00 UTC", got)
	}
	if a, b := slots[24].Start.In(loc).Format("15:04 MST"), slots[36].Start.In(loc).Format("15:04 MST"); a != "02:00 CEST" || b != "02:00 CET" {
		t.Errorf("repeated hour starts at %s and %s", a, b)
	}
}

func TestDaylightSavingDaysLeaveDaytimeRangesAlone(t *testing.T) {
	loc := rome(t)
	for _, tc := range []struct {
		name, day           string
		firstStart, lastEnd string
	}{
		{"spring forward", "2026-03-29", "2026-03-29T06:00:00Z", "2026-03-29T10:00:00Z"},
		{"fall back", "2026-10-25", "2026-10-25T07:00:00Z", "2026-10-25T11:00:00Z"},
		{"winter Sunday", "2026-01-11", "2026-01-11T07:00:00Z", "2026-01-11T11:00:00Z"},
		{"summer Sunday", "2026-07-12", "2026-07-12T06:00:00Z", "2026-07-12T10:00:00Z"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := weekday(t, tc.day, time.Sunday)
			a := from2026(Range{Weekday: time.Sunday, Start: hm(8, 0), End: hm(12, 0), SlotMinutes: 5, Places: 1})
			slots := Generate([]Agenda{a}, Rules{}, Holidays{}, loc, d, d)
			if len(slots) != 48 {
				t.Fatalf("got %d slots, want 48", len(slots))
			}
			if !slots[0].Start.Equal(utc(t, tc.firstStart)) || !slots[47].End.Equal(utc(t, tc.lastEnd)) {
				t.Errorf("slots span %v..%v, want %s..%s", slots[0].Start, slots[47].End, tc.firstStart, tc.lastEnd)
			}
		})
	}
}

func TestRangesAroundTheSpringGapDoNotOverlap(t *testing.T) {
	loc := rome(t)
	sunday := weekday(t, "2026-03-29", time.Sunday)
	for _, tc := range []struct {
		name   string
		ranges []Range
		starts []string
	}{
		{
			// 02:30 does not exist: the first range ends when the gap ends
			// (03:00 CEST), exactly where the second begins.
			name: "range ending inside the gap",
			ranges: []Range{
				{Weekday: time.Sunday, Start: 0, End: hm(2, 30), SlotMinutes: 30, Places: 1},
				{Weekday: time.Sunday, Start: hm(3, 0), End: hm(4, 0), SlotMinutes: 30, Places: 1},
			},
			starts: []string{"2026-03-28T23:00:00Z", "2026-03-28T23:30:00Z", "2026-03-29T00:00:00Z", "2026-03-29T00:30:00Z", "2026-03-29T01:00:00Z", "2026-03-29T01:30:00Z"},
		},
		{
			name: "range starting inside the gap",
			ranges: []Range{
				{Weekday: time.Sunday, Start: hm(1, 0), End: hm(2, 0), SlotMinutes: 30, Places: 1},
				{Weekday: time.Sunday, Start: hm(2, 30), End: hm(4, 0), SlotMinutes: 30, Places: 1},
			},
			starts: []string{"2026-03-29T00:00:00Z", "2026-03-29T00:30:00Z", "2026-03-29T01:00:00Z", "2026-03-29T01:30:00Z"},
		},
		{
			name:   "range entirely inside the gap",
			ranges: []Range{{Weekday: time.Sunday, Start: hm(2, 0), End: hm(3, 0), SlotMinutes: 15, Places: 1}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := from2026(tc.ranges...)
			mustValid(t, a)
			slots := Generate([]Agenda{a}, Rules{}, Holidays{}, loc, sunday, sunday)
			checkOrdered(t, slots)
			checkNoOverlap(t, slots)
			if len(slots) != len(tc.starts) {
				t.Fatalf("got %d slots, want %d: %v", len(slots), len(tc.starts), slots)
			}
			for i, w := range tc.starts {
				if !slots[i].Start.Equal(utc(t, w)) {
					t.Errorf("slot %d starts %v, want %s", i, slots[i].Start, w)
				}
			}
		})
	}
}

func TestYearOfAroundTheClockSlotsTilesTime(t *testing.T) {
	loc := rome(t)
	a := from2026(weekdays(0, hm(24, 0), 5, 1, everyDay...)...)
	a.OpenOnHolidays = true
	slots := Generate([]Agenda{a}, Rules{}, Holidays{}, loc, day(t, "2026-01-01"), day(t, "2026-12-31"))
	// The 23-hour and the 25-hour day cancel out.
	if want := 365 * 288; len(slots) != want {
		t.Fatalf("got %d slots, want %d", len(slots), want)
	}
	for i := 1; i < len(slots); i++ {
		if !slots[i].Start.Equal(slots[i-1].End) {
			t.Fatalf("slot %d starts %v, previous ends %v", i, slots[i].Start, slots[i-1].End)
		}
	}
}

func TestEasterMondayIsClosed(t *testing.T) {
	loc := rome(t)
	a := from2026(weekdays(hm(9, 0), hm(12, 0), 30, 1, monToFri...)...)
	easterMonday := weekday(t, "2026-04-06", time.Monday)
	if n := len(Generate([]Agenda{a}, Rules{}, Holidays{}, loc, easterMonday, easterMonday)); n != 0 {
		t.Errorf("Easter Monday has %d slots, want 0", n)
	}
	nextMonday := easterMonday.AddDays(7)
	if n := len(Generate([]Agenda{a}, Rules{}, Holidays{}, loc, nextMonday, nextMonday)); n != 6 {
		t.Errorf("the Monday after has %d slots, want 6", n)
	}
}

func TestNationalHolidaysCloseTheWeeklyPattern(t *testing.T) {
	loc := rome(t)
	a := from2026(weekdays(hm(9, 0), hm(12, 0), 30, 1, monToFri...)...)
	for _, tc := range []struct {
		name string
		day  string
		wd   time.Weekday
	}{
		{"Festa della Repubblica", "2026-06-02", time.Tuesday},
		{"Immacolata Concezione", "2026-12-08", time.Tuesday},
		{"San Francesco d'Assisi", "2027-10-04", time.Monday},
		{"Natale", "2026-12-25", time.Friday},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := weekday(t, tc.day, tc.wd)
			if n := len(Generate([]Agenda{a}, Rules{}, Holidays{}, loc, d, d)); n != 0 {
				t.Errorf("%s has %d slots, want 0", tc.day, n)
			}
		})
	}
}

func TestInformationDeskOpenOnHolidays(t *testing.T) {
	loc := rome(t)
	a := from2026(weekdays(0, hm(24, 0), 60, 1, everyDay...)...)
	a.OpenOnHolidays = true
	christmas := day(t, "2026-12-25")
	if n := len(Generate([]Agenda{a}, Rules{}, Holidays{}, loc, christmas, christmas)); n != 24 {
		t.Errorf("Christmas has %d slots, want 24", n)
	}
}

func TestLocalPatronSaintDayIsClosed(t *testing.T) {
	loc := rome(t)
	a := from2026(weekdays(hm(9, 0), hm(12, 0), 60, 1, monToFri...)...)
	hol := Holidays{Local: []LocalHoliday{
		{Month: time.June, Day: 24, Name: "San Giovanni Battista"},
		{Month: time.June, Day: 25, Year: 2026, Name: "Chiusura per elezioni"},
	}}
	for _, tc := range []struct {
		day   string
		wd    time.Weekday
		wantN int
	}{
		{"2026-06-24", time.Wednesday, 0}, // patron saint
		{"2027-06-24", time.Thursday, 0},  // every year
		{"2026-06-25", time.Thursday, 0},  // one-off closure
		{"2027-06-25", time.Friday, 3},    // ... in 2026 only
		{"2026-06-23", time.Tuesday, 3},
	} {
		t.Run(tc.day, func(t *testing.T) {
			d := weekday(t, tc.day, tc.wd)
			if n := len(Generate([]Agenda{a}, Rules{}, hol, loc, d, d)); n != tc.wantN {
				t.Errorf("got %d slots, want %d", n, tc.wantN)
			}
		})
	}
}

func TestExtraOpeningOnSaturday(t *testing.T) {
	loc := rome(t)
	saturday := weekday(t, "2026-06-20", time.Saturday)
	a := from2026(weekdays(hm(9, 0), hm(12, 0), 30, 1, monToFri...)...)
	a.Exceptions = []Exception{{Day: saturday, Kind: Open, Start: hm(9, 0), End: hm(12, 0), SlotMinutes: 30, Places: 3}}
	mustValid(t, a)
	slots := Generate([]Agenda{a}, Rules{}, Holidays{}, loc, saturday, saturday.AddDays(2))
	checkOrdered(t, slots)
	if len(slots) != 6+6 { // the Saturday, plus Monday 22 June
		t.Fatalf("got %d slots, want 12", len(slots))
	}
	for _, s := range slots[:6] {
		if civil.DateOf(s.Start.In(loc)) != saturday || s.Capacity != 3 {
			t.Errorf("extra opening slot %v", s)
		}
	}
	if !slots[0].Start.Equal(utc(t, "2026-06-20T07:00:00Z")) {
		t.Errorf("extra opening starts %v, want 07:00 UTC", slots[0].Start)
	}
}

func TestExtraOpeningOnHolidayAndInsteadOfTheDay(t *testing.T) {
	loc := rome(t)
	tuesday := weekday(t, "2026-06-16", time.Tuesday)
	republic := weekday(t, "2026-06-02", time.Tuesday)
	a := from2026(weekdays(hm(9, 0), hm(12, 0), 30, 1, monToFri...)...)
	a.Exceptions = []Exception{
		// Open on a national holiday for an election.
		{Day: republic, Kind: Open, Start: hm(10, 0), End: hm(11, 0), SlotMinutes: 30, Places: 2},
		// Closed all day but open 11:00-12:00: the opening survives the closure.
		{Day: tuesday, Kind: Closed},
		{Day: tuesday, Kind: Open, Start: hm(11, 0), End: hm(12, 0), SlotMinutes: 60, Places: 4},
	}
	mustValid(t, a)
	for _, tc := range []struct {
		d          civil.Date
		wantStarts []string
		wantCap    int
	}{
		{republic, []string{"2026-06-02T08:00:00Z", "2026-06-02T08:30:00Z"}, 2},
		{tuesday, []string{"2026-06-16T09:00:00Z"}, 4},
	} {
		slots := Generate([]Agenda{a}, Rules{}, Holidays{}, loc, tc.d, tc.d)
		if len(slots) != len(tc.wantStarts) {
			t.Fatalf("%s: got %d slots, want %d", tc.d, len(slots), len(tc.wantStarts))
		}
		for i, w := range tc.wantStarts {
			if !slots[i].Start.Equal(utc(t, w)) || slots[i].Capacity != tc.wantCap {
				t.Errorf("%s: slot %d = %v, want start %s capacity %d", tc.d, i, slots[i], w, tc.wantCap)
			}
		}
	}
}

func TestClosedAfternoonException(t *testing.T) {
	loc := rome(t)
	monday := weekday(t, "2026-06-15", time.Monday)
	ranges := []Range{
		{Weekday: time.Monday, Start: hm(9, 0), End: hm(12, 0), SlotMinutes: 30, Places: 1},
		{Weekday: time.Monday, Start: hm(14, 0), End: hm(17, 0), SlotMinutes: 30, Places: 1},
	}
	local := func(slots []Slot) []string {
		var out []string
		for _, s := range slots {
			out = append(out, s.Start.In(loc).Format("15:04"))
		}
		return out
	}
	for _, tc := range []struct {
		name string
		ex   Exception
		want string
	}{
		{"afternoon closed", Exception{Day: monday, Kind: Closed, Start: hm(13, 0), End: hm(18, 0)},
			"09:00 09:30 10:00 10:30 11:00 11:30"},
		{"closure removes every slot it overlaps", Exception{Day: monday, Kind: Closed, Start: hm(10, 15), End: hm(11, 0)},
			"09:00 09:30 11:00 11:30 14:00 14:30 15:00 15:30 16:00 16:30"},
		{"whole day closed", Exception{Day: monday, Kind: Closed}, ""},
		{"closure on another day", Exception{Day: monday.AddDays(7), Kind: Closed},
			"09:00 09:30 10:00 10:30 11:00 11:30 14:00 14:30 15:00 15:30 16:00 16:30"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := from2026(ranges...)
			a.Exceptions = []Exception{tc.ex}
			mustValid(t, a)
			got := strings.Join(local(Generate([]Agenda{a}, Rules{}, Holidays{}, loc, monday, monday)), " ")
			if got != tc.want {
				t.Errorf("slots at %q, want %q", got, tc.want)
			}
		})
	}
}

func TestClosureAppliesOnlyToItsOwnAgenda(t *testing.T) {
	loc := rome(t)
	monday := weekday(t, "2026-06-15", time.Monday)
	closed := from2026(Range{Weekday: time.Monday, Start: hm(9, 0), End: hm(10, 0), SlotMinutes: 30, Places: 1})
	closed.Exceptions = []Exception{{Day: monday, Kind: Closed}}
	other := from2026(Range{Weekday: time.Monday, Start: hm(9, 0), End: hm(10, 0), SlotMinutes: 30, Places: 2})
	other.ID = 2
	slots := Generate([]Agenda{closed, other}, Rules{}, Holidays{}, loc, monday, monday)
	if len(slots) != 2 || slots[0].Capacity != 2 {
		t.Errorf("slots %v, want two of capacity 2 from the other agenda", slots)
	}
}

func TestSameSlotFromTwoSourcesAddsPlaces(t *testing.T) {
	loc := rome(t)
	monday := weekday(t, "2026-06-15", time.Monday)
	a := from2026(Range{Weekday: time.Monday, Start: hm(9, 0), End: hm(10, 0), SlotMinutes: 30, Places: 3})
	b := from2026(Range{Weekday: time.Monday, Start: hm(9, 0), End: hm(10, 0), SlotMinutes: 30, Places: 3})
	b.ID = 2
	b.Exceptions = []Exception{{Day: monday, Kind: Open, Start: hm(9, 30), End: hm(10, 0), SlotMinutes: 30, Places: 1}}
	// A third agenda with hour-long slots overlaps without matching: kept apart.
	c := from2026(Range{Weekday: time.Monday, Start: hm(9, 0), End: hm(10, 0), SlotMinutes: 60, Places: 5})
	c.ID = 3
	mustValid(t, a, b, c)
	slots := Generate([]Agenda{a, b, c}, Rules{OverbookingPct: 50}, Holidays{}, loc, monday, monday)
	checkOrdered(t, slots)
	want := []struct {
		start, end string
		capacity   int
	}{
		{"2026-06-15T07:00:00Z", "2026-06-15T07:30:00Z", 9},  // (3+3) * 1.5
		{"2026-06-15T07:00:00Z", "2026-06-15T08:00:00Z", 8},  // 5 * 1.5 = 7.5, rounded up
		{"2026-06-15T07:30:00Z", "2026-06-15T08:00:00Z", 11}, // (3+3+1) * 1.5 = 10.5: rounded once, on the sum
	}
	if len(slots) != len(want) {
		t.Fatalf("got %d slots, want %d: %v", len(slots), len(want), slots)
	}
	for i, w := range want {
		s := slots[i]
		if !s.Start.Equal(utc(t, w.start)) || !s.End.Equal(utc(t, w.end)) || s.Capacity != w.capacity {
			t.Errorf("slot %d = %v..%v cap %d, want %s..%s cap %d", i, s.Start, s.End, s.Capacity, w.start, w.end, w.capacity)
		}
	}
}

func TestOverbookingAddsPlaces(t *testing.T) {
	loc := rome(t)
	monday := weekday(t, "2026-06-15", time.Monday)
	for _, tc := range []struct {
		name         string
		places, pct  int
		wantCapacity int
	}{
		{"no overbooking", 10, 0, 10},
		{"twenty percent more", 10, 20, 12},
		{"half up", 3, 50, 5},           // 4.5
		{"rounds to nearest", 7, 10, 8}, // 7.7
		{"double", 10, 100, 20},
		{"underbooking", 10, -30, 7},
		{"underbooking half up", 3, -50, 2}, // 1.5
		{"just above half", 1, -49, 1},      // 0.51
		{"just below half", 1, -51, 0},      // 0.49
		{"fully underbooked", 10, -100, 0},
		{"out of range is clamped", 10, 250, 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := from2026(Range{Weekday: time.Monday, Start: hm(9, 0), End: hm(9, 30), SlotMinutes: 30, Places: tc.places})
			slots := Generate([]Agenda{a}, Rules{OverbookingPct: tc.pct}, Holidays{}, loc, monday, monday)
			if len(slots) != 1 || slots[0].Capacity != tc.wantCapacity {
				t.Errorf("slots %v, want one of capacity %d", slots, tc.wantCapacity)
			}
		})
	}
}

func TestClosedRangeMakesNoSlots(t *testing.T) {
	loc := rome(t)
	monday := weekday(t, "2026-06-15", time.Monday)
	a := from2026(Range{Weekday: time.Monday, Start: hm(9, 0), End: hm(12, 0), SlotMinutes: 30, Places: 0})
	mustValid(t, a)
	if slots := Generate([]Agenda{a}, Rules{}, Holidays{}, loc, monday, monday); len(slots) != 0 {
		t.Errorf("got %d slots from a range with 0 places", len(slots))
	}
}

func TestWalkInQuotaReservedPerHour(t *testing.T) {
	loc := rome(t)
	monday := weekday(t, "2026-06-15", time.Monday)
	for _, tc := range []struct {
		name     string
		start    int
		places   int
		quota    int
		wantHour [][]int // reserved per slot, grouped by local hour
	}{
		{"no quota", hm(9, 0), 2, 0, [][]int{{0, 0, 0, 0}, {0, 0, 0, 0}}},
		{"one place goes to the first slot", hm(9, 0), 2, 1, [][]int{{1, 0, 0, 0}, {1, 0, 0, 0}}},
		{"spread round-robin", hm(9, 0), 2, 6, [][]int{{2, 2, 1, 1}, {2, 2, 1, 1}}},
		{"never more than capacity", hm(9, 0), 2, 20, [][]int{{2, 2, 2, 2}, {2, 2, 2, 2}}},
		{"single places", hm(9, 0), 1, 3, [][]int{{1, 1, 1, 0}, {1, 1, 1, 0}}},
		{"partial first hour gets the whole quota", hm(9, 30), 2, 3, [][]int{{2, 1}, {1, 1, 1, 0}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := from2026(Range{Weekday: time.Monday, Start: tc.start, End: hm(11, 0), SlotMinutes: 15, Places: tc.places})
			slots := Generate([]Agenda{a}, Rules{WalkInQuotaPerHour: tc.quota}, Holidays{}, loc, monday, monday)
			checkOrdered(t, slots)
			var got [][]int
			lastHour := -1
			for _, s := range slots {
				if h := s.Start.In(loc).Hour(); h != lastHour {
					got = append(got, nil)
					lastHour = h
				}
				got[len(got)-1] = append(got[len(got)-1], s.Reserved)
			}
			if !equalGroups(got, tc.wantHour) {
				t.Errorf("reserved %v, want %v", got, tc.wantHour)
			}
		})
	}
}

func TestWalkInQuotaCountsTheRepeatedAutumnHourTwice(t *testing.T) {
	loc := rome(t)
	sunday := weekday(t, "2026-10-25", time.Sunday)
	a := from2026(Range{Weekday: time.Sunday, Start: 0, End: hm(24, 0), SlotMinutes: 30, Places: 1})
	slots := Generate([]Agenda{a}, Rules{WalkInQuotaPerHour: 1}, Holidays{}, loc, sunday, sunday)
	total := 0
	for _, s := range slots {
		total += s.Reserved
	}
	if len(slots) != 50 || total != 25 {
		t.Errorf("%d slots with %d reserved, want 50 with 25 (one per real hour)", len(slots), total)
	}
	for i, s := range slots {
		if want := 1 - i%2; s.Reserved != want {
			t.Errorf("slot %d at %s reserves %d, want %d", i, s.Start.In(loc).Format("15:04 MST"), s.Reserved, want)
		}
	}
}

func TestAgendaValidity(t *testing.T) {
	loc := rome(t)
	for _, tc := range []struct {
		name     string
		from, to string
		wantDays []string
	}{
		{"bounded", "2026-06-10", "2026-06-12", []string{"2026-06-10", "2026-06-11", "2026-06-12"}},
		{"single day", "2026-06-11", "2026-06-11", []string{"2026-06-11"}},
		{"open ended", "2026-06-12", "", []string{"2026-06-12", "2026-06-15", "2026-06-16"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := Agenda{ID: 1, ValidFrom: day(t, tc.from), Ranges: weekdays(hm(9, 0), hm(10, 0), 60, 1, monToFri...)}
			if tc.to != "" {
				a.ValidTo = day(t, tc.to)
			}
			mustValid(t, a)
			slots := Generate([]Agenda{a}, Rules{}, Holidays{}, loc, day(t, "2026-06-08"), day(t, "2026-06-16"))
			var got []string
			for _, s := range slots {
				got = append(got, civil.DateOf(s.Start.In(loc)).String())
			}
			if strings.Join(got, " ") != strings.Join(tc.wantDays, " ") {
				t.Errorf("slots on %v, want %v", got, tc.wantDays)
			}
		})
	}
}

func TestGenerateWithNothingToDo(t *testing.T) {
	loc := rome(t)
	a := from2026(weekdays(hm(9, 0), hm(10, 0), 60, 1, everyDay...)...)
	if s := Generate([]Agenda{a}, Rules{}, Holidays{}, loc, day(t, "2026-06-16"), day(t, "2026-06-15")); s != nil {
		t.Errorf("to before from gave %v", s)
	}
	if s := Generate(nil, Rules{}, Holidays{}, loc, day(t, "2026-06-15"), day(t, "2026-06-16")); len(s) != 0 {
		t.Errorf("no agendas gave %v", s)
	}
	// Malformed ranges are skipped, not looped on.
	bad := from2026(Range{Weekday: time.Monday, Start: hm(9, 0), End: hm(10, 0), SlotMinutes: 0, Places: 1})
	if s := Generate([]Agenda{bad}, Rules{}, Holidays{}, loc, day(t, "2026-06-15"), day(t, "2026-06-15")); len(s) != 0 {
		t.Errorf("zero-minute slots gave %v", s)
	}
}

func TestValidateNamesTheField(t *testing.T) {
	monday := civil.Date{Year: 2026, Month: time.June, Day: 15}
	good := func() Agenda {
		return Agenda{
			ID:        1,
			ValidFrom: civil.Date{Year: 2026, Month: time.January, Day: 1},
			ValidTo:   civil.Date{Year: 2026, Month: time.December, Day: 31},
			Ranges: []Range{
				{Weekday: time.Monday, Start: hm(9, 0), End: hm(12, 0), SlotMinutes: 15, Places: 2},
				{Weekday: time.Monday, Start: hm(14, 0), End: hm(24, 0), SlotMinutes: 15, Places: 2},
				{Weekday: time.Tuesday, Start: hm(9, 0), End: hm(12, 0), SlotMinutes: 15, Places: 2},
			},
			Exceptions: []Exception{
				{Day: monday, Kind: Closed},
				{Day: monday, Kind: Closed, Start: hm(10, 0), End: hm(11, 0)},
				{Day: monday, Kind: Open, Start: hm(12, 0), End: hm(13, 0), SlotMinutes: 30, Places: 1},
			},
		}
	}
	if err := good().Validate(); err != nil {
		t.Fatalf("good agenda: %v", err)
	}
	for _, tc := range []struct {
		name   string
		change func(*Agenda)
		want   string
	}{
		{"missing start date", func(a *Agenda) { a.ValidFrom = civil.Date{} }, "valid_from: required"},
		{"impossible date", func(a *Agenda) { a.ValidFrom = civil.Date{Year: 2026, Month: time.February, Day: 30} }, "valid_from: 2026-02-30 is not a real date"},
		{"ends before it starts", func(a *Agenda) { a.ValidTo = civil.Date{Year: 2025, Month: time.December, Day: 31} }, "valid_to: must not be before valid_from (2026-01-01)"},
		{"bad weekday", func(a *Agenda) { a.Ranges[0].Weekday = 7 }, "ranges[0].weekday: must be 0 (Sunday) to 6 (Saturday)"},
		{"negative start", func(a *Agenda) { a.Ranges[0].Start = -1 }, "ranges[0].start: must be between 0 and 1439 minutes (00:00-23:59)"},
		{"end before start", func(a *Agenda) { a.Ranges[2].End = hm(8, 0) }, "ranges[2].end: must be after start"},
		{"end past midnight", func(a *Agenda) { a.Ranges[1].End = 1441 }, "ranges[1].end: must be at most 1440 minutes (24:00)"},
		{"zero slot", func(a *Agenda) { a.Ranges[0].SlotMinutes = 0 }, "ranges[0].slot_minutes: must be between 1 and 1440"},
		{"slot longer than range", func(a *Agenda) { a.Ranges[0].SlotMinutes = 200 }, "ranges[0].slot_minutes: is longer than the window (180 minutes), so there would be no slots"},
		{"negative places", func(a *Agenda) { a.Ranges[0].Places = -1 }, "ranges[0].places: must not be negative"},
		{"overlapping ranges", func(a *Agenda) { a.Ranges[1].Start = hm(11, 0) }, "ranges[1]: overlaps ranges[0] (Monday 09:00-12:00)"},
		{"exception without day", func(a *Agenda) { a.Exceptions[0].Day = civil.Date{} }, "exceptions[0].day: required"},
		{"exception outside validity", func(a *Agenda) { a.Exceptions[0].Day = civil.Date{Year: 2027, Month: time.January, Day: 4} },
			"exceptions[0].day: 2027-01-04 is outside the agenda's validity (2026-01-01 to 2026-12-31)"},
		{"unknown kind", func(a *Agenda) { a.Exceptions[0].Kind = "holiday" }, `exceptions[0].kind: must be "closed" or "open", not "holiday"`},
		{"closed window backwards", func(a *Agenda) { a.Exceptions[1].End = hm(9, 0) }, "exceptions[1].end: must be after start"},
		{"open without window", func(a *Agenda) { a.Exceptions[2].Start, a.Exceptions[2].End = 0, 0 }, "exceptions[2].end: must be after start"},
		{"open without places", func(a *Agenda) { a.Exceptions[2].Places = 0 }, "exceptions[2].places: must be at least 1"},
		{"open without slot length", func(a *Agenda) { a.Exceptions[2].SlotMinutes = 0 }, "exceptions[2].slot_minutes: must be between 1 and 1440"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := good()
			tc.change(&a)
			err := a.Validate()
			if err == nil || err.Error() != tc.want {
				t.Fatalf("Validate() = %v, want %q", err, tc.want)
			}
			var fe *FieldError
			if !errors.As(err, &fe) || !strings.HasPrefix(tc.want, fe.Field+":") {
				t.Errorf("error is not a *FieldError naming the field: %#v", err)
			}
		})
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	a := Agenda{Ranges: []Range{{Weekday: time.Monday, Start: hm(9, 0), End: hm(8, 0), SlotMinutes: 15, Places: -1}}}
	err := a.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"valid_from: required", "ranges[0].end: must be after start", "ranges[0].places: must not be negative"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func TestRulesValidate(t *testing.T) {
	for _, tc := range []struct {
		rules Rules
		want  string
	}{
		{Rules{OverbookingPct: 20, WalkInQuotaPerHour: 2}, ""},
		{Rules{OverbookingPct: -100}, ""},
		{Rules{OverbookingPct: 101}, "overbooking_pct: must be between -100 and 100"},
		{Rules{OverbookingPct: -101}, "overbooking_pct: must be between -100 and 100"},
		{Rules{WalkInQuotaPerHour: -1}, "walk_in_quota_per_hour: must not be negative"},
	} {
		err := tc.rules.Validate()
		if got := errString(err); got != tc.want {
			t.Errorf("%+v: Validate() = %q, want %q", tc.rules, got, tc.want)
		}
	}
}

func BenchmarkGenerate180Days24x7(b *testing.B) {
	loc := rome(b)
	a := from2026(weekdays(0, hm(24, 0), 5, 1, everyDay...)...)
	a.OpenOnHolidays = true
	from := day(b, "2026-03-01")
	to := from.AddDays(DefaultHorizonDays - 1)
	rules := Rules{OverbookingPct: 10, WalkInQuotaPerHour: 2}
	b.ReportAllocs()
	for b.Loop() {
		slots := Generate([]Agenda{a}, rules, Holidays{}, loc, from, to)
		// The horizon spans the spring-forward day: one hour (12 slots) short.
		if len(slots) != DefaultHorizonDays*288-12 {
			b.Fatalf("got %d slots", len(slots))
		}
	}
}

func equalGroups(a, b [][]int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if len(a[i]) != len(b[i]) {
			return false
		}
		for j := range a[i] {
			if a[i][j] != b[i][j] {
				return false
			}
		}
	}
	return true
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
