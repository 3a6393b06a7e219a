package maint

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"

	"avanti/appliance/clock"
)

// Agent is the remote-maintenance agent. Fill the fields, then Run.
type Agent struct {
	Config   Config
	Windows  WindowSource
	Commands Commands    // nil: the maintenance commands answer "not available"
	Audit    AuditSink   // nil: events are only logged
	Clock    clock.Clock // nil: the wall clock
	Log      *slog.Logger
	// Reload, for the inbound alternative, makes the system take up the
	// files the agent just wrote; nil runs `nft -f <nftables_file>` and
	// `systemctl try-reload-or-restart ssh`.
	Reload func(ctx context.Context) error

	initOnce      sync.Once
	wake          chan struct{}
	sourceFailing bool // only Run's goroutine reads and writes it

	mu     sync.Mutex
	status Status
}

// Status is what the agent is doing, for logs and tests.
type Status struct {
	Window    *Window   // the open window, if any
	Connected bool      // the reverse tunnel is up
	Since     time.Time // when it came up
	Sessions  int       // engineers connected now
	LastError string    // the last failed attempt to reach the bastion
}

// Wake makes the agent ask the window source now rather than at the next
// poll (an admin just opened or closed a window).
func (a *Agent) Wake() {
	a.init()
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// Status returns a copy of the agent's status.
func (a *Agent) Status() Status {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.status
	if s.Window != nil {
		w := *s.Window
		s.Window = &w
	}
	return s
}

func (a *Agent) init() {
	a.initOnce.Do(func() {
		a.wake = make(chan struct{}, 1)
		if a.Clock == nil {
			a.Clock = clock.Real{}
		}
		if a.Log == nil {
			a.Log = slog.Default()
		}
	})
}

func (a *Agent) setStatus(f func(*Status)) {
	a.mu.Lock()
	f(&a.status)
	a.mu.Unlock()
}

func (a *Agent) audit(ctx context.Context, e Event) {
	if e.At.IsZero() {
		e.At = a.Clock.Now()
	}
	attrs := []any{"action", e.Action, "window", e.Window.ID, "actor", e.Actor()}
	if e.Session != nil {
		attrs = append(attrs, "session", e.Session.ID, "from", e.Session.From)
		if e.Action == ActionSessionEnd {
			attrs = append(attrs, "duration", e.Session.Duration.Round(time.Millisecond), "reason", e.Session.EndReason)
		}
	}
	if e.Detail != "" {
		attrs = append(attrs, "detail", e.Detail)
	}
	a.Log.Info("maint", attrs...)
	if a.Audit == nil {
		return
	}
	// The audit log must hear of a session even when the tunnel's context
	// is already gone (that is when sessions end).
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := a.Audit.Record(actx, e); err != nil {
		a.Log.Error("maint: audit", "action", e.Action, "err", err)
	}
}

// openWindow asks the source, failing closed. A failing source is logged
// when it starts failing and when it recovers, not at every poll.
func (a *Agent) openWindow(ctx context.Context, now time.Time) *Window {
	w, err := a.Windows.OpenWindow(ctx, now)
	if err != nil {
		if !a.sourceFailing {
			a.Log.Error("maint: window source (treated as no window)", "err", err)
		}
		a.sourceFailing = true
		return nil
	}
	if a.sourceFailing {
		a.Log.Info("maint: window source answers again")
		a.sourceFailing = false
	}
	if w == nil || !w.OpenAt(now) {
		return nil
	}
	return w
}

// Run works until ctx ends: while a window is open it keeps the reverse
// tunnel up (and/or the inbound rules written); when the window ends it
// tears everything down. It returns only for a configuration error or when
// ctx ends.
func (a *Agent) Run(ctx context.Context) error {
	a.init()
	cfg := a.Config.Defaults()
	if err := cfg.Validate(); err != nil {
		return err
	}
	if a.Windows == nil {
		return errors.New("maint: no window source")
	}
	signer, err := LoadOrCreateKey(cfg.KeyDir)
	if err != nil {
		return err
	}
	var pinned ssh.PublicKey
	if cfg.Tunnel() {
		if pinned, err = parsePinnedKey(cfg.BastionHostKey); err != nil {
			return err
		}
	}
	a.Log.Info("maint agent started", "bastion", cfg.BastionHost, "remote_port", cfg.RemotePort,
		"inbound", cfg.Inbound.Enabled, "poll", cfg.Poll, "key", ssh.FingerprintSHA256(signer.PublicKey()))

	var (
		t        *tunnel
		failures int
		nextTry  time.Time
		inbound  inboundState
	)
	defer func() {
		if t != nil {
			t.close(context.WithoutCancel(ctx), "agent stopped")
		}
		if cfg.Inbound.Enabled {
			// Leave the appliance closed, not open until a window's end.
			a.applyInbound(context.WithoutCancel(ctx), cfg.Inbound, nil, a.Clock.Now(), &inbound)
		}
	}()
	for {
		now := a.Clock.Now()
		w := a.openWindow(ctx, now)
		a.setStatus(func(s *Status) { s.Window = w })

		if cfg.Tunnel() {
			if t != nil {
				select {
				case <-t.done:
					t.close(ctx, "bastion connection lost")
					t = nil
					failures++
					nextTry = now.Add(backoff(failures))
				default:
				}
			}
			if t != nil && (w == nil || w.ID != t.window.ID) {
				t.close(ctx, "window closed")
				t = nil
			}
			if w == nil {
				failures, nextTry = 0, time.Time{}
			}
			if t == nil && w != nil && !now.Before(nextTry) {
				t, err = a.openTunnel(ctx, cfg, signer, pinned, *w)
				if err != nil {
					failures++
					nextTry = now.Add(backoff(failures))
					a.setStatus(func(s *Status) { s.LastError = err.Error() })
					a.Log.Warn("maint: bastion", "err", err, "retry_in", backoff(failures))
					if failures == 1 {
						a.audit(ctx, Event{Action: ActionTunnelFailed, Window: *w, Detail: err.Error()})
					}
				} else {
					failures = 0
				}
			}
		}
		if cfg.Inbound.Enabled {
			a.applyInbound(ctx, cfg.Inbound, w, now, &inbound)
		}

		// Sleep until the next poll, the window's end, the next retry, the
		// tunnel's death, a wake-up or the end.
		wait := cfg.Poll
		if w != nil {
			wait = min(wait, w.Until.Sub(now))
		}
		if t == nil && w != nil && nextTry.After(now) {
			wait = min(wait, nextTry.Sub(now))
		}
		var dead <-chan struct{}
		if t != nil {
			dead = t.done
		}
		timer := time.NewTimer(max(wait, 10*time.Millisecond))
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case <-a.wake:
		case <-dead:
		case <-timer.C:
		}
		timer.Stop()
	}
}

// backoff is the pause before the nth consecutive retry: 1s, 2s, 4s … 60s.
func backoff(n int) time.Duration {
	d := time.Second << min(max(n-1, 0), 6)
	return min(d, time.Minute)
}

// hostKeyAlgorithms asks the server for the pinned key's type only, so that
// a server with several host keys shows the one that was pinned.
func hostKeyAlgorithms(k ssh.PublicKey) []string {
	switch k.Type() {
	case ssh.KeyAlgoRSA:
		return []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256}
	default:
		return []string{k.Type()}
	}
}

func (a *Agent) clientConfig(cfg Config, signer ssh.Signer, pinned ssh.PublicKey) *ssh.ClientConfig {
	return &ssh.ClientConfig{
		User:              cfg.BastionUser,
		Auth:              []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback:   ssh.FixedHostKey(pinned),
		HostKeyAlgorithms: hostKeyAlgorithms(pinned),
		Timeout:           10 * time.Second,
		ClientVersion:     "SSH-2.0-AvantiMaintAgent",
	}
}
