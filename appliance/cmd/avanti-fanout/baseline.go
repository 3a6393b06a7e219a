package main

import (
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// bare is the baseline: the least a gorilla/websocket server does to
// broadcast, after gorilla's chat example. Each connection has a queue and
// a writer goroutine; POST /broadcast queues the request's body to every
// connection (never waiting: a full queue drops the message) and answers
// 204; GET /ws upgrades, sends {"type":"snapshot"} so that the client
// knows it is registered, and reads until the client leaves. No channels,
// no seq, no snapshot from a database, no pings. The upgrader's buffers are
// those of the appliance's hub, so that the memory compared is the hub's
// own.
type bare struct {
	upgrader websocket.Upgrader
	mu       sync.Mutex
	conns    map[*bareConn]struct{}
	dropped  atomic.Int64
	http     *http.Server
	url      string
}

type bareConn struct {
	ws   *websocket.Conn
	send chan []byte
}

func startBare() (*bare, error) {
	b := &bare{conns: map[*bareConn]struct{}{}}
	b.upgrader = websocket.Upgrader{ReadBufferSize: 1024, WriteBufferSize: 4096, WriteBufferPool: &sync.Pool{},
		HandshakeTimeout: 5 * time.Second}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ws", b.serveWS)
	mux.HandleFunc("POST /broadcast", b.broadcast)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	b.http = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	b.url = ln.Addr().String()
	go b.http.Serve(ln)
	return b, nil
}

func (b *bare) serveWS(w http.ResponseWriter, r *http.Request) {
	ws, err := b.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	c := &bareConn{ws: ws, send: make(chan []byte, 256)}
	done := make(chan struct{})
	go func() { // writer
		defer ws.Close()
		for {
			select {
			case msg := <-c.send:
				ws.SetWriteDeadline(time.Now().Add(5 * time.Second))
				if err := ws.WriteMessage(websocket.TextMessage, msg); err != nil {
					return
				}
			case <-done:
				ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""),
					time.Now().Add(time.Second))
				return
			}
		}
	}()
	// Registered and greeted at once, so that no broadcast comes first.
	b.mu.Lock()
	b.conns[c] = struct{}{}
	c.send <- []byte(`{"type":"snapshot"}`)
	b.mu.Unlock()
	for {
		if _, _, err := ws.ReadMessage(); err != nil {
			break
		}
	}
	b.mu.Lock()
	delete(b.conns, c)
	b.mu.Unlock()
	close(done)
}

func (b *bare) broadcast(w http.ResponseWriter, r *http.Request) {
	msg, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	b.mu.Lock()
	for c := range b.conns {
		select {
		case c.send <- msg:
		default:
			b.dropped.Add(1)
		}
	}
	b.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (b *bare) connections() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.conns)
}

func (b *bare) close() { b.http.Close() }
