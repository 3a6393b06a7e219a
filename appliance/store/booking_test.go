package store_test

import (
	"testing"
	"time"

	"avanti/appliance/fault"
	"avanti/appliance/store"
	"avanti/appliance/testenv"
)

func TestBooking(t *testing.T) {
	st := testenv.NewStore(t)
	tuesday := Monday.AddDate(0, 0, 1)
	anna := store.Citizen{Phone: "+39 333 1234567", FirstName: "Anna", LastName: "Verdi"}

	t.Run("walk-in gets the first available slot today, already checked in", func(t *testing.T) {
		w := newWorld(t, st, Monday)
		svc := w.service("A", weekdays(hm(8, 30), hm(12, 30), 15, 2))
		now := at(Monday, 9, 5)
		first := w.walkIn(svc.ID, now)
		if first.Status != store.StatusWaiting || !first.WalkIn || first.Code != "A001" {
			t.Errorf("walk-in is %s, walk_in=%v, code %s; want waiting walk-in A001", first.Status, first.WalkIn, first.Code)
		}
		wantTime(t, "slot", first.Start, at(Monday, 9, 0)) // the slot under way still has room
		wantTime(t, "checked in", first.CheckedInAt, now)
		second := w.walkIn(svc.ID, now)
		third := w.walkIn(svc.ID, now)
		wantTime(t, "second slot", second.Start, at(Monday, 9, 0))
		wantTime(t, "third slot", third.Start, at(Monday, 9, 15))
		if third.Code != "A003" {
			t.Errorf("third code %s, want A003", third.Code)
		}
		stored := w.ticket(first.ID)
		if stored.Status != store.StatusWaiting || !stored.CheckedInAt.Equal(now) || stored.Token != first.Token {
			t.Errorf("stored walk-in: %+v", stored)
		}
		if len(stored.Token) != 43 {
			t.Errorf("token %q is not 256 bits in base64url", stored.Token)
		}
		// Only the office hands out "first available": not the web.
		_, err := st.Book(ctx, store.BookRequest{ServiceID: svc.ID, Channel: store.ChannelWeb, Citizen: anna}, now)
		if f := wantFault(t, err, "start_required"); f.Field != "start" {
			t.Errorf("field %q, want start", f.Field)
		}
	})

	t.Run("walk-in after the last place of the day is told there is none", func(t *testing.T) {
		w := newWorld(t, st, Monday)
		svc := w.service("A", weekdays(hm(9, 0), hm(9, 30), 15, 1))
		w.walkIn(svc.ID, Monday)
		w.walkIn(svc.ID, Monday)
		_, err := st.Book(ctx, store.BookRequest{ServiceID: svc.ID, Channel: store.ChannelKiosk}, Monday)
		wantFault(t, err, "no_availability")
		// After closing time there is nothing left today either, even
		// though tomorrow is free.
		w2 := newWorld(t, st, Monday)
		svc2 := w2.service("A", weekdays(hm(9, 0), hm(12, 0), 15, 1))
		_, err = st.Book(ctx, store.BookRequest{ServiceID: svc2.ID, Channel: store.ChannelKiosk}, at(Monday, 12, 5))
		wantFault(t, err, "no_availability")
	})

	t.Run("citizen books a chosen time", func(t *testing.T) {
		w := newWorld(t, st, Monday)
		svc := w.service("A", weekdays(hm(9, 0), hm(12, 0), 15, 2))
		start := at(tuesday, 10, 0)
		tk := w.book(svc.ID, start, Monday)
		if tk.Status != store.StatusBooked || tk.WalkIn || !tk.CheckedInAt.IsZero() || tk.Channel != store.ChannelWeb {
			t.Errorf("booking: status %s walk_in %v checked in %v channel %s", tk.Status, tk.WalkIn, tk.CheckedInAt, tk.Channel)
		}
		wantTime(t, "start", tk.Start, start)
		wantTime(t, "end", tk.End, at(tuesday, 10, 15))
		if tk.Day != "2026-11-24" || tk.Code != "A001" {
			t.Errorf("day %s code %s, want 2026-11-24 A001", tk.Day, tk.Code)
		}
		if sl := w.slot(svc.ID, start); sl.Booked != 1 || sl.Prebooked != 1 {
			t.Errorf("slot booked %d prebooked %d, want 1 and 1", sl.Booked, sl.Prebooked)
		}
		stored := w.ticket(tk.ID)
		if stored.Citizen.Phone != "+393331234567" || stored.Citizen.LastName != "Verdi" {
			t.Errorf("citizen stored as %+v", stored.Citizen)
		}
	})

	t.Run("a service without check-in takes the citizen as present at the appointment", func(t *testing.T) {
		w := newWorld(t, st, Monday)
		svc := w.service("A", weekdays(hm(9, 0), hm(12, 0), 15, 2), func(s *store.Service) { s.CheckinRequired = false })
		start := at(tuesday, 10, 0)
		tk := w.book(svc.ID, start, Monday)
		if tk.Status != store.StatusWaiting {
			t.Fatalf("status %s, want waiting", tk.Status)
		}
		wantTime(t, "due", w.ticket(tk.ID).DueAt, start)
	})

	t.Run("a booking needs the minimum notice", func(t *testing.T) {
		w := newWorld(t, st, Monday)
		svc := w.service("A", weekdays(hm(9, 0), hm(12, 0), 15, 2), func(s *store.Service) { s.MinNoticeMin = 60 })
		_, err := st.Book(ctx, store.BookRequest{ServiceID: svc.ID, Start: at(Monday, 9, 45), Channel: store.ChannelWeb, Citizen: anna}, Monday)
		if f := wantFault(t, err, "too_soon"); f.Field != "start" || f.Kind != fault.Invalid {
			t.Errorf("too_soon on field %q kind %d", f.Field, f.Kind)
		}
		w.book(svc.ID, at(Monday, 10, 0), Monday) // exactly an hour ahead is enough
	})

	t.Run("a booking cannot be further ahead than the service allows", func(t *testing.T) {
		w := newWorld(t, st, Monday)
		svc := w.service("A", weekdays(hm(9, 0), hm(12, 0), 15, 2), func(s *store.Service) { s.MaxDaysAhead = 7 })
		_, err := st.Book(ctx, store.BookRequest{ServiceID: svc.ID, Start: at(Monday.AddDate(0, 0, 8), 9, 0), Channel: store.ChannelWeb, Citizen: anna}, Monday)
		wantFault(t, err, "too_far_ahead")
		w.book(svc.ID, at(Monday.AddDate(0, 0, 7), 11, 45), Monday)
	})

	t.Run("a time already passed cannot be booked", func(t *testing.T) {
		w := newWorld(t, st, Monday)
		svc := w.service("A", weekdays(hm(8, 0), hm(12, 0), 15, 2))
		_, err := st.Book(ctx, store.BookRequest{ServiceID: svc.ID, Start: at(Monday, 8, 45), Channel: store.ChannelDesk}, Monday)
		wantFault(t, err, "slot_in_past")
	})

	t.Run("a time the agenda does not have is not found", func(t *testing.T) {
		w := newWorld(t, st, Monday)
		svc := w.service("A", weekdays(hm(9, 0), hm(12, 0), 15, 2))
		for _, start := range []time.Time{at(tuesday, 9, 7), at(tuesday, 13, 0), at(Monday.AddDate(0, 0, 5), 9, 0)} {
			_, err := st.Book(ctx, store.BookRequest{ServiceID: svc.ID, Start: start, Channel: store.ChannelWeb, Citizen: anna}, Monday)
			if f := wantFault(t, err, "slot_not_found"); f.Field != "start" {
				t.Errorf("field %q", f.Field)
			}
		}
	})

	t.Run("a service kept for local channels refuses web bookings", func(t *testing.T) {
		w := newWorld(t, st, Monday)
		svc := w.service("S", weekdays(hm(9, 0), hm(12, 0), 20, 1), func(s *store.Service) { s.OnlineBookable = false })
		start := at(tuesday, 9, 0)
		_, err := st.Book(ctx, store.BookRequest{ServiceID: svc.ID, Start: start, Channel: store.ChannelWeb, Citizen: anna}, Monday)
		if f := wantFault(t, err, "channel_not_allowed"); f.Kind != fault.Forbidden {
			t.Errorf("kind %d, want Forbidden", f.Kind)
		}
		if sl := w.slot(svc.ID, start); sl.Booked != 0 {
			t.Errorf("refused booking took a place: %+v", sl)
		}
		// By phone, through an operator, it works.
		if _, err := st.Book(ctx, store.BookRequest{ServiceID: svc.ID, Start: start, Channel: store.ChannelPhone, Citizen: anna}, Monday); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("places kept for walk-ins cannot be booked in advance but go to walk-ins", func(t *testing.T) {
		w := newWorld(t, st, Monday)
		// One place every 15 minutes, two an hour kept for the totem: the
		// round-robin keeps the first two slots of each hour.
		svc := w.service("A", weekdays(hm(9, 0), hm(11, 0), 15, 1), func(s *store.Service) { s.WalkInQuotaPerHour = 2 })
		for _, c := range []struct {
			h, m, reserved int
		}{{9, 0, 1}, {9, 15, 1}, {9, 30, 0}, {9, 45, 0}, {10, 0, 1}, {10, 15, 1}, {10, 30, 0}} {
			if sl := w.slot(svc.ID, at(tuesday, c.h, c.m)); sl.Reserved != c.reserved || sl.Capacity != 1 {
				t.Errorf("%02d:%02d: reserved %d of %d, want %d of 1", c.h, c.m, sl.Reserved, sl.Capacity, c.reserved)
			}
		}
		_, err := st.Book(ctx, store.BookRequest{ServiceID: svc.ID, Start: at(tuesday, 9, 0), Channel: store.ChannelWeb, Citizen: anna}, Monday)
		wantFault(t, err, "slot_full")
		w.book(svc.ID, at(tuesday, 9, 30), Monday)
		days, err := st.Availability(ctx, svc.ID, dateOf(tuesday), dateOf(tuesday), Monday)
		if err != nil {
			t.Fatal(err)
		}
		free := map[string]int{}
		for _, fs := range days[0].Slots {
			free[fs.Start.Format("15:04")] = fs.Free
		}
		for when, want := range map[string]int{"09:00": 0, "09:15": 0, "09:30": 0, "09:45": 1} {
			if free[when] != want {
				t.Errorf("%s shows %d free for booking ahead, want %d", when, free[when], want)
			}
		}
		// The totem hands the kept places out.
		tk := w.walkIn(svc.ID, Monday)
		wantTime(t, "walk-in slot", tk.Start, at(Monday, 9, 0))
		if sl := w.slot(svc.ID, at(Monday, 9, 0)); sl.Booked != 1 || sl.Prebooked != 0 {
			t.Errorf("slot booked %d prebooked %d after the walk-in, want 1 and 0", sl.Booked, sl.Prebooked)
		}
	})

	t.Run("a booking for later needs the citizen identified", func(t *testing.T) {
		w := newWorld(t, st, Monday)
		svc := w.service("A", weekdays(hm(9, 0), hm(12, 0), 15, 4), func(s *store.Service) { s.IDRequiredFuture = true })
		start := at(tuesday, 9, 0)
		for _, c := range []store.Citizen{{}, {Phone: "3331234567"}, {FirstName: "Anna", LastName: "Verdi"}} {
			_, err := st.Book(ctx, store.BookRequest{ServiceID: svc.ID, Start: start, Channel: store.ChannelWeb, Citizen: c}, Monday)
			if f := wantFault(t, err, "identification_required"); f.Field != "citizen" {
				t.Errorf("field %q, want citizen", f.Field)
			}
		}
		for _, c := range []store.Citizen{mario, anna} {
			if _, err := st.Book(ctx, store.BookRequest{ServiceID: svc.ID, Start: start, Channel: store.ChannelWeb, Citizen: c}, Monday); err != nil {
				t.Errorf("identified as %+v: %v", c, err)
			}
		}
		// The first available place at the totem stays anonymous.
		w.walkIn(svc.ID, Monday)
	})

	t.Run("a wrong fiscal code is pointed out on its field", func(t *testing.T) {
		w := newWorld(t, st, Monday)
		svc := w.service("A", weekdays(hm(9, 0), hm(12, 0), 15, 4))
		start := at(tuesday, 9, 0)
		_, err := st.Book(ctx, store.BookRequest{ServiceID: svc.ID, Start: start, Channel: store.ChannelWeb,
			Citizen: store.Citizen{FiscalCode: "RSSMRA85T10A562X"}}, Monday)
		if f := wantFault(t, err, "invalid_fiscal_code"); f.Field != "citizen.fiscal_code" || f.Kind != fault.Invalid || f.Message == "" {
			t.Errorf("fault %+v", f)
		}
		if sl := w.slot(svc.ID, start); sl.Booked != 0 {
			t.Errorf("refused booking took a place")
		}
		// As typed from the card, lower case with spaces, it is fine and stored clean.
		tk, err := st.Book(ctx, store.BookRequest{ServiceID: svc.ID, Start: start, Channel: store.ChannelWeb,
			Citizen: store.Citizen{FiscalCode: " rss mra 85t10 a562s "}}, Monday)
		if err != nil {
			t.Fatal(err)
		}
		if fc := w.ticket(tk.ID).Citizen.FiscalCode; fc != "RSSMRA85T10A562S" {
			t.Errorf("stored fiscal code %q", fc)
		}
	})

	t.Run("revoking gives the place back", func(t *testing.T) {
		w := newWorld(t, st, Monday)
		svc := w.service("A", weekdays(hm(9, 0), hm(12, 0), 15, 1))
		start := at(tuesday, 11, 0)
		tk := w.book(svc.ID, start, Monday)
		_, err := st.Book(ctx, store.BookRequest{ServiceID: svc.ID, Start: start, Channel: store.ChannelWeb, Citizen: anna}, Monday)
		wantFault(t, err, "slot_full")
		rev, err := st.Revoke(ctx, tk.Token, Monday.Add(time.Hour), "web")
		if err != nil {
			t.Fatal(err)
		}
		if rev.Status != store.StatusRevoked || w.ticket(tk.ID).Status != store.StatusRevoked {
			t.Errorf("revoked ticket is %s", w.ticket(tk.ID).Status)
		}
		if sl := w.slot(svc.ID, start); sl.Booked != 0 || sl.Prebooked != 0 {
			t.Errorf("slot after revoke: booked %d prebooked %d", sl.Booked, sl.Prebooked)
		}
		w.book(svc.ID, start, Monday.Add(time.Hour))
		_, err = st.Revoke(ctx, tk.Token, Monday.Add(time.Hour), "web")
		wantFault(t, err, "cannot_revoke")

		// A walk-in who leaves frees the place for the next walk-in.
		walk := w.walkIn(svc.ID, Monday)
		if _, err := st.Revoke(ctx, walk.Token, Monday.Add(time.Minute), "totem"); err != nil {
			t.Fatal(err)
		}
		if sl := w.slot(svc.ID, walk.Start); sl.Booked != 0 || sl.Prebooked != 0 {
			t.Errorf("slot after the walk-in left: booked %d prebooked %d", sl.Booked, sl.Prebooked)
		}
		again := w.walkIn(svc.ID, Monday.Add(2*time.Minute))
		wantTime(t, "next walk-in", again.Start, walk.Start)
		_, err = st.Revoke(ctx, "not-a-token", Monday, "web")
		wantFault(t, err, "ticket_not_found")
	})
}
