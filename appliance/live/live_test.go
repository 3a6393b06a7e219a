package live_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"avanti/appliance/auth"
	"avanti/appliance/store"
	"avanti/appliance/testenv"
)

// screen is a WebSocket client as a display or totem is: it reads every
// message into a channel and can ask for a snapshot.
type screen struct {
	t    testing.TB
	ws   *websocket.Conn
	msgs chan msg
	done chan struct{}
}

type msg map[string]any

func (m msg) str(path ...string) string {
	var v any = map[string]any(m)
	for _, p := range path {
		o, _ := v.(map[string]any)
		v = o[p]
	}
	s, _ := v.(string)
	return s
}

func (m msg) num(k string) float64 { f, _ := m[k].(float64); return f }

func wsURL(env *testenv.Env, path string) string {
	return "ws" + strings.TrimPrefix(env.URL, "http") + path
}

func dial(t testing.TB, env *testenv.Env, path, token string) *screen {
	t.Helper()
	ws, resp, err := websocket.DefaultDialer.Dial(wsURL(env, path)+"?token="+token, nil)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial %s: %v (HTTP %d)", path, err, status)
	}
	s := &screen{t: t, ws: ws, msgs: make(chan msg, 1024), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		for {
			_, raw, err := ws.ReadMessage()
			if err != nil {
				return
			}
			var m msg
			if json.Unmarshal(raw, &m) == nil {
				select {
				case s.msgs <- m:
				default: // the test stopped reading: it only looks at the first ones
				}
			}
		}
	}()
	t.Cleanup(s.close)
	return s
}

func (s *screen) close() {
	s.ws.Close()
	<-s.done
}

// next returns the next message of a type other than pong.
func (s *screen) next(within time.Duration) (msg, bool) {
	deadline := time.After(within)
	for {
		select {
		case m := <-s.msgs:
			if m["type"] == "pong" {
				continue
			}
			return m, true
		case <-deadline:
			return nil, false
		}
	}
}

func (s *screen) want(typ string, within time.Duration) msg {
	s.t.Helper()
	m, ok := s.next(within)
	if !ok {
		s.t.Fatalf("no %q message within %v", typ, within)
	}
	if m["type"] != typ {
		s.t.Fatalf("got a %q message, want %q: %v", m["type"], typ, m)
	}
	return m
}

// nothing asserts that no event arrives for a while.
func (s *screen) nothing(within time.Duration, what string) {
	s.t.Helper()
	if m, ok := s.next(within); ok {
		s.t.Errorf("%s: got %v", what, m)
	}
}

func (s *screen) send(v any) {
	s.t.Helper()
	if err := s.ws.WriteJSON(v); err != nil {
		s.t.Fatalf("send: %v", err)
	}
}

// desk is the demo's first desk, open for Informazioni, with walk-ins.
type desk struct {
	t   testing.TB
	env *testenv.Env
	op  *testenv.Client
	id  int64
}

func openDesk(t testing.TB, env *testenv.Env, deskID int64, walkIns int) *desk {
	t.Helper()
	cr := env.Demo.Credentials
	kiosk := env.Device(t, cr.KioskToken)
	svc := env.Demo.Services["I"]
	for range walkIns {
		if st, raw := kiosk.Do("POST", "/api/v1/tickets", map[string]any{"service_id": svc}); st != 201 {
			t.Fatalf("walk-in: %d %s", st, raw)
		}
	}
	d := &desk{t: t, env: env, op: env.Login(t, cr.Operator.Username, cr.Operator.Password), id: deskID}
	if st, raw := d.op.Do("POST", d.path("open"), map[string]any{"service_ids": []int64{svc}}); st != 200 {
		t.Fatalf("open desk: %d %s", st, raw)
	}
	return d
}

func (d *desk) path(action string) string { return fmt.Sprintf("/api/v1/desks/%d/%s", d.id, action) }

// next finishes the current ticket, if any, and calls the next; it returns
// the code called.
func (d *desk) next() string {
	d.t.Helper()
	d.op.Do("POST", d.path("no-show"), nil)
	var r struct {
		Ticket struct {
			Code string `json:"code"`
		} `json:"ticket"`
	}
	if st := d.op.JSON("POST", d.path("call-next"), nil, &r); st != 200 || r.Ticket.Code == "" {
		d.t.Fatalf("call-next: %d", st)
	}
	return r.Ticket.Code
}

func newDisplay(t testing.TB, env *testenv.Env, roomID int64, name string) (store.Device, string) {
	t.Helper()
	token := auth.Token(32)
	d, err := env.Store.CreateDevice(t.Context(), store.Device{OwnerID: env.Demo.OwnerID, RoomID: roomID, Kind: "display", Name: name}, token, env.Clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	return d, token
}

func TestDisplayGetsASnapshotThenEachCallOfItsRoom(t *testing.T) {
	env := testenv.NewServer(t, testenv.Options{})
	d := openDesk(t, env, env.Demo.DeskIDs[0], 3)
	scr := dial(t, env, "/ws/display", env.Demo.Credentials.DisplayToken)

	snap := scr.want("snapshot", 5*time.Second)
	if snap.str("display", "name") != "Monitor sala piano terra" || snap.str("version") == "" || snap.str("epoch") == "" {
		t.Errorf("snapshot lacks the display, version or epoch: %v", snap)
	}
	if calls, _ := snap["calls"].([]any); len(calls) != 0 {
		t.Errorf("no call made yet, snapshot has %v", calls)
	}
	room := fmt.Sprintf("room:%d", env.Demo.RoomIDs[0])
	seqs, _ := snap["seqs"].(map[string]any)
	if _, ok := seqs[room]; !ok {
		t.Fatalf("snapshot seqs %v do not cover %s", seqs, room)
	}
	start := seqs[room].(float64)

	code := d.next()
	// Queue events come too (the services changed): skip them.
	ev := waitType(scr, "call", 5*time.Second)
	if ev == nil {
		t.Fatal("no call event")
	}
	call, _ := ev["call"].(map[string]any)
	if ev.str("channel") != room || ev.num("seq") != start+1 {
		t.Errorf("call event on %s seq %v, want %s seq %v", ev.str("channel"), ev["seq"], room, start+1)
	}
	if msg(call).str("ticket", "code") != code || msg(call).str("desk", "name") != "Sportello 1" ||
		msg(call).str("ticket", "service", "name") != "Informazioni" || msg(call).str("room", "name") == "" {
		t.Errorf("call event %v, want %s at Sportello 1 for Informazioni with its room", call, code)
	}
	if a := msg(call).str("audio"); !strings.HasPrefix(a, "/voice/announcement?") || !strings.Contains(a, "code="+code) {
		t.Errorf("audio %q does not announce %s", a, code)
	}
	if strings.Contains(string(mustJSON(ev)), "fiscal") || strings.Contains(string(mustJSON(ev)), "phone") {
		t.Errorf("a public screen got personal data: %v", ev)
	}

	// A recall is a new call of the same ticket, said again.
	d.op.Do("POST", d.path("recall"), nil)
	if ev = waitType(scr, "recall", 5*time.Second); ev == nil {
		t.Fatal("no recall event")
	}
	if got := msg(ev["call"].(map[string]any)).str("ticket", "code"); got != code || ev.num("seq") != start+2 {
		t.Errorf("recall %s seq %v, want %s seq %v", got, ev["seq"], code, start+2)
	}

	// Asking again (after a gap) gives the calls so far, newest first.
	scr.send(map[string]string{"type": "snapshot"})
	if snap = waitType(scr, "snapshot", 5*time.Second); snap == nil {
		t.Fatal("no snapshot on request")
	}
	calls, _ := snap["calls"].([]any)
	if len(calls) != 2 || msg(calls[0].(map[string]any)).str("kind") != "recall" ||
		snap["seqs"].(map[string]any)[room].(float64) != start+2 {
		t.Errorf("second snapshot: calls %v seqs %v", calls, snap["seqs"])
	}
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

func TestACallReachesEveryDisplayOfItsRoomAndNoOther(t *testing.T) {
	env := testenv.NewServer(t, testenv.Options{})
	roomA, roomB := env.Demo.RoomIDs[0], env.Demo.RoomIDs[1]
	_, tokA2 := newDisplay(t, env, roomA, "Sala A, secondo monitor")
	_, tokB := newDisplay(t, env, roomB, "Sala B")
	both, tokBoth := newDisplay(t, env, roomB, "Corridoio")
	admin := env.Login(t, env.Demo.Credentials.Admin.Username, env.Demo.Credentials.Admin.Password)
	set := store.DefaultDisplaySettings()
	set.Rooms = []int64{roomA, roomB}
	if st, raw := admin.Do("PUT", fmt.Sprintf("/api/v1/devices/%d/settings", both.ID), set); st != 200 {
		t.Fatalf("settings: %d %s", st, raw)
	}
	d := openDesk(t, env, env.Demo.DeskIDs[0], 1)

	a1 := dial(t, env, "/ws/display", env.Demo.Credentials.DisplayToken)
	a2 := dial(t, env, "/ws/display", tokA2)
	b := dial(t, env, "/ws/display", tokB)
	corridor := dial(t, env, "/ws/display", tokBoth)
	for _, s := range []*screen{a1, a2, b, corridor} {
		s.want("snapshot", 5*time.Second)
	}
	code := d.next()
	for name, s := range map[string]*screen{"room A": a1, "room A, second": a2, "corridor showing A and B": corridor} {
		if ev := waitType(s, "call", 5*time.Second); ev == nil {
			t.Errorf("%s: no call", name)
		} else if got := msg(ev["call"].(map[string]any)).str("ticket", "code"); got != code {
			t.Errorf("%s: call %s, want %s", name, got, code)
		}
	}
	if ev := waitType(b, "call", time.Second); ev != nil {
		t.Errorf("room B got room A's call: %v", ev)
	}
}

// waitType returns the first message of type typ within the time, skipping
// others, or nil.
func waitType(s *screen, typ string, within time.Duration) msg {
	deadline := time.After(within)
	for {
		select {
		case m := <-s.msgs:
			if m["type"] == typ {
				return m
			}
		case <-deadline:
			return nil
		}
	}
}

func TestAfterARestartTheEpochChangesAndTheSnapshotKeepsTheCalls(t *testing.T) {
	env := testenv.NewServer(t, testenv.Options{})
	d := openDesk(t, env, env.Demo.DeskIDs[0], 1)
	code := d.next()
	s := dial(t, env, "/ws/display", env.Demo.Credentials.DisplayToken)
	first := s.want("snapshot", 5*time.Second)
	env.Restart(t)
	select {
	case <-s.done: // told "going away" and closed
	case <-time.After(5 * time.Second):
		t.Fatal("the display's connection outlived the server")
	}
	s2 := dial(t, env, "/ws/display", env.Demo.Credentials.DisplayToken)
	second := s2.want("snapshot", 5*time.Second)
	if first.str("epoch") == second.str("epoch") {
		t.Errorf("epoch %q unchanged across a restart", first.str("epoch"))
	}
	calls, _ := second["calls"].([]any)
	if len(calls) != 1 || msg(calls[0].(map[string]any)).str("ticket", "code") != code {
		t.Errorf("after the restart the snapshot has calls %v, want %s", calls, code)
	}
}

func TestQueueEventsFollowBookingsCoalesced(t *testing.T) {
	env := testenv.NewServer(t, testenv.Options{})
	s := dial(t, env, "/ws/kiosk", env.Demo.Credentials.KioskToken)
	snap := s.want("snapshot", 5*time.Second)
	if snap.str("kiosk", "name") != "Totem ingresso" {
		t.Errorf("kiosk snapshot: %v", snap)
	}
	kiosk := env.Device(t, env.Demo.Credentials.KioskToken)
	for range 5 {
		if st, raw := kiosk.Do("POST", "/api/v1/tickets", map[string]any{"service_id": env.Demo.Services["I"]}); st != 201 {
			t.Fatalf("book: %d %s", st, raw)
		}
	}
	var last msg
	events := 0
	for {
		m, ok := s.next(1500 * time.Millisecond)
		if !ok {
			break
		}
		if m["type"] == "queue" {
			last, events = m, events+1
		}
	}
	if events == 0 || events > 3 {
		t.Fatalf("%d queue events for 5 bookings, want 1 to 3 (coalesced)", events)
	}
	for _, sv := range last["services"].([]any) {
		m := msg(sv.(map[string]any))
		if m.str("prefix") == "I" && m.num("waiting") != 5 {
			t.Errorf("Informazioni waiting %v, want 5", m["waiting"])
		}
	}
}

func TestASlowDisplayDoesNotDelayTheOthers(t *testing.T) {
	env := testenv.NewServer(t, testenv.Options{})
	d := openDesk(t, env, env.Demo.DeskIDs[0], 30)
	// A display that connects and then never reads: its socket buffers
	// fill, its queue fills, the hub drops it.
	stuck, _, err := websocket.DefaultDialer.Dial(wsURL(env, "/ws/display")+"?token="+env.Demo.Credentials.DisplayToken, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer stuck.Close()
	s := dial(t, env, "/ws/display", env.Demo.Credentials.DisplayToken)
	s.want("snapshot", 5*time.Second)
	for i := range 20 {
		code := d.next()
		began := time.Now()
		ev := waitType(s, "call", 3*time.Second)
		if ev == nil {
			t.Fatalf("call %d (%s) did not reach the healthy display", i, code)
		}
		if got := msg(ev["call"].(map[string]any)).str("ticket", "code"); got != code {
			t.Fatalf("call %d: got %s, want %s", i, got, code)
		}
		if waited := time.Since(began); waited > time.Second {
			t.Errorf("call %d reached the healthy display after %v", i, waited)
		}
	}
}

func TestAThousandDisplaysAllGetTheCall(t *testing.T) {
	if testing.Short() {
		t.Skip("1,000 connections")
	}
	needFiles(t, 2*1000+200)
	env := testenv.NewServer(t, testenv.Options{})
	d := openDesk(t, env, env.Demo.DeskIDs[0], 1)
	const n = 1000
	var got atomic.Int64
	var wg sync.WaitGroup
	conns := make([]*websocket.Conn, 0, n)
	ready := make(chan struct{}, n)
	for i := range n {
		ws, _, err := websocket.DefaultDialer.Dial(wsURL(env, "/ws/display")+"?token="+env.Demo.Credentials.DisplayToken, nil)
		if err != nil {
			t.Fatalf("display %d: %v", i, err)
		}
		conns = append(conns, ws)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				_, raw, err := ws.ReadMessage()
				if err != nil {
					return
				}
				switch {
				case strings.Contains(string(raw), `"type":"snapshot"`):
					ready <- struct{}{}
				case strings.Contains(string(raw), `"type":"call"`):
					got.Add(1)
				}
			}
		}()
	}
	for range n {
		select {
		case <-ready:
		case <-time.After(30 * time.Second):
			t.Fatal("not every display got its snapshot")
		}
	}
	d.next()
	deadline := time.Now().Add(10 * time.Second)
	for got.Load() < n && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if got.Load() != n {
		t.Errorf("%d of %d displays got the call", got.Load(), n)
	}
	for _, c := range conns {
		c.Close()
	}
	wg.Wait()
}

func TestNoGoroutineOutlivesItsDisplay(t *testing.T) {
	env := testenv.NewServer(t, testenv.Options{})
	d := openDesk(t, env, env.Demo.DeskIDs[0], 2)
	settle := func() int {
		n := runtime.NumGoroutine()
		for range 100 {
			time.Sleep(20 * time.Millisecond)
			m := runtime.NumGoroutine()
			if m == n {
				return n
			}
			n = m
		}
		return n
	}
	before := settle()
	var list []*screen
	for range 50 {
		s := dial(t, env, "/ws/display", env.Demo.Credentials.DisplayToken)
		s.want("snapshot", 5*time.Second)
		list = append(list, s)
	}
	d.next()
	for _, s := range list {
		waitType(s, "call", 5*time.Second)
	}
	// Half leave politely, half vanish (connection dropped without a close).
	for i, s := range list {
		if i%2 == 0 {
			s.ws.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
		}
		s.close()
	}
	deadline := time.Now().Add(10 * time.Second)
	after := settle()
	for after > before+2 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		after = settle()
	}
	if after > before+2 {
		buf := make([]byte, 1<<20)
		t.Errorf("goroutines: %d before the displays, %d after they left\n%s", before, after, buf[:runtime.Stack(buf, true)])
	}
}

func TestPairingGivesTheScreenItsOwnCredentialOnce(t *testing.T) {
	env := testenv.NewServer(t, testenv.Options{})
	screen := env.Anonymous(t)
	var p struct {
		Code      string    `json:"code"`
		Secret    string    `json:"secret"`
		ExpiresAt time.Time `json:"expires_at"`
	}
	if st := screen.JSON("POST", "/api/v1/pairing", map[string]any{"kind": "display", "screen": "1080x1920", "version": "t1"}, &p); st != 201 {
		t.Fatalf("pairing: %d", st)
	}
	if len(p.Code) != 6 || len(p.Secret) != 43 || p.ExpiresAt.Sub(env.Clock.Now()) != 10*time.Minute {
		t.Fatalf("pairing %+v", p)
	}
	if st, raw := screen.Do("GET", "/api/v1/pairing/"+p.Secret, nil); st != 202 {
		t.Fatalf("before the admin pairs: %d %s", st, raw)
	}
	if st, _ := screen.Do("GET", "/api/v1/device", nil); st != 401 {
		t.Errorf("an unpaired screen is a device: %d", st)
	}
	admin := env.Login(t, env.Demo.Credentials.Admin.Username, env.Demo.Credentials.Admin.Password)
	st, raw := admin.Do("POST", "/api/v1/devices/pair", map[string]any{"code": "000000", "kind": "display", "name": "x", "room_id": env.Demo.RoomIDs[1]})
	if st != 404 || !strings.Contains(string(raw), "pairing_not_found") {
		t.Errorf("unknown code: %d %s", st, raw)
	}
	st, raw = admin.Do("POST", "/api/v1/devices/pair", map[string]any{"code": p.Code, "kind": "kiosk", "name": "x"})
	if st != 422 || !strings.Contains(string(raw), "wrong_kind") {
		t.Errorf("wrong kind: %d %s", st, raw)
	}
	var paired struct {
		Device store.DeviceInfo `json:"device"`
	}
	// The admin reads the code off the screen, spaces and all.
	if st := admin.JSON("POST", "/api/v1/devices/pair", map[string]any{"code": p.Code[:3] + " " + p.Code[3:], "kind": "display",
		"name": "Corridoio primo piano", "room_id": env.Demo.RoomIDs[1]}, &paired); st != 201 {
		t.Fatalf("pair: %d", st)
	}
	if paired.Device.Screen != "1080x1920" || paired.Device.Room == nil || paired.Device.Room.ID != env.Demo.RoomIDs[1] {
		t.Errorf("paired device %+v", paired.Device)
	}
	st, raw = admin.Do("POST", "/api/v1/devices/pair", map[string]any{"code": p.Code, "kind": "display", "name": "again"})
	if st != 409 || !strings.Contains(string(raw), "already_paired") {
		t.Errorf("second claim of a code: %d %s", st, raw)
	}

	resp, raw := screen.Send("GET", "/api/v1/pairing/"+p.Secret, nil)
	var got struct {
		Device store.DeviceInfo `json:"device"`
		Token  string           `json:"token"`
	}
	if resp.StatusCode != 200 || json.Unmarshal(raw, &got) != nil || got.Token == "" || got.Device.ID != paired.Device.ID {
		t.Fatalf("poll after pairing: %d %s", resp.StatusCode, raw)
	}
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "avanti_device" {
			cookie = c
		}
	}
	if cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode {
		t.Errorf("device cookie %+v, want HttpOnly SameSite=Strict", cookie)
	}
	// The cookie alone now identifies the screen (the page never sees the token).
	var me struct {
		Device store.DeviceInfo `json:"device"`
	}
	if st := screen.JSON("GET", "/api/v1/device", nil, &me); st != 200 || me.Device.Name != "Corridoio primo piano" {
		t.Errorf("device by cookie: %d %+v", st, me.Device)
	}
	// And the token opens its WebSocket.
	s := dial(t, env, "/ws/display", got.Token)
	s.want("snapshot", 5*time.Second)
	// The credential is handed out once.
	if st, raw := env.Anonymous(t).Do("GET", "/api/v1/pairing/"+p.Secret, nil); st != 410 || !strings.Contains(string(raw), "pairing_used") {
		t.Errorf("second poll: %d %s", st, raw)
	}

	// A code nobody claims expires.
	var late struct {
		Code, Secret string
	}
	screen2 := env.Anonymous(t)
	screen2.JSON("POST", "/api/v1/pairing", map[string]any{"kind": "kiosk"}, &late)
	env.Clock.Advance(11 * time.Minute)
	if st, raw := screen2.Do("GET", "/api/v1/pairing/"+late.Secret, nil); st != 410 || !strings.Contains(string(raw), "pairing_expired") {
		t.Errorf("expired poll: %d %s", st, raw)
	}
	if st, raw := admin.Do("POST", "/api/v1/devices/pair", map[string]any{"code": late.Code, "kind": "kiosk", "name": "late"}); st != 410 {
		t.Errorf("claim of an expired code: %d %s", st, raw)
	}
}

func TestADisplayThatGoesQuietIsReportedSilent(t *testing.T) {
	env := testenv.NewServer(t, testenv.Options{})
	admin := env.Login(t, env.Demo.Credentials.Admin.Username, env.Demo.Credentials.Admin.Password)
	display := func() store.DeviceInfo {
		t.Helper()
		var r struct {
			Devices []store.DeviceInfo `json:"devices"`
		}
		if st := admin.JSON("GET", "/api/v1/devices", nil, &r); st != 200 {
			t.Fatalf("devices: %d", st)
		}
		for _, d := range r.Devices {
			if d.ID == env.Demo.DisplayID {
				return d
			}
		}
		t.Fatal("the demo display is not listed")
		return store.DeviceInfo{}
	}
	if d := display(); !d.Silent {
		t.Errorf("a display never seen is not silent: %+v", d)
	}
	s := dial(t, env, "/ws/display", env.Demo.Credentials.DisplayToken)
	s.want("snapshot", 5*time.Second)
	s.send(map[string]any{"type": "status", "version": "page-7", "screen": "1920x1080", "showing": "calls", "seq": 4})
	var d store.DeviceInfo
	for range 50 {
		if d = display(); d.Version == "page-7" {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if d.Silent || d.Version != "page-7" || d.Screen != "1920x1080" || d.Showing != "calls" || d.Seq != 4 {
		t.Errorf("after its status the display is %+v", d)
	}
	silentMetric := func() string {
		_, raw := env.Anonymous(t).Do("GET", "/metrics", nil)
		for _, line := range strings.Split(string(raw), "\n") {
			if strings.HasPrefix(line, "avanti_devices_silent ") {
				return strings.TrimPrefix(line, "avanti_devices_silent ")
			}
		}
		return "missing"
	}
	if m := silentMetric(); m != "0" {
		t.Errorf("avanti_devices_silent %s with the display talking", m)
	}
	s.close()
	env.Clock.Advance(31 * time.Second)
	if d := display(); !d.Silent {
		t.Errorf("31 s without contact, not silent: %+v", d)
	}
	if m := silentMetric(); m != "1" {
		t.Errorf("avanti_devices_silent %s, want 1", m)
	}
}

func TestAHandshakeWithoutCredentialIsRefusedBeforeTheUpgrade(t *testing.T) {
	env := testenv.NewServer(t, testenv.Options{})
	for _, c := range []struct {
		path, token string
		status      int
	}{
		{"/ws/display", "", 401},
		{"/ws/display", strings.Repeat("z", 43), 401},
		{"/ws/display", env.Demo.Credentials.KioskToken, 403},
		{"/ws/kiosk", env.Demo.Credentials.DisplayToken, 403},
		{"/ws/desk", env.Demo.Credentials.DisplayToken, 403},
	} {
		_, resp, err := websocket.DefaultDialer.Dial(wsURL(env, c.path)+"?token="+c.token, nil)
		if err == nil || resp == nil || resp.StatusCode != c.status {
			st := 0
			if resp != nil {
				st = resp.StatusCode
			}
			t.Errorf("%s with %q: %v, HTTP %d, want %d", c.path, c.token[:min(5, len(c.token))], err, st, c.status)
		}
	}
}

func TestAnUploadedImageInAPlaylistReachesTheDisplayAtOnce(t *testing.T) {
	env := testenv.NewServer(t, testenv.Options{})
	admin := env.Login(t, env.Demo.Credentials.Admin.Username, env.Demo.Credentials.Admin.Password)
	svg := []byte(`<svg xmlns="http://www.w3.org/2000/svg" width="160" height="90"><rect width="160" height="90" fill="#0a3"/></svg>`)
	var media struct {
		URL    string `json:"url"`
		SHA256 string `json:"sha256"`
		Size   int64  `json:"size"`
	}
	if st := admin.JSON("POST", "/api/v1/media?name=stemma.svg", svg, &media, "Content-Type", "image/svg+xml"); st != 201 {
		t.Fatalf("upload: %d", st)
	}
	if media.Size != int64(len(svg)) || !strings.HasPrefix(media.URL, "/media/"+media.SHA256) {
		t.Fatalf("media %+v", media)
	}
	resp, raw := env.Anonymous(t).Send("GET", media.URL, nil)
	if resp.StatusCode != 200 || string(raw) != string(svg) || resp.Header.Get("Content-Type") != "image/svg+xml" ||
		!strings.Contains(resp.Header.Get("Content-Security-Policy"), "sandbox") {
		t.Errorf("serve %s: %d %q %v", media.URL, resp.StatusCode, raw, resp.Header)
	}
	if st, raw := admin.Do("POST", "/api/v1/media", []byte("<html><script>alert(1)</script>"), "Content-Type", "text/html"); st != 415 {
		t.Errorf("HTML upload: %d %s", st, raw)
	}
	// Screens live on a closed LAN: nothing from outside.
	st, raw := admin.Do("POST", "/api/v1/playlists", map[string]any{"name": "x", "items": []map[string]any{
		{"kind": "image", "url": "https://cdn.example.com/a.png", "duration_sec": 5}}})
	if st != 422 || !strings.Contains(string(raw), "invalid_url") {
		t.Errorf("outside URL: %d %s", st, raw)
	}

	s := dial(t, env, "/ws/display", env.Demo.Credentials.DisplayToken)
	s.want("snapshot", 5*time.Second)
	var pl struct {
		ID int64 `json:"id"`
	}
	if st := admin.JSON("POST", "/api/v1/playlists", map[string]any{"name": "Stemma", "items": []map[string]any{
		{"kind": "image", "url": media.URL, "duration_sec": 8, "days": []int{1, 2, 3, 4, 5}, "from": "08:00", "to": "13:00"},
		{"kind": "text", "text": "Benvenuti", "duration_sec": 5}}}, &pl); st != 201 {
		t.Fatalf("playlist: %d", st)
	}
	if st, raw := admin.Do("PUT", fmt.Sprintf("/api/v1/devices/%d/settings", env.Demo.DisplayID),
		map[string]any{"mode": "alternating", "playlist_id": pl.ID}); st != 200 {
		t.Fatalf("settings: %d %s", st, raw)
	}
	ev := waitType(s, "config", 5*time.Second)
	if ev == nil {
		t.Fatal("no config event after the settings changed")
	}
	items, _ := ev["playlist"].([]any)
	if ev.str("display", "settings", "mode") != "alternating" || len(items) != 2 || msg(items[0].(map[string]any)).str("url") != media.URL {
		t.Errorf("config event %v", ev)
	}
	// Editing the playlist reaches the display too.
	if st, raw := admin.Do("PUT", fmt.Sprintf("/api/v1/playlists/%d", pl.ID), map[string]any{"name": "Stemma", "items": []map[string]any{
		{"kind": "text", "text": "Uffici chiusi l'8 dicembre", "duration_sec": 6}}}); st != 200 {
		t.Fatalf("edit playlist: %d %s", st, raw)
	}
	if ev = waitType(s, "config", 5*time.Second); ev == nil || len(ev["playlist"].([]any)) != 1 {
		t.Errorf("after editing the playlist: %v", ev)
	}
}

func TestADeskConsoleSeesDesksChange(t *testing.T) {
	env := testenv.NewServer(t, testenv.Options{})
	cr := env.Demo.Credentials
	resp, raw := env.Anonymous(t).Send("POST", "/api/v1/auth/login", map[string]string{"username": cr.Admin.Username, "password": cr.Admin.Password})
	if resp.StatusCode != 200 {
		t.Fatalf("login: %d %s", resp.StatusCode, raw)
	}
	h := http.Header{}
	for _, c := range resp.Cookies() {
		h.Add("Cookie", c.Name+"="+c.Value)
	}
	h.Set("Origin", env.URL)
	ws, _, err := websocket.DefaultDialer.Dial(wsURL(env, "/ws/desk"), h)
	if err != nil {
		t.Fatalf("dial /ws/desk with the session: %v", err)
	}
	s := &screen{t: t, ws: ws, msgs: make(chan msg, 1024), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		for {
			_, raw, err := ws.ReadMessage()
			if err != nil {
				return
			}
			var m msg
			if json.Unmarshal(raw, &m) == nil {
				s.msgs <- m
			}
		}
	}()
	t.Cleanup(s.close)
	snap := s.want("snapshot", 5*time.Second)
	if desks, _ := snap["desks"].([]any); len(desks) != 5 {
		t.Errorf("desk snapshot has %d desks, want the demo's 5", len(desks))
	}
	openDesk(t, env, env.Demo.DeskIDs[2], 0)
	ev := waitType(s, "desk", 5*time.Second)
	if ev == nil {
		t.Fatal("no desk event after a desk opened")
	}
	if d := ev["desk"].(map[string]any); d["id"].(float64) != float64(env.Demo.DeskIDs[2]) || d["state"] != "open" {
		t.Errorf("desk event %v", d)
	}
}

func TestAnUnpairedDisplayIsDisconnectedAtOnce(t *testing.T) {
	env := testenv.NewServer(t, testenv.Options{})
	s := dial(t, env, "/ws/display", env.Demo.Credentials.DisplayToken)
	s.want("snapshot", 5*time.Second)
	admin := env.Login(t, env.Demo.Credentials.Admin.Username, env.Demo.Credentials.Admin.Password)
	if st, raw := admin.Do("PUT", fmt.Sprintf("/api/v1/devices/%d", env.Demo.DisplayID), map[string]any{"name": "Monitor", "active": false}); st != 200 {
		t.Fatalf("unpair: %d %s", st, raw)
	}
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		t.Fatal("an unpaired display keeps its live connection")
	}
	if _, resp, err := websocket.DefaultDialer.Dial(wsURL(env, "/ws/display")+"?token="+env.Demo.Credentials.DisplayToken, nil); err == nil || resp == nil || resp.StatusCode != 401 {
		t.Errorf("an unpaired display reconnects: %v", err)
	}
}
