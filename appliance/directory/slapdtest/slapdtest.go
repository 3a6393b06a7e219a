// Package slapdtest runs a private OpenLDAP server for tests: Debian's
// slapd, started as a child process with its own configuration, database,
// TLS certificates (a CA made at start) and ports on 127.0.0.1, stopped and
// removed by Stop. Nothing of the system's slapd is used or touched.
//
// Tests of one package share one server (Shared, with StopShared in
// TestMain); SeedDemo fills it with the Comune di Crema's staff and groups
// that the directory tests sign in with.
package slapdtest

import (
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"avanti/appliance/daemontest"
)

// Where Debian's slapd package puts the server, its modules and schemas.
const (
	SlapdPath  = "/usr/sbin/slapd"
	ModulePath = "/usr/lib/ldap"
	SchemaDir  = "/etc/ldap/schema"
)

// ErrNotInstalled says slapd is missing.
var ErrNotInstalled = errors.New("slapd is not installed: `make test` installs Debian's slapd and ldap-utils packages (scripts/debdeps), or apt-get install -y slapd ldap-utils")

// Server is a running private slapd.
type Server struct {
	URL          string // ldap://127.0.0.1:port/ (StartTLS offered)
	LDAPSURL     string // ldaps://127.0.0.1:port/
	CAFile       string // PEM of the CA that signed the server's certificate
	Suffix       string // the database's suffix, e.g. dc=comune,dc=crema,dc=it
	RootDN       string
	RootPassword string
	Dir          string // configuration, certificates and data

	proc *daemontest.Process
	log  *daemontest.LogBuffer
}

// Options of Start.
type Options struct {
	Suffix string // default DemoSuffix
	// NoMemberOf leaves out the memberof overlay, which otherwise keeps
	// memberOf on the members of every groupOfNames.
	NoMemberOf bool
}

// Start starts a slapd. Its data is empty but for the suffix's entry.
func Start(o Options) (*Server, error) {
	if _, err := os.Stat(SlapdPath); err != nil {
		return nil, ErrNotInstalled
	}
	if o.Suffix == "" {
		o.Suffix = DemoSuffix
	}
	var lastErr error
	for range 3 { // a free port may be taken between finding and binding it
		s, err := start(o)
		if err == nil {
			return s, nil
		}
		lastErr = err
		if !strings.Contains(err.Error(), "bind(") && !strings.Contains(err.Error(), "Address already in use") {
			break
		}
	}
	return nil, lastErr
}

func start(o Options) (s *Server, err error) {
	dir, err := os.MkdirTemp("", "slapdtest-")
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
		}
	}()
	ports, err := daemontest.FreePorts(2)
	if err != nil {
		return nil, err
	}
	s = &Server{
		URL:          fmt.Sprintf("ldap://127.0.0.1:%d/", ports[0]),
		LDAPSURL:     fmt.Sprintf("ldaps://127.0.0.1:%d/", ports[1]),
		CAFile:       filepath.Join(dir, "ca.pem"),
		Suffix:       o.Suffix,
		RootDN:       "cn=admin," + o.Suffix,
		RootPassword: rand.Text(),
		Dir:          dir,
		log:          daemontest.NewLogBuffer(64 << 10),
	}
	if err := writeCertificates(dir); err != nil {
		return nil, err
	}
	if err := os.Mkdir(filepath.Join(dir, "data"), 0o700); err != nil {
		return nil, err
	}
	conf := filepath.Join(dir, "slapd.conf")
	if err := os.WriteFile(conf, []byte(s.config(o)), 0o600); err != nil {
		return nil, err
	}

	// -d none keeps slapd in the foreground, printing only its errors; it
	// runs as whoever runs the tests (root here), no -u/-g needed.
	cmd := exec.Command(SlapdPath, "-d", "none", "-f", conf, "-h", s.URL+" "+s.LDAPSURL)
	cmd.Dir = dir
	if s.proc, err = daemontest.Start(cmd, s.log); err != nil {
		return nil, fmt.Errorf("start slapd: %w", err)
	}
	// Ready when it answers a bind as its root DN.
	if err := s.proc.WaitReady(10*time.Second, func() error {
		c, err := s.Conn()
		if err == nil {
			c.Close()
		}
		return err
	}); err != nil {
		s.Stop()
		return nil, fmt.Errorf("slapd %w; its log: %s", err, strings.TrimSpace(s.log.String()))
	}
	if err := s.Add(o.Suffix, map[string][]string{
		"objectClass": {"dcObject", "organization"},
		"dc":          {firstValue(o.Suffix)},
		"o":           {"Avanti test directory"},
	}); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

func (s *Server) config(o Options) string {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	for _, sc := range []string{"core", "cosine", "inetorgperson", "nis"} {
		p("include %s/%s.schema", SchemaDir, sc)
	}
	p("modulepath %s", ModulePath)
	p("moduleload back_mdb")
	if !o.NoMemberOf {
		p("moduleload memberof")
	}
	p("pidfile %s", filepath.Join(s.Dir, "slapd.pid"))
	p("argsfile %s", filepath.Join(s.Dir, "slapd.args"))
	p("TLSCACertificateFile %s", s.CAFile)
	p("TLSCertificateFile %s", filepath.Join(s.Dir, "server.pem"))
	p("TLSCertificateKeyFile %s", filepath.Join(s.Dir, "server.key"))
	p("database mdb")
	p("maxsize 67108864")
	p("suffix %q", s.Suffix)
	p("rootdn %q", s.RootDN)
	p("rootpw %s", s.RootPassword)
	p("directory %s", filepath.Join(s.Dir, "data"))
	p("index objectClass,uid,member,uniqueMember eq")
	if !o.NoMemberOf {
		p("index memberOf eq")
		p("overlay memberof")
		p("memberof-group-oc groupOfNames")
		p("memberof-member-ad member")
		p("memberof-memberof-ad memberOf")
		p("memberof-refint TRUE")
	}
	// Passwords are for binding only; everything else is readable, by the
	// service account and anonymously alike.
	p("access to attrs=userPassword by self write by anonymous auth by * none")
	p("access to * by * read")
	return b.String()
}

// Conn is a plain connection to the server bound as its root DN; the
// caller closes it.
func (s *Server) Conn() (*ldap.Conn, error) {
	c, err := ldap.DialURL(s.URL, ldap.DialWithDialer(&net.Dialer{Timeout: 2 * time.Second}))
	if err != nil {
		return nil, err
	}
	c.SetTimeout(5 * time.Second)
	if err := c.Bind(s.RootDN, s.RootPassword); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// Add adds one entry as the root DN.
func (s *Server) Add(dn string, attrs map[string][]string) error {
	c, err := s.Conn()
	if err != nil {
		return err
	}
	defer c.Close()
	return add(c, dn, attrs)
}

func add(c *ldap.Conn, dn string, attrs map[string][]string) error {
	req := ldap.NewAddRequest(dn, nil)
	for name, vals := range attrs {
		req.Attribute(name, vals)
	}
	if err := c.Add(req); err != nil {
		return fmt.Errorf("add %s: %w", dn, err)
	}
	return nil
}

// Log is what slapd printed (its errors), for a failing test's message.
func (s *Server) Log() string { return s.log.String() }

// Stop stops slapd and removes its directory. It may be called again.
func (s *Server) Stop() error {
	s.proc.Stop()
	return os.RemoveAll(s.Dir)
}

// HashPassword is an {SSHA} userPassword value, as slapd stores them.
func HashPassword(pw string) string {
	salt := make([]byte, 8)
	rand.Read(salt)
	h := sha1.Sum(append([]byte(pw), salt...))
	return "{SSHA}" + base64.StdEncoding.EncodeToString(append(h[:], salt...))
}

// firstValue is the value of a DN's first RDN ("comune" of dc=comune,...).
func firstValue(dn string) string {
	p, err := ldap.ParseDN(dn)
	if err != nil || len(p.RDNs) == 0 || len(p.RDNs[0].Attributes) == 0 {
		return ""
	}
	return p.RDNs[0].Attributes[0].Value
}

var (
	sharedOnce sync.Once
	shared     *Server
	sharedErr  error
)

// Shared is one server, seeded with SeedDemo, for all the tests of a
// package; it fails the test if slapd is missing or does not start. Call
// StopShared at the end of TestMain.
func Shared(t testing.TB) *Server {
	t.Helper()
	sharedOnce.Do(func() {
		shared, sharedErr = Start(Options{})
		if sharedErr == nil {
			if sharedErr = shared.SeedDemo(); sharedErr != nil {
				shared.Stop()
			}
		}
	})
	if sharedErr != nil {
		t.Fatalf("private slapd: %v", sharedErr)
	}
	return shared
}

// StopShared stops the server Shared started, if any.
func StopShared() {
	if shared != nil {
		shared.Stop()
	}
}
