package maint

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
)

// tunnel is one connection to the bastion and the port it forwards back,
// for one window.
type tunnel struct {
	a      *Agent
	cfg    Config
	window Window
	client *ssh.Client
	ln     net.Listener
	srv    *ssh.ServerConfig
	done   chan struct{} // closed when the bastion connection ends

	ctx    context.Context // ends when the tunnel closes; its cause is the reason
	cancel context.CancelCauseFunc

	mu      sync.Mutex
	closing bool
	conns   map[net.Conn]struct{}
	wg      sync.WaitGroup
}

// openTunnel dials the bastion and asks it to listen on its loopback.
func (a *Agent) openTunnel(ctx context.Context, cfg Config, signer ssh.Signer, pinned ssh.PublicKey, w Window) (*tunnel, error) {
	addr := net.JoinHostPort(cfg.BastionHost, strconv.Itoa(cfg.BastionPort))
	d := net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dial bastion %s: %w", addr, err)
	}
	conn.SetDeadline(time.Now().Add(20 * time.Second)) // the handshake's
	c, chans, reqs, err := ssh.NewClientConn(conn, addr, a.clientConfig(cfg, signer, pinned))
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("bastion %s: %w", addr, err)
	}
	conn.SetDeadline(time.Time{})
	client := ssh.NewClient(c, chans, reqs)
	remote := net.JoinHostPort("127.0.0.1", strconv.Itoa(cfg.RemotePort))
	ln, err := client.Listen("tcp", remote)
	if err != nil {
		client.Close()
		return nil, fmt.Errorf("bastion %s: listen on its %s: %w", addr, remote, err)
	}
	t := &tunnel{
		a:      a,
		cfg:    cfg,
		window: w,
		client: client,
		ln:     ln,
		srv:    a.serverConfig(cfg, signer),
		done:   make(chan struct{}),
		conns:  map[net.Conn]struct{}{},
	}
	t.ctx, t.cancel = context.WithCancelCause(context.WithoutCancel(ctx))
	go func() {
		client.Wait()
		close(t.done)
	}()
	go t.keepalive()
	go t.accept()
	now := a.Clock.Now()
	a.setStatus(func(s *Status) { s.Connected, s.Since, s.LastError = true, now, "" })
	a.audit(ctx, Event{Action: ActionTunnelOpen, Window: w,
		Detail: fmt.Sprintf("bastion %s (%s), forwarding its %s", addr, ssh.FingerprintSHA256(pinned), remote)})
	return t, nil
}

// keepalive notices a bastion that went silent (a dead route does not
// always reset the TCP connection) and closes the client.
func (t *tunnel) keepalive() {
	tick := time.NewTicker(15 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-t.done:
			return
		case <-tick.C:
		}
		reply := make(chan error, 1)
		go func() {
			_, _, err := t.client.SendRequest("keepalive@openssh.com", true, nil)
			reply <- err
		}()
		select {
		case err := <-reply:
			if err == nil {
				continue
			}
		case <-time.After(15 * time.Second):
		case <-t.done:
			return
		}
		t.client.Close()
		return
	}
}

func (t *tunnel) accept() {
	for {
		conn, err := t.ln.Accept()
		if err != nil {
			return
		}
		t.mu.Lock()
		if t.closing {
			t.mu.Unlock()
			conn.Close()
			continue
		}
		t.conns[conn] = struct{}{}
		t.wg.Add(1)
		t.mu.Unlock()
		go func() {
			defer t.wg.Done()
			t.a.serveConn(t, conn)
			t.mu.Lock()
			delete(t.conns, conn)
			t.mu.Unlock()
		}()
	}
}

// from tells where a connection came from: the bastion, and the origin
// address the bastion reports for the connection to its forwarded port.
func (t *tunnel) from(conn net.Conn) string {
	return fmt.Sprintf("bastion %s via %s", net.JoinHostPort(t.cfg.BastionHost, strconv.Itoa(t.cfg.BastionPort)), conn.RemoteAddr())
}

// close ends every session, then the tunnel, and records both.
func (t *tunnel) close(ctx context.Context, reason string) {
	t.mu.Lock()
	if t.closing {
		t.mu.Unlock()
		return
	}
	t.closing = true
	conns := make([]net.Conn, 0, len(t.conns))
	for c := range t.conns {
		conns = append(conns, c)
	}
	t.mu.Unlock()

	t.cancel(errors.New(reason))
	for _, c := range conns {
		c.Close()
	}
	// Closing the client first makes the bastion drop the forwarded port
	// at once; the listener's own close would wait for a reply.
	t.client.Close()
	t.ln.Close()
	// Let the sessions record their end before the tunnel's.
	ended := make(chan struct{})
	go func() { t.wg.Wait(); close(ended) }()
	select {
	case <-ended:
	case <-time.After(10 * time.Second):
		t.a.Log.Warn("maint: sessions still ending after 10s")
	}
	t.a.setStatus(func(s *Status) { s.Connected, s.Since = false, time.Time{} })
	t.a.audit(ctx, Event{Action: ActionTunnelClose, Window: t.window, Detail: reason})
}
