package kiosk_test

import (
	"context"
	"encoding/json"
	"fmt"
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
)

// The browser tests drive Debian's chromium, headless, one browser for the
// whole package and a fresh browser context (no cookies, no storage) per
// tab, as the signage tests do.

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

// chromium finds the browser, or fails the test (skips it when
// AVANTI_ALLOW_SKIP_BROWSER=1 says a machine without it may).
func chromium(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err == nil {
		return chromiumPath
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	if os.Getenv("AVANTI_ALLOW_SKIP_BROWSER") == "1" {
		t.Skip("chromium is not installed (Debian package chromium, `make deps` installs it); skipped because AVANTI_ALLOW_SKIP_BROWSER=1")
	}
	t.Fatal("chromium is not installed: `make deps` installs Debian's chromium package " +
		"(set AVANTI_ALLOW_SKIP_BROWSER=1 to skip the browser tests instead)")
	return ""
}

func browserOptions(path string, extra ...chromedp.ExecAllocatorOption) []chromedp.ExecAllocatorOption {
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.Flag("mute-audio", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("font-render-hinting", "none"),
		// What a totem's Chromium is started with: print without a dialog.
		chromedp.Flag("kiosk-printing", true),
		chromedp.WindowSize(1080, 1920),
		// The demo municipality's clock, as on the totems in Crema.
		chromedp.Env("TZ=Europe/Rome", "LANG=it_IT.UTF-8"),
	)
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox)
	}
	return append(opts, extra...)
}

func startBrowser(t *testing.T) context.Context {
	t.Helper()
	path := chromium(t)
	browserOnce.Do(func() {
		actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), browserOptions(path)...)
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

// tab is one page in its own browser context, sized as a screen.
type tab struct {
	t   *testing.T
	ctx context.Context
}

func newTab(t *testing.T, width, height int) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(startBrowser(t), chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	return setUpTab(t, ctx, width, height)
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
		b.t.Fatalf("evaluate %s: %v", expr, err)
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

// waitFor polls a JavaScript condition until it holds; what describes it in
// the failure, with the page's state.
func (b *tab) waitFor(what, cond string, timeout time.Duration) {
	b.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithDeadline(b.ctx, deadline)
		_, err := chromedp.Run(ctx, chromedp.Poll[bool](cond, chromedp.WithPollingInterval(50*time.Millisecond)))
		cancel()
		if err == nil {
			return
		}
		// A page that reloads itself (after pairing) ends the poll: poll
		// the new page.
		if time.Now().Before(deadline) && b.ctx.Err() == nil {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		b.t.Fatalf("waiting %s for %s (%s): %v; page: %s", timeout, what, cond, err, b.describe())
	}
}

// describe is the totem's test hook and the visible text, for failures.
func (b *tab) describe() string {
	ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify(window.avantiKiosk ? {
		state: avantiKiosk.state, view: avantiKiosk.view, lang: avantiKiosk.lang, ticket: avantiKiosk.ticket,
		printer: avantiKiosk.printer, busy: avantiKiosk.busy,
		text: document.querySelector("main").innerText.slice(0, 600)} :
		{location: location.href, state: document.body && document.body.dataset.state, text: document.body ? document.body.innerText.slice(0, 600) : ""})`))
	if err != nil {
		return "(" + err.Error() + ")"
	}
	return s
}

// click presses the first visible element that matches the CSS selector,
// with the mouse at its centre, as a finger would.
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
			b.t.Fatalf("click %s: nothing visible matches; page: %s", sel, b.describe())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// text is the visible text of the first element matching sel.
func (b *tab) text(sel string) string {
	b.t.Helper()
	return eval[string](b, fmt.Sprintf(`(document.querySelector(%s) || {innerText: ""}).innerText`, js(sel)))
}

// scan types text as a keyboard-wedge reader does: one key every gap,
// then Enter. Each key carries the time it was typed, as a real keyboard's
// events do, so a busy test machine delivering them late does not change
// what the page measures.
func (b *tab) scan(text string, gap time.Duration) {
	b.t.Helper()
	keys := append(strings.Split(text, ""), "Enter")
	start := time.Now()
	for i, k := range keys {
		if i > 0 && gap > 0 {
			time.Sleep(gap)
		}
		typed := start.Add(time.Duration(i) * gap)
		ts := input.TimeSinceEpoch(float64(typed.UnixNano()) / 1e9)
		down := input.DispatchKeyEventParams{Type: input.DispatchKeyEventTypeKeyDown, Key: k, Text: k, Timestamp: ts}
		up := input.DispatchKeyEventParams{Type: input.DispatchKeyEventTypeKeyUp, Key: k, Timestamp: ts}
		if k == "Enter" {
			down.Code, down.WindowsVirtualKeyCode, down.Text = "Enter", 13, "\r"
			up.Code, up.WindowsVirtualKeyCode = "Enter", 13
		}
		err := chromedp.Do(b.ctx, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			if _, err := cdp.Call(ctx, t, input.DispatchKeyEvent, down); err != nil {
				return err
			}
			_, err := cdp.Call(ctx, t, input.DispatchKeyEvent, up)
			return err
		}))
		if err != nil {
			b.t.Fatalf("key %q: %v", k, err)
		}
	}
}

// zoom makes the page look as with the browser zoomed by factor: the same
// screen, fewer CSS pixels each larger.
func (b *tab) zoom(width, height int, factor float64) {
	b.t.Helper()
	p := emulation.SetDeviceMetricsOverrideParams{Width: int64(float64(width) / factor),
		Height: int64(float64(height) / factor), DeviceScaleFactor: factor}
	err := chromedp.Do(b.ctx, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, emulation.SetDeviceMetricsOverride, p)
		return err
	}))
	if err != nil {
		b.t.Fatalf("zoom: %v", err)
	}
}

// screenshot saves the screen as var/screenshots/<name>.png at the root of
// the repository, the artifacts a person looks at.
func (b *tab) screenshot(name string) []byte {
	b.t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.CaptureScreenshot())
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
	return png
}

var (
	axeOnce   sync.Once
	axeScript string
	axeErr    error
)

// axe runs axe-core (from kiosk/web's locked npm packages) on the page as
// it is now and fails the test on every serious or critical violation.
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

func js(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
