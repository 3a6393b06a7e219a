// Package agenda turns a service's agendas (weekly opening patterns with
// validity dates, closures and extra openings) into the bookable slots that
// Avanti precomputes over its horizon, and knows the Italian holiday calendar
// that closes them.
//
// Agendas are written in the site's wall-clock time; slots are UTC instants.
// The package is pure: no database, no clock, so the same agendas always give
// the same slots and regeneration can be diffed against what is stored.
package agenda

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"avanti/appliance/civil"
)

// MinutesPerDay is the largest End of a range: midnight at the end of the day.
const MinutesPerDay = 1440

// MaxPlaces bounds the places of one slot of a range or exception: more
// than any counter serves at once, and within what the database stores.
const MaxPlaces = 999

// DefaultHorizonDays is how far ahead slots are precomputed unless a site says
// otherwise.
const DefaultHorizonDays = 180

// Range is one opening window of a weekday, cut into equal slots.
type Range struct {
	Weekday     time.Weekday
	Start, End  int // minutes after local midnight; 0 <= Start < End <= 1440
	SlotMinutes int // 1..1440
	Places      int // places per slot, 0..MaxPlaces; 0 = the range is closed
}

// ExceptionKind says whether an exception closes or opens.
type ExceptionKind string

const (
	Closed ExceptionKind = "closed"
	Open   ExceptionKind = "open"
)

// Exception changes one day of an agenda.
//
// Closed with Start == End == 0 closes the whole day; otherwise it removes the
// weekly slots that overlap [Start, End). Open adds slots of SlotMinutes and
// Places over [Start, End), even on a holiday or on a weekday the pattern does
// not open. Closures act on the weekly pattern only, so "closed all day, open
// 9-11" is written as one Closed and one Open exception.
type Exception struct {
	Day         civil.Date
	Kind        ExceptionKind
	Start, End  int
	SlotMinutes int
	Places      int
}

// Agenda is a weekly pattern valid between two dates.
type Agenda struct {
	ID             int64
	Name           string // for people: "Orario invernale"
	ValidFrom      civil.Date
	ValidTo        civil.Date // zero = no end
	Ranges         []Range
	Exceptions     []Exception
	OpenOnHolidays bool // e.g. an information desk open every day around the clock
}

// Rules are the service settings that turn places into capacity.
type Rules struct {
	// OverbookingPct, -100..+100, scales places into capacity:
	// round_half_up(places*(100+pct)/100). Negative values underbook.
	OverbookingPct int
	// WalkInQuotaPerHour places in each local clock hour are kept for
	// walk-ins at the totem and cannot be booked ahead.
	WalkInQuotaPerHour int
}

// Slot is one bookable interval.
type Slot struct {
	Start, End time.Time // UTC
	Capacity   int
	Reserved   int // of Capacity, kept for walk-ins (0 <= Reserved <= Capacity)
}

// FieldError is one problem with one field, so an API can point the
// administrator at the field to fix.
type FieldError struct {
	Field   string // e.g. "ranges[2].end"
	Problem string // e.g. "must be after start"
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Problem }

func fieldErr(field, problem string) error { return &FieldError{Field: field, Problem: problem} }

// joinErrs is errors.Join, named so that the intent (report every problem
// at once, not just the first) reads at the call site.
func joinErrs(errs []error) error { return errors.Join(errs...) }

// Validate reports every problem of the agenda at once, each a *FieldError
// (the result unwraps with errors.Join semantics), or nil.
func (a Agenda) Validate() error {
	var errs []error
	add := func(field, format string, args ...any) {
		errs = append(errs, fieldErr(field, fmt.Sprintf(format, args...)))
	}

	switch {
	case a.ValidFrom.IsZero():
		add("valid_from", "required")
	case !isRealDate(a.ValidFrom):
		add("valid_from", "%s is not a real date", a.ValidFrom)
	}
	if !a.ValidTo.IsZero() {
		switch {
		case !isRealDate(a.ValidTo):
			add("valid_to", "%s is not a real date", a.ValidTo)
		case isRealDate(a.ValidFrom) && a.ValidTo.Before(a.ValidFrom):
			add("valid_to", "must not be before valid_from (%s)", a.ValidFrom)
		}
	}
	// Exceptions are checked against the validity only when it makes sense,
	// so one wrong date does not cascade into an error per exception.
	validityOK := len(errs) == 0

	for i, r := range a.Ranges {
		f := fmt.Sprintf("ranges[%d]", i)
		if r.Weekday < time.Sunday || r.Weekday > time.Saturday {
			add(f+".weekday", "must be 0 (Sunday) to 6 (Saturday)")
		}
		checkWindow(add, f, r.Start, r.End)
		checkSlot(add, f, r.Start, r.End, r.SlotMinutes)
		switch {
		case r.Places < 0:
			add(f+".places", "must not be negative")
		case r.Places > MaxPlaces:
			add(f+".places", "must be at most %d", MaxPlaces)
		}
	}
	// Overlapping ranges in one agenda would double-book the same desk;
	// parallel desks belong in separate agendas, whose equal slots add up.
	for i, r := range a.Ranges {
		if !rangeOK(r) {
			continue
		}
		for j, q := range a.Ranges[:i] {
			if rangeOK(q) && q.Weekday == r.Weekday && r.Start < q.End && q.Start < r.End {
				add(fmt.Sprintf("ranges[%d]", i), "overlaps ranges[%d] (%s %s-%s)",
					j, q.Weekday, clock(q.Start), clock(q.End))
				break
			}
		}
	}

	for i, e := range a.Exceptions {
		f := fmt.Sprintf("exceptions[%d]", i)
		switch {
		case e.Day.IsZero():
			add(f+".day", "required")
		case !isRealDate(e.Day):
			add(f+".day", "%s is not a real date", e.Day)
		case validityOK && !a.covers(e.Day):
			// It would silently do nothing: surely not what was meant.
			add(f+".day", "%s is outside the agenda's validity (%s)", e.Day, a.validity())
		}
		switch e.Kind {
		case Closed:
			if e.Start != 0 || e.End != 0 {
				checkWindow(add, f, e.Start, e.End)
			}
		case Open:
			checkWindow(add, f, e.Start, e.End)
			checkSlot(add, f, e.Start, e.End, e.SlotMinutes)
			switch {
			case e.Places < 1:
				add(f+".places", "must be at least 1")
			case e.Places > MaxPlaces:
				add(f+".places", "must be at most %d", MaxPlaces)
			}
		default:
			add(f+".kind", "must be %q or %q, not %q", Closed, Open, e.Kind)
		}
	}
	return joinErrs(errs)
}

// Validate checks the service rules.
func (r Rules) Validate() error {
	var errs []error
	if r.OverbookingPct < -100 || r.OverbookingPct > 100 {
		errs = append(errs, fieldErr("overbooking_pct", "must be between -100 and 100"))
	}
	if r.WalkInQuotaPerHour < 0 {
		errs = append(errs, fieldErr("walk_in_quota_per_hour", "must not be negative"))
	}
	return joinErrs(errs)
}

func checkWindow(add func(field, format string, args ...any), f string, start, end int) {
	if start < 0 || start >= MinutesPerDay {
		add(f+".start", "must be between 0 and 1439 minutes (00:00-23:59)")
	}
	switch {
	case end > MinutesPerDay:
		add(f+".end", "must be at most 1440 minutes (24:00)")
	case end <= start:
		add(f+".end", "must be after start")
	}
}

func checkSlot(add func(field, format string, args ...any), f string, start, end, slot int) {
	switch {
	case slot < 1 || slot > MinutesPerDay:
		add(f+".slot_minutes", "must be between 1 and 1440")
	case windowOK(start, end) && slot > end-start:
		add(f+".slot_minutes", "is longer than the window (%d minutes), so there would be no slots", end-start)
	}
}

func windowOK(start, end int) bool { return start >= 0 && start < end && end <= MinutesPerDay }

func slotOK(m int) bool { return m >= 1 && m <= MinutesPerDay }

func rangeOK(r Range) bool {
	return r.Weekday >= time.Sunday && r.Weekday <= time.Saturday && windowOK(r.Start, r.End) && slotOK(r.SlotMinutes)
}

// covers reports whether day is within the agenda's validity.
func (a Agenda) covers(day civil.Date) bool {
	return !day.Before(a.ValidFrom) && (a.ValidTo.IsZero() || !day.After(a.ValidTo))
}

func (a Agenda) validity() string {
	if a.ValidTo.IsZero() {
		return "from " + a.ValidFrom.String()
	}
	return a.ValidFrom.String() + " to " + a.ValidTo.String()
}

// clock formats minutes after midnight as HH:MM (1440 as 24:00).
func clock(m int) string { return fmt.Sprintf("%02d:%02d", m/60, m%60) }

// Capacity is places scaled by the overbooking percentage, rounded half up,
// never negative. pct outside -100..100 is clamped.
func Capacity(places, pct int) int {
	pct = max(-100, min(100, pct))
	c := (places*(100+pct) + 50) / 100
	return max(0, c)
}

// Generate precomputes the slots of agendas (all of one service) for the
// local days from..to inclusive in loc, sorted by Start then End.
//
// Slots of a range walk real time from the range's start instant to its end
// instant, so DST days get 23 or 25 hours of slots where a range spans the
// change. Slots with the same Start and End from different sources merge into
// one whose places add up. Generate expects validated agendas; malformed
// ranges and exceptions are skipped rather than looped on. A nil loc is UTC.
func Generate(agendas []Agenda, rules Rules, hol Holidays, loc *time.Location, from, to civil.Date) []Slot {
	if loc == nil {
		loc = time.UTC
	}
	if to.Before(from) {
		return nil
	}

	// Exceptions indexed by day once, so the day loop stays linear.
	exByDay := make([]map[civil.Date][]Exception, len(agendas))
	for i, a := range agendas {
		for _, e := range a.Exceptions {
			if exByDay[i] == nil {
				exByDay[i] = make(map[civil.Date][]Exception)
			}
			exByDay[i][e.Day] = append(exByDay[i][e.Day], e)
		}
	}

	// Slots hold their places in Capacity until they are merged and scaled.
	slots := make([]Slot, 0, estimate(agendas, from.DaysUntil(to)+1))
	var closed []window
	for day := from; !day.After(to); day = day.AddDays(1) {
		_, holiday := hol.Is(day)
		wd := day.Weekday()
		for i, a := range agendas {
			if !a.covers(day) {
				continue
			}
			exs := exByDay[i][day]

			closed = closed[:0]
			wholeDay := false
			for _, e := range exs {
				if e.Kind != Closed {
					continue
				}
				if e.Start == 0 && e.End == 0 {
					wholeDay = true
				} else if windowOK(e.Start, e.End) {
					closed = append(closed, window{wallInstant(day, e.Start, loc), wallInstant(day, e.End, loc)})
				}
			}

			if !wholeDay && (!holiday || a.OpenOnHolidays) {
				for _, r := range a.Ranges {
					if r.Weekday == wd && r.Places > 0 && rangeOK(r) {
						slots = appendSlots(slots, day, r.Start, r.End, r.SlotMinutes, r.Places, loc, closed)
					}
				}
			}
			for _, e := range exs {
				if e.Kind == Open && e.Places > 0 && windowOK(e.Start, e.End) && slotOK(e.SlotMinutes) {
					slots = appendSlots(slots, day, e.Start, e.End, e.SlotMinutes, e.Places, loc, nil)
				}
			}
		}
	}

	slices.SortFunc(slots, func(a, b Slot) int {
		if c := a.Start.Compare(b.Start); c != 0 {
			return c
		}
		return a.End.Compare(b.End)
	})
	// Merge equal slots in place, adding their places.
	n := 0
	for _, s := range slots {
		if n > 0 && slots[n-1].Start.Equal(s.Start) && slots[n-1].End.Equal(s.End) {
			slots[n-1].Capacity += s.Capacity
			continue
		}
		slots[n] = s
		n++
	}
	slots = slots[:n]
	// Scale after merging so that rounding happens once on the summed places.
	for i := range slots {
		slots[i].Capacity = Capacity(slots[i].Capacity, rules.OverbookingPct)
	}
	reserveWalkIns(slots, rules.WalkInQuotaPerHour, loc)
	return slots
}

// estimate is roughly how many slots Generate will make, so the slice is
// allocated once instead of grown through a horizon of tens of thousands.
func estimate(agendas []Agenda, days int) int {
	perWeek := 0
	for _, a := range agendas {
		for _, r := range a.Ranges {
			if rangeOK(r) && r.Places > 0 {
				perWeek += (r.End - r.Start) / r.SlotMinutes
			}
		}
	}
	return perWeek*days/7 + perWeek/7 + 16
}

type window struct{ start, end time.Time }

// appendSlots cuts [start, end) of day into slots of step minutes of real
// time, dropping a last partial slot and any slot overlapping a closed window.
func appendSlots(dst []Slot, day civil.Date, start, end, step, places int, loc *time.Location, closed []window) []Slot {
	s := wallInstant(day, start, loc).UTC()
	e := wallInstant(day, end, loc).UTC()
	d := time.Duration(step) * time.Minute
	for t := s; ; t = t.Add(d) {
		u := t.Add(d)
		if u.After(e) {
			break
		}
		if !overlapsAny(t, u, closed) {
			dst = append(dst, Slot{Start: t, End: u, Capacity: places})
		}
	}
	return dst
}

func overlapsAny(s, e time.Time, ws []window) bool {
	for _, w := range ws {
		if s.Before(w.end) && w.start.Before(e) {
			return true
		}
	}
	return false
}

// wallInstant is the instant of minutes-after-midnight on day in loc. A wall
// time that does not exist (inside a spring-forward gap) is moved to the
// instant the gap ends, not forward by the gap's length as time.Date does:
// otherwise a range ending at 02:30 would end at 03:30 and overlap a range
// starting at 03:00. Ambiguous autumn times resolve as time.Date does; the
// mapping stays monotonic either way, so ranges that do not overlap on the
// wall do not overlap in time.
func wallInstant(day civil.Date, minutes int, loc *time.Location) time.Time {
	t := day.At(minutes, loc)
	want := time.Date(day.Year, day.Month, day.Day, 0, minutes, 0, 0, time.UTC)
	y, mo, d := t.Date()
	h, mi, s := t.Clock()
	if time.Date(y, mo, d, h, mi, s, 0, time.UTC).Equal(want) {
		return t
	}
	if start, _ := t.ZoneBounds(); !start.IsZero() {
		return start
	}
	return t
}

// reserveWalkIns keeps quota places per local clock hour for walk-ins, handed
// out one at a time round-robin from the hour's first slot so they spread
// over the hour rather than pile on its first slot. slots must be sorted by
// Start. The repeated autumn hour counts as two hours: it is two hours of
// real time at the desk.
func reserveWalkIns(slots []Slot, quota int, loc *time.Location) {
	if quota <= 0 {
		return
	}
	z := zoneCache{loc: loc}
	for i := 0; i < len(slots); {
		key := z.hourOf(slots[i].Start)
		j := i + 1
		for j < len(slots) && z.hourOf(slots[j].Start) == key {
			j++
		}
		hour := slots[i:j]
		for left := quota; left > 0; {
			progressed := false
			for k := range hour {
				if hour[k].Reserved < hour[k].Capacity {
					hour[k].Reserved++
					progressed = true
					if left--; left == 0 {
						break
					}
				}
			}
			if !progressed {
				break
			}
		}
		i = j
	}
}

// hourKey is a local clock hour: the wall hour counted from the epoch, and
// the UTC offset, which tells the two 02:00 hours of an autumn night apart.
type hourKey struct {
	hour   int64
	offset int
}

// zoneCache remembers the zone period of the last lookup: slots come sorted,
// so almost every lookup falls in the same period and costs no zone search.
type zoneCache struct {
	loc        *time.Location
	start, end time.Time // zero = unbounded
	offset     int
	ok         bool
}

func (z *zoneCache) hourOf(t time.Time) hourKey {
	if !z.ok || (!z.start.IsZero() && t.Before(z.start)) || (!z.end.IsZero() && !t.Before(z.end)) {
		l := t.In(z.loc)
		_, z.offset = l.Zone()
		z.start, z.end = l.ZoneBounds()
		z.ok = true
	}
	wall := t.Unix() + int64(z.offset)
	h := wall / 3600
	if wall < 0 && wall%3600 != 0 {
		h-- // floor, for instants before 1970
	}
	return hourKey{h, z.offset}
}
