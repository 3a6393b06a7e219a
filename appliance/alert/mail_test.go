package alert_test

import (
	"context"
	"io"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"strings"
	"testing"
	"time"

	"avanti/appliance/alert"
	"avanti/appliance/alert/smtptest"
)

func TestSendOverEachKindOfConnection(t *testing.T) {
	for _, tc := range []struct {
		name   string
		server smtptest.Options
		tls    string
	}{
		{"STARTTLS with AUTH PLAIN", smtptest.Options{TLS: "starttls", User: "avanti", Password: password}, "starttls"},
		{"implicit TLS with AUTH LOGIN only", smtptest.Options{TLS: "tls", User: "avanti", Password: password, OnlyLogin: true}, "tls"},
		{"LAN relay without TLS or login", smtptest.Options{}, "none"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := smtptest.Start(t, tc.server)
			c := alert.MailConfig{Host: s.Host, Port: s.Port, TLS: tc.tls, CAFile: s.CAFile,
				Username: tc.server.User, Password: alert.Secret(tc.server.Password),
				From: "Comune di Crema – Avanti <avanti@comune.crema.example>", To: []string{"ced@comune.crema.example"}}
			now := time.Date(2026, 3, 10, 9, 30, 0, 0, time.FixedZone("CET", 3600))
			msg := alert.Message{Subject: "Perché il backup è fermo? – città", Body: "Già: l'attività è più lenta.\nSecond line, and a long one that quoted-printable has to wrap because it goes on past seventy-six characters.\n"}
			if err := alert.Send(context.Background(), c, msg, now); err != nil {
				t.Fatalf("send: %v\nserver: %s", err, s.Log())
			}
			got := s.Messages(t)
			if len(got) != 1 {
				t.Fatalf("%d messages", len(got))
			}
			m := got[0]
			if m.TLS != (tc.tls != "none") || m.Authenticated != (tc.server.User != "") || m.Login != tc.server.User {
				t.Errorf("TLS %v, authenticated %v as %q", m.TLS, m.Authenticated, m.Login)
			}
			if m.From != "avanti@comune.crema.example" || strings.Join(m.To, ",") != "ced@comune.crema.example" {
				t.Errorf("envelope from %s to %v", m.From, m.To)
			}
			for _, line := range strings.Split(m.Data, "\n") {
				if len(line) > 78 {
					t.Errorf("line longer than 78: %q", line)
				}
				for _, r := range line {
					if r > 127 {
						t.Fatalf("8-bit data in a 7-bit message: %q", line)
					}
				}
			}
			p, err := m.Parsed()
			if err != nil {
				t.Fatal(err)
			}
			h := p.Header
			if subj, _ := new(mime.WordDecoder).DecodeHeader(h.Get("Subject")); subj != msg.Subject {
				t.Errorf("subject %q", subj)
			}
			if from, err := mail.ParseAddress(h.Get("From")); err != nil || from.Name != "Comune di Crema – Avanti" {
				t.Errorf("From %q: %v", h.Get("From"), err)
			}
			if d, err := h.Date(); err != nil || !d.Equal(now) {
				t.Errorf("Date %q: %v", h.Get("Date"), err)
			}
			if id := h.Get("Message-Id"); !strings.HasPrefix(id, "<") || !strings.HasSuffix(id, "@comune.crema.example>") {
				t.Errorf("Message-ID %q", id)
			}
			if h.Get("Auto-Submitted") != "auto-generated" || !strings.Contains(h.Get("Content-Type"), "charset=utf-8") {
				t.Errorf("headers %v", h)
			}
			body, _ := io.ReadAll(quotedprintable.NewReader(p.Body))
			if strings.ReplaceAll(string(body), "\r\n", "\n") != msg.Body {
				t.Errorf("body %q", body)
			}
		})
	}
}

func TestSendRefusesWhatWouldExposeThePassword(t *testing.T) {
	plain := smtptest.Start(t, smtptest.Options{}) // offers no STARTTLS
	tlsServer := smtptest.Start(t, smtptest.Options{TLS: "starttls", User: "avanti", Password: password})
	base := alert.MailConfig{From: "avanti@comune.example.it", To: []string{"ced@comune.example.it"}}
	for _, tc := range []struct {
		name string
		set  func(c *alert.MailConfig)
		want string
	}{
		{"STARTTLS wanted but not offered", func(c *alert.MailConfig) {
			c.Host, c.Port, c.Username, c.Password = plain.Host, plain.Port, "avanti", password
		}, "does not offer STARTTLS"},
		{"login over plaintext", func(c *alert.MailConfig) {
			c.Host, c.Port, c.TLS, c.Username, c.Password = plain.Host, plain.Port, "none", "avanti", password
		}, "no password is sent without TLS"},
		{"certificate of an unknown CA", func(c *alert.MailConfig) {
			c.Host, c.Port, c.Username, c.Password = tlsServer.Host, tlsServer.Port, "avanti", password
		}, "certificate"},
		{"wrong password", func(c *alert.MailConfig) {
			c.Host, c.Port, c.CAFile, c.Username, c.Password = tlsServer.Host, tlsServer.Port, tlsServer.CAFile, "avanti", password+"x"
		}, "535"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := base
			tc.set(&c)
			err := alert.Send(context.Background(), c, alert.Message{Subject: "x", Body: "x"}, time.Now())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
			assertNoPassword(t, err.Error())
		})
	}
	if n := len(plain.Messages(t)) + len(tlsServer.Messages(t)); n != 0 {
		t.Fatalf("%d messages delivered", n)
	}
}

func TestMailConfigValidate(t *testing.T) {
	ok := alert.MailConfig{Host: "smtp.example", From: "avanti@example.it", To: []string{"a@example.it"}}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	// No mail.to: the administrators' addresses may be all the recipients.
	if err := (alert.MailConfig{Host: "smtp.example", From: "avanti@example.it"}).Validate(); err != nil {
		t.Fatalf("without to: %v", err)
	}
	for _, tc := range []struct {
		set  func(c *alert.MailConfig)
		want string
	}{
		{func(c *alert.MailConfig) { c.TLS = "ssl" }, "tls:"},
		{func(c *alert.MailConfig) { c.From = "" }, "from:"},
		{func(c *alert.MailConfig) { c.From = "avanti@example.it\r\nBcc: x@evil.example" }, "from:"},
		{func(c *alert.MailConfig) { c.To = []string{"not an address"} }, "to:"},
		{func(c *alert.MailConfig) { c.TLS, c.Username = "none", "avanti" }, "username:"},
		{func(c *alert.MailConfig) { c.Password = "x" }, "password:"},
		{func(c *alert.MailConfig) { c.CAFile = "/nonexistent/ca.pem" }, "ca_file"},
		{func(c *alert.MailConfig) { c.Port = 70000 }, "port:"},
	} {
		c := ok
		c.To = append([]string(nil), ok.To...)
		tc.set(&c)
		if err := c.Validate(); err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%+v: err %v, want %s…", c, err, tc.want)
		}
	}
}
