//go:build linux

package live_test

import (
	"syscall"
	"testing"
)

// needFiles makes sure the process may open n files: every test WebSocket
// costs two (client and server end).
func needFiles(t testing.TB, n uint64) {
	t.Helper()
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatalf("getrlimit: %v", err)
	}
	if lim.Cur >= n {
		return
	}
	if lim.Max < n {
		t.Fatalf("this test needs %d open files but the hard limit is %d: raise it (ulimit -Hn, LimitNOFILE=)", n, lim.Max)
	}
	lim.Cur = n
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatalf("raise open files to %d: %v", n, err)
	}
}
