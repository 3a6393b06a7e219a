// Package civil holds calendar dates without a time zone: the "day" of an
// agenda, a holiday or a ticket counter, as a citizen reads it on the wall.
package civil

import (
	"fmt"
	"time"
)

// Date is a day in the proleptic Gregorian calendar, independent of any zone.
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

// ParseDate reads YYYY-MM-DD and rejects anything else, including 2026-02-30.
func ParseDate(s string) (Date, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return Date{}, fmt.Errorf("date %q: want YYYY-MM-DD", s)
	}
	return DateOf(t), nil
}

// DateOf is the date of t in t's own location.
func DateOf(t time.Time) Date {
	y, m, d := t.Date()
	return Date{y, m, d}
}

// Today is the date of now in loc.
func Today(now time.Time, loc *time.Location) Date { return DateOf(now.In(loc)) }

func (d Date) String() string { return fmt.Sprintf("%04d-%02d-%02d", d.Year, d.Month, d.Day) }

// IsZero reports whether d is the zero Date (used for "no end date").
func (d Date) IsZero() bool { return d == Date{} }

// In is midnight at the start of d in loc. Where midnight does not exist
// (a DST jump at 00:00) Go normalises forward, which is what a day start means.
func (d Date) In(loc *time.Location) time.Time {
	return time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, loc)
}

// At is the instant of the wall-clock time minutes-after-midnight on d in loc.
// minutes may be 1440 (end of day) or more; the result is then on a later day.
func (d Date) At(minutes int, loc *time.Location) time.Time {
	return time.Date(d.Year, d.Month, d.Day, 0, minutes, 0, 0, loc)
}

func (d Date) utc() time.Time { return time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, time.UTC) }

// AddDays is d moved by n days (n may be negative).
func (d Date) AddDays(n int) Date { return DateOf(d.utc().AddDate(0, 0, n)) }

// Weekday is the day of the week of d.
func (d Date) Weekday() time.Weekday { return d.utc().Weekday() }

// Before reports whether d is strictly before e.
func (d Date) Before(e Date) bool { return d.utc().Before(e.utc()) }

// After reports whether d is strictly after e.
func (d Date) After(e Date) bool { return d.utc().After(e.utc()) }

// DaysUntil is the number of days from d to e (negative when e is earlier).
func (d Date) DaysUntil(e Date) int { return int(e.utc().Sub(d.utc()).Hours() / 24) }

// MarshalText makes a Date read and write as YYYY-MM-DD in JSON and YAML.
func (d Date) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText is the inverse of MarshalText.
func (d *Date) UnmarshalText(b []byte) error {
	v, err := ParseDate(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}
