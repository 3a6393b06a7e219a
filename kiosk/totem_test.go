package kiosk_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/qrcode"

	"avanti/appliance/browsertest"
	"avanti/appliance/server"
	"avanti/appliance/testenv"
	"avanti/kiosk"
)

// The totem's screen in the tests: a 21.5" portrait touchscreen.
const (
	screenW = 1080
	screenH = 1920
)

// newAppliance is the real appliance with the totem pages at /kiosk/.
func newAppliance(t *testing.T) *testenv.Env {
	t.Helper()
	return testenv.NewServer(t, testenv.Options{Mounts: server.Mounts{"/kiosk/": kiosk.Handler()}})
}

func kioskURL(env *testenv.Env) string {
	return env.URL + "/kiosk/?token=" + env.Demo.Credentials.KioskToken
}

// openTotem opens the totem page and waits for its standby screen with the
// services loaded and the live connection up.
func openTotem(t *testing.T, env *testenv.Env) *tab {
	t.Helper()
	b := newTab(t, screenW, screenH)
	b.Open(kioskURL(env))
	b.WaitFor("the standby screen", `window.avantiKiosk && avantiKiosk.view === "standby" && avantiKiosk.services.length > 0 && avantiKiosk.state === "online" && avantiKiosk.settled`, 15*time.Second)
	return b
}

// ticket is what the API answers about a ticket.
type ticket struct {
	ID       int64     `json:"id"`
	Code     string    `json:"code"`
	Token    string    `json:"token"`
	Status   string    `json:"status"`
	Start    time.Time `json:"start"`
	Service  int64     `json:"service_id"`
	Position *int      `json:"position"`
	Late     bool      `json:"late"`
}

func kioskClient(t *testing.T, env *testenv.Env) *testenv.Client {
	return env.Device(t, env.Demo.Credentials.KioskToken)
}

func admin(t *testing.T, env *testenv.Env) *testenv.Client {
	t.Helper()
	cr := env.Demo.Credentials
	return env.Login(t, cr.Admin.Username, cr.Admin.Password)
}

// book makes an appointment at the totem, as the page would, for citizen
// (nil for none) at start.
func book(t *testing.T, env *testenv.Env, service int64, start time.Time, citizen map[string]string) ticket {
	t.Helper()
	req := map[string]any{"service_id": service, "start": start}
	if citizen != nil {
		req["citizen"] = citizen
	}
	var tk ticket
	st, raw := kioskClient(t, env).Do("POST", "/api/v1/tickets", req)
	if st != 201 {
		t.Fatalf("book %s: status %d %s", start, st, raw)
	}
	if err := json.Unmarshal(raw, &tk); err != nil {
		t.Fatal(err)
	}
	return tk
}

func getTicket(t *testing.T, env *testenv.Env, token string) ticket {
	t.Helper()
	var tk ticket
	if st := env.Anonymous(t).JSON("GET", "/api/v1/tickets/"+token, nil, &tk); st != 200 {
		t.Fatalf("GET ticket: %d", st)
	}
	return tk
}

// configure sets the totem's settings as an admin does in the console.
func configure(t *testing.T, env *testenv.Env, settings map[string]any) {
	t.Helper()
	var me struct {
		Device struct {
			ID int64 `json:"id"`
		} `json:"device"`
	}
	if st := kioskClient(t, env).JSON("GET", "/api/v1/device", nil, &me); st != 200 {
		t.Fatalf("GET /api/v1/device: %d", st)
	}
	if st, raw := admin(t, env).Do("PUT", fmt.Sprintf("/api/v1/devices/%d/settings", me.Device.ID), settings); st != 200 {
		t.Fatalf("kiosk settings: %d %s", st, raw)
	}
}

// at is a local time of the demo's Monday.
func at(hour, min int) time.Time {
	return time.Date(2026, 11, 23, hour, min, 0, 0, testenv.Rome)
}

// shows is the condition "the totem shows view".
func shows(view string) string {
	return fmt.Sprintf(`avantiKiosk.view === %s && !avantiKiosk.busy`, browsertest.JS(view))
}

// message is the condition "the totem shows the message for code".
func message(code string) string {
	return fmt.Sprintf(`avantiKiosk.view === "message" && document.getElementById("v-message").dataset.code === %s`, browsertest.JS(code))
}

// decodeQR reads the QR code in a screenshot.
func decodeQR(t *testing.T, shot []byte) string {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	return decodeQRImage(t, img)
}

func decodeQRImage(t *testing.T, img image.Image) string {
	t.Helper()
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		t.Fatal(err)
	}
	res, err := qrcode.NewQRCodeReader().Decode(bmp, map[gozxing.DecodeHintType]any{gozxing.DecodeHintType_TRY_HARDER: true})
	if err != nil {
		t.Fatalf("no QR code in the screenshot: %v", err)
	}
	return res.GetText()
}

// A citizen touches the standby screen, picks Informazioni and takes the
// first place: the ticket is on screen and printed on 80 mm paper, its QR
// code leads to the public ticket page, and checking it in again says it
// already is.
func TestWalkInTakesTheFirstPlaceAndPrintsTheTicket(t *testing.T) {
	env := newAppliance(t)
	const ticketText = "Conservare il biglietto fino alla chiamata."
	configure(t, env, map[string]any{"ticket_text": ticketText})
	totem := openTotem(t, env)
	if got := totem.Text("#v-standby"); !strings.Contains(got, "COMUNE DI CREMA") || !strings.Contains(got, "Tocca lo schermo o passa la tessera sanitaria") {
		t.Errorf("standby says %q", got)
	}
	totem.Screenshot("kiosk-standby")
	totem.Axe("standby")

	totem.Click("#v-standby")
	totem.WaitFor("the services", shows("services"), 5*time.Second)
	if got := totem.Text("#services-title"); !strings.Contains(got, "COMUNE DI CREMA") || !strings.Contains(got, "Scegli il servizio") {
		t.Errorf("services heading %q", got)
	}
	info := fmt.Sprint(env.Demo.Services["I"])
	if got := totem.Text(`.service[data-service-id="` + info + `"]`); !strings.Contains(got, "Informazioni") || !strings.Contains(got, "Primo posto oggi alle 09:00") {
		t.Errorf("the Informazioni button says %q", got)
	}
	totem.Screenshot("kiosk-services")
	totem.Axe("services")

	totem.Click(`.service[data-service-id="` + info + `"]`)
	totem.WaitFor("the service page", shows("service"), 5*time.Second)
	page := totem.Text("#v-service")
	for _, want := range []string{"Informazioni", "Informazioni generali e orientamento", "Cosa portare", "Sempre aperto", "Primo posto libero oggi: 09:00"} {
		if !strings.Contains(page, want) {
			t.Errorf("the service page lacks %q: %q", want, page)
		}
	}
	totem.Screenshot("kiosk-service")
	totem.Axe("service")

	totem.Click("#service-take")
	totem.WaitFor("the ticket", shows("ticket")+` && avantiKiosk.ticket.print.state === "ok"`, 15*time.Second)
	tk := browsertest.Eval[struct{ Token, Code string }](totem, `avantiKiosk.ticket`)
	if !strings.HasPrefix(tk.Code, "I") || len(tk.Token) != 43 {
		t.Fatalf("ticket on screen %+v", tk)
	}
	if got := totem.Text("#ticket-code"); got != tk.Code {
		t.Errorf("the code on screen is %q, want %s", got, tk.Code)
	}
	totem.WaitFor("the QR image on screen", `document.getElementById("ticket-qr").complete && document.getElementById("ticket-qr").naturalWidth > 0`, 5*time.Second)
	if got := totem.Text("#print-status"); !strings.Contains(got, "Ritira il biglietto stampato") {
		t.Errorf("print status %q", got)
	}
	if got := browsertest.Eval[string](totem, `avantiKiosk.printer`); got != "ok" {
		t.Errorf("printer state %q", got)
	}
	if got := browsertest.Eval[string](totem, `(document.querySelector("iframe.printer") || {contentDocument: {body: {innerText: "no print frame"}}}).contentDocument.body.innerText`); !strings.Contains(got, tk.Code) || !strings.Contains(got, ticketText) {
		t.Errorf("the printed page reads %q", got)
	}
	totem.Screenshot("kiosk-ticket")
	totem.Axe("ticket")

	// The print page, as the printer gets it: 80 mm paper, everything in
	// the contract's order, and a QR code that carries the ticket's token.
	paper := newTab(t, 604, 1300)
	zoom(paper, 604, 1300, 2)
	paper.Open(env.URL + "/kiosk/print/" + tk.Token + "?print=0&token=" + env.Demo.Credentials.KioskToken)
	paper.WaitFor("the ticket laid out", `document.body.dataset.state === "printed" && document.getElementById("qr").complete`, 10*time.Second)
	order := browsertest.Eval[[]string](paper, `[...document.querySelectorAll("#ticket > *")].filter(e => !e.hidden).map(e => e.id)`)
	if want := []string{"owner", "address", "service", "date", "time", "code", "qr", "text"}; strings.Join(order, ",") != strings.Join(want, ",") {
		t.Errorf("paper order %v, want %v", order, want)
	}
	text := paper.Text("#ticket")
	for _, want := range []string{"COMUNE DI CREMA", "Piazza del Duomo 25, 26013 Crema (CR)", "Informazioni", "lunedì 23 novembre 2026", "09:00", tk.Code, ticketText} {
		if !strings.Contains(text, want) {
			t.Errorf("the ticket lacks %q: %q", want, text)
		}
	}
	// The contract's rule is in the stylesheet; Chromium keeps the
	// page's own length, which the page adds once the ticket is laid out.
	if css := browsertest.EvalAwait[string](paper, `fetch([...document.styleSheets].find(s => s.href && s.href.endsWith("/print.css")).href).then(r => r.text())`); !strings.Contains(css, "size: 80mm auto;") || !strings.Contains(css, "width: 72mm;") {
		t.Errorf("print.css lacks the contract's @page size or body width")
	}
	if got := browsertest.Eval[string](paper, `[...document.styleSheets].flatMap(s => [...s.cssRules]).filter(r => r instanceof CSSPageRule).map(r => r.cssText).join(" ")`); !strings.Contains(got, "size: 80mm ") || !strings.Contains(got, "margin: 0px") {
		t.Errorf("@page rules %q", got)
	}
	if w := browsertest.Eval[float64](paper, `document.body.getBoundingClientRect().width`); w < 270 || w > 275 {
		t.Errorf("body is %.1f px wide, want 72 mm (272 px)", w)
	}
	url := decodeQR(t, paper.Screenshot("kiosk-print"))
	if want := "/t/" + tk.Token; !strings.HasSuffix(url, want) {
		t.Fatalf("the QR code says %q, want …%s", url, want)
	}
	paper.Axe("print")

	// The QR code's address, opened on a phone: the public ticket page.
	resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Get(env.URL + "/t/" + tk.Token)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); resp.StatusCode/100 != 3 || loc != "/kiosk/t/"+tk.Token {
		t.Fatalf("/t/<token>: %d to %q", resp.StatusCode, loc)
	}
	phone := newTab(t, 390, 844)
	phone.Open(env.URL + "/t/" + tk.Token)
	phone.WaitFor("the ticket's status", `document.body.dataset.state === "waiting"`, 10*time.Second)
	pub := phone.Text("main")
	for _, want := range []string{tk.Code, "Informazioni", "in attesa", "Persone prima di te", "Attesa stimata"} {
		if !strings.Contains(pub, want) {
			t.Errorf("the public page lacks %q: %q", want, pub)
		}
	}
	phone.Screenshot("kiosk-public-ticket")
	phone.Axe("public ticket page")

	// The totem told the appliance its printer works.
	var devices struct {
		Devices []struct {
			Kind    string `json:"kind"`
			Printer string `json:"printer"`
		} `json:"devices"`
	}
	if st := admin(t, env).JSON("GET", "/api/v1/devices", nil, &devices); st != 200 {
		t.Fatalf("devices: %d", st)
	}
	for _, d := range devices.Devices {
		if d.Kind == "kiosk" && d.Printer != "ok" {
			t.Errorf("the totem's printer is %q in the device list, want ok", d.Printer)
		}
	}

	// The desk calls the ticket: the phone's page says where to go when it
	// refreshes (by itself, or when the phone is looked at again).
	callNext(t, env)
	browsertest.Eval[bool](phone, `document.dispatchEvent(new Event("visibilitychange"))`)
	phone.WaitFor("the call", `document.body.dataset.state === "called"`, 10*time.Second)
	if got := phone.Text("#status"); got != "È il tuo turno: vai a Sportello 1" {
		t.Errorf("the called ticket says %q", got)
	}
	phone.Screenshot("kiosk-public-ticket-called")

	// A walk-in is checked in already: its QR at the reader says so.
	totem.Click("#ticket-done")
	totem.WaitFor("standby after the ticket", shows("standby"), 5*time.Second)
	scan(totem, url, 5*time.Millisecond)
	totem.WaitFor("the check-in question", shows("checkin"), 5*time.Second)
	if got := totem.Text("#v-checkin"); !strings.Contains(got, "Conferma la presenza") || !strings.Contains(got, tk.Code) {
		t.Errorf("check-in page %q", got)
	}
	totem.Click("#checkin-yes")
	totem.WaitFor("already checked in", message("already_checked_in"), 5*time.Second)
	if got := totem.Text("#message-text"); !strings.Contains(got, "Hai già confermato la presenza") {
		t.Errorf("message %q", got)
	}
}

// The service buttons come six to a page, with Avanti/Indietro and "pagina
// n di m"; closed and full services say so and when they next have a place.
func TestServicesComeSixToAPageAndSayWhenTheyAreClosedOrFull(t *testing.T) {
	env := newAppliance(t)
	adm := admin(t, env)
	var info struct {
		SiteID int64 `json:"site_id"`
	}
	if st := adm.JSON("GET", fmt.Sprintf("/api/v1/services/%d", env.Demo.Services["I"]), nil, &info); st != 200 || info.SiteID == 0 {
		t.Fatalf("service: %d %+v", st, info)
	}
	site := info.SiteID
	names := []string{"Polizia locale", "Urbanistica", "Elettorale", "Cultura", "Biblioteca", "Scuole", "Sport", "Commercio"}
	var full int64
	for i, name := range names {
		var svc struct {
			ID int64 `json:"id"`
		}
		if st, raw := adm.Do("POST", "/api/v1/services", map[string]any{"site_id": site, "name": name,
			"prefix": string(rune('J' + i)), "description": "Servizio " + name, "active": true}); st != 201 {
			t.Fatalf("create %s: %d %s", name, st, raw)
		} else if err := json.Unmarshal(raw, &svc); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			full = svc.ID
		}
	}
	// Polizia locale: one place at 9:30 today and tomorrow; today's is taken.
	agenda := map[string]any{"name": "Orario", "valid_from": "2026-11-22", "ranges": []map[string]any{
		{"weekday": 1, "start": "09:30", "end": "09:45", "slot_minutes": 15, "places": 1},
		{"weekday": 2, "start": "09:30", "end": "09:45", "slot_minutes": 15, "places": 1},
	}}
	if st, raw := adm.Do("POST", fmt.Sprintf("/api/v1/services/%d/agendas", full), agenda); st != 201 && st != 200 {
		t.Fatalf("agenda: %d %s", st, raw)
	}
	book(t, env, full, at(9, 30), map[string]string{"fiscal_code": "RSSMRA85T10A562S"})

	totem := openTotem(t, env)
	totem.Click("#start")
	totem.WaitFor("the services", shows("services"), 5*time.Second)
	count := browsertest.Eval[int](totem, `avantiKiosk.services.length`)
	if count != 13 {
		t.Fatalf("the totem offers %d services, want 13", count)
	}
	buttons := `document.querySelectorAll("#service-grid .service").length`
	if n := browsertest.Eval[int](totem, buttons); n != 6 {
		t.Errorf("%d buttons on the first page, want 6", n)
	}
	if got := totem.Text("#services-pager"); !strings.Contains(got, "pagina 1 di 3") {
		t.Errorf("pager says %q", got)
	}
	if browsertest.Eval[bool](totem, `document.querySelector("#services-pager .page-prev").disabled`) == false {
		t.Error("Indietro is enabled on the first page")
	}
	totem.Screenshot("kiosk-services-page1")
	totem.Click("#services-pager .page-next")
	totem.WaitFor("page 2", `avantiKiosk.servicePage === 1`, 2*time.Second)
	totem.Click("#services-pager .page-next")
	totem.WaitFor("page 3", `avantiKiosk.servicePage === 2`, 2*time.Second)
	if n := browsertest.Eval[int](totem, buttons); n != 1 {
		t.Errorf("%d buttons on the last page, want 1", n)
	}
	if got := totem.Text("#services-pager"); !strings.Contains(got, "pagina 3 di 3") {
		t.Errorf("pager says %q", got)
	}
	totem.Screenshot("kiosk-services-page3")
	totem.Axe("services, last page")
	totem.Click("#services-pager .page-prev")
	totem.WaitFor("page 2 again", `avantiKiosk.servicePage === 1`, 2*time.Second)

	fullButton := fmt.Sprintf(`.service[data-service-id="%d"]`, full)
	if got := totem.Text(fullButton); !strings.Contains(got, "Oggi completo") || !strings.Contains(got, "Prossimo posto: domani alle 09:30") {
		t.Errorf("the full service says %q", got)
	}
	closed := `.service[data-state="closed"]`
	if got := totem.Text(closed); !strings.Contains(got, "Oggi chiuso") || !strings.Contains(got, "Nessun posto libero nei prossimi giorni") {
		t.Errorf("a closed service says %q", got)
	}
	totem.Screenshot("kiosk-services-page2")
	totem.Click(fullButton)
	totem.WaitFor("the full service's page", shows("service"), 5*time.Second)
	if got := totem.Text("#service-state"); !strings.Contains(got, "Oggi non ci sono più posti per questo servizio. Il prossimo posto libero è domani alle 09:30.") {
		t.Errorf("the full service's page says %q", got)
	}
	if browsertest.Eval[bool](totem, `!document.getElementById("service-take").hidden`) {
		t.Error("a full service offers a ticket for today")
	}
	totem.Screenshot("kiosk-service-full")
}

// An unpaired totem shows a six-digit code; once an admin enters it, it
// starts by itself.
func TestUnpairedTotemShowsACodeAndStartsOncePaired(t *testing.T) {
	env := newAppliance(t)
	totem := newTab(t, screenW, screenH)
	totem.Open(env.URL + "/kiosk/")
	totem.WaitFor("a pairing code", `/^[0-9]{6}$/.test(document.getElementById("pair-code").dataset.code || "") && avantiKiosk.view === "pairing"`, 10*time.Second)
	if got := totem.Text("#v-pairing"); !strings.Contains(got, "Per associare questo totem inserisci il codice nella console di amministrazione") {
		t.Errorf("pairing screen says %q", got)
	}
	totem.Screenshot("kiosk-pairing")
	totem.Axe("pairing")
	code := browsertest.Eval[string](totem, `document.getElementById("pair-code").dataset.code`)
	if st, raw := admin(t, env).Do("POST", "/api/v1/devices/pair", map[string]any{
		"code": code, "kind": "kiosk", "name": "Totem ingresso", "room_id": env.Demo.RoomIDs[0],
	}); st != 201 {
		t.Fatalf("pair: %d %s", st, raw)
	}
	totem.WaitFor("the paired totem's standby", `window.avantiKiosk && avantiKiosk.view === "standby" && avantiKiosk.state === "online" && avantiKiosk.services.length > 0`, 15*time.Second)
}
