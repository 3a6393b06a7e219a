package server_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"avanti/appliance/clock"
	"avanti/appliance/config"
	"avanti/appliance/demo"
	"avanti/appliance/server"
	"avanti/appliance/testenv"
)

// selfSigned writes a certificate for 127.0.0.1 and its key.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "avanti.comune.local"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature, IsCA: true,
		BasicConstraintsValid: true, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

func TestTheConsoleIsServedOverHTTPSWithSecureCookies(t *testing.T) {
	st := testenv.NewStore(t)
	d, err := demo.Load(context.Background(), st, testenv.Monday, 7)
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	certFile, keyFile, pool := selfSigned(t, t.TempDir())
	cfg.TLSCertFile, cfg.TLSKeyFile = certFile, keyFile
	srv, err := server.New(cfg, st, clock.NewFake(testenv.Monday), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-done })

	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	base := "https://" + ln.Addr().String()
	body := `{"username":"` + d.Credentials.Operator.Username + `","password":"` + d.Credentials.Operator.Password + `"}`
	var resp *http.Response
	for range 50 { // the server may still be starting
		if resp, err = client.Post(base+"/api/v1/auth/login", "application/json", strings.NewReader(body)); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("login over HTTPS: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("login over HTTPS: %d", resp.StatusCode)
	}
	var session *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "avanti_session" {
			session = c
		}
	}
	if session == nil || !session.Secure || !session.HttpOnly {
		t.Errorf("session cookie over HTTPS: %+v, want Secure and HttpOnly", session)
	}
	// Plain HTTP on the same port gets nothing useful.
	if r, err := http.Get("http://" + ln.Addr().String() + "/healthz"); err == nil && r.StatusCode == 200 {
		t.Errorf("the HTTPS port answers plain HTTP")
	}
}

func TestAFreshApplianceMakesItsOwnCertificateAndRedirectsHTTP(t *testing.T) {
	st := testenv.NewStore(t)
	if _, err := demo.Load(context.Background(), st, testenv.Monday, 7); err != nil {
		t.Fatal(err)
	}
	free, _ := net.Listen("tcp", "127.0.0.1:0")
	redirectAddr := free.Addr().String()
	free.Close()
	cfg := config.Default()
	cfg.DataDir, cfg.TLSCertFile, cfg.RedirectHTTP = t.TempDir(), "auto", redirectAddr
	srv, err := server.New(cfg, st, clock.NewFake(testenv.Monday), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-done })

	caFile := filepath.Join(cfg.DataDir, "tls", "ca.crt")
	var caPEM []byte
	for range 100 {
		if caPEM, err = os.ReadFile(caFile); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatalf("no CA made in %s", caFile)
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	base := "https://" + ln.Addr().String()
	var resp *http.Response
	for range 50 {
		if resp, err = client.Get(base + "/healthz"); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("HTTPS with the appliance's CA installed: %v", err)
	}
	resp.Body.Close()
	if !strings.Contains(resp.Header.Get("Strict-Transport-Security"), "max-age=") {
		t.Errorf("no HSTS header over HTTPS")
	}
	resp, err = client.Get(base + "/ca.crt")
	if err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(caPEM)+10)
	n, _ := io.ReadFull(resp.Body, got)
	resp.Body.Close()
	if string(got[:n]) != string(caPEM) {
		t.Errorf("/ca.crt does not offer the CA")
	}
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err = noFollow.Get("http://" + redirectAddr + "/console/?x=1")
	if err != nil {
		t.Fatalf("plain HTTP: %v", err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); resp.StatusCode != 301 || !strings.HasPrefix(loc, "https://") || !strings.HasSuffix(loc, "/console/?x=1") {
		t.Errorf("plain HTTP answers %d %q, want a redirect to HTTPS", resp.StatusCode, loc)
	}
	// A PC that does not trust the appliance yet fetches the CA over HTTP.
	resp, err = noFollow.Get("http://" + redirectAddr + "/ca.crt")
	if err != nil {
		t.Fatalf("plain HTTP /ca.crt: %v", err)
	}
	plainCA, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(plainCA) != string(caPEM) {
		t.Errorf("plain HTTP /ca.crt answers %d %.60q, want the CA certificate", resp.StatusCode, plainCA)
	}
}
