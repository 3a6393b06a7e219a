package console_test

import (
	"avanti/appliance/browsertest"
	"bytes"
	"encoding/csv"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"
)

// An admin creates a service (a refused form keeps what was typed and says
// what is wrong next to each field), gives it an agenda, looks at the slots
// it makes before saving, saves, and the totem offers the service with its
// first free time.
func TestAdminCreatesServiceAndAgendaThenTheKioskOffersIt(t *testing.T) {
	t.Parallel()
	env := newAppliance(t)
	cr := env.Demo.Credentials
	b := signIn(t, env, cr.Admin, "services")

	b.Click("#service-new")
	b.Fill("#svc-name", "Edilizia privata")
	b.Fill("#svc-prefix", "E1")
	b.Fill("#svc-target", "")
	b.Fill("#svc-notes", "Portare la planimetria dell'immobile.")
	b.Click("#service-form button[type=submit]")
	b.WaitFor("the errors next to the fields", `document.querySelectorAll("#service-form [aria-invalid=true]").length === 2`, 5*time.Second)
	errs := browsertest.Eval[map[string]string](b, `Object.fromEntries([...document.querySelectorAll("#service-form [aria-invalid=true]")].map(f => [f.name, document.getElementById(f.getAttribute("aria-describedby").split(" ").pop()).textContent]))`)
	if errs["prefix"] != "Da 1 a 3 lettere maiuscole (A–Z)." || errs["target_wait_min"] != "Campo obbligatorio." {
		t.Errorf("errors: %v", errs)
	}
	if got := browsertest.Eval[string](b, `document.activeElement.name`); got != "prefix" {
		t.Errorf("the focus is on %q, want the first wrong field", got)
	}
	if got := browsertest.Eval[string](b, `document.getElementById("svc-notes").value + "|" + document.getElementById("svc-name").value`); got != "Portare la planimetria dell'immobile.|Edilizia privata" {
		t.Errorf("what was typed: %q", got)
	}
	b.Screenshot("console-services-errors")
	b.Fill("#svc-prefix", "E")
	b.Fill("#svc-target", "20")
	// The appliance checks too: a prefix another service has is refused
	// next to the field.
	b.Fill("#svc-prefix", "A")
	b.Click("#service-form button[type=submit]")
	b.WaitFor("the appliance's refusal", `document.querySelectorAll("#service-form [aria-invalid=true]").length > 0 || [...document.querySelectorAll("#service-table th")].some(th => th.textContent === "Edilizia privata")`, 5*time.Second)
	if browsertest.Eval[bool](b, `[...document.querySelectorAll("#service-table th")].some(th => th.textContent === "Edilizia privata")`) {
		t.Log("the appliance accepts a second service with prefix A (codes are per service)")
		b.Click(`#service-table tr:last-child button`)
	}
	b.Fill("#svc-prefix", "E")
	b.Click("#service-form button[type=submit]")
	b.WaitFor("the service in the list", `[...document.querySelectorAll("#service-table tr")].some(tr => tr.textContent.includes("Edilizia privata") && tr.textContent.startsWith("E"))`, 5*time.Second)
	id := browsertest.Eval[float64](b, `Number([...document.querySelectorAll("#service-table tr")].find(tr => tr.textContent.includes("Edilizia privata") && tr.textContent.startsWith("E")).dataset.id)`)

	// Its agenda: Monday 09:00–17:00 in 20-minute places, Tuesday morning,
	// closed on Tuesday 24 November.
	b.Open(fmt.Sprintf("%s/console/agendas?service=%d", env.URL, int64(id)))
	if st := ready(b); st != "ready" {
		t.Fatalf("agendas: %s", st)
	}
	b.Fill("#ag-name", "Orario Edilizia")
	b.Fill("#ag-from", "2026-11-23")
	b.Fill(`[name="ranges[0].weekday"]`, "1")
	b.Fill(`[name="ranges[0].start"]`, "09:00")
	b.Fill(`[name="ranges[0].end"]`, "17:00")
	b.Fill(`[name="ranges[0].slot_minutes"]`, "20")
	b.Fill(`[name="ranges[0].places"]`, "2")
	b.Click("#range-add")
	if got := browsertest.Eval[string](b, `document.querySelector('[name="ranges[1].weekday"]').value`); got != "2" {
		t.Errorf("a new row starts on weekday %s, want the day after (2, Tuesday)", got)
	}
	b.Fill(`[name="ranges[1].start"]`, "08:30")
	b.Fill(`[name="ranges[1].end"]`, "08:00")
	b.Fill(`[name="ranges[1].slot_minutes"]`, "15")
	b.Fill(`[name="ranges[1].places"]`, "1")
	b.Click("#exception-add")
	b.Fill(`[name="exceptions[0].day"]`, "2026-11-24")
	if !browsertest.Eval[bool](b, `document.getElementById("agenda-save").disabled`) {
		t.Error("the agenda can be saved before its preview")
	}
	// An end before the start is said on its row.
	b.Click("#agenda-preview")
	b.WaitFor("the error on the second row", `document.querySelector('[name="ranges[1].end"]').getAttribute("aria-invalid") === "true"`, 5*time.Second)
	if got := browsertest.Eval[string](b, `document.activeElement.name`); got != "ranges[1].end" {
		t.Errorf("the focus is on %q, want the wrong field", got)
	}
	b.Fill(`[name="ranges[1].end"]`, "12:30")
	b.Click("#agenda-preview")
	b.WaitFor("the preview", `!document.getElementById("agenda-preview-out").hidden && document.querySelectorAll("#preview-table tbody tr").length > 0 && !document.getElementById("agenda-save").disabled`, 10*time.Second)
	days := browsertest.Eval[map[string]float64](b, `Object.fromEntries([...document.querySelectorAll("#preview-table tbody tr")].map(tr => [tr.dataset.date, Number(tr.dataset.slots)]))`)
	if days["2026-11-23"] == 0 || days["2026-11-24"] != 0 || days["2026-11-30"] != 24 || days["2026-12-01"] != 16 {
		t.Errorf("preview days: %v", days)
	}
	b.Screenshot("console-agendas-preview")
	// A change after the preview needs a new preview.
	b.Fill(`[name="ranges[1].places"]`, "2")
	if !browsertest.Eval[bool](b, `document.getElementById("agenda-save").disabled`) {
		t.Error("the agenda can be saved although it changed after its preview")
	}
	b.Fill(`[name="ranges[1].places"]`, "1")
	b.Click("#agenda-preview")
	b.WaitFor("the preview again", `!document.getElementById("agenda-save").disabled`, 10*time.Second)
	b.Click("#agenda-save")
	b.WaitFor("the agenda saved", `document.getElementById("agenda-result").textContent.startsWith("Agenda salvata") && document.querySelectorAll("#agenda-table tbody tr").length === 1`, 10*time.Second)

	// The totem offers it, with its first free place today.
	kiosk := env.Device(t, cr.KioskToken)
	var k struct {
		Services []struct {
			ID         int64  `json:"id"`
			Name       string `json:"name"`
			State      string `json:"state"`
			FirstToday *struct {
				Start time.Time `json:"start"`
			} `json:"first_today"`
		} `json:"services"`
	}
	if st := kiosk.JSON("GET", "/api/v1/kiosk", nil, &k); st != 200 {
		t.Fatalf("kiosk: %d", st)
	}
	found := false
	for _, s := range k.Services {
		if s.ID == int64(id) {
			found = true
			if s.Name != "Edilizia privata" || s.State != "open" || s.FirstToday == nil {
				t.Errorf("the new service at the totem: %+v", s)
			} else if at := s.FirstToday.Start.In(time.Local); at.Before(env.Clock.Now().Add(-20 * time.Minute)) {
				t.Errorf("its first place %v is before now %v", at, env.Clock.Now())
			}
		}
	}
	if !found {
		t.Errorf("the totem does not offer the new service: %+v", k.Services)
	}
}

// The work plan of a day: a citizen booked by phone appears with their
// contact data, a slot is closed, and the CSV and XLSX downloads have the
// same rows.
func TestWorkPlanBooksByPhoneAndExportsCSVAndXLSX(t *testing.T) {
	t.Parallel()
	env := newAppliance(t)
	cr := env.Demo.Credentials
	registry := env.Demo.Services["A"]
	walkIns(t, env, registry, 1)
	b := signIn(t, env, cr.Backoffice, fmt.Sprintf("workplan?service=%d&date=2026-11-23", registry))
	b.WaitFor("the day's slots", `document.querySelectorAll("#wp-slots tbody tr").length > 0`, 10*time.Second)

	// Book by phone: a wrong phone number is said next to the field. (The
	// appliance keeps the number without spaces.)
	b.Fill("#book-start", browsertest.Eval[string](b, `[...document.getElementById("book-start").options].find(o => o.value && o.value.includes("T10:"))?.value || ""`))
	b.Fill("#book-first", "Mario")
	b.Fill("#book-last", "Rossi")
	b.Fill("#book-phone", "33x")
	b.Fill("#book-email", "mario.rossi@example.it")
	b.Click("#wp-book button[type=submit]")
	b.WaitFor("the phone error", `document.getElementById("book-phone").getAttribute("aria-invalid") === "true"`, 5*time.Second)
	b.Fill("#book-phone", "333 1234567")
	b.Click("#wp-book button[type=submit]")
	b.WaitFor("the booking", `document.getElementById("wp-booked").textContent.startsWith("Prenotato")`, 10*time.Second)
	b.WaitFor("the booking in the plan", `[...document.querySelectorAll("#wp-tickets tbody tr")].some(tr => tr.textContent.includes("Rossi") && tr.textContent.includes("3331234567"))`, 5*time.Second)

	// The 10:00 slot cannot have fewer places than it has bookings; more it can.
	slot := browsertest.Eval[float64](b, `Number([...document.querySelectorAll("#wp-slots tbody tr")].find(tr => tr.querySelector("th").textContent.startsWith("10:00")).dataset.id)`)
	capacity := fmt.Sprintf(`#slot-%d-capacity`, int64(slot))
	b.Fill(capacity, "0")
	b.Click(fmt.Sprintf(`#wp-slots tr[data-id="%d"] .slot-capacity button`, int64(slot)))
	b.WaitFor("the refusal next to the places", fmt.Sprintf(`document.querySelector(%s).getAttribute("aria-invalid") === "true"`, browsertest.JS(capacity)), 5*time.Second)
	if got := browsertest.Eval[string](b, fmt.Sprintf(`document.querySelector(%s).closest("form").querySelector(".field-error").textContent`, browsertest.JS(capacity))); got != "Non si può scendere sotto i posti già prenotati." {
		t.Errorf("capacity below booked: %q", got)
	}
	b.Fill(capacity, "4")
	b.Click(fmt.Sprintf(`#wp-slots tr[data-id="%d"] .slot-capacity button`, int64(slot)))
	// Saved and the plan reloaded (the table is drawn again: a click before
	// that would land on a row about to be replaced).
	b.WaitFor("the places changed", fmt.Sprintf(`document.querySelector(%s).value === "4" && !document.querySelector(%s).getAttribute("aria-invalid")`+
		` && document.getElementById("notice").textContent === "Posto delle 10:00 aggiornato." && !document.querySelector("#wp-slots [aria-busy]")`, browsertest.JS(capacity), browsertest.JS(capacity)), 5*time.Second)

	// Close the last slot of the morning.
	last := browsertest.Eval[float64](b, `Number([...document.querySelectorAll("#wp-slots tbody tr[data-open=true]")].pop().dataset.id)`)
	b.Click(fmt.Sprintf(`#wp-slots tr[data-id="%d"] td.no-print button`, int64(last)))
	b.WaitFor("the slot closed", fmt.Sprintf(`document.querySelector('#wp-slots tr[data-id="%d"]').dataset.open === "false"`, int64(last)), 5*time.Second)
	b.Screenshot("console-workplan-day")
	// The print layout: no menu, no forms.
	if err := emulatePrint(b); err != nil {
		t.Fatal(err)
	}
	if browsertest.Eval[bool](b, `getComputedStyle(document.querySelector("header.top")).display !== "none" || getComputedStyle(document.getElementById("wp-book").closest("section")).display !== "none"`) {
		t.Error("the print layout shows the menu or the booking form")
	}
	b.Screenshot("console-workplan-print")
	if err := emulateScreen(b); err != nil {
		t.Fatal(err)
	}

	rows := browsertest.Eval[[][]string](b, `[...document.querySelectorAll("#wp-tickets tbody tr")].map(tr => [...tr.cells].map(c => c.textContent))`)
	csvURL := browsertest.Eval[string](b, `document.getElementById("wp-csv").href`)
	xlsxURL := browsertest.Eval[string](b, `document.getElementById("wp-xlsx").href`)
	back := staff(t, env, cr.Backoffice)
	get := func(url string) []byte {
		t.Helper()
		path := strings.TrimPrefix(url, env.URL)
		resp, raw := back.Send("GET", path, nil)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, raw)
		}
		if cd := resp.Header.Get("Content-Disposition"); !strings.Contains(cd, "attachment") {
			t.Errorf("%s: Content-Disposition %q", path, cd)
		}
		return raw
	}
	raw := get(csvURL)
	raw = bytes.TrimPrefix(raw, []byte("\xef\xbb\xbf"))
	cr2 := csv.NewReader(bytes.NewReader(raw))
	if first, _, _ := bytes.Cut(raw, []byte("\n")); bytes.Count(first, []byte(";")) > bytes.Count(first, []byte(",")) {
		cr2.Comma = ';' // as Excel in Italy reads it
	}
	rec, err := cr2.ReadAll()
	if err != nil {
		t.Fatalf("CSV: %v\n%s", err, raw)
	}
	xf, err := excelize.OpenReader(bytes.NewReader(get(xlsxURL)))
	if err != nil {
		t.Fatalf("XLSX: %v", err)
	}
	defer xf.Close()
	sheet := xf.GetSheetList()[0]
	xrows, err := xf.GetRows(sheet)
	if err != nil {
		t.Fatal(err)
	}
	if len(rec) != len(rows)+1 || len(xrows) != len(rows)+1 {
		t.Fatalf("rows: page %d, CSV %d, XLSX %d (with the header)", len(rows), len(rec), len(xrows))
	}
	for _, file := range []struct {
		name string
		rows [][]string
	}{{"CSV", rec}, {"XLSX", xrows}} {
		head := strings.Join(file.rows[0], ",")
		if !strings.Contains(head, "Codice") || !strings.Contains(head, "Telefono") {
			t.Errorf("%s header: %s", file.name, head)
		}
		found := false
		for i, r := range file.rows[1:] {
			if r[0] != rows[i][0] {
				t.Errorf("%s row %d: code %q, the page %q", file.name, i+1, r[0], rows[i][0])
			}
			line := strings.Join(r, ",")
			if strings.Contains(line, "Rossi") && strings.Contains(line, "Mario") && strings.Contains(line, "3331234567") && strings.Contains(line, "mario.rossi@example.it") {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: the phone booking is missing: %v", file.name, file.rows)
		}
	}
	// The page's columns are the export's.
	head := browsertest.Eval[[]string](b, `[...document.querySelectorAll("#wp-tickets thead th")].map(th => th.textContent)`)
	if len(head) != len(rec[0]) {
		t.Errorf("the page has %d columns %v, the export %d %v", len(head), head, len(rec[0]), rec[0])
	}
}

var _ = io.EOF
var _ = http.MethodGet

// The organisation: a local holiday for the site and a new desk.
func TestAdminEditsTheOrganisation(t *testing.T) {
	t.Parallel()
	env := newAppliance(t)
	cr := env.Demo.Credentials
	b := signIn(t, env, cr.Admin, "org")
	b.WaitFor("the organisation", `document.querySelectorAll("#sites-table tbody tr").length === 1 && document.getElementById("owner-name").value === "COMUNE DI CREMA"`, 5*time.Second)
	b.Click("#sites-table tbody tr button")
	b.WaitFor("the site in the form", `document.getElementById("site-name").value === "Palazzo Comunale"`, 5*time.Second)
	b.Click("#holiday-add")
	b.Fill(`[name="holidays[1].name"]`, "Fiera di Crema")
	b.Click("#site-form button[type=submit]")
	b.WaitFor("the missing date", `document.querySelector('[name="holidays[1].date"]').getAttribute("aria-invalid") === "true"`, 5*time.Second)
	b.Fill(`[name="holidays[1].date"]`, "2026-09-14")
	b.Click("#site-form button[type=submit]")
	b.WaitFor("the holiday saved", `document.querySelector("#sites-table tbody tr").textContent.includes("Fiera di Crema")`, 5*time.Second)

	b.Fill("#desk-room", fmt.Sprint(env.Demo.RoomIDs[1]))
	b.Fill("#desk-name", "Ufficio tributi")
	b.Fill("#desk-number", "6")
	b.Click("#desk-form button[type=submit]")
	b.WaitFor("the new desk", `[...document.querySelectorAll("#desks-table tbody th")].some(th => th.textContent === "Ufficio tributi")`, 5*time.Second)
	b.Screenshot("console-org-edited")

	var org struct {
		Sites []struct {
			Holidays []struct{ Date, Name string } `json:"holidays"`
		} `json:"sites"`
		Desks []struct {
			Name, Number string
			RoomID       int64 `json:"room_id"`
		} `json:"desks"`
	}
	staff(t, env, cr.Admin).JSON("GET", "/api/v1/org", nil, &org)
	holidays := fmt.Sprint(org.Sites[0].Holidays)
	if !strings.Contains(holidays, "2026-09-14 Fiera di Crema") {
		t.Errorf("holidays: %s", holidays)
	}
	last := org.Desks[len(org.Desks)-1]
	if last.Name != "Ufficio tributi" || last.Number != "6" || last.RoomID != env.Demo.RoomIDs[1] {
		t.Errorf("desks: %+v", org.Desks)
	}
}

// An administrator's e-mail address, where the backup alerts go: set on the
// users page, refused next to the field when it is not one address, shown
// in the list and on the account page.
func TestAdminSetsAnAdministratorsEmailForTheAlerts(t *testing.T) {
	t.Parallel()
	env := newAppliance(t)
	cr := env.Demo.Credentials
	var me struct{ ID int64 }
	staff(t, env, cr.Admin).JSON("GET", "/api/v1/auth/me", nil, &me)
	b := signIn(t, env, cr.Admin, "users")
	row := fmt.Sprintf(`#users-table tbody tr[data-id="%d"]`, me.ID)
	b.WaitFor("the administrator in the list", `document.querySelector(`+browsertest.JS(row)+`) !== null`, 5*time.Second)
	b.Click(row + " button")
	b.WaitFor("the administrator in the form", `document.getElementById("user-username").value === `+browsertest.JS(cr.Admin.Username), 5*time.Second)

	// The page lets it through; the appliance refuses it, next to the field.
	b.Fill("#user-email", "anna.@comune.crema.it")
	b.Click("#user-form button[type=submit]")
	b.WaitFor("the refused address", `document.getElementById("user-email").getAttribute("aria-invalid") === "true"`, 5*time.Second)
	if msg := b.Text("#user-email-error"); msg == "" {
		t.Error("no message next to the e-mail field")
	}

	b.Fill("#user-email", "anna.bianchi@comune.crema.it")
	b.Click("#user-form button[type=submit]")
	b.WaitFor("the address in the list", `document.querySelector(`+browsertest.JS(row)+`).textContent.includes("anna.bianchi@comune.crema.it")`, 5*time.Second)
	b.Screenshot("console-users-admin-email")

	b.Open(env.URL + "/console/account")
	ready(b)
	b.WaitFor("the address on the account page", `document.getElementById("account-email").textContent === "anna.bianchi@comune.crema.it"`, 5*time.Second)
}
