package tlsca

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestTheApplianceCertificateIsTrustedOnceTheCAIsInstalled(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	cert, key, err := Ensure(dir, []string{"avanti.comune.local", "127.0.0.1"}, now)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{pair}}
	srv.StartTLS()
	defer srv.Close()
	caPEM, _ := os.ReadFile(filepath.Join(dir, CACertFile))
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	// A PC with the CA installed trusts the appliance at its address.
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	if _, err := client.Get(srv.URL); err != nil {
		t.Errorf("with the CA installed: %v", err)
	}
	// Without it, a browser warns.
	if _, err := http.Get(srv.URL); err == nil {
		t.Errorf("the appliance is trusted without its CA")
	}
	fp, err := Fingerprint(dir)
	if err != nil || len(fp) != 64 {
		t.Errorf("fingerprint %q %v", fp, err)
	}
}

func TestTheServerCertificateIsRenewedNotTheCA(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	if _, _, err := Ensure(dir, []string{"avanti"}, now); err != nil {
		t.Fatal(err)
	}
	ca1, _ := os.ReadFile(filepath.Join(dir, CACertFile))
	s1, _ := os.ReadFile(filepath.Join(dir, ServerCertFile))
	// Same names, soon after: nothing changes.
	Ensure(dir, []string{"avanti"}, now.Add(24*time.Hour))
	if s, _ := os.ReadFile(filepath.Join(dir, ServerCertFile)); string(s) != string(s1) {
		t.Errorf("renewed a fresh certificate")
	}
	// A new address (the admin set a static IP): a new certificate covers it.
	Ensure(dir, []string{"avanti", "10.1.2.3"}, now.Add(48*time.Hour))
	c, _ := loadCert(filepath.Join(dir, ServerCertFile))
	if c.VerifyHostname("10.1.2.3") != nil {
		t.Errorf("the new address is not covered")
	}
	// Near expiry: renewed, the CA stays (it is installed on every PC).
	Ensure(dir, []string{"avanti", "10.1.2.3"}, now.Add(380*24*time.Hour))
	c2, _ := loadCert(filepath.Join(dir, ServerCertFile))
	if !c2.NotAfter.After(c.NotAfter) {
		t.Errorf("not renewed near expiry")
	}
	if ca2, _ := os.ReadFile(filepath.Join(dir, CACertFile)); string(ca2) != string(ca1) {
		t.Errorf("the CA changed")
	}
}

func TestAMunicipalCertificateIsKept(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	// The municipality's own CA issues a certificate for the appliance.
	other := t.TempDir()
	certFile, keyFile, err := Ensure(other, []string{"avanti.comune.local"}, now)
	if err != nil {
		t.Fatal(err)
	}
	certPEM, _ := os.ReadFile(certFile)
	keyPEM, _ := os.ReadFile(keyFile)
	Ensure(dir, []string{"avanti"}, now)
	if err := Install(dir, certPEM, []byte("not a key"), now); err == nil {
		t.Fatal("a certificate without its key was installed")
	}
	if err := Install(dir, certPEM, keyPEM, now); err != nil {
		t.Fatal(err)
	}
	// A restart does not replace it with the appliance's own.
	if _, _, err := Ensure(dir, []string{"avanti", "10.9.9.9"}, now); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(filepath.Join(dir, ServerCertFile))
	if string(got) != string(certPEM) {
		t.Errorf("the municipal certificate was replaced")
	}
}
