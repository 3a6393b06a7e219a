package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"avanti/appliance/auth"
	"avanti/appliance/benchkit"
	"avanti/appliance/clock"
	"avanti/appliance/config"
	"avanti/appliance/demo"
	"avanti/appliance/realtime"
	"avanti/appliance/server"
	"avanti/appliance/store"
)

type bench struct {
	o  options
	st *store.Store
	r  *report

	srv     *server.Server
	http    *http.Server
	base    string // http://127.0.0.1:port
	dataDir string
	demo    demo.Data
	kiosk   *apiClient
	op      *apiClient
	deskID  int64
	svcID   int64
	tokens  []string // display i connects with tokens[i % len]
	codes   []string // the booked walk-ins' codes
	bare    *bare
	results []sizeResult

	sample []byte // a call event as the appliance sent it: the baseline's message
}

func (b *bench) all(ctx context.Context) error {
	b.notes()
	if err := b.setup(ctx); err != nil {
		return fmt.Errorf("set up: %w", err)
	}
	for i, n := range b.o.sizes {
		sec := fmt.Sprintf("%d. %s displays", i+2, thousands(n))
		if err := b.appliance(ctx, sec, n); err != nil {
			return fmt.Errorf("%s displays, appliance: %w", thousands(n), err)
		}
		if err := b.baseline(ctx, sec, n); err != nil {
			return fmt.Errorf("%s displays, baseline: %w", thousands(n), err)
		}
	}
	return nil
}

func (b *bench) close() {
	if b.srv != nil {
		b.srv.Close()
	}
	if b.http != nil {
		b.http.Close()
	}
	if b.bare != nil {
		b.bare.close()
	}
	if b.dataDir != "" {
		os.RemoveAll(b.dataDir)
	}
}

// setup loads the demo organisation, starts the appliance and the baseline
// server on loopback, creates the display devices, books the walk-ins to
// call and opens desk 1 (room 1, where the displays are) on Informazioni.
func (b *bench) setup(ctx context.Context) error {
	const sec = "1. set-up"
	t0 := time.Now()
	var err error
	if b.demo, err = demo.Load(ctx, b.st, time.Now(), 2); err != nil {
		return fmt.Errorf("demo data: %w", err)
	}
	b.svcID = b.demo.Services["I"]
	b.deskID = b.demo.DeskIDs[0]
	room := b.demo.RoomIDs[0]
	if b.dataDir, err = os.MkdirTemp("", "avanti-fanout-"); err != nil {
		return err
	}
	cfg := config.Default()
	cfg.HorizonDays = 2
	cfg.DataDir = b.dataDir
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if b.srv, err = server.New(cfg, b.st, clock.Real{}, log, nil); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	b.base = "http://" + ln.Addr().String()
	b.http = &http.Server{Handler: b.srv.Handler, ReadHeaderTimeout: 10 * time.Second}
	go b.http.Serve(ln)
	if b.bare, err = startBare(); err != nil {
		return fmt.Errorf("baseline server: %w", err)
	}
	benchkit.Progress("demo data loaded, appliance on %s, baseline on %s (%s)", b.base, b.bare.url, time.Since(t0).Round(time.Millisecond))

	largest := b.o.sizes[len(b.o.sizes)-1]
	if b.o.sharedToken {
		b.tokens = []string{b.demo.Credentials.DisplayToken}
		b.r.Note("every display connects with the demo display's token: %s connections of one device", thousands(largest))
	} else {
		t0 = time.Now()
		if b.tokens, err = b.createDisplays(ctx, largest, room); err != nil {
			return err
		}
		d := time.Since(t0)
		benchkit.Progress("%d display devices created in %s", largest, d.Round(time.Millisecond))
		b.r.Add(sec, "display devices created", fmt.Sprintf("%s in %s", thousands(largest), secs(d)), "", "", "")
		b.r.Note("every display is a device of its own: %s display devices made with store.CreateDevice in the demo's first room "+
			"(desk 1's), display i of a run connecting with device i's token", thousands(largest))
	}

	b.kiosk = newAPIClient(b.base, nil)
	b.kiosk.bearer = b.demo.Credentials.KioskToken
	jar, _ := cookiejar.New(nil)
	b.op = newAPIClient(b.base, jar)
	var me struct {
		CSRF string `json:"csrf_token"`
	}
	cr := b.demo.Credentials.Operator
	if err := b.op.json(ctx, "POST", "/api/v1/auth/login", map[string]string{"username": cr.Username, "password": cr.Password}, 200, &me); err != nil {
		return fmt.Errorf("operator login: %w", err)
	}
	b.op.csrf = me.CSRF
	if err := b.op.json(ctx, "POST", b.desk("open"), map[string]any{"service_ids": []int64{b.svcID}}, 200, nil); err != nil {
		return fmt.Errorf("open desk: %w", err)
	}
	// The walk-ins every call-next will call, one per call and warm-up.
	t0 = time.Now()
	need := len(b.o.sizes) * (b.o.calls + 1)
	for range need {
		var t struct {
			Code string `json:"code"`
		}
		if err := b.kiosk.json(ctx, "POST", "/api/v1/tickets", map[string]any{"service_id": b.svcID}, 201, &t); err != nil {
			return fmt.Errorf("book walk-in: %w", err)
		}
		if t.Code == "" {
			return errors.New("book walk-in: no code in the answer")
		}
		b.codes = append(b.codes, t.Code)
	}
	benchkit.Progress("%d walk-ins booked at the kiosk in %s", need, time.Since(t0).Round(time.Millisecond))
	b.r.Add(sec, "walk-ins booked (kiosk API)", fmt.Sprintf("%d on Informazioni, desk 1 open", need), "", "", "")
	return nil
}

// createDisplays makes n display devices in room and returns their tokens.
func (b *bench) createDisplays(ctx context.Context, n int, room int64) ([]string, error) {
	tokens := make([]string, n)
	var (
		next  atomic.Int64
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	now := time.Now()
	for range 32 {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				tok := auth.Token(32)
				_, err := b.st.CreateDevice(ctx, store.Device{OwnerID: b.demo.OwnerID, RoomID: room, Kind: "display",
					Name: fmt.Sprintf("Monitor fan-out %d", i+1)}, tok, now)
				if err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					return
				}
				tokens[i] = tok
			}
		})
	}
	wg.Wait()
	if first != nil {
		return nil, fmt.Errorf("create display devices: %w", first)
	}
	return tokens, ctx.Err()
}

func (b *bench) desk(action string) string {
	return fmt.Sprintf("/api/v1/desks/%d/%s", b.deskID, action)
}

func (b *bench) displayURL(i int) string {
	return "ws" + strings.TrimPrefix(b.base, "http") + "/ws/display?token=" + url.QueryEscape(b.tokens[i%len(b.tokens)])
}

// side is what a measurement runs against: the appliance or the baseline.
type side struct {
	url    func(i int) string // display i's WebSocket endpoint
	dialed func()             // once every display has its snapshot (optional)
	// call triggers round i's call and says when it was asked and answered
	// and which slot (ticket code) it called.
	call  func(ctx context.Context, f *fleet, i int) (round, error)
	after func(ctx context.Context) error // after every display has the call (optional)
	left  func() error                    // waits until the server has seen every display leave
}

// runResult is one side's measurement.
type runResult struct {
	out                outcome
	connectWall        time.Duration
	connect            benchkit.Latencies
	before, after      memory // process memory before and after connecting
	closed             memory // and once the displays have left
	twice, other, lost int64
	lostReason         string
	msgsPerDisplay     float64
	kibPerDisplay      float64
	timedOut           int
}

// measure connects n displays to s, then runs calls+1 rounds (the first a
// warm-up): each calls, waits until every display has read the call (at
// most o.wait), runs s.after and pauses o.gap. codes are the ticket codes
// the calls may carry.
func (b *bench) measure(ctx context.Context, n int, codes []string, s side) (*runResult, *fleet, error) {
	res := &runResult{}
	f := newFleet(n, codes)
	var err error
	if res.before, err = measureMemory(); err != nil {
		return nil, nil, err
	}
	t0 := time.Now()
	err = f.dial(ctx, b.o.dialWorkers, s.url)
	res.connectWall = time.Since(t0)
	if err != nil {
		f.close()
		return nil, nil, fmt.Errorf("connect: %w", err)
	}
	res.connect = f.connect
	if s.dialed != nil {
		s.dialed()
	}
	if res.after, err = measureMemory(); err != nil {
		f.close()
		return nil, nil, err
	}
	var rounds []round
	for i := range b.o.calls + 1 {
		r, err := s.call(ctx, f, i)
		if err != nil {
			f.close()
			return nil, nil, fmt.Errorf("call %d: %w", i+1, err)
		}
		if !f.waitAll(r.slot, b.o.wait) {
			res.timedOut++
		}
		if s.after != nil {
			if err := s.after(ctx); err != nil {
				f.close()
				return nil, nil, fmt.Errorf("call %d: %w", i+1, err)
			}
		}
		if i > 0 { // the first call warms up
			rounds = append(rounds, r)
		}
		select {
		case <-ctx.Done():
			f.close()
			return nil, nil, ctx.Err()
		case <-time.After(b.o.gap):
		}
	}
	res.out = f.outcome(rounds)
	res.twice, res.other, res.lost, res.lostReason = f.twice.Load(), f.other.Load(), f.lost.Load(), f.lostReason()
	res.msgsPerDisplay = float64(f.msgs.Load()) / float64(n)
	res.kibPerDisplay = float64(f.bytes.Load()) / float64(n) / 1024
	f.close()
	if err := s.left(); err != nil {
		return nil, nil, err
	}
	if res.closed, err = measureMemory(); err != nil {
		return nil, nil, err
	}
	return res, f, nil
}

// appliance measures the appliance's fan-out to n displays.
func (b *bench) appliance(ctx context.Context, sec string, n int) error {
	hub := b.srv.Hub
	before := hub.Stats()
	if before.Connections != 0 {
		return fmt.Errorf("%d WebSocket connections still open before the run", before.Connections)
	}
	// Slots: every walk-in's code; which one a call-next picks is the
	// server's business.
	codes := b.codes
	benchkit.Progress("appliance: connecting %s displays", thousands(n))
	call := func(ctx context.Context, f *fleet, i int) (round, error) {
		sent := f.now()
		var resp struct {
			Ticket struct {
				Code string `json:"code"`
			} `json:"ticket"`
		}
		if err := b.op.json(ctx, "POST", b.desk("call-next"), nil, 200, &resp); err != nil {
			return round{}, fmt.Errorf("call-next: %w", err)
		}
		ans := f.now()
		slot, ok := f.slots[resp.Ticket.Code]
		if !ok {
			return round{}, fmt.Errorf("call-next called %q, not a walk-in code", resp.Ticket.Code)
		}
		return round{slot: slot, sent: sent, ans: ans}, nil
	}
	after := func(ctx context.Context) error {
		if err := b.op.json(ctx, "POST", b.desk("start"), nil, 200, nil); err != nil {
			return fmt.Errorf("start: %w", err)
		}
		if err := b.op.json(ctx, "POST", b.desk("finish"), nil, 200, nil); err != nil {
			return fmt.Errorf("finish: %w", err)
		}
		return nil
	}
	var connected int
	var afterStats realtime.Stats
	left := func() error {
		afterStats = hub.Stats()
		return waitHubEmpty(hub, 15*time.Second)
	}
	res, f, err := b.measure(ctx, n, codes, side{url: b.displayURL, dialed: func() { connected = hub.Stats().Connections },
		call: call, after: after, left: left})
	if err != nil {
		return err
	}
	if s := f.sample.Load(); s != nil && b.sample == nil {
		b.sample = *s
	}
	benchkit.Progress("appliance, %s displays: p50 %s p99 %s max %s, %d missed, %d twice", thousands(n),
		benchkit.Millis(res.out.lat.P(50)), benchkit.Millis(res.out.lat.P(99)), benchkit.Millis(res.out.lat.Max()), res.out.missed, res.twice)
	b.results = append(b.results, sizeResult{sec: sec, n: n, app: res,
		slow: int64(afterStats.SlowDrops - before.SlowDrops), silent: int64(afterStats.HeartbeatDrops - before.HeartbeatDrops),
		hubConns: connected})
	return nil
}

// baseline measures the bare gorilla broadcast of the appliance's call
// event to n connections, then writes the size's rows.
func (b *bench) baseline(ctx context.Context, sec string, n int) error {
	if b.sample == nil {
		return errors.New("no call event from the appliance to broadcast")
	}
	oldCode, ok := ticketCode(b.sample)
	if !ok {
		return fmt.Errorf("no ticket code in the sample event %.100s", b.sample)
	}
	codes := make([]string, b.o.calls+1)
	msgs := make([][]byte, len(codes))
	for i := range codes {
		codes[i] = fmt.Sprintf("B%03d", i+1)
		msgs[i] = bytes.Replace(b.sample, append(bytes.Clone(codeKey), oldCode+`"`...), append(bytes.Clone(codeKey), codes[i]+`"`...), 1)
	}
	cl := httpClient(nil)
	benchkit.Progress("baseline: connecting %s clients", thousands(n))
	call := func(ctx context.Context, f *fleet, i int) (round, error) {
		sent := f.now()
		req, err := http.NewRequestWithContext(ctx, "POST", "http://"+b.bare.url+"/broadcast", bytes.NewReader(msgs[i]))
		if err != nil {
			return round{}, err
		}
		resp, err := cl.Do(req)
		if err != nil {
			return round{}, err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		ans := f.now()
		if resp.StatusCode != http.StatusNoContent {
			return round{}, fmt.Errorf("broadcast: %s", resp.Status)
		}
		return round{slot: i, sent: sent, ans: ans}, nil
	}
	dropsBefore := b.bare.dropped.Load()
	left := func() error {
		for start := time.Now(); b.bare.connections() != 0; time.Sleep(10 * time.Millisecond) {
			if time.Since(start) > 15*time.Second {
				return fmt.Errorf("%d baseline connections still open 15s after the clients left", b.bare.connections())
			}
		}
		return nil
	}
	res, _, err := b.measure(ctx, n, codes, side{url: func(int) string { return "ws://" + b.bare.url + "/ws" }, call: call, left: left})
	if err != nil {
		return err
	}
	benchkit.Progress("baseline, %s connections: p50 %s p99 %s max %s, %d missed, %d twice", thousands(n),
		benchkit.Millis(res.out.lat.P(50)), benchkit.Millis(res.out.lat.P(99)), benchkit.Millis(res.out.lat.Max()), res.out.missed, res.twice)
	sr := &b.results[len(b.results)-1]
	sr.bare = res
	sr.bareDrops = b.bare.dropped.Load() - dropsBefore
	b.rows(*sr)
	return nil
}

func waitHubEmpty(hub *realtime.Hub, d time.Duration) error {
	start := time.Now()
	for hub.Stats().Connections != 0 {
		if time.Since(start) > d {
			return fmt.Errorf("%d WebSocket connections still open %s after the displays left", hub.Stats().Connections, d)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil
}

// apiClient calls the appliance's API as a device (bearer token) or a
// signed-in operator (cookie and CSRF token).
type apiClient struct {
	base   string
	c      *http.Client
	bearer string
	csrf   string
}

func newAPIClient(base string, jar http.CookieJar) *apiClient {
	return &apiClient{base: base, c: httpClient(jar)}
}

// json sends body (nil: none) and decodes the answer into out (nil: drop
// it), failing unless the status is want.
func (a *apiClient) json(ctx context.Context, method, path string, body any, want int, out any) error {
	var r io.Reader
	if body != nil {
		j, err := json.Marshal(body)
		if err != nil {
			return err
		}
		r = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, r)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if a.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+a.bearer)
	}
	if a.csrf != "" {
		req.Header.Set("X-CSRF-Token", a.csrf)
	}
	resp, err := a.c.Do(req)
	if err != nil {
		return err
	}
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: %s: %.300s", method, path, resp.Status, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("%s %s: %w: %.300s", method, path, err, raw)
		}
	}
	return nil
}

func thousands(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func secs(d time.Duration) string { return fmt.Sprintf("%.1f s", d.Seconds()) }
