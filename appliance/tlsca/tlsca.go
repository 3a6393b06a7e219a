// Package tlsca gives the appliance HTTPS with no outside help: at first
// start it makes its own certificate authority and a server certificate
// for its host names and addresses, kept in a directory. The municipality
// installs the CA certificate on its PCs once (the appliance offers it for
// download) and browsers trust the appliance from then on; an admin may
// instead put a certificate from the municipal CA in place.
package tlsca

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"avanti/appliance/atomicfile"
)

// Files in the directory.
const (
	CACertFile     = "ca.crt"
	caKeyFile      = "ca.key"
	ServerCertFile = "server.crt"
	ServerKeyFile  = "server.key"
)

// Lifetimes: the CA lives long (it is installed by hand on every PC), the
// server certificate within what browsers accept (398 days).
const (
	caLifetime     = 20 * 365 * 24 * time.Hour
	serverLifetime = 397 * 24 * time.Hour
	renewBefore    = 30 * 24 * time.Hour
)

// Ensure makes sure dir holds a CA and a server certificate valid for
// names (host names and IP addresses) for at least another month; it makes
// or renews what is missing, expiring or no longer covers every name. A
// server certificate not signed by the directory's CA (one from the
// municipal CA, put there by an admin) is left alone. It returns the paths
// of the server certificate and key.
func Ensure(dir string, names []string, now time.Time) (certFile, keyFile string, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", fmt.Errorf("tls directory: %w", err)
	}
	certFile, keyFile = filepath.Join(dir, ServerCertFile), filepath.Join(dir, ServerKeyFile)
	ca, caKey, err := loadOrMakeCA(dir, now)
	if err != nil {
		return "", "", err
	}
	if cur, err := loadCert(certFile); err == nil {
		if cur.CheckSignatureFrom(ca) != nil {
			return certFile, keyFile, nil // the municipality's own certificate
		}
		if now.Add(renewBefore).Before(cur.NotAfter) && covers(cur, names) {
			return certFile, keyFile, nil
		}
	}
	if err := makeServer(dir, ca, caKey, names, now); err != nil {
		return "", "", err
	}
	return certFile, keyFile, nil
}

// Fingerprint is the SHA-256 of the CA certificate, for people to compare
// with what their browser shows.
func Fingerprint(dir string) (string, error) {
	c, err := loadCert(filepath.Join(dir, CACertFile))
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(c.Raw)
	return hex.EncodeToString(sum[:]), nil
}

// Names are the appliance's host name and the addresses of its interfaces:
// what people type to reach it.
func Names() []string {
	var out []string
	if h, err := os.Hostname(); err == nil && h != "" {
		out = append(out, h)
	}
	out = append(out, "localhost")
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && !ipn.IP.IsLinkLocalUnicast() {
			out = append(out, ipn.IP.String())
		}
	}
	return out
}

func covers(c *x509.Certificate, names []string) bool {
	for _, n := range names {
		if c.VerifyHostname(n) != nil {
			return false
		}
	}
	return true
}

func loadCert(path string) (*x509.Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "CERTIFICATE" {
		return nil, errors.New("tlsca: " + path + " holds no certificate")
	}
	return x509.ParseCertificate(blk.Bytes)
}

func loadOrMakeCA(dir string, now time.Time) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	certPath, keyPath := filepath.Join(dir, CACertFile), filepath.Join(dir, caKeyFile)
	if c, err := loadCert(certPath); err == nil {
		b, err := os.ReadFile(keyPath)
		if err != nil {
			return nil, nil, fmt.Errorf("tlsca: CA key: %w", err)
		}
		blk, _ := pem.Decode(b)
		if blk == nil {
			return nil, nil, errors.New("tlsca: CA key file holds no key")
		}
		k, err := x509.ParseECPrivateKey(blk.Bytes)
		if err != nil {
			return nil, nil, fmt.Errorf("tlsca: CA key: %w", err)
		}
		return c, k, nil
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	host, _ := os.Hostname()
	tmpl := &x509.Certificate{SerialNumber: serial(), Subject: pkix.Name{CommonName: "Avanti CA " + host, Organization: []string{"Avanti appliance"}},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(caLifetime), IsCA: true, BasicConstraintsValid: true,
		MaxPathLenZero: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("tlsca: make CA: %w", err)
	}
	if err := writePEM(keyPath, "EC PRIVATE KEY", must(x509.MarshalECPrivateKey(key)), 0o600); err != nil {
		return nil, nil, err
	}
	if err := writePEM(certPath, "CERTIFICATE", der, 0o644); err != nil {
		return nil, nil, err
	}
	c, err := x509.ParseCertificate(der)
	return c, key, err
}

func makeServer(dir string, ca *x509.Certificate, caKey *ecdsa.PrivateKey, names []string, now time.Time) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{SerialNumber: serial(), Subject: pkix.Name{CommonName: firstOr(names, "avanti")},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(serverLifetime),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	for _, n := range slices.Compact(slices.Sorted(slices.Values(names))) {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if n != "" {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return fmt.Errorf("tlsca: make server certificate: %w", err)
	}
	// Key first: a certificate without its key would be served to nobody.
	if err := writePEM(filepath.Join(dir, ServerKeyFile), "EC PRIVATE KEY", must(x509.MarshalECPrivateKey(key)), 0o600); err != nil {
		return err
	}
	chain := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw})...)
	return writeFile(filepath.Join(dir, ServerCertFile), chain, 0o644)
}

// Install puts a certificate (chain) and key from the municipal CA in
// place of the appliance's own, after checking that they match and are
// valid now.
func Install(dir string, certPEM, keyPEM []byte, now time.Time) error {
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return fmt.Errorf("tlsca: the certificate and key do not belong together: %w", err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return fmt.Errorf("tlsca: certificate: %w", err)
	}
	if now.Before(leaf.NotBefore) || now.After(leaf.NotAfter) {
		return errors.New("tlsca: the certificate is not valid now")
	}
	if err := writeFile(filepath.Join(dir, ServerKeyFile), keyPEM, 0o600); err != nil {
		return err
	}
	return writeFile(filepath.Join(dir, ServerCertFile), certPEM, 0o644)
}

func writePEM(path, typ string, der []byte, mode os.FileMode) error {
	return writeFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), mode)
}

// writeFile replaces a file atomically: a crash never leaves half a key.
func writeFile(path string, b []byte, mode os.FileMode) error {
	if err := atomicfile.Write(path, b, mode); err != nil {
		return fmt.Errorf("tlsca: write %s: %w", path, err)
	}
	return nil
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	return n
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err) // marshalling a key we just made cannot fail
	}
	return b
}

func firstOr(s []string, def string) string {
	if len(s) > 0 && s[0] != "" {
		return s[0]
	}
	return def
}

// Reloader serves the certificate in certFile/keyFile and notices when
// they change on disk (a renewal, an admin's upload) without a restart.
type Reloader struct {
	certFile, keyFile string
	mu                sync.Mutex
	cur               *tls.Certificate
	mod               time.Time
}

// NewReloader loads the pair once, failing if it cannot.
func NewReloader(certFile, keyFile string) (*Reloader, error) {
	r := &Reloader{certFile: certFile, keyFile: keyFile}
	if _, err := r.GetCertificate(nil); err != nil {
		return nil, err
	}
	return r, nil
}

// GetCertificate is for tls.Config.GetCertificate.
func (r *Reloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	st, err := os.Stat(r.certFile)
	if err == nil && r.cur != nil && !st.ModTime().After(r.mod) {
		return r.cur, nil
	}
	pair, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		if r.cur != nil {
			return r.cur, nil // keep serving the last good one
		}
		return nil, fmt.Errorf("tlsca: load certificate: %w", err)
	}
	r.cur = &pair
	if st != nil {
		r.mod = st.ModTime()
	}
	return r.cur, nil
}
