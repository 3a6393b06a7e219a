package kiosk_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"avanti/appliance/browsertest"
	"avanti/appliance/testenv"
)

// deskOperator is the demo's operator signed in at the first desk for
// Informazioni; desk(action) is that desk's action URL.
func deskOperator(t *testing.T, env *testenv.Env) (op *testenv.Client, desk func(string) string) {
	t.Helper()
	cr := env.Demo.Credentials
	op = env.Login(t, cr.Operator.Username, cr.Operator.Password)
	desk = func(action string) string { return fmt.Sprintf("/api/v1/desks/%d/%s", env.Demo.DeskIDs[0], action) }
	if st, raw := op.Do("POST", desk("open"), map[string]any{"service_ids": []int64{env.Demo.Services["I"]}}); st != 200 {
		t.Fatalf("open desk: %d %s", st, raw)
	}
	return op, desk
}

// callNext has the desk call the next ticket of Informazioni.
func callNext(t *testing.T, env *testenv.Env) {
	t.Helper()
	op, desk := deskOperator(t, env)
	if st, raw := op.Do("POST", desk("call-next"), nil); st != 200 {
		t.Fatalf("call next: %d %s", st, raw)
	}
}

// serveEveryone has the desk serve every ticket waiting for Informazioni.
func serveEveryone(t *testing.T, env *testenv.Env) {
	t.Helper()
	op, desk := deskOperator(t, env)
	for range 30 {
		if st, _ := op.Do("POST", desk("call-next"), nil); st != 200 {
			return
		}
		op.Do("POST", desk("start"), nil)
		op.Do("POST", desk("finish"), nil)
	}
	t.Fatal("the queue never emptied")
}

// A citizen with an appointment scans the ticket's QR code at the reader:
// the totem asks them to confirm they are here, and says clearly when it is
// too early, when they are late but let in, when the appointment expired
// (and offers the first free place), when the ticket was already served or
// revoked, and when the code is unknown.
func TestCheckInOfAScannedTicket(t *testing.T) {
	env := newAppliance(t)
	info := env.Demo.Services["I"]
	onTime := book(t, env, info, at(9, 20), nil)
	early := book(t, env, info, at(10, 0), nil)
	late := book(t, env, info, at(9, 5), nil)
	expiring := book(t, env, info, at(9, 10), nil)
	revoked := book(t, env, info, at(9, 40), nil)
	if st, raw := kioskClient(t, env).Do("POST", "/api/v1/tickets/"+revoked.Token+"/revoke", nil); st != 200 {
		t.Fatalf("revoke: %d %s", st, raw)
	}
	totem := openTotem(t, env)
	ticketURL := func(tk ticket) string { return env.URL + "/t/" + tk.Token }
	done := func() {
		t.Helper()
		totem.Click("#message-actions button")
		totem.WaitFor("the message to go", `avantiKiosk.view !== "message"`, 5*time.Second)
		if browsertest.Eval[string](totem, `avantiKiosk.view`) != "standby" {
			totem.Click("#home")
		}
		totem.WaitFor("standby", shows("standby"), 5*time.Second)
	}

	// On time: the reader types the QR's URL in a burst.
	scan(totem, ticketURL(onTime), 4*time.Millisecond)
	totem.WaitFor("the check-in question", shows("checkin"), 5*time.Second)
	q := totem.Text("#v-checkin")
	for _, want := range []string{"Conferma la presenza", onTime.Code, "Informazioni", "oggi alle 09:20"} {
		if !strings.Contains(q, want) {
			t.Errorf("check-in page lacks %q: %q", want, q)
		}
	}
	totem.Screenshot("kiosk-checkin")
	totem.Axe("check-in")
	totem.Click("#checkin-yes")
	totem.WaitFor("the confirmation", message("checked_in"), 5*time.Second)
	if got := totem.Text("#v-message"); !strings.Contains(got, "Presenza confermata") || !strings.Contains(got, onTime.Code) {
		t.Errorf("confirmation says %q", got)
	}
	if got := getTicket(t, env, onTime.Token).Status; got != "waiting" {
		t.Errorf("after check-in the ticket is %s", got)
	}
	totem.Screenshot("kiosk-checkin-done")
	totem.Axe("check-in done")
	done()

	// Too early: come back when check-in opens (30 minutes before).
	scan(totem, early.Token, 4*time.Millisecond)
	totem.WaitFor("the check-in question", shows("checkin"), 5*time.Second)
	totem.Click("#checkin-yes")
	totem.WaitFor("too early", message("too_early"), 5*time.Second)
	if got := totem.Text("#message-text"); got != "È ancora presto per confermare la presenza. Torna alle 09:30." {
		t.Errorf("too early says %q", got)
	}
	totem.Screenshot("kiosk-checkin-too-early")
	totem.Axe("too early")
	done()

	// Twelve minutes later the 9:05 appointment is late, but let in.
	env.Clock.Advance(12 * time.Minute)
	scan(totem, late.Token, 4*time.Millisecond)
	totem.WaitFor("the check-in question", shows("checkin"), 5*time.Second)
	totem.Click("#checkin-yes")
	totem.WaitFor("late but let in", message("late"), 5*time.Second)
	if got := totem.Text("#v-message"); !strings.Contains(got, "Presenza confermata") || !strings.Contains(got, "Sei arrivato in ritardo, ma sei stato riammesso in coda.") {
		t.Errorf("late check-in says %q", got)
	}
	totem.Screenshot("kiosk-checkin-late")
	done()

	// At 9:30 the 9:10 appointment has expired: the totem offers the first
	// free place instead, and gives a ticket for it.
	env.Clock.Advance(18 * time.Minute)
	scan(totem, ticketURL(expiring), 4*time.Millisecond)
	totem.WaitFor("the check-in question", shows("checkin"), 5*time.Second)
	totem.Click("#checkin-yes")
	totem.WaitFor("expired", message("ticket_expired"), 5*time.Second)
	if got := totem.Text("#message-text"); !strings.Contains(got, "Il tuo appuntamento è scaduto. Puoi prendere il primo posto libero di oggi.") {
		t.Errorf("expired says %q", got)
	}
	totem.Screenshot("kiosk-checkin-expired")
	totem.Axe("expired")
	totem.Click("#message-actions button.primary")
	totem.WaitFor("a new ticket", shows("ticket")+` && avantiKiosk.ticket.print.state === "ok"`, 10*time.Second)
	if got := browsertest.Eval[string](totem, `avantiKiosk.ticket.token`); got == expiring.Token || got == "" {
		t.Errorf("the first free place is ticket %q", got)
	}
	totem.Click("#ticket-done")
	totem.WaitFor("standby", shows("standby"), 5*time.Second)

	// Served already.
	serveEveryone(t, env)
	scan(totem, onTime.Token, 4*time.Millisecond)
	totem.WaitFor("the check-in question", shows("checkin"), 5*time.Second)
	totem.Click("#checkin-yes")
	totem.WaitFor("already served", message("already_served"), 5*time.Second)
	if got := totem.Text("#message-text"); got != "Questo biglietto è già stato servito." {
		t.Errorf("already served says %q", got)
	}
	done()

	// Revoked.
	scan(totem, revoked.Token, 4*time.Millisecond)
	totem.WaitFor("the check-in question", shows("checkin"), 5*time.Second)
	totem.Click("#checkin-yes")
	totem.WaitFor("revoked", message("ticket_revoked"), 5*time.Second)
	done()

	// A well-formed token that is no ticket, and a code that is neither a
	// ticket nor a health card.
	scan(totem, strings.Repeat("Q", 43), 4*time.Millisecond)
	totem.WaitFor("unknown ticket", message("ticket_not_found"), 5*time.Second)
	if got := totem.Text("#message-text"); got != "Codice sconosciuto: questo biglietto non esiste." {
		t.Errorf("unknown ticket says %q", got)
	}
	totem.Screenshot("kiosk-unknown-ticket")
	done()
	scan(totem, "ABC-123-XYZ", 4*time.Millisecond)
	totem.WaitFor("unrecognised code", message("unrecognized_code"), 5*time.Second)
	totem.Screenshot("kiosk-unrecognized-code")
	done()
}

// The health card's barcode at the reader: a citizen with an appointment
// today is asked to confirm they are here (POST /api/v1/kiosk/checkin);
// a card that reads wrong says so; a person typing the same letters slowly
// is not a scan.
func TestHealthCardAtTheReader(t *testing.T) {
	env := newAppliance(t)
	const fiscal = "RSSMRA85T10A562S"
	appt := book(t, env, env.Demo.Services["I"], at(9, 15), map[string]string{"fiscal_code": fiscal})
	totem := openTotem(t, env)

	// Typed slowly (a person), nothing happens.
	scan(totem, fiscal, 70*time.Millisecond)
	time.Sleep(300 * time.Millisecond)
	if v := browsertest.Eval[string](totem, `avantiKiosk.view`); v != "standby" {
		t.Errorf("slow typing was taken for a scan: the totem shows %s", v)
	}

	// A damaged card: the checksum fails.
	scan(totem, "RSSMRA85T10A562T", 3*time.Millisecond)
	totem.WaitFor("invalid fiscal code", message("invalid_fiscal_code"), 5*time.Second)
	if got := totem.Text("#message-text"); !strings.Contains(got, "Il codice fiscale letto dalla tessera non è valido") {
		t.Errorf("invalid card says %q", got)
	}
	totem.Screenshot("kiosk-card-invalid")
	totem.Click("#message-actions button")

	// The real card, from the services page: today's appointment first.
	totem.Click("#home")
	totem.WaitFor("standby", shows("standby"), 5*time.Second)
	totem.Click("#start")
	totem.WaitFor("services", shows("services"), 5*time.Second)
	scan(totem, fiscal, 3*time.Millisecond)
	totem.WaitFor("the check-in question", shows("checkin"), 5*time.Second)
	if got := totem.Text("#v-checkin"); !strings.Contains(got, appt.Code) || !strings.Contains(got, "oggi alle 09:15") {
		t.Errorf("card check-in page %q", got)
	}
	totem.Click("#checkin-yes")
	totem.WaitFor("the confirmation", message("checked_in"), 5*time.Second)
	if got := getTicket(t, env, appt.Token).Status; got != "waiting" {
		t.Errorf("after the card's check-in the ticket is %s", got)
	}
	// Done: back to the citizen's own page, then out.
	totem.Click("#message-actions button")
	totem.WaitFor("the citizen's page", shows("citizen"), 5*time.Second)
	if got := totem.Text("#v-citizen"); !strings.Contains(got, "RSS***85T10***2S") || !strings.Contains(got, appt.Code) {
		t.Errorf("citizen page %q", got)
	}
	totem.Click("#citizen-logout")
	totem.WaitFor("standby", shows("standby"), 5*time.Second)

	// Swiped again, nothing is left to check in: the appointments page.
	scan(totem, fiscal, 3*time.Millisecond)
	totem.WaitFor("the citizen's page", shows("citizen"), 5*time.Second)
	totem.Click("#citizen-logout")
	totem.WaitFor("standby", shows("standby"), 5*time.Second)

	// A totem that identifies no one still checks in a card's appointment
	// of today: this one is done, another citizen has none.
	configure(t, env, map[string]any{"identification": "none"})
	totem.WaitFor("the new setting", `avantiKiosk.settings.identification === "none"`, 5*time.Second)
	scan(totem, fiscal, 3*time.Millisecond)
	totem.WaitFor("the check-in question", shows("checkin"), 5*time.Second)
	totem.Click("#checkin-yes")
	totem.WaitFor("already checked in", message("already_checked_in"), 5*time.Second)
	totem.Click("#message-actions button")
	totem.WaitFor("standby", shows("standby"), 5*time.Second)
	scan(totem, "BNCGLI90A41F205H", 3*time.Millisecond)
	totem.WaitFor("the check-in question", shows("checkin"), 5*time.Second)
	if got := totem.Text("#checkin-question"); got != "Conferma la presenza per il tuo appuntamento di oggi." {
		t.Errorf("check-in by card asks %q", got)
	}
	totem.Click("#checkin-yes")
	totem.WaitFor("no appointment today", message("no_appointment_today"), 5*time.Second)
	if got := totem.Text("#message-text"); got != "Non hai appuntamenti da confermare oggi." {
		t.Errorf("no appointment says %q", got)
	}
	totem.Screenshot("kiosk-card-no-appointment")
}
