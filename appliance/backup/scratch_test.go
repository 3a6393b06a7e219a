package backup_test

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"avanti/appliance/backup"
	"avanti/appliance/store"
	"avanti/appliance/testenv"
)

func TestKilledVerifyLeavesNoScratchDatabaseBehind(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	// Rows that do not compress: the archive is read in 1 MiB steps, so
	// the verify reports progress (and can be killed) midway.
	mustExec(t, f.st.DB(), "CREATE TABLE noise (id INT PRIMARY KEY, body VARCHAR(1100) NOT NULL)")
	mustExec(t, f.st.DB(), "INSERT INTO noise SELECT seq, CONCAT(SHA2(RAND(),512), SHA2(RAND(),512), SHA2(RAND(),512), SHA2(RAND(),512),"+
		" SHA2(RAND(),512), SHA2(RAND(),512), SHA2(RAND(),512), SHA2(RAND(),512)) FROM seq_1_to_8192")
	ctx := testContext(t)
	if _, err := backup.Run(ctx, f.opt); err != nil {
		t.Fatal(err)
	}
	admin := serverDB(t)

	// A verify running elsewhere on the server (another appliance's tests,
	// or a second `avanti backup verify`): its scratch database is in use
	// and must survive.
	busy := "avanti_verify_busy" + strconv.FormatInt(time.Now().UnixNano(), 36)
	holder, err := admin.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	var got int
	if err := holder.QueryRowContext(ctx, "SELECT GET_LOCK(?, 0)", busy).Scan(&got); err != nil || got != 1 {
		t.Fatalf("lock: %v", err)
	}
	mustExec(t, admin, "CREATE DATABASE "+busy)
	t.Cleanup(func() { admin.Exec("DROP DATABASE IF EXISTS " + busy) })

	// A verify killed (SIGKILL) while it restores into its scratch database.
	before := scratchDatabases(t, admin)
	cmd := exec.Command(os.Args[0], "-test.run=^TestVerifyChildProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), "VERIFY_CHILD_DSN="+f.opt.DSN, "VERIFY_CHILD_DIR="+f.opt.Dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	killed := false
	for sc.Scan() {
		if n, ok := strings.CutPrefix(sc.Text(), "progress "); ok {
			if done, _ := strconv.ParseInt(n, 10, 64); done >= 1<<20 {
				cmd.Process.Signal(syscall.SIGKILL)
				killed = true
				break
			}
		}
	}
	err = cmd.Wait()
	if !killed {
		t.Fatalf("the child verify ended before it could be killed: %v\n%s", err, stderr.String())
	}
	var left []string
	for _, n := range scratchDatabases(t, admin) {
		if !slices.Contains(before, n) {
			left = append(left, n)
		}
	}
	if len(left) == 0 {
		t.Fatal("the killed verify left no scratch database: nothing to test")
	}

	// The next verify drops it (once the server has noticed the killed
	// client's connection is gone, which frees its lock) and leaves the
	// busy one alone.
	deadline := time.Now().Add(10 * time.Second)
	for {
		v, err := backup.Verify(ctx, f.opt, "")
		if err != nil || !v.OK {
			t.Fatalf("verify after a killed one: %v (%+v)", err, v)
		}
		now := scratchDatabases(t, admin)
		remaining := slices.DeleteFunc(slices.Clone(left), func(n string) bool { return !slices.Contains(now, n) })
		if slices.Contains(now, v.Database) {
			t.Errorf("the verify left its own scratch database %s", v.Database)
		}
		if !slices.Contains(now, busy) {
			t.Fatal("a verify dropped the scratch database of a verify still running")
		}
		if len(remaining) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the killed verify's scratch database(s) %v are still there", remaining)
		}
		time.Sleep(500 * time.Millisecond)
	}

	// And so does the next backup.
	mustExec(t, holder, "DO RELEASE_LOCK('"+busy+"')")
	if _, err := backup.Run(ctx, f.opt); err != nil {
		t.Fatal(err)
	}
	if slices.Contains(scratchDatabases(t, admin), busy) {
		t.Fatalf("backup run left the abandoned scratch database %s", busy)
	}
}

// TestVerifyChildProcess is the verify that TestKilledVerify… kills.
func TestVerifyChildProcess(t *testing.T) {
	dsn := os.Getenv("VERIFY_CHILD_DSN")
	if dsn == "" {
		t.Skip("run by TestKilledVerifyLeavesNoScratchDatabaseBehind")
	}
	o := backup.Options{DSN: dsn, Dir: os.Getenv("VERIFY_CHILD_DIR"),
		Progress: func(done, total int64) {
			fmt.Printf("progress %d\n", done)
			time.Sleep(30 * time.Millisecond) // slow enough to be caught midway
		}}
	if _, err := backup.Verify(context.Background(), o, ""); err != nil {
		t.Fatal(err)
	}
}

// serverDB is a connection to the test server without a database.
func serverDB(t *testing.T) *sql.DB {
	t.Helper()
	cfg, err := store.Config(testenv.ServerDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg.DBName = ""
	db, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func scratchDatabases(t *testing.T, db *sql.DB) []string {
	t.Helper()
	rows, err := db.Query(`SHOW DATABASES LIKE 'avanti\_verify\_%'`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		out = append(out, n)
	}
	return out
}

type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func mustExec(t *testing.T, db execer, query string) {
	t.Helper()
	if _, err := db.ExecContext(context.Background(), query); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}
