// Package browsertest drives Debian's chromium, headless, for the browser
// tests of the faces (signage, kiosk, console): one browser per test
// package, a fresh browser context (no cookies, no storage) per tab, and
// the helpers the tests read like a person using the page (open, click,
// fill, wait for, screenshot, axe-core). Imported only from _test.go
// files; the faces add what is theirs (signing in, scanning, describing
// their page) around a Tab.
package browsertest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

const chromiumPath = "/usr/bin/chromium"

// Chromium is the browser's path, or fails the test (skips it when
// AVANTI_ALLOW_SKIP_BROWSER=1 says a machine without it may).
func Chromium(t testing.TB) string {
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

// Options are chromium's at path: headless, muted, the demo municipality's
// clock and language (as on the PCs, screens and totems in Crema), then
// extra (a window size, a face's flags).
func Options(path string, extra ...chromedp.ExecAllocatorOption) []chromedp.ExecAllocatorOption {
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.Flag("mute-audio", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("font-render-hinting", "none"),
		chromedp.Env("TZ=Europe/Rome", "LANG=it_IT.UTF-8"),
	)
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox)
	}
	return append(opts, extra...)
}

// Browser is the one chromium of a test package, started by its first tab
// and stopped by Close (in TestMain).
type Browser struct {
	// Tab is what every tab of the package starts with (Describe,
	// FullPage, FailOnException); T and Ctx are filled per tab.
	Tab   Tab
	extra []chromedp.ExecAllocatorOption

	once sync.Once
	ctx  context.Context
	err  error
	stop func()
}

// New is a browser with Options' defaults and extra (started on first use).
func New(tab Tab, extra ...chromedp.ExecAllocatorOption) *Browser {
	return &Browser{Tab: tab, extra: extra, stop: func() {}}
}

// Start starts a browser of its own for one test (a fake camera, say),
// stopped when the test ends.
func Start(t testing.TB, tab Tab, extra ...chromedp.ExecAllocatorOption) *Browser {
	t.Helper()
	b := New(tab, extra...)
	t.Cleanup(b.Close)
	b.Context(t)
	return b
}

// Close stops the browser.
func (br *Browser) Close() { br.stop() }

// Context is the browser's context, started on the first call.
func (br *Browser) Context(t testing.TB) context.Context {
	t.Helper()
	path := Chromium(t)
	br.once.Do(func() {
		actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), Options(path, br.extra...)...)
		ctx, cancel := chromedp.NewContext(actx)
		br.stop = func() { cancel(); cancelAlloc() }
		br.err = chromedp.Do(ctx) // starts the browser
		br.ctx = ctx
	})
	if br.err != nil {
		t.Fatalf("start chromium: %v", br.err)
	}
	return br.ctx
}

// Tab is one page. Ctx is its chromedp context; Cancel (when set) closes
// it and its browser context.
type Tab struct {
	T      *testing.T
	Ctx    context.Context
	Cancel context.CancelFunc
	// Describe says what the page shows, for failures (the face's test
	// hook); by default the location and the visible text.
	Describe func(*Tab) string
	// FullPage screenshots the whole page, not only the viewport.
	FullPage bool
	// FailOnException fails the test, when it ends, on every uncaught
	// exception of the page; otherwise they only go to the test log.
	FailOnException bool
}

// NewTab is a page in a fresh browser context (its own cookies and
// storage), width × height CSS pixels.
func (br *Browser) NewTab(t *testing.T, width, height int) *Tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(br.Context(t), chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	b := br.Tab.setUp(t, ctx, width, height)
	b.Cancel = cancel
	return b
}

// SameBrowser is a second tab in b's browser context: the same cookies and
// localStorage, as a second tab of one person's browser.
func (b *Tab) SameBrowser(width, height int) *Tab {
	b.T.Helper()
	ctx, cancel := chromedp.NewContext(b.Ctx)
	b.T.Cleanup(cancel)
	return b.setUp(b.T, ctx, width, height)
}

// Close closes the tab (and its browser context), as switching a PC off.
func (b *Tab) Close() {
	if b.Cancel != nil {
		b.Cancel()
	}
}

// setUp is a copy of the template b with t and ctx: the viewport set and
// the page's complaints sent to the test log.
func (tpl Tab) setUp(t *testing.T, ctx context.Context, width, height int) *Tab {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(int64(width), int64(height))); err != nil {
		t.Fatalf("open tab: %v", err)
	}
	b := &tpl
	b.T, b.Ctx, b.Cancel = t, ctx, nil
	var mu sync.Mutex
	var thrown []string
	if b.FailOnException {
		t.Cleanup(func() {
			mu.Lock()
			defer mu.Unlock()
			for _, e := range thrown {
				t.Errorf("page exception: %s", e)
			}
			thrown = nil
		})
	}
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
			if !b.FailOnException {
				t.Logf("page exception: %s", msg)
				return
			}
			mu.Lock()
			thrown = append(thrown, msg)
			mu.Unlock()
		}
	})
	return b
}

// Open navigates to url.
func (b *Tab) Open(url string) {
	b.T.Helper()
	if err := chromedp.Do(b.Ctx, chromedp.Navigate(url)); err != nil {
		b.T.Fatalf("open %s: %v", url, err)
	}
}

// Eval runs a JavaScript expression and decodes its value.
func Eval[T any](b *Tab, expr string) T {
	b.T.Helper()
	v, err := chromedp.Run(b.Ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.T.Fatalf("evaluate %s: %v; page: %s", expr, err, b.State())
	}
	return v
}

// EvalAwait is Eval for an expression whose value is a promise.
func EvalAwait[T any](b *Tab, expr string) T {
	b.T.Helper()
	v, err := chromedp.Run(b.Ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		b.T.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// WaitFor polls a JavaScript condition until it holds; what names it in
// the failure, with the page's state. Pages navigate (sign-in redirects, a
// totem reloading after pairing): an evaluation that meets a page going
// away, or a condition that throws, is tried again.
func (b *Tab) WaitFor(what, cond string, timeout time.Duration) {
	b.T.Helper()
	deadline := time.Now().Add(timeout)
	var last error
	for {
		ctx, cancel := context.WithTimeout(b.Ctx, time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("(() => { try { return !!("+cond+"); } catch { return false; } })()"))
		cancel()
		if err == nil && ok {
			return
		}
		last = err
		if time.Now().After(deadline) || b.Ctx.Err() != nil {
			if last == nil {
				last = errors.New("not yet")
			}
			b.T.Fatalf("waiting %s for %s (%s): %v; page: %s", timeout, what, cond, last, b.State())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// State is what the page shows, for failures: Describe's, or the location
// and the start of the visible text.
func (b *Tab) State() string {
	if b.Describe != nil {
		return b.Describe(b)
	}
	ctx, cancel := context.WithTimeout(b.Ctx, 2*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify({location: location.href,
		state: document.body && document.body.dataset.state, text: document.body ? document.body.innerText.slice(0, 600) : ""})`))
	if err != nil {
		return "(" + err.Error() + ")"
	}
	return s
}

// Click presses the first visible, enabled element that matches the CSS
// selector, with the mouse at its centre, as a finger or a mouse would.
func (b *Tab) Click(sel string) {
	b.T.Helper()
	// The mouse goes to the element's centre in a second round trip: a page
	// still laying out (a message appearing above, a list redrawn after a
	// fetch) would move the element away and the click would land on
	// something else. So the point is taken only once the element has kept
	// its place for a moment and is what the point hits.
	find := fmt.Sprintf(`(async () => {
		const el = [...document.querySelectorAll(%s)].find(e => e.getClientRects().length > 0 && !e.disabled);
		if (!el) return [];
		el.scrollIntoView({block: "center", inline: "center"});
		const at = () => { const r = el.getBoundingClientRect(); return [r.left + r.width / 2, r.top + r.height / 2]; };
		const before = at();
		await new Promise(res => setTimeout(res, 50));
		const pt = at();
		if (!el.isConnected || pt[0] !== before[0] || pt[1] !== before[1]) return [];
		const hit = document.elementFromPoint(pt[0], pt[1]);
		if (!hit || !(hit === el || el.contains(hit))) return [];
		return pt;
	})()`, JS(sel))
	deadline := time.Now().Add(5 * time.Second)
	for {
		pt := EvalAwait[[]float64](b, find)
		if len(pt) == 2 {
			if err := chromedp.Do(b.Ctx, chromedp.MouseClickXY(pt[0], pt[1])); err != nil {
				b.T.Fatalf("click %s: %v", sel, err)
			}
			return
		}
		if time.Now().After(deadline) {
			b.T.Fatalf("click %s: nothing visible, enabled, unmoving and on top matches; page: %s", sel, b.State())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Fill sets a field's value as typing would (input and change events).
func (b *Tab) Fill(sel, value string) {
	b.T.Helper()
	ok := Eval[bool](b, fmt.Sprintf(`(() => {
		const f = document.querySelector(%s);
		if (!f) return false;
		if (f.type === "checkbox") f.checked = %s === "true"; else f.value = %s;
		f.dispatchEvent(new Event("input", {bubbles: true}));
		f.dispatchEvent(new Event("change", {bubbles: true}));
		return true;
	})()`, JS(sel), JS(value), JS(value)))
	if !ok {
		b.T.Fatalf("fill %s: no such field; page: %s", sel, b.State())
	}
}

// Key presses one key (with its code) on the focused element.
func (b *Tab) Key(key, code string, keyCode int64) {
	b.T.Helper()
	down := input.DispatchKeyEventParams{Type: input.DispatchKeyEventTypeKeyDown, Key: key, Code: code, WindowsVirtualKeyCode: keyCode}
	up := input.DispatchKeyEventParams{Type: input.DispatchKeyEventTypeKeyUp, Key: key, Code: code, WindowsVirtualKeyCode: keyCode}
	if key == " " {
		down.Text = " "
	}
	if err := b.Keys(down, up); err != nil {
		b.T.Fatalf("key %q: %v", key, err)
	}
}

// Keys dispatches key events as they are.
func (b *Tab) Keys(events ...input.DispatchKeyEventParams) error {
	return chromedp.Do(b.Ctx, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		for _, e := range events {
			if _, err := cdp.Call(ctx, t, input.DispatchKeyEvent, e); err != nil {
				return err
			}
		}
		return nil
	}))
}

// Text is the visible text of the first element matching sel.
func (b *Tab) Text(sel string) string {
	b.T.Helper()
	return Eval[string](b, fmt.Sprintf(`(document.querySelector(%s) || {innerText: ""}).innerText`, JS(sel)))
}

// Screenshot saves the page (the viewport, or all of it with FullPage) as
// var/screenshots/<name>.png at the root of the repository, the artifacts
// a person looks at, and returns the PNG.
func (b *Tab) Screenshot(name string) []byte {
	b.T.Helper()
	shot := chromedp.CaptureScreenshot()
	if b.FullPage {
		shot = chromedp.FullScreenshot(100)
	}
	png, err := chromedp.Run(b.Ctx, shot)
	if err != nil {
		b.T.Fatalf("screenshot %s: %v", name, err)
	}
	dir := filepath.Join(repoRoot(b.T), "var", "screenshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.T.Fatal(err)
	}
	path := filepath.Join(dir, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.T.Fatal(err)
	}
	b.T.Logf("screenshot %s", path)
	return png
}

// repoRoot is the directory of go.mod above the test's package.
func repoRoot(t testing.TB) string {
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			t.Fatalf("no go.mod above %s", dir)
		}
	}
}

var (
	axeOnce   sync.Once
	axeScript string
	axeErr    error
)

// AxeFile is axe-core as the face's web/ locks it (npm ci, which
// scripts/assets runs), relative to the test's package directory.
var AxeFile = filepath.Join("web", "node_modules", "axe-core", "axe.min.js")

// Axe runs axe-core on the page as it is now and fails the test on every
// serious or critical violation.
func (b *Tab) Axe(what string) {
	b.T.Helper()
	axeOnce.Do(func() {
		var src []byte
		src, axeErr = os.ReadFile(AxeFile)
		axeScript = string(src)
	})
	if axeErr != nil {
		b.T.Fatalf("axe-core is not installed (run scripts/assets, which `make test` runs): %v", axeErr)
	}
	if !Eval[bool](b, `typeof window.axe === "object"`) {
		if _, err := chromedp.Run(b.Ctx, chromedp.Evaluate[bool](axeScript+"\n;true")); err != nil {
			b.T.Fatalf("inject axe-core: %v", err)
		}
	}
	raw := EvalAwait[string](b, `axe.run(document, {resultTypes: ["violations"]}).then(r => JSON.stringify(
		r.violations.filter(v => v.impact === "serious" || v.impact === "critical").map(v => ({
			id: v.id, impact: v.impact, help: v.help,
			nodes: v.nodes.slice(0, 5).map(n => n.target.join(" ") + ": " + n.failureSummary)}))))`)
	var found []struct {
		ID, Impact, Help string
		Nodes            []string
	}
	if err := json.Unmarshal([]byte(raw), &found); err != nil {
		b.T.Fatalf("axe result: %v", err)
	}
	for _, v := range found {
		b.T.Errorf("accessibility (%s): %s %s: %s\n  %s", what, v.Impact, v.ID, v.Help, strings.Join(v.Nodes, "\n  "))
	}
}

// JS is v as a JavaScript literal, to put in an expression.
func JS(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
