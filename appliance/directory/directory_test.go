package directory

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"avanti/appliance/directory/slapdtest"
)

// The tests run against a real OpenLDAP server: Debian's slapd, started
// once for the package by slapdtest with its own configuration, data,
// certificates and ports (`make test` installs slapd via scripts/debdeps;
// without it the tests fail, saying so).

func TestMain(m *testing.M) {
	code := m.Run()
	slapdtest.StopShared()
	os.Exit(code)
}

// roles maps the demo directory's groups as a municipality would.
var roles = map[string]string{
	slapdtest.GroupAdmin:       RoleAdmin,
	slapdtest.GroupBackoffice:  RoleBackoffice,
	slapdtest.GroupOperators:   RoleOperator,
	slapdtest.GroupDemographic: RoleOperator,
}

// config is the usual setup: StartTLS on ldap://, the test CA, a service
// account, users by uid, groups from memberOf.
func config(t *testing.T) Config {
	t.Helper()
	s := slapdtest.Shared(t)
	return Config{
		URL:          s.URL,
		StartTLS:     true,
		CACertFile:   s.CAFile,
		BindDN:       slapdtest.ServiceDN,
		BindPassword: slapdtest.ServicePassword,
		BaseDN:       slapdtest.DemoSuffix,
		UserFilter:   "(&(objectClass=inetOrgPerson)(uid=%s))",
		GroupRoles:   roles,
		Timeout:      3 * time.Second,
	}
}

func login(t *testing.T, cfg Config, username, password string) (Entry, error) {
	t.Helper()
	e, err := Authenticate(context.Background(), cfg, username, password)
	if err != nil && password != "" && strings.Contains(err.Error(), password) {
		t.Errorf("the error shows the password: %v", err)
	}
	return e, err
}

func mustLogin(t *testing.T, cfg Config, uid string) Entry {
	t.Helper()
	u := slapdtest.DemoUser(uid)
	e, err := login(t, cfg, uid, u.Password)
	if err != nil {
		t.Fatalf("sign in %s: %v", uid, err)
	}
	return e
}

func wantErr(t *testing.T, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("error %v, want %v", err, want)
	}
}

func TestRightPassword(t *testing.T) {
	t.Parallel()
	cfg := config(t)
	u := slapdtest.DemoUser("mario.rossi")
	e := mustLogin(t, cfg, u.UID)
	want := Entry{DN: u.DN, Username: "mario.rossi", DisplayName: "Mario Rossi", Email: u.Mail,
		Groups: []string{slapdtest.GroupOperators}, Role: RoleOperator}
	if fmt.Sprint(e) != fmt.Sprint(want) {
		t.Errorf("entry\n %+v, want\n %+v", e, want)
	}
	// Spaces around and another case are the same user, reported as the
	// directory spells it.
	e, err := login(t, cfg, "  Mario.Rossi ", u.Password)
	if err != nil || e.Username != "mario.rossi" || e.DN != u.DN {
		t.Errorf("sign in as '  Mario.Rossi ': %+v, %v", e, err)
	}
}

func TestDisplayName(t *testing.T) {
	t.Parallel()
	cfg := config(t)
	for uid, want := range map[string]string{
		"anna.bianchi": "Anna Bianchi (Segreteria)", // displayName before cn
		"niccolo.foa":  "Niccolò Foà",               // cn, UTF-8
	} {
		if e := mustLogin(t, cfg, uid); e.DisplayName != want {
			t.Errorf("%s: display name %q, want %q", uid, e.DisplayName, want)
		}
	}
}

func TestWrongPassword(t *testing.T) {
	t.Parallel()
	cfg := config(t)
	u := slapdtest.DemoUser("mario.rossi")
	for _, pw := range []string{"wrong", u.Password + " ", strings.ToUpper(u.Password), slapdtest.DemoUser("anna.bianchi").Password} {
		_, err := login(t, cfg, u.UID, pw)
		wantErr(t, err, ErrInvalidCredentials)
	}
}

// An unknown user and a wrong password give the very same error: the
// answer does not tell which usernames exist.
func TestUnknownUser(t *testing.T) {
	t.Parallel()
	cfg := config(t)
	_, unknown := login(t, cfg, "nessuno.qui", "Torrazzo-1284!")
	_, wrong := login(t, cfg, "mario.rossi", "Torrazzo-1284?")
	wantErr(t, unknown, ErrInvalidCredentials)
	if unknown != wrong {
		t.Errorf("unknown user: %q, wrong password: %q; want the same", unknown, wrong)
	}
}

// listener counts the connections made to it; hang keeps them open and
// silent, as a stuck server would.
func listener(t *testing.T, hang bool) (string, func() int64) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var n atomic.Int64
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			n.Add(1)
			if !hang {
				c.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return l.Addr().String(), n.Load
}

// An empty password is refused before anything is sent: a simple bind
// with a DN and no password is an "unauthenticated bind", which many
// servers answer with success.
func TestEmptyPassword(t *testing.T) {
	t.Parallel()
	cfg := config(t)
	_, err := login(t, cfg, "mario.rossi", "")
	wantErr(t, err, ErrInvalidCredentials)

	addr, conns := listener(t, false)
	cfg.URL = "ldap://" + addr
	_, err = login(t, cfg, "mario.rossi", "")
	wantErr(t, err, ErrInvalidCredentials)
	if conns() != 0 {
		t.Errorf("%d connections for an empty password, want none", conns())
	}
}

func TestInvalidUsername(t *testing.T) {
	t.Parallel()
	addr, conns := listener(t, false)
	cfg := config(t)
	cfg.URL = "ldap://" + addr
	for _, name := range []string{"", "   ", "\t", strings.Repeat("a", 101), "mario\x00rossi", "mario\nrossi", "mario\u0085rossi", "\xff\xfe"} {
		_, err := login(t, cfg, name, "Torrazzo-1284!")
		wantErr(t, err, ErrInvalidCredentials)
	}
	if conns() != 0 {
		t.Errorf("%d connections for invalid usernames, want none", conns())
	}
	if got, ok := CleanUsername(" " + strings.Repeat("à", 100) + " "); !ok || got != strings.Repeat("à", 100) {
		t.Errorf("100 characters (200 bytes): %q, %v", got, ok)
	}
}

func TestNotInAllowedGroup(t *testing.T) {
	t.Parallel()
	cfg := config(t)
	u := slapdtest.DemoUser("luca.verdi")
	e, err := login(t, cfg, u.UID, u.Password)
	wantErr(t, err, ErrNotAllowed)
	if e.DN != u.DN || !slices.Equal(e.Groups, []string{slapdtest.GroupTechnical}) || e.Role != "" {
		t.Errorf("entry of a user not allowed: %+v", e)
	}
	// Without the password nothing about the groups shows.
	_, err = login(t, cfg, u.UID, "wrong")
	wantErr(t, err, ErrInvalidCredentials)
}

// Every demo user's role: in several groups, the most powerful wins.
func TestGroupToRole(t *testing.T) {
	t.Parallel()
	cfg := config(t)
	for uid, want := range map[string]string{
		"mario.rossi":    RoleOperator,
		"anna.bianchi":   RoleAdmin,      // admin + operator
		"giulia.ferrari": RoleBackoffice, // operator + backoffice
		"niccolo.foa":    RoleBackoffice,
		"maria.rossi":    RoleOperator,
	} {
		e := mustLogin(t, cfg, uid)
		if e.Role != want {
			t.Errorf("%s: role %q, want %q (groups %q)", uid, e.Role, want, e.Groups)
		}
		if !slices.Equal(slices.Sorted(slices.Values(e.Groups)), slices.Sorted(slices.Values(slapdtest.DemoUser(uid).Groups))) {
			t.Errorf("%s: groups %q, want %q", uid, e.Groups, slapdtest.DemoUser(uid).Groups)
		}
	}
}

// Group DNs compare as DNs: case and spacing aside.
func TestGroupDNCaseInsensitive(t *testing.T) {
	t.Parallel()
	cfg := config(t)
	cfg.GroupRoles = map[string]string{"CN=Anagrafe-Operatori, OU=Groups, DC=Comune, DC=Crema, DC=IT": RoleBackoffice}
	if e := mustLogin(t, cfg, "mario.rossi"); e.Role != RoleBackoffice {
		t.Errorf("role %q, want backoffice", e.Role)
	}
}

func TestLDAPS(t *testing.T) {
	t.Parallel()
	cfg := config(t)
	cfg.URL, cfg.StartTLS = slapdtest.Shared(t).LDAPSURL, false
	if e := mustLogin(t, cfg, "anna.bianchi"); e.Role != RoleAdmin {
		t.Errorf("role %q, want admin", e.Role)
	}
	_, err := login(t, cfg, "anna.bianchi", "wrong")
	wantErr(t, err, ErrInvalidCredentials)
}

func TestStartTLS(t *testing.T) {
	t.Parallel()
	cfg := config(t)
	if !cfg.StartTLS || !strings.HasPrefix(cfg.URL, "ldap://") {
		t.Fatalf("config %+v is not StartTLS", cfg)
	}
	if e := mustLogin(t, cfg, "giulia.ferrari"); e.Role != RoleBackoffice {
		t.Errorf("role %q, want backoffice", e.Role)
	}
}

// A directory with a certificate the configured CA did not sign is
// unavailable, not a wrong password: the password is never sent to it.
func TestWrongCA(t *testing.T) {
	t.Parallel()
	s := slapdtest.Shared(t)
	foreign := filepath.Join(t.TempDir(), "foreign.pem")
	if err := slapdtest.WriteForeignCA(foreign); err != nil {
		t.Fatal(err)
	}
	for name, set := range map[string]func(*Config){
		"ldaps, foreign CA":    func(c *Config) { c.URL, c.StartTLS, c.CACertFile = s.LDAPSURL, false, foreign },
		"StartTLS, foreign CA": func(c *Config) { c.CACertFile = foreign },
		"ldaps, system roots":  func(c *Config) { c.URL, c.StartTLS, c.CACertFile = s.LDAPSURL, false, "" },
	} {
		cfg := config(t)
		set(&cfg)
		_, err := login(t, cfg, "mario.rossi", slapdtest.DemoUser("mario.rossi").Password)
		if !errors.Is(err, ErrUnavailable) {
			t.Errorf("%s: error %v, want ErrUnavailable", name, err)
		}
	}
}

// InsecureSkipVerify, for a test bench only, accepts any certificate.
func TestInsecureSkipVerify(t *testing.T) {
	t.Parallel()
	cfg := config(t)
	cfg.CACertFile, cfg.InsecureSkipVerify = "", true
	mustLogin(t, cfg, "mario.rossi")
}

func TestServerDown(t *testing.T) {
	t.Parallel()
	refused, _ := listener(t, false)
	hung, accepted := listener(t, true)
	// A port nobody listens on: the listener's, closed.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()

	for _, c := range []struct {
		name, url string
		startTLS  bool
	}{
		{"nobody listening", "ldaps://" + closed, false},
		{"closes at once, StartTLS", "ldap://" + refused, true},
		{"closes at once, ldaps", "ldaps://" + refused, false},
		{"silent, StartTLS", "ldap://" + hung, true},
		{"silent, ldaps", "ldaps://" + hung, false},
	} {
		cfg := config(t)
		cfg.URL, cfg.StartTLS, cfg.Timeout = c.url, c.startTLS, 300*time.Millisecond
		start := time.Now()
		_, err := login(t, cfg, "mario.rossi", "Torrazzo-1284!")
		took := time.Since(start)
		if !errors.Is(err, ErrUnavailable) {
			t.Errorf("%s: error %v, want ErrUnavailable", c.name, err)
		}
		if took > 2*time.Second {
			t.Errorf("%s: took %s with a timeout of 300ms", c.name, took)
		}
	}
	if accepted() != 2 {
		t.Errorf("the silent server got %d connections, want 2", accepted())
	}

	// A cancelled context ends the sign-in too.
	cfg := config(t)
	cfg.URL, cfg.Timeout = "ldap://"+hung, time.Minute
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = Authenticate(ctx, cfg, "mario.rossi", "Torrazzo-1284!")
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 2*time.Second {
		t.Errorf("cancelled context: %v after %s", err, time.Since(start))
	}
}

// Filter metacharacters in the username are escaped: no username matches
// an entry other than its own, not even with that entry's password.
func TestFilterInjection(t *testing.T) {
	t.Parallel()
	cfg := config(t)
	pw := slapdtest.DemoUser("mario.rossi").Password
	for _, name := range []string{
		"*",
		"mario*",
		"*)(uid=*",
		"mario.rossi)(|(uid=*",
		"mario.rossi)(uid=*))(|(uid=*",
		"*)(objectClass=*",
		`mario.rossi\2a`,
		"mario.rossi\\",
	} {
		_, err := login(t, cfg, name, pw)
		if !errors.Is(err, ErrInvalidCredentials) {
			t.Errorf("username %q: error %v, want ErrInvalidCredentials", name, err)
		}
	}
}

// A username matching two entries signs in nobody, whatever the password.
func TestAmbiguousUser(t *testing.T) {
	t.Parallel()
	cfg := config(t)
	cfg.UserFilter = "(&(objectClass=inetOrgPerson)(|(uid=%s)(mail=%s)))"
	mustLogin(t, cfg, "giulia.ferrari") // every %s is replaced
	_, err := login(t, cfg, slapdtest.SharedMail, slapdtest.DemoUser("giulia.ferrari").Password)
	wantErr(t, err, ErrInvalidCredentials)
}

// GroupSearch finds the groups by searching them, for servers without
// memberOf: it also finds the groupOfUniqueNames the overlay ignores, and
// escapes DNs with filter metacharacters.
func TestGroupSearch(t *testing.T) {
	t.Parallel()
	cfg := config(t)
	cfg.GroupSearch = true
	cfg.GroupBaseDN = slapdtest.GroupsDN
	cfg.GroupFilter = "(|(&(objectClass=groupOfNames)(member=%s))(&(objectClass=groupOfUniqueNames)(uniqueMember=%s)))"
	cfg.GroupAttribute = "noSuchAttribute" // not used
	for uid, want := range map[string]string{
		"mario.rossi":    RoleOperator,
		"anna.bianchi":   RoleAdmin,
		"giulia.ferrari": RoleBackoffice,
		"paolo.conti":    RoleOperator, // in a groupOfUniqueNames
		"maria.rossi":    RoleOperator, // cn=Rossi\, Maria (*)
	} {
		if e := mustLogin(t, cfg, uid); e.Role != want {
			t.Errorf("%s: role %q, want %q (groups %q)", uid, e.Role, want, e.Groups)
		}
	}
	u := slapdtest.DemoUser("luca.verdi")
	_, err := login(t, cfg, u.UID, u.Password)
	wantErr(t, err, ErrNotAllowed)

	// The default filter (groupOfNames) and base (BaseDN).
	cfg.GroupBaseDN, cfg.GroupFilter = "", ""
	if e := mustLogin(t, cfg, "anna.bianchi"); e.Role != RoleAdmin {
		t.Errorf("default group filter: role %q, want admin", e.Role)
	}

	// memberOf does not list the groupOfUniqueNames.
	u = slapdtest.DemoUser("paolo.conti")
	_, err = login(t, config(t), u.UID, u.Password)
	wantErr(t, err, ErrNotAllowed)
}

func TestAnonymousSearch(t *testing.T) {
	t.Parallel()
	cfg := config(t)
	cfg.BindDN, cfg.BindPassword = "", ""
	if e := mustLogin(t, cfg, "mario.rossi"); e.Role != RoleOperator {
		t.Errorf("role %q, want operator", e.Role)
	}
}

// A directory refusing the service account, or without the base DN, is
// misconfigured: unavailable, not the user's wrong password.
func TestMisconfigured(t *testing.T) {
	t.Parallel()
	for name, set := range map[string]func(*Config){
		"wrong service password": func(c *Config) { c.BindPassword = "wrong" },
		"missing base DN":        func(c *Config) { c.BaseDN = "ou=nowhere," + slapdtest.DemoSuffix },
	} {
		cfg := config(t)
		set(&cfg)
		_, err := login(t, cfg, "mario.rossi", slapdtest.DemoUser("mario.rossi").Password)
		if !errors.Is(err, ErrUnavailable) {
			t.Errorf("%s: error %v, want ErrUnavailable", name, err)
		}
		if strings.Contains(err.Error(), slapdtest.ServicePassword) {
			t.Errorf("%s: the error shows the service password: %v", name, err)
		}
	}
}

func TestPlaintext(t *testing.T) {
	t.Parallel()
	cfg := config(t)
	cfg.StartTLS = false
	_, err := login(t, cfg, "mario.rossi", slapdtest.DemoUser("mario.rossi").Password)
	wantErr(t, err, ErrInvalidConfig)
	cfg.Plaintext = true
	mustLogin(t, cfg, "mario.rossi")
}

func TestValidate(t *testing.T) {
	t.Parallel()
	good := Config{
		URL: "ldaps://dc1.comune.crema.local:636", BaseDN: "DC=comune,DC=crema,DC=local",
		BindDN: "CN=svc-avanti,OU=Servizi,DC=comune,DC=crema,DC=local", BindPassword: "x",
		UserFilter: "(&(objectClass=user)(sAMAccountName=%s))",
		GroupRoles: map[string]string{"CN=Avanti-Admin,OU=Gruppi,DC=comune,DC=crema,DC=local": "admin"},
	}
	if err := good.Validate(); err != nil {
		t.Fatalf("good config: %v", err)
	}
	if got := usernameAttribute(good); got != "sAMAccountName" {
		t.Errorf("username attribute of an AD filter: %q", got)
	}
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(caFile, []byte("not a certificate"), 0o600)
	for name, set := range map[string]func(*Config){
		"no url":                 func(c *Config) { c.URL = "" },
		"http url":               func(c *Config) { c.URL = "http://dc1:389" },
		"url with path":          func(c *Config) { c.URL = "ldap://dc1/dc=x" },
		"ldap in clear":          func(c *Config) { c.URL = "ldap://dc1:389" },
		"StartTLS on ldaps":      func(c *Config) { c.StartTLS = true },
		"CA file missing":        func(c *Config) { c.CACertFile = "/nonexistent/ca.pem" },
		"CA file not PEM":        func(c *Config) { c.CACertFile = caFile },
		"bind DN, no password":   func(c *Config) { c.BindPassword = "" },
		"password, no bind DN":   func(c *Config) { c.BindDN = "" },
		"bad bind DN":            func(c *Config) { c.BindDN = "svc-avanti" },
		"no base DN":             func(c *Config) { c.BaseDN = "" },
		"bad base DN":            func(c *Config) { c.BaseDN = "comune.crema.local" },
		"no filter":              func(c *Config) { c.UserFilter = "" },
		"filter without %s":      func(c *Config) { c.UserFilter = "(uid=mario)" },
		"filter unbalanced":      func(c *Config) { c.UserFilter = "(&(uid=%s)" },
		"bad group filter":       func(c *Config) { c.GroupSearch, c.GroupFilter = true, "member=%s" },
		"bad group base DN":      func(c *Config) { c.GroupBaseDN = "gruppi" },
		"no groups":              func(c *Config) { c.GroupRoles = nil },
		"unknown role":           func(c *Config) { c.GroupRoles = map[string]string{"cn=x,dc=y": "superuser"} },
		"kiosk is not staff":     func(c *Config) { c.GroupRoles = map[string]string{"cn=x,dc=y": "kiosk"} },
		"bad group DN":           func(c *Config) { c.GroupRoles = map[string]string{"avanti-admin": "admin"} },
		"one group twice":        func(c *Config) { c.GroupRoles = map[string]string{"cn=x,dc=y": "admin", "CN=X, DC=Y": "operator"} },
		"bad group attribute":    func(c *Config) { c.GroupAttribute = "member of" },
		"bad username attribute": func(c *Config) { c.UsernameAttribute = "(uid)" },
		"negative timeout":       func(c *Config) { c.Timeout = -time.Second },
	} {
		cfg := good
		set(&cfg)
		err := cfg.Validate()
		if !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: Validate() = %v, want ErrInvalidConfig", name, err)
			continue
		}
		if strings.Contains(err.Error(), "\"x\"") {
			t.Errorf("%s: the error may show the bind password: %v", name, err)
		}
		if _, err := Authenticate(context.Background(), cfg, "mario.rossi", "pw"); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: Authenticate = %v, want ErrInvalidConfig", name, err)
		}
	}
}

// Sign-ins run concurrently (the race detector watches).
func TestConcurrent(t *testing.T) {
	t.Parallel()
	cfg := config(t)
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := range 40 {
		wg.Go(func() {
			u := slapdtest.DemoUsers[i%len(slapdtest.DemoUsers)]
			pw := u.Password
			if i%3 == 0 {
				pw = "wrong"
			}
			_, err := Authenticate(context.Background(), cfg, u.UID, pw)
			switch {
			case pw == "wrong" && !errors.Is(err, ErrInvalidCredentials):
				errs <- fmt.Errorf("%s, wrong password: %v", u.UID, err)
			case pw != "wrong" && err != nil && !errors.Is(err, ErrNotAllowed):
				errs <- fmt.Errorf("%s: %v", u.UID, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
