package atomicfile

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
)

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// onlyFile fails unless dir holds nothing but the file name.
func onlyFile(t *testing.T, dir, name string) {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(des) != 1 || des[0].Name() != name {
		var names []string
		for _, de := range des {
			names = append(names, de.Name())
		}
		t.Fatalf("directory holds %v, want only %s", names, name)
	}
}

func TestWriteGivesContentAndModeWhateverTheUmask(t *testing.T) {
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	for _, perm := range []os.FileMode{0o644, 0o600, 0o755} {
		want := fmt.Sprintf("mode %o\n", perm)
		if err := Write(path, []byte(want), perm); err != nil {
			t.Fatal(err)
		}
		if got := read(t, path); got != want {
			t.Fatalf("content %q, want %q", got, want)
		}
		fi, _ := os.Stat(path)
		if fi.Mode().Perm() != perm {
			t.Fatalf("mode %o, want %o", fi.Mode().Perm(), perm)
		}
	}
	onlyFile(t, dir, "state.json")
}

func TestWriteGivesTheOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("changing a file's owner needs root")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "system.json")
	if err := Write(path, []byte("{}"), 0o640, Owner(1234, 5678)); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(path)
	st := fi.Sys().(*syscall.Stat_t)
	if st.Uid != 1234 || st.Gid != 5678 || fi.Mode().Perm() != 0o640 {
		t.Fatalf("owner %d:%d mode %o, want 1234:5678 640", st.Uid, st.Gid, fi.Mode().Perm())
	}
}

func TestWriteReplacesALinkRatherThanFollowingIt(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "elsewhere")
	os.WriteFile(target, []byte("not yours"), 0o600)
	path := filepath.Join(dir, "settings")
	if err := os.Symlink(target, path); err != nil {
		t.Fatal(err)
	}
	if err := Write(path, []byte("new"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := read(t, target); got != "not yours" {
		t.Fatalf("the link's target was written: %q", got)
	}
	if fi, _ := os.Lstat(path); !fi.Mode().IsRegular() || read(t, path) != "new" {
		t.Fatalf("path is %v, want a regular file with the new content", fi.Mode())
	}
}

func TestAbortLeavesTheOldFileAndNoTemporaryFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "bundle")
	os.WriteFile(path, []byte("old"), 0o644)
	f, err := Create(path, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("half of the new"))
	f.Abort() // as a caller does when its source fails midway
	if got := read(t, path); got != "old" {
		t.Fatalf("content %q after Abort, want the old", got)
	}
	onlyFile(t, dir, "bundle")
	if err := f.Commit(); err == nil {
		t.Fatal("Commit after Abort succeeded")
	}
	f.Abort() // twice is harmless
}

func TestFailedCommitLeavesTheOldAndNoTemporaryFile(t *testing.T) {
	dir := t.TempDir()
	// A directory where the file should be: the rename fails at the end.
	path := filepath.Join(dir, "key")
	os.MkdirAll(filepath.Join(path, "inside"), 0o755)
	if err := Write(path, []byte("new"), 0o600); err == nil {
		t.Fatal("replacing a non-empty directory succeeded")
	}
	if _, err := os.Stat(filepath.Join(path, "inside")); err != nil {
		t.Fatalf("the old entry was touched: %v", err)
	}
	onlyFile(t, dir, "key")
}

func TestWriteIntoAMissingDirectoryFails(t *testing.T) {
	dir := t.TempDir()
	err := Write(filepath.Join(dir, "none", "file"), []byte("x"), 0o600)
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("err = %v, want not exist", err)
	}
}

func TestConcurrentWritersLeaveOneWholeContent(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "alerts.json")
	contents := make([][]byte, 8)
	for i := range contents {
		contents[i] = bytes.Repeat([]byte{'a' + byte(i)}, 64<<10)
	}
	var wg sync.WaitGroup
	for i := range contents {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 5 {
				if err := Write(path, contents[i], 0o600); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	got, _ := os.ReadFile(path)
	found := false
	for _, c := range contents {
		found = found || bytes.Equal(got, c)
	}
	if !found {
		t.Fatalf("the file holds %d bytes that are no writer's whole content", len(got))
	}
	onlyFile(t, dir, "alerts.json")
}
