package maint

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/creack/pty"
	"golang.org/x/crypto/ssh"
)

// ptyRequest is the payload of "pty-req" (RFC 4254 6.2).
type ptyRequest struct {
	Term                   string
	Columns, Rows          uint32
	WidthPixel, HeightPixl uint32
	Modes                  string
}

// windowChange is the payload of "window-change" (RFC 4254 6.7).
type windowChange struct {
	Columns, Rows          uint32
	WidthPixel, HeightPixl uint32
}

// channel is one session channel: at most one shell or command.
type channel struct {
	ch  ssh.Channel
	pty *ptyRequest

	mu   sync.Mutex
	ptmx *os.File // the shell's terminal, once it runs
	rec  *recorder
}

func (c *channel) resize(cols, rows uint32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pty != nil {
		c.pty.Columns, c.pty.Rows = cols, rows
	}
	if c.ptmx != nil {
		pty.Setsize(c.ptmx, &pty.Winsize{Cols: uint16(cols), Rows: uint16(rows)})
	}
	if c.rec != nil {
		c.rec.Resize(int(cols), int(rows))
	}
}

// serveChannel answers a session channel's requests and runs its shell or
// command; it returns when that ends, the engineer closes the channel, or
// the tunnel closes.
func (a *Agent) serveChannel(t *tunnel, st *session, n int, ch ssh.Channel, reqs <-chan *ssh.Request) {
	defer ch.Close()
	ctx, cancel := context.WithCancelCause(t.ctx)
	defer cancel(nil)
	c := &channel{ch: ch}
	var done chan struct{} // closed when the shell or command has ended
	for {
		select {
		case <-done:
			return
		case req, ok := <-reqs:
			if !ok {
				// The engineer closed the channel, or the connection died.
				cancel(errors.New("channel closed"))
				if done != nil {
					<-done
				}
				return
			}
			switch req.Type {
			case "pty-req":
				var p ptyRequest
				if err := ssh.Unmarshal(req.Payload, &p); err != nil || done != nil {
					req.Reply(false, nil)
					continue
				}
				c.pty = &p
				req.Reply(true, nil)
			case "window-change":
				var w windowChange
				if ssh.Unmarshal(req.Payload, &w) == nil {
					c.resize(w.Columns, w.Rows)
				}
			case "shell", "exec":
				if done != nil {
					req.Reply(false, nil)
					continue
				}
				command := "shell"
				if req.Type == "exec" {
					var e struct{ Command string }
					if err := ssh.Unmarshal(req.Payload, &e); err != nil {
						req.Reply(false, nil)
						continue
					}
					command = strings.TrimSpace(e.Command)
				}
				req.Reply(true, nil)
				done = make(chan struct{})
				go func() {
					defer close(done)
					code := a.run(ctx, t, st, n, c, req.Type, command)
					exitStatus(ch, code)
				}()
			default:
				// env, x11, agent forwarding, subsystems (sftp): not offered.
				if req.WantReply {
					req.Reply(false, nil)
				}
			}
		}
	}
}

// run records and runs a shell or a maintenance command, returning its
// exit status.
func (a *Agent) run(ctx context.Context, t *tunnel, st *session, n int, c *channel, kind, command string) int {
	st.mu.Lock()
	s := st.s
	st.mu.Unlock()
	cols, rows, term := 80, 24, ""
	c.mu.Lock()
	if c.pty != nil {
		cols, rows, term = int(c.pty.Columns), int(c.pty.Rows), c.pty.Term
	}
	c.mu.Unlock()
	start := a.Clock.Now()
	name := fmt.Sprintf("%s-w%d-%s-%d.cast", start.UTC().Format("20060102T150405Z"), s.WindowID, s.ID, n)
	rec, err := newRecorder(filepath.Join(t.cfg.RecordDir, name), castHeader{
		Width: cols, Height: rows, Timestamp: start.Unix(), Command: command,
		Title: fmt.Sprintf("Avanti maintenance, window %d: %s", s.WindowID, s.Who()),
		Env:   map[string]string{"TERM": term, "SHELL": t.cfg.Shell},
	})
	if err != nil {
		// Nothing runs unrecorded.
		a.Log.Error("maint: recording", "err", err)
		fmt.Fprintf(c.ch.Stderr(), "the session cannot be recorded, so nothing runs: %v\r\n", err)
		return 1
	}
	defer rec.Close()
	c.mu.Lock()
	c.rec = rec
	c.mu.Unlock()
	st.add(command, rec.path)

	if kind == "shell" {
		return a.shell(ctx, t.cfg, c, s, rec)
	}
	return a.command(ctx, c, command, rec)
}

// shellEnv is the environment of an engineer's shell.
func shellEnv(cfg Config, s Session, term string) (env []string, home string) {
	home = "/"
	name := "root"
	if u, err := user.Current(); err == nil {
		name = u.Username
		if u.HomeDir != "" {
			home = u.HomeDir
		}
	}
	if term == "" {
		term = "dumb"
	}
	return []string{
		"HOME=" + home, "USER=" + name, "LOGNAME=" + name, "SHELL=" + cfg.Shell, "TERM=" + term,
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8",
		"AVANTI_MAINT_SESSION=" + s.ID, "AVANTI_MAINT_WINDOW=" + strconv.FormatInt(s.WindowID, 10),
		"AVANTI_MAINT_ENGINEER=" + s.Who(),
	}, home
}

// shell runs the configured shell: on a terminal if the engineer asked for
// one, on pipes otherwise. The window's end hangs it up.
func (a *Agent) shell(ctx context.Context, cfg Config, c *channel, s Session, rec *recorder) int {
	term := ""
	if c.pty != nil {
		term = c.pty.Term
	}
	cmd := exec.Command(cfg.Shell)
	cmd.Env, cmd.Dir = shellEnv(cfg, s, term)
	if c.pty == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		// The recording first: it never fails, so it holds all that was
		// shown or meant to be.
		cmd.Stdout, cmd.Stderr = io.MultiWriter(rec, c.ch), io.MultiWriter(rec, c.ch.Stderr())
		// Background jobs that keep stdout open must not keep the session.
		cmd.WaitDelay = 2 * time.Second
		stdin, err := cmd.StdinPipe()
		if err != nil {
			return 1
		}
		if err := cmd.Start(); err != nil {
			fmt.Fprintf(c.ch.Stderr(), "shell: %v\n", err)
			return 1
		}
		go func() { io.Copy(stdin, c.ch); stdin.Close() }()
		return wait(ctx, cmd, nil)
	}

	c.mu.Lock()
	ptmx, err := pty.StartWithSize(cmd, &pty.Winsize{Cols: uint16(c.pty.Columns), Rows: uint16(c.pty.Rows)})
	if err == nil {
		c.ptmx = ptmx
	}
	c.mu.Unlock()
	if err != nil {
		fmt.Fprintf(c.ch.Stderr(), "shell: %v\r\n", err)
		return 1
	}
	go io.Copy(ptmx, c.ch)
	out := make(chan struct{})
	go func() {
		io.Copy(io.MultiWriter(rec, c.ch), ptmx) // ends with EIO once the terminal has no process
		close(out)
	}()
	return wait(ctx, cmd, func() {
		// Give the last output a moment, then close the terminal.
		select {
		case <-out:
		case <-time.After(time.Second):
		}
		c.mu.Lock()
		ptmx.Close()
		c.ptmx = nil
		c.mu.Unlock()
		<-out
	})
}

// wait waits for cmd, hanging up its process group (SIGHUP, then SIGKILL)
// if ctx ends first; after runs once the process has exited.
func wait(ctx context.Context, cmd *exec.Cmd, after func()) int {
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	var err error
	select {
	case err = <-exited:
	case <-ctx.Done():
		pgid := cmd.Process.Pid // the shell leads its own process group
		syscall.Kill(-pgid, syscall.SIGHUP)
		select {
		case err = <-exited:
		case <-time.After(2 * time.Second):
			syscall.Kill(-pgid, syscall.SIGKILL)
			err = <-exited
		}
	}
	if after != nil {
		after()
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return ee.ExitCode()
	default:
		return 1
	}
}
