package api_test

import (
	"bytes"
	"fmt"
	"image/png"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/qrcode"

	"avanti/appliance/testenv"
	"avanti/appliance/ticketprint"
)

const citizenFC = "RSSMRA85T10A562S"

func TestTheTotemSeesItsServicesAndPrintsAWalkInTicket(t *testing.T) {
	env := testenv.NewServer(t, testenv.Options{})
	who := signIn(t, env)
	var k struct {
		Owner    struct{ Name string }    `json:"owner"`
		Site     struct{ Address string } `json:"site"`
		Services []struct {
			ID         int64  `json:"id"`
			Prefix     string `json:"prefix"`
			State      string `json:"state"`
			FirstToday *struct {
				Start time.Time `json:"start"`
			} `json:"first_today"`
		} `json:"services"`
	}
	if st := who[kiosk].JSON("GET", "/api/v1/kiosk", nil, &k); st != 200 {
		t.Fatalf("GET /api/v1/kiosk: %d", st)
	}
	if k.Owner.Name != "COMUNE DI CREMA" || k.Site.Address == "" || len(k.Services) < 5 {
		t.Fatalf("kiosk: %+v", k)
	}
	for _, s := range k.Services {
		if s.Prefix == "I" && (s.State != "open" || s.FirstToday == nil) {
			t.Errorf("Informazioni (open around the clock) is %s, first today %v", s.State, s.FirstToday)
		}
	}

	tk := book(t, who[kiosk], map[string]any{"service_id": env.Demo.Services["I"]})
	var p map[string]any
	if st := env.Anonymous(t).JSON("GET", "/api/v1/tickets/"+tk.Token+"/print", nil, &p); st != 200 {
		t.Fatalf("print data: %d", st)
	}
	if p["owner"] != "COMUNE DI CREMA" || p["service"] != "Informazioni" || p["code"] != tk.Code ||
		!strings.HasPrefix(p["date"].(string), "Oggi, lunedì 23 novembre 2026") || p["time"] == "" ||
		!strings.HasSuffix(p["qr_url"].(string), "/t/"+tk.Token) {
		t.Errorf("print data %v", p)
	}
	resp, raw := env.Anonymous(t).Send("GET", p["qr_png"].(string), nil)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/png" {
		t.Fatalf("QR: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	img, err := png.Decode(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	bmp, _ := gozxing.NewBinaryBitmapFromImage(img)
	res, err := qrcode.NewQRCodeReader().Decode(bmp, nil)
	if err != nil || res.GetText() != p["qr_url"] {
		t.Errorf("QR reads %v (%v), want %s", res, err, p["qr_url"])
	}
	// The QR leads a phone to the public ticket page.
	resp, _ = env.Anonymous(t).Send("GET", "/t/"+tk.Token, nil)
	if resp.Request.URL.Path != "/kiosk/t/"+tk.Token {
		t.Errorf("/t/<token> leads to %s", resp.Request.URL)
	}
	// Printing from the browser is the default: no network printing.
	st, raw2 := who[kiosk].Do("POST", "/api/v1/tickets/"+tk.Token+"/print", nil)
	wantError(t, st, raw2, 409, "printer_not_network", "")
}

// fakePrinter is an ESC/POS network printer on loopback: it answers the
// status queries (online, paper present) and keeps what it is sent.
type fakePrinter struct {
	ln   net.Listener
	mu   sync.Mutex
	jobs [][]byte
}

func newFakePrinter(t *testing.T) *fakePrinter {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &fakePrinter{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.serve(c)
		}
	}()
	return p
}

func (p *fakePrinter) serve(c net.Conn) {
	defer c.Close()
	var job []byte
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		for i := 0; i+2 < n+1 && i < n; i++ {
			if i+2 < n && buf[i] == 0x10 && buf[i+1] == 0x04 {
				c.Write([]byte{0x12}) // online, no error, paper present
			}
		}
		job = append(job, buf[:n]...)
		if err == io.EOF || err != nil {
			break
		}
	}
	p.mu.Lock()
	p.jobs = append(p.jobs, job)
	p.mu.Unlock()
}

func (p *fakePrinter) printed() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var all []byte
	for _, j := range p.jobs {
		all = append(all, j...)
	}
	return string(all)
}

func TestANetworkPrinterGetsTheTicketAndItsProblemsAreReported(t *testing.T) {
	env := testenv.NewServer(t, testenv.Options{})
	who := signIn(t, env)
	var me struct {
		Device struct{ ID int64 } `json:"device"`
	}
	who[kiosk].JSON("GET", "/api/v1/device", nil, &me)
	printer := newFakePrinter(t)
	setPrinter := func(addr string) {
		t.Helper()
		if st, raw := who[admin].Do("PUT", fmt.Sprintf("/api/v1/devices/%d/settings", me.Device.ID),
			map[string]any{"printer": map[string]any{"mode": "network", "address": addr}, "ticket_text": "Grazie"}); st != 200 {
			t.Fatalf("kiosk settings: %d %s", st, raw)
		}
	}
	setPrinter(printer.ln.Addr().String())
	tk := book(t, who[kiosk], map[string]any{"service_id": env.Demo.Services["I"]})
	var r struct{ Printer string }
	if st := who[kiosk].JSON("POST", "/api/v1/tickets/"+tk.Token+"/print", nil, &r); st != 200 || r.Printer != "ok" {
		t.Fatalf("print: %d %+v", st, r)
	}
	job := printer.printed()
	if !strings.Contains(job, tk.Code) || !strings.Contains(job, "COMUNE DI CREMA") || !strings.Contains(job, "Grazie") {
		t.Errorf("the printer got %q", job)
	}
	// A printer that is switched off: the totem is told, the admin sees it.
	dead, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := dead.Addr().String()
	dead.Close()
	setPrinter(addr)
	st, raw := who[kiosk].Do("POST", "/api/v1/tickets/"+tk.Token+"/print", nil)
	wantError(t, st, raw, 503, "printer_offline", "")
	var devs struct {
		Devices []struct {
			ID      int64
			Printer string
		}
	}
	who[admin].JSON("GET", "/api/v1/devices", nil, &devs)
	for _, d := range devs.Devices {
		if d.ID == me.Device.ID && d.Printer != "offline" {
			t.Errorf("the admin sees printer %q, want offline", d.Printer)
		}
	}
	if st, raw := who[admin].Do("PUT", fmt.Sprintf("/api/v1/devices/%d/settings", me.Device.ID),
		map[string]any{"printer": map[string]any{"mode": "network", "address": "nowhere"}}); st != 422 || !strings.Contains(string(raw), "invalid_printer_address") {
		t.Errorf("bad printer address: %d %s", st, raw)
	}
}

func TestAnIdentifiedCitizenSeesMovesAndRevokesAppointments(t *testing.T) {
	env := testenv.NewServer(t, testenv.Options{})
	who := signIn(t, env)
	svc := env.Demo.Services["I"]
	tomorrow := testenv.Monday.AddDate(0, 0, 1).Format(time.DateOnly)
	start, _ := freeSlot(t, who[kiosk], svc, tomorrow)
	citizen := map[string]any{"fiscal_code": citizenFC, "first_name": "Mario", "last_name": "Rossi", "phone": "333 1234567"}
	tk := book(t, who[kiosk], map[string]any{"service_id": svc, "start": start, "citizen": citizen})

	type identified struct {
		Citizen struct {
			FirstName string `json:"first_name"`
			Masked    string `json:"masked"`
		} `json:"citizen"`
		Appointments []ticket `json:"appointments"`
	}
	var id identified
	if st := who[kiosk].JSON("POST", "/api/v1/kiosk/identify", map[string]any{"fiscal_code": strings.ToLower(citizenFC)}, &id); st != 200 {
		t.Fatalf("identify: %d", st)
	}
	if len(id.Appointments) != 1 || id.Appointments[0].Token != tk.Token || strings.Contains(id.Citizen.Masked, citizenFC) {
		t.Fatalf("identified: %+v", id)
	}
	// Weak identification: phone with first and last name, any case.
	if st := who[kiosk].JSON("POST", "/api/v1/kiosk/identify", map[string]any{"phone": "3331234567", "first_name": "MARIO", "last_name": "rossi"}, &id); st != 200 || len(id.Appointments) != 1 {
		t.Errorf("weak identification: %d %+v", st, id)
	}
	if st, raw := who[kiosk].Do("POST", "/api/v1/kiosk/identify", map[string]any{"phone": "3331234567", "first_name": "Maria", "last_name": "Rossi"}); st != 200 || strings.Contains(string(raw), tk.Token) {
		t.Errorf("another name with the same phone sees the appointment: %d %s", st, raw)
	}
	st, raw := who[kiosk].Do("POST", "/api/v1/kiosk/identify", map[string]any{"fiscal_code": "RSSMRA85T10A562X"})
	wantError(t, st, raw, 422, "invalid_fiscal_code", "fiscal_code")
	st, raw = who[kiosk].Do("POST", "/api/v1/kiosk/identify", map[string]any{"phone": "3331234567"})
	wantError(t, st, raw, 422, "name_required", "first_name")

	// Move to a later time: a new ticket, the old one revoked, one place each.
	later := start.Add(5 * time.Minute)
	var moved ticket
	if st := who[kiosk].JSON("POST", "/api/v1/tickets/"+tk.Token+"/move", map[string]any{"start": later}, &moved); st != 201 {
		t.Fatalf("move: %d", st)
	}
	if !moved.Start.Equal(later) || moved.Token == tk.Token {
		t.Errorf("moved ticket %+v", moved)
	}
	var old ticket
	env.Anonymous(t).JSON("GET", "/api/v1/tickets/"+tk.Token, nil, &old)
	if old.Status != "revoked" {
		t.Errorf("old ticket is %s after the move", old.Status)
	}
	// Moving the old one again is refused, and moving to a past time keeps the booking.
	st, raw = who[kiosk].Do("POST", "/api/v1/tickets/"+tk.Token+"/move", map[string]any{"start": later.Add(5 * time.Minute)})
	wantError(t, st, raw, 409, "cannot_move", "")
	st, raw = who[kiosk].Do("POST", "/api/v1/tickets/"+moved.Token+"/move", map[string]any{"start": testenv.Monday.Add(-time.Hour)})
	if st != 422 {
		t.Errorf("move into the past: %d %s", st, raw)
	}
	env.Anonymous(t).JSON("GET", "/api/v1/tickets/"+moved.Token, nil, &old)
	if old.Status != "booked" {
		t.Errorf("a refused move changed the booking to %s", old.Status)
	}
	// Revoke: the appointment list is empty again.
	if st, raw := who[kiosk].Do("POST", "/api/v1/tickets/"+moved.Token+"/revoke", nil); st != 200 {
		t.Fatalf("revoke: %d %s", st, raw)
	}
	who[kiosk].JSON("POST", "/api/v1/kiosk/identify", map[string]any{"fiscal_code": citizenFC}, &id)
	if len(id.Appointments) != 0 {
		t.Errorf("after revoking, appointments %+v", id.Appointments)
	}

	// A totem that takes only health cards refuses weak identification.
	var me struct {
		Device struct{ ID int64 } `json:"device"`
	}
	who[kiosk].JSON("GET", "/api/v1/device", nil, &me)
	who[admin].Do("PUT", fmt.Sprintf("/api/v1/devices/%d/settings", me.Device.ID), map[string]any{"identification": "health_card"})
	st, raw = who[kiosk].Do("POST", "/api/v1/kiosk/identify", map[string]any{"phone": "3331234567", "first_name": "Mario", "last_name": "Rossi"})
	wantError(t, st, raw, 403, "identification_not_allowed", "")
}

func TestASwipedHealthCardChecksInTodaysAppointment(t *testing.T) {
	env := testenv.NewServer(t, testenv.Options{})
	who := signIn(t, env)
	svc := env.Demo.Services["I"]
	st, raw := who[kiosk].Do("POST", "/api/v1/kiosk/checkin", map[string]any{"fiscal_code": citizenFC})
	wantError(t, st, raw, 404, "no_appointment_today", "")
	st, raw = who[kiosk].Do("POST", "/api/v1/kiosk/checkin", map[string]any{})
	wantError(t, st, raw, 422, "required", "fiscal_code")

	start, _ := freeSlot(t, who[kiosk], svc, testenv.Monday.Format(time.DateOnly))
	tk := book(t, who[kiosk], map[string]any{"service_id": svc, "start": start, "citizen": map[string]any{"fiscal_code": citizenFC}})
	env.Clock.Set(start.Add(-2 * time.Minute))
	var in ticket
	if st := who[kiosk].JSON("POST", "/api/v1/kiosk/checkin", map[string]any{"fiscal_code": citizenFC}, &in); st != 200 || in.Token != tk.Token || in.Status != "waiting" {
		t.Fatalf("check-in by card: %d %+v", st, in)
	}
	st, raw = who[kiosk].Do("POST", "/api/v1/kiosk/checkin", map[string]any{"fiscal_code": citizenFC})
	wantError(t, st, raw, 409, "already_checked_in", "")
}

func TestTheTotemClassifiesWhatItsScannerAndCameraRead(t *testing.T) {
	env := testenv.NewServer(t, testenv.Options{})
	who := signIn(t, env)
	tk := book(t, who[kiosk], map[string]any{"service_id": env.Demo.Services["I"]})
	var r struct {
		Kind       string `json:"kind"`
		Token      string `json:"token"`
		FiscalCode string `json:"fiscal_code"`
	}
	if st := who[kiosk].JSON("POST", "/api/v1/scan", map[string]any{"text": env.URL + "/t/" + tk.Token}, &r); st != 200 || r.Kind != "ticket" || r.Token != tk.Token {
		t.Errorf("scanned ticket URL: %d %+v", st, r)
	}
	r.Kind = ""
	if st := who[kiosk].JSON("POST", "/api/v1/scan", map[string]any{"text": strings.ToLower(citizenFC) + "\n"}, &r); st != 200 || r.Kind != "fiscal_code" || r.FiscalCode != citizenFC {
		t.Errorf("scanned health card: %d %+v", st, r)
	}
	st, raw := who[kiosk].Do("POST", "/api/v1/scan", map[string]any{"text": "ART-0042-B"})
	wantError(t, st, raw, 422, "unrecognized_code", "")
	// A camera frame: the ticket's own QR as the totem's camera sends it.
	qr, err := ticketprint.QRPNG(env.URL+"/t/"+tk.Token, 300)
	if err != nil {
		t.Fatal(err)
	}
	r.Kind = ""
	if st := who[kiosk].JSON("POST", "/api/v1/scan", qr, &r, "Content-Type", "image/png"); st != 200 || r.Kind != "ticket" || r.Token != tk.Token {
		t.Errorf("camera frame of the ticket: %d %+v", st, r)
	}
	st, raw = who[kiosk].Do("POST", "/api/v1/scan", []byte("not an image"), "Content-Type", "image/png")
	wantError(t, st, raw, 422, "invalid_image", "")
	st, raw = who[kiosk].Do("POST", "/api/v1/scan", bytes.Repeat([]byte{0}, 5<<20), "Content-Type", "image/jpeg")
	wantError(t, st, raw, 413, "image_too_large", "")
}
