package alert_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"avanti/appliance/store"
	"avanti/appliance/testenv"
)

// staff makes the organisation and its accounts on a fresh database: an
// admin with an address, an operator with one, a disabled admin with one
// and an admin without any.
func staff(t *testing.T) (*store.Store, map[string]store.UserInfo) {
	t.Helper()
	st := testenv.NewStore(t)
	ctx := t.Context()
	admin, err := st.Initialise(ctx, store.Initial{OwnerName: "COMUNE DI CREMA", SiteName: "Palazzo Comunale",
		AdminUsername: "admin", AdminName: "Anna Bianchi", AdminEmail: "anna.bianchi@comune.example.it", PasswordHash: "x"}, start)
	if err != nil {
		t.Fatal(err)
	}
	users := map[string]store.UserInfo{}
	for _, u := range []struct {
		name, role, email string
		active            bool
	}{
		{"operatore", store.RoleOperator, "luca.esposito@comune.example.it", true},
		{"ex-admin", store.RoleAdmin, "paolo.verdi@comune.example.it", false},
		{"admin2", store.RoleAdmin, "", true},
	} {
		saved, err := st.SaveUser(ctx, store.UserInfo{User: store.User{OwnerID: admin.OwnerID, Username: u.name, Role: u.role,
			Email: u.email}, Source: store.SourceLocal, ServiceIDs: []int64{}}, "x", start)
		if err != nil {
			t.Fatal(err)
		}
		if !u.active {
			saved.Active = false
			if saved, err = st.SaveUser(ctx, saved, "", start); err != nil {
				t.Fatal(err)
			}
		}
		users[u.name] = saved
	}
	return st, users
}

func TestStaleBackupAlertGoesToTheActiveAdminsAddressesToo(t *testing.T) {
	e := newEnv(t)
	st, users := staff(t)
	e.admins = st.AdminEmails
	// The admin is in mail.to too, spelt otherwise: one copy only.
	e.mail.To = []string{"ced@comune.example.it", "Anna Bianchi <Anna.Bianchi@comune.example.it>"}
	e.setStatus(verified(start.Add(-30 * time.Hour)))
	a := e.alert(0)
	e.check(a)
	got := e.received()
	if len(got) != 1 {
		t.Fatalf("%d messages, want 1", len(got))
	}
	if want := "ced@comune.example.it Anna.Bianchi@comune.example.it"; strings.Join(got[0].To, " ") != want {
		t.Errorf("recipients %v, want %s (not the operator, not the disabled admin)", got[0].To, want)
	}

	// An address set while the server runs counts at the next message.
	u := users["admin2"]
	u.Email = "giulia.neri@comune.example.it"
	if _, err := st.SaveUser(t.Context(), u, "", start); err != nil {
		t.Fatal(err)
	}
	e.setStatus(verified(e.clk.Now().Add(-time.Hour)))
	e.clk.Advance(5 * time.Minute)
	e.check(a)
	got = e.received()
	if len(got) != 2 || !strings.Contains(got[1].Subject, "Backups verified again") {
		t.Fatalf("after recovery: %v", subjects(got))
	}
	if want := "ced@comune.example.it Anna.Bianchi@comune.example.it giulia.neri@comune.example.it"; strings.Join(got[1].To, " ") != want {
		t.Errorf("recipients %v, want %s", got[1].To, want)
	}
}

func TestAlertWithNobodyToSendToIsLoggedOnceAndSentWhenAnAdminHasAnAddress(t *testing.T) {
	e := newEnv(t)
	e.mail.To = nil
	var addrs []string
	e.admins = func(context.Context) ([]string, error) { return addrs, nil }
	e.setStatus(verified(start.Add(-30 * time.Hour)))
	a := e.alert(0)
	for range 3 {
		e.check(a)
		e.clk.Advance(5 * time.Minute)
	}
	if n := len(e.received()); n != 0 {
		t.Fatalf("%d messages with nobody to send to", n)
	}
	if n := strings.Count(e.logs.String(), "nobody to send the alert to"); n != 1 {
		t.Errorf("logged %d times, want once:\n%s", n, e.logs)
	}

	addrs = []string{"anna.bianchi@comune.example.it"}
	e.check(a)
	got := e.received()
	if len(got) != 1 || strings.Join(got[0].To, " ") != "anna.bianchi@comune.example.it" || strings.Contains(got[0].Subject, "Promemoria") {
		t.Fatalf("once an admin has an address: %+v", got)
	}
}
