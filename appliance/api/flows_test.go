package api_test

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"avanti/appliance/testenv"
)

func TestCitizenBookingsOverHTTP(t *testing.T) {
	t.Parallel()
	env := testenv.NewServer(t, testenv.Options{})
	who := signIn(t, env)
	svc := env.Demo.Services
	citizen := map[string]any{"fiscal_code": "RSSMRA85T10A562S"}

	t.Run("walk-in at the totem gets the first place today, already waiting", func(t *testing.T) {
		st, raw := who[kiosk].Do("POST", "/api/v1/tickets", map[string]any{"service_id": svc["A"]})
		if st != 201 {
			t.Fatalf("status %d: %s", st, raw)
		}
		var got map[string]any
		if err := json.Unmarshal(raw, &got); err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{"id", "code", "token", "status", "start", "end"} {
			if got[f] == nil || got[f] == "" {
				t.Errorf("field %s missing: %s", f, raw)
			}
		}
		for _, f := range []string{"start", "end"} {
			s, _ := got[f].(string)
			if _, err := time.Parse(time.RFC3339, s); err != nil {
				t.Errorf("%s %q is not RFC 3339: %v", f, s, err)
			}
		}
		var tk ticket
		json.Unmarshal(raw, &tk)
		if tk.Code != "A001" || tk.Status != "waiting" || !tk.WalkIn || tk.Channel != "kiosk" {
			t.Errorf("got %s %s walk_in=%v channel %s, want A001 waiting walk-in kiosk", tk.Code, tk.Status, tk.WalkIn, tk.Channel)
		}
		if !regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`).MatchString(tk.Token) {
			t.Errorf("token %q is not 256 URL-safe random bits", tk.Token)
		}
		now := env.Clock.Now()
		if tk.End.Before(now) || tk.Start.After(now.Add(30*time.Minute)) {
			t.Errorf("walk-in slot %v-%v is not the current one at %v", tk.Start, tk.End, now)
		}
		if tk.Position == nil || *tk.Position != 1 || tk.EstimatedWaitMinutes == nil {
			t.Errorf("the first walk-in has position %v, wait %v; want 1 and an estimate", tk.Position, tk.EstimatedWaitMinutes)
		}
		second := book(t, who[kiosk], map[string]any{"service_id": svc["A"]})
		if second.Code != "A002" {
			t.Errorf("second walk-in code %s, want A002", second.Code)
		}

		// Anyone holding the token sees where they stand; the first keeps its place.
		var again ticket
		if st := who[anonymous].JSON("GET", "/api/v1/tickets/"+second.Token, nil, &again); st != 200 {
			t.Fatalf("GET ticket: %d", st)
		}
		if again.ID != second.ID || again.Position == nil || *again.Position != 2 || again.EstimatedWaitMinutes == nil ||
			*again.EstimatedWaitMinutes < *tk.EstimatedWaitMinutes {
			t.Errorf("second walk-in: position %v wait %v (first waits %d), want position 2 and no shorter wait",
				again.Position, again.EstimatedWaitMinutes, *tk.EstimatedWaitMinutes)
		}
	})

	t.Run("booking from home a slot chosen from availability, then revoking it", func(t *testing.T) {
		tomorrow := testenv.Monday.AddDate(0, 0, 1).Format(time.DateOnly)
		start, free := freeSlot(t, who[anonymous], svc["A"], tomorrow)
		tk := book(t, who[anonymous], map[string]any{"service_id": svc["A"], "start": start, "citizen": citizen})
		if !tk.Start.Equal(start) || tk.Status != "booked" || tk.Channel != "web" || tk.WalkIn {
			t.Errorf("got start %v status %s channel %s walk_in %v, want %v booked web", tk.Start, tk.Status, tk.Channel, tk.WalkIn, start)
		}
		if _, off := tk.Start.Zone(); off != 3600 {
			t.Errorf("start %v is not in the site's time (Europe/Rome)", tk.Start)
		}
		if n := freeAt(t, who[anonymous], svc["A"], start); n != free-1 {
			t.Errorf("free places after booking: %d, want %d", n, free-1)
		}
		var got ticket
		who[anonymous].JSON("GET", "/api/v1/tickets/"+tk.Token, nil, &got)
		if got.Status != "booked" || got.Position != nil {
			t.Errorf("a booking not checked in: status %s position %v, want booked without position", got.Status, got.Position)
		}
		// Tomorrow is too early for the totem.
		st, raw := who[kiosk].Do("POST", "/api/v1/tickets/"+tk.Token+"/checkin", nil)
		wantError(t, st, raw, 409, "too_early", "")

		st, raw = who[anonymous].Do("POST", "/api/v1/tickets/"+tk.Token+"/revoke", nil)
		if st != 200 {
			t.Fatalf("revoke: %d: %s", st, raw)
		}
		json.Unmarshal(raw, &got)
		if got.Status != "revoked" {
			t.Errorf("status %s after revoke", got.Status)
		}
		if n := freeAt(t, who[anonymous], svc["A"], start); n != free {
			t.Errorf("free places after revoking: %d, want %d back", n, free)
		}
		st, raw = who[anonymous].Do("POST", "/api/v1/tickets/"+tk.Token+"/revoke", nil)
		wantError(t, st, raw, 409, "cannot_revoke", "")
		st, raw = who[kiosk].Do("POST", "/api/v1/tickets/"+tk.Token+"/checkin", nil)
		wantError(t, st, raw, 409, "ticket_revoked", "")
	})

	t.Run("check-in at the totem puts a booking in the queue", func(t *testing.T) {
		start := freeSlotToday(t, who[anonymous], svc["T"])
		tk := book(t, who[anonymous], map[string]any{"service_id": svc["T"], "start": start,
			"citizen": map[string]any{"phone": "+39 0373 894111", "first_name": "Anna", "last_name": "Verdi"}})
		if tk.Status != "booked" {
			t.Fatalf("status %s, want booked", tk.Status)
		}
		var got ticket
		st, raw := who[kiosk].Do("POST", "/api/v1/tickets/"+tk.Token+"/checkin", nil)
		if st != 200 {
			t.Fatalf("check-in: %d: %s", st, raw)
		}
		json.Unmarshal(raw, &got)
		if got.Status != "waiting" || got.Position == nil || *got.Position != 1 || got.EstimatedWaitMinutes == nil {
			t.Errorf("after check-in: status %s position %v wait %v, want waiting first with an estimate", got.Status, got.Position, got.EstimatedWaitMinutes)
		}
		st, raw = who[kiosk].Do("POST", "/api/v1/tickets/"+tk.Token+"/checkin", nil)
		wantError(t, st, raw, 409, "already_checked_in", "")
	})

	t.Run("one active booking per citizen where the service says so", func(t *testing.T) {
		start, _ := freeSlot(t, who[anonymous], svc["C"], "2026-11-25")
		book(t, who[anonymous], map[string]any{"service_id": svc["C"], "start": start, "citizen": citizen})
		later, _ := freeSlot(t, who[anonymous], svc["C"], "2026-11-26")
		st, raw := who[anonymous].Do("POST", "/api/v1/tickets", map[string]any{"service_id": svc["C"], "start": later, "citizen": citizen})
		wantError(t, st, raw, 409, "already_booked", "")
	})
}

// deskView is a desk as the console sees it.
type deskView struct {
	State         string  `json:"state"`
	PauseReason   string  `json:"pause_reason"`
	CurrentTicket *ticket `json:"current_ticket"`
	ServiceIDs    []int64 `json:"service_ids"`
}

// deskReply is the answer of the desk actions on tickets.
type deskReply struct {
	Ticket ticket `json:"ticket"`
	Reason struct {
		Rule string `json:"rule"`
	} `json:"reason"`
	Desk deskView `json:"desk"`
}

func TestDeskServesTheQueueOverHTTP(t *testing.T) {
	t.Parallel()
	env := testenv.NewServer(t, testenv.Options{})
	who := signIn(t, env)
	svc := env.Demo.Services
	op := who[operator]
	deskID := env.Demo.DeskIDs[0]
	desk := func(action string) string { return fmt.Sprintf("/api/v1/desks/%d/%s", deskID, action) }
	act := func(action string, body any) deskReply {
		t.Helper()
		var r deskReply
		st, raw := op.Do("POST", desk(action), body)
		if st != 200 {
			t.Fatalf("%s: %d: %s", action, st, raw)
		}
		if err := json.Unmarshal(raw, &r); err != nil {
			t.Fatalf("%s: %v: %s", action, err, raw)
		}
		return r
	}
	// pause, resume and close answer with the desk itself.
	state := func(action string, body any) deskView {
		t.Helper()
		var d deskView
		if st := op.JSON("POST", desk(action), body, &d); st != 200 {
			t.Fatalf("%s: %d", action, st)
		}
		return d
	}

	// Three walk-ins a minute apart: the one who waited longest goes first.
	var walkIns []ticket
	for range 3 {
		walkIns = append(walkIns, book(t, who[kiosk], map[string]any{"service_id": svc["I"]}))
		env.Clock.Advance(time.Minute)
	}

	st, raw := op.Do("POST", desk("call-next"), nil)
	wantError(t, st, raw, 409, "desk_closed", "")
	var opened deskView
	if st := op.JSON("POST", desk("open"), map[string]any{"service_ids": []int64{svc["I"]}}, &opened); st != 200 || opened.State != "open" {
		t.Fatalf("open: %d, state %q", st, opened.State)
	}

	first := act("call-next", nil)
	if first.Ticket.ID != walkIns[0].ID || first.Ticket.Status != "called" || first.Reason.Rule == "" {
		t.Fatalf("call-next: %s %s reason %q, want %s called with a reason", first.Ticket.Code, first.Ticket.Status, first.Reason.Rule, walkIns[0].Code)
	}
	var seen ticket
	who[anonymous].JSON("GET", "/api/v1/tickets/"+walkIns[0].Token, nil, &seen)
	if seen.Status != "called" || seen.Desk == nil || seen.Desk.Number != "1" {
		t.Errorf("the citizen sees status %s desk %+v, want called to desk 1", seen.Status, seen.Desk)
	}
	st, raw = op.Do("POST", desk("call-next"), nil)
	wantError(t, st, raw, 409, "desk_busy", "")
	st, raw = op.Do("POST", desk("finish"), nil)
	wantError(t, st, raw, 409, "invalid_transition", "")

	if r := act("start", nil); r.Ticket.Status != "serving" || r.Desk.CurrentTicket == nil || r.Desk.CurrentTicket.ID != walkIns[0].ID {
		t.Errorf("start: ticket %s, desk current %+v", r.Ticket.Status, r.Desk.CurrentTicket)
	}
	if r := act("finish", nil); r.Ticket.Status != "done" || r.Desk.CurrentTicket != nil {
		t.Errorf("finish: ticket %s, desk still has %+v", r.Ticket.Status, r.Desk.CurrentTicket)
	}

	second := act("call-next", nil)
	if second.Ticket.ID != walkIns[1].ID {
		t.Fatalf("second call: %s, want %s", second.Ticket.Code, walkIns[1].Code)
	}
	if r := act("recall", nil); r.Ticket.ID != walkIns[1].ID || r.Ticket.Status != "called" {
		t.Errorf("recall: ticket %s status %s, want %s still called", r.Ticket.Code, r.Ticket.Status, walkIns[1].Code)
	}
	if r := act("no-show", nil); r.Ticket.Status != "no_show" || r.Desk.CurrentTicket != nil {
		t.Errorf("no-show: ticket %s, desk still has %+v", r.Ticket.Status, r.Desk.CurrentTicket)
	}

	third := act("call-next", nil)
	if third.Ticket.ID != walkIns[2].ID {
		t.Fatalf("third call: %s, want %s", third.Ticket.Code, walkIns[2].Code)
	}
	moved := act("transfer", map[string]any{"service_id": svc["T"], "note": "chiede della TARI"})
	if moved.Ticket.Status != "waiting" || moved.Ticket.ServiceID != svc["T"] || moved.Ticket.Note != "chiede della TARI" || moved.Desk.CurrentTicket != nil {
		t.Errorf("transfer: %+v, desk current %+v", moved.Ticket, moved.Desk.CurrentTicket)
	}
	who[anonymous].JSON("GET", "/api/v1/tickets/"+walkIns[2].Token, nil, &seen)
	if seen.Status != "waiting" || seen.ServiceID != svc["T"] || seen.Code != walkIns[2].Code || seen.Position == nil || *seen.Position != 1 {
		t.Errorf("transferred ticket as the citizen sees it: %+v", seen)
	}

	// The desk serves only Informazioni: nobody is left.
	st, raw = op.Do("POST", desk("call-next"), nil)
	if st != 204 || len(raw) != 0 {
		t.Errorf("call-next with nobody waiting: %d %q, want 204 and no body", st, raw)
	}

	if d := state("pause", map[string]any{"reason": "break"}); d.State != "paused" {
		t.Errorf("pause: %+v", d)
	}
	var d deskView
	op.JSON("GET", fmt.Sprintf("/api/v1/desks/%d", deskID), nil, &d)
	if d.State != "paused" || d.PauseReason != "break" {
		t.Errorf("paused desk reads %s/%s", d.State, d.PauseReason)
	}
	book(t, who[kiosk], map[string]any{"service_id": svc["I"]})
	st, raw = op.Do("POST", desk("call-next"), nil)
	wantError(t, st, raw, 409, "desk_paused", "")
	if d := state("resume", nil); d.State != "open" {
		t.Errorf("resume: %+v", d)
	}
	fourth := act("call-next", nil)
	st, raw = op.Do("POST", desk("close"), nil)
	wantError(t, st, raw, 409, "desk_busy", "")
	act("start", nil)
	act("finish", nil)
	if d := state("close", nil); d.State != "closed" {
		t.Errorf("close: %+v", d)
	}
	if fourth.Ticket.Code != "I004" {
		t.Errorf("fourth ticket %s, want I004", fourth.Ticket.Code)
	}

	// The screens said four calls and one recall.
	_, metrics := who[anonymous].Do("GET", "/metrics", nil)
	for _, want := range []string{`avanti_calls_total{kind="call",service="I"} 4`, `avanti_calls_total{kind="recall",service="I"} 1`} {
		if !strings.Contains(string(metrics), want+"\n") {
			t.Errorf("metrics lack %s", want)
		}
	}
}
