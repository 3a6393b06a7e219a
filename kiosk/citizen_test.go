package kiosk_test

import (
	"avanti/appliance/browsertest"
	"fmt"
	"strings"
	"testing"
	"time"
)

// typeOn presses the on-screen keyboard's keys for text.
func typeOn(b *tab, text string) {
	b.T.Helper()
	for _, r := range text {
		key := string(r)
		if r == ' ' {
			key = "space"
		}
		b.Click(fmt.Sprintf(`#keyboard button[data-key=%s]`, browsertest.JS(key)))
	}
}

// bigTargets fails the test for every visible button smaller than 64 px
// either way: the totem is used with a finger.
func bigTargets(b *tab, what string) {
	b.T.Helper()
	small := browsertest.Eval[[]string](b, `[...document.querySelectorAll("button")].filter(e => e.getClientRects().length > 0).map(e => {
		const r = e.getBoundingClientRect();
		return r.width < 64 || r.height < 64 ? (e.id || e.className) + " " + Math.round(r.width) + "x" + Math.round(r.height) : "";
	}).filter(Boolean)`)
	for _, s := range small {
		b.T.Errorf("%s: a touch target smaller than 64 px: %s", what, s)
	}
}

// A citizen without the health card identifies with phone and name on the
// on-screen keyboard, books Informazioni for another day and time, moves
// the appointment, prints it again and revokes it.
func TestIdentifiedCitizenBooksMovesReprintsAndRevokes(t *testing.T) {
	env := newAppliance(t)
	totem := openTotem(t, env)
	totem.Click("#start")
	totem.WaitFor("services", shows("services"), 5*time.Second)
	totem.Click("#to-identify")
	totem.WaitFor("identification", shows("identify"), 5*time.Second)
	if got := totem.Text("#v-identify"); !strings.Contains(got, "Passa la tessera sanitaria sul lettore") || !strings.Contains(got, "Non ho la tessera: telefono e nome") {
		t.Errorf("identification page %q", got)
	}
	totem.Screenshot("kiosk-identify")
	totem.Axe("identify")
	bigTargets(totem, "identify")

	totem.Click("#identify-weak")
	totem.WaitFor("the form", shows("weak"), 5*time.Second)
	totem.Click("#weak-submit")
	totem.WaitFor("phone required", `document.getElementById("weak-error").textContent === "Scrivi il numero di telefono."`, 5*time.Second)
	typeOn(totem, "3331234567")
	totem.Click("#weak-submit")
	totem.WaitFor("names required", `document.getElementById("weak-error").textContent === "Scrivi nome e cognome."`, 5*time.Second)
	if layout := browsertest.Eval[string](totem, `document.getElementById("keyboard").dataset.layout`); layout != "letters" {
		t.Errorf("for the name the keyboard shows %s", layout)
	}
	typeOn(totem, "MARIO")
	totem.Click("#weak-last")
	typeOn(totem, "ROSSI")
	if got := browsertest.Eval[[]string](totem, `["weak-phone", "weak-first", "weak-last"].map(id => document.getElementById(id).value)`); strings.Join(got, "|") != "3331234567|MARIO|ROSSI" {
		t.Errorf("the form holds %q", got)
	}
	totem.Screenshot("kiosk-weak-keyboard")
	totem.Axe("phone and name")
	bigTargets(totem, "keyboard")
	totem.Click("#weak-submit")
	totem.WaitFor("the citizen's page", shows("citizen"), 5*time.Second)
	page := totem.Text("#v-citizen")
	for _, want := range []string{"Buongiorno MARIO ROSSI", "333****567", "Non hai appuntamenti prenotati."} {
		if !strings.Contains(page, want) {
			t.Errorf("citizen page lacks %q: %q", want, page)
		}
	}

	// Another day: tomorrow, the first time of the second page of times.
	totem.Click("#citizen-new")
	totem.WaitFor("services", shows("services"), 5*time.Second)
	if got := totem.Text("#services-who"); got != "Prenotazione per MARIO ROSSI" {
		t.Errorf("services say %q", got)
	}
	info := fmt.Sprint(env.Demo.Services["I"])
	totem.Click(`.service[data-service-id="` + info + `"]`)
	totem.WaitFor("the service page", shows("service"), 5*time.Second)
	totem.Click("#service-other")
	totem.WaitFor("the days", shows("days")+` && document.querySelectorAll("#day-grid .day").length > 0`, 5*time.Second)
	days := browsertest.Eval[[]string](totem, `[...document.querySelectorAll("#day-grid .day")].map(e => e.dataset.date)`)
	if len(days) < 7 || days[0] != "2026-11-23" || days[1] != "2026-11-24" {
		t.Errorf("days offered %v", days)
	}
	if got := totem.Text(`.day[data-date="2026-11-24"]`); !strings.Contains(got, "domani") || !strings.Contains(got, "24") || !strings.Contains(got, "novembre") || !strings.Contains(got, "posti") {
		t.Errorf("tomorrow's button %q", got)
	}
	totem.Screenshot("kiosk-days")
	totem.Axe("days")
	bigTargets(totem, "days")
	totem.Click(`.day[data-date="2026-11-24"]`)
	totem.WaitFor("the times", shows("times"), 5*time.Second)
	if got := totem.Text("#times-pager"); !strings.Contains(got, "pagina 1 di") {
		t.Errorf("times pager %q", got)
	}
	totem.Click("#times-pager .page-next")
	totem.WaitFor("the second page of times", `document.querySelector("#times-pager .page-of").textContent.startsWith("pagina 2 di")`, 5*time.Second)
	start := browsertest.Eval[string](totem, `document.querySelector("#time-grid .time").dataset.start`)
	hhmm := browsertest.Eval[string](totem, `document.querySelector("#time-grid .time").textContent`)
	if !strings.HasPrefix(start, "2026-11-24T") || start[11:16] != hhmm {
		t.Errorf("first time of page 2: %s (%s)", start, hhmm)
	}
	totem.Screenshot("kiosk-times")
	totem.Axe("times")
	bigTargets(totem, "times")
	totem.Click("#time-grid .time")
	totem.WaitFor("the confirmation", shows("confirm"), 5*time.Second)
	if got := totem.Text("#confirm-text"); got != "Informazioni, domani alle "+hhmm {
		t.Errorf("confirmation says %q", got)
	}
	totem.Screenshot("kiosk-confirm")
	totem.Axe("confirm")
	totem.Click("#confirm-yes")
	totem.WaitFor("the appointment's ticket", shows("ticket")+` && avantiKiosk.ticket.print.state === "ok"`, 10*time.Second)
	if got := totem.Text("#ticket-title"); got != "Appuntamento prenotato" {
		t.Errorf("ticket title %q", got)
	}
	booked := browsertest.Eval[struct{ Token, Code string }](totem, `avantiKiosk.ticket`)
	if tk := getTicket(t, env, booked.Token); tk.Status != "booked" || tk.Start.Format(time.RFC3339)[:16] != start[:16] {
		t.Errorf("booked ticket %+v, want booked at %s", tk, start)
	}
	totem.Screenshot("kiosk-booked")

	totem.Click("#ticket-done")
	totem.WaitFor("the citizen's page", shows("citizen")+` && document.querySelectorAll(".appointment").length === 1`, 5*time.Second)
	if got := totem.Text(".appointment"); !strings.Contains(got, booked.Code) || !strings.Contains(got, "domani alle "+hhmm) || !strings.Contains(got, "prenotato") {
		t.Errorf("the appointment reads %q", got)
	}
	totem.Screenshot("kiosk-citizen")
	totem.Axe("citizen")
	bigTargets(totem, "citizen")

	// Move it to the day after.
	totem.Click(".appointment .move")
	totem.WaitFor("the days", shows("days"), 5*time.Second)
	totem.Click(`.day[data-date="2026-11-25"]`)
	totem.WaitFor("the times", shows("times"), 5*time.Second)
	newStart := browsertest.Eval[string](totem, `document.querySelector("#time-grid .time").dataset.start`)
	totem.Click("#time-grid .time")
	totem.WaitFor("the confirmation", shows("confirm"), 5*time.Second)
	if got := totem.Text("#confirm-text"); got != "Spostare "+booked.Code+" a mercoledì 25 novembre alle "+newStart[11:16]+"?" {
		t.Errorf("move confirmation says %q", got)
	}
	totem.Click("#confirm-yes")
	totem.WaitFor("the moved appointment", shows("ticket")+` && avantiKiosk.ticket.print.state === "ok"`, 10*time.Second)
	if got := totem.Text("#ticket-title"); got != "Appuntamento spostato" {
		t.Errorf("ticket title %q", got)
	}
	moved := browsertest.Eval[struct{ Token, Code string }](totem, `avantiKiosk.ticket`)
	if got := getTicket(t, env, booked.Token).Status; got != "revoked" {
		t.Errorf("the old appointment is %s, want revoked", got)
	}
	if tk := getTicket(t, env, moved.Token); tk.Status != "booked" || !strings.HasPrefix(tk.Start.Format(time.RFC3339), "2026-11-25") {
		t.Errorf("moved ticket %+v", tk)
	}
	totem.Click("#ticket-done")
	totem.WaitFor("the citizen's page", shows("citizen")+fmt.Sprintf(` && document.querySelector(".appointment") && document.querySelector(".appointment").dataset.token === %s`, browsertest.JS(moved.Token)), 5*time.Second)
	if n := browsertest.Eval[int](totem, `document.querySelectorAll(".appointment").length`); n != 1 {
		t.Errorf("%d appointments listed after the move, want 1", n)
	}

	// Print it again: the same ticket.
	totem.Click(".appointment .reprint")
	totem.WaitFor("the reprint", shows("ticket")+` && avantiKiosk.ticket.print.state === "ok"`, 10*time.Second)
	if got := browsertest.Eval[string](totem, `avantiKiosk.ticket.code`); got != moved.Code {
		t.Errorf("reprinted %s, want %s", got, moved.Code)
	}
	totem.Click("#ticket-done")
	totem.WaitFor("the citizen's page", shows("citizen"), 5*time.Second)

	// Revoke it.
	totem.Click(".appointment .revoke")
	totem.WaitFor("the question", shows("confirm"), 5*time.Second)
	if got := totem.Text("#confirm-title"); got != "Annullare l'appuntamento?" {
		t.Errorf("revoke asks %q", got)
	}
	totem.Screenshot("kiosk-revoke")
	totem.Click("#confirm-yes")
	totem.WaitFor("revoked", message("revoked"), 5*time.Second)
	if got := getTicket(t, env, moved.Token).Status; got != "revoked" {
		t.Errorf("the appointment is %s, want revoked", got)
	}
	totem.Click("#message-actions button")
	totem.WaitFor("no appointments", shows("citizen")+` && document.querySelectorAll(".appointment").length === 0`, 5*time.Second)
}

// Left alone, the totem goes back to standby after idle_sec (set live by
// the admin) and forgets the citizen: no field, list or text keeps their
// data, and the language is Italian again.
func TestIdleTotemForgetsTheCitizen(t *testing.T) {
	env := newAppliance(t)
	totem := openTotem(t, env)
	configure(t, env, map[string]any{"idle_sec": 10, "info_text": "Gli uffici chiudono alle 12:30."})
	totem.WaitFor("the new settings", `avantiKiosk.settings.idle_sec === 10 && document.getElementById("standby-info").textContent === "Gli uffici chiudono alle 12:30."`, 5*time.Second)

	totem.Click("#lang")
	totem.WaitFor("English", `avantiKiosk.lang === "en"`, 2*time.Second)
	if got := totem.Text("#v-standby"); !strings.Contains(got, "Touch the screen or swipe your health card") {
		t.Errorf("English standby says %q", got)
	}
	totem.Click("#start")
	totem.WaitFor("services", shows("services"), 5*time.Second)
	if got := totem.Text("#services-title"); !strings.Contains(got, "Choose a service") {
		t.Errorf("English services heading %q", got)
	}
	totem.Screenshot("kiosk-services-en")
	totem.Axe("services in English")
	totem.Click("#to-identify")
	totem.Click("#identify-weak")
	totem.WaitFor("the form", shows("weak"), 5*time.Second)
	typeOn(totem, "3339876543")
	totem.Click("#weak-first")
	typeOn(totem, "GIULIA")
	totem.Click("#weak-last")
	typeOn(totem, "BIANCHI")
	totem.Click("#weak-submit")
	totem.WaitFor("the citizen's page", shows("citizen"), 5*time.Second)
	if got := totem.Text("#citizen-hello"); got != "Hello GIULIA BIANCHI" {
		t.Errorf("greeting %q", got)
	}
	// Back to the form and leave it half filled.
	totem.Click("#citizen-new")
	totem.WaitFor("services", shows("services"), 5*time.Second)
	totem.Click("#to-scan")
	totem.WaitFor("the idle warning", `document.getElementById("idle-warning").textContent.includes("Going back to the start")`, 12*time.Second)
	totem.Screenshot("kiosk-idle-warning")
	totem.WaitFor("standby", shows("standby"), 12*time.Second)
	left := browsertest.Eval[string](totem, `[...document.querySelectorAll("input")].map(e => e.value).join("") + document.body.textContent`)
	for _, personal := range []string{"GIULIA", "BIANCHI", "3339876543", "333****543"} {
		if strings.Contains(left, personal) {
			t.Errorf("after the reset the page still holds %q", personal)
		}
	}
	if got := browsertest.Eval[string](totem, `avantiKiosk.lang + " " + avantiKiosk.identified`); got != "it false" {
		t.Errorf("after the reset: %s", got)
	}
	if got := totem.Text("#v-standby"); !strings.Contains(got, "Tocca lo schermo o passa la tessera sanitaria") || !strings.Contains(got, "Gli uffici chiudono alle 12:30.") {
		t.Errorf("standby says %q", got)
	}
	totem.Screenshot("kiosk-standby-info")
}

// With the browser zoomed to 200 % (or a screen magnifier), nothing runs
// off the side of the screen and every page still works.
func TestPagesWorkZoomedTo200Percent(t *testing.T) {
	env := newAppliance(t)
	totem := openTotem(t, env)
	zoom(totem, screenW, screenH, 2)
	overflow := `document.documentElement.scrollWidth > window.innerWidth + 1`
	for _, step := range []struct{ click, view string }{
		{"#start", "services"},
		{fmt.Sprintf(`.service[data-service-id="%d"]`, env.Demo.Services["I"]), "service"},
		{"#service-other", "identify"},
		{"#identify-weak", "weak"},
	} {
		totem.Click(step.click)
		totem.WaitFor(step.view, shows(step.view), 5*time.Second)
		if browsertest.Eval[bool](totem, overflow) {
			t.Errorf("%s at 200%%: the page is %d px wide in a %d px window", step.view,
				browsertest.Eval[int](totem, `document.documentElement.scrollWidth`), browsertest.Eval[int](totem, `window.innerWidth`))
		}
	}
	if size := browsertest.Eval[float64](totem, `parseFloat(getComputedStyle(document.documentElement).fontSize)`); size < 18 {
		t.Errorf("root font size %.1f px at 200%%", size)
	}
	totem.Screenshot("kiosk-zoom-200")
	typeOn(totem, "3331234567")
	if got := browsertest.Eval[string](totem, `document.getElementById("weak-phone").value`); got != "3331234567" {
		t.Errorf("zoomed keyboard typed %q", got)
	}
}
