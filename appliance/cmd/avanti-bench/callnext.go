package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"avanti/appliance/benchkit"
	"avanti/appliance/store"
)

type deskResult struct {
	call, start, finish benchkit.Latencies
	tickets             []int64
	empty               bool // stopped because nobody was waiting
}

// callNext runs the call-next contention benchmark: desks open on one
// service with a queue of waiting tickets; each desk loops call next,
// start, finish until nobody waits, its quota is reached or time is up.
func (b *bench) callNext(ctx context.Context) error {
	const sec = "3. call-next"
	loc := b.org.loc
	setupNow := benchDay.At(9*60+55, loc)
	svc, err := b.st.CreateService(ctx, b.org.baseService("Anagrafe (call-next)", "Q"), setupNow)
	if err != nil {
		return err
	}
	// The queue: walk-ins checked in between 08:00 and 09:55, 1 in 20 with
	// priority, all due by the time the desks start calling at 10:00.
	first := benchDay.At(8*60, loc)
	span := setupNow.Sub(first)
	rows := make([]ticketRow, b.o.waiting)
	for i := range rows {
		due := first.Add(span * time.Duration(i) / time.Duration(b.o.waiting))
		rows[i] = ticketRow{serviceID: svc.ID, day: benchDay, seq: i + 1, code: fmt.Sprintf("Q%03d", i+1),
			status: store.StatusWaiting, channel: store.ChannelKiosk, walkIn: true, priority: i%20 == 7,
			start: due, end: due.Add(10 * time.Minute), checkedIn: due, due: due, created: due}
	}
	t0 := time.Now()
	if err := insertTickets(ctx, b.db, rows); err != nil {
		return err
	}
	if err := syncCounters(ctx, b.db, svc.ID); err != nil {
		return err
	}
	benchkit.Progress("call-next: %d waiting tickets inserted in %s", b.o.waiting, time.Since(t0).Round(time.Millisecond))
	actors := make([]store.Actor, len(b.org.deskIDs))
	for i, u := range b.org.operators {
		actors[i] = store.Actor{UserID: u.ID, Name: u.DisplayName, OwnerID: b.org.ownerID}
		if _, err := b.st.OpenDesk(ctx, b.org.deskIDs[i], []int64{svc.ID}, actors[i], setupNow); err != nil {
			return fmt.Errorf("open desk %d: %w", i+1, err)
		}
	}
	if err := warmPool(ctx, b.db); err != nil {
		return err
	}

	// The desks' clock runs from 10:00 with the wall clock. First one desk
	// alone, for what a call costs without contention, then all of them.
	base := benchDay.At(10*60, loc)
	clockStart := time.Now()
	now := func() time.Time { return base.Add(time.Since(clockStart)) }
	soloRes, soloWall, err := b.runDesks(ctx, b.org.deskIDs[:1], actors[:1], now, 100, b.o.callTime/4)
	if err != nil {
		return err
	}
	if err := warmPool(ctx, b.db); err != nil {
		return err
	}
	before := b.db.Stats()
	results, wall, err := b.runDesks(ctx, b.org.deskIDs, actors, now, b.o.callsPerDesk, b.o.callTime)
	if err != nil {
		return err
	}
	after := b.db.Stats()

	var call, st, fin benchkit.Latencies
	seen := map[int64]bool{}
	dupMem := int64(0)
	emptied := 0
	for _, r := range results {
		call = append(call, r.call...)
		st = append(st, r.start...)
		fin = append(fin, r.finish...)
		for _, id := range r.tickets {
			if seen[id] {
				dupMem++
			}
			seen[id] = true
		}
		if r.empty {
			emptied++
		}
	}
	calls := len(call)
	soloCalls := len(soloRes[0].call)
	for _, id := range soloRes[0].tickets {
		if seen[id] {
			dupMem++
		}
		seen[id] = true
	}
	twice, err := queryInt(ctx, b.db, `SELECT COUNT(*) FROM (SELECT ticket_id FROM calls WHERE kind = 'call'
		GROUP BY ticket_id HAVING COUNT(*) > 1) d`)
	if err != nil {
		return err
	}
	stored, err := queryInt(ctx, b.db, `SELECT COUNT(*) FROM calls WHERE service_id = ? AND kind = 'call'`, svc.ID)
	if err != nil {
		return err
	}
	done, err := queryInt(ctx, b.db, `SELECT COUNT(*) FROM tickets WHERE service_id = ? AND status = 'done'`, svc.ID)
	if err != nil {
		return err
	}
	left, err := queryInt(ctx, b.db, `SELECT COUNT(*) FROM tickets WHERE service_id = ? AND status = 'waiting'`, svc.ID)
	if err != nil {
		return err
	}
	if stored != int64(calls+soloCalls) || done != int64(len(fin)+len(soloRes[0].finish)) {
		b.r.fail("call-next: %d calls returned, %d recorded; %d finished, %d done in the database",
			calls+soloCalls, stored, len(fin)+len(soloRes[0].finish), done)
	}
	rate := float64(calls) / wall.Seconds()
	b.r.Add(sec, "calls (call+start+finish)", fmt.Sprintf("%d, %d left waiting", calls, left), "", "", "")
	b.r.rate(sec, "calls/s", rate, b.o.desks, true)
	b.r.rate(sec, "desk transactions/s", 3*rate, b.o.desks, false)
	b.r.latency(sec, "p50 CallNext", call.P(50), 0)
	b.r.latency(sec, "p99 CallNext", call.P(99), 100*time.Millisecond)
	b.r.Add(sec, "1 desk alone: calls/s", fmt.Sprintf("%.0f /s", float64(soloCalls)/soloWall.Seconds()), "", "", "")
	b.r.Add(sec, "1 desk alone: p50 / p99 CallNext", benchkit.Millis(soloRes[0].call.P(50))+" / "+benchkit.Millis(soloRes[0].call.P(99)), "", "", "")
	b.r.Invariant(sec, "tickets called twice", twice+dupMem)
	benchkit.Progress("call-next: %d calls in %s: %.0f/s, CallNext p50 %s p99 %s", calls, wall.Round(time.Millisecond), rate,
		benchkit.Millis(call.P(50)), benchkit.Millis(call.P(99)))
	why := fmt.Sprintf("stopped after %s", b.o.callTime)
	switch {
	case emptied > 0:
		why = "until nobody waited"
	case b.o.callsPerDesk > 0 && calls == b.o.callsPerDesk*len(b.org.deskIDs):
		why = fmt.Sprintf("%d calls per desk", b.o.callsPerDesk)
	}
	b.r.Note("call-next: %d desks on one service, %d waiting tickets, %s (%s);\n"+
		"p50/p99 Start %s / %s, Finish %s / %s; waits for a pool connection: %d, %s in total",
		len(b.org.deskIDs), b.o.waiting, why, wall.Round(time.Millisecond),
		benchkit.Millis(st.P(50)), benchkit.Millis(st.P(99)), benchkit.Millis(fin.P(50)), benchkit.Millis(fin.P(99)),
		after.WaitCount-before.WaitCount, (after.WaitDuration - before.WaitDuration).Round(time.Millisecond))
	return nil
}

// runDesks has each desk loop call next, start, finish until nobody waits,
// limit calls (0: no limit) or maxTime, all desks starting together.
func (b *bench) runDesks(ctx context.Context, deskIDs []int64, actors []store.Actor, now func() time.Time,
	limit int, maxTime time.Duration) ([]deskResult, time.Duration, error) {
	results := make([]deskResult, len(deskIDs))
	var wg, gate sync.WaitGroup
	gate.Add(1)
	var stopAt time.Time
	for i, deskID := range deskIDs {
		wg.Go(func() {
			res := &results[i]
			actor := actors[i]
			gate.Wait()
			for n := 0; limit == 0 || n < limit; n++ {
				if ctx.Err() != nil || time.Now().After(stopAt) {
					return
				}
				t0 := time.Now()
				c, err := b.st.CallNext(ctx, deskID, actor, now())
				d := time.Since(t0)
				if errors.Is(err, store.ErrNobodyWaiting) {
					res.empty = true
					return
				}
				if err != nil {
					if ctx.Err() == nil {
						b.r.fail("call-next: desk %d: call next: %v", i+1, err)
					}
					return
				}
				res.call = append(res.call, d)
				res.tickets = append(res.tickets, c.Ticket.ID)
				t0 = time.Now()
				if _, err := b.st.Start(ctx, deskID, actor, now()); err != nil {
					b.r.fail("call-next: desk %d: start %s: %v", i+1, c.Ticket.Code, err)
					return
				}
				res.start = append(res.start, time.Since(t0))
				t0 = time.Now()
				if _, err := b.st.Finish(ctx, deskID, actor, now()); err != nil {
					b.r.fail("call-next: desk %d: finish %s: %v", i+1, c.Ticket.Code, err)
					return
				}
				res.finish = append(res.finish, time.Since(t0))
			}
		})
	}
	start := time.Now()
	stopAt = start.Add(maxTime)
	gate.Done()
	wg.Wait()
	return results, time.Since(start), ctx.Err()
}
