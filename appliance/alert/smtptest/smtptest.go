// Package smtptest runs a private SMTP server for tests: Debian's aiosmtpd
// (python3-aiosmtpd), started as a child process on a free port of
// 127.0.0.1, with STARTTLS or implicit TLS on a certificate of a CA made
// for the test, optional AUTH (PLAIN and LOGIN), and every accepted message
// kept as a file the test can read. Nothing of the system's mail setup is
// used or touched.
package smtptest

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	_ "embed"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"avanti/appliance/atomicfile"
	"avanti/appliance/daemontest"
)

// Python is Debian's interpreter, which sees the python3-aiosmtpd package
// (a python3 earlier in PATH, such as a pyenv one, may not).
const Python = "/usr/bin/python3"

// ErrNotInstalled says aiosmtpd is missing.
var ErrNotInstalled = errors.New("aiosmtpd is not installed: `make test` installs Debian's python3-aiosmtpd package (scripts/debdeps), or apt-get install -y python3-aiosmtpd")

//go:embed server.py
var serverPy []byte

// Options shape the server.
type Options struct {
	TLS       string // "none" (default), "starttls" (required before MAIL) or "tls" (implicit)
	User      string // with Password: AUTH required, and offered only over TLS
	Password  string
	OnlyLogin bool // offer AUTH LOGIN only (as Exchange often does), not PLAIN
	Port      int  // 0: a free one
}

// Server is a running private SMTP server.
type Server struct {
	Addr   string // 127.0.0.1:port
	Host   string // 127.0.0.1
	Port   int
	CAFile string // PEM of the CA that signed the server's certificate (TLS modes)
	Dir    string

	opt  Options
	args []string
	proc *daemontest.Process // nil until launched
	log  *daemontest.LogBuffer
}

// Message is one message the server accepted.
type Message struct {
	From          string   `json:"mail_from"`
	To            []string `json:"rcpt_tos"`
	TLS           bool     `json:"tls"`
	Authenticated bool     `json:"authenticated"`
	Login         string   `json:"login"`
	Data          string   `json:"data"` // as received, headers and body
}

// Parsed is the message parsed as RFC 5322.
func (m Message) Parsed() (*mail.Message, error) {
	return mail.ReadMessage(strings.NewReader(m.Data))
}

// Start starts a server for the test and stops it when the test ends. A
// missing aiosmtpd fails the test with how to install it.
func Start(t testing.TB, opt Options) *Server {
	t.Helper()
	s, err := start(opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Stop(); os.RemoveAll(s.Dir) })
	return s
}

func start(opt Options) (s *Server, err error) {
	if opt.TLS == "" {
		opt.TLS = "none"
	}
	if _, err := os.Stat(Python); err != nil {
		return nil, ErrNotInstalled
	}
	if err := exec.Command(Python, "-c", "import aiosmtpd").Run(); err != nil {
		return nil, ErrNotInstalled
	}
	dir, err := os.MkdirTemp("", "smtptest-")
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
		}
	}()
	s = &Server{Dir: dir, opt: opt, log: daemontest.NewLogBuffer(64 << 10)}
	if err := os.Mkdir(s.mailDir(), 0o700); err != nil {
		return nil, err
	}
	script := filepath.Join(dir, "server.py")
	if err := os.WriteFile(script, serverPy, 0o600); err != nil {
		return nil, err
	}
	args := []string{script, "--dir", s.mailDir(), "--mode", opt.TLS, "--port", fmt.Sprint(opt.Port)}
	if opt.TLS != "none" {
		cert, key, err := s.makeCerts()
		if err != nil {
			return nil, err
		}
		args = append(args, "--cert", cert, "--key", key)
	}
	if opt.User != "" {
		if err := s.SetPassword(opt.Password); err != nil {
			return nil, err
		}
		args = append(args, "--user", opt.User, "--passfile", s.passFile())
		if opt.OnlyLogin {
			args = append(args, "--only-login")
		}
	}
	s.args = args
	if err := s.launch(); err != nil {
		return nil, err
	}
	host, port, _ := net.SplitHostPort(s.Addr)
	s.Host = host
	fmt.Sscan(port, &s.Port)
	return s, nil
}

// launch starts the server process and waits until it listens.
func (s *Server) launch() error {
	cmd := exec.Command(Python, s.args...)
	cmd.Dir = s.Dir
	// Its stdout says where it listens; its stderr goes to the log.
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	proc, err := daemontest.Start(cmd, s.log)
	if err != nil {
		return fmt.Errorf("start aiosmtpd: %w", err)
	}
	s.proc = proc
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "listening "); ok {
				ready <- a
			}
		}
	}()
	select {
	case s.Addr = <-ready:
		return nil
	case <-proc.Exited():
		return fmt.Errorf("aiosmtpd exited: %s", s.log.String())
	case <-time.After(15 * time.Second):
		s.Stop()
		return fmt.Errorf("aiosmtpd did not start listening: %s", s.log.String())
	}
}

// Restart starts a stopped server again on the same address, with the
// same certificate, password and messages.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Stop()
	args := slices.Clone(s.args)
	for i := range args {
		if args[i] == "--port" {
			args[i+1] = fmt.Sprint(s.Port)
		}
	}
	s.args = args
	var err error
	for range 50 { // the port may linger a moment after the old process
		if err = s.launch(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal(err)
}

func (s *Server) mailDir() string  { return filepath.Join(s.Dir, "mail") }
func (s *Server) passFile() string { return filepath.Join(s.Dir, "password") }

// SetPassword changes the password the server accepts from now on.
func (s *Server) SetPassword(p string) error {
	return atomicfile.Write(s.passFile(), []byte(p), 0o600)
}

// Messages are the messages accepted so far, oldest first.
func (s *Server) Messages(t testing.TB) []Message {
	t.Helper()
	entries, err := os.ReadDir(s.mailDir())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".json") && !strings.HasPrefix(e.Name(), ".") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	var out []Message
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(s.mailDir(), n))
		if err != nil {
			t.Fatal(err)
		}
		var m Message
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		out = append(out, m)
	}
	return out
}

// Stop ends the server (its messages stay readable until the test ends).
func (s *Server) Stop() {
	if s.proc != nil {
		s.proc.Stop()
	}
}

// Log is what aiosmtpd printed on stderr.
func (s *Server) Log() string { return s.log.String() }

// makeCerts makes a CA and a server certificate for 127.0.0.1 and
// localhost, writes the CA to CAFile and returns the server's files.
func (s *Server) makeCerts() (certFile, keyFile string, err error) {
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", err
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "smtptest CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return "", "", err
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return "", "", err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", "", err
	}
	s.CAFile = filepath.Join(s.Dir, "ca.pem")
	certFile, keyFile = filepath.Join(s.Dir, "server.pem"), filepath.Join(s.Dir, "server.key")
	for _, f := range []struct {
		path, typ string
		der       []byte
	}{{s.CAFile, "CERTIFICATE", caDER}, {certFile, "CERTIFICATE", der}, {keyFile, "PRIVATE KEY", keyDER}} {
		if err := os.WriteFile(f.path, pem.EncodeToMemory(&pem.Block{Type: f.typ, Bytes: f.der}), 0o600); err != nil {
			return "", "", err
		}
	}
	return certFile, keyFile, nil
}
