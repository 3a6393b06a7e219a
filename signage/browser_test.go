package signage_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"avanti/appliance/browsertest"
)

// The browser tests drive Debian's chromium (appliance/browsertest),
// headless, one browser for the whole package and a fresh browser context
// (no cookies, no storage) per tab, sized as a screen.

// tab is one page, with the screen's own description for failures.
type tab = browsertest.Tab

var browser = browsertest.New(browsertest.Tab{Describe: describe},
	chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
	chromedp.WindowSize(1920, 1080))

func TestMain(m *testing.M) {
	code := m.Run()
	browser.Close()
	os.Exit(code)
}

func newTab(t *testing.T, width, height int) *tab {
	t.Helper()
	return browser.NewTab(t, width, height)
}

// describe is the display's test hook and what it shows, for failures.
func describe(b *tab) string {
	ctx, cancel := context.WithTimeout(b.Ctx, 2*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify(window.avantiDisplay ? {
		state: avantiDisplay.state, showing: avantiDisplay.showing, mode: avantiDisplay.mode,
		spoken: avantiDisplay.spoken, failed: avantiDisplay.failed, calls: avantiDisplay.calls,
		snapshots: avantiDisplay.snapshots, seq: avantiDisplay.seq,
		code: document.getElementById("latest-code").textContent,
		desk: document.getElementById("latest-desk").textContent} : {location: location.href})`))
	if err != nil {
		return "(" + err.Error() + ")"
	}
	return s
}
