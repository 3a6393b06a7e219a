package alert

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"avanti/appliance/atomicfile"
	"avanti/appliance/backup"
	"avanti/appliance/clock"
)

// Options configure the backup alert.
type Options struct {
	Mail MailConfig
	// Recipients reads the active administrators' e-mail addresses
	// (store.AdminEmails) at each send; the alert goes to them and to
	// Mail.To. Nil: Mail.To only.
	Recipients func(context.Context) ([]string, error)
	// Status reads the state of the backups (backup.ReadStatus of the
	// backup directory).
	Status func() (backup.Status, error)
	// StateFile remembers what was last sent, across restarts
	// (data_dir/alerts.json).
	StateFile string
	Clock     clock.Clock    // default the wall clock
	Every     time.Duration  // how often Run checks; default 5 minutes
	Remind    time.Duration  // how often a still-stale alert is repeated; default 24 hours
	URL       string         // the appliance's public URL, named in the messages
	Location  *time.Location // of the times in the messages; default time.Local
	Logger    *slog.Logger
}

// Backups e-mails the administrators when the newest verified backup is
// older than backup.StaleAfter: once, then a reminder every Remind while it
// stays so, and once more when backups are verified again.
type Backups struct {
	opt    Options
	mu     sync.Mutex // one Check at a time
	nobody bool       // "nobody to send to" is logged, until someone is
}

// NewBackups prepares the alert; Run or Check it.
func NewBackups(opt Options) *Backups {
	if opt.Clock == nil {
		opt.Clock = clock.Real{}
	}
	if opt.Every <= 0 {
		opt.Every = 5 * time.Minute
	}
	if opt.Remind <= 0 {
		opt.Remind = 24 * time.Hour
	}
	if opt.Location == nil {
		opt.Location = time.Local
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	return &Backups{opt: opt}
}

// alertState is what the alert remembers in its state file.
type alertState struct {
	// Watching is when the alert first ran on this appliance: with no
	// backup at all, a new appliance is given StaleAfter before the alert.
	Watching time.Time `json:"watching_since"`
	// Stale says the last message sent was an alert (not a recovery).
	Stale    bool      `json:"stale"`
	LastSent time.Time `json:"last_sent,omitzero"`
}

type stateFile struct {
	Backups alertState `json:"backups"`
}

// Run checks at once, then every Every until ctx ends. A failed check is
// logged and tried again at the next one.
func (b *Backups) Run(ctx context.Context) {
	t := time.NewTicker(b.opt.Every)
	defer t.Stop()
	for {
		if err := b.Check(ctx); err != nil && ctx.Err() == nil {
			b.opt.Logger.Error("backup alert", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Check looks at the backups once and sends what is due.
func (b *Backups) Check(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.opt.Clock.Now()
	var file stateFile
	if err := readState(b.opt.StateFile, &file); err != nil {
		// Better one message too many than none at all.
		b.opt.Logger.Warn("backup alert: starting from a blank state", "err", err)
		file = stateFile{}
	}
	st := &file.Backups
	if st.Watching.IsZero() {
		st.Watching = now
		if err := writeState(b.opt.StateFile, file); err != nil {
			return err
		}
	}
	status, readErr := b.opt.Status()
	if readErr != nil {
		// An unreadable backup directory is no backup to count on.
		b.opt.Logger.Warn("backup alert: cannot read the backups", "err", readErr)
		status = backup.Status{}
	}
	stale := backup.Stale(status, now)
	if stale && status.LastVerified == nil && now.Sub(st.Watching) <= backup.StaleAfter {
		stale = false // a new appliance, not yet a day old
	}
	var msg Message
	switch {
	case stale && !st.Stale:
		msg = b.staleMessage(status, st, false, readErr)
	case stale && now.Sub(st.LastSent) >= b.opt.Remind:
		msg = b.staleMessage(status, st, true, readErr)
	case !stale && st.Stale:
		msg = b.recoveredMessage(status)
	default:
		return nil
	}
	mc, err := b.mailConfig(ctx)
	if errors.Is(err, errNobody) {
		// Not sent, so due again at the next check: once someone has an
		// address, it goes out. Logged once, not every few minutes.
		if !b.nobody {
			b.nobody = true
			b.opt.Logger.Warn("backup alert: "+err.Error(), "subject", msg.Subject)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("send %q: %w", msg.Subject, err)
	}
	b.nobody = false
	if err := Send(ctx, mc, msg, now); err != nil {
		return fmt.Errorf("send %q: %w", msg.Subject, err)
	}
	b.opt.Logger.Info("backup alert sent", "subject", msg.Subject, "to", len(mc.To))
	st.Stale, st.LastSent = stale, now
	return writeState(b.opt.StateFile, file)
}

// staleSince is when the backups became stale: StaleAfter after the newest
// verified backup, or after the alert started watching when there is none.
func staleSince(s backup.Status, st *alertState) time.Time {
	if s.LastVerified != nil {
		return s.LastVerified.CreatedAt.Add(backup.StaleAfter)
	}
	return st.Watching.Add(backup.StaleAfter)
}

func readState(path string, v *stateFile) error {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("alert state: %w", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("alert state %s: %w", path, err)
	}
	return nil
}

// writeState replaces the state file at once, so a crash leaves the old
// state or the new, never half of one.
func writeState(path string, v stateFile) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("alert state: %w", err)
	}
	if err := atomicfile.Write(path, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("alert state: %w", err)
	}
	return nil
}
