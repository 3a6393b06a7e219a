package kiosk_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"avanti/appliance/browsertest"
	"avanti/appliance/store"
	"avanti/appliance/testenv"
)

// addService creates a service as an admin does, with a weekly agenda of
// ranges ({"weekday", "start", "end", "slot_minutes", "places"}).
func addService(t *testing.T, env *testenv.Env, name, prefix string, ranges []map[string]any) int64 {
	t.Helper()
	adm := admin(t, env)
	var info struct {
		SiteID int64 `json:"site_id"`
	}
	if st := adm.JSON("GET", fmt.Sprintf("/api/v1/services/%d", env.Demo.Services["I"]), nil, &info); st != 200 || info.SiteID == 0 {
		t.Fatalf("service: %d %+v", st, info)
	}
	var svc struct {
		ID int64 `json:"id"`
	}
	st, raw := adm.Do("POST", "/api/v1/services", map[string]any{"site_id": info.SiteID, "name": name, "prefix": prefix,
		"description": "Servizio " + name, "active": true})
	if st != 201 {
		t.Fatalf("create %s: %d %s", name, st, raw)
	}
	if err := json.Unmarshal(raw, &svc); err != nil {
		t.Fatal(err)
	}
	if ranges != nil {
		agenda := map[string]any{"name": "Orario", "valid_from": "2026-11-22", "ranges": ranges}
		if st, raw := adm.Do("POST", fmt.Sprintf("/api/v1/services/%d/agendas", svc.ID), agenda); st != 201 && st != 200 {
			t.Fatalf("agenda: %d %s", st, raw)
		}
	}
	return svc.ID
}

// fakePrinter is an ESC/POS printer on the raw port: it answers the status
// queries with status (DLE EOT 1, 4, 2) and keeps what it is sent.
type fakePrinter struct {
	addr     string
	mu       sync.Mutex
	paperOut bool
	received int
}

func newFakePrinter(t *testing.T) *fakePrinter {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	p := &fakePrinter{addr: ln.Addr().String()}
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go p.serve(conn)
		}
	}()
	return p
}

func (p *fakePrinter) serve(conn net.Conn) {
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	p.mu.Lock()
	out := p.paperOut
	p.mu.Unlock()
	// Status bytes always have bits 1 and 4 set; 0x60 on DLE EOT 4 is
	// "paper end"; 0x08 on DLE EOT 1 is "offline".
	replies := map[byte]byte{1: 0x12, 4: 0x12, 2: 0x12}
	if out {
		replies[1], replies[4], replies[2] = 0x1a, 0x72, 0x32
	}
	q := make([]byte, 3)
	for i := 0; i < 3; i++ {
		if _, err := io.ReadFull(conn, q); err != nil || q[0] != 0x10 || q[1] != 0x04 {
			return
		}
		conn.Write([]byte{replies[q[2]]})
		if q[2] == 4 && !out {
			break // online: no DLE EOT 2 follows
		}
		if q[2] == 2 {
			return
		}
	}
	n, _ := io.Copy(io.Discard, conn)
	p.mu.Lock()
	p.received += int(n)
	p.mu.Unlock()
}

// The ticket printer fails: the totem says what is wrong in words, keeps
// the ticket on screen (code and QR code) and says the ticket is valid.
func TestPrinterProblemsAreSaidAndTheTicketStaysOnScreen(t *testing.T) {
	env := newAppliance(t)
	totem := openTotem(t, env)
	info := fmt.Sprintf(`.service[data-service-id="%d"]`, env.Demo.Services["I"])
	walkIn := func() {
		t.Helper()
		if browsertest.Eval[string](totem, `avantiKiosk.view`) != "standby" {
			totem.Click("#home")
		}
		totem.WaitFor("standby", shows("standby"), 5*time.Second)
		totem.Click("#start")
		totem.Click(info)
		totem.Click("#service-take")
		totem.WaitFor("the ticket", shows("ticket")+` && avantiKiosk.ticket.print.state !== "printing"`, 15*time.Second)
	}

	// A network printer that is switched off: nobody listens on its port.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	configure(t, env, map[string]any{"printer": map[string]any{"mode": "network", "address": closed}})
	totem.WaitFor("the network printer setting", `avantiKiosk.settings.printer.mode === "network"`, 5*time.Second)
	walkIn()
	if got := browsertest.Eval[string](totem, `avantiKiosk.ticket.print.code`); got != "printer_offline" {
		t.Errorf("print error %q, want printer_offline", got)
	}
	status := totem.Text("#print-status")
	if !strings.Contains(status, "La stampante non risponde.") || !strings.Contains(status, "Il tuo biglietto è valido lo stesso") {
		t.Errorf("print status says %q", status)
	}
	code := browsertest.Eval[string](totem, `avantiKiosk.ticket.code`)
	if got := totem.Text("#ticket-code"); got != code || code == "" {
		t.Errorf("code on screen %q, want %q", got, code)
	}
	totem.WaitFor("the QR code on screen", `document.getElementById("ticket-qr").naturalWidth > 0`, 5*time.Second)
	totem.Screenshot("kiosk-printer-offline")
	totem.Axe("printer offline")

	// Out of paper.
	printer := newFakePrinter(t)
	printer.paperOut = true
	configure(t, env, map[string]any{"printer": map[string]any{"mode": "network", "address": printer.addr}})
	totem.WaitFor("the new printer", fmt.Sprintf(`avantiKiosk.settings.printer.address === %s`, browsertest.JS(printer.addr)), 5*time.Second)
	walkIn()
	if got := browsertest.Eval[string](totem, `avantiKiosk.ticket.print.code`); got != "printer_paper_out" {
		t.Errorf("print error %q, want printer_paper_out", got)
	}
	if got := totem.Text("#print-status"); !strings.Contains(got, "La stampante ha finito la carta.") {
		t.Errorf("print status says %q", got)
	}
	totem.Screenshot("kiosk-printer-paper-out")

	// Paper loaded: the appliance sends the ticket to the printer.
	printer.mu.Lock()
	printer.paperOut = false
	printer.mu.Unlock()
	walkIn()
	if got := browsertest.Eval[string](totem, `avantiKiosk.ticket.print.state`); got != "ok" {
		t.Errorf("print state %q, want ok", got)
	}
	if got := totem.Text("#print-status"); !strings.Contains(got, "Ritira il biglietto stampato.") {
		t.Errorf("print status says %q", got)
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		printer.mu.Lock()
		n := printer.received
		printer.mu.Unlock()
		if n > 100 || time.Now().After(deadline) {
			if n <= 100 {
				t.Errorf("the printer got %d bytes", n)
			}
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// The appliance goes away: the totem says so, keeps showing the services
// it had, and says it cannot issue a ticket now; it recovers by itself.
func TestNetworkLostKeepsTheServicesAndSaysWhatCannotBeDone(t *testing.T) {
	env := newAppliance(t)
	totem := openTotem(t, env)
	totem.Click("#start")
	totem.WaitFor("services", shows("services"), 5*time.Second)
	env.Down(t)
	totem.WaitFor("offline", `avantiKiosk.state === "offline" && !document.getElementById("offline-banner").hidden`, 20*time.Second)
	if got := totem.Text("#offline-banner"); !strings.Contains(got, "Connessione assente: puoi consultare i servizi, ma non posso emettere biglietti") {
		t.Errorf("banner says %q", got)
	}
	if n := browsertest.Eval[int](totem, `document.querySelectorAll("#service-grid .service").length`); n != 5 {
		t.Errorf("offline the totem shows %d services, want the 5 it had", n)
	}
	totem.Screenshot("kiosk-offline")
	totem.Axe("offline")
	totem.Click(fmt.Sprintf(`.service[data-service-id="%d"]`, env.Demo.Services["I"]))
	totem.WaitFor("the service page", shows("service"), 5*time.Second)
	totem.Click("#service-take")
	totem.WaitFor("the network error", message("network"), 20*time.Second)
	if got := totem.Text("#message-text"); !strings.Contains(got, "Connessione assente: non riesco a raggiungere il sistema.") {
		t.Errorf("network error says %q", got)
	}
	totem.Screenshot("kiosk-offline-ticket")
	env.Up(t)
	totem.WaitFor("online again", `avantiKiosk.state === "online" && document.getElementById("offline-banner").hidden`, 40*time.Second)
}

// The last place of the day goes while the citizen is looking at the
// service: the totem says there are no places left today, when the next one
// is, and offers to book it.
func TestNoPlacesLeftToday(t *testing.T) {
	env := newAppliance(t)
	svc := addService(t, env, "Polizia locale", "P", []map[string]any{
		{"weekday": 1, "start": "09:30", "end": "09:45", "slot_minutes": 15, "places": 1},
		{"weekday": 2, "start": "09:30", "end": "09:45", "slot_minutes": 15, "places": 1},
	})
	totem := openTotem(t, env)
	totem.Click("#start")
	button := fmt.Sprintf(`.service[data-service-id="%d"]`, svc)
	totem.WaitFor("the new service", fmt.Sprintf(`document.querySelector(%s) !== null`, browsertest.JS(button)), 5*time.Second)
	totem.Click(button)
	totem.WaitFor("the service page", shows("service")+` && !document.getElementById("service-take").hidden`, 5*time.Second)
	if got := totem.Text("#service-state"); got != "Primo posto libero oggi: 09:30" {
		t.Errorf("service state %q", got)
	}
	// Taken at another totem, without a word to this one.
	if _, err := env.Store.Book(context.Background(), store.BookRequest{ServiceID: svc, Channel: store.ChannelKiosk, Actor: "test"}, env.Clock.Now()); err != nil {
		t.Fatalf("book the last place: %v", err)
	}
	totem.Click("#service-take")
	totem.WaitFor("no places", message("no_availability"), 5*time.Second)
	if got := totem.Text("#message-text"); got != "Oggi non ci sono più posti per questo servizio. Il prossimo posto libero è domani alle 09:30." {
		t.Errorf("no places says %q", got)
	}
	if got := totem.Text("#message-actions"); !strings.Contains(got, "Prenota un altro giorno") {
		t.Errorf("no places offers %q", got)
	}
	totem.Screenshot("kiosk-no-places")
	totem.Axe("no places")
	totem.Click("#message-actions button.primary")
	totem.WaitFor("identification for another day", shows("identify"), 5*time.Second)
}
