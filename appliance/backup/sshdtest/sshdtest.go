// Package sshdtest runs a private OpenSSH server for tests: Debian's sshd,
// started as a child process on a free port of 127.0.0.1 with its own
// configuration, host key and one authorized client key, offering only SFTP
// (internal-sftp). Nothing of the system's sshd is used or touched.
package sshdtest

import (
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
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// SshdPath is where Debian's openssh-server package puts the server.
const SshdPath = "/usr/sbin/sshd"

// ErrNotInstalled says sshd is missing.
var ErrNotInstalled = errors.New("sshd is not installed: `make test` installs Debian's openssh-server package (scripts/debdeps), or apt-get install -y openssh-server")

// Server is a running private sshd.
type Server struct {
	Addr          string // 127.0.0.1:port
	User          string // the account the client key logs in as (whoever runs the tests)
	HostKey       string // the server's public host key, authorized_keys format
	Fingerprint   string // its SHA256:… fingerprint
	ClientKeyFile string // the authorized client's private key (OpenSSH PEM)
	Root          string // a directory the tests may use as the SFTP target
	Dir           string

	cmd    *exec.Cmd
	exited chan struct{}
	log    *buffer
	stop   sync.Once
}

// Start starts an sshd for the test and stops it when the test ends. A
// missing sshd fails the test with how to install it.
func Start(t testing.TB) *Server {
	t.Helper()
	var s *Server
	var err error
	for range 3 { // a free port may be taken between finding and binding it
		if s, err = start(); err == nil || errors.Is(err, ErrNotInstalled) {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

func start() (s *Server, err error) {
	if _, err := os.Stat(SshdPath); err != nil {
		return nil, ErrNotInstalled
	}
	me, err := user.Current()
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
	s = &Server{User: me.Username, Dir: dir, Root: filepath.Join(dir, "sftp"), exited: make(chan struct{}), log: &buffer{}}
	if err := os.Mkdir(s.Root, 0o700); err != nil {
		return nil, err
	}
	hostPub, err := writeKey(filepath.Join(dir, "host_ed25519"))
	if err != nil {
		return nil, err
	}
	s.HostKey = strings.TrimSpace(string(ssh.MarshalAuthorizedKey(hostPub)))
	s.Fingerprint = ssh.FingerprintSHA256(hostPub)
	s.ClientKeyFile = filepath.Join(dir, "client_ed25519")
	clientPub, err := writeKey(s.ClientKeyFile)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "authorized_keys"), ssh.MarshalAuthorizedKey(clientPub), 0o600); err != nil {
		return nil, err
	}
	// sshd wants its privilege separation directory even when it runs
	// unprivileged; as root, create it like the system's service would.
	if os.Geteuid() == 0 {
		os.MkdirAll("/run/sshd", 0o755)
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	s.Addr = fmt.Sprintf("127.0.0.1:%d", port)
	conf := filepath.Join(dir, "sshd_config")
	cfg := strings.Join([]string{
		"ListenAddress 127.0.0.1",
		"HostKey " + filepath.Join(dir, "host_ed25519"),
		"PidFile " + filepath.Join(dir, "sshd.pid"),
		"AuthorizedKeysFile " + filepath.Join(dir, "authorized_keys"),
		"StrictModes no", // the key files live under /tmp
		"PubkeyAuthentication yes",
		"PasswordAuthentication no",
		"KbdInteractiveAuthentication no",
		"PermitRootLogin prohibit-password",
		"UsePAM no",
		"AllowTcpForwarding no",
		"X11Forwarding no",
		"PermitTTY no",
		"Subsystem sftp internal-sftp",
		"ForceCommand internal-sftp",
		"LogLevel ERROR",
		"",
	}, "\n")
	if err := os.WriteFile(conf, []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	// -D: stay in the foreground; -e: log to stderr.
	s.cmd = exec.Command(SshdPath, "-D", "-e", "-f", conf, "-p", fmt.Sprint(port))
	s.cmd.Dir = dir
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	// If the test binary dies without Stop, sshd dies with it; its
	// per-connection children are in its process group, which Stop ends.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	// Children that still hold its stderr must not keep Wait waiting.
	s.cmd.WaitDelay = 2 * time.Second
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start sshd: %w", err)
	}
	go func() { s.cmd.Wait(); close(s.exited) }()
	if err := s.waitReady(10 * time.Second); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

func (s *Server) waitReady(d time.Duration) error {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		select {
		case <-s.exited:
			return fmt.Errorf("sshd exited: %s", s.log.String())
		default:
		}
		if c, err := net.DialTimeout("tcp", s.Addr, time.Second); err == nil {
			c.Close()
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("sshd did not listen on %s: %s", s.Addr, s.log.String())
}

// Stop ends the server and removes its files.
func (s *Server) Stop() {
	s.stop.Do(func() {
		if s.cmd != nil && s.cmd.Process != nil {
			pgid := s.cmd.Process.Pid
			syscall.Kill(-pgid, syscall.SIGTERM)
			select {
			case <-s.exited:
			case <-time.After(5 * time.Second):
				syscall.Kill(-pgid, syscall.SIGKILL)
				<-s.exited
			}
			syscall.Kill(-pgid, syscall.SIGKILL) // sessions still open
		}
		os.RemoveAll(s.Dir)
	})
}

// Log is what sshd printed.
func (s *Server) Log() string { return s.log.String() }

// writeKey makes an ed25519 key pair, writes the private key (OpenSSH
// format) to path and returns the public key.
func writeKey(path string) (ssh.PublicKey, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		return nil, err
	}
	return ssh.NewPublicKey(pub)
}

// NewHostKey returns another ed25519 public key in authorized_keys format,
// for tests that pin the wrong key.
func NewHostKey() string {
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	k, _ := ssh.NewPublicKey(pub)
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k)))
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

type buffer struct {
	mu sync.Mutex
	b  []byte
}

func (b *buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.b) < 64<<10 {
		b.b = append(b.b, p...)
	}
	return len(p), nil
}

func (b *buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.b)
}
