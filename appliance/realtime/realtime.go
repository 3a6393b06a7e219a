// Package realtime is the hub that fans events out to the WebSocket clients
// of the appliance: waiting-room displays, totems and desk consoles.
//
// # Channels, seq and epoch
//
// A channel is a name chosen by the caller ("room:3", "owner:1:desks",
// "kiosk:1"). Every channel has its own sequence counter: the first event
// published on it has seq 1, the next seq 2, and so on, whether or not anyone
// is listening. The epoch is a random string fixed for the life of the hub
// (one per appliance process): after a restart the counters start again from
// zero under a new epoch, so a client compares (epoch, seq), never seq alone.
//
// # Wire format
//
// Server to client, one JSON object per text message:
//
//	{"type":"snapshot","channel":"room:3","epoch":"…","seq":41,"seqs":{"room:3":41,"kiosk:1":7},…snapshot fields…}
//	{"type":"call","channel":"room:3","epoch":"…","seq":42,…payload fields…}
//	{"type":"pong","time":"2025-03-01T08:30:00.123Z"}
//
// The payload of an event (and the value returned by Subscription.Snapshot)
// must marshal to a JSON object, or be nil; its members are merged at the
// top level, after the hub's own. The hub's member names (type, channel,
// epoch, seq, seqs) are reserved: a payload that uses one is refused with
// ErrReservedField rather than silently shadowed.
//
// A client subscribed to several channels keeps one seq per channel: the
// snapshot's "seqs" gives the starting seq of every channel it covers (its
// "seq" is the one of the primary, first, channel), and every event names its
// channel. An event whose seq is not last+1 for its channel, or whose epoch
// differs from the snapshot's, means the client missed something: it sends
// {"type":"snapshot"} and replaces its state with the answer.
//
// Client to server: {"type":"snapshot"} asks for a fresh snapshot;
// {"type":"ping"} is answered with {"type":"pong"} (browsers cannot see
// WebSocket pings, so they use this heartbeat to notice a dead server);
// anything else is handed to Subscription.OnMessage.
//
// # Consistency of snapshots
//
// A snapshot carrying seq S is queued to its connection at a moment when no
// event of its channels can be published, and the connection joins its
// channels at that same moment. So every event with seq <= S reaches the
// client before the snapshot (or, on connect, not at all) and every event with
// seq > S after it, in order. Events must be published after the database
// transaction that caused them commits: then the state a snapshot reads
// contains every event up to S. An event whose transaction committed just
// before the snapshot was read but which was published just after it arrives
// as S+1 although the snapshot already shows it, so clients apply events
// idempotently (a call carries its ticket, a recall is spoken again on
// purpose).
package realtime

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// Close codes the hub sends.
const (
	// CloseGoingAway (1001) is sent to every client when the hub closes.
	CloseGoingAway = websocket.CloseGoingAway
	// ClosePolicyViolation (1008) is sent to a client that could not keep up
	// ("slow client") or stopped answering pings ("missed heartbeat").
	ClosePolicyViolation = websocket.ClosePolicyViolation
	// CloseInternalError (1011) is sent when a snapshot could not be built.
	CloseInternalError = websocket.CloseInternalServerErr
)

// Errors returned by the hub.
var (
	ErrClosed        = errors.New("realtime: hub closed")
	ErrReservedField = errors.New("realtime: payload uses a reserved field")
	ErrNotObject     = errors.New("realtime: payload is not a JSON object")
)

// MaxPingInterval is the longest ping interval allowed: displays mark
// themselves offline after missed heartbeats, so the server must beat often.
const MaxPingInterval = 15 * time.Second

// Options configure a Hub. Zero values take the defaults.
type Options struct {
	// Epoch names this run of the hub; default: random, new at every start.
	Epoch string
	// WriteTimeout bounds every write to a client (default 5s). A client
	// that cannot take a message within it is dropped.
	WriteTimeout time.Duration
	// PingInterval is how often the server pings each client (default 10s,
	// at most MaxPingInterval).
	PingInterval time.Duration
	// PongWait is how long a client may stay silent (no pong, no message)
	// before it is dropped (default 2×PingInterval; must exceed PingInterval).
	PongWait time.Duration
	// SendBuffer is the number of messages queued per connection (default
	// 256). A client whose queue is full is dropped.
	SendBuffer int
	// MaxMessage bounds a client's message in bytes (default 4096).
	MaxMessage int64
	// CheckOrigin accepts or refuses a WebSocket handshake; default: accept
	// requests without an Origin header and same-origin requests.
	CheckOrigin func(r *http.Request) bool
	// Logger receives the hub's diagnostics; default slog.Default().
	Logger *slog.Logger
	// Clock stamps the "time" of pong replies (a display's clock can follow
	// the appliance's); default time.Now.
	Clock func() time.Time
}

// Subscription says what a connection listens to and what it is first sent.
type Subscription struct {
	// Channels to receive; the first is the primary channel, whose seq the
	// snapshot's "seq" carries. At least one is required.
	Channels []string
	// Snapshot returns everything the client shows (a struct or map that
	// marshals to a JSON object, or nil). It is called on connect and when
	// the client asks again, possibly while the hub holds the lock of the
	// subscription's channels: it must not Publish on them, nor wait for
	// anything that does.
	Snapshot func() (any, error)
	// OnMessage receives the client's messages other than the hub's own
	// ("snapshot", "ping"), e.g. a display reporting what it shows. It runs
	// on the connection's reader: while it runs, that client is not read.
	OnMessage func(msg []byte)
}

// Stats is a picture of the hub for metrics.
type Stats struct {
	Connections    int            // open WebSocket connections
	Channels       map[string]int // subscribed connections per channel
	SlowDrops      uint64         // clients dropped because they could not keep up
	HeartbeatDrops uint64         // clients dropped because they went silent
}

// Hub fans events out to WebSocket connections. Safe for concurrent use.
type Hub struct {
	opt        Options
	log        *slog.Logger
	epoch      string
	epochJSON  []byte
	closeGrace time.Duration
	upgrader   websocket.Upgrader

	chMu     sync.RWMutex
	channels map[string]*channel

	mu      sync.Mutex
	closed  bool
	conns   map[*conn]struct{}
	serving sync.WaitGroup
	isShut  atomic.Bool

	slowDrops      atomic.Uint64
	heartbeatDrops atomic.Uint64
}

// channel is one event stream. Its lock orders everything that must agree
// on its seq: publishing, joining, and queuing a snapshot.
type channel struct {
	name string
	json []byte // name as a JSON string

	mu   sync.Mutex
	seq  uint64
	subs map[*conn]struct{}
}

// New makes a hub. It fails only on options that cannot work.
func New(opt Options) (*Hub, error) {
	if opt.WriteTimeout == 0 {
		opt.WriteTimeout = 5 * time.Second
	}
	if opt.PingInterval == 0 {
		opt.PingInterval = 10 * time.Second
	}
	if opt.PongWait == 0 {
		opt.PongWait = 2 * opt.PingInterval
	}
	if opt.SendBuffer == 0 {
		opt.SendBuffer = 256
	}
	if opt.MaxMessage == 0 {
		opt.MaxMessage = 4096
	}
	switch {
	case opt.WriteTimeout < 0, opt.PingInterval < 0, opt.SendBuffer < 0, opt.MaxMessage < 0:
		return nil, errors.New("realtime: negative option")
	case opt.PingInterval > MaxPingInterval:
		return nil, fmt.Errorf("realtime: PingInterval %v exceeds %v", opt.PingInterval, MaxPingInterval)
	case opt.PongWait <= opt.PingInterval:
		return nil, fmt.Errorf("realtime: PongWait %v must exceed PingInterval %v", opt.PongWait, opt.PingInterval)
	}
	if opt.Epoch == "" {
		b := make([]byte, 8)
		_, _ = rand.Read(b) // never fails (crypto/rand, Go ≥ 1.24)
		opt.Epoch = hex.EncodeToString(b)
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.Clock == nil {
		opt.Clock = time.Now
	}
	if opt.CheckOrigin == nil {
		opt.CheckOrigin = sameOrigin
	}
	h := &Hub{
		opt:        opt,
		log:        opt.Logger,
		epoch:      opt.Epoch,
		epochJSON:  jsonString(opt.Epoch),
		closeGrace: min(opt.WriteTimeout, time.Second),
		channels:   make(map[string]*channel),
		conns:      make(map[*conn]struct{}),
	}
	h.upgrader = websocket.Upgrader{
		HandshakeTimeout: opt.WriteTimeout,
		ReadBufferSize:   1024,
		WriteBufferSize:  4096,
		// Idle displays hold no write buffer: thousands of them cost little.
		WriteBufferPool: &sync.Pool{},
		CheckOrigin:     opt.CheckOrigin,
	}
	return h, nil
}

// Epoch is the hub's epoch, the same in every message it sends.
func (h *Hub) Epoch() string { return h.epoch }

// Seq is the seq of the last event published on the channel (0 if none).
func (h *Hub) Seq(name string) uint64 {
	ch := h.channel(name)
	ch.mu.Lock()
	defer ch.mu.Unlock()
	return ch.seq
}

// Publish sends an event of type typ to every connection subscribed to the
// channel and returns its seq. payload (nil, or anything that marshals to a
// JSON object) is marshalled once; its members join the event's top level.
// Publish never waits for a client: one whose queue is full is dropped (it
// may wait for a snapshot being read under the channel's lock, see
// Subscription.Snapshot). The types "snapshot", "ping" and "pong" are the
// hub's own. Call Publish after the transaction that caused the event has
// committed.
func (h *Hub) Publish(name, typ string, payload any) (uint64, error) {
	if h.isShut.Load() {
		return 0, ErrClosed
	}
	if name == "" {
		return 0, errors.New("realtime: empty channel name")
	}
	switch typ {
	case "", "snapshot", "ping", "pong":
		return 0, fmt.Errorf("realtime: event type %q is reserved", typ)
	}
	fields, err := members(payload)
	if err != nil {
		return 0, err
	}
	ch := h.channel(name)
	// Everything but the seq is built outside the lock, with room for the
	// rest so that appending under the lock does not allocate.
	msg := make([]byte, 0, 64+len(typ)+len(ch.json)+len(h.epochJSON)+len(fields))
	msg = append(msg, `{"type":`...)
	msg = append(msg, jsonString(typ)...)
	msg = append(msg, `,"channel":`...)
	msg = append(msg, ch.json...)
	msg = append(msg, `,"epoch":`...)
	msg = append(msg, h.epochJSON...)
	msg = append(msg, `,"seq":`...)

	ch.mu.Lock()
	defer ch.mu.Unlock()
	ch.seq++
	msg = strconv.AppendUint(msg, ch.seq, 10)
	msg = appendFields(msg, fields)
	// Under the lock, so that every connection queues this channel's
	// events in seq order. Each send is non-blocking.
	for c := range ch.subs {
		if !c.queue(msg) {
			delete(ch.subs, c)
			h.dropSlow(c)
		}
	}
	return ch.seq, nil
}

// Stats counts connections per channel and dropped clients.
func (h *Hub) Stats() Stats {
	h.mu.Lock()
	s := Stats{Connections: len(h.conns), Channels: make(map[string]int)}
	h.mu.Unlock()
	h.chMu.RLock()
	chans := make([]*channel, 0, len(h.channels))
	for _, ch := range h.channels {
		chans = append(chans, ch)
	}
	h.chMu.RUnlock()
	for _, ch := range chans {
		ch.mu.Lock()
		s.Channels[ch.name] = len(ch.subs)
		ch.mu.Unlock()
	}
	s.SlowDrops = h.slowDrops.Load()
	s.HeartbeatDrops = h.heartbeatDrops.Load()
	return s
}

// Close sends every client a "going away" close frame, disconnects them and
// waits until their connections have ended: at once for clients that answer
// the close frame, at most WriteTimeout plus two seconds for any other. Later
// Serve calls answer 503 and Publish calls fail. http.Server.Shutdown does
// not see WebSocket connections: call Close too.
func (h *Hub) Close() error {
	h.mu.Lock()
	var conns []*conn
	if !h.closed {
		h.closed = true
		h.isShut.Store(true)
		for c := range h.conns {
			conns = append(conns, c)
		}
	}
	h.mu.Unlock()
	for _, c := range conns {
		c.kill(CloseGoingAway, "server shutting down")
	}
	h.serving.Wait()
	return nil
}

// channel returns the named channel, creating it on first use. Channels
// live as long as the hub: their seq must outlive their subscribers, so
// names are meant to be a bounded set (rooms, owners, devices).
func (h *Hub) channel(name string) *channel {
	h.chMu.RLock()
	ch := h.channels[name]
	h.chMu.RUnlock()
	if ch != nil {
		return ch
	}
	h.chMu.Lock()
	defer h.chMu.Unlock()
	if ch = h.channels[name]; ch == nil {
		ch = &channel{name: name, json: jsonString(name), subs: make(map[*conn]struct{})}
		h.channels[name] = ch
	}
	return ch
}

// Disconnect closes every connection subscribed to the channel, with a
// policy-violation close: for a device unpaired or a user disabled, whose
// open connections must not outlive their credential (they reconnect and
// are refused). It reports how many it closed.
func (h *Hub) Disconnect(name, reason string) int {
	ch := h.channel(name)
	ch.mu.Lock()
	list := make([]*conn, 0, len(ch.subs))
	for c := range ch.subs {
		list = append(list, c)
	}
	ch.mu.Unlock()
	n := 0
	for _, c := range list {
		if c.kill(ClosePolicyViolation, reason) {
			n++
		}
	}
	return n
}

func (h *Hub) dropSlow(c *conn) {
	if c.kill(ClosePolicyViolation, "slow client") {
		h.slowDrops.Add(1)
		h.log.Warn("realtime: slow client dropped", "remote", c.remote, "channel", c.chans[0].name)
	}
}

// sameOrigin accepts a handshake without an Origin header (not a browser)
// or whose Origin names the host the request was sent to.
func sameOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil {
		return false
	}
	return strings.EqualFold(u.Host, r.Host)
}

// members marshals v and returns the members of the resulting JSON object
// without its braces ("" for nil or {}), refusing the hub's own names.
func members(v any) ([]byte, error) {
	if v == nil {
		return nil, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("realtime: marshal payload: %w", err)
	}
	if string(b) == "null" {
		return nil, nil
	}
	if b[0] != '{' {
		return nil, fmt.Errorf("%w: %.40s", ErrNotObject, b)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("realtime: payload: %w", err)
	}
	for _, k := range reserved {
		if _, ok := m[k]; ok {
			return nil, fmt.Errorf("%w: %q", ErrReservedField, k)
		}
	}
	return b[1 : len(b)-1], nil
}

var reserved = []string{"type", "channel", "epoch", "seq", "seqs"}

// appendFields closes the object begun in msg with the payload's members.
func appendFields(msg, fields []byte) []byte {
	if len(fields) > 0 {
		msg = append(msg, ',')
		msg = append(msg, fields...)
	}
	return append(msg, '}')
}

func jsonString(s string) []byte {
	b, _ := json.Marshal(s) // a string always marshals
	return b
}
