package main

import (
	"context"
	"fmt"
	"time"

	"avanti/appliance/agenda"
	"avanti/appliance/benchkit"
	"avanti/appliance/civil"
	"avanti/appliance/store"
)

// availNow is when the availability service's slots are generated and
// asked for.
func (b *bench) availNow() time.Time { return benchDay.At(7*60, b.org.loc) }

// loadAvailability creates the availability service with an agenda open
// every day 08:00-18:00 in 5-minute slots, generates o.availDays days of
// slots with RegenerateSlots, and books o.tickets tickets into them by bulk
// INSERT (the store has no bulk path), keeping the slots' counters right.
func (b *bench) loadAvailability(ctx context.Context) error {
	const sec = "0. set-up"
	now := b.availNow()
	v := b.org.baseService("Tributi (availability)", "D")
	v.MaxDaysAhead = b.o.availDays
	svc, err := b.st.CreateService(ctx, v, now)
	if err != nil {
		return err
	}
	b.availSvc = svc.ID
	var ranges []agenda.Range
	for wd := time.Sunday; wd <= time.Saturday; wd++ {
		ranges = append(ranges, agenda.Range{Weekday: wd, Start: 8 * 60, End: 18 * 60, SlotMinutes: 5, Places: 6})
	}
	ag := agenda.Agenda{ValidFrom: benchDay, Ranges: ranges, OpenOnHolidays: true}
	if _, err := b.st.SaveAgenda(ctx, svc.ID, "Orario", ag, now); err != nil {
		return err
	}
	t0 := time.Now()
	reg, err := b.st.RegenerateSlots(ctx, svc.ID, now, b.o.availDays-1) // the horizon's last day is included
	if err != nil {
		return err
	}
	regTime := time.Since(t0)
	benchkit.Progress("availability: RegenerateSlots made %d slots in %s", reg.Added, regTime.Round(time.Millisecond))

	type slot struct {
		id         int64
		start, end time.Time
		capacity   int
	}
	rs, err := b.db.QueryContext(ctx, `SELECT id, starts_at, ends_at, capacity FROM slots WHERE service_id = ? ORDER BY starts_at`, svc.ID)
	if err != nil {
		return err
	}
	var slots []slot
	for rs.Next() {
		var s slot
		if err := rs.Scan(&s.id, &s.start, &s.end, &s.capacity); err != nil {
			rs.Close()
			return err
		}
		slots = append(slots, s)
	}
	rs.Close()
	if err := rs.Err(); err != nil {
		return err
	}
	if len(slots) == 0 {
		return fmt.Errorf("availability service has no slots")
	}
	// Spread the tickets evenly, booked some days before, a little more in
	// the earlier slots when they do not divide evenly.
	per, extra := b.o.tickets/len(slots), b.o.tickets%len(slots)
	rows := make([]ticketRow, 0, b.o.tickets)
	seq := map[civil.Date]int{}
	channels := []string{store.ChannelWeb, store.ChannelWeb, store.ChannelPhone, store.ChannelDesk}
	for i, s := range slots {
		n := per
		if i < extra {
			n++
		}
		n = min(n, s.capacity)
		day := civil.DateOf(s.start.In(b.org.loc))
		for range n {
			seq[day]++
			k := len(rows)
			rows = append(rows, ticketRow{serviceID: svc.ID, day: day, seq: seq[day], code: fmt.Sprintf("D%03d", seq[day]),
				slotID: s.id, status: store.StatusBooked, channel: channels[k%len(channels)], start: s.start, end: s.end,
				fiscalCode: fiscalCode(5_000_000 + k), firstName: "Anna", surname: "Bianchi", created: now.Add(-time.Duration(k) * time.Second)})
		}
	}
	t0 = time.Now()
	if err := insertTickets(ctx, b.db, rows); err != nil {
		return err
	}
	if _, err := b.db.ExecContext(ctx, `UPDATE slots s JOIN (SELECT slot_id, COUNT(*) n FROM tickets WHERE service_id = ? GROUP BY slot_id) t
		ON t.slot_id = s.id SET s.booked = t.n, s.prebooked = t.n`, svc.ID); err != nil {
		return fmt.Errorf("slot counters: %w", err)
	}
	if err := syncCounters(ctx, b.db, svc.ID); err != nil {
		return err
	}
	loadTime := time.Since(t0)
	benchkit.Progress("availability: %d tickets inserted in %s", len(rows), loadTime.Round(time.Millisecond))
	days := civil.DateOf(slots[0].start.In(b.org.loc)).DaysUntil(civil.DateOf(slots[len(slots)-1].start.In(b.org.loc))) + 1
	b.availSlots, b.availDays = len(slots), days
	b.r.Add(sec, "RegenerateSlots", fmt.Sprintf("%s for %d slots (%d days)", benchkit.Millis(regTime), reg.Added, days), "", "", "")
	b.r.Add(sec, "bulk INSERT tickets", fmt.Sprintf("%s for %d", benchkit.Millis(loadTime), len(rows)), "", "", "")
	return nil
}

// availability asks o.availReps times for the free places of a window of
// o.availRange days, the window moving over the horizon.
func (b *bench) availability(ctx context.Context) error {
	const sec = "4. availability"
	now := b.availNow()
	today := civil.Today(now, b.org.loc)
	span := max(1, b.availDays-b.o.availRange)
	ask := func(i int) (int, error) {
		from := today.AddDays(i % span)
		days, err := b.st.Availability(ctx, b.availSvc, from, from.AddDays(b.o.availRange-1), now)
		n := 0
		for _, d := range days {
			n += len(d.Slots)
		}
		return n, err
	}
	for i := range 20 { // warm-up, not measured
		if _, err := ask(i); err != nil {
			return err
		}
	}
	// The same rows read by the bare SELECT that Availability runs, to
	// tell the database's share of the time from the Go side's.
	raw := func(i int) error {
		from := today.AddDays(i % span)
		lo, hi := later(from.In(b.org.loc), now), from.AddDays(b.o.availRange).In(b.org.loc)
		rows, err := b.db.QueryContext(ctx, `SELECT starts_at, ends_at, capacity, reserved, booked, prebooked
			FROM slots WHERE service_id = ? AND is_open AND starts_at >= ? AND starts_at < ? ORDER BY starts_at`,
			b.availSvc, lo.UTC(), hi.UTC())
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var s store.Slot
			if err := rows.Scan(&s.Start, &s.End, &s.Capacity, &s.Reserved, &s.Booked, &s.Prebooked); err != nil {
				return err
			}
		}
		return rows.Err()
	}
	var lat, rawLat benchkit.Latencies
	slotsSeen := 0
	for i := range b.o.availReps {
		t0 := time.Now()
		n, err := ask(i)
		lat = append(lat, time.Since(t0))
		if err != nil {
			return err
		}
		slotsSeen += n
		t0 = time.Now()
		if err := raw(i); err != nil {
			return fmt.Errorf("bare SELECT: %w", err)
		}
		rawLat = append(rawLat, time.Since(t0))
	}
	total, err := queryInt(ctx, b.db, `SELECT COUNT(*) FROM tickets`)
	if err != nil {
		return err
	}
	b.r.Add(sec, "request", fmt.Sprintf("%d days, %d slots each", b.o.availRange, slotsSeen/max(1, b.o.availReps)), "", "", "")
	b.r.Add(sec, "database", fmt.Sprintf("%d slots (%d days), %d tickets", b.availSlots, b.availDays, total), "", "", "")
	b.r.latency(sec, "p50 Availability", lat.P(50), 0)
	b.r.latency(sec, "p99 Availability", lat.P(99), 10*time.Millisecond)
	b.r.Add(sec, "p50 / p99 of its SELECT alone", benchkit.Millis(rawLat.P(50))+" / "+benchkit.Millis(rawLat.P(99)), "", "", "")
	benchkit.Progress("availability: %d requests, p50 %s p99 %s", len(lat), benchkit.Millis(lat.P(50)), benchkit.Millis(lat.P(99)))
	return nil
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
