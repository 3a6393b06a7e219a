package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"avanti/appliance/agenda"
	"avanti/appliance/benchkit"
	"avanti/appliance/fault"
	"avanti/appliance/store"
)

// rushSlot is a bookable time of the rush day.
type rushSlot struct {
	id    int64
	start time.Time
}

// rushTotals adds up the rounds of the booking rush.
type rushTotals struct {
	bookings, web, kiosk  int
	slotFull, noAvail     int
	refusedWithRoom       int
	wall                  time.Duration
	ok, okWeb, okKiosk    benchkit.Latencies
	refused               benchkit.Latencies
	codeDups              int
	poolWaits             int64
	poolWait              time.Duration
	slotsPerRound, rounds int
}

// rush runs the booking rush: in each round, clients concurrent goroutines
// fill one day (08:00-16:00, 5-minute slots) of a fresh service, each
// attempt either booking a chosen time on the web with a valid citizen or
// taking the first available place at the kiosk. A round ends when the
// kiosk says the day is full.
func (b *bench) rush(ctx context.Context) error {
	now := benchDay.At(7*60, b.org.loc) // bookings open at 07:00, the first slot is at 08:00
	var solo, tot rushTotals
	var fcSeq atomic.Int64
	var services []int64
	// Round 0 is one client alone: what a booking costs without contention.
	for round := range b.o.rounds + 1 {
		t, clients := &tot, b.o.clients
		if round == 0 {
			t, clients = &solo, 1
		}
		svc, slots, err := b.rushService(ctx, round, now)
		if err != nil {
			return err
		}
		services = append(services, svc.ID)
		t.slotsPerRound = len(slots)
		if err := warmPool(ctx, b.db); err != nil {
			return err
		}
		before := b.db.Stats()
		if err := b.rushRound(ctx, svc, slots, now, round, clients, t, &fcSeq); err != nil {
			return err
		}
		after := b.db.Stats()
		t.poolWaits += after.WaitCount - before.WaitCount
		t.poolWait += after.WaitDuration - before.WaitDuration
		t.rounds++
	}
	return b.rushReport(ctx, services, &solo, &tot)
}

func (b *bench) rushService(ctx context.Context, round int, now time.Time) (store.Service, []rushSlot, error) {
	prefix := fmt.Sprintf("R%c%c", 'A'+round/26%26, 'A'+round%26)
	v := b.org.baseService(fmt.Sprintf("Carta d'identità (rush %d)", round+1), prefix)
	v.OneActiveBooking, v.WalkInQuotaPerHour, v.AvgServiceMin = true, b.o.walkInQuota, 20
	svc, err := b.st.CreateService(ctx, v, now)
	if err != nil {
		return svc, nil, err
	}
	var ranges []agenda.Range
	for wd := time.Sunday; wd <= time.Saturday; wd++ {
		ranges = append(ranges, agenda.Range{Weekday: wd, Start: 8 * 60, End: 16 * 60, SlotMinutes: 5, Places: b.o.places})
	}
	ag := agenda.Agenda{ValidFrom: benchDay, ValidTo: benchDay, Ranges: ranges}
	if _, err := b.st.SaveAgenda(ctx, svc.ID, "Orario", ag, now); err != nil {
		return svc, nil, err
	}
	if _, err := b.st.RegenerateSlots(ctx, svc.ID, now, 1); err != nil {
		return svc, nil, err
	}
	rows, err := b.db.QueryContext(ctx, `SELECT id, starts_at FROM slots WHERE service_id = ? ORDER BY starts_at`, svc.ID)
	if err != nil {
		return svc, nil, err
	}
	defer rows.Close()
	var slots []rushSlot
	for rows.Next() {
		var s rushSlot
		if err := rows.Scan(&s.id, &s.start); err != nil {
			return svc, nil, err
		}
		slots = append(slots, s)
	}
	if len(slots) == 0 {
		return svc, nil, errors.New("the rush service has no slots")
	}
	return svc, slots, rows.Err()
}

type clientResult struct {
	ok, okWeb, okKiosk, refused        benchkit.Latencies
	slotFull, noAvail, refusedWithRoom int
	codes                              []string
}

func (b *bench) rushRound(ctx context.Context, svc store.Service, slots []rushSlot, now time.Time, round, clients int,
	tot *rushTotals, fcSeq *atomic.Int64) error {
	// What the clients have learnt: times that said "full" to a web booking.
	full := make([]atomic.Bool, len(slots))
	var nFull atomic.Int64
	var dayFull atomic.Bool
	markFull := func(i int) {
		if !full[i].Swap(true) {
			nFull.Add(1)
		}
	}
	pick := func(rng *rand.Rand) int {
		i := rng.IntN(len(slots))
		for k := range len(slots) {
			j := (i + k) % len(slots)
			if !full[j].Load() {
				return j
			}
		}
		return -1
	}
	results := make([]clientResult, clients)
	var wg sync.WaitGroup
	var gate sync.WaitGroup
	gate.Add(1)
	for c := range clients {
		wg.Go(func() {
			res := &results[c]
			rng := rand.New(rand.NewPCG(uint64(round), uint64(c)))
			gate.Wait()
			for !dayFull.Load() && ctx.Err() == nil {
				req := store.BookRequest{ServiceID: svc.ID, Channel: store.ChannelKiosk, Actor: "bench"}
				idx := -1
				if rng.IntN(100) < b.o.webPct && nFull.Load() < int64(len(slots)) {
					idx = pick(rng)
				}
				n := int(fcSeq.Add(1))
				if idx >= 0 {
					req.Channel, req.Start = store.ChannelWeb, slots[idx].start
					req.Citizen = store.Citizen{FiscalCode: fiscalCode(n), FirstName: "Mario", LastName: "Rossi",
						Email: fmt.Sprintf("cittadino%d@example.org", n)}
				} else if rng.IntN(2) == 0 {
					req.Citizen = store.Citizen{FiscalCode: fiscalCode(n)} // swiped the health card at the totem
				}
				t0 := time.Now()
				t, err := b.st.Book(ctx, req, now)
				d := time.Since(t0)
				switch {
				case err == nil:
					res.ok = append(res.ok, d)
					if idx >= 0 {
						res.okWeb = append(res.okWeb, d)
					} else {
						res.okKiosk = append(res.okKiosk, d)
					}
					res.codes = append(res.codes, t.Code)
				case fault.Is(err, store.ErrSlotFull.Code):
					res.slotFull++
					res.refused = append(res.refused, d)
					markFull(idx)
				case fault.Is(err, store.ErrNoAvailability.Code):
					res.noAvail++
					res.refused = append(res.refused, d)
					left, qerr := queryInt(ctx, b.db, `SELECT SUM(capacity - booked) FROM slots WHERE service_id = ? AND is_open`, svc.ID)
					if qerr != nil {
						b.r.fail("rush: %v", qerr)
						return
					}
					if left == 0 {
						dayFull.Store(true)
					} else {
						res.refusedWithRoom++
					}
				case ctx.Err() != nil:
					return
				default:
					b.r.fail("rush: book %s at %s: %v", req.Channel, req.Start.Format("15:04"), err)
					return
				}
			}
		})
	}
	start := time.Now()
	gate.Done()
	wg.Wait()
	tot.wall += time.Since(start)
	if err := ctx.Err(); err != nil {
		return err
	}
	seen := map[string]bool{}
	for i := range results {
		r := &results[i]
		tot.ok = append(tot.ok, r.ok...)
		tot.okWeb = append(tot.okWeb, r.okWeb...)
		tot.okKiosk = append(tot.okKiosk, r.okKiosk...)
		tot.refused = append(tot.refused, r.refused...)
		tot.slotFull += r.slotFull
		tot.noAvail += r.noAvail
		tot.refusedWithRoom += r.refusedWithRoom
		for _, c := range r.codes {
			if seen[c] {
				tot.codeDups++
			}
			seen[c] = true
		}
	}
	return nil
}

func (b *bench) rushReport(ctx context.Context, services []int64, solo, tot *rushTotals) error {
	const sec = "2. booking rush"
	in := inList(services)
	tot.bookings, tot.web, tot.kiosk = len(tot.ok), len(tot.okWeb), len(tot.okKiosk)
	stored, err := queryInt(ctx, b.db, `SELECT COUNT(*) FROM tickets WHERE service_id IN `+in)
	if err != nil {
		return err
	}
	places, err := queryInt(ctx, b.db, `SELECT SUM(capacity) FROM slots WHERE service_id IN `+in)
	if err != nil {
		return err
	}
	booked, err := queryInt(ctx, b.db, `SELECT SUM(booked) FROM slots WHERE service_id IN `+in)
	if err != nil {
		return err
	}
	over, err := queryInt(ctx, b.db, `SELECT COUNT(*) FROM slots WHERE booked > capacity OR prebooked > capacity - reserved`)
	if err != nil {
		return err
	}
	// Tickets per slot against the slot's counters.
	mismatch, err := queryInt(ctx, b.db, `SELECT COUNT(*) FROM slots s LEFT JOIN
		(SELECT slot_id, COUNT(*) n, SUM(NOT walk_in) pre FROM tickets WHERE service_id IN `+in+` GROUP BY slot_id) t ON t.slot_id = s.id
		WHERE s.service_id IN `+in+` AND (COALESCE(t.n, 0) <> s.booked OR COALESCE(t.pre, 0) <> s.prebooked OR COALESCE(t.n, 0) > s.capacity)`)
	if err != nil {
		return err
	}
	dupCodes, err := queryInt(ctx, b.db, `SELECT COUNT(*) FROM (SELECT 1 FROM tickets
		GROUP BY issued_service_id, day, code HAVING COUNT(*) > 1) d`)
	if err != nil {
		return err
	}
	if n := int64(tot.bookings + len(solo.ok)); n != stored {
		b.r.fail("rush: %d bookings succeeded but %d tickets are stored", n, stored)
	}
	rate := float64(tot.bookings) / tot.wall.Seconds()
	b.r.Add(sec, "bookings", fmt.Sprintf("%d (web %d, kiosk %d)", tot.bookings, tot.web, tot.kiosk), "", "", "")
	b.r.Add(sec, "places filled (all rounds)", fmt.Sprintf("%d / %d", booked, places), "", "", "")
	b.r.rate(sec, "bookings/s", rate, b.o.clients, true)
	b.r.latency(sec, "p50 Book", tot.ok.P(50), 0)
	b.r.latency(sec, "p99 Book", tot.ok.P(99), 100*time.Millisecond)
	soloRate := float64(len(solo.ok)) / solo.wall.Seconds()
	b.r.Add(sec, "1 client alone: bookings/s", fmt.Sprintf("%.0f /s", soloRate), "", "", "")
	b.r.Add(sec, "1 client alone: p50 / p99 Book", benchkit.Millis(solo.ok.P(50))+" / "+benchkit.Millis(solo.ok.P(99)), "", "", "")
	b.r.Invariant(sec, "overbooked slots", over)
	b.r.Invariant(sec, "slots whose tickets != booked", mismatch)
	b.r.Invariant(sec, "duplicate codes", dupCodes+int64(tot.codeDups+solo.codeDups))
	benchkit.Progress("booking rush: %d bookings in %s over %d rounds: %.0f/s, p50 %s p99 %s", tot.bookings, tot.wall.Round(time.Millisecond),
		tot.rounds, rate, benchkit.Millis(tot.ok.P(50)), benchkit.Millis(tot.ok.P(99)))
	b.r.Note("booking rush: %d clients, %d rounds of one day each (%d slots x %d places, %d/h kept for walk-ins), %d%% of attempts web;\n"+
		"p50/p99 web %s / %s, kiosk %s / %s; %d refusals (slot full %d, no availability %d, of which %d while places were still uncommitted) p50 %s;\n"+
		"waits for a pool connection: %d, %s in total (mean %s per booking)",
		b.o.clients, tot.rounds, tot.slotsPerRound, b.o.places, b.o.walkInQuota, b.o.webPct,
		benchkit.Millis(tot.okWeb.P(50)), benchkit.Millis(tot.okWeb.P(99)), benchkit.Millis(tot.okKiosk.P(50)), benchkit.Millis(tot.okKiosk.P(99)),
		tot.slotFull+tot.noAvail, tot.slotFull, tot.noAvail, tot.refusedWithRoom, benchkit.Millis(tot.refused.P(50)),
		tot.poolWaits, tot.poolWait.Round(time.Millisecond), benchkit.Millis(tot.poolWait/time.Duration(max(1, tot.bookings+tot.slotFull+tot.noAvail))))
	return nil
}
