// Package maint is the remote-maintenance agent (`avanti maint-agent`).
//
// It is off by default. Only while an admin has a maintenance window open
// does the agent dial out to the vendor's support bastion (host key pinned,
// authenticating with the appliance's own ed25519 key) and ask the bastion to
// forward a port on its loopback back to the appliance. Connections through
// that reverse tunnel are served by an SSH server inside the agent: vendor
// engineers sign in with their keys and get a shell or run one of the
// maintenance commands (status, logs, backup-now, verify-backup,
// apply-update, restart). When the window ends, or the admin closes it, the
// agent drops every session and the tunnel and refuses new ones.
//
// Every session goes to the audit log (who, from where, when, how long) and
// its terminal output to an asciicast v2 file.
//
// The alternative of inbound SSH from one allowed source address, also only
// while a window is open, is in inbound.go: the agent writes an nftables
// table and an sshd Match snippet that the image installs.
package maint

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// Window is a maintenance window an admin opened from the console.
type Window struct {
	ID       int64     `json:"id"`
	OpenedBy string    `json:"opened_by"`
	Reason   string    `json:"reason"`
	From     time.Time `json:"from"`
	Until    time.Time `json:"until"`
}

// OpenAt tells whether the window is open at t: From ≤ t < Until.
func (w Window) OpenAt(t time.Time) bool {
	return !t.Before(w.From) && t.Before(w.Until)
}

// WindowSource tells the agent which window is open. The appliance keeps
// windows in its database; an admin closing one early sets its Until to the
// moment of closing (or deletes it).
type WindowSource interface {
	// OpenWindow returns the window open at now, or nil if none is. An
	// error counts as "no window": the agent fails closed.
	OpenWindow(ctx context.Context, now time.Time) (*Window, error)
}

// Commands are the maintenance commands engineers run without a shell
// (`ssh -p PORT appliance@127.0.0.1 status` on the bastion). Each writes its
// human-readable output to out; an error ends the command with exit status 1
// and its message on stderr. ctx ends when the session does (the engineer
// disconnects or the window closes), so a command that must not stop
// halfway (apply-update) should finish or roll back on its own terms.
type Commands interface {
	Status(ctx context.Context, out io.Writer) error
	// Logs prints the last lines of the appliance's logs.
	Logs(ctx context.Context, out io.Writer, lines int) error
	BackupNow(ctx context.Context, out io.Writer) error
	VerifyBackup(ctx context.Context, out io.Writer) error
	// ApplyUpdate installs the update bundle at path (a file on the
	// appliance; `apply-update -` streams it through the session's stdin
	// into a temporary file first).
	ApplyUpdate(ctx context.Context, out io.Writer, bundlePath string) error
	Restart(ctx context.Context, out io.Writer) error
}

// AuditSink receives what the agent does: the tunnel opening and closing,
// and every session's start and end.
type AuditSink interface {
	Record(ctx context.Context, e Event) error
}

// Audit actions, short enough for the audit log's action column.
const (
	ActionTunnelOpen     = "maint.tunnel_open"
	ActionTunnelClose    = "maint.tunnel_close"
	ActionTunnelFailed   = "maint.tunnel_failed" // first failed attempt of a series
	ActionSessionStart   = "maint.session_start"
	ActionSessionEnd     = "maint.session_end"
	ActionSessionRefused = "maint.session_refused" // SSH handshake or sign-in failed
)

// Event is one audit record.
type Event struct {
	At      time.Time `json:"at"`
	Action  string    `json:"action"`
	Window  Window    `json:"window"`
	Session *Session  `json:"session,omitempty"`
	Detail  string    `json:"detail,omitempty"`
}

// Actor is who the event is about: the engineer for session events, the
// agent otherwise.
func (e Event) Actor() string {
	if e.Session != nil && e.Session.Fingerprint != "" {
		return e.Session.Who()
	}
	return "maint-agent"
}

// Session is one engineer's SSH connection through the tunnel.
type Session struct {
	ID          string        `json:"id"`
	WindowID    int64         `json:"window_id"`
	User        string        `json:"user"`        // the user name the client asked for
	Fingerprint string        `json:"fingerprint"` // SHA256:… of the engineer's key
	KeyComment  string        `json:"key_comment"` // the comment of the authorized key: who it is
	From        string        `json:"from"`        // bastion address and the origin the bastion reports
	Start       time.Time     `json:"start"`
	End         time.Time     `json:"end,omitzero"`
	Duration    time.Duration `json:"duration_ns,omitempty"`
	Commands    []string      `json:"commands,omitempty"`   // "shell", or the maintenance commands run
	Recordings  []string      `json:"recordings,omitempty"` // asciicast files of its terminal output
	EndReason   string        `json:"end_reason,omitempty"`
}

// Who names the engineer: the key's comment and fingerprint.
func (s *Session) Who() string {
	if s.KeyComment == "" {
		return s.Fingerprint
	}
	return s.KeyComment + " (" + s.Fingerprint + ")"
}

// Config is the agent's part of the appliance's configuration.
type Config struct {
	// BastionHost and BastionPort: the vendor's support bastion.
	BastionHost string `yaml:"bastion_host"`
	BastionPort int    `yaml:"bastion_port"`
	// BastionUser is the account on the bastion the appliance signs in
	// as; it needs remote port forwarding and nothing else.
	BastionUser string `yaml:"bastion_user"`
	// BastionHostKey pins the bastion's host key: "ssh-ed25519 AAAA…"
	// (authorized_keys form) or a known_hosts line.
	BastionHostKey string `yaml:"bastion_host_key"`
	// RemotePort is the port the bastion listens on, on its loopback, for
	// this appliance (each appliance its own).
	RemotePort int `yaml:"remote_port"`
	// KeyDir holds the appliance's key pair (id_ed25519, id_ed25519.pub),
	// made at first use. The same key is the maintenance server's host
	// key, so engineers pin what the console shows.
	KeyDir string `yaml:"key_dir"`
	// AuthorizedKeys are the vendor engineers' public keys, in
	// authorized_keys form; the comment names the engineer.
	AuthorizedKeys []string `yaml:"authorized_keys"`
	// AuthorizedKeysFile, if set, is read at each sign-in too.
	AuthorizedKeysFile string `yaml:"authorized_keys_file"`
	// RecordDir receives one asciicast v2 file per terminal.
	RecordDir string `yaml:"record_dir"`
	// Shell is what the shell request runs; default /bin/bash.
	Shell string `yaml:"shell"`
	// Poll is how often the window source is asked; default 1s, so that a
	// window an admin closes in the console ends its sessions within a
	// second. (The appliance's source is one indexed query; the server,
	// another user, cannot signal the agent, which runs as root.)
	Poll time.Duration `yaml:"poll"`
	// Inbound, if enabled, is the alternative: inbound SSH from one source
	// address while a window is open (see inbound.go).
	Inbound Inbound `yaml:"inbound"`
}

// DefaultPoll is how often the agent asks for the open window.
const DefaultPoll = time.Second

// Defaults fills what is unset.
func (c Config) Defaults() Config {
	if c.BastionPort == 0 {
		c.BastionPort = 22
	}
	if c.Shell == "" {
		c.Shell = "/bin/bash"
	}
	if c.Poll <= 0 {
		c.Poll = DefaultPoll
	}
	c.Inbound = c.Inbound.defaults()
	return c
}

// Tunnel tells whether the reverse tunnel is configured (a bastion host).
func (c Config) Tunnel() bool { return c.BastionHost != "" }

// Enabled tells whether there is anything for the agent to do: a bastion
// or the inbound alternative configured. Without either, `avanti
// maint-agent` has nothing to run for.
func (c Config) Enabled() bool { return c.Tunnel() || c.Inbound.Enabled }

// Validate checks the configuration before the agent starts.
func (c Config) Validate() error {
	var errs []error
	if c.KeyDir == "" {
		errs = append(errs, errors.New("maint: key_dir is required"))
	}
	if c.RecordDir == "" && c.Tunnel() {
		errs = append(errs, errors.New("maint: record_dir is required: every session's output is recorded"))
	}
	if c.Tunnel() {
		if c.BastionUser == "" {
			errs = append(errs, errors.New("maint: bastion_user is required"))
		}
		if c.RemotePort <= 0 || c.RemotePort > 65535 {
			errs = append(errs, fmt.Errorf("maint: remote_port %d: want the bastion's port for this appliance (1-65535)", c.RemotePort))
		}
		if _, err := parsePinnedKey(c.BastionHostKey); err != nil {
			errs = append(errs, fmt.Errorf("maint: bastion_host_key: %w", err))
		}
		for i, line := range c.AuthorizedKeys {
			if _, err := parseAuthorizedKeys([]byte(line)); err != nil {
				errs = append(errs, fmt.Errorf("maint: authorized_keys[%d]: %w", i, err))
			}
		}
		if len(c.AuthorizedKeys) == 0 && c.AuthorizedKeysFile == "" {
			errs = append(errs, errors.New("maint: no authorized_keys nor authorized_keys_file: no engineer could sign in"))
		}
	}
	if c.Inbound.Enabled {
		if err := c.Inbound.validate(); err != nil {
			errs = append(errs, err)
		}
	}
	if !c.Enabled() {
		errs = append(errs, errors.New("maint: neither bastion_host nor inbound.enabled is set: nothing to do"))
	}
	return errors.Join(errs...)
}

// clip shortens s for a log line.
func clip(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
