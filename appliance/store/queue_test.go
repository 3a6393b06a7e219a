package store_test

import (
	"testing"
	"time"

	"avanti/appliance/store"
	"avanti/appliance/testenv"
)

func TestQueueFigures(t *testing.T) {
	st := testenv.NewStore(t)
	open := weekdays(hm(8, 0), hm(18, 0), 15, 6)

	t.Run("punctuality says how late the calls run", func(t *testing.T) {
		w := newWorld(t, st, Monday)
		late := w.service("A", open)
		onTime := w.service("B", open)
		ahead := w.service("C", open)
		idle := w.service("D", open)
		d, op := w.desk("1", late.ID)
		dB, opB := w.desk("2", onTime.ID)
		dC, opC := w.desk("3", ahead.ID)

		// Anagrafe: called 10 and 14 minutes after the citizens arrived.
		w.walkIn(late.ID, at(Monday, 9, 0))
		w.walkIn(late.ID, at(Monday, 9, 0))
		w.call(d.ID, op, at(Monday, 9, 10))
		w.serve(d.ID, op, at(Monday, 9, 10))
		w.call(d.ID, op, at(Monday, 9, 14))
		w.serve(d.ID, op, at(Monday, 9, 14))
		// A late arrival called long after its appointment is its own delay.
		tk := w.book(late.ID, at(Monday, 9, 15), Monday)
		if _, err := st.CheckIn(ctx, tk.Token, at(Monday, 9, 24), "totem"); err != nil {
			t.Fatal(err)
		}
		w.call(d.ID, op, at(Monday, 9, 50))
		w.serve(d.ID, op, at(Monday, 9, 50))
		w.walkIn(late.ID, at(Monday, 9, 55)) // still waiting

		// Tributi: called within two minutes.
		w.walkIn(onTime.ID, at(Monday, 10, 0))
		w.call(dB.ID, opB, at(Monday, 10, 2))
		w.serve(dB.ID, opB, at(Monday, 10, 2))

		// Servizi sociali: a 10:30 appointment called at 10:15.
		early := w.book(ahead.ID, at(Monday, 10, 30), Monday)
		if _, err := st.CheckIn(ctx, early.Token, at(Monday, 10, 10), "totem"); err != nil {
			t.Fatal(err)
		}
		w.call(dC.ID, opC, at(Monday, 10, 15))
		w.serve(dC.ID, opC, at(Monday, 10, 15))

		for _, c := range []struct {
			svc          int64
			now          time.Time
			status       string
			delay, calls int
			waiting      int
		}{
			{late.ID, at(Monday, 9, 56), "late", 12, 2, 1},
			{onTime.ID, at(Monday, 10, 20), "on_time", 2, 1, 0},
			{ahead.ID, at(Monday, 10, 20), "ahead", -15, 1, 0},
			{idle.ID, at(Monday, 10, 20), "no_data", 0, 0, 0},
			// An hour later the calls of 09:10 and 09:14 are out of the window.
			{late.ID, at(Monday, 10, 15), "no_data", 0, 0, 1},
		} {
			p, err := st.Punctuality(ctx, c.svc, c.now)
			if err != nil {
				t.Fatal(err)
			}
			if p.Status != c.status || p.DelayMinutes != c.delay || p.Calls != c.calls || p.Waiting != c.waiting {
				t.Errorf("service %d at %s: %+v, want %s, %d min over %d calls, %d waiting",
					c.svc, c.now.In(testenv.Rome).Format("15:04"), p, c.status, c.delay, c.calls, c.waiting)
			}
		}
	})

	t.Run("a waiting citizen sees their position and an estimated wait", func(t *testing.T) {
		w := newWorld(t, st, Monday)
		svc := w.service("A", open) // 10 minutes per citizen
		other := w.service("B", open)
		d, op := w.desk("1", svc.ID)
		a := w.walkIn(svc.ID, at(Monday, 9, 0))
		b := w.walkIn(svc.ID, at(Monday, 9, 1))
		c := w.walkIn(svc.ID, at(Monday, 9, 2))
		w.walkIn(other.ID, at(Monday, 8, 55)) // another queue: does not count
		now := at(Monday, 9, 5)
		for i, tk := range []store.Ticket{a, b, c} {
			pos, ok, err := st.Position(ctx, w.ticket(tk.ID), now)
			if err != nil || !ok {
				t.Fatalf("position of %s: %v %v", tk.Code, ok, err)
			}
			if pos.Position != i+1 || pos.EstimatedWait != time.Duration(i+1)*10*time.Minute {
				t.Errorf("%s: position %d, wait %v; want %d and %d min", tk.Code, pos.Position, pos.EstimatedWait, i+1, (i+1)*10)
			}
		}
		// A second desk halves the wait.
		w.desk("2", svc.ID)
		pos, _, err := st.Position(ctx, w.ticket(c.ID), now)
		if err != nil {
			t.Fatal(err)
		}
		if pos.Position != 3 || pos.EstimatedWait != 15*time.Minute {
			t.Errorf("with two desks: position %d wait %v, want 3 and 15m", pos.Position, pos.EstimatedWait)
		}
		// Once called, the ticket has no place in the queue; the others move up.
		w.call(d.ID, op, now)
		if _, ok, err := st.Position(ctx, w.ticket(a.ID), now); err != nil || ok {
			t.Errorf("called ticket still has a position (%v, %v)", ok, err)
		}
		if pos, _, _ := st.Position(ctx, w.ticket(c.ID), now); pos.Position != 2 {
			t.Errorf("after a call %s is at %d, want 2", c.Code, pos.Position)
		}
		// Checked in early for 10:00 while two are due: behind them, and
		// the wait counts the time until the appointment.
		early := w.book(svc.ID, at(Monday, 10, 0), Monday)
		if _, err := st.CheckIn(ctx, early.Token, at(Monday, 9, 30), "totem"); err != nil {
			t.Fatal(err)
		}
		pos, ok, err := st.Position(ctx, w.ticket(early.ID), at(Monday, 9, 30))
		if err != nil || !ok {
			t.Fatal(ok, err)
		}
		if pos.Position != 3 || pos.EstimatedWait != 30*time.Minute+15*time.Minute {
			t.Errorf("early arrival: position %d wait %v, want 3 and 45m", pos.Position, pos.EstimatedWait)
		}
	})

	t.Run("availability lists free places within notice and horizon", func(t *testing.T) {
		w := newWorld(t, st, Monday)
		svc := w.service("A", weekdays(hm(9, 0), hm(10, 0), 15, 2), func(s *store.Service) {
			s.MinNoticeMin, s.MaxDaysAhead = 30, 3
		})
		tuesday := Monday.AddDate(0, 0, 1)
		w.book(svc.ID, at(tuesday, 9, 0), Monday)
		w.book(svc.ID, at(tuesday, 9, 15), Monday)
		w.book(svc.ID, at(tuesday, 9, 15), Monday)
		w.walkIn(svc.ID, Monday)
		days, err := st.Availability(ctx, svc.ID, dateOf(Monday.AddDate(0, 0, -2)), dateOf(Monday.AddDate(0, 0, 6)), Monday)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, d := range days {
			if len(d.Slots) == 0 {
				t.Errorf("%s listed without slots", d.Date)
			}
			got = append(got, d.Date)
		}
		if want := "2026-11-23 2026-11-24 2026-11-25 2026-11-26"; join(got) != want {
			t.Errorf("days %q, want %q (through Monday+3 only)", join(got), want)
		}
		free := func(d int) map[string]int {
			m := map[string]int{}
			for _, s := range days[d].Slots {
				m[s.Start.In(testenv.Rome).Format("15:04")] = s.Free
			}
			return m
		}
		if m := free(0); len(m) != 2 || m["09:30"] != 2 || m["09:45"] != 2 {
			t.Errorf("Monday at 09:00 with 30 minutes' notice: %v, want 09:30 and 09:45 with 2 each", m)
		}
		if m := free(1); m["09:00"] != 1 || m["09:15"] != 0 || m["09:30"] != 2 || len(m) != 4 {
			t.Errorf("Tuesday: %v", m)
		}
		_, err = st.Availability(ctx, svc.ID, dateOf(Monday), dateOf(Monday.AddDate(0, 0, 62)), Monday)
		if f := wantFault(t, err, "range_too_long"); f.Field != "to" {
			t.Errorf("field %q", f.Field)
		}
		if _, err := st.Availability(ctx, svc.ID, dateOf(Monday), dateOf(Monday.AddDate(0, 0, 61)), Monday); err != nil {
			t.Errorf("61 days: %v", err)
		}
		_, err = st.Availability(ctx, svc.ID, dateOf(Monday), dateOf(Monday.AddDate(0, 0, -1)), Monday)
		wantFault(t, err, "invalid_range")
		days, err = st.Availability(ctx, svc.ID, dateOf(Monday.AddDate(0, 0, 10)), dateOf(Monday.AddDate(0, 0, 12)), Monday)
		if err != nil || len(days) != 0 {
			t.Errorf("beyond the horizon: %v %v", days, err)
		}
		_, err = st.Availability(ctx, 999999, dateOf(Monday), dateOf(Monday), Monday)
		wantFault(t, err, "service_not_found")
	})
}

func join(s []string) string {
	out := ""
	for i, v := range s {
		if i > 0 {
			out += " "
		}
		out += v
	}
	return out
}
