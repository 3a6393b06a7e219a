package maint

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
)

// serverConfig is the maintenance SSH server's: the appliance's key as host
// key, the engineers' keys as the only way in.
func (a *Agent) serverConfig(cfg Config, signer ssh.Signer) *ssh.ServerConfig {
	sc := &ssh.ServerConfig{
		MaxAuthTries:  6,
		ServerVersion: "SSH-2.0-AvantiMaint",
		PublicKeyCallback: func(meta ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			for _, k := range a.authorizedKeys(cfg) {
				if bytes.Equal(k.key.Marshal(), key.Marshal()) {
					return &ssh.Permissions{Extensions: map[string]string{
						"fingerprint": ssh.FingerprintSHA256(key),
						"comment":     k.comment,
					}}, nil
				}
			}
			return nil, fmt.Errorf("key %s is not authorized", ssh.FingerprintSHA256(key))
		},
	}
	sc.AddHostKey(signer)
	return sc
}

// authorizedKeys are the configured keys plus those in the file, read now
// so that a key added or removed there counts from the next sign-in.
func (a *Agent) authorizedKeys(cfg Config) []authorizedKey {
	var keys []authorizedKey
	for _, line := range cfg.AuthorizedKeys {
		k, err := parseAuthorizedKeys([]byte(line))
		if err == nil {
			keys = append(keys, k...)
		}
	}
	if cfg.AuthorizedKeysFile != "" {
		b, err := os.ReadFile(cfg.AuthorizedKeysFile)
		if err == nil {
			k, err2 := parseAuthorizedKeys(b)
			keys = append(keys, k...)
			err = err2
		}
		if err != nil {
			a.Log.Error("maint: authorized keys file", "err", err)
		}
	}
	return keys
}

// session is a Session being served, shared by its channels.
type session struct {
	mu sync.Mutex
	s  Session
	n  int // channels opened so far
}

func (s *session) add(command, recording string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if command != "" {
		s.s.Commands = append(s.s.Commands, command)
	}
	if recording != "" {
		s.s.Recordings = append(s.s.Recordings, recording)
	}
}

func (s *session) snapshot() *Session {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.s
	c.Commands = append([]string(nil), c.Commands...)
	c.Recordings = append([]string(nil), c.Recordings...)
	return &c
}

// serveConn runs one engineer's SSH connection through the tunnel, until
// they leave or the tunnel closes.
func (a *Agent) serveConn(t *tunnel, conn net.Conn) {
	defer conn.Close()
	from := t.from(conn)
	// A connection that never finishes its handshake must not hold a slot:
	// a forwarded channel has no deadlines, so a timer closes it.
	hs := time.AfterFunc(30*time.Second, func() { conn.Close() })
	sconn, chans, reqs, err := ssh.NewServerConn(conn, t.srv)
	hs.Stop()
	if err != nil {
		a.Log.Warn("maint: session refused", "from", from, "err", err)
		a.audit(t.ctx, Event{Action: ActionSessionRefused, Window: t.window, Detail: clip(from+": "+err.Error(), 300)})
		return
	}
	defer sconn.Close()
	// The tunnel's end ends the connection.
	stop := context.AfterFunc(t.ctx, func() { sconn.Close() })
	defer stop()

	id := make([]byte, 6)
	rand.Read(id)
	st := &session{s: Session{
		ID:          hex.EncodeToString(id),
		WindowID:    t.window.ID,
		User:        sconn.User(),
		Fingerprint: sconn.Permissions.Extensions["fingerprint"],
		KeyComment:  sconn.Permissions.Extensions["comment"],
		From:        from,
		Start:       a.Clock.Now(),
	}}
	a.setStatus(func(s *Status) { s.Sessions++ })
	defer a.setStatus(func(s *Status) { s.Sessions-- })
	a.audit(t.ctx, Event{Action: ActionSessionStart, Window: t.window, Session: st.snapshot()})

	go ssh.DiscardRequests(reqs)
	var wg sync.WaitGroup
	for nc := range chans {
		if nc.ChannelType() != "session" {
			// No port forwarding through the appliance: what engineers can
			// do is what a shell or a maintenance command can do, recorded.
			nc.Reject(ssh.Prohibited, "only sessions are served")
			continue
		}
		ch, creqs, err := nc.Accept()
		if err != nil {
			continue
		}
		st.mu.Lock()
		st.n++
		n := st.n
		st.mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			a.serveChannel(t, st, n, ch, creqs)
		}()
	}
	wg.Wait()

	end := a.Clock.Now()
	st.mu.Lock()
	st.s.End = end
	st.s.Duration = end.Sub(st.s.Start)
	st.s.EndReason = "engineer disconnected"
	if t.ctx.Err() != nil {
		st.s.EndReason = context.Cause(t.ctx).Error()
	}
	st.mu.Unlock()
	a.audit(t.ctx, Event{Action: ActionSessionEnd, Window: t.window, Session: st.snapshot()})
}

// exitStatus sends the command's exit status (RFC 4254 6.10).
func exitStatus(ch ssh.Channel, code int) {
	if code < 0 {
		code = 255
	}
	ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{uint32(code)}))
}
