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
	"fmt"
	"net/http/httptest"
	"os"
	"testing"
	"time"
	_ "time/tzdata"

	"avanti/appliance/clock"
	"avanti/appliance/config"
	"avanti/appliance/demo"
	"avanti/appliance/server"
	"avanti/appliance/store"

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
}

// Options tune NewServer.
type Options struct {
	Now         time.Time // default Monday
	HorizonDays int       // default 14 (keeps set-up quick)
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
	d, err := demo.Load(context.Background(), st, clk.Now(), opt.HorizonDays)
	if err != nil {
		t.Fatalf("load demo data: %v", err)
	}
	cfg := config.Default()
	cfg.HorizonDays = opt.HorizonDays
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	srv := server.New(cfg, st, clk, log)
	hs := httptest.NewServer(srv.Handler)
	t.Cleanup(hs.Close)
	d.Credentials.BaseURL = hs.URL
	return &Env{Store: st, Clock: clk, URL: hs.URL, Demo: d, Server: srv}
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}

var _ = fmt.Sprint
