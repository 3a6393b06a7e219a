// Package sshdtest runs a private OpenSSH server for tests: Debian's sshd,
// started as a child process (`sshd -D -e -f CONFIG -p PORT`) with its own
// host key, configuration and port on 127.0.0.1, and stopped and removed
// when the test ends. Nothing of the system's sshd is used or touched (but
// for /run/sshd, the privilege separation directory sshd insists on, made
// if missing).
//
// The one account that may sign in is the one running the tests, by key
// only. As an off-site backup server (SFTP) it may do nothing but SFTP; as
// the vendor's support bastion (Bastion) nothing but remote port
// forwarding, the forwarded ports listening on the bastion's loopback.
package sshdtest

import (
	"bufio"
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
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"avanti/appliance/daemontest"
)

// SSHDPath is where Debian's openssh-server package puts the server.
const SSHDPath = "/usr/sbin/sshd"

// ErrNotInstalled says sshd is missing.
var ErrNotInstalled = errors.New("sshd is not installed: `make test` installs Debian's openssh-server package (scripts/debdeps), or apt-get install -y openssh-server")

// Role is what the server is for, and so all the account may do.
type Role int

const (
	// SFTP offers only SFTP (internal-sftp), into Root: an off-site
	// backup server.
	SFTP Role = iota
	// Bastion allows only remote port forwarding, on its loopback: the
	// vendor's support bastion.
	Bastion
)

// Options of Start.
type Options struct {
	Role Role
	// AuthorizedKeys are the lines of the account's authorized_keys,
	// options included (e.g. restrict,port-forwarding,permitlisten="…").
	// Empty authorizes the key in ClientKeyFile.
	AuthorizedKeys []string
}

// Server is a running private sshd.
type Server struct {
	Host          string // 127.0.0.1
	Port          int
	User          string     // the account that may sign in: the one running the tests
	HostKey       string     // its host key, "ssh-ed25519 AAAA…", to pin
	Fingerprint   string     // the host key's SHA256:… fingerprint
	Signer        ssh.Signer // the host key's private half (to check what a client saw)
	ClientKeyFile string     // a client's private key (OpenSSH PEM), authorized unless Options.AuthorizedKeys
	Root          string     // SFTP: a directory the tests may use as the target
	Dir           string     // configuration, keys, authorized_keys

	proc   *daemontest.Process
	log    *daemontest.LogBuffer
	probes int // connections the readiness probe made
}

// Start starts an sshd on a free port of 127.0.0.1 for the test, and stops
// it when the test ends, with its log if the test failed. A missing sshd
// fails the test with how to install it.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	s, err := start(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("sshd log:\n%s", s.Log())
		}
		s.Stop()
	})
	return s
}

func start(o Options) (*Server, error) {
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
		s, err := startOnce(o)
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

func startOnce(o Options) (s *Server, err error) {
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
	port, err := daemontest.FreePort()
	if err != nil {
		return nil, err
	}
	hostKeyPath := filepath.Join(dir, "ssh_host_ed25519_key")
	hostPub, hostPriv, err := writeKey(hostKeyPath)
	if err != nil {
		return nil, err
	}
	signer, err := ssh.NewSignerFromKey(hostPriv)
	if err != nil {
		return nil, err
	}
	s = &Server{
		Host:          "127.0.0.1",
		Port:          port,
		User:          u.Username,
		HostKey:       strings.TrimSpace(string(ssh.MarshalAuthorizedKey(hostPub))),
		Fingerprint:   ssh.FingerprintSHA256(hostPub),
		Signer:        signer,
		ClientKeyFile: filepath.Join(dir, "client_ed25519"),
		Dir:           dir,
		log:           daemontest.NewLogBuffer(256 << 10),
	}
	clientPub, _, err := writeKey(s.ClientKeyFile)
	if err != nil {
		return nil, err
	}
	authorized := o.AuthorizedKeys
	if len(authorized) == 0 {
		authorized = []string{strings.TrimSpace(string(ssh.MarshalAuthorizedKey(clientPub)))}
	}
	if err := os.WriteFile(filepath.Join(dir, "authorized_keys"), []byte(strings.Join(authorized, "\n")+"\n"), 0o600); err != nil {
		return nil, err
	}
	if o.Role == SFTP {
		s.Root = filepath.Join(dir, "sftp")
		if err := os.Mkdir(s.Root, 0o700); err != nil {
			return nil, err
		}
	}
	conf := filepath.Join(dir, "sshd_config")
	if err := os.WriteFile(conf, []byte(s.config(o.Role, hostKeyPath)), 0o600); err != nil {
		return nil, err
	}
	// -D: stay in the foreground; -e: log to stderr.
	cmd := exec.Command(SSHDPath, "-D", "-e", "-f", conf, "-p", fmt.Sprint(port))
	cmd.Dir = dir
	if s.proc, err = daemontest.Start(cmd, s.log); err != nil {
		return nil, fmt.Errorf("start sshd: %w", err)
	}
	if err := s.proc.WaitReady(10*time.Second, s.greets); err != nil {
		s.proc.Stop()
		return nil, fmt.Errorf("sshd %w: %s", err, strings.TrimSpace(s.log.String()))
	}
	// Wait for the probe's connection to be logged, so that Connections
	// leaves it out.
	for deadline := time.Now().Add(2 * time.Second); s.connections() == 0 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	s.probes = s.connections()
	return s, nil
}

func (s *Server) config(role Role, hostKeyPath string) string {
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
	switch role {
	case SFTP:
		p("AllowTcpForwarding no")
		p("Subsystem sftp internal-sftp")
		p("ForceCommand internal-sftp")
	case Bastion:
		p("AllowTcpForwarding remote")
		p("GatewayPorts no")
	}
	p("AllowAgentForwarding no")
	p("AllowStreamLocalForwarding no")
	p("X11Forwarding no")
	p("PermitTunnel no")
	p("PermitTTY no")
	p("PermitUserRC no")
	p("LogLevel VERBOSE") // Connections counts its "Connection from" lines
	return b.String()
}

// Addr is host:port.
func (s *Server) Addr() string { return net.JoinHostPort(s.Host, fmt.Sprint(s.Port)) }

// greets says whether sshd sends its banner to a new TCP connection.
func (s *Server) greets() error {
	c, err := net.DialTimeout("tcp", s.Addr(), time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "SSH-2.0-") {
		return fmt.Errorf("greeting %q", line)
	}
	return nil
}

// Log is what sshd printed (LogLevel VERBOSE).
func (s *Server) Log() string { return s.log.String() }

// Connections counts the TCP connections sshd accepted, the readiness
// probe's excluded.
func (s *Server) Connections() int { return s.connections() - s.probes }

func (s *Server) connections() int {
	return strings.Count(s.log.String(), "Connection from ")
}

// Stop ends sshd and the sessions still open, and removes its directory.
// It may be called again.
func (s *Server) Stop() {
	s.proc.Stop()
	os.RemoveAll(s.Dir)
}

// writeKey makes an ed25519 key pair and writes the private key (OpenSSH
// format) to path.
func writeKey(path string) (ssh.PublicKey, ed25519.PrivateKey, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		return nil, nil, err
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		return nil, nil, err
	}
	sshPub, err := ssh.NewPublicKey(pub)
	return sshPub, priv, err
}

// NewHostKey returns another ed25519 public key in authorized_keys format,
// for tests that pin the wrong key.
func NewHostKey() string {
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	k, _ := ssh.NewPublicKey(pub)
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k)))
}
