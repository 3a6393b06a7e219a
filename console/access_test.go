package console_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"avanti/appliance/browsertest"
	"avanti/appliance/demo"
	"avanti/appliance/testenv"
	"avanti/console"
)

// Every console page for every role: shown to the roles it is for, "non
// autorizzato" to the others, the sign-in page to an anonymous visitor
// (who comes back to the page after signing in). Each page shown is also
// checked by axe-core and photographed.
func TestEveryPageForEveryRole(t *testing.T) {
	t.Parallel()
	env := newAppliance(t)
	cr := env.Demo.Credentials
	roles := []struct {
		role string
		who  *demo.Login
	}{
		{"anonymous", nil},
		{console.Operator, &cr.Operator},
		{console.Backoffice, &cr.Backoffice},
		{console.Admin, &cr.Admin},
	}
	// Each page is checked and photographed once, as the first role (in
	// this order) that may see it.
	shooter := map[string]string{}
	for _, p := range console.Pages() {
		for _, r := range roles {
			if (r.who == nil && len(p.Roles) == 0) || (r.who != nil && (len(p.Roles) == 0 || contains(p.Roles, r.role))) {
				shooter[p.Name] = r.role
				break
			}
		}
	}
	for _, r := range roles {
		t.Run(r.role, func(t *testing.T) {
			t.Parallel()
			b := newTab(t, 1440, 900)
			if r.who != nil {
				signInTab(b, env, *r.who, "")
			}
			for _, p := range console.Pages() {
				b.Open(env.URL + "/console/" + p.Path)
				got := ready(b)
				want := "ready"
				switch {
				case p.Name == "login" && r.who != nil:
					// Signed in already: on to the home page.
					if path := browsertest.Eval[string](b, `location.pathname`); path != "/console/" {
						t.Errorf("/console/login as %s: went to %s", r.role, path)
					}
				case p.Name == "login":
					want = "signin"
				case p.Name == "setup":
					// Public: it says the first-boot setup is done.
					if s := browsertest.Eval[string](b, `document.body.dataset.setup || ""`); s != "done" {
						t.Errorf("/console/setup as %s on a set-up appliance: %q", r.role, s)
					}
				case r.who == nil:
					want = "signin"
				case len(p.Roles) > 0 && !contains(p.Roles, r.role):
					want = "forbidden"
				}
				if got != want {
					t.Errorf("/console/%s as %s: %s, want %s; page: %s", p.Path, r.role, got, want, b.State())
					continue
				}
				switch want {
				case "signin":
					if p.Name != "login" {
						next := browsertest.Eval[string](b, `new URLSearchParams(location.search).get("next")`)
						if next != "/console/"+p.Path {
							t.Errorf("/console/%s as anonymous: sent to sign in with next=%q", p.Path, next)
						}
					}
				case "forbidden":
					if s := b.Text("#forbidden h1"); s != "Non autorizzato" {
						t.Errorf("/console/%s as %s: %q", p.Path, r.role, s)
					}
					if browsertest.Eval[bool](b, `!document.getElementById("content").hidden`) {
						t.Errorf("/console/%s as %s: the page's content is visible", p.Path, r.role)
					}
				case "ready":
					if p.Name == "setup" {
						break // a public page: it does not ask who is signed in
					}
					// The menu lists exactly the pages of the role.
					menu := browsertest.Eval[[]string](b, `[...document.querySelectorAll("#nav li:not([hidden]) a")].map(a => a.getAttribute("href"))`)
					var wantMenu []string
					for _, q := range console.Pages() {
						if q.Menu && contains(q.Roles, r.role) {
							wantMenu = append(wantMenu, q.Path)
						}
					}
					if strings.Join(menu, " ") != strings.Join(wantMenu, " ") {
						t.Errorf("/console/%s as %s: menu %v, want %v", p.Path, r.role, menu, wantMenu)
					}
				}
				if want == "forbidden" || (want == "signin" && p.Name != "login") {
					continue
				}
				// Each page once, as the first role that may see it: no serious
				// accessibility fault, and a picture of it.
				if shooter[p.Name] == r.role {
					b.WaitFor("the page's data", `!document.querySelector("[aria-busy=true]")`, 5*time.Second)
					time.Sleep(200 * time.Millisecond)
					b.Axe(p.Name)
					b.Screenshot("console-" + p.Name)
				}
			}
		})
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// A form on another site that posts to the appliance with the operator's
// cookie: the browser does not send a SameSite=Strict cookie cross-site,
// and without the CSRF header the API would refuse it anyway. The desk is
// unchanged.
func TestCrossSiteFormPostIsRefused(t *testing.T) {
	t.Parallel()
	env := newAppliance(t)
	cr := env.Demo.Credentials
	desk := env.Demo.DeskIDs[0]
	op := staff(t, env, cr.Operator)
	kiosk := env.Device(t, cr.KioskToken)
	st, raw := kiosk.Do("POST", "/api/v1/tickets", map[string]any{"service_id": env.Demo.Services["I"]})
	must(t, "walk-in", st, raw, 201)
	st, raw = op.Do("POST", fmt.Sprintf("/api/v1/desks/%d/open", desk), map[string]any{"service_ids": []int64{env.Demo.Services["I"]}})
	must(t, "open desk", st, raw, 200)

	// The operator's browser is signed in at the desk.
	b := signIn(t, env, cr.Operator, "desk")
	b.WaitFor("the desk", `document.body.dataset.desk === "work"`, 10*time.Second)

	// evil.example, on another port of another host name.
	var posted = make(chan string, 1)
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/done" {
			posted <- "done"
			return
		}
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprintf(w, `<!doctype html><title>Vinci un premio</title>
<iframe name="sink" id="sink"></iframe>
<form id="f" method="POST" action="%s/api/v1/desks/%d/call-next" target="sink"><input type="hidden" name="x" value="1"></form>
<script>document.getElementById("sink").onload = () => { if (window.sent) fetch("/done"); };
window.sent = true; document.getElementById("f").submit();</script>`, env.URL, desk)
	}))
	t.Cleanup(evil.Close)
	evilURL := strings.Replace(evil.URL, "127.0.0.1", "localhost", 1)
	attack := b.SameBrowser(1000, 700)
	attack.Open(evilURL + "/")
	select {
	case <-posted:
	case <-time.After(10 * time.Second):
		t.Fatal("the cross-site form was not submitted")
	}
	var d struct {
		State         string `json:"state"`
		CurrentTicket *struct {
			Code string `json:"code"`
		} `json:"current_ticket"`
		CurrentTicketID int64 `json:"current_ticket_id"`
	}
	if st := op.JSON("GET", fmt.Sprintf("/api/v1/desks/%d", desk), nil, &d); st != 200 {
		t.Fatalf("desk: %d", st)
	}
	if d.CurrentTicket != nil || d.CurrentTicketID != 0 {
		t.Errorf("the cross-site post called a ticket: %+v", d)
	}
	// And with the cookie but without the token (a same-site attacker that
	// got the cookie sent): refused too.
	op2 := staff(t, env, cr.Operator)
	op2.CSRF = ""
	if st, raw := op2.Do("POST", fmt.Sprintf("/api/v1/desks/%d/call-next", desk), nil); st != 403 || !strings.Contains(string(raw), "csrf_token_invalid") {
		t.Errorf("call-next without the CSRF token: %d %s", st, raw)
	}
	if st := op.JSON("GET", fmt.Sprintf("/api/v1/desks/%d", desk), nil, &d); st != 200 || d.CurrentTicket != nil || d.CurrentTicketID != 0 {
		t.Errorf("desk after the refused posts: %d %+v", st, d)
	}
}

// Sign-in says what went wrong: wrong password, locked until when, not
// allowed; and after signing in the visitor is where they wanted to go.
func TestSignInSaysWhatWentWrong(t *testing.T) {
	t.Parallel()
	env := newAppliance(t)
	cr := env.Demo.Credentials
	b := newTab(t, 1280, 800)
	b.Open(env.URL + "/console/workplan")
	if got := ready(b); got != "signin" {
		t.Fatalf("anonymous on the work plan: %s", got)
	}
	b.Fill("#signin-username", cr.Backoffice.Username)
	b.Fill("#signin-password", "sbagliata")
	b.Click("#signin-form button[type=submit]")
	b.WaitFor("the error", `document.getElementById("signin-error").textContent !== ""`, 5*time.Second)
	if got := b.Text("#signin-error"); got != "Nome utente o password errati." {
		t.Errorf("wrong password: %q", got)
	}
	if v := browsertest.Eval[string](b, `document.getElementById("signin-username").value`); v != cr.Backoffice.Username {
		t.Errorf("the username typed is gone: %q", v)
	}
	b.Screenshot("console-login-error")
	// Enough failures lock the account for a while.
	for i := 0; i < 10 && browsertest.Eval[string](b, `document.body.dataset.signinError || ""`) != "account_locked"; i++ {
		b.Fill("#signin-password", "sbagliata")
		b.Click("#signin-form button[type=submit]")
		b.WaitFor("an answer", `!document.querySelector("#signin-form button[type=submit]").disabled`, 5*time.Second)
		time.Sleep(100 * time.Millisecond)
	}
	if got := b.Text("#signin-error"); !strings.HasPrefix(got, "Account bloccato per troppi tentativi") {
		t.Errorf("locked: %q", got)
	}
	// A directory user in no allowed group (the wording; the directory
	// itself is tested in appliance/api).
	got := browsertest.EvalAwait[string](b, `import("./a/`+console.Version()+`/shell.js").then(m => m.loginError({code: "not_allowed", details: {}}))`)
	if got != "Non sei autorizzato ad accedere alla console: chiedi all'amministratore." {
		t.Errorf("not allowed: %q", got)
	}
	// The lock ends; signing in goes on to the work plan.
	env.Clock.Advance(time.Hour)
	b.Fill("#signin-password", cr.Backoffice.Password)
	b.Click("#signin-form button[type=submit]")
	b.WaitFor("the work plan", `location.pathname === "/console/workplan" && document.body.dataset.state === "ready"`, 10*time.Second)
	// Signing out ends the session: the page asks to sign in again.
	b.Click("#logout")
	b.WaitFor("the sign-in page", `location.pathname === "/console/login"`, 5*time.Second)
	b.Open(env.URL + "/console/workplan")
	if got := ready(b); got != "signin" {
		t.Errorf("after signing out: %s", got)
	}
}

// The session expires while someone is typing: the sign-in dialog opens
// over the page, and once signed in again what was typed is still there
// and is sent.
func TestExpiredSessionKeepsWhatWasTyped(t *testing.T) {
	t.Parallel()
	env := newAppliance(t)
	cr := env.Demo.Credentials
	b := signIn(t, env, cr.Admin, "services")
	b.Fill("#svc-name", "Edilizia privata")
	b.Fill("#svc-prefix", "E")
	b.Fill("#svc-notes", "Portare la planimetria.")
	// Two idle hours and more: the session is over.
	env.Clock.Advance(2*time.Hour + time.Minute)
	b.Click("#service-form button[type=submit]")
	b.WaitFor("the sign-in dialog", `document.getElementById("signin-dialog").open`, 5*time.Second)
	if v := browsertest.Eval[string](b, `document.getElementById("signin-dialog-username").value`); v != cr.Admin.Username {
		t.Errorf("the dialog's username: %q", v)
	}
	b.Screenshot("console-session-expired")
	b.Fill("#signin-dialog-password", cr.Admin.Password)
	b.Click("#signin-dialog-form button[type=submit]")
	b.WaitFor("the service saved", `[...document.querySelectorAll("#service-table th")].some(th => th.textContent === "Edilizia privata")`, 10*time.Second)
	if v := browsertest.Eval[string](b, `document.getElementById("svc-notes").value`); v != "Portare la planimetria." {
		t.Errorf("notes after signing in again: %q", v)
	}
	admin := staff(t, env, cr.Admin)
	var list struct {
		Services []struct {
			Name, Prefix, Notes string
		} `json:"services"`
	}
	admin.JSON("GET", "/api/v1/services?all=true", nil, &list)
	found := false
	for _, s := range list.Services {
		if s.Name == "Edilizia privata" && s.Prefix == "E" && s.Notes == "Portare la planimetria." {
			found = true
		}
	}
	if !found {
		t.Errorf("the service was not saved as typed: %+v", list.Services)
	}
}

var _ = testenv.Monday
