package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"avanti/appliance/auth"
	"avanti/appliance/store"
	"avanti/appliance/sysconf"
	"avanti/appliance/testenv"
	"avanti/appliance/tlsca"
)

// vmConsole is the menu as the VM's console shows it, driven by typed lines.
type vmConsole struct {
	ui      *consoleUI
	out     *bytes.Buffer
	applied []sysconf.Settings
}

func newConsole(t *testing.T, st *store.Store, typed ...string) *vmConsole {
	t.Helper()
	dir := t.TempDir()
	c := &vmConsole{out: &bytes.Buffer{}}
	c.ui = &consoleUI{
		out: c.out, lines: readLines(strings.NewReader(strings.Join(typed, "\n") + "\n")),
		version: "test", dataDir: dir, file: filepath.Join(dir, "system", "system.json"),
		authSet: auth.Settings{MaxFailures: 3, LockFor: time.Hour, SessionIdle: time.Hour, SessionAbsolute: time.Hour},
		openStore: func(context.Context) (*store.Store, error) {
			if st == nil {
				return nil, errors.New("dial unix /run/mysqld/mysqld.sock: connect: no such file or directory")
			}
			return st, nil
		},
		apply: func(_ context.Context, s sysconf.Settings) ([]string, error) {
			c.applied = append(c.applied, s)
			return []string{"network: " + describeNetwork(s.Network)}, nil
		},
		addresses:  func() []ifaceAddr { return []ifaceAddr{{"ens18", netip.MustParsePrefix("10.20.0.7/24")}} },
		loginShell: func(io.Writer) error { return errors.New("no login prompt in a test") },
		now:        func() time.Time { return testenv.Monday },
		log:        slog.New(slog.DiscardHandler),
	}
	return c
}

func (c *vmConsole) run(t *testing.T) string {
	t.Helper()
	if err := c.ui.run(context.Background()); err != nil {
		t.Fatal(err)
	}
	return c.out.String()
}

func (c *vmConsole) settings(t *testing.T) map[string]any {
	t.Helper()
	b, err := os.ReadFile(c.ui.file)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// setUp does the first-boot setup: an organisation and its administrator.
func setUp(t *testing.T, st *store.Store) {
	t.Helper()
	hash, err := auth.HashPassword("Offanengo-2026!")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Initialise(context.Background(), store.Initial{OwnerName: "COMUNE DI CREMA", SiteName: "Municipio",
		Timezone: "Europe/Rome", AdminUsername: "admin", PasswordHash: hash}, testenv.Monday); err != nil {
		t.Fatal(err)
	}
}

func TestBeforeSetupTheConsoleSetsAStaticAddressWithoutASignIn(t *testing.T) {
	st := testenv.NewStore(t)
	c := newConsole(t, st,
		"1",            // network settings
		"s",            // static
		"10.20.0.5",    // no prefix: asked again
		"10.20.0.5/24", //
		"10.30.0.1",    // not in the network: asked again
		"10.20.0.1",    //
		"10.20.0.2, 10.20.0.3",
		"y",
		"", // back to the menu
	)
	// What the setup page wrote before stays.
	if err := os.MkdirAll(filepath.Dir(c.ui.file), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(c.ui.file, []byte(`{"timezone": "Europe/Rome", "ntp_servers": ["ntp.comune.local"]}`), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(c.ui.dataDir, "setup-code"), []byte("\nAvanti: first-boot setup code 1234-5678-9012\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := tlsca.Ensure(filepath.Join(c.ui.dataDir, "tls"), []string{"localhost"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	fp, err := tlsca.Fingerprint(filepath.Join(c.ui.dataDir, "tls"))
	if err != nil {
		t.Fatal(err)
	}
	out := c.run(t)
	for _, want := range []string{
		colonHex(fp)[:47], colonHex(fp)[48:], "2026-11-23 09:00 CET (Europe/Rome)",
		"https://10.20.0.7/console/", "Setup code: 1234-5678-9012", "Open https://10.20.0.7/console/setup",
		"no sign-in needed", "written with its prefix", "not in the appliance's network 10.20.0.0/24",
		"Network: static 10.20.0.5/24, gateway 10.20.0.1, DNS 10.20.0.2 10.20.0.3",
		"Applied: network: static 10.20.0.5/24",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the console does not show %q:\n%s", want, out)
		}
	}
	got := c.settings(t)
	n, _ := got["network"].(map[string]any)
	if n["mode"] != "static" || n["address"] != "10.20.0.5/24" || n["gateway"] != "10.20.0.1" ||
		len(n["dns"].([]any)) != 2 || got["timezone"] != "Europe/Rome" || got["ntp_servers"].([]any)[0] != "ntp.comune.local" {
		t.Errorf("system.json: %v", got)
	}
	if len(c.applied) != 1 || c.applied[0].Network.Address != "10.20.0.5/24" || c.applied[0].NTPServers[0] != "ntp.comune.local" {
		t.Errorf("applied %+v", c.applied)
	}
}

func TestAfterSetupOnlyAnAdministratorsPasswordChangesTheTimeServers(t *testing.T) {
	st := testenv.NewStore(t)
	setUp(t, st)
	c := newConsole(t, st,
		"2", "admin", "not-the-password", "", // refused
		"2", "admin", "Offanengo-2026!", "ntp1.comune.local, 10.20.0.3", "y", "",
	)
	out := c.run(t)
	if !strings.Contains(out, "Refused: wrong username or password") || !strings.Contains(out, "First-boot setup: done") {
		t.Errorf("console:\n%s", out)
	}
	if strings.Contains(out, "Setup code") {
		t.Error("a set-up appliance shows a setup code")
	}
	if got := c.settings(t)["ntp_servers"].([]any); len(got) != 2 || got[0] != "ntp1.comune.local" || got[1] != "10.20.0.3" {
		t.Errorf("ntp_servers %v", got)
	}
	if len(c.applied) != 1 {
		t.Errorf("applied %d times", len(c.applied))
	}
	owner, err := st.FirstOwner(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	log, err := st.AuditLog(context.Background(), owner.ID, store.AuditFilter{Entity: "system"})
	if err != nil || len(log) != 1 || log[0].Actor != "user:admin" || !strings.Contains(string(log[0].After), "ntp1.comune.local") {
		t.Errorf("audit %+v %v", log, err)
	}
}

func TestTheConsoleLockoutIsTheLoginPages(t *testing.T) {
	st := testenv.NewStore(t)
	setUp(t, st)
	var typed []string
	for range 3 { // MaxFailures
		typed = append(typed, "1", "admin", "guess-guess", "")
	}
	typed = append(typed, "1", "admin", "Offanengo-2026!", "")
	c := newConsole(t, st, typed...)
	out := c.run(t)
	if !strings.Contains(out, "Refused: too many failed attempts") {
		t.Errorf("the right password after three wrong ones:\n%s", out)
	}
	if _, err := os.Stat(c.ui.file); !os.IsNotExist(err) || len(c.applied) != 0 {
		t.Errorf("settings changed: %v, %d", err, len(c.applied))
	}
}

func TestWithoutTheDatabaseTheConsoleChangesNothing(t *testing.T) {
	c := newConsole(t, nil, "1", "", "2", "")
	out := c.run(t)
	if !strings.Contains(out, "Database:     not reachable") || strings.Count(out, "The database cannot be reached") != 2 {
		t.Errorf("console:\n%s", out)
	}
	if _, err := os.Stat(c.ui.file); !os.IsNotExist(err) || len(c.applied) != 0 {
		t.Errorf("settings changed: %v, %d", err, len(c.applied))
	}
}

func TestACancelledChangeWritesNothing(t *testing.T) {
	st := testenv.NewStore(t)
	c := newConsole(t, st, "1", "s", "10.20.0.5/24", ".", "", "2", "pool.ntp.org", "n", "")
	out := c.run(t)
	if !strings.Contains(out, "Cancelled: nothing changed.") || !strings.Contains(out, "Nothing changed.") {
		t.Errorf("console:\n%s", out)
	}
	if _, err := os.Stat(c.ui.file); !os.IsNotExist(err) || len(c.applied) != 0 {
		t.Errorf("settings changed: %v, %d", err, len(c.applied))
	}
}

func TestAQuestionLeftUnansweredGoesBackToTheMenu(t *testing.T) {
	st := testenv.NewStore(t)
	setUp(t, st)
	c := newConsole(t, st)
	in := make(chan string)
	c.ui.lines, c.ui.idle = in, 50*time.Millisecond
	done := make(chan string)
	go func() {
		c.ui.run(context.Background())
		done <- c.out.String()
	}()
	in <- "1"
	in <- "admin" // and then nobody types the password
	time.Sleep(200 * time.Millisecond)
	close(in)
	out := <-done
	if !strings.Contains(out, "No answer for 50ms: back to the menu") || strings.Contains(out, "Refused") {
		t.Errorf("console:\n%s", out)
	}
}
