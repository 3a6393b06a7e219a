package maint_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"avanti/appliance/daemontest"
	"avanti/appliance/maint"
	"avanti/appliance/sshdtest"
)

// windows is a WindowSource the test opens and closes.
type windows struct {
	mu sync.Mutex
	w  *maint.Window
}

func (f *windows) OpenWindow(ctx context.Context, now time.Time) (*maint.Window, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.w == nil {
		return nil, nil
	}
	w := *f.w
	return &w, nil
}

func (f *windows) set(w *maint.Window) {
	f.mu.Lock()
	f.w = w
	f.mu.Unlock()
}

// auditLog is an AuditSink that keeps what it hears.
type auditLog struct {
	mu     sync.Mutex
	events []maint.Event
}

func (l *auditLog) Record(ctx context.Context, e maint.Event) error {
	l.mu.Lock()
	l.events = append(l.events, e)
	l.mu.Unlock()
	return nil
}

func (l *auditLog) find(action string) []maint.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []maint.Event
	for _, e := range l.events {
		if e.Action == action {
			out = append(out, e)
		}
	}
	return out
}

// waitFor waits until the log holds n events of the action.
func (l *auditLog) waitFor(t *testing.T, action string, n int, limit time.Duration) []maint.Event {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		if ev := l.find(action); len(ev) >= n {
			return ev
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %d %s event(s) within %s; have %+v", n, action, limit, l.find(action))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// commands answers the maintenance commands with canned text.
type commands struct {
	mu      sync.Mutex
	calls   []string
	bundles [][]byte
}

func (c *commands) called(s string) {
	c.mu.Lock()
	c.calls = append(c.calls, s)
	c.mu.Unlock()
}

func (c *commands) Status(ctx context.Context, out io.Writer) error {
	c.called("status")
	_, err := io.WriteString(out, "avanti 1.4.2: healthy, last verified backup 2h ago\n")
	return err
}
func (c *commands) Logs(ctx context.Context, out io.Writer, lines int) error {
	c.called(fmt.Sprint("logs ", lines))
	fmt.Fprintf(out, "%d lines of logs\n", lines)
	return nil
}
func (c *commands) BackupNow(ctx context.Context, out io.Writer) error {
	c.called("backup-now")
	return errors.New("disk full")
}
func (c *commands) VerifyBackup(ctx context.Context, out io.Writer) error {
	c.called("verify-backup")
	return nil
}
func (c *commands) ApplyUpdate(ctx context.Context, out io.Writer, path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.bundles = append(c.bundles, b)
	c.mu.Unlock()
	c.called("apply-update")
	fmt.Fprintf(out, "bundle of %d bytes applied\n", len(b))
	return nil
}
func (c *commands) Restart(ctx context.Context, out io.Writer) error {
	c.called("restart")
	return nil
}

// bench is an agent, the sshd it takes for the bastion, a window source,
// an audit log and an engineer's key.
type bench struct {
	sshd       *sshdtest.Server
	agent      *maint.Agent
	windows    *windows
	audit      *auditLog
	commands   *commands
	remotePort int
	applKey    ssh.PublicKey // the appliance's key: the maintenance server's host key
	engineer   ssh.Signer
	recordDir  string
}

func newEngineerKey(t *testing.T) (ssh.Signer, string) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := ssh.NewPublicKey(pub)
	return s, strings.TrimSpace(string(ssh.MarshalAuthorizedKey(p)))
}

// newBench starts sshd and the agent (no window open). edit may change the
// agent's configuration before it starts.
func newBench(t *testing.T, edit func(*maint.Config)) *bench {
	t.Helper()
	return newBenchAgent(t, edit, nil)
}

// newBenchAgent is newBench where agent may also change the agent (its
// window source, its clock) before it starts.
func newBenchAgent(t *testing.T, edit func(*maint.Config), agent func(*maint.Agent)) *bench {
	t.Helper()
	keyDir := t.TempDir()
	applLine, err := maint.PublicKey(keyDir)
	if err != nil {
		t.Fatal(err)
	}
	applKey, _, _, _, err := ssh.ParseAuthorizedKey([]byte(applLine))
	if err != nil {
		t.Fatal(err)
	}
	remotePort, err := daemontest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	// The bastion lets the appliance's key forward its own port on
	// loopback and nothing else, as the vendor's bastion should.
	srv := sshdtest.Start(t, sshdtest.Options{Role: sshdtest.Bastion, AuthorizedKeys: []string{
		fmt.Sprintf(`restrict,port-forwarding,permitlisten="127.0.0.1:%d",command="/usr/sbin/nologin" %s`, remotePort, applLine),
	}})
	engineer, engineerLine := newEngineerKey(t)
	b := &bench{
		sshd:       srv,
		windows:    &windows{},
		audit:      &auditLog{},
		commands:   &commands{},
		remotePort: remotePort,
		applKey:    applKey,
		engineer:   engineer,
		recordDir:  t.TempDir(),
	}
	cfg := maint.Config{
		BastionHost:    srv.Host,
		BastionPort:    srv.Port,
		BastionUser:    srv.User,
		BastionHostKey: srv.HostKey,
		RemotePort:     remotePort,
		KeyDir:         keyDir,
		AuthorizedKeys: []string{engineerLine + " mario.rossi@vendor.example"},
		RecordDir:      b.recordDir,
		Poll:           200 * time.Millisecond,
	}
	if edit != nil {
		edit(&cfg)
	}
	b.agent = &maint.Agent{
		Config:   cfg,
		Windows:  b.windows,
		Commands: b.commands,
		Audit:    b.audit,
		Log:      slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if testing.Verbose() {
		b.agent.Log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	if agent != nil {
		agent(b.agent)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- b.agent.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-ran:
			if err != nil {
				t.Errorf("agent: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("agent did not stop")
		}
	})
	return b
}

// open opens a window until d from now and wakes the agent.
func (b *bench) open(id int64, d time.Duration) *maint.Window {
	now := time.Now()
	w := &maint.Window{ID: id, OpenedBy: "admin@comune.crema.it", Reason: "slow call monitor", From: now.Add(-time.Minute), Until: now.Add(d)}
	b.windows.set(w)
	b.agent.Wake()
	return w
}

func (b *bench) waitConnected(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !b.agent.Status().Connected {
		if time.Now().After(deadline) {
			t.Fatalf("the agent did not connect to the bastion: %+v", b.agent.Status())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// engineerAddr is where an engineer on the bastion connects: the port the
// bastion forwards, on its loopback (the bastion is this machine).
func (b *bench) engineerAddr() string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(b.remotePort))
}

func (b *bench) dial(signer ssh.Signer) (*ssh.Client, error) {
	return ssh.Dial("tcp", b.engineerAddr(), &ssh.ClientConfig{
		User:            "support",
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: ssh.FixedHostKey(b.applKey),
		Timeout:         5 * time.Second,
	})
}

func (b *bench) engineerClient(t *testing.T) *ssh.Client {
	t.Helper()
	c, err := b.dial(b.engineer)
	if err != nil {
		t.Fatalf("engineer through the tunnel: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// run runs a maintenance command, returning stdout, stderr and exit status.
func run(t *testing.T, c *ssh.Client, command string, stdin []byte) (string, string, int) {
	t.Helper()
	s, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var out, errOut bytes.Buffer
	s.Stdout, s.Stderr = &out, &errOut
	if stdin != nil {
		s.Stdin = bytes.NewReader(stdin)
	}
	err = s.Run(command)
	code := 0
	var ee *ssh.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitStatus()
	} else if err != nil {
		t.Fatalf("%s: %v", command, err)
	}
	return out.String(), errOut.String(), code
}

// syncBuffer is a bytes.Buffer safe to read while the session writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func (s *syncBuffer) waitFor(t *testing.T, want string, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !strings.Contains(s.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q within %s in output %q", want, limit, s.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// terminal opens a shell on a terminal; the caller writes to stdin.
func terminal(t *testing.T, c *ssh.Client) (*ssh.Session, io.WriteCloser, *syncBuffer) {
	t.Helper()
	s, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	out := &syncBuffer{}
	s.Stdout, s.Stderr = out, out
	stdin, err := s.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.RequestPty("xterm", 30, 100, ssh.TerminalModes{ssh.ECHO: 1}); err != nil {
		t.Fatal(err)
	}
	if err := s.Shell(); err != nil {
		t.Fatal(err)
	}
	return s, stdin, out
}

func TestNoBastionConnectionOutsideAWindow(t *testing.T) {
	b := newBench(t, nil)
	now := time.Now()
	for _, w := range []*maint.Window{
		nil, // none at all
		{ID: 1, From: now.Add(time.Hour), Until: now.Add(2 * time.Hour)},     // not yet
		{ID: 2, From: now.Add(-2 * time.Hour), Until: now.Add(-time.Minute)}, // over
	} {
		b.windows.set(w)
		b.agent.Wake()
		time.Sleep(500 * time.Millisecond) // a wake-up and two polls
	}
	if n := b.sshd.Connections(); n != 0 {
		t.Fatalf("the agent connected to the bastion %d times without an open window", n)
	}
	if st := b.agent.Status(); st.Connected || st.Window != nil {
		t.Fatalf("status without a window: %+v", st)
	}
	if c, err := net.DialTimeout("tcp", b.engineerAddr(), time.Second); err == nil {
		c.Close()
		t.Fatal("the bastion's port for the appliance is open without a window")
	}
	if ev := b.audit.find(maint.ActionTunnelOpen); len(ev) != 0 {
		t.Fatalf("tunnel opened: %+v", ev)
	}
}

func TestEngineerRunsStatusAndAShellThroughTheReverseTunnel(t *testing.T) {
	b := newBench(t, nil)
	w := b.open(7, time.Hour)
	b.waitConnected(t)
	if ev := b.audit.waitFor(t, maint.ActionTunnelOpen, 1, time.Second); ev[0].Window.ID != w.ID || !strings.Contains(ev[0].Detail, "SHA256:") {
		t.Fatalf("tunnel_open event: %+v", ev[0])
	}
	c := b.engineerClient(t)

	out, _, code := run(t, c, "status", nil)
	if code != 0 || !strings.Contains(out, "avanti 1.4.2: healthy") {
		t.Fatalf("status: exit %d, %q", code, out)
	}
	out, _, code = run(t, c, "logs 50", nil)
	if code != 0 || out != "50 lines of logs\n" {
		t.Fatalf("logs 50: exit %d, %q", code, out)
	}
	_, errOut, code := run(t, c, "backup-now", nil)
	if code != 1 || !strings.Contains(errOut, "backup-now: disk full") {
		t.Fatalf("a failing command: exit %d, stderr %q", code, errOut)
	}
	out, _, code = run(t, c, "apply-update -", []byte("bundle bytes"))
	if code != 0 || out != "bundle of 12 bytes applied\n" {
		t.Fatalf("apply-update -: exit %d, %q", code, out)
	}
	// Nothing but the maintenance commands runs without a shell.
	_, errOut, code = run(t, c, "cat /etc/shadow", nil)
	if code != 127 || !strings.Contains(errOut, "unknown command") {
		t.Fatalf("an arbitrary command: exit %d, stderr %q", code, errOut)
	}
	// No port forwarding through the appliance.
	if conn, err := c.Dial("tcp", "127.0.0.1:22"); err == nil {
		conn.Close()
		t.Fatal("the maintenance server forwarded a port")
	}

	s, stdin, tout := terminal(t, c)
	fmt.Fprintf(stdin, "echo maint-$((6*7)) $AVANTI_MAINT_WINDOW\n")
	tout.waitFor(t, "maint-42 7", 10*time.Second)
	fmt.Fprintf(stdin, "exit 3\n")
	var ee *ssh.ExitError
	if err := s.Wait(); !errors.As(err, &ee) || ee.ExitStatus() != 3 {
		t.Fatalf("shell exit: %v", err)
	}
	c.Close()

	ended := b.audit.waitFor(t, maint.ActionSessionEnd, 1, 5*time.Second)[0]
	started := b.audit.find(maint.ActionSessionStart)
	se := ended.Session
	if len(started) != 1 || started[0].Session.ID != se.ID {
		t.Fatalf("session_start events: %+v", started)
	}
	if se.KeyComment != "mario.rossi@vendor.example" || se.Fingerprint != ssh.FingerprintSHA256(b.engineer.PublicKey()) ||
		se.User != "support" || !strings.Contains(se.From, "bastion "+b.sshd.Addr()) || se.WindowID != 7 {
		t.Fatalf("who and from where: %+v", se)
	}
	if se.Duration <= 0 || !se.End.After(se.Start) || se.EndReason != "engineer disconnected" {
		t.Fatalf("duration and end: %+v", se)
	}
	if ended.Actor() != "mario.rossi@vendor.example ("+se.Fingerprint+")" {
		t.Fatalf("actor %q", ended.Actor())
	}
	wantCmds := "status,logs 50,backup-now,apply-update -,cat /etc/shadow,shell"
	if got := strings.Join(se.Commands, ","); got != wantCmds {
		t.Fatalf("commands %q, want %q", got, wantCmds)
	}
	if len(se.Recordings) != 6 {
		t.Fatalf("recordings: %v", se.Recordings)
	}

	// The shell's recording holds what the terminal showed.
	header, output := readCast(t, se.Recordings[5])
	if header["version"] != float64(2) || header["width"] != float64(100) || header["height"] != float64(30) {
		t.Fatalf("cast header: %v", header)
	}
	if !strings.Contains(output, "maint-42 7") {
		t.Fatalf("shell recording lacks the output: %q", output)
	}
	if _, output := readCast(t, se.Recordings[0]); !strings.Contains(output, "avanti 1.4.2: healthy") {
		t.Fatalf("status recording: %q", output)
	}
	if _, output := readCast(t, se.Recordings[3]); strings.Contains(output, "bundle bytes") {
		t.Fatal("the bundle sent on stdin went into the recording")
	}
	fi, err := os.Stat(se.Recordings[5])
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("recording file: %v %v", fi, err)
	}
}

// readCast reads an asciicast v2 file: its header and its output joined.
func readCast(t *testing.T, path string) (map[string]any, string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	var header map[string]any
	var out strings.Builder
	last := -1.0
	for n := 0; sc.Scan(); n++ {
		if n == 0 {
			if err := json.Unmarshal(sc.Bytes(), &header); err != nil {
				t.Fatalf("%s header: %v", path, err)
			}
			continue
		}
		var ev []any
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil || len(ev) != 3 {
			t.Fatalf("%s line %d: %q %v", path, n+1, sc.Text(), err)
		}
		at := ev[0].(float64)
		if at < last {
			t.Fatalf("%s: time goes back at line %d", path, n+1)
		}
		last = at
		if ev[1] == "o" {
			out.WriteString(ev[2].(string))
		}
	}
	return header, out.String()
}

func TestWindowEndClosesTheSessionAndTheTunnel(t *testing.T) {
	b := newBench(t, nil)
	w := b.open(8, time.Hour)
	b.waitConnected(t)
	c := b.engineerClient(t)
	s, stdin, out := terminal(t, c)
	fmt.Fprintf(stdin, "echo P$((1+1))ID=$$\n") // the echo of the line itself does not match
	out.waitFor(t, "P2ID=", 10*time.Second)
	var pid int
	if i := strings.LastIndex(out.String(), "P2ID="); i >= 0 {
		fmt.Sscanf(out.String()[i:], "P2ID=%d", &pid)
	}
	if pid == 0 {
		t.Fatalf("no pid in %q", out.String())
	}

	// The window is cut short; the agent hears of it at its next poll and
	// ends it on time by itself, without the source saying it is over.
	cut := *w
	cut.Until = time.Now().Add(1500 * time.Millisecond)
	b.windows.set(&cut)
	ended := make(chan error, 1)
	go func() { ended <- s.Wait() }()
	select {
	case <-ended:
		if late := time.Since(cut.Until); late > 3*time.Second {
			t.Fatalf("the session ended %s after the window", late)
		}
	case <-time.After(time.Until(cut.Until) + 5*time.Second):
		t.Fatal("the session outlived its window")
	}
	se := b.audit.waitFor(t, maint.ActionSessionEnd, 1, 2*time.Second)[0].Session
	if se.EndReason != "window closed" || se.Duration < time.Second {
		t.Fatalf("session end: %+v", se)
	}
	b.audit.waitFor(t, maint.ActionTunnelClose, 1, 2*time.Second)
	if err := syscall.Kill(pid, 0); err == nil {
		t.Fatalf("the shell (pid %d) still runs after the window", pid)
	}
	// The bastion's port is gone and the agent does not come back.
	conns := b.sshd.Connections()
	time.Sleep(600 * time.Millisecond)
	if _, err := b.dial(b.engineer); err == nil {
		t.Fatal("a new session after the window's end")
	}
	if n := b.sshd.Connections(); n != conns || b.agent.Status().Connected {
		t.Fatalf("the agent dialled the bastion again after the window: %d → %d connections", conns, n)
	}
}

func TestAdminClosesTheWindowAtOnce(t *testing.T) {
	b := newBench(t, nil)
	b.open(9, time.Hour)
	b.waitConnected(t)
	c := b.engineerClient(t)
	s, stdin, out := terminal(t, c)
	fmt.Fprintf(stdin, "echo re$((0))ady\n")
	out.waitFor(t, "re0ady", 10*time.Second)

	closedAt := time.Now()
	b.windows.set(nil)
	b.agent.Wake()
	ended := make(chan error, 1)
	go func() { ended <- s.Wait() }()
	select {
	case <-ended:
	case <-time.After(5 * time.Second):
		t.Fatal("the session survived the admin closing the window")
	}
	if d := time.Since(closedAt); d > 3*time.Second {
		t.Fatalf("closing took %s", d)
	}
	if _, err := b.dial(b.engineer); err == nil {
		t.Fatal("a new session after the window was closed")
	}
	se := b.audit.waitFor(t, maint.ActionSessionEnd, 1, 2*time.Second)[0].Session
	if se.EndReason != "window closed" {
		t.Fatalf("end reason %q", se.EndReason)
	}
}

func TestWrongBastionHostKeyIsRefused(t *testing.T) {
	_, impostor := newEngineerKey(t) // any other key
	b := newBench(t, func(c *maint.Config) { c.BastionHostKey = impostor })
	b.open(10, time.Hour)
	deadline := time.Now().Add(5 * time.Second)
	for b.agent.Status().LastError == "" && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	st := b.agent.Status()
	if st.Connected || !strings.Contains(st.LastError, "host key mismatch") {
		t.Fatalf("status with the wrong host key: %+v", st)
	}
	ev := b.audit.waitFor(t, maint.ActionTunnelFailed, 1, time.Second)
	if !strings.Contains(ev[0].Detail, "host key mismatch") {
		t.Fatalf("tunnel_failed: %+v", ev[0])
	}
	if strings.Contains(b.sshd.Log(), "Accepted publickey") {
		t.Fatal("the agent signed in to a bastion whose host key it does not know")
	}
	if c, err := net.DialTimeout("tcp", b.engineerAddr(), time.Second); err == nil {
		c.Close()
		t.Fatal("the port is forwarded despite the wrong host key")
	}
}

func TestUnknownEngineerKeyIsRefused(t *testing.T) {
	b := newBench(t, nil)
	b.open(11, time.Hour)
	b.waitConnected(t)
	stranger, _ := newEngineerKey(t)
	if c, err := b.dial(stranger); err == nil {
		c.Close()
		t.Fatal("a key not in authorized_keys signed in")
	}
	ev := b.audit.waitFor(t, maint.ActionSessionRefused, 1, 2*time.Second)
	if ev[0].Window.ID != 11 {
		t.Fatalf("session_refused: %+v", ev[0])
	}
	if n := len(b.audit.find(maint.ActionSessionStart)); n != 0 {
		t.Fatalf("%d sessions started", n)
	}
}

func TestAuthorizedKeysFileIsReadAtEachSignIn(t *testing.T) {
	file := t.TempDir() + "/authorized_keys"
	b := newBench(t, func(c *maint.Config) {
		c.AuthorizedKeys = nil
		c.AuthorizedKeysFile = file
	})
	b.open(12, time.Hour)
	b.waitConnected(t)
	if _, err := b.dial(b.engineer); err == nil {
		t.Fatal("signed in without any authorized key")
	}
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(b.engineer.PublicKey()))) + " anna.bianchi@vendor.example\n"
	if err := os.WriteFile(file, []byte("# vendor engineers\n"+line), 0o600); err != nil {
		t.Fatal(err)
	}
	c := b.engineerClient(t)
	if out, _, code := run(t, c, "status", nil); code != 0 || out == "" {
		t.Fatalf("status: %d %q", code, out)
	}
	c.Close()
	if se := b.audit.waitFor(t, maint.ActionSessionEnd, 1, 5*time.Second)[0].Session; se.KeyComment != "anna.bianchi@vendor.example" {
		t.Fatalf("who: %+v", se)
	}
}
