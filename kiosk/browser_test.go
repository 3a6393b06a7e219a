package kiosk_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"

	"avanti/appliance/browsertest"
)

// The browser tests drive Debian's chromium (appliance/browsertest),
// headless, one browser for the whole package and a fresh browser context
// (no cookies, no storage) per tab; an uncaught exception of a page fails
// its test.

// tab is one page, with the totem's own description for failures.
type tab = browsertest.Tab

var (
	tabs = browsertest.Tab{Describe: describe, FailOnException: true}
	// What a totem's Chromium is started with: portrait, print without a
	// dialog.
	totemFlags = []chromedp.ExecAllocatorOption{
		chromedp.Flag("kiosk-printing", true),
		chromedp.WindowSize(1080, 1920),
	}
	browser = browsertest.New(tabs, totemFlags...)
)

func TestMain(m *testing.M) {
	code := m.Run()
	browser.Close()
	os.Exit(code)
}

func newTab(t *testing.T, width, height int) *tab {
	t.Helper()
	return browser.NewTab(t, width, height)
}

// describe is the totem's test hook and the visible text, for failures.
func describe(b *tab) string {
	ctx, cancel := context.WithTimeout(b.Ctx, 2*time.Second)
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

// scan types text as a keyboard-wedge reader does: one key every gap,
// then Enter. Each key carries the time it was typed, as a real keyboard's
// events do, so a busy test machine delivering them late does not change
// what the page measures.
func scan(b *tab, text string, gap time.Duration) {
	b.T.Helper()
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
		if err := b.Keys(down, up); err != nil {
			b.T.Fatalf("key %q: %v", k, err)
		}
	}
}

// zoom makes the page look as with the browser zoomed by factor: the same
// screen, fewer CSS pixels each larger.
func zoom(b *tab, width, height int, factor float64) {
	b.T.Helper()
	p := emulation.SetDeviceMetricsOverrideParams{Width: int64(float64(width) / factor),
		Height: int64(float64(height) / factor), DeviceScaleFactor: factor}
	err := chromedp.Do(b.Ctx, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, emulation.SetDeviceMetricsOverride, p)
		return err
	}))
	if err != nil {
		b.T.Fatalf("zoom: %v", err)
	}
}
