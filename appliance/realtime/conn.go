package realtime

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// conn is one client. Its writer goroutine is the only one that writes to
// the socket; the goroutine running Serve reads it. Whichever side fails
// first calls kill; the writer then sends the close frame and closes the
// socket, which ends the reader; Serve unregisters the connection.
type conn struct {
	h      *Hub
	ws     *websocket.Conn
	sub    Subscription
	remote string
	chans  []*channel // subscription order, primary first, no duplicates
	locks  []*channel // chans sorted by name: the order their locks are taken

	send  chan []byte // events, snapshots, pongs: text messages in order
	pongs chan []byte // answers to the client's WebSocket pings

	done       chan struct{} // closed by kill
	once       sync.Once
	closeCode  int // close frame to send (0: none), set before done closes
	closeText  string
	readerDone chan struct{}
	readerOnce sync.Once
	writerDone chan struct{}
}

// Serve upgrades the request to a WebSocket, sends the subscription's
// snapshot, then relays the events of its channels until the client leaves,
// is dropped, or the hub closes. It returns once the connection is over and
// its goroutines have ended. Serve writes the HTTP response itself when it
// fails before the upgrade; an error after it (the snapshot failed) has been
// reported to the client as a close frame: callers only log errors.
func (h *Hub) Serve(w http.ResponseWriter, r *http.Request, sub Subscription) error {
	chans, err := h.channelsOf(sub.Channels)
	if err != nil {
		http.Error(w, "realtime: bad subscription", http.StatusInternalServerError)
		return err
	}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return ErrClosed
	}
	h.serving.Add(1)
	h.mu.Unlock()
	defer h.serving.Done()

	ws, err := h.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return err // the upgrader has answered the request
	}
	c := &conn{
		h:          h,
		ws:         ws,
		sub:        sub,
		remote:     r.RemoteAddr,
		chans:      chans,
		locks:      slices.SortedFunc(slices.Values(chans), func(a, b *channel) int { return strings.Compare(a.name, b.name) }),
		send:       make(chan []byte, h.opt.SendBuffer),
		pongs:      make(chan []byte, 1),
		done:       make(chan struct{}),
		readerDone: make(chan struct{}),
		writerDone: make(chan struct{}),
	}
	h.track(c)
	go c.writeLoop()
	defer func() {
		c.kill(0, "")
		c.readerOnce.Do(func() { close(c.readerDone) }) // this goroutine was the reader
		<-c.writerDone
		h.unsubscribe(c)
		h.untrack(c)
	}()

	if err := h.sendSnapshot(c, true); err != nil {
		h.log.Error("realtime: snapshot failed", "remote", c.remote, "channel", chans[0].name, "err", err)
		c.kill(CloseInternalError, "snapshot failed")
		return fmt.Errorf("realtime: snapshot for %s: %w", chans[0].name, err)
	}
	c.readLoop()
	return nil
}

func (h *Hub) channelsOf(names []string) ([]*channel, error) {
	if len(names) == 0 {
		return nil, errors.New("realtime: subscription without channels")
	}
	var chans []*channel
	for _, n := range names {
		if n == "" {
			return nil, errors.New("realtime: empty channel name")
		}
		ch := h.channel(n)
		if !slices.Contains(chans, ch) {
			chans = append(chans, ch)
		}
	}
	return chans, nil
}

func (h *Hub) track(c *conn) {
	h.mu.Lock()
	h.conns[c] = struct{}{}
	closed := h.closed
	h.mu.Unlock()
	if closed { // Close ran during the handshake and did not see c
		c.kill(CloseGoingAway, "server shutting down")
	}
	h.log.Debug("realtime: client connected", "remote", c.remote, "channel", c.chans[0].name)
}

func (h *Hub) untrack(c *conn) {
	h.mu.Lock()
	delete(h.conns, c)
	h.mu.Unlock()
	h.log.Debug("realtime: client disconnected", "remote", c.remote, "channel", c.chans[0].name)
}

func (h *Hub) unsubscribe(c *conn) {
	for _, ch := range c.chans {
		ch.mu.Lock()
		delete(ch.subs, c)
		ch.mu.Unlock()
	}
}

// optimisticSnapshots is how many times a snapshot is read without holding
// the channels' locks before the hub reads it under them. Reading outside
// the locks keeps a slow Snapshot (a database query) from delaying Publish,
// and lets a room's displays reconnecting together read in parallel; a busy
// channel falls back to the locked read, which always succeeds.
const optimisticSnapshots = 1

// sendSnapshot queues a snapshot consistent with the seqs it carries and,
// when join is set, subscribes c to its channels at that same moment.
func (h *Hub) sendSnapshot(c *conn, join bool) error {
	for range optimisticSnapshots {
		before := make([]uint64, len(c.chans))
		for i, ch := range c.chans {
			ch.mu.Lock()
			before[i] = ch.seq
			ch.mu.Unlock()
		}
		fields, err := c.snapshotFields()
		if err != nil {
			return err
		}
		if h.queueSnapshot(c, join, before, fields) {
			return nil
		}
	}
	c.lockAll()
	defer c.unlockAll()
	fields, err := c.snapshotFields()
	if err != nil {
		return err
	}
	h.queueSnapshotLocked(c, join, fields)
	return nil
}

// queueSnapshot queues a snapshot read while the channels stood at seqs
// before, unless an event was published since; it reports whether it did.
func (h *Hub) queueSnapshot(c *conn, join bool, before []uint64, fields []byte) bool {
	c.lockAll()
	defer c.unlockAll()
	for i, ch := range c.chans {
		if ch.seq != before[i] {
			return false
		}
	}
	h.queueSnapshotLocked(c, join, fields)
	return true
}

// queueSnapshotLocked runs with all of c's channel locks held.
func (h *Hub) queueSnapshotLocked(c *conn, join bool, fields []byte) {
	primary := c.chans[0]
	msg := make([]byte, 0, 128+len(fields))
	msg = append(msg, `{"type":"snapshot","channel":`...)
	msg = append(msg, primary.json...)
	msg = append(msg, `,"epoch":`...)
	msg = append(msg, h.epochJSON...)
	msg = append(msg, `,"seq":`...)
	msg = strconv.AppendUint(msg, primary.seq, 10)
	msg = append(msg, `,"seqs":{`...)
	for i, ch := range c.chans {
		if i > 0 {
			msg = append(msg, ',')
		}
		msg = append(msg, ch.json...)
		msg = append(msg, ':')
		msg = strconv.AppendUint(msg, ch.seq, 10)
	}
	msg = append(msg, '}')
	msg = appendFields(msg, fields)
	if !c.queue(msg) {
		h.dropSlow(c) // only on a repeated snapshot: the queue starts empty
		return
	}
	if join {
		for _, ch := range c.chans {
			ch.subs[c] = struct{}{}
		}
	}
}

func (c *conn) snapshotFields() ([]byte, error) {
	if c.sub.Snapshot == nil {
		return nil, nil
	}
	v, err := c.sub.Snapshot()
	if err != nil {
		return nil, err
	}
	return members(v)
}

func (c *conn) lockAll() {
	for _, ch := range c.locks {
		ch.mu.Lock()
	}
}

func (c *conn) unlockAll() {
	for _, ch := range slices.Backward(c.locks) {
		ch.mu.Unlock()
	}
}

// queue adds msg to the connection's queue without waiting.
func (c *conn) queue(msg []byte) bool {
	select {
	case c.send <- msg:
		return true
	default:
		return false
	}
}

// kill ends the connection, asking the writer to send a close frame with
// code (none when 0). Only the first call counts; it reports whether it was
// this one. Never blocks: it runs under channel locks.
func (c *conn) kill(code int, text string) bool {
	first := false
	c.once.Do(func() {
		c.closeCode, c.closeText = code, text
		close(c.done)
		first = true
	})
	return first
}

func (c *conn) writeLoop() {
	defer close(c.writerDone)
	h := c.h
	ping := time.NewTicker(h.opt.PingInterval)
	defer ping.Stop()
	for {
		select {
		case <-c.done:
			c.finish()
			return
		default:
		}
		var err error
		select {
		case <-c.done:
			c.finish()
			return
		case msg := <-c.send:
			_ = c.ws.SetWriteDeadline(time.Now().Add(h.opt.WriteTimeout))
			err = c.ws.WriteMessage(websocket.TextMessage, msg)
		case data := <-c.pongs:
			err = c.ws.WriteControl(websocket.PongMessage, data, time.Now().Add(h.opt.WriteTimeout))
		case <-ping.C:
			err = c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(h.opt.WriteTimeout))
		}
		if err != nil {
			// After a failed write gorilla refuses further writes: no
			// close frame can follow.
			if isTimeout(err) {
				h.dropSlow(c)
			}
			c.kill(0, "")
			_ = c.ws.Close()
			return
		}
	}
}

// finish sends the close frame kill asked for, gives the client a moment
// to answer it (so the socket is not reset under its unread close frame),
// and closes the socket, which ends the reader.
func (c *conn) finish() {
	if c.closeCode != 0 {
		grace := c.h.closeGrace
		msg := websocket.FormatCloseMessage(c.closeCode, c.closeText)
		if c.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(grace)) == nil {
			t := time.NewTimer(grace)
			select {
			case <-c.readerDone:
			case <-t.C:
			}
			t.Stop()
		}
	}
	_ = c.ws.Close()
}

func (c *conn) readLoop() {
	h := c.h
	ws := c.ws
	// Any frame from the client proves it alive.
	alive := func() { _ = ws.SetReadDeadline(time.Now().Add(h.opt.PongWait)) }
	ws.SetReadLimit(h.opt.MaxMessage)
	alive()
	ws.SetPongHandler(func(string) error { alive(); return nil })
	// Pong and close replies go through the writer, like every write.
	ws.SetPingHandler(func(data string) error {
		alive()
		select {
		case c.pongs <- []byte(data):
		default: // a pong is already due; answering the latest ping is enough
		}
		return nil
	})
	ws.SetCloseHandler(func(code int, _ string) error {
		if code == websocket.CloseNoStatusReceived {
			code = websocket.CloseNormalClosure
		}
		c.kill(code, "")
		return nil
	})
	for {
		_, msg, err := ws.ReadMessage()
		if err != nil {
			var ce *websocket.CloseError
			switch {
			case errors.As(err, &ce):
				// the close handler has asked the writer to answer
			case isTimeout(err):
				if c.kill(ClosePolicyViolation, "missed heartbeat") {
					h.heartbeatDrops.Add(1)
					h.log.Info("realtime: silent client dropped", "remote", c.remote, "channel", c.chans[0].name)
				}
			default:
				// gone (EOF, reset), or too big a message: gorilla has
				// already sent 1009 and the connection is unusable.
				c.kill(0, "")
			}
			return
		}
		alive()
		select {
		case <-c.done:
			continue // closing: read on only to see the client's close frame
		default:
		}
		c.handle(msg)
	}
}

func (c *conn) handle(msg []byte) {
	var m struct {
		Type string `json:"type"`
	}
	if json.Unmarshal(msg, &m) == nil {
		switch m.Type {
		case "snapshot":
			if err := c.h.sendSnapshot(c, false); err != nil {
				c.h.log.Error("realtime: snapshot failed", "remote", c.remote, "channel", c.chans[0].name, "err", err)
				c.kill(CloseInternalError, "snapshot failed")
			}
			return
		case "ping":
			pong := make([]byte, 0, 64)
			pong = append(pong, `{"type":"pong","time":`...)
			pong = append(pong, jsonString(c.h.opt.Clock().UTC().Format(time.RFC3339Nano))...)
			pong = append(pong, '}')
			if !c.queue(pong) {
				c.h.dropSlow(c)
			}
			return
		}
	}
	if c.sub.OnMessage != nil {
		c.sub.OnMessage(msg)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
