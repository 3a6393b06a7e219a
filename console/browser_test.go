package console_test

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"avanti/appliance/browsertest"
	"avanti/appliance/demo"
	"avanti/appliance/server"
	"avanti/appliance/testenv"
	"avanti/console"
	"avanti/signage"
)

// The browser tests drive Debian's chromium (appliance/browsertest),
// headless, one browser for the whole package and a fresh browser context
// (no cookies, no storage) per tab; an uncaught exception of a page fails
// its test. The appliance runs in the test with the console at /console/
// and the display pages at /display/.

// tab is one page, screenshot whole, with the console's own description
// for failures.
type tab = browsertest.Tab

var browser = browsertest.New(browsertest.Tab{Describe: describe, FullPage: true, FailOnException: true},
	chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
	chromedp.WindowSize(1440, 900),
	chromedp.Flag("lang", "it-IT"))

func TestMain(m *testing.M) {
	code := m.Run()
	browser.Close()
	os.Exit(code)
}

// newAppliance is the real appliance, over a fresh database with the demo
// data, with the console and the display pages mounted.
func newAppliance(t *testing.T) *testenv.Env {
	t.Helper()
	return testenv.NewServer(t, testenv.Options{Mounts: server.Mounts{"/console/": console.Handler(), "/display/": signage.Handler()}})
}

func newTab(t *testing.T, width, height int) *tab {
	t.Helper()
	return browser.NewTab(t, width, height)
}

// ready waits for the console page to be done loading (shown, refused or
// sent to sign in) and returns its state.
func ready(b *tab) string {
	b.T.Helper()
	b.WaitFor("the page to load", `document.readyState === "complete" && document.body && ["ready", "forbidden", "error"].includes(document.body.dataset.state) || location.pathname.endsWith("/login") && document.body.dataset.state === "ready"`, 10*time.Second)
	return browsertest.Eval[string](b, `location.pathname.endsWith("/login") ? "signin" : document.body.dataset.state`)
}

// describe is what the page shows, for failures.
func describe(b *tab) string {
	ctx, cancel := context.WithTimeout(b.Ctx, 2*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify({location: location.href,
		state: document.body && document.body.dataset.state, notice: (document.getElementById("notice") || {}).textContent,
		message: (document.getElementById("desk-message") || {}).textContent,
		errors: [...document.querySelectorAll(".field-error, .form-error")].map(e => e.textContent).filter(Boolean)})`))
	if err != nil {
		return "(" + err.Error() + ")"
	}
	return s
}

// signIn opens the sign-in page of env in a fresh tab, signs in as who and
// waits for the page next (a console path such as "desk").
func signIn(t *testing.T, env *testenv.Env, who demo.Login, next string) *tab {
	t.Helper()
	b := newTab(t, 1440, 900)
	signInTab(b, env, who, next)
	return b
}

// signInTab signs in as who in the tab b and waits for the page next.
func signInTab(b *tab, env *testenv.Env, who demo.Login, next string) {
	b.T.Helper()
	b.Open(env.URL + "/console/login?next=" + url.QueryEscape("/console/"+next))
	b.WaitFor("the sign-in form", `document.body.dataset.state === "ready" && !!document.getElementById("signin-form")`, 10*time.Second)
	b.Fill("#signin-username", who.Username)
	b.Fill("#signin-password", who.Password)
	b.Click(`#signin-form button[type=submit]`)
	path, _, _ := strings.Cut("/console/"+next, "?")
	b.WaitFor("the page after signing in", fmt.Sprintf(`location.pathname === %s && ["ready", "forbidden"].includes(document.body.dataset.state)`, browsertest.JS(path)), 10*time.Second)
}

// staff signs in over the API, as the console does.
func staff(t *testing.T, env *testenv.Env, who demo.Login) *testenv.Client {
	t.Helper()
	return env.Login(t, who.Username, who.Password)
}

func must(t *testing.T, what string, status int, raw []byte, want ...int) {
	t.Helper()
	for _, w := range want {
		if status == w {
			return
		}
	}
	t.Fatalf("%s: %d %s", what, status, raw)
}

// emulatePrint lays the page out as for printing; emulateScreen goes back.
func emulatePrint(b *tab) error { return emulateMedia(b, "print") }

func emulateScreen(b *tab) error { return emulateMedia(b, "") }

func emulateMedia(b *tab, media string) error {
	return chromedp.Do(b.Ctx, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Media: media})
		return err
	}))
}
