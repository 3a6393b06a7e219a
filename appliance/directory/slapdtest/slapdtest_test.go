package slapdtest

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"slices"
	"testing"

	"github.com/go-ldap/ldap/v3"
)

func TestMain(m *testing.M) {
	code := m.Run()
	StopShared()
	os.Exit(code)
}

// TestDemoDirectory checks the harness itself: the demo data is there, the
// memberof overlay filled memberOf, and LDAPS answers with the test CA.
func TestDemoDirectory(t *testing.T) {
	s := Shared(t)
	pem, err := os.ReadFile(s.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	c, err := ldap.DialURL(s.LDAPSURL, ldap.DialWithTLSConfig(&tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}))
	if err != nil {
		t.Fatalf("ldaps: %v; slapd log: %s", err, s.Log())
	}
	defer c.Close()
	u := DemoUser("anna.bianchi")
	if err := c.Bind(u.DN, u.Password); err != nil {
		t.Fatalf("bind as %s: %v", u.DN, err)
	}
	res, err := c.Search(ldap.NewSearchRequest(u.DN, ldap.ScopeBaseObject, 0, 0, 0, false,
		"(objectClass=*)", []string{"memberOf"}, nil))
	if err != nil {
		t.Fatal(err)
	}
	got := res.Entries[0].GetAttributeValues("memberOf")
	slices.Sort(got)
	want := slices.Sorted(slices.Values(u.Groups))
	if !slices.Equal(got, want) {
		t.Errorf("memberOf of %s = %q, want %q", u.UID, got, want)
	}
	if err := c.Bind(u.DN, "wrong"); !ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) {
		t.Errorf("bind with a wrong password: %v, want invalid credentials", err)
	}
}

// TestStop checks that a stopped server is gone with its files.
func TestStop(t *testing.T) {
	s, err := Start(Options{Suffix: "dc=example,dc=org", NoMemberOf: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(s.Dir); !os.IsNotExist(err) {
		t.Errorf("%s still there after Stop: %v", s.Dir, err)
	}
	if _, err := s.Conn(); err == nil {
		t.Error("the server still answers after Stop")
	}
}
