package store_test

import (
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"avanti/appliance/agenda"
	"avanti/appliance/fault"
	"avanti/appliance/store"
	"avanti/appliance/testenv"
)

// race runs n requests at once (released together by a barrier) and
// returns each one's error, by index.
func race(n int, request func(i int) error) []error {
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = request(i)
		}()
	}
	close(start)
	wg.Wait()
	return errs
}

// tally counts the outcomes by fault code ("ok" for success) and fails the
// test on any error that is not one of the expected faults: a citizen must
// never see an internal error because others booked at the same moment.
func tally(t *testing.T, errs []error, expected ...string) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, err := range errs {
		if err == nil {
			out["ok"]++
			continue
		}
		f, ok := fault.As(err)
		if !ok {
			t.Fatalf("internal error under concurrency: %v", err)
		}
		known := false
		for _, code := range expected {
			known = known || f.Code == code
		}
		if !known {
			t.Fatalf("unexpected fault under concurrency: %v", err)
		}
		out[f.Code]++
	}
	return out
}

// checkSlotBooks checks every slot of the service against its tickets: never
// more booked than capacity, booked equal to the active tickets holding it,
// prebooked equal to those among them booked in advance.
func checkSlotBooks(t *testing.T, st *store.Store, serviceID int64) {
	t.Helper()
	rows, err := st.DB().QueryContext(ctx, `SELECT s.id, s.capacity, s.booked, s.prebooked,
		(SELECT COUNT(*) FROM tickets t WHERE t.slot_id = s.id AND t.status NOT IN ('revoked')),
		(SELECT COUNT(*) FROM tickets t WHERE t.slot_id = s.id AND t.status NOT IN ('revoked') AND NOT t.walk_in)
		FROM slots s WHERE s.service_id = ?`, serviceID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var capacity, booked, prebooked, tickets, advance int
		if err := rows.Scan(&id, &capacity, &booked, &prebooked, &tickets, &advance); err != nil {
			t.Fatal(err)
		}
		if booked > capacity {
			t.Errorf("slot %d: booked %d > capacity %d", id, booked, capacity)
		}
		if booked != tickets {
			t.Errorf("slot %d: booked %d but %d tickets hold it", id, booked, tickets)
		}
		if prebooked != advance {
			t.Errorf("slot %d: prebooked %d but %d advance bookings hold it", id, prebooked, advance)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
}

func TestConcurrentBookingsNeverOverfillASlot(t *testing.T) {
	st := testenv.NewStore(t)
	const requests = 300
	// 09:00-10:00 in four slots of five places: at 09:00 twenty places are
	// left today.
	ranges := weekdays(hm(9, 0), hm(10, 0), 15, 5)

	t.Run("everyone picks the same time", func(t *testing.T) {
		w := newWorld(t, st, Monday)
		svc := w.service("A", ranges)
		tuesday := at(Monday.AddDate(0, 0, 1), 9, 15)
		errs := race(requests, func(i int) error {
			_, err := st.Book(ctx, store.BookRequest{ServiceID: svc.ID, Start: tuesday, Channel: store.ChannelWeb,
				Citizen: store.Citizen{Phone: fmt.Sprintf("+39333%07d", i), FirstName: "Anna", LastName: "Verdi"}}, Monday)
			return err
		})
		got := tally(t, errs, "slot_full")
		if got["ok"] != 5 || got["slot_full"] != requests-5 {
			t.Errorf("outcomes %v, want 5 ok and %d slot_full", got, requests-5)
		}
		if sl := w.slot(svc.ID, tuesday); sl.Booked != 5 || sl.Prebooked != 5 {
			t.Errorf("slot booked %d prebooked %d, want 5 and 5", sl.Booked, sl.Prebooked)
		}
		checkSlotBooks(t, st, svc.ID)
	})

	t.Run("everyone asks for the first available place", func(t *testing.T) {
		w := newWorld(t, st, Monday)
		svc := w.service("A", ranges)
		errs := race(requests, func(int) error {
			_, err := st.Book(ctx, store.BookRequest{ServiceID: svc.ID, Channel: store.ChannelKiosk}, Monday)
			return err
		})
		got := tally(t, errs, "no_availability")
		if got["ok"] != 20 || got["no_availability"] != requests-20 {
			t.Errorf("outcomes %v, want 20 ok and %d no_availability", got, requests-20)
		}
		for _, sl := range slots(t, st, svc.ID, at(Monday, 0, 0), at(Monday, 23, 0)) {
			if sl.Booked != sl.Capacity {
				t.Errorf("slot %s: %d of %d booked, want full", sl.Start.In(testenv.Rome).Format("15:04"), sl.Booked, sl.Capacity)
			}
		}
		checkSlotBooks(t, st, svc.ID)
	})

	t.Run("a chosen time and the first available place at once", func(t *testing.T) {
		w := newWorld(t, st, Monday)
		svc := w.service("A", ranges)
		last := at(Monday, 9, 45)
		var mu sync.Mutex
		chosen := 0
		errs := race(requests, func(i int) error {
			req := store.BookRequest{ServiceID: svc.ID, Channel: store.ChannelKiosk}
			if i%2 == 0 {
				req.Start, req.Channel = last, store.ChannelDesk
			}
			_, err := st.Book(ctx, req, Monday)
			if err == nil && i%2 == 0 {
				mu.Lock()
				chosen++
				mu.Unlock()
			}
			return err
		})
		got := tally(t, errs, "no_availability", "slot_full")
		if got["ok"] != 20 {
			t.Errorf("outcomes %v, want exactly the 20 places taken", got)
		}
		if sl := w.slot(svc.ID, last); sl.Booked != 5 || sl.Prebooked != chosen {
			t.Errorf("09:45: booked %d prebooked %d, want 5 and %d", sl.Booked, sl.Prebooked, chosen)
		}
		checkSlotBooks(t, st, svc.ID)
	})
}

func TestRegeneratingTheAgendaWhileCitizensBookNeverLosesABooking(t *testing.T) {
	st := testenv.NewStore(t)
	w := newWorld(t, st, Monday)
	svc := w.service("A", weekdays(hm(9, 0), hm(12, 0), 15, 4))
	agendaID := w.agendaOf(svc.ID)
	tuesday := Monday.AddDate(0, 0, 1)
	const citizens = 120
	errs := race(citizens+1, func(i int) error {
		if i == citizens {
			// Meanwhile the office cuts Tuesday to 09:00-10:00.
			time.Sleep(20 * time.Millisecond)
			_, err := st.SaveAgenda(ctx, svc.ID, "Orario", agenda.Agenda{ID: agendaID, ValidFrom: dateOf(Monday).AddDays(-7),
				Ranges: weekdays(hm(9, 0), hm(10, 0), 15, 4)}, Monday)
			if err == nil {
				_, err = st.RegenerateSlots(ctx, svc.ID, Monday, 14)
			}
			return err
		}
		start := at(tuesday, 9, 0).Add(time.Duration(i%12) * 15 * time.Minute)
		_, err := st.Book(ctx, store.BookRequest{ServiceID: svc.ID, Start: start, Channel: store.ChannelDesk}, Monday)
		return err
	})
	got := tally(t, errs, "slot_full", "slot_not_found", "slot_closed")
	t.Logf("outcomes %v", got)
	checkSlotBooks(t, st, svc.ID)
	if n := count(t, st, `SELECT COUNT(*) FROM tickets t JOIN slots s ON s.id = t.slot_id
		WHERE t.service_id = ? AND NOT s.is_open AND NOT t.needs_recall`, svc.ID); n != 0 {
		t.Errorf("%d bookings sit in a closed slot without being flagged for recall", n)
	}
	if n := len(slots(t, st, svc.ID, at(tuesday, 10, 0), at(tuesday, 12, 0))); n != count(t, st, `SELECT COUNT(DISTINCT slot_id)
		FROM tickets WHERE service_id = ? AND starts_at >= ?`, svc.ID, at(tuesday, 10, 0).UTC()) {
		t.Errorf("%d slots after 10:00 remain, not just those holding bookings", n)
	}
	if n := count(t, st, `SELECT COUNT(*) FROM slots WHERE service_id = ? AND is_open AND starts_at >= ? AND starts_at < ?`,
		svc.ID, at(tuesday, 10, 0).UTC(), at(tuesday, 12, 0).UTC()); n != 0 {
		t.Errorf("%d slots after 10:00 still open", n)
	}
}

func TestTicketCodesAreUniqueUnderConcurrency(t *testing.T) {
	st := testenv.NewStore(t)
	w := newWorld(t, st, Monday)
	svc := w.service("K", weekdays(hm(9, 0), hm(18, 0), 15, 10))
	const n = 200
	tickets := make([]store.Ticket, n)
	errs := race(n, func(i int) error {
		var err error
		tickets[i], err = st.Book(ctx, store.BookRequest{ServiceID: svc.ID, Channel: store.ChannelKiosk}, Monday)
		return err
	})
	if got := tally(t, errs); got["ok"] != n {
		t.Fatalf("outcomes %v, want all %d ok", got, n)
	}
	codes := make([]string, 0, n)
	seen := map[string]bool{}
	for _, tk := range tickets {
		if seen[tk.Code] {
			t.Errorf("code %s handed out twice", tk.Code)
		}
		seen[tk.Code] = true
		codes = append(codes, tk.Code)
	}
	sort.Strings(codes)
	for i, c := range codes {
		if want := fmt.Sprintf("K%03d", i+1); c != want {
			t.Fatalf("codes are not contiguous: #%d is %s, want %s (all: %v)", i+1, c, want, codes)
		}
	}
	if got := count(t, st, `SELECT COUNT(DISTINCT code) FROM tickets WHERE issued_service_id = ? AND day = ?`, svc.ID, "2026-11-23"); got != n {
		t.Errorf("%d distinct codes stored, want %d", got, n)
	}
	// The numbering is per day: tomorrow starts again from 001.
	if tk := w.book(svc.ID, at(Monday.AddDate(0, 0, 1), 9, 0), Monday); tk.Code != "K001" {
		t.Errorf("first ticket of Tuesday is %s, want K001", tk.Code)
	}
}

func TestTwoDesksNeverCallTheSameTicket(t *testing.T) {
	st := testenv.NewStore(t)
	w := newWorld(t, st, Monday)
	// Four services with different targets, every desk serving all four.
	var services []int64
	for i, prefix := range []string{"A", "B", "C", "D"} {
		svc := w.service(prefix, weekdays(hm(8, 0), hm(18, 0), 15, 4), func(s *store.Service) { s.TargetWaitMin = 15 * (i + 1) })
		services = append(services, svc.ID)
	}
	const waiting, desks = 500, 20
	issued := race(waiting, func(i int) error {
		_, err := st.Book(ctx, store.BookRequest{ServiceID: services[i%len(services)], Channel: store.ChannelKiosk},
			Monday.Add(time.Duration(i)*time.Second))
		return err
	})
	if got := tally(t, issued); got["ok"] != waiting {
		t.Fatalf("set-up: %v", got)
	}
	deskIDs := make([]int64, desks)
	ops := make([]store.Actor, desks)
	for i := range desks {
		d, op := w.desk(fmt.Sprint(i+1), services...)
		deskIDs[i], ops[i] = d.ID, op
	}

	now := at(Monday, 10, 0)
	called := make([][]int64, desks)
	errs := race(desks, func(i int) error {
		for {
			res, err := st.CallNext(ctx, deskIDs[i], ops[i], now)
			if errors.Is(err, store.ErrNobodyWaiting) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("desk %d call next: %w", i+1, err)
			}
			if res.Ticket.DeskID != deskIDs[i] || res.Desk.CurrentTicketID != res.Ticket.ID {
				return fmt.Errorf("desk %d got ticket %d for desk %d, current %d", i+1, res.Ticket.ID, res.Ticket.DeskID, res.Desk.CurrentTicketID)
			}
			called[i] = append(called[i], res.Ticket.ID)
			if _, err := st.Start(ctx, deskIDs[i], ops[i], now); err != nil {
				return fmt.Errorf("desk %d start: %w", i+1, err)
			}
			if _, err := st.Finish(ctx, deskIDs[i], ops[i], now); err != nil {
				return fmt.Errorf("desk %d finish: %w", i+1, err)
			}
		}
	})
	for _, err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	byTicket := map[int64]int{}
	for i := range desks {
		for _, id := range called[i] {
			if d, dup := byTicket[id]; dup {
				t.Errorf("ticket %d called by desk %d and desk %d", id, d+1, i+1)
			}
			byTicket[id] = i
		}
	}
	if len(byTicket) != waiting {
		t.Errorf("%d tickets called, want %d", len(byTicket), waiting)
	}
	if got := count(t, st, `SELECT COUNT(*) FROM calls WHERE kind = 'call'`); got != waiting {
		t.Errorf("%d calls recorded, want %d", got, waiting)
	}
	if got := count(t, st, `SELECT COUNT(*) FROM (SELECT ticket_id FROM calls WHERE kind = 'call'
		GROUP BY ticket_id HAVING COUNT(*) > 1) x`); got != 0 {
		t.Errorf("%d tickets have more than one call", got)
	}
	if got := count(t, st, `SELECT COUNT(*) FROM tickets t JOIN calls c ON c.ticket_id = t.id
		WHERE t.status = 'done' AND t.desk_id = c.desk_id`); got != waiting {
		t.Errorf("%d tickets done at the desk that called them, want %d", got, waiting)
	}
	busy := 0
	for i := range desks {
		if len(called[i]) > 0 {
			busy++
		}
	}
	t.Logf("%d of %d desks served; calls per desk: %v", busy, desks, func() []int {
		var n []int
		for _, c := range called {
			n = append(n, len(c))
		}
		return n
	}())
}

func TestDoubleClickOnCallNextCallsOnce(t *testing.T) {
	st := testenv.NewStore(t)
	w := newWorld(t, st, Monday)
	svc := w.service("A", weekdays(hm(8, 0), hm(18, 0), 15, 4))
	for i := range 3 {
		w.walkIn(svc.ID, Monday.Add(time.Duration(i)*time.Minute))
	}
	d, op := w.desk("1", svc.ID)
	now := at(Monday, 9, 10)
	var mu sync.Mutex
	var got []store.CallResult
	errs := race(10, func(int) error {
		res, err := st.CallNext(ctx, d.ID, op, now)
		if err == nil {
			mu.Lock()
			got = append(got, res)
			mu.Unlock()
		}
		return err
	})
	outcomes := tally(t, errs, "desk_busy")
	if outcomes["ok"] != 1 || outcomes["desk_busy"] != 9 {
		t.Fatalf("outcomes %v, want 1 ok and 9 desk_busy", outcomes)
	}
	if n := count(t, st, `SELECT COUNT(*) FROM calls WHERE desk_id = ?`, d.ID); n != 1 {
		t.Errorf("%d calls recorded, want 1", n)
	}
	if n := count(t, st, `SELECT COUNT(*) FROM tickets WHERE service_id = ? AND status = 'called'`, svc.ID); n != 1 {
		t.Errorf("%d tickets called, want 1", n)
	}
	if n := count(t, st, `SELECT COUNT(*) FROM tickets WHERE service_id = ? AND status = 'waiting'`, svc.ID); n != 2 {
		t.Errorf("%d tickets still waiting, want 2", n)
	}
	desk, err := st.Desk(ctx, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	if desk.CurrentTicketID != got[0].Ticket.ID {
		t.Errorf("desk shows ticket %d, the call was %d", desk.CurrentTicketID, got[0].Ticket.ID)
	}
}

func TestOneActiveBookingPerCitizenUnderConcurrency(t *testing.T) {
	st := testenv.NewStore(t)
	w := newWorld(t, st, Monday)
	svc := w.service("C", weekdays(hm(9, 0), hm(12, 0), 15, 1), func(s *store.Service) { s.OneActiveBooking = true })
	// Fifty browser tabs, each on a different time over the next days.
	days, err := st.Availability(ctx, svc.ID, dateOf(Monday.AddDate(0, 0, 1)), dateOf(Monday.AddDate(0, 0, 7)), Monday)
	if err != nil {
		t.Fatal(err)
	}
	var starts []time.Time
	for _, d := range days {
		for _, s := range d.Slots {
			starts = append(starts, s.Start)
		}
	}
	const n = 50
	if len(starts) < n {
		t.Fatalf("only %d free times", len(starts))
	}
	tickets := make([]store.Ticket, n)
	errs := race(n, func(i int) error {
		var err error
		tickets[i], err = st.Book(ctx, store.BookRequest{ServiceID: svc.ID, Start: starts[i], Channel: store.ChannelWeb, Citizen: mario}, Monday)
		return err
	})
	got := tally(t, errs, "already_booked")
	if got["ok"] != 1 || got["already_booked"] != n-1 {
		t.Fatalf("outcomes %v, want 1 ok and %d already_booked", got, n-1)
	}
	// The losers' places went back.
	if booked := count(t, st, `SELECT COALESCE(SUM(booked), 0) FROM slots WHERE service_id = ?`, svc.ID); booked != 1 {
		t.Errorf("%d places taken, want 1", booked)
	}
	checkSlotBooks(t, st, svc.ID)

	// Another citizen is not affected; Mario can book again once he revokes.
	other := mario
	other.FiscalCode = "VRDGLI92E55F205V"
	if _, err := st.Book(ctx, store.BookRequest{ServiceID: svc.ID, Start: starts[n], Channel: store.ChannelWeb, Citizen: other}, Monday); err != nil {
		t.Fatalf("another citizen: %v", err)
	}
	var mine store.Ticket
	for i, err := range errs {
		if err == nil {
			mine = tickets[i]
		}
	}
	if _, err := st.Revoke(ctx, mine.Token, Monday, "web"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Book(ctx, store.BookRequest{ServiceID: svc.ID, Start: starts[n+1], Channel: store.ChannelWeb, Citizen: mario}, Monday); err != nil {
		t.Fatalf("booking again after revoking: %v", err)
	}
}
