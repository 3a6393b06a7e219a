package store_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"avanti/appliance/calling"
	"avanti/appliance/fault"
	"avanti/appliance/store"
	"avanti/appliance/testenv"
)

func TestTicketLifecycle(t *testing.T) {
	st := testenv.NewStore(t)
	tuesday := Monday.AddDate(0, 0, 1)
	appointment := at(tuesday, 10, 0)
	// The service of every subtest: check-in from 30 minutes before, 10
	// minutes of allowed lateness.
	open := weekdays(hm(8, 0), hm(18, 0), 15, 4)

	t.Run("check-in too early says when to come back", func(t *testing.T) {
		w := newWorld(t, st, Monday)
		svc := w.service("A", open)
		tk := w.book(svc.ID, appointment, Monday)
		_, err := st.CheckIn(ctx, tk.Token, at(tuesday, 9, 20), "totem")
		f := wantFault(t, err, "too_early")
		back, ok := f.Details["come_back_at"].(time.Time)
		if !ok {
			t.Fatalf("no come_back_at in %v", f.Details)
		}
		wantTime(t, "come back at", back, at(tuesday, 9, 30))
		if got := w.ticket(tk.ID).Status; got != store.StatusBooked {
			t.Errorf("status %s after an early check-in, want booked", got)
		}
	})

	t.Run("check-in on time", func(t *testing.T) {
		w := newWorld(t, st, Monday)
		svc := w.service("A", open)
		tk := w.book(svc.ID, appointment, Monday)
		now := at(tuesday, 9, 30) // the window opens exactly now
		in, err := st.CheckIn(ctx, tk.Token, now, "totem")
		if err != nil {
			t.Fatal(err)
		}
		stored := w.ticket(tk.ID)
		if in.Status != store.StatusWaiting || stored.Status != store.StatusWaiting || stored.Late {
			t.Errorf("checked in as %s (stored %s, late %v), want waiting on time", in.Status, stored.Status, stored.Late)
		}
		wantTime(t, "checked in", stored.CheckedInAt, now)
		wantTime(t, "due", stored.DueAt, appointment) // early arrivals wait for their time
	})

	t.Run("late arrival within the allowed lateness is let in as late", func(t *testing.T) {
		w := newWorld(t, st, Monday)
		svc := w.service("A", open)
		tk := w.book(svc.ID, appointment, Monday)
		now := at(tuesday, 10, 10)
		if _, err := st.CheckIn(ctx, tk.Token, now, "totem"); err != nil {
			t.Fatal(err)
		}
		stored := w.ticket(tk.ID)
		if stored.Status != store.StatusWaiting || !stored.Late {
			t.Errorf("status %s late %v, want waiting and late", stored.Status, stored.Late)
		}
		wantTime(t, "due", stored.DueAt, now)
	})

	t.Run("arriving after the allowed lateness expires the ticket", func(t *testing.T) {
		w := newWorld(t, st, Monday)
		svc := w.service("A", open)
		tk := w.book(svc.ID, appointment, Monday)
		_, err := st.CheckIn(ctx, tk.Token, at(tuesday, 10, 11), "totem")
		wantFault(t, err, "ticket_expired")
		stored := w.ticket(tk.ID)
		if stored.Status != store.StatusExpired {
			t.Fatalf("status %s after a too-late check-in, want expired", stored.Status)
		}
		wantTime(t, "closed", stored.ClosedAt, at(tuesday, 10, 11))
		if n := count(t, st, `SELECT COUNT(*) FROM ticket_events WHERE ticket_id = ? AND to_status = 'expired'`, tk.ID); n != 1 {
			t.Errorf("%d expiry events, want 1", n)
		}
		// Asking again gives the same answer.
		_, err = st.CheckIn(ctx, tk.Token, at(tuesday, 10, 12), "totem")
		wantFault(t, err, "ticket_expired")
	})

	t.Run("checking in twice is refused", func(t *testing.T) {
		w := newWorld(t, st, Monday)
		svc := w.service("A", open)
		tk := w.book(svc.ID, appointment, Monday)
		if _, err := st.CheckIn(ctx, tk.Token, at(tuesday, 9, 50), "totem"); err != nil {
			t.Fatal(err)
		}
		_, err := st.CheckIn(ctx, tk.Token, at(tuesday, 9, 51), "totem")
		wantFault(t, err, "already_checked_in")
		walk := w.walkIn(svc.ID, Monday)
		_, err = st.CheckIn(ctx, walk.Token, Monday, "totem")
		wantFault(t, err, "already_checked_in")
		rev := w.book(svc.ID, at(tuesday, 11, 0), Monday)
		if _, err := st.Revoke(ctx, rev.Token, Monday, "web"); err != nil {
			t.Fatal(err)
		}
		_, err = st.CheckIn(ctx, rev.Token, at(tuesday, 11, 0), "totem")
		wantFault(t, err, "ticket_revoked")
	})

	t.Run("a citizen who missed the call may check in again within the lateness", func(t *testing.T) {
		w := newWorld(t, st, Monday)
		svc := w.service("A", open)
		d, op := w.desk("1", svc.ID)
		tk := w.book(svc.ID, appointment, Monday)
		if _, err := st.CheckIn(ctx, tk.Token, at(tuesday, 9, 55), "totem"); err != nil {
			t.Fatal(err)
		}
		if res := w.call(d.ID, op, appointment); res.Ticket.ID != tk.ID {
			t.Fatalf("called %s", res.Ticket.Code)
		}
		ns, err := st.NoShow(ctx, d.ID, op, at(tuesday, 10, 2))
		if err != nil {
			t.Fatal(err)
		}
		if ns.Ticket.Status != store.StatusNoShow || ns.Desk.CurrentTicketID != 0 {
			t.Errorf("after no-show: ticket %s, desk current %d", ns.Ticket.Status, ns.Desk.CurrentTicketID)
		}
		back := at(tuesday, 10, 8)
		if _, err := st.CheckIn(ctx, tk.Token, back, "totem"); err != nil {
			t.Fatal(err)
		}
		stored := w.ticket(tk.ID)
		if stored.Status != store.StatusWaiting || !stored.Late {
			t.Errorf("back as %s late=%v, want waiting and late", stored.Status, stored.Late)
		}
		res := w.call(d.ID, op, at(tuesday, 10, 9))
		if res.Ticket.ID != tk.ID {
			t.Fatalf("called %s, want the returning no-show", res.Ticket.Code)
		}
		// A second miss, and this time the lateness is over.
		if _, err := st.NoShow(ctx, d.ID, op, at(tuesday, 10, 10)); err != nil {
			t.Fatal(err)
		}
		_, err = st.CheckIn(ctx, tk.Token, at(tuesday, 10, 21), "totem")
		wantFault(t, err, "ticket_expired")
		if got := w.ticket(tk.ID).Status; got == store.StatusWaiting {
			t.Errorf("let back in after the lateness")
		}
	})

	t.Run("a served citizen comes back without queueing only where the service allows it", func(t *testing.T) {
		w := newWorld(t, st, Monday)
		twice := w.service("A", open, func(s *store.Service) { s.SecondCheckin = true })
		once := w.service("B", open)
		d, op := w.desk("1", twice.ID, once.ID)
		now := at(Monday, 9, 0)
		first := w.walkIn(twice.ID, now)
		plain := w.walkIn(once.ID, now)
		w.call(d.ID, op, now.Add(time.Minute))
		w.serve(d.ID, op, now.Add(time.Minute))
		w.call(d.ID, op, now.Add(10*time.Minute))
		w.serve(d.ID, op, now.Add(10*time.Minute))
		waiting := w.walkIn(twice.ID, now.Add(15*time.Minute))

		_, err := st.CheckIn(ctx, plain.Token, now.Add(20*time.Minute), "totem")
		wantFault(t, err, "already_served")
		back, err := st.CheckIn(ctx, first.Token, now.Add(30*time.Minute), "totem")
		if err != nil {
			t.Fatal(err)
		}
		if back.Status != store.StatusWaiting || !back.Returning {
			t.Errorf("second check-in: %s returning=%v", back.Status, back.Returning)
		}
		// It goes before the citizen who has waited longer.
		res := w.call(d.ID, op, now.Add(31*time.Minute))
		if res.Ticket.ID != first.ID || res.Reason.Rule != calling.RuleReturning {
			t.Errorf("called %s (%s), want the returning %s before %s", res.Ticket.Code, res.Reason.Rule, first.Code, waiting.Code)
		}
		w.serve(d.ID, op, now.Add(31*time.Minute))
		_, err = st.CheckIn(ctx, first.Token, now.Add(45*time.Minute), "totem")
		wantFault(t, err, "already_served")
	})

	t.Run("a returning citizen who already holds another ticket of the service is told so", func(t *testing.T) {
		w := newWorld(t, st, Monday)
		svc := w.service("A", open, func(s *store.Service) { s.SecondCheckin, s.OneActiveBooking = true, true })
		d, op := w.desk("1", svc.ID)
		now := at(Monday, 9, 0)
		walkIn := func(at time.Time) store.Ticket {
			tk, err := st.Book(ctx, store.BookRequest{ServiceID: svc.ID, Channel: store.ChannelKiosk, Citizen: mario, Actor: "totem"}, at)
			if err != nil {
				t.Fatal(err)
			}
			return tk
		}
		first := walkIn(now)
		w.call(d.ID, op, now.Add(time.Minute))
		w.serve(d.ID, op, now.Add(time.Minute))
		second := walkIn(now.Add(10 * time.Minute))
		_, err := st.CheckIn(ctx, first.Token, now.Add(20*time.Minute), "totem")
		wantFault(t, err, "already_booked")
		if got := w.ticket(second.ID).Status; got != store.StatusWaiting {
			t.Errorf("the other ticket is %s, want it still waiting", got)
		}
	})

	t.Run("an operator sends a citizen to another service", func(t *testing.T) {
		w := newWorld(t, st, Monday)
		reg := w.service("A", open)
		tax := w.service("T", open)
		d1, op1 := w.desk("1", reg.ID)
		d2, op2 := w.desk("2", tax.ID)
		tk := w.walkIn(reg.ID, Monday)
		w.call(d1.ID, op1, Monday.Add(time.Minute))
		_, err := st.Transfer(ctx, d1.ID, reg.ID, "", op1, Monday.Add(2*time.Minute))
		wantFault(t, err, "same_service")
		_, err = st.Transfer(ctx, d1.ID, 999999, "", op1, Monday.Add(2*time.Minute))
		wantFault(t, err, "unknown_service")
		tr, err := st.Transfer(ctx, d1.ID, tax.ID, "IMU 2025", op1, Monday.Add(3*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if tr.Desk.CurrentTicketID != 0 || tr.Ticket.Status != store.StatusWaiting {
			t.Errorf("after transfer: desk current %d, ticket %s", tr.Desk.CurrentTicketID, tr.Ticket.Status)
		}
		stored := w.ticket(tk.ID)
		if stored.ServiceID != tax.ID || stored.IssuedServiceID != reg.ID || stored.Code != tk.Code || stored.Note != "IMU 2025" {
			t.Errorf("transferred ticket: service %d issued %d code %s note %q", stored.ServiceID, stored.IssuedServiceID, stored.Code, stored.Note)
		}
		if _, err := st.CallNext(ctx, d1.ID, op1, Monday.Add(4*time.Minute)); !errors.Is(err, store.ErrNobodyWaiting) {
			t.Errorf("the first desk can still call it: %v", err)
		}
		if res := w.call(d2.ID, op2, Monday.Add(5*time.Minute)); res.Ticket.ID != tk.ID || res.Ticket.Code != "A001" {
			t.Errorf("tax desk called %s, want A001", res.Ticket.Code)
		}
	})

	t.Run("recall, start and finish", func(t *testing.T) {
		w := newWorld(t, st, Monday)
		svc := w.service("A", open)
		d, op := w.desk("1", svc.ID)
		tk := w.walkIn(svc.ID, Monday)
		called := w.call(d.ID, op, Monday.Add(time.Minute))
		if called.Ticket.Status != store.StatusCalled || called.Desk.CurrentTicketID != tk.ID || called.Ticket.DeskID != d.ID {
			t.Errorf("call: %+v", called)
		}
		rc, err := st.Recall(ctx, d.ID, op, Monday.Add(2*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if rc.Ticket.Recalls != 1 || rc.Ticket.Status != store.StatusCalled {
			t.Errorf("recall: %d recalls, %s", rc.Ticket.Recalls, rc.Ticket.Status)
		}
		if n := count(t, st, `SELECT COUNT(*) FROM calls WHERE ticket_id = ? AND kind = 'recall'`, tk.ID); n != 1 {
			t.Errorf("%d recalls recorded, want 1", n)
		}
		started, err := st.Start(ctx, d.ID, op, Monday.Add(3*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if started.Ticket.Status != store.StatusServing {
			t.Errorf("started: %s", started.Ticket.Status)
		}
		done, err := st.Finish(ctx, d.ID, op, Monday.Add(12*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		stored := w.ticket(tk.ID)
		if done.Desk.CurrentTicketID != 0 || stored.Status != store.StatusDone {
			t.Errorf("finished: desk current %d, ticket %s", done.Desk.CurrentTicketID, stored.Status)
		}
		wantTime(t, "serving", stored.ServingAt, Monday.Add(3*time.Minute))
		wantTime(t, "finished", stored.FinishedAt, Monday.Add(12*time.Minute))
		var trail []string
		rows, err := st.DB().QueryContext(ctx, `SELECT to_status FROM ticket_events WHERE ticket_id = ? ORDER BY id`, tk.ID)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var s string
			rows.Scan(&s)
			trail = append(trail, s)
		}
		rows.Close()
		if got := strings.Join(trail, " "); got != "waiting called called serving done" {
			t.Errorf("history %q", got)
		}
	})

	t.Run("actions that do not fit the ticket's state are refused", func(t *testing.T) {
		w := newWorld(t, st, Monday)
		svc := w.service("A", open)
		d, op := w.desk("1", svc.ID)
		now := Monday.Add(time.Minute)
		for name, act := range map[string]func() error{
			"start":    func() error { _, err := st.Start(ctx, d.ID, op, now); return err },
			"finish":   func() error { _, err := st.Finish(ctx, d.ID, op, now); return err },
			"recall":   func() error { _, err := st.Recall(ctx, d.ID, op, now); return err },
			"no-show":  func() error { _, err := st.NoShow(ctx, d.ID, op, now); return err },
			"transfer": func() error { _, err := st.Transfer(ctx, d.ID, svc.ID, "", op, now); return err },
		} {
			if f, ok := fault.As(act()); !ok || f.Code != "no_current_ticket" {
				t.Errorf("%s without a ticket: %v, want no_current_ticket", name, f)
			}
		}
		w.walkIn(svc.ID, Monday)
		w.walkIn(svc.ID, Monday)
		w.call(d.ID, op, now)
		_, err := st.Finish(ctx, d.ID, op, now)
		wantFault(t, err, "invalid_transition")
		_, err = st.CallNext(ctx, d.ID, op, now)
		wantFault(t, err, "desk_busy")
		if _, err := st.Start(ctx, d.ID, op, now); err != nil {
			t.Fatal(err)
		}
		_, err = st.Start(ctx, d.ID, op, now)
		wantFault(t, err, "invalid_transition")
		_, err = st.Recall(ctx, d.ID, op, now)
		wantFault(t, err, "invalid_transition")
		_, err = st.NoShow(ctx, d.ID, op, now)
		wantFault(t, err, "invalid_transition")
	})
}

func TestDesk(t *testing.T) {
	st := testenv.NewStore(t)
	open := weekdays(hm(8, 0), hm(18, 0), 15, 4)

	t.Run("a pause needs a known reason and stops calls until resumed", func(t *testing.T) {
		w := newWorld(t, st, Monday)
		svc := w.service("A", open)
		d, op := w.desk("1", svc.ID)
		w.walkIn(svc.ID, Monday)
		_, err := st.Pause(ctx, d.ID, "lunch", op, Monday)
		if f := wantFault(t, err, "invalid_pause_reason"); f.Field != "reason" {
			t.Errorf("field %q", f.Field)
		}
		p, err := st.Pause(ctx, d.ID, "break", op, Monday.Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if p.State != store.DeskPaused || p.PauseReason != "break" {
			t.Errorf("paused desk: %s %q", p.State, p.PauseReason)
		}
		wantTime(t, "paused since", p.StateSince, Monday.Add(time.Minute))
		_, err = st.CallNext(ctx, d.ID, op, Monday.Add(2*time.Minute))
		wantFault(t, err, "desk_paused")
		r, err := st.Resume(ctx, d.ID, op, Monday.Add(10*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if r.State != store.DeskOpen || r.PauseReason != "" {
			t.Errorf("resumed desk: %s %q", r.State, r.PauseReason)
		}
		w.call(d.ID, op, Monday.Add(11*time.Minute))
		_, err = st.Pause(ctx, d.ID, "break", op, Monday.Add(12*time.Minute))
		wantFault(t, err, "desk_busy")
	})

	t.Run("a desk serving somebody cannot close", func(t *testing.T) {
		w := newWorld(t, st, Monday)
		svc := w.service("A", open)
		d, op := w.desk("1", svc.ID)
		w.walkIn(svc.ID, Monday)
		w.call(d.ID, op, Monday.Add(time.Minute))
		_, err := st.CloseDesk(ctx, d.ID, op, Monday.Add(2*time.Minute))
		wantFault(t, err, "desk_busy")
		w.serve(d.ID, op, Monday.Add(2*time.Minute))
		c, err := st.CloseDesk(ctx, d.ID, op, Monday.Add(10*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if c.State != store.DeskClosed || c.OperatorID != 0 {
			t.Errorf("closed desk: %s operator %d", c.State, c.OperatorID)
		}
		w.walkIn(svc.ID, Monday)
		_, err = st.CallNext(ctx, d.ID, op, Monday.Add(11*time.Minute))
		wantFault(t, err, "desk_closed")
		_, err = st.Resume(ctx, d.ID, op, Monday.Add(11*time.Minute))
		wantFault(t, err, "desk_closed")
	})

	t.Run("another operator cannot act on a desk held by someone else, an admin can", func(t *testing.T) {
		w := newWorld(t, st, Monday)
		svc := w.service("A", open)
		d, op := w.desk("1", svc.ID)
		other := w.operator("marco")
		w.walkIn(svc.ID, Monday)
		w.walkIn(svc.ID, Monday)
		now := Monday.Add(time.Minute)
		for name, act := range map[string]func() error{
			"call next": func() error { _, err := st.CallNext(ctx, d.ID, other, now); return err },
			"open":      func() error { _, err := st.OpenDesk(ctx, d.ID, []int64{svc.ID}, other, now); return err },
			"pause":     func() error { _, err := st.Pause(ctx, d.ID, "break", other, now); return err },
			"close":     func() error { _, err := st.CloseDesk(ctx, d.ID, other, now); return err },
		} {
			if f, ok := fault.As(act()); !ok || f.Code != "not_your_desk" || f.Kind != fault.Forbidden {
				t.Errorf("%s by another operator: %v, want not_your_desk", name, f)
			}
		}
		if n := count(t, st, `SELECT COUNT(*) FROM calls WHERE desk_id = ?`, d.ID); n != 0 {
			t.Errorf("a refused call was recorded")
		}
		// Somebody from another municipality does not even see the desk.
		stranger := store.Actor{UserID: other.UserID, Name: "x", Admin: true, OwnerID: w.owner.ID + 1000}
		_, err := st.CallNext(ctx, d.ID, stranger, now)
		wantFault(t, err, "desk_not_found")

		res, err := st.CallNext(ctx, d.ID, w.admin, now)
		if err != nil {
			t.Fatalf("admin standing in: %v", err)
		}
		if res.Desk.OperatorID != op.UserID {
			t.Errorf("the desk now belongs to %d, want still %d", res.Desk.OperatorID, op.UserID)
		}
		w.serve(d.ID, op, now)
		if _, err := st.CloseDesk(ctx, d.ID, w.admin, now.Add(10*time.Minute)); err != nil {
			t.Fatalf("admin closing: %v", err)
		}
		// Closed, the desk is free for the other operator.
		if _, err := st.OpenDesk(ctx, d.ID, []int64{svc.ID}, other, now.Add(11*time.Minute)); err != nil {
			t.Fatalf("opening a closed desk: %v", err)
		}
	})
}
