// Package testenv starts what the integration tests talk to: a fresh
// database on the project's private MariaDB (one per call, dropped after the
// test), and the appliance's HTTP server on loopback with the demo data and
// a clock the test controls.
package testenv

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
	_ "time/tzdata"

	"avanti/appliance/clock"
	"avanti/appliance/config"
	"avanti/appliance/demo"
	"avanti/appliance/directory"
	"avanti/appliance/server"
	"avanti/appliance/store"
	"avanti/appliance/tlsca"

	"log/slog"
)

// ServerDSN is the DSN of the MariaDB/MySQL server tests create databases
// on: AVANTI_TEST_DSN, set by `make test` to the private instance.
func ServerDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv("AVANTI_TEST_DSN")
	if dsn == "" {
		t.Fatal("AVANTI_TEST_DSN is not set: run the tests with `make test`, which starts the private MariaDB, " +
			"or point AVANTI_TEST_DSN at a MariaDB >= 10.6 / MySQL >= 8.0 server (user:pass@tcp(host:port)/)")
	}
	return dsn
}

// NewDatabase creates an empty database and returns its DSN; the database
// is dropped when the test ends.
func NewDatabase(t testing.TB) string {
	t.Helper()
	cfg, err := store.Config(ServerDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 6)
	rand.Read(b)
	name := "avanti_test_" + hex.EncodeToString(b)
	cfg.DBName = ""
	admin, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name+" CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"); err != nil {
		admin.Close()
		t.Fatalf("create test database (is the private MariaDB running? `make test` starts it): %v", err)
	}
	t.Cleanup(func() {
		admin.ExecContext(context.Background(), "DROP DATABASE IF EXISTS "+name)
		admin.Close()
	})
	cfg.DBName = name
	return cfg.FormatDSN()
}

// NewStore opens a migrated, empty store on a fresh database.
func NewStore(t testing.TB) *store.Store {
	t.Helper()
	dsn := NewDatabase(t)
	st, err := store.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return st
}

// Monday is a working Monday morning in Crema (09:00 local), a good "now"
// for tests: every demo service is open.
var Monday = time.Date(2026, 11, 23, 9, 0, 0, 0, mustRome())

func mustRome() *time.Location {
	loc, err := time.LoadLocation("Europe/Rome")
	if err != nil {
		panic(err)
	}
	return loc
}

// Rome is the demo's time zone.
var Rome = mustRome()

// Env is a running appliance for a test.
type Env struct {
	Store  *store.Store
	Clock  *clock.Fake
	URL    string // e.g. http://127.0.0.1:12345
	Demo   demo.Data
	Server *server.Server

	cfg    config.Config
	log    *slog.Logger
	mounts server.Mounts
	addr   string
	http   *http.Server
}

// Options tune NewServer.
type Options struct {
	Now         time.Time // default Monday
	HorizonDays int       // default 14 (keeps set-up quick)
	// Mounts are browser faces served beside the API (the command mounts
	// signage at /display/; tests of a face mount it themselves).
	Mounts server.Mounts
	// Directory is an LDAP directory staff sign in with (slapdtest).
	Directory *directory.Config
	// Empty starts a new appliance: no demo data, first-boot setup.
	Empty bool
	// OwnCA gives the appliance its own CA and server certificate in
	// data_dir/tls (tls_cert_file: auto), as a real one makes at first
	// start; the test server still speaks plain HTTP.
	OwnCA bool
}

// NewServer starts the appliance on loopback over a fresh database with
// the demo data loaded at opt.Now.
func NewServer(t testing.TB, opt Options) *Env {
	t.Helper()
	if opt.Now.IsZero() {
		opt.Now = Monday
	}
	if opt.HorizonDays == 0 {
		opt.HorizonDays = 14
	}
	st := NewStore(t)
	clk := clock.NewFake(opt.Now)
	var d demo.Data
	if !opt.Empty {
		var err error
		if d, err = demo.Load(context.Background(), st, clk.Now(), opt.HorizonDays); err != nil {
			t.Fatalf("load demo data: %v", err)
		}
	}
	cfg := config.Default()
	cfg.HorizonDays = opt.HorizonDays
	cfg.DataDir = t.TempDir()
	if opt.Directory != nil {
		cfg.Directory = *opt.Directory
	}
	if opt.OwnCA {
		cfg.TLSCertFile = "auto"
		if _, _, err := tlsca.Ensure(filepath.Join(cfg.DataDir, "tls"), []string{"avanti.comune.local", "127.0.0.1"}, opt.Now); err != nil {
			t.Fatalf("own CA: %v", err)
		}
	}
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e := &Env{Store: st, Clock: clk, Demo: d, cfg: cfg, log: log, mounts: opt.Mounts, addr: ln.Addr().String()}
	e.URL = "http://" + e.addr
	e.start(t, ln)
	t.Cleanup(e.stop)
	d.Credentials.BaseURL = e.URL
	e.Demo = d
	return e
}

func (e *Env) start(t testing.TB, ln net.Listener) {
	t.Helper()
	srv, err := server.New(e.cfg, e.Store, e.Clock, e.log, e.mounts)
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	e.Server = srv
	e.http = &http.Server{Handler: srv.Handler, ReadHeaderTimeout: 10 * time.Second}
	go e.http.Serve(ln)
}

// stop ends the server as a shutdown would: screens are told it is going
// away, then every connection is closed.
func (e *Env) stop() {
	if e.http == nil {
		return
	}
	e.Server.Close()
	e.http.Close()
	e.http = nil
}

// Restart stops the appliance and starts a new process's worth of it on
// the same address and database: a new realtime epoch, the same data.
func (e *Env) Restart(t testing.TB) {
	t.Helper()
	e.Down(t)
	e.Up(t)
}

// Down stops the appliance (its address refuses connections) until Up.
func (e *Env) Down(t testing.TB) {
	t.Helper()
	e.stop()
}

// Up starts the appliance again on its address after Down.
func (e *Env) Up(t testing.TB) {
	t.Helper()
	var ln net.Listener
	var err error
	for range 50 { // the old socket may linger for a moment
		if ln, err = net.Listen("tcp", e.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("listen again on %s: %v", e.addr, err)
	}
	e.start(t, ln)
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}
