package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"avanti/appliance/demo"
	"avanti/appliance/server"
	"avanti/appliance/testenv"
	"avanti/console"
	"avanti/signage"
)

// The browser tests drive Debian's chromium, headless, one browser for the
// whole package and a fresh browser context (no cookies, no storage) per
// tab, as the signage and kiosk tests do; the appliance runs in the test
// with the console at /console/ and the display pages at /display/.

const chromiumPath = "/usr/bin/chromium"

var (
	browserOnce sync.Once
	browserCtx  context.Context
	browserErr  error
	stopBrowser = func() {}
)

func TestMain(m *testing.M) {
	code := m.Run()
	stopBrowser()
	os.Exit(code)
}

// newAppliance is the real appliance, over a fresh database with the demo
// data, with the console and the display pages mounted.
func newAppliance(t *testing.T) *testenv.Env {
	t.Helper()
	return testenv.NewServer(t, testenv.Options{Mounts: server.Mounts{"/console/": console.Handler(), "/display/": signage.Handler()}})
}

func startBrowser(t *testing.T) context.Context {
	t.Helper()
	path := chromiumPath
	if _, err := os.Stat(path); err != nil {
		if p, err := exec.LookPath("chromium"); err == nil {
			path = p
		} else if os.Getenv("AVANTI_ALLOW_SKIP_BROWSER") == "1" {
			t.Skip("chromium is not installed (Debian package chromium, `make deps` installs it); skipped because AVANTI_ALLOW_SKIP_BROWSER=1")
		} else {
			t.Fatal("chromium is not installed: `make deps` installs Debian's chromium package " +
				"(set AVANTI_ALLOW_SKIP_BROWSER=1 to skip the browser tests instead)")
		}
	}
	browserOnce.Do(func() {
		opts := append(chromedp.DefaultExecAllocatorOptions[:],
			chromedp.ExecPath(path),
			chromedp.Flag("mute-audio", true),
			chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
			chromedp.Flag("hide-scrollbars", true),
			chromedp.Flag("font-render-hinting", "none"),
			chromedp.WindowSize(1440, 900),
			chromedp.Flag("lang", "it-IT"),
			// The demo municipality's clock, as on the PCs in Crema.
			chromedp.Env("TZ=Europe/Rome", "LANG=it_IT.UTF-8"),
		)
		if os.Geteuid() == 0 {
			opts = append(opts, chromedp.NoSandbox)
		}
		actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
		ctx, cancel := chromedp.NewContext(actx)
		stopBrowser = func() { cancel(); cancelAlloc() }
		browserErr = chromedp.Do(ctx) // starts the browser
		browserCtx = ctx
	})
	if browserErr != nil {
		t.Fatalf("start chromium: %v", browserErr)
	}
	return browserCtx
}

// tab is one page in its own browser context (its own cookies and storage).
type tab struct {
	t      *testing.T
	ctx    context.Context
	cancel context.CancelFunc
}

func newTab(t *testing.T, width, height int) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(startBrowser(t), chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	b := setUpTab(t, ctx, width, height)
	b.cancel = cancel
	return b
}

// close closes the tab (and its browser context), as switching a PC off.
func (b *tab) close() {
	if b.cancel != nil {
		b.cancel()
	}
}

// sameBrowser is a second tab in b's browser context: the same cookies and
// localStorage, as a second tab of one person's browser.
func (b *tab) sameBrowser(width, height int) *tab {
	b.t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx)
	b.t.Cleanup(cancel)
	return setUpTab(b.t, ctx, width, height)
}

func setUpTab(t *testing.T, ctx context.Context, width, height int) *tab {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(int64(width), int64(height))); err != nil {
		t.Fatalf("open tab: %v", err)
	}
	// The page's own complaints go to the test log; an uncaught exception
	// fails the test when it ends.
	var mu sync.Mutex
	var thrown []string
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, e := range thrown {
			t.Errorf("page exception: %s", e)
		}
		thrown = nil
	})
	chromedp.Listen(ctx, func(ev any) {
		switch e := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			var parts []string
			for _, a := range e.Args {
				if len(a.Value) > 0 {
					parts = append(parts, string(a.Value))
				} else {
					parts = append(parts, a.Description)
				}
			}
			t.Logf("console.%s: %s", e.Type, strings.Join(parts, " "))
		case *runtime.EventExceptionThrown:
			d := e.ExceptionDetails
			msg := d.Text
			if d.Exception != nil {
				msg += " " + d.Exception.Description
			}
			mu.Lock()
			thrown = append(thrown, msg)
			mu.Unlock()
		}
	})
	return &tab{t: t, ctx: ctx}
}

func (b *tab) open(url string) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, chromedp.Navigate(url)); err != nil {
		b.t.Fatalf("open %s: %v", url, err)
	}
}

// eval runs a JavaScript expression and decodes its value.
func eval[T any](b *tab, expr string) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v; page: %s", expr, err, b.describe())
	}
	return v
}

// evalAwait is eval for an expression whose value is a promise.
func evalAwait[T any](b *tab, expr string) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// waitFor polls a JavaScript condition until it holds. Pages navigate
// (sign-in redirects): an evaluation that meets a page going away is
// tried again.
func (b *tab) waitFor(what, cond string, timeout time.Duration) {
	b.t.Helper()
	deadline := time.Now().Add(timeout)
	var last error
	for {
		ctx, cancel := context.WithTimeout(b.ctx, time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("(() => { try { return !!("+cond+"); } catch { return false; } })()"))
		cancel()
		if err == nil && ok {
			return
		}
		last = err
		if time.Now().After(deadline) {
			b.t.Fatalf("waiting %s for %s (%s): %v; page: %s", timeout, what, cond, last, b.describe())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ready waits for the console page to be done loading (shown, refused or
// sent to sign in) and returns its state.
func (b *tab) ready() string {
	b.t.Helper()
	b.waitFor("the page to load", `document.readyState === "complete" && document.body && ["ready", "forbidden", "error"].includes(document.body.dataset.state) || location.pathname.endsWith("/login") && document.body.dataset.state === "ready"`, 10*time.Second)
	return eval[string](b, `location.pathname.endsWith("/login") ? "signin" : document.body.dataset.state`)
}

// describe is what the page shows, for failures.
func (b *tab) describe() string {
	ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
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

// click presses the first visible, enabled element that matches the CSS
// selector, with the mouse at its centre.
func (b *tab) click(sel string) {
	b.t.Helper()
	find := fmt.Sprintf(`(() => {
		const el = [...document.querySelectorAll(%s)].find(e => e.getClientRects().length > 0 && !e.disabled);
		if (!el) return [];
		el.scrollIntoView({block: "center", inline: "center"});
		const r = el.getBoundingClientRect();
		return [r.left + r.width / 2, r.top + r.height / 2];
	})()`, js(sel))
	deadline := time.Now().Add(5 * time.Second)
	for {
		pt := eval[[]float64](b, find)
		if len(pt) == 2 {
			if err := chromedp.Do(b.ctx, chromedp.MouseClickXY(pt[0], pt[1])); err != nil {
				b.t.Fatalf("click %s: %v", sel, err)
			}
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("click %s: nothing visible and enabled matches; page: %s", sel, b.describe())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// fill sets a field's value as typing would (input and change events).
func (b *tab) fill(sel, value string) {
	b.t.Helper()
	ok := eval[bool](b, fmt.Sprintf(`(() => {
		const f = document.querySelector(%s);
		if (!f) return false;
		if (f.type === "checkbox") f.checked = %s === "true"; else f.value = %s;
		f.dispatchEvent(new Event("input", {bubbles: true}));
		f.dispatchEvent(new Event("change", {bubbles: true}));
		return true;
	})()`, js(sel), js(value), js(value)))
	if !ok {
		b.t.Fatalf("fill %s: no such field; page: %s", sel, b.describe())
	}
}

// key presses one key (with its code) on the focused element.
func (b *tab) key(key, code string, keyCode int64) {
	b.t.Helper()
	down := input.DispatchKeyEventParams{Type: input.DispatchKeyEventTypeKeyDown, Key: key, Code: code, WindowsVirtualKeyCode: keyCode}
	up := input.DispatchKeyEventParams{Type: input.DispatchKeyEventTypeKeyUp, Key: key, Code: code, WindowsVirtualKeyCode: keyCode}
	if key == " " {
		down.Text = " "
	}
	err := chromedp.Do(b.ctx, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		if _, err := cdp.Call(ctx, t, input.DispatchKeyEvent, down); err != nil {
			return err
		}
		_, err := cdp.Call(ctx, t, input.DispatchKeyEvent, up)
		return err
	}))
	if err != nil {
		b.t.Fatalf("key %q: %v", key, err)
	}
}

// text is the visible text of the first element matching sel.
func (b *tab) text(sel string) string {
	b.t.Helper()
	return eval[string](b, fmt.Sprintf(`(document.querySelector(%s) || {innerText: ""}).innerText`, js(sel)))
}

// screenshot saves the page as var/screenshots/<name>.png at the root of
// the repository, the artifacts a person looks at.
func (b *tab) screenshot(name string) {
	b.t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	dir := filepath.Join("..", "var", "screenshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.t.Fatal(err)
	}
	path := filepath.Join(dir, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot %s", path)
}

var (
	axeOnce   sync.Once
	axeScript string
	axeErr    error
)

// axe runs axe-core (from console/web's locked npm packages) on the page
// as it is now and fails the test on every serious or critical violation.
func (b *tab) axe(what string) {
	b.t.Helper()
	axeOnce.Do(func() {
		var src []byte
		src, axeErr = os.ReadFile(filepath.Join("web", "node_modules", "axe-core", "axe.min.js"))
		axeScript = string(src)
	})
	if axeErr != nil {
		b.t.Fatalf("axe-core is not installed (run scripts/assets, which `make test` runs): %v", axeErr)
	}
	if !eval[bool](b, `typeof window.axe === "object"`) {
		if _, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](axeScript+"\n;true")); err != nil {
			b.t.Fatalf("inject axe-core: %v", err)
		}
	}
	raw := evalAwait[string](b, `axe.run(document, {resultTypes: ["violations"]}).then(r => JSON.stringify(
		r.violations.filter(v => v.impact === "serious" || v.impact === "critical").map(v => ({
			id: v.id, impact: v.impact, help: v.help,
			nodes: v.nodes.slice(0, 5).map(n => n.target.join(" ") + ": " + n.failureSummary)}))))`)
	var found []struct {
		ID, Impact, Help string
		Nodes            []string
	}
	if err := json.Unmarshal([]byte(raw), &found); err != nil {
		b.t.Fatalf("axe result: %v", err)
	}
	for _, v := range found {
		b.t.Errorf("accessibility (%s): %s %s: %s\n  %s", what, v.Impact, v.ID, v.Help, strings.Join(v.Nodes, "\n  "))
	}
}

// signIn opens the sign-in page of env in a fresh tab, signs in as who and
// waits for the page next (a console path such as "desk").
func signIn(t *testing.T, env *testenv.Env, who demo.Login, next string) *tab {
	t.Helper()
	b := newTab(t, 1440, 900)
	b.signIn(env, who, next)
	return b
}

func (b *tab) signIn(env *testenv.Env, who demo.Login, next string) {
	b.t.Helper()
	b.open(env.URL + "/console/login?next=" + url.QueryEscape("/console/"+next))
	b.waitFor("the sign-in form", `document.body.dataset.state === "ready" && !!document.getElementById("signin-form")`, 10*time.Second)
	b.fill("#signin-username", who.Username)
	b.fill("#signin-password", who.Password)
	b.click(`#signin-form button[type=submit]`)
	path, _, _ := strings.Cut("/console/"+next, "?")
	b.waitFor("the page after signing in", fmt.Sprintf(`location.pathname === %s && ["ready", "forbidden"].includes(document.body.dataset.state)`, js(path)), 10*time.Second)
}

func js(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
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

var _ = http.StatusOK

// emulatePrint lays the page out as for printing; emulateScreen goes back.
func emulatePrint(b *tab) error { return emulateMedia(b, "print") }

func emulateScreen(b *tab) error { return emulateMedia(b, "") }

func emulateMedia(b *tab, media string) error {
	return chromedp.Do(b.ctx, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Media: media})
		return err
	}))
}
