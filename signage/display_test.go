package signage_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"avanti/appliance/browsertest"
	"avanti/appliance/testenv"
	"avanti/signage"
)

// newAppliance is the real appliance with the display pages at /display/.
func newAppliance(t *testing.T) *testenv.Env {
	t.Helper()
	return testenv.NewServer(t, testenv.Options{Mounts: map[string]http.Handler{"/display/": signage.Handler()}})
}

// counter is a desk of the demo with a queue: walk-ins booked at the totem
// and an operator signed in at the desk, serving them.
type counter struct {
	t    *testing.T
	env  *testenv.Env
	op   *testenv.Client
	desk int64
}

func openCounter(t *testing.T, env *testenv.Env, walkIns int) *counter {
	t.Helper()
	cr := env.Demo.Credentials
	kiosk := env.Device(t, cr.KioskToken)
	svc := env.Demo.Services["I"]
	for range walkIns {
		if st, raw := kiosk.Do("POST", "/api/v1/tickets", map[string]any{"service_id": svc}); st != 201 {
			t.Fatalf("walk-in: %d %s", st, raw)
		}
		env.Clock.Advance(time.Minute)
	}
	c := &counter{t: t, env: env, op: env.Login(t, cr.Operator.Username, cr.Operator.Password), desk: env.Demo.DeskIDs[0]}
	if st, raw := c.op.Do("POST", c.path("open"), map[string]any{"service_ids": []int64{svc}}); st != 200 {
		t.Fatalf("open desk: %d %s", st, raw)
	}
	return c
}

func (c *counter) path(action string) string {
	return fmt.Sprintf("/api/v1/desks/%d/%s", c.desk, action)
}

// do runs a desk action on the current ticket and returns its code.
func (c *counter) do(action string) string {
	c.t.Helper()
	st, raw := c.op.Do("POST", c.path(action), nil)
	if st != 200 {
		c.t.Fatalf("%s: %d %s", action, st, raw)
	}
	var r struct {
		Ticket struct {
			Code string `json:"code"`
		} `json:"ticket"`
	}
	if err := json.Unmarshal(raw, &r); err != nil || r.Ticket.Code == "" {
		c.t.Fatalf("%s: no ticket in %s", action, raw)
	}
	return r.Ticket.Code
}

// next finishes the ticket at the desk, if any, and calls the next one.
func (c *counter) next() string {
	c.t.Helper()
	c.op.Do("POST", c.path("start"), nil)
	c.op.Do("POST", c.path("finish"), nil)
	return c.do("call-next")
}

func displayURL(env *testenv.Env) string {
	return env.URL + "/display/?token=" + env.Demo.Credentials.DisplayToken
}

// showsCall is the condition "the call monitor shows code at the demo's
// first desk".
func showsCall(code string) string {
	return fmt.Sprintf(`avantiDisplay.showing === "calls" && document.getElementById("latest-code").textContent === %s && document.getElementById("latest-desk").textContent === "Sportello 1"`, js(code))
}

func js(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestDisplayShowsBlinksAndSpeaksEachCallOnce(t *testing.T) {
	env := newAppliance(t)
	desk := openCounter(t, env, 3)
	screen := newTab(t, 1920, 1080)
	screen.Open(displayURL(env))
	screen.WaitFor("the display to connect", `window.avantiDisplay && avantiDisplay.state === "online"`, 10*time.Second)

	first := desk.next()
	screen.WaitFor("the call on screen", showsCall(first), 5*time.Second)
	if !browsertest.Eval[bool](screen, `document.getElementById("latest").classList.contains("blink")`) {
		t.Errorf("a new call does not blink: %s", screen.State())
	}
	firstID := browsertest.Eval[float64](screen, `avantiDisplay.calls[0]`)
	screen.WaitFor("the announcement", `avantiDisplay.spoken.length === 1`, 10*time.Second)
	if got := browsertest.Eval[[]float64](screen, `avantiDisplay.spoken`); got[0] != firstID {
		t.Errorf("spoken %v, want the call %v", got, firstID)
	}
	screen.WaitFor("the blink to end", `!document.getElementById("latest").classList.contains("blink")`, 7*time.Second)

	// A recall is a new call of the same ticket: announced again.
	desk.do("recall")
	screen.WaitFor("the recall announced", `avantiDisplay.spoken.length === 2`, 10*time.Second)
	spoken := browsertest.Eval[[]float64](screen, `avantiDisplay.spoken`)
	if spoken[1] == firstID || browsertest.Eval[string](screen, `document.getElementById("latest").dataset.kind`) != "recall" {
		t.Errorf("recall: spoken %v, latest %s", spoken, screen.State())
	}

	second := desk.next()
	screen.WaitFor("the second call", showsCall(second), 5*time.Second)
	screen.WaitFor("the second call announced", `avantiDisplay.spoken.length === 3`, 10*time.Second)
	if got := browsertest.Eval[[]string](screen, `[...document.querySelectorAll("#history .code")].map(e => e.textContent)`); len(got) == 0 || got[0] != first {
		t.Errorf("history %v, want %s first", got, first)
	}

	// The appliance restarts: the screen says it is offline, keeps the last
	// call on screen, comes back by itself and says nothing old again.
	env.Restart(t)
	screen.WaitFor("the offline mark", `avantiDisplay.state === "offline" && getComputedStyle(document.getElementById("offline")).display !== "none"`, 15*time.Second)
	if got := browsertest.Eval[string](screen, `document.getElementById("latest-code").textContent`); got != second {
		t.Errorf("offline, the screen shows %q, want the last call %s kept", got, second)
	}
	screen.WaitFor("the reconnection", `avantiDisplay.state === "online" && avantiDisplay.snapshots >= 2`, 20*time.Second)
	time.Sleep(1500 * time.Millisecond) // room for a wrong announcement to start
	if got := browsertest.Eval[[]float64](screen, `avantiDisplay.spoken`); len(got) != 3 {
		t.Errorf("after the reconnection spoken %v, want the same 3 announcements", got)
	}
	screen.WaitFor("the last call kept", showsCall(second), time.Second)

	third := desk.next()
	screen.WaitFor("a call after the restart", showsCall(third), 5*time.Second)
	screen.WaitFor("its announcement", `avantiDisplay.spoken.length === 4`, 10*time.Second)
}

func TestUnpairedDisplayShowsACodeAndStartsOnceTheAdminPairsIt(t *testing.T) {
	env := newAppliance(t)
	desk := openCounter(t, env, 1)
	screen := newTab(t, 1080, 1920)
	screen.Open(env.URL + "/display/")
	screen.WaitFor("a pairing code", `/^[0-9]{6}$/.test(document.getElementById("pair-code").dataset.code || "") && avantiDisplay.showing === "pairing"`, 10*time.Second)
	if got := browsertest.Eval[string](screen, `document.getElementById("pairing").innerText`); !strings.Contains(got, "Per associare questo schermo inserisci il codice nella console di amministrazione") {
		t.Errorf("pairing screen says %q", got)
	}
	screen.Screenshot("pairing-9x16")
	code := browsertest.Eval[string](screen, `document.getElementById("pair-code").dataset.code`)

	cr := env.Demo.Credentials
	admin := env.Login(t, cr.Admin.Username, cr.Admin.Password)
	if st, raw := admin.Do("POST", "/api/v1/devices/pair", map[string]any{
		"code": code, "kind": "display", "name": "Corridoio", "room_id": env.Demo.RoomIDs[0],
	}); st != 201 {
		t.Fatalf("pair: %d %s", st, raw)
	}
	screen.WaitFor("the paired display to connect", `avantiDisplay.state === "online"`, 10*time.Second)
	called := desk.next()
	screen.WaitFor("the call on the newly paired screen", showsCall(called), 5*time.Second)
}

// configure sets the display's settings and playlist as an admin would, the
// way the console does.
func configure(t *testing.T, env *testenv.Env, settings map[string]any, playlist []map[string]any) {
	t.Helper()
	cr := env.Demo.Credentials
	var me struct {
		Device struct {
			ID int64 `json:"id"`
		} `json:"device"`
	}
	if st := env.Device(t, cr.DisplayToken).JSON("GET", "/api/v1/device", nil, &me); st != 200 {
		t.Fatalf("GET /api/v1/device: %d", st)
	}
	admin := env.Login(t, cr.Admin.Username, cr.Admin.Password)
	if playlist != nil {
		var pl struct {
			ID int64 `json:"id"`
		}
		if st := admin.JSON("POST", "/api/v1/playlists", map[string]any{"name": "Avvisi", "items": playlist}, &pl); st != 201 {
			t.Fatalf("create playlist: %d", st)
		}
		settings["playlist_id"] = pl.ID
	}
	if st, raw := admin.Do("PUT", fmt.Sprintf("/api/v1/devices/%d/settings", me.Device.ID), settings); st != 200 {
		t.Fatalf("display settings: %d %s", st, raw)
	}
}

// The screens a person checks by eye, in both orientations: the call
// monitor, the services monitor and the alternating mode's content.
func TestScreenshotsOfEveryPageInBothOrientations(t *testing.T) {
	env := newAppliance(t)
	cr := env.Demo.Credentials
	kiosk := env.Device(t, cr.KioskToken)
	for _, prefix := range []string{"A", "C", "A", "I", "C", "C"} {
		if id, ok := env.Demo.Services[prefix]; ok {
			kiosk.Do("POST", "/api/v1/tickets", map[string]any{"service_id": id})
		}
	}
	desk := openCounter(t, env, 4)
	var last string
	for range 4 {
		last = desk.next()
	}
	screens := map[string]*tab{"16x9": newTab(t, 1920, 1080), "9x16": newTab(t, 1080, 1920)}
	for _, s := range screens {
		s.Open(displayURL(env))
	}
	for name, s := range screens {
		s.WaitFor("the call monitor", showsCall(last)+` && avantiDisplay.calls.length === 4`, 10*time.Second)
		s.Screenshot("call-monitor-" + name)
	}

	configure(t, env, map[string]any{"mode": "services"}, nil)
	for name, s := range screens {
		s.WaitFor("the services monitor", `avantiDisplay.showing === "services" && document.querySelectorAll("#service-list li[data-service-id]").length > 0`, 10*time.Second)
		s.Screenshot("services-monitor-" + name)
	}

	configure(t, env, map[string]any{"mode": "alternating", "alternate_sec": 3}, []map[string]any{{
		"kind": "text", "text": "Venerdì 8 dicembre gli uffici resteranno chiusi.\nI certificati si possono chiedere anche online.",
		"duration_sec": 20, "days": []int{}, "from": "", "to": "",
	}})
	for name, s := range screens {
		s.WaitFor("the playlist content", `avantiDisplay.showing === "content"`, 15*time.Second)
		s.Screenshot("alternating-content-" + name)
	}
}
