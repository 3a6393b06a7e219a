package backup_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"avanti/appliance/backup"
	"avanti/appliance/store"
	"avanti/appliance/testenv"
)

// grow adds some megabytes of rows, so that a dump takes long enough to be
// interrupted in the middle.
func grow(t *testing.T, f *fixture, mb int) {
	t.Helper()
	db := f.st.DB()
	if _, err := db.Exec("CREATE TABLE bulk (id INT PRIMARY KEY, body VARCHAR(1000) NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	rows := mb << 10 // a kilobyte each
	if _, err := db.Exec(fmt.Sprintf("INSERT INTO bulk SELECT seq, REPEAT(MD5(seq), 31) FROM seq_1_to_%d", rows)); err != nil {
		t.Fatal(err)
	}
}

func TestKilledBackupLeavesOlderBackupsIntactAndNextRunSucceeds(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	grow(t, f, 8)
	ctx := testContext(t)
	first, err := backup.Run(ctx, f.opt)
	if err != nil {
		t.Fatal(err)
	}
	before := dirListing(t, f.opt.Dir)

	t.Run("cancelled", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		defer cancel()
		o := f.opt
		o.Progress = func(done, total int64) {
			if done > 2<<20 {
				cancel()
			}
		}
		if _, err := backup.Run(cctx, o); !errors.Is(err, context.Canceled) {
			t.Fatalf("a cancelled backup returned %v", err)
		}
		after := dirListing(t, f.opt.Dir)
		if !sameFiles(before, after) {
			t.Fatalf("a cancelled backup changed the backup directory:\nbefore %v\nafter  %v", names(before), names(after))
		}
	})

	t.Run("killed", func(t *testing.T) {
		// The backup runs in a child process that is killed (SIGKILL) once
		// it has dumped a few megabytes.
		cmd := exec.Command(os.Args[0], "-test.run=^TestBackupChildProcess$", "-test.count=1")
		cmd.Env = append(os.Environ(), "BACKUP_CHILD_DSN="+f.opt.DSN, "BACKUP_CHILD_DIR="+f.opt.Dir, "BACKUP_CHILD_DATA="+f.opt.DataDir)
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
				if done, _ := strconv.ParseInt(n, 10, 64); done > 2<<20 {
					cmd.Process.Signal(syscall.SIGKILL)
					killed = true
					break
				}
			}
		}
		err = cmd.Wait()
		if !killed {
			t.Fatalf("the child backup ended before it could be killed: %v\n%s", err, stderr.String())
		}
		after := dirListing(t, f.opt.Dir)
		for name, b := range before {
			if !bytes.Equal(after[name], b) {
				t.Errorf("%s changed or disappeared when a backup was killed", name)
			}
		}
		leftovers := 0
		for name := range after {
			if _, ok := before[name]; !ok {
				if !strings.HasPrefix(name, ".tmp-") {
					t.Errorf("a killed backup left %s, which is not a temporary file", name)
				}
				leftovers++
			}
		}
		t.Logf("the killed backup left %d temporary file(s)", leftovers)
		if v, err := backup.Verify(ctx, f.opt, first.Name); err != nil || !v.OK {
			t.Fatalf("the older backup no longer verifies: %v", err)
		}
	})

	next, err := backup.Run(ctx, f.opt)
	if err != nil {
		t.Fatalf("the run after a killed one: %v", err)
	}
	if v, err := backup.Verify(ctx, f.opt, next.Name); err != nil || !v.OK {
		t.Fatalf("the run after a killed one does not verify: %v", err)
	}
	for name := range dirListing(t, f.opt.Dir) {
		if strings.HasPrefix(name, ".tmp-") {
			t.Errorf("leftover %s still there after the next run", name)
		}
	}
	st, err := backup.ReadStatus(f.opt)
	if err != nil || st.Backups != 2 {
		t.Fatalf("want 2 backups, status %+v, %v", st, err)
	}
}

// TestBackupChildProcess is the backup that TestKilledBackup… kills.
func TestBackupChildProcess(t *testing.T) {
	dsn := os.Getenv("BACKUP_CHILD_DSN")
	if dsn == "" {
		t.Skip("run by TestKilledBackupLeavesOlderBackupsIntactAndNextRunSucceeds")
	}
	o := backup.Options{DSN: dsn, Dir: os.Getenv("BACKUP_CHILD_DIR"), DataDir: os.Getenv("BACKUP_CHILD_DATA"),
		Progress: func(done, total int64) {
			fmt.Printf("progress %d\n", done)
			time.Sleep(30 * time.Millisecond) // slow enough to be caught midway
		}}
	if _, err := backup.Run(context.Background(), o); err != nil {
		t.Fatal(err)
	}
}

func sameFiles(a, b map[string][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !bytes.Equal(b[k], v) {
			return false
		}
	}
	return true
}

func names(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestVerifyCatchesACorruptedArchive(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := testContext(t)
	m, err := backup.Run(ctx, f.opt)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(f.opt.Dir, m.Archive)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x40
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	v, err := backup.Verify(ctx, f.opt, m.Name)
	if !errors.Is(err, backup.ErrCorrupt) || v.OK {
		t.Fatalf("verify of a corrupted archive: %v, %+v", err, v)
	}
	t.Logf("flipped bit: %v", err)
	// Even with the manifest's hash made to match, the content is caught.
	if err := backup.SetArchiveHash(f.opt, m.Name); err != nil {
		t.Fatal(err)
	}
	v, err = backup.Verify(ctx, f.opt, m.Name)
	if !errors.Is(err, backup.ErrCorrupt) || v.OK {
		t.Fatalf("verify of a corrupted archive with a matching hash: %v, %+v", err, v)
	}
	t.Logf("flipped bit, hash updated: %v", err)
	st, _ := backup.ReadStatus(f.opt)
	if st.LastVerified != nil || st.LastVerification == nil || st.LastVerification.OK || !backup.Stale(st, time.Now()) {
		t.Errorf("status after a failed verification: %+v", st)
	}
	// A restore refuses it before touching anything.
	into := f.restoreTarget(t)
	if _, err := backup.Restore(ctx, into, m.Name, time.Time{}, false); !errors.Is(err, backup.ErrCorrupt) {
		t.Errorf("restore of a corrupted archive: %v", err)
	}
}

func TestVerifyCatchesAMismatchingTable(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := testContext(t)
	for range 3 {
		if _, err := f.st.Book(ctx, store.BookRequest{ServiceID: f.demo.Services["I"], Channel: store.ChannelKiosk}, testenv.Monday); err != nil {
			t.Fatal(err)
		}
	}
	m, err := backup.Run(ctx, f.opt)
	if err != nil {
		t.Fatal(err)
	}
	// The archive stays intact (its hashes match) but a ticket in the dump
	// no longer is what was read from the database.
	edited := false
	err = backup.RewriteArchive(f.opt, m.Name, func(name string, data []byte) []byte {
		if strings.Contains(name, "-tickets") && !edited {
			i := bytes.Index(data, []byte("'kiosk'"))
			if i >= 0 {
				edited = true
				return append(append(append([]byte{}, data[:i]...), "'phone'"...), data[i+7:]...)
			}
		}
		return data
	})
	if err != nil || !edited {
		t.Fatalf("rewrite: %v (edited %v)", err, edited)
	}
	v, err := backup.Verify(ctx, f.opt, m.Name)
	if !errors.Is(err, backup.ErrVerifyFailed) || v.OK {
		t.Fatalf("verify: %v, %+v", err, v)
	}
	bad := 0
	for _, c := range v.Tables {
		if !c.OK {
			bad++
			if c.Name != "tickets" || c.GotRows != c.WantRows {
				t.Errorf("unexpected mismatch %+v", c)
			}
		}
	}
	if bad != 1 || !strings.Contains(err.Error(), "tickets") {
		t.Errorf("want the tickets table reported, got %v", err)
	}
	t.Log(err)
}
