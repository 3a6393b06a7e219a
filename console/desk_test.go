package console_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"avanti/appliance/browsertest"
	"avanti/appliance/testenv"
)

// walkIns books n walk-in tickets at the totem for the service, a minute
// apart, and returns their codes.
func walkIns(t *testing.T, env *testenv.Env, service int64, n int) []string {
	t.Helper()
	kiosk := env.Device(t, env.Demo.Credentials.KioskToken)
	var codes []string
	for range n {
		var tk struct {
			Code string `json:"code"`
		}
		if st := kiosk.JSON("POST", "/api/v1/tickets", map[string]any{"service_id": service}, &tk); st != 201 {
			t.Fatalf("walk-in: %d", st)
		}
		codes = append(codes, tk.Code)
		env.Clock.Advance(time.Minute)
	}
	return codes
}

type workTicket struct {
	Code      string `json:"code"`
	Status    string `json:"status"`
	ServiceID int64  `json:"service_id"`
	Note      string `json:"note"`
}

// workPlan is the day's tickets of a service, as the back office sees them.
func workPlan(t *testing.T, c *testenv.Client, service int64) map[string]workTicket {
	t.Helper()
	var wp struct {
		Tickets []workTicket `json:"tickets"`
	}
	if st := c.JSON("GET", fmt.Sprintf("/api/v1/services/%d/workplan?date=2026-11-23", service), nil, &wp); st != 200 {
		t.Fatalf("work plan: %d", st)
	}
	out := map[string]workTicket{}
	for _, tk := range wp.Tickets {
		out[tk.Code] = tk
	}
	return out
}

// current is the condition "the desk app shows code as its current ticket".
func current(code string) string {
	return fmt.Sprintf(`!document.getElementById("current-ticket").hidden && document.getElementById("cur-code").textContent === %s`, browsertest.JS(code))
}

const noCurrent = `document.getElementById("current-ticket").hidden && !document.getElementById("call-next").disabled`

func TestOperatorServesTheQueueAndTheDisplayShowsTheCalls(t *testing.T) {
	t.Parallel()
	env := newAppliance(t)
	cr := env.Demo.Credentials
	info, registry := env.Demo.Services["I"], env.Demo.Services["A"]
	codes := walkIns(t, env, info, 5)
	back := staff(t, env, cr.Backoffice)

	screen := newTab(t, 1280, 720)
	screen.Open(env.URL + "/display/?token=" + cr.DisplayToken)
	screen.WaitFor("the display", `window.avantiDisplay && avantiDisplay.state === "online"`, 10*time.Second)

	supervisor := signIn(t, env, cr.Backoffice, "supervisor")
	supervisor.WaitFor("the supervisor's live view", `window.avantiSupervisor && avantiSupervisor.snapshots > 0`, 10*time.Second)

	// The operator signs in, picks the first desk and the information service.
	b := signIn(t, env, cr.Operator, "desk")
	b.WaitFor("the desk chooser", `document.body.dataset.desk === "choose"`, 5*time.Second)
	b.Fill("#desk-select", fmt.Sprint(env.Demo.DeskIDs[0]))
	b.Click(fmt.Sprintf("#service-choices-%d", info))
	b.Click("#open-desk")
	b.WaitFor("the desk at work", `document.body.dataset.desk === "work" && document.body.dataset.deskState === "open"`, 5*time.Second)
	b.WaitFor("the queue panel", fmt.Sprintf(`document.querySelector('#queue-table tr[data-service="%d"] td').textContent === "5"`, info), 10*time.Second)
	b.WaitFor("the upcoming tickets", `document.querySelectorAll("#upcoming li .code").length > 0`, 10*time.Second)

	// F2 calls the first walk-in; the screen shows it and says why.
	b.Key("F2", "F2", 113)
	b.WaitFor("the first call", current(codes[0]), 5*time.Second)
	screen.WaitFor("the call on the display", fmt.Sprintf(`document.getElementById("latest-code").textContent === %s`, browsertest.JS(codes[0])), 5*time.Second)
	b.WaitFor("why this number", `!document.getElementById("why").hidden && document.getElementById("why-text").textContent.startsWith("Attende da")`, 5*time.Second)
	supervisor.WaitFor("the call on the supervisor's view", fmt.Sprintf(`[...document.querySelectorAll("tr[data-desk='%d'] td.code")].some(td => td.textContent.startsWith(%s))`, env.Demo.DeskIDs[0], browsertest.JS(codes[0])), 5*time.Second)
	b.Click(`button[data-action="start"]`)
	b.WaitFor("serving", `document.getElementById("cur-status").textContent === "in servizio"`, 5*time.Second)
	b.Screenshot("console-desk-serving")
	b.Click(`button[data-action="finish"]`)
	b.WaitFor("the desk free again", noCurrent, 5*time.Second)

	// Space (on the page, not in a field) calls the next one, who does not come.
	browsertest.Eval[bool](b, `document.activeElement.blur(), true`)
	b.Key(" ", "Space", 32)
	b.WaitFor("the second call", current(codes[1]), 5*time.Second)
	screen.WaitFor("the second call on the display", fmt.Sprintf(`document.getElementById("latest-code").textContent === %s`, browsertest.JS(codes[1])), 5*time.Second)
	b.Click(`button[data-action="recall"]`)
	b.WaitFor("the recall done", `!document.querySelector("#current [aria-busy]") && document.getElementById("desk-message").dataset.kind !== "error"`, 5*time.Second)
	screen.WaitFor("the recall on the display", `document.getElementById("latest").dataset.kind === "recall"`, 20*time.Second)
	b.Click(`button[data-action="no-show"]`)
	b.WaitFor("the desk free again", noCurrent, 5*time.Second)

	// The third goes to the registry office, with a note.
	b.Click("#call-next")
	b.WaitFor("the third call", current(codes[2]), 5*time.Second)
	b.Click("#transfer-open")
	b.WaitFor("the transfer dialog", `document.getElementById("transfer-dialog").open`, 5*time.Second)
	b.Fill("#transfer-service", fmt.Sprint(registry))
	b.Fill("#transfer-note", "Serve un certificato di residenza")
	b.Screenshot("console-desk-transfer")
	b.Click("#transfer-form button[type=submit]")
	b.WaitFor("the desk free again", noCurrent+` && !document.getElementById("transfer-dialog").open`, 5*time.Second)

	// A double click on "Chiama il prossimo" calls one citizen, not two.
	browsertest.Eval[bool](b, `(() => { const c = document.getElementById("call-next"); c.click(); c.click(); return true; })()`)
	b.WaitFor("the fourth call", current(codes[3]), 5*time.Second)
	time.Sleep(300 * time.Millisecond)

	plan := workPlan(t, back, info)
	want := map[string]string{codes[0]: "done", codes[1]: "no_show", codes[3]: "called", codes[4]: "waiting"}
	for code, status := range want {
		if plan[code].Status != status {
			t.Errorf("%s: %s, want %s", code, plan[code].Status, status)
		}
	}
	moved := workPlan(t, back, registry)[codes[2]]
	if moved.Status != "waiting" || moved.ServiceID != registry || moved.Note != "Serve un certificato di residenza" {
		t.Errorf("the transferred ticket: %+v", moved)
	}

	// A reload, or a second tab, shows the same desk with the same ticket
	// and why it was called.
	b.Open(env.URL + "/console/desk")
	b.WaitFor("the desk after a reload", `document.body.dataset.desk === "work"`+" && "+current(codes[3]), 10*time.Second)
	if browsertest.Eval[string](b, `document.getElementById("why-text").textContent`) == "" {
		t.Error("the reason is gone after a reload")
	}
	other := b.SameBrowser(1280, 800)
	other.Open(env.URL + "/console/desk")
	other.WaitFor("the desk in a second tab", current(codes[3]), 10*time.Second)
	// What one tab does, the other follows.
	other.Click(`button[data-action="start"]`)
	b.WaitFor("the first tab following", `document.getElementById("cur-status").textContent === "in servizio"`, 5*time.Second)
	b.Click(`button[data-action="finish"]`)
	other.WaitFor("the second tab following", `document.getElementById("current-ticket").hidden`, 5*time.Second)

	// A pause with its reason, then back to work, then the desk closes.
	b.Fill("#pause-reason", "training")
	b.Click("#pause")
	b.WaitFor("the pause", `document.body.dataset.deskState === "paused" && document.getElementById("call-next").disabled`, 5*time.Second)
	if got := b.Text("#desk-state"); !strings.Contains(got, "Formazione") {
		t.Errorf("paused badge: %q", got)
	}
	supervisor.WaitFor("the pause on the supervisor's view", fmt.Sprintf(`document.querySelector("tr[data-desk='%d']").dataset.state === "paused"`, env.Demo.DeskIDs[0]), 5*time.Second)
	supervisor.Screenshot("console-supervisor-live")
	b.Click(`button[data-action="resume"]`)
	b.WaitFor("back to work", `document.body.dataset.deskState === "open"`, 5*time.Second)
	b.Click("#close-desk")
	b.WaitFor("the desk closed", `document.body.dataset.desk === "choose"`, 5*time.Second)
	screen.Screenshot("console-display-calls")

	// A citizen booked by phone, identified, checks in at the totem: the
	// operator sees their name, phone and the note.
	tax := env.Demo.Services["T"]
	var booked struct {
		Token string `json:"token"`
		Code  string `json:"code"`
	}
	if st := back.JSON("POST", "/api/v1/tickets", map[string]any{"service_id": tax, "start": "2026-11-23T09:15:00+01:00", "channel": "phone",
		"citizen": map[string]string{"first_name": "Anna", "last_name": "Verdi", "phone": "3471234567"}}, &booked); st != 201 {
		t.Fatalf("phone booking: %d", st)
	}
	if st, raw := env.Device(t, cr.KioskToken).Do("POST", "/api/v1/tickets/"+booked.Token+"/checkin", nil); st != 200 {
		t.Fatalf("check-in: %d %s", st, raw)
	}
	b.Click(fmt.Sprintf("#service-choices-%d", info)) // last time's choice, off
	b.Click(fmt.Sprintf("#service-choices-%d", tax))
	b.Click("#open-desk")
	b.WaitFor("the desk at work", `document.body.dataset.desk === "work"`, 5*time.Second)
	b.Click("#call-next")
	b.WaitFor("the identified citizen", current(booked.Code)+` && document.getElementById("cur-citizen").textContent === "Anna Verdi" && document.getElementById("cur-phone").textContent === "3471234567"`, 5*time.Second)
	if got := b.Text("#cur-appointment"); got != "09:15" {
		t.Errorf("appointment: %q", got)
	}
	b.Screenshot("console-desk-citizen")

	// The day's statistics count what the desk did.
	supervisor.Open(env.URL + "/console/stats")
	ready(supervisor)
	supervisor.Fill("#stats-from", "2026-11-23")
	supervisor.Fill("#stats-to", "2026-11-23")
	supervisor.Click("#stats-form button[type=submit]")
	supervisor.WaitFor("the statistics", `[...document.querySelectorAll("#stats-table tbody tr")].some(tr => tr.cells[0].textContent === "Informazioni" && tr.cells[2].textContent === "2" && tr.cells[3].textContent === "1")`, 5*time.Second)
	supervisor.Screenshot("console-stats-day")
}
