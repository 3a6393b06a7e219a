// Package sshdtest runs a private OpenSSH server for tests, standing in for
// the vendor's support bastion: Debian's sshd, started as a child process
// (`sshd -D -e -f CONFIG -p PORT`) with its own host key, configuration and
// port on 127.0.0.1, and stopped and removed by Stop. Nothing of the
// system's sshd is used or touched (but for /run/sshd, the privilege
// separation directory sshd insists on, made if missing).
//
// The one account that may sign in is the one running the tests, by key
// only, and it may do nothing but remote port forwarding (GatewayPorts no:
// forwarded ports listen on the bastion's loopback), as a bastion's account
// for appliances would.
package sshdtest

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"
)

// SSHDPath is where Debian's openssh-server package puts the server.
const SSHDPath = "/usr/sbin/sshd"

// ErrNotInstalled says sshd is missing.
var ErrNotInstalled = errors.New("sshd is not installed: `make test` installs Debian's openssh-server package (scripts/debdeps), or apt-get install -y openssh-server")

// Server is a running private sshd.
type Server struct {
	Host    string // 127.0.0.1
	Port    int
	User    string     // the account that may sign in: the one running the tests
	HostKey string     // its host key, "ssh-ed25519 AAAA…", to pin
	Signer  ssh.Signer // the host key's private half (to check what a client saw)
	Dir     string     // configuration, keys, authorized_keys

	cmd    *exec.Cmd
	exited chan struct{}
	log    *limitedBuffer
	probes int // connections the readiness probe made
	stop   sync.Once
}

// Options of Start.
type Options struct {
	// AuthorizedKeys are the lines of the account's authorized_keys,
	// options included (e.g. restrict,port-forwarding,permitlisten="…").
	AuthorizedKeys []string
}

// Start starts an sshd on a free port of 127.0.0.1.
func Start(o Options) (*Server, error) {
	if _, err := os.Stat(SSHDPath); err != nil {
		return nil, ErrNotInstalled
	}
	// sshd refuses to start without its privilege separation directory,
	// which the system's service makes at boot.
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		return nil, fmt.Errorf("sshdtest: /run/sshd: %w", err)
	}
	var lastErr error
	for range 3 { // a free port may be taken between finding and binding it
		s, err := start(o)
		if err == nil {
			return s, nil
		}
		lastErr = err
		if !strings.Contains(err.Error(), "Address already in use") && !strings.Contains(err.Error(), "Cannot bind") {
			break
		}
	}
	return nil, lastErr
}

func start(o Options) (s *Server, err error) {
	u, err := user.Current()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "sshdtest-")
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
		}
	}()
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	block, err := ssh.MarshalPrivateKey(priv, "sshdtest host key")
	if err != nil {
		return nil, err
	}
	hostKeyPath := filepath.Join(dir, "ssh_host_ed25519_key")
	if err := os.WriteFile(hostKeyPath, pem.EncodeToMemory(block), 0o600); err != nil {
		return nil, err
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		return nil, err
	}
	sshPub, _ := ssh.NewPublicKey(pub)
	s = &Server{
		Host:    "127.0.0.1",
		Port:    port,
		User:    u.Username,
		HostKey: strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sshPub))),
		Signer:  signer,
		Dir:     dir,
		exited:  make(chan struct{}),
		log:     &limitedBuffer{max: 256 << 10},
	}
	if err := s.SetAuthorizedKeys(o.AuthorizedKeys); err != nil {
		return nil, err
	}
	conf := filepath.Join(dir, "sshd_config")
	if err := os.WriteFile(conf, []byte(s.config(hostKeyPath)), 0o600); err != nil {
		return nil, err
	}
	s.cmd = exec.Command(SSHDPath, "-D", "-e", "-f", conf, "-p", fmt.Sprint(port))
	s.cmd.Dir = dir
	s.cmd.Stdout = s.log
	s.cmd.Stderr = s.log
	// If the test binary dies without Stop, sshd dies with it.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start sshd: %w", err)
	}
	go func() { s.cmd.Wait(); close(s.exited) }()
	if err := s.waitReady(10 * time.Second); err != nil {
		s.Stop()
		return nil, err
	}
	// Wait for the probe's connection to be logged, so that Connections
	// leaves it out.
	for deadline := time.Now().Add(2 * time.Second); s.connections() == 0 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	s.probes = s.connections()
	return s, nil
}

func (s *Server) config(hostKeyPath string) string {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	p("ListenAddress %s", s.Host)
	p("HostKey %s", hostKeyPath)
	p("PidFile %s", filepath.Join(s.Dir, "sshd.pid"))
	p("AuthorizedKeysFile %s", filepath.Join(s.Dir, "authorized_keys"))
	p("StrictModes no") // the temporary directory's modes are not sshd's business
	p("UsePAM no")
	p("AllowUsers %s", s.User)
	p("PubkeyAuthentication yes")
	p("PasswordAuthentication no")
	p("KbdInteractiveAuthentication no")
	p("PermitRootLogin prohibit-password")
	// A bastion's account for appliances: remote forwarding, on loopback.
	p("AllowTcpForwarding remote")
	p("GatewayPorts no")
	p("AllowAgentForwarding no")
	p("AllowStreamLocalForwarding no")
	p("X11Forwarding no")
	p("PermitTunnel no")
	p("PermitTTY no")
	p("PermitUserRC no")
	p("LogLevel VERBOSE")
	return b.String()
}

// SetAuthorizedKeys replaces the account's authorized_keys (sshd reads it
// at each sign-in).
func (s *Server) SetAuthorizedKeys(lines []string) error {
	content := strings.Join(lines, "\n")
	if content != "" {
		content += "\n"
	}
	return os.WriteFile(filepath.Join(s.Dir, "authorized_keys"), []byte(content), 0o600)
}

// Addr is host:port.
func (s *Server) Addr() string { return net.JoinHostPort(s.Host, fmt.Sprint(s.Port)) }

// waitReady waits until sshd greets a TCP connection.
func (s *Server) waitReady(limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		select {
		case <-s.exited:
			return fmt.Errorf("sshd exited at start: %s", strings.TrimSpace(s.log.String()))
		default:
		}
		if s.greets() {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("sshd not ready after %s: %s", limit, strings.TrimSpace(s.log.String()))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *Server) greets() bool {
	c, err := net.DialTimeout("tcp", s.Addr(), time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && strings.HasPrefix(line, "SSH-2.0-")
}

// Log is what sshd printed (LogLevel VERBOSE).
func (s *Server) Log() string { return s.log.String() }

// Connections counts the TCP connections sshd accepted, the readiness
// probe's excluded.
func (s *Server) Connections() int { return s.connections() - s.probes }

func (s *Server) connections() int {
	return strings.Count(s.log.String(), "Connection from ")
}

// Stop ends sshd (its per-connection processes end with their clients)
// and removes its directory.
func (s *Server) Stop() {
	s.stop.Do(func() {
		if s.cmd != nil && s.cmd.Process != nil {
			s.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-s.exited:
			case <-time.After(5 * time.Second):
				s.cmd.Process.Kill()
				<-s.exited
			}
		}
		os.RemoveAll(s.Dir)
	})
}

// FreePort finds a TCP port free on 127.0.0.1 now.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// limitedBuffer keeps the first max bytes written to it.
type limitedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	max int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := b.max - b.buf.Len(); room > 0 {
		b.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (b *limitedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
