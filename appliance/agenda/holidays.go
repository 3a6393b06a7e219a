package agenda

import (
	"fmt"
	"slices"
	"time"

	"avanti/appliance/civil"
)

// Holiday is one public holiday on a given date.
type Holiday struct {
	Date civil.Date
	Name string
}

// LocalHoliday is a holiday kept by one site only, such as the patron saint
// of the town, or a one-off closure decreed by the mayor.
type LocalHoliday struct {
	Month time.Month
	Day   int
	Year  int // 0 = every year (e.g. a patron saint); otherwise that year only
	Name  string
}

// Holidays says which days are public holidays at a site: the Italian
// national ones, always, plus the site's local ones.
type Holidays struct {
	Local []LocalHoliday
}

// Is reports whether d is a holiday at the site and, if so, its name. When a
// national and a local holiday fall on the same day the national name wins,
// because it is the one citizens expect to read on the totem.
func (h Holidays) Is(d civil.Date) (name string, ok bool) {
	for _, n := range National(d.Year) {
		if n.Date == d {
			return n.Name, true
		}
	}
	for _, l := range h.Local {
		if l.Month == d.Month && l.Day == d.Day && (l.Year == 0 || l.Year == d.Year) {
			return l.Name, true
		}
	}
	return "", false
}

// Validate checks that every local holiday names a real day. 29 February is
// accepted for a recurring holiday (it then applies in leap years only).
func (h Holidays) Validate() error {
	var errs []error
	for i, l := range h.Local {
		field := fmt.Sprintf("local[%d]", i)
		year := l.Year
		if year == 0 {
			year = 2024 // a leap year, so that 29 February is allowed
		}
		switch {
		case l.Year < 0:
			errs = append(errs, fieldErr(field+".year", "must be 0 (every year) or a year"))
		case l.Month < time.January || l.Month > time.December:
			errs = append(errs, fieldErr(field+".month", "must be between 1 and 12"))
		case !isRealDate(civil.Date{Year: year, Month: l.Month, Day: l.Day}):
			errs = append(errs, fieldErr(field+".day", fmt.Sprintf("%s has no day %d", l.Month, l.Day)))
		}
		if l.Name == "" {
			errs = append(errs, fieldErr(field+".name", "required"))
		}
	}
	return joinErrs(errs)
}

// National returns the Italian national public holidays of year (law
// 260/1949 and later amendments), sorted by date, with their Italian names.
// Easter Sunday is not listed: it is always a Sunday. When two holidays share
// a date (Easter Monday on 25 April, as in 2011) both are listed.
func National(year int) []Holiday {
	d := func(m time.Month, day int) civil.Date { return civil.Date{Year: year, Month: m, Day: day} }
	hs := []Holiday{
		{d(time.January, 1), "Capodanno"},
		{d(time.January, 6), "Epifania"},
		{Easter(year).AddDays(1), "Lunedì dell'Angelo"},
		{d(time.April, 25), "Festa della Liberazione"},
		{d(time.May, 1), "Festa del Lavoro"},
		{d(time.June, 2), "Festa della Repubblica"},
		{d(time.August, 15), "Ferragosto"},
		{d(time.November, 1), "Ognissanti"},
		{d(time.December, 8), "Immacolata Concezione"},
		{d(time.December, 25), "Natale"},
		{d(time.December, 26), "Santo Stefano"},
	}
	// Law 151/2025 made 4 October (St Francis of Assisi, patron of Italy) a
	// national holiday again from 2026.
	if year >= 2026 {
		hs = append(hs, Holiday{d(time.October, 4), "San Francesco d'Assisi"})
	}
	slices.SortStableFunc(hs, func(a, b Holiday) int { return compareDates(a.Date, b.Date) })
	return hs
}

// Easter is Gregorian Easter Sunday of year, by the anonymous Gregorian
// algorithm (Meeus/Jones/Butcher), valid for any year from 1583.
func Easter(year int) civil.Date {
	a := year % 19
	b := year / 100
	c := year % 100
	d := b / 4
	e := b % 4
	f := (b + 8) / 25
	g := (b - f + 1) / 3
	h := (19*a + b - d - g + 15) % 30
	i := c / 4
	k := c % 4
	l := (32 + 2*e + 2*i - h - k) % 7
	m := (a + 11*h + 22*l) / 451
	month := (h + l - 7*m + 114) / 31
	day := (h+l-7*m+114)%31 + 1
	return civil.Date{Year: year, Month: time.Month(month), Day: day}
}

// compareDates orders civil dates; civil has Before/After but slices want -1/0/+1.
func compareDates(a, b civil.Date) int {
	switch {
	case a.Before(b):
		return -1
	case a.After(b):
		return 1
	}
	return 0
}

// isRealDate rejects dates such as 2026-02-30 that normalise to another day.
func isRealDate(d civil.Date) bool {
	return d.Year >= 1 && d.Year <= 9999 && d.AddDays(0) == d
}
