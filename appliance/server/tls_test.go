package server_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"avanti/appliance/clock"
	"avanti/appliance/config"
	"avanti/appliance/demo"
	"avanti/appliance/server"
	"avanti/appliance/testenv"
	"avanti/appliance/tlsca"
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

// municipalPair is a certificate for 127.0.0.1 from a CA of the
// municipality's (not the appliance's), valid from the test clock's day to
// a day after the real now, and its key; the pool trusts that CA only.
func municipalPair(t *testing.T) (certPEM, keyPEM []byte, pool *x509.CertPool) {
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "Comune di Crema CA"},
		NotBefore: testenv.Monday.Add(-48 * time.Hour), NotAfter: time.Now().Add(48 * time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(8), Subject: pkix.Name{CommonName: "avanti.comune.crema.cr.it"},
		NotBefore: testenv.Monday.Add(-24 * time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		DNSNames: []string{"avanti.comune.crema.cr.it"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	pool = x509.NewCertPool()
	pool.AddCert(ca)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), pool
}

func TestAnAdminPutsTheMunicipalCertificateInPlaceOfTheOwnCA(t *testing.T) {
	st := testenv.NewStore(t)
	d, err := demo.Load(context.Background(), st, testenv.Monday, 7)
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.DataDir, cfg.TLSCertFile = t.TempDir(), "auto"
	srv, err := server.New(cfg, st, clock.NewFake(testenv.Monday), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-done })
	base := "https://" + ln.Addr().String()

	var caPEM []byte
	for range 100 {
		if caPEM, err = os.ReadFile(filepath.Join(cfg.DataDir, "tls", "ca.crt")); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	own := x509.NewCertPool()
	if !own.AppendCertsFromPEM(caPEM) {
		t.Fatal("no CA of its own")
	}
	// signIn returns a function sending JSON as the signed-in user.
	signIn := func(user, password string) func(method, path string, body any) (int, []byte) {
		jar, _ := cookiejar.New(nil)
		c := &http.Client{Jar: jar, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: own}}}
		send := func(method, path, csrf string, body any) (int, []byte) {
			b, _ := json.Marshal(body)
			req, _ := http.NewRequest(method, base+path, bytes.NewReader(b))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-CSRF-Token", csrf)
			resp, err := c.Do(req)
			if err != nil {
				t.Fatalf("%s %s: %v", method, path, err)
			}
			defer resp.Body.Close()
			raw, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, raw
		}
		var me struct {
			CSRF string `json:"csrf_token"`
		}
		var st int
		var raw []byte
		for range 50 {
			if st, raw = send("POST", "/api/v1/auth/login", "", map[string]string{"username": user, "password": password}); st == 200 {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if json.Unmarshal(raw, &me) != nil || st != 200 {
			t.Fatalf("login %s: %d %s", user, st, raw)
		}
		return func(method, path string, body any) (int, []byte) { return send(method, path, me.CSRF, body) }
	}
	admin := signIn(d.Credentials.Admin.Username, d.Credentials.Admin.Password)
	operator := signIn(d.Credentials.Operator.Username, d.Credentials.Operator.Password)

	type state struct {
		Managed     bool `json:"managed"`
		Certificate struct {
			Issuer   string   `json:"issuer"`
			Names    []string `json:"names"`
			OwnCA    bool     `json:"own_ca"`
			NotAfter string   `json:"not_after"`
		} `json:"certificate"`
		CAFingerprint string `json:"ca_fingerprint"`
	}
	var got state
	code, raw := admin("GET", "/api/v1/tls", nil)
	if code != 200 || json.Unmarshal(raw, &got) != nil || !got.Managed || !got.Certificate.OwnCA || len(got.CAFingerprint) != 64 ||
		!slices.Contains(got.Certificate.Names, "127.0.0.1") {
		t.Fatalf("GET /tls before: %d %s", code, raw)
	}

	certPEM, keyPEM, municipal := municipalPair(t)
	otherCert, _, _ := municipalPair(t)
	if code, raw := operator("PUT", "/api/v1/tls", map[string]string{"certificate": string(certPEM), "key": string(keyPEM)}); code != 403 {
		t.Errorf("an operator replaces the certificate: %d %s", code, raw)
	}
	for _, bad := range []struct {
		name      string
		cert, key string
		code      string
	}{
		{"a key of another certificate", string(otherCert), string(keyPEM), "certificate_refused"},
		{"no PEM at all", "hello", string(keyPEM), "invalid_certificate"},
		{"no key", string(certPEM), "", "invalid_key"},
	} {
		code, raw := admin("PUT", "/api/v1/tls", map[string]string{"certificate": bad.cert, "key": bad.key})
		if code != 422 || !strings.Contains(string(raw), `"`+bad.code+`"`) {
			t.Errorf("%s: %d %s, want 422 %s", bad.name, code, raw, bad.code)
		}
		if strings.Contains(string(raw), "PRIVATE KEY") {
			t.Errorf("%s: the answer quotes the key: %s", bad.name, raw)
		}
	}
	// Still served with the own CA after the refusals.
	if _, err := (&http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: own}}}).Get(base + "/healthz"); err != nil {
		t.Fatalf("after refused uploads: %v", err)
	}

	code, raw = admin("PUT", "/api/v1/tls", map[string]string{"certificate": string(certPEM), "key": string(keyPEM)})
	if code != 200 || json.Unmarshal(raw, &got) != nil || got.Certificate.OwnCA || !strings.Contains(got.Certificate.Issuer, "Comune di Crema CA") {
		t.Fatalf("upload: %d %s", code, raw)
	}
	// Browsers that trust the municipal CA now reach it, without a restart.
	resp, err := (&http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: municipal}}}).Get(base + "/healthz")
	if err != nil {
		t.Fatalf("HTTPS with the municipal CA: %v", err)
	}
	resp.Body.Close()
	// And a restart does not put the own certificate back.
	if _, _, err := tlsca.Ensure(filepath.Join(cfg.DataDir, "tls"), tlsca.Names(), time.Now()); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(cfg.DataDir, "tls", tlsca.ServerCertFile)); string(b) != string(certPEM) {
		t.Error("the appliance replaced the municipal certificate with its own")
	}
	code, raw = admin("GET", "/api/v1/audit?action=tls_certificate", nil)
	if code != 200 || !strings.Contains(string(raw), "tls_certificate") {
		t.Errorf("the replacement is not in the audit log: %d %.300s", code, raw)
	}
}

// A running appliance renews its own certificate a month before it
// expires, without a restart (the 5-minute job calls RenewCertificate).
func TestTheOwnCertificateIsRenewedWhileServing(t *testing.T) {
	st := testenv.NewStore(t)
	if _, err := demo.Load(context.Background(), st, testenv.Monday, 7); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.DataDir, cfg.TLSCertFile = t.TempDir(), "auto"
	clk := clock.NewFake(testenv.Monday)
	srv, err := server.New(cfg, st, clk, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-done })

	// What the server presents (validity is not the point here: the fake
	// clock runs ahead of the real one).
	served := func() *x509.Certificate {
		t.Helper()
		for range 100 {
			conn, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{InsecureSkipVerify: true})
			if err == nil {
				defer conn.Close()
				return conn.ConnectionState().PeerCertificates[0]
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Fatal("the server does not answer TLS")
		return nil
	}
	first := served()
	if err := srv.RenewCertificate(); err != nil {
		t.Fatal(err)
	}
	if again := served(); again.SerialNumber.Cmp(first.SerialNumber) != 0 {
		t.Errorf("a certificate with a year to go was replaced")
	}
	clk.Advance(first.NotAfter.Sub(clk.Now()) - 20*24*time.Hour) // 20 days before it expires
	if err := srv.RenewCertificate(); err != nil {
		t.Fatal(err)
	}
	renewed := served()
	if renewed.SerialNumber.Cmp(first.SerialNumber) == 0 || !renewed.NotAfter.After(first.NotAfter) {
		t.Errorf("20 days before expiry the server still presents the old certificate (until %v)", renewed.NotAfter)
	}
}
