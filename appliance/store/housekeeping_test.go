package store_test

import (
	"bytes"
	"crypto/sha256"
	"sync"
	"testing"
	"time"

	"avanti/appliance/store"
	"avanti/appliance/testenv"
)

// ExpireOverdue and PurgePersonalData sweep the whole database, so these
// tests have one of their own.

func TestOverdueBookingsExpire(t *testing.T) {
	st := testenv.NewStore(t)
	w := newWorld(t, st, Monday)
	svc := w.service("A", weekdays(hm(9, 0), hm(12, 0), 15, 4)) // 10 minutes' lateness
	patient := w.service("B", weekdays(hm(9, 0), hm(12, 0), 15, 4), func(s *store.Service) { s.AllowedLatenessMin = 30 })
	tuesday := Monday.AddDate(0, 0, 1)
	absent := w.book(svc.ID, at(tuesday, 10, 0), Monday)
	present := w.book(svc.ID, at(tuesday, 10, 0), Monday)
	if _, err := st.CheckIn(ctx, present.Token, at(tuesday, 9, 50), "totem"); err != nil {
		t.Fatal(err)
	}
	revoked := w.book(svc.ID, at(tuesday, 10, 0), Monday)
	if _, err := st.Revoke(ctx, revoked.Token, Monday, "web"); err != nil {
		t.Fatal(err)
	}
	later := w.book(svc.ID, at(tuesday, 11, 0), Monday)
	lenient := w.book(patient.ID, at(tuesday, 10, 0), Monday)

	n, err := st.ExpireOverdue(ctx, at(tuesday, 10, 10))
	if err != nil {
		t.Fatal(err)
	}
	if n != 0 || w.ticket(absent.ID).Status != store.StatusBooked {
		t.Errorf("at the end of the lateness: %d expired, absent is %s; want none yet", n, w.ticket(absent.ID).Status)
	}
	now := at(tuesday, 10, 11)
	if n, err = st.ExpireOverdue(ctx, now); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("%d expired, want 1", n)
	}
	for _, c := range []struct {
		tk   store.Ticket
		what string
		want string
	}{
		{absent, "not presented", store.StatusExpired},
		{present, "checked in", store.StatusWaiting},
		{revoked, "revoked", store.StatusRevoked},
		{later, "not yet due", store.StatusBooked},
		{lenient, "with 30 minutes' lateness", store.StatusBooked},
	} {
		if got := w.ticket(c.tk.ID).Status; got != c.want {
			t.Errorf("%s ticket is %s, want %s", c.what, got, c.want)
		}
	}
	wantTime(t, "closed", w.ticket(absent.ID).ClosedAt, now)
	// The sweep runs every minute: nothing more to do.
	if n, _ := st.ExpireOverdue(ctx, now.Add(time.Minute)); n != 0 {
		t.Errorf("second sweep expired %d", n)
	}
	if n, _ := st.ExpireOverdue(ctx, at(tuesday, 10, 31)); n != 1 || w.ticket(lenient.ID).Status != store.StatusExpired {
		t.Errorf("after 30 minutes: %d expired, lenient is %s", n, w.ticket(lenient.ID).Status)
	}
}

func TestPurgeRemovesPersonalDataButKeepsTickets(t *testing.T) {
	st := testenv.NewStore(t)
	w := newWorld(t, st, Monday)
	svc := w.service("A", weekdays(hm(9, 0), hm(12, 0), 15, 4))
	old, err := st.Book(ctx, store.BookRequest{ServiceID: svc.ID, Start: at(Monday, 11, 0), Channel: store.ChannelWeb,
		Citizen: store.Citizen{FiscalCode: mario.FiscalCode, FirstName: "Mario", LastName: "Rossi", Phone: "3331234567", Email: "mario@example.it"}}, Monday)
	if err != nil {
		t.Fatal(err)
	}
	recent := w.book(svc.ID, at(Monday.AddDate(0, 0, 3), 11, 0), Monday)
	retention := 30 * 24 * time.Hour

	// 30 days after the first appointment ended, before the second did.
	now := at(Monday.AddDate(0, 0, 30), 11, 30)
	n, err := st.PurgePersonalData(ctx, now, retention)
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("%d tickets purged, want 1", n)
	}
	purged := w.ticket(old.ID)
	if purged.Citizen != (store.Citizen{}) {
		t.Errorf("citizen data left after the retention: %+v", purged.Citizen)
	}
	if purged.Code != old.Code || purged.Status != store.StatusBooked || !purged.Start.Equal(old.Start) {
		t.Errorf("the ticket itself changed: %+v", purged)
	}
	if n := count(t, st, `SELECT COUNT(*) FROM tickets WHERE id = ? AND personal_purged AND citizen_key IS NULL`, old.ID); n != 1 {
		t.Errorf("ticket not marked as purged")
	}
	if c := w.ticket(recent.ID).Citizen; c.Phone == "" || c.LastName != "Verdi" {
		t.Errorf("recent citizen data purged too early: %+v", c)
	}
	if n, _ := st.PurgePersonalData(ctx, now, retention); n != 0 {
		t.Errorf("second purge touched %d tickets", n)
	}
	if n := count(t, st, `SELECT COUNT(*) FROM tickets WHERE service_id = ?`, svc.ID); n != 2 {
		t.Errorf("%d tickets left, want both for the statistics", n)
	}
}

func TestIdempotencyKeys(t *testing.T) {
	st := testenv.NewStore(t)
	hash := func(s string) []byte { h := sha256.Sum256([]byte(s)); return h[:] }
	req, other := hash(`{"service_id":1}`), hash(`{"service_id":2}`)

	t.Run("a retried request gets the first answer", func(t *testing.T) {
		rec, err := st.IdemBegin(ctx, "kiosk:1", "k1", req, Monday)
		if err != nil || rec.State != store.IdemNew {
			t.Fatalf("first use: %+v %v", rec, err)
		}
		rec, err = st.IdemBegin(ctx, "kiosk:1", "k1", req, Monday)
		if err != nil || rec.State != store.IdemPending {
			t.Fatalf("while the first is running: %+v %v", rec, err)
		}
		body := []byte(`{"code":"A001"}`)
		if err := st.IdemFinish(ctx, "kiosk:1", "k1", 201, body); err != nil {
			t.Fatal(err)
		}
		rec, err = st.IdemBegin(ctx, "kiosk:1", "k1", req, Monday)
		if err != nil || rec.State != store.IdemDone || rec.Status != 201 || !bytes.Equal(rec.Body, body) {
			t.Fatalf("replay: %+v %v", rec, err)
		}
		rec, err = st.IdemBegin(ctx, "kiosk:1", "k1", other, Monday)
		if err != nil || rec.State != store.IdemMismatch {
			t.Fatalf("same key, other request: %+v %v", rec, err)
		}
		// Keys are per principal.
		rec, err = st.IdemBegin(ctx, "kiosk:2", "k1", other, Monday)
		if err != nil || rec.State != store.IdemNew {
			t.Fatalf("another device's key: %+v %v", rec, err)
		}
	})

	t.Run("a released key can be used again", func(t *testing.T) {
		if rec, err := st.IdemBegin(ctx, "web", "k2", req, Monday); err != nil || rec.State != store.IdemNew {
			t.Fatal(rec, err)
		}
		if err := st.IdemRelease(ctx, "web", "k2"); err != nil {
			t.Fatal(err)
		}
		if rec, err := st.IdemBegin(ctx, "web", "k2", req, Monday); err != nil || rec.State != store.IdemNew {
			t.Fatalf("after release: %+v %v", rec, err)
		}
	})

	t.Run("concurrent retries: exactly one goes ahead", func(t *testing.T) {
		var mu sync.Mutex
		states := map[store.IdemState]int{}
		errs := race(20, func(int) error {
			rec, err := st.IdemBegin(ctx, "web", "k3", req, Monday)
			mu.Lock()
			states[rec.State]++
			mu.Unlock()
			return err
		})
		tally(t, errs)
		if states[store.IdemNew] != 1 || states[store.IdemPending] != 19 {
			t.Errorf("states %v, want 1 new and 19 pending", states)
		}
	})

	t.Run("old keys are purged", func(t *testing.T) {
		if _, err := st.IdemBegin(ctx, "web", "old", req, Monday.Add(-48*time.Hour)); err != nil {
			t.Fatal(err)
		}
		if err := st.IdemPurge(ctx, Monday, 24*time.Hour); err != nil {
			t.Fatal(err)
		}
		if rec, err := st.IdemBegin(ctx, "web", "old", other, Monday); err != nil || rec.State != store.IdemNew {
			t.Errorf("purged key: %+v %v", rec, err)
		}
		if rec, _ := st.IdemBegin(ctx, "kiosk:1", "k1", req, Monday); rec.State != store.IdemDone {
			t.Errorf("a recent key was purged: %+v", rec)
		}
	})
}

func TestStaffSessions(t *testing.T) {
	st := testenv.NewStore(t)
	w := newWorld(t, st, Monday)
	op := w.operator("giulia")
	const idle, absolute = 30 * time.Minute, 8 * time.Hour
	const csrf = "csrf-token-0123456789012345678901234567890"

	t.Run("an idle session expires, an active one slides", func(t *testing.T) {
		if err := st.CreateSession(ctx, "session-a", csrf, op.UserID, Monday, Monday.Add(idle)); err != nil {
			t.Fatal(err)
		}
		sess, ok, err := st.SessionByID(ctx, "session-a", Monday.Add(20*time.Minute), idle, absolute)
		if err != nil || !ok {
			t.Fatalf("20 minutes in: %v %v", ok, err)
		}
		if sess.User.ID != op.UserID || sess.CSRFToken != csrf {
			t.Errorf("session of user %d csrf %q", sess.User.ID, sess.CSRFToken)
		}
		wantTime(t, "slid expiry", sess.ExpiresAt, Monday.Add(50*time.Minute))
		// 45 minutes in: idle 25 minutes, still alive thanks to the slide.
		if _, ok, _ := st.SessionByID(ctx, "session-a", Monday.Add(45*time.Minute), idle, absolute); !ok {
			t.Fatal("session lost although used 25 minutes ago")
		}
		if _, ok, _ := st.SessionByID(ctx, "session-a", Monday.Add(45*time.Minute+idle), idle, absolute); ok {
			t.Fatal("session alive after 30 idle minutes")
		}
		if _, ok, _ := st.SessionByID(ctx, "no-such-session", Monday, idle, absolute); ok {
			t.Fatal("unknown session accepted")
		}
	})

	t.Run("a session ends after its absolute lifetime however busy", func(t *testing.T) {
		if err := st.CreateSession(ctx, "session-b", csrf, op.UserID, Monday, Monday.Add(idle)); err != nil {
			t.Fatal(err)
		}
		var last time.Time
		for now := Monday.Add(20 * time.Minute); now.Before(Monday.Add(absolute)); now = now.Add(20 * time.Minute) {
			sess, ok, err := st.SessionByID(ctx, "session-b", now, idle, absolute)
			if err != nil || !ok {
				t.Fatalf("busy session lost at %s: %v", now.Sub(Monday), err)
			}
			last = sess.ExpiresAt
		}
		wantTime(t, "last expiry", last, Monday.Add(absolute))
		if _, ok, _ := st.SessionByID(ctx, "session-b", Monday.Add(absolute), idle, absolute); ok {
			t.Fatal("session alive after its absolute lifetime")
		}
	})

	t.Run("signing out ends the session", func(t *testing.T) {
		if err := st.CreateSession(ctx, "session-c", csrf, op.UserID, Monday, Monday.Add(idle)); err != nil {
			t.Fatal(err)
		}
		// Only a hash of the id is stored: a copy of the database opens no session.
		h := sha256.Sum256([]byte("session-c"))
		if n := count(t, st, `SELECT COUNT(*) FROM sessions WHERE id_hash = ? OR id_hash = ?`, "session-c", h[:]); n != 1 {
			t.Errorf("%d sessions stored under the id's hash, want 1", n)
		}
		if err := st.DeleteSession(ctx, "session-c"); err != nil {
			t.Fatal(err)
		}
		if _, ok, _ := st.SessionByID(ctx, "session-c", Monday, idle, absolute); ok {
			t.Fatal("session alive after sign-out")
		}
	})
}

func TestLoginFailuresLockTheAccount(t *testing.T) {
	st := testenv.NewStore(t)
	w := newWorld(t, st, Monday)
	const maxFailures, lockFor = 5, 15 * time.Minute

	t.Run("the account locks at the fifth failure", func(t *testing.T) {
		op := w.operator("giulia")
		for i := 1; i <= maxFailures; i++ {
			now := Monday.Add(time.Duration(i) * time.Second)
			if err := st.LoginFailed(ctx, op.UserID, now, maxFailures, lockFor); err != nil {
				t.Fatal(err)
			}
			u, err := st.UserByID(ctx, op.UserID)
			if err != nil {
				t.Fatal(err)
			}
			if u.FailedLogins != i {
				t.Errorf("after %d failures the counter says %d", i, u.FailedLogins)
			}
			switch locked := !u.LockedUntil.IsZero(); {
			case i < maxFailures && locked:
				t.Errorf("locked after %d failures, want %d", i, maxFailures)
			case i == maxFailures && !locked:
				t.Errorf("not locked after %d failures", i)
			case i == maxFailures:
				wantTime(t, "locked until", u.LockedUntil, now.Add(lockFor))
			}
		}
		if err := st.LoginSucceeded(ctx, op.UserID); err != nil {
			t.Fatal(err)
		}
		if u, _ := st.UserByID(ctx, op.UserID); u.FailedLogins != 0 || !u.LockedUntil.IsZero() {
			t.Errorf("after a success: %d failures, locked until %v", u.FailedLogins, u.LockedUntil)
		}
	})

	t.Run("parallel guesses are all counted", func(t *testing.T) {
		op := w.operator("marco")
		tally(t, race(30, func(int) error { return st.LoginFailed(ctx, op.UserID, Monday, maxFailures, lockFor) }))
		u, err := st.UserByID(ctx, op.UserID)
		if err != nil {
			t.Fatal(err)
		}
		if u.FailedLogins != 30 || u.LockedUntil.IsZero() {
			t.Errorf("after 30 parallel failures: counter %d, locked until %v", u.FailedLogins, u.LockedUntil)
		}
	})
}
