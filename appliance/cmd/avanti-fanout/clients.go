package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"avanti/appliance/benchkit"
)

// dialer is the displays' WebSocket client, the same for the appliance and
// the baseline. Idle connections hold no write buffer.
var dialer = &websocket.Dialer{
	NetDialContext:   (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
	HandshakeTimeout: 10 * time.Second,
	ReadBufferSize:   1024,
	WriteBufferSize:  1024,
	WriteBufferPool:  &sync.Pool{},
}

// fleet is n display connections that note, each in its own goroutine, the
// moment a call event for a known ticket code arrives.
type fleet struct {
	epoch time.Time      // receipt times are monotonic offsets from it
	slots map[string]int // ticket code → slot (read-only while running)
	n     int

	recv  []atomic.Int64 // [client*len(slots)+slot]: receipt time since epoch, 0 = not yet
	got   []atomic.Int32 // per slot: displays that have it
	twice atomic.Int64   // a call read again by the same display
	other atomic.Int64   // call events of unknown tickets
	msgs  atomic.Int64   // messages read after the first, calls or not
	bytes atomic.Int64   // their size

	conns   []*websocket.Conn
	connect benchkit.Latencies // handshake until the first message, per display

	closing atomic.Bool
	lost    atomic.Int64 // connections that ended while the run was on
	lostErr atomic.Value // the first reason
	readers sync.WaitGroup

	sample atomic.Pointer[[]byte] // the first call event read, verbatim
}

func newFleet(n int, codes []string) *fleet {
	f := &fleet{epoch: time.Now(), slots: make(map[string]int, len(codes)), n: n}
	for i, c := range codes {
		f.slots[c] = i
	}
	f.recv = make([]atomic.Int64, n*len(codes))
	f.got = make([]atomic.Int32, len(codes))
	f.conns = make([]*websocket.Conn, n)
	f.connect = make(benchkit.Latencies, n)
	return f
}

func (f *fleet) now() int64 { return int64(time.Since(f.epoch)) }

// dial connects the n displays, workers at a time, url(i) naming display
// i's endpoint; it returns once every one has read its first message (the
// snapshot), its reader then running until close.
func (f *fleet) dial(ctx context.Context, workers int, url func(i int) string) error {
	next := atomic.Int64{}
	var (
		mu    sync.Mutex
		first error
		wg    sync.WaitGroup
	)
	for range min(workers, f.n) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= f.n || ctx.Err() != nil {
					return
				}
				if err := f.dialOne(ctx, i, url(i)); err != nil {
					mu.Lock()
					if first == nil {
						first = fmt.Errorf("display %d: %w", i, err)
					}
					mu.Unlock()
					next.Store(int64(f.n)) // stop the others
					return
				}
			}
		})
	}
	wg.Wait()
	if first != nil {
		return first
	}
	return ctx.Err()
}

func (f *fleet) dialOne(ctx context.Context, i int, url string) error {
	t0 := time.Now()
	ws, resp, err := dialer.DialContext(ctx, url, nil)
	if err != nil {
		if resp != nil {
			return fmt.Errorf("%w (HTTP %s)", err, resp.Status)
		}
		return err
	}
	f.conns[i] = ws
	ws.SetReadDeadline(time.Now().Add(15 * time.Second))
	_, msg, err := ws.ReadMessage()
	if err != nil {
		ws.Close()
		return fmt.Errorf("first message: %w", err)
	}
	if !bytes.HasPrefix(msg, []byte(`{"type":"snapshot"`)) {
		ws.Close()
		return fmt.Errorf("first message is not a snapshot: %.80s", msg)
	}
	f.connect[i] = time.Since(t0)
	ws.SetReadDeadline(time.Time{})
	f.readers.Add(1)
	go f.read(i, ws)
	return nil
}

var (
	callPrefix = []byte(`{"type":"call"`)
	codeKey    = []byte(`"ticket":{"code":"`)
)

// read is display i's reader. Reading also answers the server's pings
// (gorilla's default ping handler).
func (f *fleet) read(i int, ws *websocket.Conn) {
	defer f.readers.Done()
	base := i * len(f.slots)
	for {
		_, msg, err := ws.ReadMessage()
		at := f.now()
		if err != nil {
			if !f.closing.Load() {
				f.lost.Add(1)
				f.lostErr.CompareAndSwap(nil, err.Error())
			}
			return
		}
		f.msgs.Add(1)
		f.bytes.Add(int64(len(msg)))
		if !bytes.HasPrefix(msg, callPrefix) {
			continue
		}
		code, ok := ticketCode(msg)
		slot, known := f.slots[code]
		if !ok || !known {
			f.other.Add(1)
			continue
		}
		if f.sample.Load() == nil {
			m := bytes.Clone(msg)
			f.sample.CompareAndSwap(nil, &m)
		}
		if f.recv[base+slot].CompareAndSwap(0, at) {
			f.got[slot].Add(1)
		} else {
			f.twice.Add(1)
		}
	}
}

// ticketCode finds the called ticket's code in a call event without
// decoding all of it (the hub writes the ticket's code first), falling back
// to decoding.
func ticketCode(msg []byte) (string, bool) {
	if i := bytes.Index(msg, codeKey); i >= 0 {
		rest := msg[i+len(codeKey):]
		if j := bytes.IndexByte(rest, '"'); j >= 0 {
			return string(rest[:j]), true
		}
	}
	var m struct {
		Call struct {
			Ticket struct {
				Code string `json:"code"`
			} `json:"ticket"`
		} `json:"call"`
	}
	if json.Unmarshal(msg, &m) != nil || m.Call.Ticket.Code == "" {
		return "", false
	}
	return m.Call.Ticket.Code, true
}

// waitAll waits until every display has read slot's call, or until d has
// passed; it reports whether all did.
func (f *fleet) waitAll(slot int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for int(f.got[slot].Load()) < f.n {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(time.Millisecond)
	}
	return true
}

// round is one measured call: when its trigger (call-next, or the
// baseline's broadcast request) was sent and answered.
type round struct {
	slot      int
	sent, ans int64 // since the fleet's epoch
}

// outcome is what the displays saw of a set of rounds.
type outcome struct {
	lat     benchkit.Latencies // receipt - response, every display and round
	fromReq benchkit.Latencies // receipt - request
	spread  benchkit.Latencies // last receipt - first receipt, per round
	api     benchkit.Latencies // response - request, per round
	missed  int64
}

func (f *fleet) outcome(rounds []round) outcome {
	var o outcome
	o.lat = make(benchkit.Latencies, 0, len(rounds)*f.n)
	o.fromReq = make(benchkit.Latencies, 0, len(rounds)*f.n)
	for _, r := range rounds {
		o.api = append(o.api, time.Duration(r.ans-r.sent))
		lo, hi := int64(-1), int64(-1)
		for c := range f.n {
			at := f.recv[c*len(f.slots)+r.slot].Load()
			if at == 0 {
				o.missed++
				continue
			}
			o.lat = append(o.lat, time.Duration(at-r.ans))
			o.fromReq = append(o.fromReq, time.Duration(at-r.sent))
			if lo < 0 || at < lo {
				lo = at
			}
			hi = max(hi, at)
		}
		if lo >= 0 {
			o.spread = append(o.spread, time.Duration(hi-lo))
		}
	}
	return o
}

// close says goodbye to every display and waits (a little) for their
// readers to see the server's answer.
func (f *fleet) close() {
	f.closing.Store(true)
	bye := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")
	for _, ws := range f.conns {
		if ws != nil {
			ws.WriteControl(websocket.CloseMessage, bye, time.Now().Add(time.Second))
		}
	}
	done := make(chan struct{})
	go func() { f.readers.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
	}
	for _, ws := range f.conns {
		if ws != nil {
			ws.Close()
		}
	}
	f.readers.Wait()
}

func (f *fleet) lostReason() string {
	if s, ok := f.lostErr.Load().(string); ok {
		return s
	}
	return ""
}

// httpClient talks to the API and the baseline server on loopback: no
// proxy, a few kept-alive connections.
func httpClient(jar http.CookieJar) *http.Client {
	return &http.Client{Jar: jar, Timeout: 30 * time.Second,
		Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 4, IdleConnTimeout: time.Minute}}
}
