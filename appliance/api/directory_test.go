package api_test

import (
	"os"
	"testing"
	"time"

	"avanti/appliance/directory"
	"avanti/appliance/directory/slapdtest"
	"avanti/appliance/testenv"
)

func TestMain(m *testing.M) {
	code := m.Run()
	slapdtest.StopShared()
	os.Exit(code)
}

// municipalDirectory is the demo municipality's directory, as an admin
// would configure it: StartTLS with the municipality's CA, a service
// account, groups mapped to roles.
func municipalDirectory(t *testing.T) *directory.Config {
	srv := slapdtest.Shared(t)
	return &directory.Config{URL: srv.URL, StartTLS: true, CACertFile: srv.CAFile,
		BindDN: slapdtest.ServiceDN, BindPassword: slapdtest.ServicePassword, BaseDN: slapdtest.PeopleDN,
		UserFilter: "(&(objectClass=inetOrgPerson)(uid=%s))", Timeout: 3 * time.Second,
		GroupRoles: map[string]string{slapdtest.GroupAdmin: "admin", slapdtest.GroupBackoffice: "backoffice", slapdtest.GroupOperators: "operator"}}
}

func TestStaffSignInWithTheirMunicipalPassword(t *testing.T) {
	env := testenv.NewServer(t, testenv.Options{Directory: municipalDirectory(t)})
	login := func(user, password string) (int, []byte) {
		return env.Anonymous(t).Do("POST", "/api/v1/auth/login", map[string]string{"username": user, "password": password})
	}
	mario := slapdtest.DemoUser("mario.rossi")
	c := env.Login(t, mario.UID, mario.Password)
	var me struct {
		Role, Source, DisplayName, Email string
	}
	c.JSON("GET", "/api/v1/auth/me", nil, &me)
	if me.Role != "operator" || me.Source != "directory" || me.Email != mario.Mail {
		t.Errorf("mario.rossi signed in as %+v, want an operator from the directory, with the directory's mail", me)
	}
	st, raw := login(mario.UID, "not-his-password")
	wantError(t, st, raw, 401, "invalid_credentials", "")
	st, raw = login("nessuno.qui", "whatever-at-all")
	wantError(t, st, raw, 401, "invalid_credentials", "")

	// Right password, but not in a group allowed to use Avanti.
	luca := slapdtest.DemoUser("luca.verdi")
	st, raw = login(luca.UID, luca.Password)
	wantError(t, st, raw, 403, "not_allowed", "")

	// Group → role: an admin of the directory administers Avanti.
	anna := slapdtest.DemoUser("anna.bianchi")
	if st, raw := env.Login(t, anna.UID, anna.Password).Do("GET", "/api/v1/org", nil); st != 200 {
		t.Errorf("anna.bianchi (avanti-admin) cannot administer: %d %s", st, raw)
	}
	// Local accounts keep working beside the directory.
	env.Login(t, env.Demo.Credentials.Admin.Username, env.Demo.Credentials.Admin.Password)

	// Guesses are counted by Avanti before the directory is asked.
	for range 5 {
		login(mario.UID, "guess-guess-guess")
	}
	st, raw = login(mario.UID, mario.Password)
	wantError(t, st, raw, 429, "account_locked", "")
}

func TestADirectoryThatIsDownDoesNotStopLocalAccounts(t *testing.T) {
	cfg := municipalDirectory(t)
	cfg.URL = "ldap://127.0.0.1:1/"
	cfg.Timeout = 500 * time.Millisecond
	env := testenv.NewServer(t, testenv.Options{Directory: cfg})
	st, raw := env.Anonymous(t).Do("POST", "/api/v1/auth/login", map[string]string{"username": "mario.rossi", "password": "Torrazzo-1284!"})
	wantError(t, st, raw, 503, "directory_unavailable", "")
	env.Login(t, env.Demo.Credentials.Operator.Username, env.Demo.Credentials.Operator.Password)
}
