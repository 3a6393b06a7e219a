package alert_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/quotedprintable"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"avanti/appliance/alert"
	"avanti/appliance/alert/smtptest"
	"avanti/appliance/backup"
	"avanti/appliance/clock"
)

const password = "s3cret-Pa55!wörd"

var start = time.Date(2026, 3, 10, 8, 0, 0, 0, time.UTC)

// env is an appliance's backup alert talking to a real SMTP server.
type env struct {
	t      *testing.T
	smtp   *smtptest.Server
	clk    *clock.Fake
	logs   *syncBuffer
	state  string
	mail   alert.MailConfig
	mu     sync.Mutex
	status backup.Status
	admins func(context.Context) ([]string, error) // the administrators' addresses; nil: none
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, clk: clock.NewFake(start), logs: &syncBuffer{}, state: filepath.Join(t.TempDir(), "alerts.json")}
	e.smtp = smtptest.Start(t, smtptest.Options{TLS: "starttls", User: "avanti", Password: password})
	e.mail = alert.MailConfig{
		Host: e.smtp.Host, Port: e.smtp.Port, TLS: "starttls", CAFile: e.smtp.CAFile,
		Username: "avanti", Password: password,
		From: "Avanti <avanti@comune.example.it>",
		To:   []string{"ced@comune.example.it", "Segreteria <segreteria@comune.example.it>"},
	}
	return e
}

func (e *env) setStatus(s backup.Status) {
	e.mu.Lock()
	e.status = s
	e.mu.Unlock()
}

func (e *env) alert(every time.Duration) *alert.Backups {
	return alert.NewBackups(alert.Options{
		Mail: e.mail, Recipients: e.admins, StateFile: e.state, Clock: e.clk, Every: every,
		URL: "https://avanti.comune.example.it", Location: time.UTC,
		Logger: slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Status: func() (backup.Status, error) {
			e.mu.Lock()
			defer e.mu.Unlock()
			return e.status, nil
		},
	})
}

func (e *env) check(a *alert.Backups) {
	e.t.Helper()
	if err := a.Check(context.Background()); err != nil {
		e.t.Fatalf("check: %v", err)
	}
}

// verified is a status whose newest verified backup was taken at t.
func verified(t time.Time) backup.Status {
	info := &backup.BackupInfo{Name: "avanti-" + t.Format("20060102T150405Z"), CreatedAt: t, VerifiedAt: t.Add(10 * time.Minute)}
	return backup.Status{Backups: 1, LastBackup: info, LastVerified: info,
		LastVerification: &backup.Verification{Name: info.Name, VerifiedAt: info.VerifiedAt, OK: true}}
}

type received struct {
	To      []string
	Subject string
	Body    string
	TLS     bool
	Auth    bool
}

func (e *env) received() []received {
	e.t.Helper()
	var out []received
	for _, m := range e.smtp.Messages(e.t) {
		p, err := m.Parsed()
		if err != nil {
			e.t.Fatal(err)
		}
		subj, err := new(mime.WordDecoder).DecodeHeader(p.Header.Get("Subject"))
		if err != nil {
			e.t.Fatal(err)
		}
		body, err := io.ReadAll(quotedprintable.NewReader(p.Body))
		if err != nil {
			e.t.Fatal(err)
		}
		out = append(out, received{To: m.To, Subject: subj, Body: string(body), TLS: m.TLS, Auth: m.Authenticated})
	}
	return out
}

func TestStaleBackupAlertsOnceRemindsDailyAndSaysWhenVerifiedAgain(t *testing.T) {
	e := newEnv(t)
	e.setStatus(verified(start.Add(-30 * time.Hour)))
	a := e.alert(0)

	e.check(a)
	got := e.received()
	if len(got) != 1 {
		t.Fatalf("after the first check: %d messages, want 1", len(got))
	}
	m := got[0]
	if want := "ced@comune.example.it segreteria@comune.example.it"; strings.Join(m.To, " ") != want {
		t.Errorf("recipients %v, want %s", m.To, want)
	}
	if !strings.Contains(m.Subject, "Nessun backup verificato da oltre 26 ore") || !strings.Contains(m.Subject, "No verified backup") ||
		!strings.Contains(m.Subject, "avanti.comune.example.it") {
		t.Errorf("subject %q", m.Subject)
	}
	for _, want := range []string{
		"Ultimo backup verificato: 09/03/2026 02:00 UTC", "Situazione anomala dal:   10/03/2026 04:00 UTC",
		"avanti backup status", "pagina Backup",
		"Last verified backup:     2026-03-09 02:00 UTC", "Backups page",
	} {
		if !strings.Contains(m.Body, want) {
			t.Errorf("body lacks %q:\n%s", want, m.Body)
		}
	}
	if strings.Index(m.Body, "Cosa fare") > strings.Index(m.Body, "What to do") {
		t.Error("Italian should come first")
	}
	if !m.TLS || !m.Auth {
		t.Errorf("delivered with TLS %v, authenticated %v", m.TLS, m.Auth)
	}

	for _, d := range []time.Duration{5 * time.Minute, 12 * time.Hour, 11*time.Hour + 50*time.Minute} {
		e.clk.Advance(d)
		e.check(a)
	}
	if n := len(e.received()); n != 1 {
		t.Fatalf("within a day of the alert: %d messages, want 1", n)
	}

	e.clk.Advance(10 * time.Minute) // 24 hours after the alert
	e.check(a)
	e.check(a)
	got = e.received()
	if len(got) != 2 || !strings.Contains(got[1].Subject, "Promemoria") || !strings.Contains(got[1].Subject, "Reminder") {
		t.Fatalf("a day later: %d messages (%v), want the alert and one reminder", len(got), subjects(got))
	}

	e.clk.Advance(time.Hour)
	e.setStatus(verified(e.clk.Now().Add(-time.Hour)))
	e.check(a)
	e.clk.Advance(5 * time.Minute)
	e.check(a)
	got = e.received()
	if len(got) != 3 || !strings.Contains(got[2].Subject, "Backup di nuovo verificati") || !strings.Contains(got[2].Subject, "Backups verified again") {
		t.Fatalf("after recovery: %v, want alert, reminder, verified again", subjects(got))
	}

	// Stale again: a new alert, not a reminder.
	e.clk.Advance(27 * time.Hour)
	e.check(a)
	got = e.received()
	if len(got) != 4 || strings.Contains(got[3].Subject, "Promemoria") {
		t.Fatalf("stale again: %v", subjects(got))
	}
}

func TestRestartDoesNotAlertAgain(t *testing.T) {
	e := newEnv(t)
	e.setStatus(verified(start.Add(-27 * time.Hour)))
	e.check(e.alert(0))
	for range 3 { // the server restarting in a loop
		e.clk.Advance(time.Minute)
		e.check(e.alert(0))
	}
	if n := len(e.received()); n != 1 {
		t.Fatalf("%d messages across restarts, want 1", n)
	}
}

func TestUnreadableStateStillAlerts(t *testing.T) {
	e := newEnv(t)
	if err := os.WriteFile(e.state, []byte("{half a fi"), 0o600); err != nil {
		t.Fatal(err)
	}
	e.setStatus(verified(start.Add(-27 * time.Hour)))
	e.check(e.alert(0))
	e.check(e.alert(0))
	if n := len(e.received()); n != 1 {
		t.Fatalf("%d messages, want 1", n)
	}
}

func TestNewApplianceWithoutBackupsAlertsAfter26Hours(t *testing.T) {
	e := newEnv(t)
	a := e.alert(0)
	e.check(a)
	e.clk.Advance(26 * time.Hour)
	e.check(a)
	if n := len(e.received()); n != 0 {
		t.Fatalf("%d messages within 26 hours of the first start, want 0", n)
	}
	e.clk.Advance(5 * time.Minute)
	e.check(a)
	got := e.received()
	if len(got) != 1 || !strings.Contains(got[0].Body, "Ultimo backup verificato: nessuno") || !strings.Contains(got[0].Body, "Last verified backup:     none") {
		t.Fatalf("after 26 hours without backups: %+v", got)
	}
}

func TestFailedDeliveryIsLoggedWithoutThePasswordAndRetried(t *testing.T) {
	e := newEnv(t)
	if err := e.smtp.SetPassword("changed-on-the-server"); err != nil {
		t.Fatal(err)
	}
	e.setStatus(verified(start.Add(-30 * time.Hour)))
	a := e.alert(20 * time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	waitFor(t, "a logged failure", func() bool { return strings.Count(e.logs.String(), "level=ERROR") >= 2 })
	if n := len(e.received()); n != 0 {
		t.Fatalf("%d messages with a wrong password", n)
	}
	if !strings.Contains(e.logs.String(), "535") {
		t.Errorf("the log should carry the server's answer:\n%s", e.logs)
	}
	if err := e.smtp.SetPassword(password); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the alert", func() bool { return len(e.smtp.Messages(t)) > 0 })
	time.Sleep(100 * time.Millisecond) // a few more ticks
	cancel()
	<-done
	if n := len(e.received()); n != 1 {
		t.Fatalf("%d messages once the password works, want 1", n)
	}
	assertNoPassword(t, e.logs.String())
}

func TestServerDownIsRetriedAtTheNextCheck(t *testing.T) {
	e := newEnv(t)
	e.setStatus(verified(start.Add(-30 * time.Hour)))
	a := e.alert(0)
	port := e.smtp.Port
	e.smtp.Stop()
	err := a.Check(context.Background())
	if err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("check with the server down: %v", err)
	}
	assertNoPassword(t, err.Error())

	e.smtp.Restart(t)
	if e.smtp.Port != port {
		t.Fatalf("restarted on port %d, not %d", e.smtp.Port, port)
	}
	e.clk.Advance(5 * time.Minute)
	e.check(a)
	if n := len(e.received()); n != 1 {
		t.Fatalf("%d messages once the server is back, want 1", n)
	}
}

func TestSecretsStayOutOfDumps(t *testing.T) {
	c := alert.MailConfig{Host: "smtp.example", Username: "avanti", Password: password}
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("mail", "config", c, "password", c.Password)
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("mail", "config", c)
	fmt.Fprintf(&buf, "%v %+v %#v %s", c, c, c, c.Password)
	assertNoPassword(t, buf.String())
}

func assertNoPassword(t *testing.T, s string) {
	t.Helper()
	for _, p := range []string{password, base64.StdEncoding.EncodeToString([]byte(password)),
		base64.StdEncoding.EncodeToString([]byte("\x00avanti\x00" + password))} {
		if strings.Contains(s, p) {
			t.Fatalf("the password shows:\n%s", s)
		}
	}
}

func subjects(ms []received) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Subject)
	}
	return out
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
