package realtime

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// harness is a hub behind a real HTTP server. Clients choose their channels
// with ?ch=room:1&ch=…; every snapshot reports how many calls have been
// "committed", which the tests bump before publishing, as the store will.
type harness struct {
	t        testing.TB
	hub      *Hub
	srv      *httptest.Server
	url      string
	calls    atomic.Int64
	snapshot func() (any, error)
	received chan []byte // messages handed to OnMessage
}

// newHarness starts a hub and its server; snapshot, if not nil, replaces
// the default snapshot ({"calls": n}); setup runs before the server starts.
func newHarness(t testing.TB, opt Options, snapshot func(h *harness) (any, error), setup ...func(*httptest.Server)) *harness {
	t.Helper()
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	hub, err := New(opt)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, hub: hub, received: make(chan []byte, 16)}
	h.snapshot = func() (any, error) { return map[string]any{"calls": h.calls.Load()}, nil }
	if snapshot != nil {
		h.snapshot = func() (any, error) { return snapshot(h) }
	}
	h.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = hub.Serve(w, r, Subscription{
			Channels: r.URL.Query()["ch"],
			Snapshot: h.snapshot,
			OnMessage: func(msg []byte) {
				select {
				case h.received <- bytes.Clone(msg):
				default:
				}
			},
		})
	}))
	for _, f := range setup {
		f(h.srv)
	}
	h.srv.Start()
	h.url = "ws" + strings.TrimPrefix(h.srv.URL, "http") + "/ws"
	t.Cleanup(func() {
		closed := make(chan struct{})
		go func() { _ = hub.Close(); close(closed) }()
		select {
		case <-closed:
			h.srv.Close()
		case <-time.After(15 * time.Second):
			t.Error("hub.Close did not return: connections stuck")
		}
	})
	return h
}

// call commits a call and publishes it on channel, returning its seq.
func (h *harness) call(channel string) uint64 {
	n := h.calls.Add(1)
	seq, err := h.hub.Publish(channel, "call", map[string]any{"call": n, "code": fmt.Sprintf("A%d", n), "desk": 3})
	if err != nil {
		h.t.Error(err)
	}
	return seq
}

func (h *harness) address(channels ...string) string {
	q := make([]string, len(channels))
	for i, ch := range channels {
		q[i] = "ch=" + ch
	}
	return h.url + "?" + strings.Join(q, "&")
}

func (h *harness) dialWith(d *websocket.Dialer, channels ...string) (*client, error) {
	ws, resp, err := d.Dial(h.address(channels...), nil)
	if err != nil {
		return nil, fmt.Errorf("dial %v: %w (response %v)", channels, err, resp)
	}
	return &client{t: h.t, ws: ws}, nil
}

func (h *harness) dial(channels ...string) *client {
	h.t.Helper()
	c, err := h.dialWith(websocket.DefaultDialer, channels...)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { _ = c.ws.Close() })
	return c
}

// dialMany connects n clients to channel, a few at a time as a room of
// displays coming up would, and reads each one's snapshot.
func (h *harness) dialMany(n int, channel string) []*client {
	h.t.Helper()
	clients := make([]*client, n)
	errs := make(chan error, n)
	sem := make(chan struct{}, 32)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			c, err := h.dialWith(websocket.DefaultDialer, channel)
			if err == nil {
				var m message
				if m, err = c.nextErr(10 * time.Second); err == nil && m.Type != "snapshot" {
					err = fmt.Errorf("first message is %q", m.Type)
				}
			}
			if err != nil {
				errs <- err
				return
			}
			clients[i] = c
		})
	}
	wg.Wait()
	h.t.Cleanup(func() {
		for _, c := range clients {
			if c != nil {
				_ = c.ws.Close()
			}
		}
	})
	close(errs)
	for err := range errs {
		h.t.Fatal(err)
	}
	return clients
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: still waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

type client struct {
	t  testing.TB
	ws *websocket.Conn
}

// message is what the tests read from the hub: the envelope plus the
// fields of the harness's snapshots and calls.
type message struct {
	Type    string            `json:"type"`
	Channel string            `json:"channel"`
	Epoch   string            `json:"epoch"`
	Seq     uint64            `json:"seq"`
	Seqs    map[string]uint64 `json:"seqs"`
	Calls   int64             `json:"calls"`
	Call    int64             `json:"call"`
	Code    string            `json:"code"`
	Desk    int               `json:"desk"`
	Time    string            `json:"time"`
}

func (c *client) nextErr(timeout time.Duration) (message, error) {
	var m message
	_ = c.ws.SetReadDeadline(time.Now().Add(timeout))
	_, raw, err := c.ws.ReadMessage()
	if err != nil {
		return m, err
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		return m, fmt.Errorf("%w: %s", err, raw)
	}
	return m, nil
}

func (c *client) next() message {
	c.t.Helper()
	m, err := c.nextErr(5 * time.Second)
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return m
}

func (c *client) send(v any) {
	c.t.Helper()
	if err := c.ws.WriteJSON(v); err != nil {
		c.t.Fatalf("send: %v", err)
	}
}

// end reads until the connection ends and returns why.
func (c *client) end(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		_ = c.ws.SetReadDeadline(deadline)
		if _, _, err := c.ws.ReadMessage(); err != nil {
			return err
		}
	}
}

func closeCode(err error) int {
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		return ce.Code
	}
	return 0
}

func TestSnapshotComesFirstThenEvents(t *testing.T) {
	h := newHarness(t, Options{}, nil)
	h.call("room:1")
	h.call("room:1")

	display := h.dial("room:1")
	snap := display.next()
	if snap.Type != "snapshot" || snap.Channel != "room:1" || snap.Epoch != h.hub.Epoch() || snap.Seq != 2 || snap.Calls != 2 {
		t.Fatalf("first message = %+v, want the snapshot of room:1 at seq 2 with 2 calls", snap)
	}
	if want := map[string]uint64{"room:1": 2}; !equalSeqs(snap.Seqs, want) {
		t.Errorf("snapshot seqs = %v, want %v", snap.Seqs, want)
	}

	h.call("room:1")
	ev := display.next()
	if ev.Type != "call" || ev.Channel != "room:1" || ev.Epoch != snap.Epoch || ev.Seq != 3 || ev.Call != 3 || ev.Code != "A3" || ev.Desk != 3 {
		t.Fatalf("event = %+v, want call A3 at desk 3 with seq 3", ev)
	}
}

func equalSeqs(a, b map[string]uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestSeqIncreasesByOnePerChannel(t *testing.T) {
	h := newHarness(t, Options{SendBuffer: 1024}, nil)
	h.call("owner:1:desks")

	// A desk console follows its room and its office's desks.
	console := h.dial("room:1", "owner:1:desks")
	snap := console.next()
	if want := map[string]uint64{"room:1": 0, "owner:1:desks": 1}; snap.Seq != 0 || !equalSeqs(snap.Seqs, want) {
		t.Fatalf("snapshot seq %d seqs %v, want 0 and %v", snap.Seq, snap.Seqs, want)
	}

	// Several desks publish at once on both channels.
	const perDesk = 50
	var wg sync.WaitGroup
	for desk := range 4 {
		wg.Go(func() {
			for range perDesk {
				h.call([]string{"room:1", "owner:1:desks"}[desk%2])
			}
		})
	}
	wg.Wait()

	last := snap.Seqs
	for range 4 * perDesk {
		ev := console.next()
		if ev.Seq != last[ev.Channel]+1 {
			t.Fatalf("on %s: seq %d after %d", ev.Channel, ev.Seq, last[ev.Channel])
		}
		last[ev.Channel] = ev.Seq
	}
	if want := map[string]uint64{"room:1": 2 * perDesk, "owner:1:desks": 2*perDesk + 1}; !equalSeqs(last, want) {
		t.Errorf("last seqs %v, want %v", last, want)
	}
	if got := h.hub.Seq("room:1"); got != 2*perDesk {
		t.Errorf("hub.Seq(room:1) = %d, want %d", got, 2*perDesk)
	}
}

func TestEventsGoOnlyToSubscribedChannel(t *testing.T) {
	h := newHarness(t, Options{}, nil)
	room1 := h.dial("room:1")
	room2 := h.dial("room:2")
	room1.next()
	room2.next()

	for range 5 {
		h.call("room:2")
	}
	h.call("room:1")
	h.call("room:2")

	// Events reach a connection in publish order, so had room 2's calls
	// reached room 1's display they would come before its own.
	if ev := room1.next(); ev.Channel != "room:1" || ev.Seq != 1 || ev.Code != "A6" {
		t.Fatalf("room 1 display got %+v, want room 1's call A6", ev)
	}
	for want := uint64(1); want <= 6; want++ {
		if ev := room2.next(); ev.Channel != "room:2" || ev.Seq != want {
			t.Fatalf("room 2 display got %+v, want room 2's seq %d", ev, want)
		}
	}
	if st := h.hub.Stats(); st.Channels["room:1"] != 1 || st.Channels["room:2"] != 1 {
		t.Errorf("stats %+v, want one display per room", st)
	}
}

func TestClientAsksForSnapshotAfterGap(t *testing.T) {
	h := newHarness(t, Options{}, nil)
	display := h.dial("room:1")
	display.next()
	for range 3 {
		h.call("room:1")
	}
	for range 3 {
		display.next()
	}

	// The display noticed a gap and asks again while calls keep coming.
	display.send(map[string]string{"type": "snapshot"})
	const more = 30
	go func() {
		for range more {
			h.call("room:1")
			time.Sleep(100 * time.Microsecond)
		}
	}()

	var snap *message
	last := uint64(3)
	for last < 3+more || snap == nil {
		m := display.next()
		switch {
		case m.Type == "snapshot":
			if snap != nil {
				t.Fatal("two snapshots for one request")
			}
			if m.Seq < last || m.Calls < int64(m.Seq) || m.Epoch != h.hub.Epoch() {
				t.Fatalf("snapshot %+v after seq %d: want seq >= %d, calls >= seq, epoch %s", m, last, last, h.hub.Epoch())
			}
			snap, last = &m, m.Seq
		case m.Seq != last+1:
			t.Fatalf("event seq %d after %d (snapshot %v)", m.Seq, last, snap)
		default:
			last = m.Seq
		}
	}
	t.Logf("snapshot came at seq %d of %d", snap.Seq, 3+more)
}

// TestSnapshotRetriesWhenAnEventSlipsIn makes an event land while the
// snapshot is being read outside the lock: the hub must read it again.
func TestSnapshotRetriesWhenAnEventSlipsIn(t *testing.T) {
	var reads atomic.Int32
	h := newHarness(t, Options{}, func(h *harness) (any, error) {
		if reads.Add(1) == 1 {
			// Another desk commits and publishes while this read runs.
			done := make(chan struct{})
			go func() { h.call("room:1"); close(done) }()
			<-done
			return map[string]any{"calls": 0}, nil // read before that commit
		}
		return map[string]any{"calls": h.calls.Load()}, nil
	})
	display := h.dial("room:1")
	snap := display.next()
	if snap.Seq != 1 || snap.Calls != 1 || reads.Load() != 2 {
		t.Fatalf("snapshot %+v after %d reads: want seq 1, calls 1 from a second read", snap, reads.Load())
	}
	h.call("room:1")
	if ev := display.next(); ev.Seq != 2 {
		t.Fatalf("event after snapshot has seq %d, want 2", ev.Seq)
	}
}

func TestNewEpochAfterRestart(t *testing.T) {
	first := newHarness(t, Options{}, nil)
	display := first.dial("room:1")
	before := display.next()
	first.call("room:1")
	first.call("room:1")
	display.next()
	display.next()

	// The appliance restarts: the display is told, then reconnects.
	_ = first.hub.Close()
	if err := display.end(5 * time.Second); closeCode(err) != CloseGoingAway {
		t.Fatalf("display saw %v at shutdown, want close 1001", err)
	}
	second := newHarness(t, Options{}, nil)
	display = second.dial("room:1")
	after := display.next()
	if after.Epoch == "" || after.Epoch == before.Epoch {
		t.Fatalf("epoch %q after restart, %q before: want a new one", after.Epoch, before.Epoch)
	}
	if after.Seq != 0 {
		t.Errorf("seq %d after restart, want 0: counters start again", after.Seq)
	}
	second.call("room:1")
	if ev := display.next(); ev.Seq != 1 || ev.Epoch != after.Epoch {
		t.Errorf("first event after restart: seq %d epoch %s", ev.Seq, ev.Epoch)
	}

	fixed, err := New(Options{Epoch: "e42"})
	if err != nil || fixed.Epoch() != "e42" {
		t.Errorf("New(Epoch: e42).Epoch() = %q, %v", fixed.Epoch(), err)
	}
}

// smallSendBuffers caps the kernel's send buffer of the server's sockets,
// which would otherwise grow to megabytes before a client that does not
// read makes the hub's own queue fill.
type smallSendBuffers struct{ net.Listener }

func (l smallSendBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		_ = c.(*net.TCPConn).SetWriteBuffer(16 << 10)
	}
	return c, err
}

func TestSlowClientIsDroppedWithoutDelayingOthers(t *testing.T) {
	h := newHarness(t, Options{SendBuffer: 32, WriteTimeout: 3 * time.Second}, nil,
		func(s *httptest.Server) { s.Listener = smallSendBuffers{s.Listener} })
	const channel, events, fastN = "room:1", 600, 3
	pad := strings.Repeat("x", 1024)

	// The slow display never reads, not even its snapshot.
	slow := h.dial(channel)

	fast := make([]*client, fastN)
	for i := range fast {
		fast[i] = h.dial(channel)
		fast[i].next()
	}
	received := make([][]time.Time, fastN) // [client][seq-1]
	var readers sync.WaitGroup
	for i, c := range fast {
		readers.Go(func() {
			for range events {
				m, err := c.nextErr(10 * time.Second)
				if err != nil {
					t.Errorf("fast display %d: %v", i, err)
					return
				}
				if m.Seq != uint64(len(received[i])+1) {
					t.Errorf("fast display %d: seq %d after %d", i, m.Seq, len(received[i]))
					return
				}
				received[i] = append(received[i], time.Now())
			}
		})
	}

	published := make([]time.Time, events)
	var slowestPublish time.Duration
	droppedAt := uint64(0)
	for i := range events {
		published[i] = time.Now()
		if _, err := h.hub.Publish(channel, "call", map[string]any{"code": fmt.Sprint("A", i), "pad": pad}); err != nil {
			t.Fatal(err)
		}
		slowestPublish = max(slowestPublish, time.Since(published[i]))
		if droppedAt == 0 && h.hub.Stats().SlowDrops > 0 {
			droppedAt = uint64(i + 1)
		}
		time.Sleep(300 * time.Microsecond)
	}
	readers.Wait()
	if t.Failed() {
		return
	}

	var lat []time.Duration
	for i := range fast {
		for s, at := range received[i] {
			lat = append(lat, at.Sub(published[s]))
		}
	}
	slices.Sort(lat)
	p50, p99, worst := lat[len(lat)/2], lat[len(lat)*99/100], lat[len(lat)-1]
	t.Logf("slow client dropped at seq %d; fast delivery p50 %v p99 %v max %v; slowest Publish %v", droppedAt, p50, p99, worst, slowestPublish)
	if droppedAt == 0 {
		t.Fatal("the slow client was never dropped")
	}
	// A hub that waited for the slow client would stall for WriteTimeout
	// (3s); the bounds leave room for a loaded machine under -race.
	if worst > time.Second || slowestPublish > 250*time.Millisecond {
		t.Errorf("fast displays delayed: worst delivery %v, slowest Publish %v", worst, slowestPublish)
	}

	waitFor(t, 5*time.Second, "the slow client's connection to end", func() bool {
		st := h.hub.Stats()
		return st.Connections == fastN && st.Channels[channel] == fastN
	})
	if st := h.hub.Stats(); st.SlowDrops != 1 {
		t.Errorf("SlowDrops = %d, want 1", st.SlowDrops)
	}
	// The slow display finds, once it reads, a connection that has ended.
	err := slow.end(10 * time.Second)
	if isTimeout(err) {
		t.Fatalf("slow display still connected: %v", err)
	}
	// Its last write timed out half-sent, so it usually sees the connection
	// cut (1006) rather than the 1008 close frame, which could not follow.
	if code := closeCode(err); code != websocket.CloseAbnormalClosure && code != ClosePolicyViolation {
		t.Errorf("slow display ended with %v, want close 1008 or a cut connection", err)
	}
}

func TestSnapshotIsConsistentUnderConcurrentPublish(t *testing.T) {
	h := newHarness(t, Options{SendBuffer: 1 << 14}, func(h *harness) (any, error) {
		n := h.calls.Load()
		time.Sleep(200 * time.Microsecond) // a database read takes a while
		return map[string]any{"calls": n}, nil
	})
	const channel, displays, follow = "room:1", 40, 100

	stop := make(chan struct{})
	publisher := make(chan struct{})
	go func() {
		defer close(publisher)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			h.call(channel)
			if i%50 == 0 {
				time.Sleep(2 * time.Millisecond) // quiet moments too
			} else {
				runtime.Gosched()
			}
		}
	}()

	var wg sync.WaitGroup
	for d := range displays {
		wg.Go(func() {
			time.Sleep(time.Duration(d) * time.Millisecond)
			c, err := h.dialWith(websocket.DefaultDialer, channel)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.ws.Close()
			snap, err := c.nextErr(10 * time.Second)
			if err != nil || snap.Type != "snapshot" {
				t.Errorf("display %d: first message %+v, %v", d, snap, err)
				return
			}
			if snap.Calls < int64(snap.Seq) {
				t.Errorf("display %d: snapshot at seq %d shows only %d calls", d, snap.Seq, snap.Calls)
			}
			for want := snap.Seq + 1; want <= snap.Seq+follow; want++ {
				m, err := c.nextErr(10 * time.Second)
				if err != nil {
					t.Errorf("display %d: %v", d, err)
					return
				}
				if m.Seq != want {
					t.Errorf("display %d: snapshot seq %d, then seq %d where %d was due", d, snap.Seq, m.Seq, want)
					return
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	<-publisher
	if st := h.hub.Stats(); st.SlowDrops != 0 {
		t.Errorf("%d displays dropped as slow", st.SlowDrops)
	}
	t.Logf("%d events published while %d displays joined", h.hub.Seq(channel), displays)
}

func TestHeartbeat(t *testing.T) {
	h := newHarness(t, Options{PingInterval: 50 * time.Millisecond, PongWait: 150 * time.Millisecond}, nil)
	healthy := h.dial("room:1")
	mute := h.dial("room:1")
	connected := time.Now()
	mute.ws.SetPingHandler(func(string) error { return nil }) // a hung device: no pongs

	// Both read (gorilla answers pings while reading); only one answers.
	events := make(chan message, 8)
	go func() {
		for {
			m, err := healthy.nextErr(10 * time.Second)
			if err != nil {
				close(events)
				return
			}
			events <- m
		}
	}()
	if m := <-events; m.Type != "snapshot" {
		t.Fatalf("healthy display: first message %q", m.Type)
	}
	muteEnd := make(chan error, 1)
	go func() { muteEnd <- mute.end(10 * time.Second) }()

	select {
	case err := <-muteEnd:
		if closeCode(err) != ClosePolicyViolation {
			t.Errorf("silent display ended with %v, want close 1008", err)
		}
		t.Logf("silent display dropped %v after connecting (PongWait 150ms)", time.Since(connected).Round(time.Millisecond))
	case <-time.After(3 * time.Second):
		t.Fatal("silent display not dropped")
	}
	// Well past several PongWaits, the display that answers is still there.
	time.Sleep(400 * time.Millisecond)
	h.call("room:1")
	select {
	case m, ok := <-events:
		if !ok || m.Seq != 1 {
			t.Fatalf("healthy display: got %+v (open %v), want the call", m, ok)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("healthy display got nothing")
	}
	st := h.hub.Stats()
	if st.HeartbeatDrops != 1 || st.Connections != 1 {
		t.Errorf("stats %+v, want 1 heartbeat drop and 1 connection", st)
	}
}

func TestAppPingGetsPong(t *testing.T) {
	at := time.Date(2025, 3, 1, 8, 30, 0, 0, time.UTC)
	h := newHarness(t, Options{Clock: func() time.Time { return at }}, nil)
	display := h.dial("room:1")
	display.next()

	display.send(map[string]string{"type": "ping"})
	pong := display.next()
	if pong.Type != "pong" || pong.Time != "2025-03-01T08:30:00Z" {
		t.Fatalf("answer to ping: %+v", pong)
	}
}

func TestDisplayReportsWhatItShows(t *testing.T) {
	h := newHarness(t, Options{}, nil)
	display := h.dial("room:1")
	display.next()

	display.send(map[string]any{"type": "showing", "seq": 7, "version": "1.2.0"})
	select {
	case got := <-h.received:
		if !bytes.Contains(got, []byte(`"showing"`)) {
			t.Fatalf("OnMessage got %s", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("OnMessage not called")
	}
}

func TestOversizedMessageEndsConnection(t *testing.T) {
	h := newHarness(t, Options{}, nil)
	display := h.dial("room:1")
	display.next()
	display.send(map[string]string{"type": "showing", "junk": strings.Repeat("x", 5000)})
	if err := display.end(5 * time.Second); closeCode(err) != websocket.CloseMessageTooBig {
		t.Fatalf("after a 5 KB message: %v, want close 1009", err)
	}
	waitFor(t, 5*time.Second, "the connection to go", func() bool { return h.hub.Stats().Connections == 0 })
}

func TestOtherSitesCannotConnect(t *testing.T) {
	h := newHarness(t, Options{}, nil)
	host := strings.TrimPrefix(h.srv.URL, "http://")
	for _, tc := range []struct {
		origin string
		ok     bool
	}{
		{"", true},                     // a device's own client
		{"http://" + host, true},       // the appliance's own page
		{"http://evil.example", false}, // another site in the display's browser
	} {
		hdr := http.Header{}
		if tc.origin != "" {
			hdr.Set("Origin", tc.origin)
		}
		ws, resp, err := websocket.DefaultDialer.Dial(h.address("room:1"), hdr)
		if (err == nil) != tc.ok {
			t.Errorf("origin %q: err %v, want ok=%v", tc.origin, err, tc.ok)
		}
		if err == nil {
			ws.Close()
		} else if resp != nil && resp.StatusCode != http.StatusForbidden {
			t.Errorf("origin %q: status %d, want 403", tc.origin, resp.StatusCode)
		}
	}
}

func TestNoGoroutineLeakWhenClientsVanish(t *testing.T) {
	needFiles(t, 1024)
	h := newHarness(t, Options{}, nil)
	baseline := runtime.NumGoroutine()

	clients := h.dialMany(200, "room:1")
	waitFor(t, 5*time.Second, "200 connections", func() bool { return h.hub.Stats().Channels["room:1"] == 200 })
	// Displays unplugged: half reset their connection, half just close it,
	// none says goodbye.
	for i, c := range clients {
		if i%2 == 0 {
			_ = c.ws.NetConn().(*net.TCPConn).SetLinger(0)
		}
		_ = c.ws.NetConn().Close()
	}
	for range 5 {
		h.call("room:1")
	}
	waitFor(t, 10*time.Second, fmt.Sprintf("goroutines back to %d", baseline), func() bool {
		return runtime.NumGoroutine() <= baseline
	})
	if st := h.hub.Stats(); st.Connections != 0 || st.Channels["room:1"] != 0 {
		t.Errorf("stats %+v after every client left", st)
	}
}

func TestThousandDisplaysAllGetTheCall(t *testing.T) {
	const n = 1000
	needFiles(t, 2*n+256)
	h := newHarness(t, Options{}, nil)
	displays := h.dialMany(n, "room:1")
	waitFor(t, 5*time.Second, "1000 displays", func() bool { return h.hub.Stats().Channels["room:1"] == n })

	arrived := make([]time.Time, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, d := range displays {
		wg.Go(func() {
			<-start
			m, err := d.nextErr(10 * time.Second)
			if err != nil || m.Type != "call" || m.Seq != 1 || m.Code != "A1" {
				t.Errorf("display %d: %+v, %v", i, m, err)
				return
			}
			arrived[i] = time.Now()
		})
	}
	close(start)
	time.Sleep(50 * time.Millisecond) // let the readers block in Read
	t0 := time.Now()
	h.call("room:1")
	published := time.Since(t0)
	wg.Wait()
	if t.Failed() {
		return
	}
	lat := make([]time.Duration, n)
	for i, at := range arrived {
		lat[i] = at.Sub(t0)
	}
	slices.Sort(lat)
	t.Logf("1000 displays: Publish %v; delivery p50 %v p99 %v max %v", published, lat[n/2], lat[n*99/100], lat[n-1])
}

func TestCloseSendsGoingAway(t *testing.T) {
	h := newHarness(t, Options{}, nil)
	displays := []*client{h.dial("room:1"), h.dial("room:2"), h.dial("room:1", "owner:1:desks")}
	for _, d := range displays {
		d.next()
	}
	t0 := time.Now()
	if err := h.hub.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("Close took %v", time.Since(t0))
	for i, d := range displays {
		if err := d.end(5 * time.Second); closeCode(err) != CloseGoingAway {
			t.Errorf("display %d: %v, want close 1001", i, err)
		}
	}
	if _, err := h.hub.Publish("room:1", "call", nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Publish after Close: %v, want ErrClosed", err)
	}
	_, resp, err := websocket.DefaultDialer.Dial(h.address("room:1"), nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("connecting after Close: %v (%v), want 503", err, resp)
	}
	if err := h.hub.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if st := h.hub.Stats(); st.Connections != 0 {
		t.Errorf("%d connections after Close", st.Connections)
	}
}

func TestPayloadMergesAtTopLevel(t *testing.T) {
	type call struct {
		Code string `json:"code"`
		Desk int    `json:"desk"`
	}
	h := newHarness(t, Options{Epoch: "e1"}, nil)
	display := h.dial("room:1")
	display.next()
	if _, err := h.hub.Publish("room:1", "call", call{Code: "B7", Desk: 2}); err != nil {
		t.Fatal(err)
	}
	_, raw, err := display.ws.ReadMessage()
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"type":"call","channel":"room:1","epoch":"e1","seq":1,"code":"B7","desk":2}`; string(raw) != want {
		t.Errorf("event\n got %s\nwant %s", raw, want)
	}

	for _, tc := range []struct {
		typ     string
		payload any
		want    error
	}{
		{"call", map[string]any{"seq": 9}, ErrReservedField},
		{"call", []int{1}, ErrNotObject},
		{"call", "A1", ErrNotObject},
		{"snapshot", nil, nil}, // reserved type: some error
		{"", nil, nil},
	} {
		_, err := h.hub.Publish("room:1", tc.typ, tc.payload)
		if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
			t.Errorf("Publish(%q, %v) = %v, want %v", tc.typ, tc.payload, err, tc.want)
		}
	}
	if h.hub.Seq("room:1") != 1 {
		t.Errorf("a refused payload used a seq: now %d", h.hub.Seq("room:1"))
	}
	if _, err := h.hub.Publish("room:1", "queue", nil); err != nil {
		t.Errorf("event without payload: %v", err)
	}
}

func TestOptionsThatCannotWorkAreRefused(t *testing.T) {
	for _, opt := range []Options{
		{PingInterval: 20 * time.Second},
		{PingInterval: time.Second, PongWait: time.Second},
		{SendBuffer: -1},
	} {
		if _, err := New(opt); err == nil {
			t.Errorf("New(%+v) accepted", opt)
		}
	}
	h, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if o := h.opt; o.PingInterval != 10*time.Second || o.PongWait != 20*time.Second || o.WriteTimeout != 5*time.Second || o.SendBuffer != 256 {
		t.Errorf("defaults: %+v", o)
	}
}

// BenchmarkPublish1000 times one call reaching 1,000 displays: Publish and
// every display reading the event. Compare with BenchmarkBareBroadcast1000.
func BenchmarkPublish1000(b *testing.B) {
	const n = 1000
	needFiles(b, 2*n+256)
	h := newHarness(b, Options{}, nil)
	displays := h.dialMany(n, "room:1")
	payload := map[string]any{"code": "A23", "desk": 3, "service": "Carta d'identità", "room": "Sala 1"}
	benchFanOut(b, displays, func() {
		if _, err := h.hub.Publish("room:1", "call", payload); err != nil {
			b.Fatal(err)
		}
	})
}

// BenchmarkBareBroadcast1000 is the baseline: a plain gorilla/websocket
// server writing the same event to the same 1,000 connections in a loop,
// with no queues, seq, snapshots or heartbeats.
func BenchmarkBareBroadcast1000(b *testing.B) {
	const n = 1000
	needFiles(b, 2*n+256)
	var mu sync.Mutex
	var conns []*websocket.Conn
	up := websocket.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		mu.Lock()
		conns = append(conns, ws)
		mu.Unlock()
	}))
	defer srv.Close()
	url := "ws" + strings.TrimPrefix(srv.URL, "http")
	displays := make([]*client, n)
	for i := range displays {
		ws, _, err := websocket.DefaultDialer.Dial(url, nil)
		if err != nil {
			b.Fatal(err)
		}
		defer ws.Close()
		displays[i] = &client{t: b, ws: ws}
	}
	waitFor(b, 10*time.Second, "every connection upgraded", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(conns) == n
	})
	mu.Lock()
	defer mu.Unlock()
	msg := []byte(`{"type":"call","channel":"room:1","epoch":"0123456789abcdef","seq":1,"code":"A23","desk":3,"room":"Sala 1","service":"Carta d'identità"}`)
	benchFanOut(b, displays, func() {
		for _, ws := range conns {
			if err := ws.WriteMessage(websocket.TextMessage, msg); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, ws := range conns {
		ws.Close()
	}
}

// benchFanOut runs publish b.N times, each time waiting until every display
// has read the event.
func benchFanOut(b *testing.B, displays []*client, publish func()) {
	var got sync.WaitGroup
	for _, d := range displays {
		go func() {
			for {
				if _, _, err := d.ws.ReadMessage(); err != nil {
					return // the benchmark is over
				}
				got.Done()
			}
		}()
	}
	for b.Loop() {
		got.Add(len(displays))
		publish()
		got.Wait()
	}
}

// BenchmarkPublish5000NoNetwork is what Publish costs its caller (and how
// long it holds the channel) with 5,000 subscribers: marshal once, then one
// non-blocking send each. The queues are emptied outside the timing.
func BenchmarkPublish5000NoNetwork(b *testing.B) {
	hub, err := New(Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	ch := hub.channel("room:1")
	var conns []*conn
	for range 5000 {
		c := &conn{send: make(chan []byte, 256), done: make(chan struct{}), chans: []*channel{ch}}
		ch.subs[c] = struct{}{}
		conns = append(conns, c)
	}
	payload := map[string]any{"code": "A23", "desk": 3, "service": "Carta d'identità", "room": "Sala 1"}
	queued := 0
	for b.Loop() {
		if queued == 256 {
			b.StopTimer()
			for _, c := range conns {
				for len(c.send) > 0 {
					<-c.send
				}
			}
			queued = 0
			b.StartTimer()
		}
		if _, err := hub.Publish("room:1", "call", payload); err != nil {
			b.Fatal(err)
		}
		queued++
	}
	if d := hub.Stats().SlowDrops; d > 0 {
		b.Fatalf("%d subscribers dropped", d)
	}
}
