package console_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"avanti/appliance/browsertest"
	"avanti/appliance/server"
	"avanti/appliance/testenv"
	"avanti/console"
	"avanti/signage"
)

// municipalPair is a certificate for the appliance's names signed by a CA
// of the municipality (not the appliance's), and its key, as PEM.
func municipalPair(t *testing.T, now time.Time) (certPEM, keyPEM string) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "CA del Comune di Crema", Organization: []string{"Comune di Crema"}},
		NotBefore: now.Add(-24 * time.Hour), NotAfter: now.AddDate(5, 0, 0), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTpl, caTpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "avanti.comune.crema.cr.it"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(1, 0, 0), DNSNames: []string{"avanti.comune.crema.cr.it"},
		IPAddresses: []net.IP{net.ParseIP("10.20.0.5")}, KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})) + string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}))
	return certPEM, string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
}

// The admin sees the appliance's own certificate and its CA to install on
// the PCs; a certificate with another certificate's key is refused next
// to the certificate; the municipal pair, chosen as files, is installed
// and the page shows the municipal issuer. An operator cannot open the page.
func TestAdminPutsTheMunicipalCertificateInPlace(t *testing.T) {
	t.Parallel()
	env := testenv.NewServer(t, testenv.Options{OwnCA: true, Mounts: server.Mounts{"/console/": console.Handler(), "/display/": signage.Handler()}})
	cr := env.Demo.Credentials
	b := signIn(t, env, cr.Admin, "tls")
	b.WaitFor("the certificate", `document.body.dataset.tlsSource === "own"`, 5*time.Second)
	if got := b.Text("#tls-source"); !strings.Contains(got, "autorità di certificazione dell'appliance") {
		t.Errorf("source of the appliance's own certificate: %q", got)
	}
	if got := b.Text("#tls-names"); !strings.Contains(got, "avanti.comune.local") || !strings.Contains(got, "127.0.0.1") {
		t.Errorf("names: %q", got)
	}
	if got := b.Text("#tls-not-after"); !strings.Contains(got, "/2027") {
		t.Errorf("valid until: %q", got)
	}
	if fp := b.Text("#tls-fingerprint"); len(fp) != 95 || strings.Count(fp, ":") != 31 {
		t.Errorf("CA fingerprint: %q", fp)
	}
	if got := browsertest.Eval[string](b, `document.getElementById("tls-ca-download").getAttribute("href")`); got != "/ca.crt" {
		t.Errorf("CA download link: %q", got)
	}
	if got := b.Text("#tls-ca"); !strings.Contains(got, "Autorità di certificazione radice attendibili") {
		t.Errorf("how to install the CA: %q", got)
	}
	if st, raw := env.Login(t, cr.Admin.Username, cr.Admin.Password).Do("GET", "/ca.crt", nil); st != 200 || !strings.Contains(string(raw), "BEGIN CERTIFICATE") {
		t.Errorf("/ca.crt: %d %.80s", st, raw)
	}
	b.Axe("HTTPS certificate, the appliance's own")
	b.Screenshot("console-tls-own")

	cert, key := municipalPair(t, env.Clock.Now())
	_, otherKey := municipalPair(t, env.Clock.Now())

	// Another certificate's key, pasted: refused, said at the certificate.
	b.Fill("#tls-certificate", cert)
	b.Fill("#tls-key", otherKey)
	b.Click("#tls-form button[type=submit]")
	b.WaitFor("the certificate's error", `document.getElementById("tls-certificate").getAttribute("aria-invalid") === "true"`, 5*time.Second)
	if got := b.Text("#tls-certificate-hint ~ .field-error"); !strings.Contains(got, "la chiave non è quella del certificato") {
		t.Errorf("mismatched pair: %q; page: %s", got, b.State())
	}
	if got := browsertest.Eval[string](b, `document.body.dataset.tlsSource`); got != "own" {
		t.Errorf("after a refused pair the page shows a %q certificate", got)
	}
	// Not a key at all: said at the key.
	b.Fill("#tls-key", "chiave")
	b.Click("#tls-form button[type=submit]")
	b.WaitFor("the key's error", `document.getElementById("tls-key").getAttribute("aria-invalid") === "true"`, 5*time.Second)
	if got := b.Text("#tls-key-hint ~ .field-error"); !strings.Contains(got, "chiave privata PEM") {
		t.Errorf("not a key: %q", got)
	}
	b.Axe("HTTPS certificate with errors")
	b.Screenshot("console-tls-refused")

	// The right pair, chosen as files.
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "avanti.crt"), filepath.Join(dir, "avanti.key")
	if err := os.WriteFile(certFile, []byte(cert), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, []byte(key), 0o600); err != nil {
		t.Fatal(err)
	}
	for sel, file := range map[string]string{"#tls-cert-file": certFile, "#tls-key-file": keyFile} {
		if _, err := chromedp.Run(b.Ctx, chromedp.SetUploadFiles(sel, []string{file})); err != nil {
			t.Fatal(err)
		}
	}
	b.WaitFor("the files read", `document.getElementById("tls-key").value.includes("BEGIN PRIVATE KEY") && document.getElementById("tls-certificate").value.startsWith("-----BEGIN CERTIFICATE-----")`, 5*time.Second)
	b.Click("#tls-form button[type=submit]")
	b.WaitFor("the municipal certificate", `document.body.dataset.tlsSource === "municipal"`, 5*time.Second)
	if got := b.Text("#tls-issuer"); !strings.Contains(got, "CA del Comune di Crema") {
		t.Errorf("issuer: %q", got)
	}
	if got := b.Text("#tls-names"); got != "avanti.comune.crema.cr.it, 10.20.0.5" {
		t.Errorf("names: %q", got)
	}
	if got := b.Text("#tls-source"); !strings.Contains(got, "del Comune") {
		t.Errorf("source: %q", got)
	}
	if browsertest.Eval[bool](b, `!document.getElementById("tls-ca").hidden`) {
		t.Errorf("the appliance's CA is still offered for the PCs")
	}
	if got := browsertest.Eval[string](b, `document.getElementById("tls-key").value`); got != "" {
		t.Errorf("the key stays on the page after installing")
	}
	if got := b.Text("#notice"); !strings.Contains(got, "Certificato installato") {
		t.Errorf("notice: %q", got)
	}
	served, err := os.ReadFile(filepath.Join(env.Server.Config.DataDir, "tls", "server.crt"))
	if err != nil || string(served) != cert {
		t.Errorf("the appliance does not serve the municipal certificate: %v", err)
	}
	b.Axe("HTTPS certificate of the municipality")
	b.Screenshot("console-tls-municipal")

	// The operator: "non autorizzato", and the API refuses too.
	op := signIn(t, env, cr.Operator, "tls")
	if got := ready(op); got != "forbidden" {
		t.Errorf("/console/tls as operator: %s", got)
	}
	if requested(op, "/api/v1/tls") {
		t.Errorf("the operator's page asked for the certificate")
	}
	if st, raw := staff(t, env, cr.Operator).Do("PUT", "/api/v1/tls", map[string]string{"certificate": cert, "key": key}); st != 403 {
		t.Errorf("PUT /api/v1/tls as operator: %d %s", st, raw)
	}
}

// Without a certificate of the appliance's own there is no form: the page
// says why (the test server speaks plain HTTP, as `make run` does; behind
// HTTPS with a certificate named in the settings it says that instead).
func TestCertificateSetInTheSettingsHasNoForm(t *testing.T) {
	t.Parallel()
	env := newAppliance(t)
	b := signIn(t, env, env.Demo.Credentials.Admin, "tls")
	b.WaitFor("the page", `document.body.dataset.tls === "settings"`, 5*time.Second)
	if got := b.Text("#tls-plain"); !strings.Contains(got, "HTTP semplice") || !strings.Contains(got, "tls_cert_file") {
		t.Errorf("plain HTTP: %q", got)
	}
	if browsertest.Eval[bool](b, `!document.getElementById("tls-unmanaged").hidden`) {
		t.Errorf("a plain-HTTP appliance says its certificate is named in the settings")
	}
	if browsertest.Eval[bool](b, `!!document.getElementById("tls-form").getClientRects().length`) {
		t.Errorf("the upload form is shown")
	}
	b.Axe("HTTPS certificate set in the settings")
}
