package api

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"avanti/appliance/fault"
	"avanti/appliance/tlsca"
)

// The certificate the appliance serves HTTPS with: its own CA's by default
// (tls_cert_file: auto); an admin may put one from the municipal CA in its
// place, which the server picks up without a restart and the appliance
// never renews over.

type certInfo struct {
	Subject   string    `json:"subject"`
	Issuer    string    `json:"issuer"`
	Names     []string  `json:"names"`
	NotBefore time.Time `json:"not_before"`
	NotAfter  time.Time `json:"not_after"`
	OwnCA     bool      `json:"own_ca"` // signed by the appliance's own CA
}

type tlsState struct {
	Managed       bool      `json:"managed"` // tls_cert_file is auto: the certificate below can be replaced here
	Certificate   *certInfo `json:"certificate,omitempty"`
	CAFingerprint string    `json:"ca_fingerprint,omitempty"` // SHA-256 of /ca.crt, for people to compare
}

func (a *API) tlsState() (tlsState, error) {
	if a.opt.TLSDir == "" {
		return tlsState{}, nil
	}
	st := tlsState{Managed: true}
	st.CAFingerprint, _ = tlsca.Fingerprint(a.opt.TLSDir)
	b, err := os.ReadFile(filepath.Join(a.opt.TLSDir, tlsca.ServerCertFile))
	if errors.Is(err, os.ErrNotExist) {
		return st, nil
	} else if err != nil {
		return st, err
	}
	chain := parseChain(b)
	if len(chain) == 0 {
		return st, nil
	}
	leaf := chain[0]
	info := &certInfo{Subject: leaf.Subject.String(), Issuer: leaf.Issuer.String(), NotBefore: leaf.NotBefore, NotAfter: leaf.NotAfter,
		Names: append([]string{}, leaf.DNSNames...)}
	for _, ip := range leaf.IPAddresses {
		info.Names = append(info.Names, ip.String())
	}
	if caPEM, err := os.ReadFile(filepath.Join(a.opt.TLSDir, tlsca.CACertFile)); err == nil {
		if ca := parseChain(caPEM); len(ca) > 0 && leaf.CheckSignatureFrom(ca[0]) == nil {
			info.OwnCA = true
		}
	}
	st.Certificate = info
	return st, nil
}

func parseChain(b []byte) []*x509.Certificate {
	var out []*x509.Certificate
	for {
		var blk *pem.Block
		if blk, b = pem.Decode(b); blk == nil {
			return out
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		if c, err := x509.ParseCertificate(blk.Bytes); err == nil {
			out = append(out, c)
		}
	}
}

func (a *API) getTLS(c echo.Context) error {
	st, err := a.tlsState()
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, st)
}

type tlsUpload struct {
	Certificate string `json:"certificate"` // PEM, the server certificate first, then intermediates
	Key         string `json:"key"`         // PEM private key
}

// putTLS installs a certificate and key from the municipal CA.
func (a *API) putTLS(c echo.Context) error {
	if a.opt.TLSDir == "" {
		return fault.New(fault.Conflict, "tls_not_managed", "this appliance serves a certificate configured in its settings (tls_cert_file); change it there")
	}
	var req tlsUpload
	if err := decode(c, &req); err != nil {
		return err
	}
	if !strings.Contains(req.Certificate, "-----BEGIN CERTIFICATE-----") {
		return fault.Field("certificate", "invalid_certificate", "the certificate is a PEM file (-----BEGIN CERTIFICATE-----)")
	}
	if !strings.Contains(req.Key, "PRIVATE KEY-----") {
		return fault.Field("key", "invalid_key", "the key is the certificate's private key as an unencrypted PEM file")
	}
	chain := parseChain([]byte(req.Certificate))
	if len(chain) == 0 {
		return fault.Field("certificate", "invalid_certificate", "the certificate cannot be read")
	}
	if len(chain[0].DNSNames) == 0 && len(chain[0].IPAddresses) == 0 {
		return fault.Field("certificate", "no_names", "the certificate names no host (subject alternative names): browsers would refuse it")
	}
	if err := tlsca.Install(a.opt.TLSDir, []byte(req.Certificate), []byte(req.Key), a.now()); err != nil {
		// Install's errors are about what was sent (pair, validity), never
		// about the key's content.
		return fault.Field("certificate", "certificate_refused", strings.TrimPrefix(err.Error(), "tlsca: "))
	}
	st, err := a.tlsState()
	if err != nil {
		return err
	}
	a.log.Info("HTTPS certificate replaced", "by", principal(c).Name(), "subject", st.Certificate.Subject, "not_after", st.Certificate.NotAfter)
	a.audit(c, "tls_certificate", "appliance", 0, nil,
		map[string]any{"subject": st.Certificate.Subject, "issuer": st.Certificate.Issuer, "not_after": st.Certificate.NotAfter})
	return c.JSON(http.StatusOK, st)
}
