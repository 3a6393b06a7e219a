package store_test

import (
	"testing"
	"time"

	"avanti/appliance/agenda"
	"avanti/appliance/civil"
	"avanti/appliance/store"
	"avanti/appliance/testenv"
)

func TestAgendaRegeneration(t *testing.T) {
	st := testenv.NewStore(t)
	tuesday := Monday.AddDate(0, 0, 1)

	t.Run("changing an agenda never loses a booked place: its slot closes and the citizens are listed for recall", func(t *testing.T) {
		w := newWorld(t, st, Monday)
		svc := w.service("A", weekdays(hm(9, 0), hm(12, 0), 15, 2))
		agendaID := w.agendaOf(svc.ID)
		kept := w.book(svc.ID, at(tuesday, 9, 0), Monday)
		moved := w.book(svc.ID, at(tuesday, 11, 0), Monday)
		checkedIn := w.book(svc.ID, at(Monday, 11, 30), Monday)
		if _, err := st.CheckIn(ctx, checkedIn.Token, at(Monday, 11, 5), "totem"); err != nil {
			t.Fatal(err)
		}
		gone := w.book(svc.ID, at(tuesday, 11, 15), Monday)
		if _, err := st.Revoke(ctx, gone.Token, Monday, "web"); err != nil {
			t.Fatal(err)
		}
		before := len(slots(t, st, svc.ID, Monday, Monday.AddDate(0, 0, 30)))

		// From now on the office opens 09:00-10:00 only.
		_, reg := w.agenda(svc.ID, agendaID, agenda.Agenda{Ranges: weekdays(hm(9, 0), hm(10, 0), 15, 2)}, 14)
		if reg.Closed != 3 || reg.Added != 0 {
			t.Errorf("regeneration %+v, want 3 closed (two booked, one revoked) and none added", reg)
		}
		if got := len(slots(t, st, svc.ID, Monday, Monday.AddDate(0, 0, 30))); got != before-reg.Removed {
			t.Errorf("%d slots left of %d with %d removed", got, before, reg.Removed)
		}
		var affected []int64
		for _, tk := range reg.Affected {
			affected = append(affected, tk.ID)
			if !tk.NeedsRecall {
				t.Errorf("%s is listed but not flagged", tk.Code)
			}
		}
		if len(affected) != 2 || affected[0] != checkedIn.ID || affected[1] != moved.ID {
			t.Errorf("affected tickets %v, want %d then %d", affected, checkedIn.ID, moved.ID)
		}
		if !w.ticket(moved.ID).NeedsRecall || w.ticket(kept.ID).NeedsRecall {
			t.Errorf("needs_recall: moved %v, kept %v", w.ticket(moved.ID).NeedsRecall, w.ticket(kept.ID).NeedsRecall)
		}
		sl := w.slot(svc.ID, at(tuesday, 11, 0))
		if sl.Open || sl.Booked != 1 {
			t.Errorf("11:00 slot: open %v booked %d, want closed with its booking", sl.Open, sl.Booked)
		}
		if got := slots(t, st, svc.ID, at(tuesday, 10, 0), at(tuesday, 11, 0)); len(got) != 0 {
			t.Errorf("%d unbooked slots left after 10:00", len(got))
		}
		if sl := w.slot(svc.ID, at(tuesday, 9, 0)); !sl.Open || sl.Booked != 1 {
			t.Errorf("09:00 slot: open %v booked %d", sl.Open, sl.Booked)
		}
		_, err := st.Book(ctx, store.BookRequest{ServiceID: svc.ID, Start: at(tuesday, 11, 0), Channel: store.ChannelDesk}, Monday)
		wantFault(t, err, "slot_closed")
		days, err := st.Availability(ctx, svc.ID, dateOf(tuesday), dateOf(tuesday), Monday)
		if err != nil {
			t.Fatal(err)
		}
		if n := len(days[0].Slots); n != 4 {
			t.Errorf("Tuesday offers %d times, want the 4 of 09:00-10:00", n)
		}
		// Regenerating again changes nothing and lists nobody twice.
		again, err := st.RegenerateSlots(ctx, svc.ID, Monday, 14)
		if err != nil {
			t.Fatal(err)
		}
		if again.Added+again.Removed+again.Closed+again.Updated != 0 || len(again.Affected) != 0 {
			t.Errorf("second regeneration %+v", again)
		}
		// Back to the old hours: the closed slot reopens with its booking.
		_, back := w.agenda(svc.ID, agendaID, agenda.Agenda{Ranges: weekdays(hm(9, 0), hm(12, 0), 15, 2)}, 14)
		if back.Updated != 3 {
			t.Errorf("reopening %+v, want 3 updated", back)
		}
		if sl := w.slot(svc.ID, at(tuesday, 11, 0)); !sl.Open || sl.Booked != 1 || sl.Capacity != 2 {
			t.Errorf("reopened 11:00: %+v", sl)
		}
		checkSlotBooks(t, st, svc.ID)
	})

	t.Run("fewer places never go below the bookings", func(t *testing.T) {
		w := newWorld(t, st, Monday)
		svc := w.service("A", weekdays(hm(9, 0), hm(10, 0), 15, 3))
		agendaID := w.agendaOf(svc.ID)
		start := at(tuesday, 9, 0)
		w.book(svc.ID, start, Monday)
		w.book(svc.ID, start, Monday)
		_, reg := w.agenda(svc.ID, agendaID, agenda.Agenda{Ranges: weekdays(hm(9, 0), hm(10, 0), 15, 1)}, 14)
		if len(reg.Affected) != 0 {
			t.Errorf("%d citizens to recall, want none: their slot stays", len(reg.Affected))
		}
		if sl := w.slot(svc.ID, start); sl.Capacity != 2 || sl.Booked != 2 || !sl.Open {
			t.Errorf("slot %+v, want capacity kept at the 2 bookings", sl)
		}
		if sl := w.slot(svc.ID, at(tuesday, 9, 15)); sl.Capacity != 1 {
			t.Errorf("unbooked slot capacity %d, want 1", sl.Capacity)
		}
	})

	t.Run("a 24-hour service has 23 hours of slots on the spring DST day and 25 on the autumn one", func(t *testing.T) {
		for _, c := range []struct {
			day        civil.Date
			hours      int
			first, end time.Time // UTC
		}{
			{civil.Date{Year: 2026, Month: time.March, Day: 29}, 23,
				time.Date(2026, 3, 28, 23, 0, 0, 0, time.UTC), time.Date(2026, 3, 29, 22, 0, 0, 0, time.UTC)},
			{civil.Date{Year: 2026, Month: time.October, Day: 25}, 25,
				time.Date(2026, 10, 24, 22, 0, 0, 0, time.UTC), time.Date(2026, 10, 25, 23, 0, 0, 0, time.UTC)},
		} {
			now := c.day.AddDays(-2).At(hm(12, 0), testenv.Rome)
			w := newWorld(t, st, now)
			svc := w.service("I", everyDay(0, 24*60, 60, 1), func(s *store.Service) { s.MaxDaysAhead = 7 })
			got := slots(t, st, svc.ID, c.day.In(testenv.Rome), c.day.AddDays(1).In(testenv.Rome))
			if len(got) != c.hours {
				t.Fatalf("%s: %d slots, want %d", c.day, len(got), c.hours)
			}
			wantTime(t, c.day.String()+" first slot", got[0].Start, c.first)
			wantTime(t, c.day.String()+" end of day", got[len(got)-1].End, c.end)
			for i := 1; i < len(got); i++ {
				if !got[i].Start.Equal(got[i-1].End) || got[i].End.Sub(got[i].Start) != time.Hour {
					t.Errorf("%s: slot %d is %s-%s after one ending %s", c.day, i, got[i].Start, got[i].End, got[i-1].End)
				}
			}
			days, err := st.Availability(ctx, svc.ID, c.day, c.day, now)
			if err != nil {
				t.Fatal(err)
			}
			if len(days) != 1 || days[0].Date != c.day.String() || len(days[0].Slots) != c.hours {
				t.Errorf("%s: availability %+v", c.day, days)
			}
			// 03:00 local is the fourth slot in spring (01:00 UTC) and the
			// fifth in autumn (02:00 UTC); either way it can be booked.
			tk := w.book(svc.ID, c.day.At(hm(3, 0), testenv.Rome), now)
			if tk.Day != c.day.String() {
				t.Errorf("booked day %s, want %s", tk.Day, c.day)
			}
		}
	})

	t.Run("holidays and closures have no slots", func(t *testing.T) {
		w := newWorld(t, st, Monday)
		if err := st.AddSiteHoliday(ctx, w.site.ID, 0, 12, 9, "Santo patrono"); err != nil {
			t.Fatal(err)
		}
		friday := civil.Date{Year: 2026, Month: time.November, Day: 27}
		office := w.service("A", weekdays(hm(9, 0), hm(12, 0), 30, 1))
		agendaID := w.agendaOf(office.ID)
		w.agenda(office.ID, agendaID, agenda.Agenda{Ranges: weekdays(hm(9, 0), hm(12, 0), 30, 1),
			Exceptions: []agenda.Exception{{Day: friday, Kind: agenda.Closed}}}, 21)
		info := w.service("I", everyDay(hm(9, 0), hm(12, 0), 30, 1))
		infoAgenda := w.agendaOf(info.ID)
		w.agenda(info.ID, infoAgenda, agenda.Agenda{Ranges: everyDay(hm(9, 0), hm(12, 0), 30, 1), OpenOnHolidays: true}, 21)

		perDay := func(svc int64, d civil.Date) int {
			return len(slots(t, st, svc, d.In(testenv.Rome), d.AddDays(1).In(testenv.Rome)))
		}
		for _, c := range []struct {
			day          civil.Date
			what         string
			office, info int
		}{
			{civil.Date{Year: 2026, Month: time.December, Day: 7}, "an ordinary Monday", 6, 6},
			{civil.Date{Year: 2026, Month: time.December, Day: 8}, "Immacolata Concezione", 0, 6},
			{civil.Date{Year: 2026, Month: time.December, Day: 9}, "the patron saint", 0, 6},
			{friday, "a closure of the office", 0, 6},
			{civil.Date{Year: 2026, Month: time.November, Day: 28}, "a Saturday", 0, 6},
		} {
			if got := perDay(office.ID, c.day); got != c.office {
				t.Errorf("office on %s (%s): %d slots, want %d", c.day, c.what, got, c.office)
			}
			if got := perDay(info.ID, c.day); got != c.info {
				t.Errorf("info desk on %s (%s): %d slots, want %d", c.day, c.what, got, c.info)
			}
		}
		_, err := st.Book(ctx, store.BookRequest{ServiceID: office.ID, Start: civil.Date{Year: 2026, Month: time.December, Day: 8}.At(hm(9, 0), testenv.Rome),
			Channel: store.ChannelWeb, Citizen: mario}, Monday)
		wantFault(t, err, "slot_not_found")
	})
}
