// Package daemontest holds what the harnesses that run a real daemon for
// tests (sshdtest, slapdtest, smtptest) share: a free port, a capped log of
// the daemon's output, and a child process started, waited for and
// stopped. What a daemon needs beyond that (its configuration, its keys,
// how it says it is ready) stays in its own harness.
package daemontest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// FreePort finds a TCP port free on 127.0.0.1 now.
func FreePort() (int, error) {
	ports, err := FreePorts(1)
	if err != nil {
		return 0, err
	}
	return ports[0], nil
}

// FreePorts finds n distinct TCP ports free on 127.0.0.1 now.
func FreePorts(n int) ([]int, error) {
	var ports []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// LogBuffer keeps the first max bytes written to it; safe for the
// goroutines copying a daemon's output and a test reading it.
type LogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	max int
}

// NewLogBuffer keeps up to max bytes.
func NewLogBuffer(max int) *LogBuffer { return &LogBuffer{max: max} }

func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := b.max - b.buf.Len(); room > 0 {
		b.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (b *LogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// ErrExited says the daemon ended while the test waited for it.
var ErrExited = errors.New("exited at start")

// Process is a running daemon.
type Process struct {
	cmd    *exec.Cmd
	exited chan struct{}
	stop   sync.Once
}

// Start starts cmd in a process group of its own, its stdout and stderr
// (those not set already) going to log.
func Start(cmd *exec.Cmd, log io.Writer) (*Process, error) {
	if cmd.Stdout == nil {
		cmd.Stdout = log
	}
	if cmd.Stderr == nil {
		cmd.Stderr = log
	}
	// If the test binary dies without Stop, the daemon dies with it; its
	// children (sshd's per-connection ones) are in its group, which Stop
	// ends.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	// Children that still hold its output must not keep Wait waiting.
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &Process{cmd: cmd, exited: make(chan struct{})}
	go func() { cmd.Wait(); close(p.exited) }()
	return p, nil
}

// Exited is closed when the process has ended.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// WaitReady polls ready until it returns nil, the process exits
// (ErrExited) or limit passes (ready's last error).
func (p *Process) WaitReady(limit time.Duration, ready func() error) error {
	deadline := time.Now().Add(limit)
	for {
		select {
		case <-p.exited:
			return ErrExited
		default:
		}
		err := ready()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after %s: %w", limit, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop ends the process group: SIGTERM, SIGKILL after 5 seconds, then
// SIGKILL for children still running. It may be called again.
func (p *Process) Stop() {
	p.stop.Do(func() {
		pgid := p.cmd.Process.Pid
		syscall.Kill(-pgid, syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(5 * time.Second):
			syscall.Kill(-pgid, syscall.SIGKILL)
			<-p.exited
		}
		syscall.Kill(-pgid, syscall.SIGKILL)
	})
}
