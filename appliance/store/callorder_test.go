package store_test

import (
	"errors"
	"testing"

	"avanti/appliance/calling"
	"avanti/appliance/store"
	"avanti/appliance/testenv"
)

func TestCallOrder(t *testing.T) {
	st := testenv.NewStore(t)
	open := weekdays(hm(8, 0), hm(18, 0), 15, 6)

	// wantCall checks who was called and that the stored reason is the one
	// the engine gave.
	wantCall := func(t *testing.T, res store.CallResult, want store.Ticket, rule calling.Rule) calling.Reason {
		t.Helper()
		if res.Ticket.ID != want.ID {
			t.Fatalf("called %s, want %s (reason: %s)", res.Ticket.Code, want.Code, res.Reason.Text)
		}
		if res.Reason.Rule != rule {
			t.Errorf("rule %s, want %s", res.Reason.Rule, rule)
		}
		stored := callReasons(t, st, want.ID)
		if len(stored) != 1 {
			t.Fatalf("%d calls stored for %s, want 1", len(stored), want.Code)
		}
		if stored[0] != res.Reason || stored[0].Text == "" {
			t.Errorf("stored reason %+v, engine said %+v", stored[0], res.Reason)
		}
		return stored[0]
	}

	t.Run("a service breaching its target wait goes first", func(t *testing.T) {
		w := newWorld(t, st, Monday)
		fast := w.service("F", open, func(s *store.Service) { s.TargetWaitMin = 10 })
		slow := w.service("S", open, func(s *store.Service) { s.TargetWaitMin = 60 })
		d, op := w.desk("1", fast.ID, slow.ID)
		longWait := w.walkIn(slow.ID, at(Monday, 9, 0))
		breaching := w.walkIn(fast.ID, at(Monday, 9, 10))
		// At 09:20 one has waited 20 of 60 minutes, the other 10 of 10.
		r := wantCall(t, w.call(d.ID, op, at(Monday, 9, 20)), breaching, calling.RuleUrgency)
		if r.Urgency != 1 || r.WaitSeconds != 600 || r.TargetSeconds != 600 || r.Waiting != 2 {
			t.Errorf("reason figures %+v", r)
		}
		w.serve(d.ID, op, at(Monday, 9, 20))
		wantCall(t, w.call(d.ID, op, at(Monday, 9, 30)), longWait, calling.RuleUrgency)
	})

	t.Run("a priority ticket counts with the service's weight", func(t *testing.T) {
		w := newWorld(t, st, Monday)
		svc := w.service("A", open) // target 15, weight 2
		d, op := w.desk("1", svc.ID)
		first := w.walkIn(svc.ID, at(Monday, 9, 0))
		prio, err := st.Book(ctx, store.BookRequest{ServiceID: svc.ID, Channel: store.ChannelKiosk, Priority: true}, at(Monday, 9, 6))
		if err != nil {
			t.Fatal(err)
		}
		// 15 of 15 minutes against 9 of 15 twice over.
		r := wantCall(t, w.call(d.ID, op, at(Monday, 9, 15)), prio, calling.RuleUrgency)
		if !r.Priority || r.PriorityWeight != 2 || r.Urgency != 1.2 {
			t.Errorf("reason figures %+v", r)
		}
		w.serve(d.ID, op, at(Monday, 9, 15))
		wantCall(t, w.call(d.ID, op, at(Monday, 9, 25)), first, calling.RuleUrgency)
	})

	t.Run("at equal urgency the citizen who checked in first goes first", func(t *testing.T) {
		w := newWorld(t, st, Monday)
		svc := w.service("A", open)
		d, op := w.desk("1", svc.ID)
		walk := w.walkIn(svc.ID, at(Monday, 9, 15))
		booked := w.book(svc.ID, at(Monday, 9, 15), Monday)
		if _, err := st.CheckIn(ctx, booked.Token, at(Monday, 9, 0), "totem"); err != nil {
			t.Fatal(err)
		}
		// Both are due at 09:15 for the 09:15 slot.
		wantCall(t, w.call(d.ID, op, at(Monday, 9, 25)), booked, calling.RuleUrgency)
		w.serve(d.ID, op, at(Monday, 9, 25))
		wantCall(t, w.call(d.ID, op, at(Monday, 9, 35)), walk, calling.RuleUrgency)
	})

	t.Run("a ticket not yet due is called only when nobody is due", func(t *testing.T) {
		w := newWorld(t, st, Monday)
		svc := w.service("A", open)
		d, op := w.desk("1", svc.ID)
		early := w.book(svc.ID, at(Monday, 10, 0), Monday)
		if _, err := st.CheckIn(ctx, early.Token, at(Monday, 9, 40), "totem"); err != nil {
			t.Fatal(err)
		}
		walk := w.walkIn(svc.ID, at(Monday, 9, 44))
		wantCall(t, w.call(d.ID, op, at(Monday, 9, 45)), walk, calling.RuleUrgency)
		w.serve(d.ID, op, at(Monday, 9, 45))
		r := wantCall(t, w.call(d.ID, op, at(Monday, 9, 52)), early, calling.RuleEarly)
		if r.WaitSeconds != -8*60 {
			t.Errorf("early call %d s before its time, want -480", r.WaitSeconds)
		}

		// A service that does not call early leaves the desk idle instead.
		w2 := newWorld(t, st, Monday)
		strict := w2.service("A", open, func(s *store.Service) { s.EarlyCalls = false })
		d2, op2 := w2.desk("1", strict.ID)
		tk := w2.book(strict.ID, at(Monday, 10, 0), Monday)
		if _, err := st.CheckIn(ctx, tk.Token, at(Monday, 9, 40), "totem"); err != nil {
			t.Fatal(err)
		}
		if _, err := st.CallNext(ctx, d2.ID, op2, at(Monday, 9, 52)); !errors.Is(err, store.ErrNobodyWaiting) {
			t.Fatalf("got %v, want nobody waiting", err)
		}
		wantCall(t, w2.call(d2.ID, op2, at(Monday, 10, 0)), tk, calling.RuleUrgency)
	})

	t.Run("a late arrival does not push on-time citizens past their target", func(t *testing.T) {
		w := newWorld(t, st, Monday)
		svc := w.service("A", open) // target 15, 10 minutes per citizen
		d, op := w.desk("1", svc.ID)
		late := w.book(svc.ID, at(Monday, 9, 0), Monday)
		if _, err := st.CheckIn(ctx, late.Token, at(Monday, 9, 8), "totem"); err != nil {
			t.Fatal(err)
		}
		onTime := w.walkIn(svc.ID, at(Monday, 9, 9))
		// At 09:10 the on-time walk-in has waited 1 minute and the late
		// arrival 2, but calling the latter first would make the walk-in
		// wait 11 minutes, within its 15: the late one may go first.
		wantCall(t, w.call(d.ID, op, at(Monday, 9, 10)), late, calling.RuleLateReadmission)
		w.serve(d.ID, op, at(Monday, 9, 10))
		wantCall(t, w.call(d.ID, op, at(Monday, 9, 20)), onTime, calling.RuleUrgency)
		w.serve(d.ID, op, at(Monday, 9, 20))

		late2 := w.book(svc.ID, at(Monday, 10, 0), Monday)
		if _, err := st.CheckIn(ctx, late2.Token, at(Monday, 10, 5), "totem"); err != nil {
			t.Fatal(err)
		}
		onTime2 := w.walkIn(svc.ID, at(Monday, 10, 0))
		// Now the walk-in has waited 10 of 15 minutes: another 10 behind
		// the late arrival would breach its target, so it goes first.
		wantCall(t, w.call(d.ID, op, at(Monday, 10, 10)), onTime2, calling.RuleUrgency)
	})
}
