package agenda

import (
	"errors"
	"testing"
	"time"

	"avanti/appliance/civil"
)

func TestEasterKnownYears(t *testing.T) {
	for _, tc := range []struct {
		year int
		want string
	}{
		{2000, "2000-04-23"},
		{2011, "2011-04-24"},
		{2024, "2024-03-31"},
		{2025, "2025-04-20"},
		{2026, "2026-04-05"},
		{2027, "2027-03-28"},
		{2038, "2038-04-25"}, // latest possible date
		{2285, "2285-03-22"}, // earliest possible date
	} {
		if got := Easter(tc.year); got.String() != tc.want {
			t.Errorf("Easter(%d) = %s, want %s", tc.year, got, tc.want)
		}
	}
}

func TestEasterIsAlwaysASundayBetween22MarchAnd25April(t *testing.T) {
	for y := 1583; y <= 4099; y++ {
		e := Easter(y)
		if e.Weekday() != time.Sunday {
			t.Fatalf("Easter(%d) = %s is a %s", y, e, e.Weekday())
		}
		earliest := civil.Date{Year: y, Month: time.March, Day: 22}
		latest := civil.Date{Year: y, Month: time.April, Day: 25}
		if e.Before(earliest) || e.After(latest) {
			t.Fatalf("Easter(%d) = %s, outside 22 March..25 April", y, e)
		}
	}
}

func TestNationalHolidaysOf2026(t *testing.T) {
	want := []struct{ date, name string }{
		{"2026-01-01", "Capodanno"},
		{"2026-01-06", "Epifania"},
		{"2026-04-06", "Lunedì dell'Angelo"},
		{"2026-04-25", "Festa della Liberazione"},
		{"2026-05-01", "Festa del Lavoro"},
		{"2026-06-02", "Festa della Repubblica"},
		{"2026-08-15", "Ferragosto"},
		{"2026-10-04", "San Francesco d'Assisi"},
		{"2026-11-01", "Ognissanti"},
		{"2026-12-08", "Immacolata Concezione"},
		{"2026-12-25", "Natale"},
		{"2026-12-26", "Santo Stefano"},
	}
	got := National(2026)
	if len(got) != len(want) {
		t.Fatalf("National(2026) has %d holidays, want %d: %v", len(got), len(want), got)
	}
	for i, w := range want {
		if got[i].Date.String() != w.date || got[i].Name != w.name {
			t.Errorf("National(2026)[%d] = %s %q, want %s %q", i, got[i].Date, got[i].Name, w.date, w.name)
		}
	}
}

func TestSanFrancescoIsANationalHolidayFrom2026(t *testing.T) {
	for _, tc := range []struct {
		day  string
		want bool
	}{
		{"2024-10-04", false},
		{"2025-10-04", false},
		{"2026-10-04", true},
		{"2030-10-04", true},
	} {
		name, ok := Holidays{}.Is(day(t, tc.day))
		if ok != tc.want {
			t.Errorf("%s: holiday = %v (%q), want %v", tc.day, ok, name, tc.want)
		}
		if ok && name != "San Francesco d'Assisi" {
			t.Errorf("%s: name = %q", tc.day, name)
		}
	}
}

func TestEasterMondayIsAHolidayButNotEasterSunday(t *testing.T) {
	if name, ok := (Holidays{}).Is(day(t, "2026-04-06")); !ok || name != "Lunedì dell'Angelo" {
		t.Errorf("2026-04-06 = %q, %v; want Lunedì dell'Angelo", name, ok)
	}
	if name, ok := (Holidays{}).Is(day(t, "2026-04-05")); ok {
		t.Errorf("Easter Sunday listed as holiday %q; it is a Sunday anyway", name)
	}
}

func TestEasterMondayOnLiberationDayListsBoth(t *testing.T) {
	// In 2011 Easter Monday fell on 25 April.
	var names []string
	for _, h := range National(2011) {
		if h.Date.String() == "2011-04-25" {
			names = append(names, h.Name)
		}
	}
	if len(names) != 2 {
		t.Errorf("2011-04-25 holidays = %v, want Lunedì dell'Angelo and Festa della Liberazione", names)
	}
}

func TestLocalHolidays(t *testing.T) {
	h := Holidays{Local: []LocalHoliday{
		{Month: time.June, Day: 24, Name: "San Giovanni Battista"},
		{Month: time.June, Day: 25, Year: 2026, Name: "Chiusura straordinaria"},
		{Month: time.June, Day: 2, Name: "Festa locale"},
	}}
	for _, tc := range []struct {
		day, name string
		ok        bool
	}{
		{"2026-06-24", "San Giovanni Battista", true},
		{"2031-06-24", "San Giovanni Battista", true},
		{"2026-06-25", "Chiusura straordinaria", true},
		{"2027-06-25", "", false},
		{"2026-06-02", "Festa della Repubblica", true}, // the national name wins
		{"2026-06-23", "", false},
	} {
		name, ok := h.Is(day(t, tc.day))
		if name != tc.name || ok != tc.ok {
			t.Errorf("%s: Is = %q, %v; want %q, %v", tc.day, name, ok, tc.name, tc.ok)
		}
	}
}

func TestHolidaysValidate(t *testing.T) {
	ok := Holidays{Local: []LocalHoliday{
		{Month: time.February, Day: 29, Name: "Recurring leap day"},
		{Month: time.June, Day: 24, Year: 2026, Name: "San Giovanni"},
	}}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid holidays: %v", err)
	}
	for _, tc := range []struct {
		name string
		h    LocalHoliday
		want string
	}{
		{"bad month", LocalHoliday{Month: 13, Day: 1, Name: "x"}, "local[0].month: must be between 1 and 12"},
		{"no such day", LocalHoliday{Month: time.April, Day: 31, Name: "x"}, "local[0].day: April has no day 31"},
		{"29 February of a common year", LocalHoliday{Month: time.February, Day: 29, Year: 2026, Name: "x"}, "local[0].day: February has no day 29"},
		{"negative year", LocalHoliday{Month: time.May, Day: 1, Year: -1, Name: "x"}, "local[0].year: must be 0 (every year) or a year"},
		{"no name", LocalHoliday{Month: time.May, Day: 1}, "local[0].name: required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Holidays{Local: []LocalHoliday{tc.h}}.Validate()
			var fe *FieldError
			if err == nil || err.Error() != tc.want || !errors.As(err, &fe) {
				t.Errorf("Validate() = %v, want %q", err, tc.want)
			}
		})
	}
}

// day parses a YYYY-MM-DD test date.
func day(t testing.TB, s string) civil.Date {
	t.Helper()
	d, err := civil.ParseDate(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}
