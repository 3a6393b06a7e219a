package api_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"avanti/appliance/backup"
	"avanti/appliance/maint"
	"avanti/appliance/testenv"
)

func TestAnAdminOpensAndClosesAMaintenanceWindow(t *testing.T) {
	env := testenv.NewServer(t, testenv.Options{})
	who := signIn(t, env)
	st, raw := who[admin].Do("POST", "/api/v1/maintenance/windows", map[string]any{"minutes": 60})
	wantError(t, st, raw, 422, "reason_required", "reason")
	st, raw = who[admin].Do("POST", "/api/v1/maintenance/windows", map[string]any{"minutes": 24 * 60, "reason": "aggiornamento"})
	wantError(t, st, raw, 422, "invalid_duration", "minutes")
	var w struct {
		ID       int64
		Reason   string
		From     time.Time
		Until    time.Time
		OpenedBy string `json:"opened_by"`
	}
	if st := who[admin].JSON("POST", "/api/v1/maintenance/windows", map[string]any{"minutes": 90, "reason": "Ticket 4711: stampante"}, &w); st != 201 {
		t.Fatalf("open window: %d", st)
	}
	if w.Until.Sub(w.From) != 90*time.Minute || w.OpenedBy == "" {
		t.Errorf("window %+v", w)
	}
	var m struct {
		Open    *struct{ ID int64 } `json:"open"`
		Windows []struct{ ID int64 }
	}
	who[admin].JSON("GET", "/api/v1/maintenance", nil, &m)
	if m.Open == nil || m.Open.ID != w.ID || len(m.Windows) != 1 {
		t.Fatalf("maintenance: %+v", m)
	}
	// The admin closes it at once: no window is open from now on.
	env.Clock.Advance(10 * time.Minute)
	if st, raw := who[admin].Do("POST", fmt.Sprintf("/api/v1/maintenance/windows/%d/close", w.ID), nil); st != 200 {
		t.Fatalf("close: %d %s", st, raw)
	}
	who[admin].JSON("GET", "/api/v1/maintenance", nil, &m)
	if m.Open != nil {
		t.Errorf("a closed window is still open: %+v", m.Open)
	}
	if w, err := env.Store.CurrentMaintWindow(t.Context(), env.Clock.Now()); err != nil || w != nil {
		t.Errorf("the agent's view after closing: %+v %v", w, err)
	}
	st, raw = who[admin].Do("POST", fmt.Sprintf("/api/v1/maintenance/windows/%d/close", w.ID), nil)
	wantError(t, st, raw, 409, "window_closed", "")
	var log struct{ Entries []struct{ Action string } }
	who[admin].JSON("GET", "/api/v1/audit?entity=maint_window", nil, &log)
	if len(log.Entries) != 2 || log.Entries[0].Action != "close" || log.Entries[1].Action != "open" {
		t.Errorf("audit of the window: %+v", log.Entries)
	}
	var up struct {
		Version string
		History []any
	}
	if st := who[admin].JSON("GET", "/api/v1/updates", nil, &up); st != 200 || up.Version == "" || up.History == nil {
		t.Errorf("updates: %d %+v", st, up)
	}
}

func TestTheConsoleSeesThatNoBackupIsStale(t *testing.T) {
	env := testenv.NewServer(t, testenv.Options{})
	who := signIn(t, env)
	var b struct {
		Configured bool
		Stale      bool
		Status     struct{ Backups int }
		List       []any
	}
	if st, raw := who[admin].Do("GET", "/api/v1/backups", nil); st != 200 {
		t.Fatalf("backups: %d %s", st, raw)
	}
	who[admin].JSON("GET", "/api/v1/backups", nil, &b)
	if !b.Configured || b.Stale || b.Status.Backups != 0 || b.List == nil || len(b.List) != 0 {
		t.Errorf("just set up, no backup yet: %+v, want not stale (no night has passed)", b)
	}
	// A day and more later still without a verified backup: stale.
	env.Clock.Advance(backup.StaleAfter + time.Hour)
	who = signIn(t, env) // the sessions have ended meanwhile
	who[admin].JSON("GET", "/api/v1/backups", nil, &b)
	if !b.Stale {
		t.Errorf("set up %v ago, no backup: %+v, want stale", backup.StaleAfter+time.Hour, b)
	}
	_, raw := env.Anonymous(t).Do("GET", "/metrics", nil)
	if !strings.Contains(string(raw), "avanti_backup_verified_age_seconds -1") {
		t.Errorf("the metric does not say there is no verified backup")
	}
}

// The agent records the vendor engineers' sessions in the audit log; the
// console reads them, newest first, from the maintenance endpoint: a
// session that ended once, one still going with no end.
func TestTheConsoleSeesTheEngineersSessions(t *testing.T) {
	env := testenv.NewServer(t, testenv.Options{})
	who := signIn(t, env)
	var w struct{ ID int64 }
	if st := who[admin].JSON("POST", "/api/v1/maintenance/windows", map[string]any{"minutes": 60, "reason": "Ticket 4712"}, &w); st != 201 {
		t.Fatalf("open window: %d", st)
	}
	owner, err := env.Store.FirstOwner(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	now := env.Clock.Now()
	window := maint.Window{ID: w.ID, From: now, Until: now.Add(time.Hour)}
	first := &maint.Session{ID: "s1", WindowID: w.ID, User: "support", Fingerprint: "SHA256:abc", KeyComment: "mario@vendor",
		From: "203.0.113.7", Start: now.Add(time.Minute), Recordings: []string{"/var/lib/avanti/maint/s1.cast"}}
	record := func(action string, s maint.Session, at time.Time) {
		t.Helper()
		e := maint.Event{At: at, Action: action, Window: window, Session: &s}
		if err := env.Store.Audit(t.Context(), owner.ID, e.Actor(), action, "maint_window", w.ID, nil, e, at); err != nil {
			t.Fatal(err)
		}
	}
	record(maint.ActionSessionStart, *first, first.Start)
	ended := *first
	ended.End, ended.Duration, ended.EndReason = first.Start.Add(12*time.Minute), 12*time.Minute, "client disconnected"
	record(maint.ActionSessionEnd, ended, ended.End)
	second := maint.Session{ID: "s2", WindowID: w.ID, User: "support", Fingerprint: "SHA256:def", From: "203.0.113.8", Start: now.Add(20 * time.Minute)}
	record(maint.ActionSessionStart, second, second.Start)

	var m struct{ Sessions []maint.Session }
	if st := who[admin].JSON("GET", "/api/v1/maintenance", nil, &m); st != 200 {
		t.Fatalf("maintenance: %d", st)
	}
	if len(m.Sessions) != 2 || m.Sessions[0].ID != "s2" || !m.Sessions[0].End.IsZero() ||
		m.Sessions[1].ID != "s1" || m.Sessions[1].Duration != 12*time.Minute || m.Sessions[1].KeyComment != "mario@vendor" {
		t.Fatalf("sessions: %+v", m.Sessions)
	}
	if len(m.Sessions[1].Recordings) != 0 {
		t.Errorf("the recordings' paths on the appliance are shown: %v", m.Sessions[1].Recordings)
	}
}
