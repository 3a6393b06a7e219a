package update

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// Results of an update attempt.
const (
	Installed      = "installed"       // the new version runs and is healthy
	Refused        = "refused"         // the bundle failed its checks: nothing changed
	Aborted        = "aborted"         // stopped before installing (the backup failed): nothing changed
	RolledBack     = "rolled back"     // installed, failed, and the previous version and data are back
	RollbackFailed = "rollback failed" // installed, failed, and putting things back failed too: needs a person
)

// Entry is one update attempt.
type Entry struct {
	Version    string    `json:"version"`          // the bundle's (as it claims, if refused)
	From       string    `json:"from"`             // the version running before
	At         time.Time `json:"at"`               // when the attempt started
	FinishedAt time.Time `json:"finished_at"`      // when it ended
	Result     string    `json:"result"`           // one of the results above
	Reason     string    `json:"reason,omitempty"` // why, unless installed
	SignedBy   string    `json:"signed_by,omitempty"`
	Bundle     string    `json:"bundle,omitempty"` // the bundle's file name
}

// History records update attempts. It must not live in the database: a
// rollback restores the database to before the attempt, and the attempt
// must still be on record afterwards.
type History interface {
	Record(ctx context.Context, e Entry) error
}

// FileHistory keeps the history as JSON lines in one file (e.g.
// /var/lib/avanti/update-history.jsonl), appended and synced.
type FileHistory struct {
	Path string
}

// Record appends e.
func (h FileHistory) Record(ctx context.Context, e Entry) error {
	if err := os.MkdirAll(filepath.Dir(h.Path), 0o755); err != nil {
		return err
	}
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(h.Path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(append(b, '\n'))
	if serr := f.Sync(); err == nil {
		err = serr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// List returns the attempts, newest first; no file is an empty history.
// A line that does not parse (a torn write) is skipped.
func (h FileHistory) List() ([]Entry, error) {
	f, err := os.Open(h.Path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Entry
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var e Entry
		if json.Unmarshal(sc.Bytes(), &e) == nil {
			out = append(out, e)
		}
	}
	slices.Reverse(out)
	return out, sc.Err()
}
