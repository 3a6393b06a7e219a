package backup_test

import (
	"bytes"
	"context"
	"database/sql"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"avanti/appliance/backup"
	"avanti/appliance/demo"
	"avanti/appliance/store"
	"avanti/appliance/testenv"
)

// fixture is an appliance's worth of data to back up: a database with the
// demo organisation, a data directory and a config file.
type fixture struct {
	st   *store.Store
	demo demo.Data
	opt  backup.Options
	// files are the data files and their contents, by path under DataDir
	// ("config" for the config file).
	files map[string][]byte
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	needTools(t)
	st := testenv.NewStore(t)
	needBinlog(t, st.DB())
	ctx := context.Background()
	d, err := demo.Load(ctx, st, testenv.Monday, 3)
	if err != nil {
		t.Fatalf("load demo data: %v", err)
	}
	dsn := dsnOf(t, st)
	dataDir := t.TempDir()
	f := &fixture{st: st, demo: d, files: map[string][]byte{
		"tls/ca.crt":                []byte("-----BEGIN CERTIFICATE-----\nMIIB…\n-----END CERTIFICATE-----\n"),
		"tls/server.key":            []byte("-----BEGIN PRIVATE KEY-----\nsecret\n-----END PRIVATE KEY-----\n"),
		"media/playlist/notice.png": bytes.Repeat([]byte{0x89, 'P', 'N', 'G', 0, 1, 2, 3}, 4096),
		"system/network.json":       []byte(`{"address":"10.0.0.5/24"}`),
	}}
	for p, b := range f.files {
		full := filepath.Join(dataDir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// Not backed up: the voice cache is rebuilt on demand.
	os.MkdirAll(filepath.Join(dataDir, "voice"), 0o700)
	os.WriteFile(filepath.Join(dataDir, "voice", "a001.wav"), []byte("RIFF"), 0o600)
	conf := filepath.Join(t.TempDir(), "avanti.yaml")
	f.files["config"] = []byte("dsn: " + dsn + "\nlisten: 0.0.0.0:443\n")
	if err := os.WriteFile(conf, f.files["config"], 0o640); err != nil {
		t.Fatal(err)
	}
	f.opt = backup.Options{DSN: dsn, DataDir: dataDir, ConfigFile: conf, Dir: t.TempDir(), AppVersion: "test", Log: testLog(t)}
	return f
}

// dsnOf is the DSN of a test store's database.
func dsnOf(t *testing.T, st *store.Store) string {
	t.Helper()
	var name string
	if err := st.DB().QueryRow("SELECT DATABASE()").Scan(&name); err != nil {
		t.Fatal(err)
	}
	cfg, err := store.Config(testenv.ServerDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg.DBName = name
	return cfg.FormatDSN()
}

// restoreTarget is an empty database, data directory and config path to
// restore into.
func (f *fixture) restoreTarget(t *testing.T) backup.Options {
	t.Helper()
	o := f.opt
	o.DSN = testenv.NewDatabase(t)
	o.DataDir = t.TempDir()
	o.ConfigFile = filepath.Join(t.TempDir(), "avanti.yaml")
	return o
}

func (f *fixture) checkFiles(t *testing.T, o backup.Options) {
	t.Helper()
	for p, want := range f.files {
		full := filepath.Join(o.DataDir, p)
		if p == "config" {
			full = o.ConfigFile
		}
		got, err := os.ReadFile(full)
		if err != nil {
			t.Errorf("restored file %s: %v", p, err)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("restored file %s differs", p)
		}
	}
	if _, err := os.Stat(filepath.Join(o.DataDir, "voice")); err == nil {
		t.Errorf("the voice cache was restored, but it is not backed up")
	}
}

var missing = map[string]string{"mariadb-binlog": "mariadb-client", "mariadb": "mariadb-client-core"}

// needTools fails the test, saying how to fix it, when a MariaDB client
// program is missing: backups are part of the product, so their tests must
// not pass by being skipped.
func needTools(t *testing.T) {
	t.Helper()
	for tool, pkg := range missing {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not installed, and the backup tests need it: install Debian's %s package "+
				"(apt-get install -y %s; `make test` does it via scripts/debdeps)", tool, pkg, pkg)
		}
	}
}

func needBinlog(t *testing.T, db *sql.DB) {
	t.Helper()
	var on int
	var format string
	if err := db.QueryRow("SELECT @@log_bin, @@binlog_format").Scan(&on, &format); err != nil {
		t.Fatal(err)
	}
	if on != 1 || format != "ROW" {
		t.Fatalf("the MariaDB of AVANTI_TEST_DSN runs without row-based binary logging (log_bin=%d, binlog_format=%s), "+
			"which point-in-time recovery needs: `make test` restarts the private one with it (scripts/devdb)", on, format)
	}
}

// booking is one ticket the load made: when the call started and when it
// was acknowledged.
type booking struct {
	token          string
	started, acked time.Time
}

// load keeps booking walk-in tickets through the store, as totems would,
// until stop.
type load struct {
	stop func() []booking
}

func startLoad(t *testing.T, st *store.Store, d demo.Data, workers int) *load {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	var out []booking
	var wg sync.WaitGroup
	var errOnce sync.Once
	var loadErr error
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				started := time.Now()
				tk, err := st.Book(ctx, store.BookRequest{ServiceID: d.Services["I"], Channel: store.ChannelKiosk}, testenv.Monday)
				if err != nil {
					if ctx.Err() == nil {
						errOnce.Do(func() { loadErr = err })
					}
					return
				}
				acked := time.Now()
				mu.Lock()
				out = append(out, booking{tk.Token, started, acked})
				mu.Unlock()
			}
		}()
	}
	return &load{stop: func() []booking {
		cancel()
		wg.Wait()
		if loadErr != nil {
			t.Fatalf("booking under load: %v", loadErr)
		}
		mu.Lock()
		defer mu.Unlock()
		return append([]booking(nil), out...)
	}}
}

// tokens reads the ticket tokens of a database.
func tokens(t *testing.T, dsn string) map[string]bool {
	t.Helper()
	db, err := store.OpenDB(dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query("SELECT token FROM tickets")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var s string
		rows.Scan(&s)
		out[s] = true
	}
	return out
}

// waitShipped waits until the shipped binlogs hold everything the server
// has written so far.
func waitShipped(t *testing.T, db *sql.DB, dir string) {
	t.Helper()
	var file string
	var pos int64
	rows, err := db.Query("SHOW MASTER STATUS")
	if err != nil {
		t.Fatal(err)
	}
	cols, _ := rows.Columns()
	vals := make([]sql.RawBytes, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if rows.Next() {
		rows.Scan(ptrs...)
		file = string(vals[0])
		pos, _ = parseInt(string(vals[1]))
	}
	rows.Close()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if fi, err := os.Stat(filepath.Join(dir, "binlogs", file)); err == nil && fi.Size() >= pos {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("binlog %s was not shipped up to %d in time", file, pos)
}

func parseInt(s string) (int64, error) {
	var n int64
	for _, c := range strings.TrimSpace(s) {
		n = n*10 + int64(c-'0')
	}
	return n, nil
}

func dirListing(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() || e.Name() == ".lock" {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = b
	}
	return out
}

func tableCount(t *testing.T, dsn string) int {
	t.Helper()
	db, err := store.OpenDB(dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// testLog sends what the package logs to the test's log.
func testLog(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(logWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type logWriter struct{ t *testing.T }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// testContext bounds a test's calls, so that a hang fails with what hung.
func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// startShipping runs ShipBinlogs until the returned function (or the end
// of the test) stops it; stop fails the test if shipping failed.
func startShipping(t *testing.T, ctx context.Context, opt backup.Options) (stop func()) {
	t.Helper()
	shipCtx, cancel := context.WithCancel(ctx)
	shipped := make(chan error, 1)
	go func() { shipped <- backup.ShipBinlogs(shipCtx, opt) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-shipped:
				if err != nil {
					t.Errorf("ShipBinlogs: %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Errorf("ShipBinlogs did not return 30 s after it was cancelled")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}
