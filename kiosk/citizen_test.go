package kiosk_test

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// typeOn presses the on-screen keyboard's keys for text.
func (b *tab) typeOn(text string) {
	b.t.Helper()
	for _, r := range text {
		key := string(r)
		if r == ' ' {
			key = "space"
		}
		b.click(fmt.Sprintf(`#keyboard button[data-key=%s]`, js(key)))
	}
}

// bigTargets fails the test for every visible button smaller than 64 px
// either way: the totem is used with a finger.
func (b *tab) bigTargets(what string) {
	b.t.Helper()
	small := eval[[]string](b, `[...document.querySelectorAll("button")].filter(e => e.getClientRects().length > 0).map(e => {
		const r = e.getBoundingClientRect();
		return r.width < 64 || r.height < 64 ? (e.id || e.className) + " " + Math.round(r.width) + "x" + Math.round(r.height) : "";
	}).filter(Boolean)`)
	for _, s := range small {
		b.t.Errorf("%s: a touch target smaller than 64 px: %s", what, s)
	}
}

// A citizen without the health card identifies with phone and name on the
// on-screen keyboard, books Informazioni for another day and time, moves
// the appointment, prints it again and revokes it.
func TestIdentifiedCitizenBooksMovesReprintsAndRevokes(t *testing.T) {
	env := newAppliance(t)
	totem := openTotem(t, env)
	totem.click("#start")
	totem.waitFor("services", shows("services"), 5*time.Second)
	totem.click("#to-identify")
	totem.waitFor("identification", shows("identify"), 5*time.Second)
	if got := totem.text("#v-identify"); !strings.Contains(got, "Passa la tessera sanitaria sul lettore") || !strings.Contains(got, "Non ho la tessera: telefono e nome") {
		t.Errorf("identification page %q", got)
	}
	totem.screenshot("kiosk-identify")
	totem.axe("identify")
	totem.bigTargets("identify")

	totem.click("#identify-weak")
	totem.waitFor("the form", shows("weak"), 5*time.Second)
	totem.click("#weak-submit")
	totem.waitFor("phone required", `document.getElementById("weak-error").textContent === "Scrivi il numero di telefono."`, 5*time.Second)
	totem.typeOn("3331234567")
	totem.click("#weak-submit")
	totem.waitFor("names required", `document.getElementById("weak-error").textContent === "Scrivi nome e cognome."`, 5*time.Second)
	if layout := eval[string](totem, `document.getElementById("keyboard").dataset.layout`); layout != "letters" {
		t.Errorf("for the name the keyboard shows %s", layout)
	}
	totem.typeOn("MARIO")
	totem.click("#weak-last")
	totem.typeOn("ROSSI")
	if got := eval[[]string](totem, `["weak-phone", "weak-first", "weak-last"].map(id => document.getElementById(id).value)`); strings.Join(got, "|") != "3331234567|MARIO|ROSSI" {
		t.Errorf("the form holds %q", got)
	}
	totem.screenshot("kiosk-weak-keyboard")
	totem.axe("phone and name")
	totem.bigTargets("keyboard")
	totem.click("#weak-submit")
	totem.waitFor("the citizen's page", shows("citizen"), 5*time.Second)
	page := totem.text("#v-citizen")
	for _, want := range []string{"Buongiorno MARIO ROSSI", "333****567", "Non hai appuntamenti prenotati."} {
		if !strings.Contains(page, want) {
			t.Errorf("citizen page lacks %q: %q", want, page)
		}
	}

	// Another day: tomorrow, the first time of the second page of times.
	totem.click("#citizen-new")
	totem.waitFor("services", shows("services"), 5*time.Second)
	if got := totem.text("#services-who"); got != "Prenotazione per MARIO ROSSI" {
		t.Errorf("services say %q", got)
	}
	info := fmt.Sprint(env.Demo.Services["I"])
	totem.click(`.service[data-service-id="` + info + `"]`)
	totem.waitFor("the service page", shows("service"), 5*time.Second)
	totem.click("#service-other")
	totem.waitFor("the days", shows("days")+` && document.querySelectorAll("#day-grid .day").length > 0`, 5*time.Second)
	days := eval[[]string](totem, `[...document.querySelectorAll("#day-grid .day")].map(e => e.dataset.date)`)
	if len(days) < 7 || days[0] != "2026-11-23" || days[1] != "2026-11-24" {
		t.Errorf("days offered %v", days)
	}
	if got := totem.text(`.day[data-date="2026-11-24"]`); !strings.Contains(got, "domani") || !strings.Contains(got, "24") || !strings.Contains(got, "novembre") || !strings.Contains(got, "posti") {
		t.Errorf("tomorrow's button %q", got)
	}
	totem.screenshot("kiosk-days")
	totem.axe("days")
	totem.bigTargets("days")
	totem.click(`.day[data-date="2026-11-24"]`)
	totem.waitFor("the times", shows("times"), 5*time.Second)
	if got := totem.text("#times-pager"); !strings.Contains(got, "pagina 1 di") {
		t.Errorf("times pager %q", got)
	}
	totem.click("#times-pager .page-next")
	totem.waitFor("the second page of times", `document.querySelector("#times-pager .page-of").textContent.startsWith("pagina 2 di")`, 5*time.Second)
	start := eval[string](totem, `document.querySelector("#time-grid .time").dataset.start`)
	hhmm := eval[string](totem, `document.querySelector("#time-grid .time").textContent`)
	if !strings.HasPrefix(start, "2026-11-24T") || start[11:16] != hhmm {
		t.Errorf("first time of page 2: %s (%s)", start, hhmm)
	}
	totem.screenshot("kiosk-times")
	totem.axe("times")
	totem.bigTargets("times")
	totem.click("#time-grid .time")
	totem.waitFor("the confirmation", shows("confirm"), 5*time.Second)
	if got := totem.text("#confirm-text"); got != "Informazioni, domani alle "+hhmm {
		t.Errorf("confirmation says %q", got)
	}
	totem.screenshot("kiosk-confirm")
	totem.axe("confirm")
	totem.click("#confirm-yes")
	totem.waitFor("the appointment's ticket", shows("ticket")+` && avantiKiosk.ticket.print.state === "ok"`, 10*time.Second)
	if got := totem.text("#ticket-title"); got != "Appuntamento prenotato" {
		t.Errorf("ticket title %q", got)
	}
	booked := eval[struct{ Token, Code string }](totem, `avantiKiosk.ticket`)
	if tk := getTicket(t, env, booked.Token); tk.Status != "booked" || tk.Start.Format(time.RFC3339)[:16] != start[:16] {
		t.Errorf("booked ticket %+v, want booked at %s", tk, start)
	}
	totem.screenshot("kiosk-booked")

	totem.click("#ticket-done")
	totem.waitFor("the citizen's page", shows("citizen")+` && document.querySelectorAll(".appointment").length === 1`, 5*time.Second)
	if got := totem.text(".appointment"); !strings.Contains(got, booked.Code) || !strings.Contains(got, "domani alle "+hhmm) || !strings.Contains(got, "prenotato") {
		t.Errorf("the appointment reads %q", got)
	}
	totem.screenshot("kiosk-citizen")
	totem.axe("citizen")
	totem.bigTargets("citizen")

	// Move it to the day after.
	totem.click(".appointment .move")
	totem.waitFor("the days", shows("days"), 5*time.Second)
	totem.click(`.day[data-date="2026-11-25"]`)
	totem.waitFor("the times", shows("times"), 5*time.Second)
	newStart := eval[string](totem, `document.querySelector("#time-grid .time").dataset.start`)
	totem.click("#time-grid .time")
	totem.waitFor("the confirmation", shows("confirm"), 5*time.Second)
	if got := totem.text("#confirm-text"); got != "Spostare "+booked.Code+" a mercoledì 25 novembre alle "+newStart[11:16]+"?" {
		t.Errorf("move confirmation says %q", got)
	}
	totem.click("#confirm-yes")
	totem.waitFor("the moved appointment", shows("ticket")+` && avantiKiosk.ticket.print.state === "ok"`, 10*time.Second)
	if got := totem.text("#ticket-title"); got != "Appuntamento spostato" {
		t.Errorf("ticket title %q", got)
	}
	moved := eval[struct{ Token, Code string }](totem, `avantiKiosk.ticket`)
	if got := getTicket(t, env, booked.Token).Status; got != "revoked" {
		t.Errorf("the old appointment is %s, want revoked", got)
	}
	if tk := getTicket(t, env, moved.Token); tk.Status != "booked" || !strings.HasPrefix(tk.Start.Format(time.RFC3339), "2026-11-25") {
		t.Errorf("moved ticket %+v", tk)
	}
	totem.click("#ticket-done")
	totem.waitFor("the citizen's page", shows("citizen")+fmt.Sprintf(` && document.querySelector(".appointment") && document.querySelector(".appointment").dataset.token === %s`, js(moved.Token)), 5*time.Second)
	if n := eval[int](totem, `document.querySelectorAll(".appointment").length`); n != 1 {
		t.Errorf("%d appointments listed after the move, want 1", n)
	}

	// Print it again: the same ticket.
	totem.click(".appointment .reprint")
	totem.waitFor("the reprint", shows("ticket")+` && avantiKiosk.ticket.print.state === "ok"`, 10*time.Second)
	if got := eval[string](totem, `avantiKiosk.ticket.code`); got != moved.Code {
		t.Errorf("reprinted %s, want %s", got, moved.Code)
	}
	totem.click("#ticket-done")
	totem.waitFor("the citizen's page", shows("citizen"), 5*time.Second)

	// Revoke it.
	totem.click(".appointment .revoke")
	totem.waitFor("the question", shows("confirm"), 5*time.Second)
	if got := totem.text("#confirm-title"); got != "Annullare l'appuntamento?" {
		t.Errorf("revoke asks %q", got)
	}
	totem.screenshot("kiosk-revoke")
	totem.click("#confirm-yes")
	totem.waitFor("revoked", message("revoked"), 5*time.Second)
	if got := getTicket(t, env, moved.Token).Status; got != "revoked" {
		t.Errorf("the appointment is %s, want revoked", got)
	}
	totem.click("#message-actions button")
	totem.waitFor("no appointments", shows("citizen")+` && document.querySelectorAll(".appointment").length === 0`, 5*time.Second)
}

// Left alone, the totem goes back to standby after idle_sec (set live by
// the admin) and forgets the citizen: no field, list or text keeps their
// data, and the language is Italian again.
func TestIdleTotemForgetsTheCitizen(t *testing.T) {
	env := newAppliance(t)
	totem := openTotem(t, env)
	configure(t, env, map[string]any{"idle_sec": 10, "info_text": "Gli uffici chiudono alle 12:30."})
	totem.waitFor("the new settings", `avantiKiosk.settings.idle_sec === 10 && document.getElementById("standby-info").textContent === "Gli uffici chiudono alle 12:30."`, 5*time.Second)

	totem.click("#lang")
	totem.waitFor("English", `avantiKiosk.lang === "en"`, 2*time.Second)
	if got := totem.text("#v-standby"); !strings.Contains(got, "Touch the screen or swipe your health card") {
		t.Errorf("English standby says %q", got)
	}
	totem.click("#start")
	totem.waitFor("services", shows("services"), 5*time.Second)
	if got := totem.text("#services-title"); !strings.Contains(got, "Choose a service") {
		t.Errorf("English services heading %q", got)
	}
	totem.screenshot("kiosk-services-en")
	totem.axe("services in English")
	totem.click("#to-identify")
	totem.click("#identify-weak")
	totem.waitFor("the form", shows("weak"), 5*time.Second)
	totem.typeOn("3339876543")
	totem.click("#weak-first")
	totem.typeOn("GIULIA")
	totem.click("#weak-last")
	totem.typeOn("BIANCHI")
	totem.click("#weak-submit")
	totem.waitFor("the citizen's page", shows("citizen"), 5*time.Second)
	if got := totem.text("#citizen-hello"); got != "Hello GIULIA BIANCHI" {
		t.Errorf("greeting %q", got)
	}
	// Back to the form and leave it half filled.
	totem.click("#citizen-new")
	totem.waitFor("services", shows("services"), 5*time.Second)
	totem.click("#to-scan")
	totem.waitFor("the idle warning", `document.getElementById("idle-warning").textContent.includes("Going back to the start")`, 12*time.Second)
	totem.screenshot("kiosk-idle-warning")
	totem.waitFor("standby", shows("standby"), 12*time.Second)
	left := eval[string](totem, `[...document.querySelectorAll("input")].map(e => e.value).join("") + document.body.textContent`)
	for _, personal := range []string{"GIULIA", "BIANCHI", "3339876543", "333****543"} {
		if strings.Contains(left, personal) {
			t.Errorf("after the reset the page still holds %q", personal)
		}
	}
	if got := eval[string](totem, `avantiKiosk.lang + " " + avantiKiosk.identified`); got != "it false" {
		t.Errorf("after the reset: %s", got)
	}
	if got := totem.text("#v-standby"); !strings.Contains(got, "Tocca lo schermo o passa la tessera sanitaria") || !strings.Contains(got, "Gli uffici chiudono alle 12:30.") {
		t.Errorf("standby says %q", got)
	}
	totem.screenshot("kiosk-standby-info")
}

// With the browser zoomed to 200 % (or a screen magnifier), nothing runs
// off the side of the screen and every page still works.
func TestPagesWorkZoomedTo200Percent(t *testing.T) {
	env := newAppliance(t)
	totem := openTotem(t, env)
	totem.zoom(screenW, screenH, 2)
	overflow := `document.documentElement.scrollWidth > window.innerWidth + 1`
	for _, step := range []struct{ click, view string }{
		{"#start", "services"},
		{fmt.Sprintf(`.service[data-service-id="%d"]`, env.Demo.Services["I"]), "service"},
		{"#service-other", "identify"},
		{"#identify-weak", "weak"},
	} {
		totem.click(step.click)
		totem.waitFor(step.view, shows(step.view), 5*time.Second)
		if eval[bool](totem, overflow) {
			t.Errorf("%s at 200%%: the page is %d px wide in a %d px window", step.view,
				eval[int](totem, `document.documentElement.scrollWidth`), eval[int](totem, `window.innerWidth`))
		}
	}
	if size := eval[float64](totem, `parseFloat(getComputedStyle(document.documentElement).fontSize)`); size < 18 {
		t.Errorf("root font size %.1f px at 200%%", size)
	}
	totem.screenshot("kiosk-zoom-200")
	totem.typeOn("3331234567")
	if got := eval[string](totem, `document.getElementById("weak-phone").value`); got != "3331234567" {
		t.Errorf("zoomed keyboard typed %q", got)
	}
}
