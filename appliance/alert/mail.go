// Package alert tells the appliance's administrators by e-mail when
// something needs them, such as backups that are no longer verified.
//
// Mail goes out with the standard library's net/smtp: the alerts are short
// plain-text messages to a handful of addresses, which needs only correct
// headers (RFC 5322 Date and Message-ID, an RFC 2047 subject) and
// quoted-printable UTF-8, not a mail library with its own dependencies. What
// net/smtp lacks, AUTH LOGIN (all some Exchange servers offer), is below.
package alert

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// MailConfig is how the appliance sends e-mail: the municipality's SMTP
// server (or a relay on the LAN) and who receives the alerts.
type MailConfig struct {
	Host     string   `yaml:"host"` // empty: no e-mail
	Port     int      `yaml:"port"` // default 587; 465 with tls: tls, 25 with tls: none
	From     string   `yaml:"from"`
	Username string   `yaml:"username"`
	Password Secret   `yaml:"password"` // also AVANTI_MAIL_PASSWORD
	TLS      string   `yaml:"tls"`      // starttls (default), tls (implicit), none (LAN relay, no AUTH)
	CAFile   string   `yaml:"ca_file"`  // PEM CA certificates to trust besides the system's
	To       []string `yaml:"to"`       // who receives the alerts besides the active admins' addresses
}

// Secret is a string that never shows in logs, errors or dumps.
type Secret string

const redactedText = "[redacted]"

func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redactedText
}

// GoString keeps %#v from showing it.
func (s Secret) GoString() string { return strconv.Quote(s.String()) }

// LogValue keeps slog from showing it.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalJSON keeps JSON dumps of a configuration from showing it.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(strconv.Quote(s.String())), nil }

// MarshalYAML keeps YAML dumps of a configuration from showing it.
func (s Secret) MarshalYAML() (any, error) { return s.String(), nil }

// Enabled says whether e-mail is configured.
func (c MailConfig) Enabled() bool { return c.Host != "" }

func (c MailConfig) mode() string {
	if c.TLS == "" {
		return "starttls"
	}
	return c.TLS
}

func (c MailConfig) addr() string {
	port := c.Port
	if port == 0 {
		switch c.mode() {
		case "tls":
			port = 465
		case "none":
			port = 25
		default:
			port = 587
		}
	}
	return net.JoinHostPort(c.Host, strconv.Itoa(port))
}

// Validate checks a configuration with a host.
func (c MailConfig) Validate() error {
	switch c.mode() {
	case "starttls", "tls", "none":
	default:
		return fmt.Errorf("tls: must be starttls, tls or none, not %q", c.TLS)
	}
	if c.Port < 0 || c.Port > 65535 {
		return fmt.Errorf("port: must be 1 to 65535")
	}
	if c.mode() == "none" && c.Username != "" {
		return fmt.Errorf("username: no password is sent without TLS (tls: none is for a relay on the LAN that needs no login)")
	}
	if c.Username == "" && c.Password != "" {
		return fmt.Errorf("password: set username too")
	}
	if c.From == "" {
		return fmt.Errorf("from: required")
	}
	if _, err := mail.ParseAddress(c.From); err != nil {
		return fmt.Errorf("from: %w", err)
	}
	// To may be empty: the administrators' addresses (in the console) may
	// be all the recipients.
	for _, a := range c.To {
		if _, err := mail.ParseAddress(a); err != nil {
			return fmt.Errorf("to: %q: %w", a, err)
		}
	}
	if c.CAFile != "" {
		if _, err := c.tlsConfig(); err != nil {
			return err
		}
	}
	return nil
}

// Message is one e-mail's content.
type Message struct {
	Subject string
	Body    string // plain text
}

// sendTimeout bounds one delivery, from dial to QUIT.
const sendTimeout = time.Minute

// Send delivers msg to every recipient in c.To (WithRecipients adds the
// administrators'). Its errors never contain
// the password.
func Send(ctx context.Context, c MailConfig, msg Message, now time.Time) error {
	if err := send(ctx, c, msg, now); err != nil {
		return redact(err, string(c.Password))
	}
	return nil
}

func send(ctx context.Context, c MailConfig, msg Message, now time.Time) error {
	if !c.Enabled() {
		return errors.New("mail: no host configured")
	}
	if err := c.Validate(); err != nil {
		return fmt.Errorf("mail: %w", err)
	}
	if len(c.To) == 0 {
		return errors.New("mail: no recipient (mail.to, or an active administrator's e-mail address)")
	}
	from, _ := mail.ParseAddress(c.From)
	if from.Name == "" {
		from.Name = "Avanti"
	}
	var to []*mail.Address
	seen := map[string]bool{}
	for _, s := range c.To {
		a, _ := mail.ParseAddress(s)
		if k := strings.ToLower(a.Address); !seen[k] {
			seen[k] = true
			to = append(to, a)
		}
	}
	data, err := compose(from, to, msg, now)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, sendTimeout)
	defer cancel()
	tlsConf, err := c.tlsConfig()
	if err != nil {
		return err
	}
	addr := c.addr()
	var conn net.Conn
	d := &net.Dialer{Timeout: 30 * time.Second}
	if c.mode() == "tls" {
		conn, err = (&tls.Dialer{NetDialer: d, Config: tlsConf}).DialContext(ctx, "tcp", addr)
	} else {
		conn, err = d.DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return fmt.Errorf("smtp %s: %w", addr, err)
	}
	defer conn.Close()
	// net/smtp has no context: the deadline and a cancelled ctx end the
	// conversation by failing its reads and writes.
	deadline, _ := ctx.Deadline()
	conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	cl, err := smtp.NewClient(conn, c.Host)
	if err != nil {
		return fmt.Errorf("smtp %s: greeting: %w", addr, err)
	}
	defer cl.Close()
	if err := cl.Hello(helloName()); err != nil {
		return fmt.Errorf("smtp %s: EHLO: %w", addr, err)
	}
	if c.mode() == "starttls" {
		if ok, _ := cl.Extension("STARTTLS"); !ok {
			return fmt.Errorf("smtp %s: the server does not offer STARTTLS (tls: tls for port 465, or none for a relay on the LAN)", addr)
		}
		if err := cl.StartTLS(tlsConf); err != nil {
			return fmt.Errorf("smtp %s: STARTTLS: %w", addr, err)
		}
	}
	if c.Username != "" {
		a, err := c.auth(cl)
		if err != nil {
			return fmt.Errorf("smtp %s: %w", addr, err)
		}
		if err := cl.Auth(a); err != nil {
			return fmt.Errorf("smtp %s: login as %s: %w", addr, c.Username, err)
		}
	}
	if err := cl.Mail(from.Address); err != nil {
		return fmt.Errorf("smtp %s: MAIL FROM: %w", addr, err)
	}
	for _, a := range to {
		if err := cl.Rcpt(a.Address); err != nil {
			return fmt.Errorf("smtp %s: RCPT TO %s: %w", addr, a.Address, err)
		}
	}
	w, err := cl.Data()
	if err != nil {
		return fmt.Errorf("smtp %s: DATA: %w", addr, err)
	}
	if _, err := w.Write(data); err != nil {
		return fmt.Errorf("smtp %s: DATA: %w", addr, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("smtp %s: message refused: %w", addr, err)
	}
	cl.Quit() // delivered; a failed QUIT changes nothing
	return nil
}

func (c MailConfig) tlsConfig() (*tls.Config, error) {
	conf := &tls.Config{ServerName: c.Host, MinVersion: tls.VersionTLS12}
	if c.CAFile == "" {
		return conf, nil
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	pem, err := os.ReadFile(c.CAFile)
	if err != nil {
		return nil, fmt.Errorf("ca_file: %w", err)
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("ca_file %s: no PEM certificate in it", c.CAFile)
	}
	conf.RootCAs = pool
	return conf, nil
}

// auth picks PLAIN, or LOGIN when the server offers only that.
func (c MailConfig) auth(cl *smtp.Client) (smtp.Auth, error) {
	ok, list := cl.Extension("AUTH")
	if !ok {
		return nil, errors.New("the server offers no AUTH (is username needed?)")
	}
	mechs := strings.Fields(strings.ToUpper(list))
	switch {
	case slices.Contains(mechs, "PLAIN"):
		return smtp.PlainAuth("", c.Username, string(c.Password), c.Host), nil
	case slices.Contains(mechs, "LOGIN"):
		return &loginAuth{user: c.Username, pass: string(c.Password)}, nil
	}
	return nil, fmt.Errorf("the server offers AUTH %s; only PLAIN and LOGIN are supported", list)
}

// loginAuth is the AUTH LOGIN mechanism (draft-murchison-sasl-login).
type loginAuth struct {
	user, pass string
	step       int
}

func (a *loginAuth) Start(s *smtp.ServerInfo) (string, []byte, error) {
	if !s.TLS {
		return "", nil, errors.New("refusing to send the password over an unencrypted connection")
	}
	a.step = 0
	return "LOGIN", nil, nil
}

func (a *loginAuth) Next(_ []byte, more bool) ([]byte, error) {
	if !more {
		return nil, nil
	}
	// The prompts ("Username:", "Password:") vary between servers; their
	// order does not.
	a.step++
	switch a.step {
	case 1:
		return []byte(a.user), nil
	case 2:
		return []byte(a.pass), nil
	}
	return nil, errors.New("AUTH LOGIN: unexpected challenge")
}

func helloName() string {
	if h, err := os.Hostname(); err == nil && h != "" {
		return h
	}
	return "localhost"
}

// compose writes the message: RFC 5322 headers, an RFC 2047 subject,
// quoted-printable UTF-8 text.
func compose(from *mail.Address, to []*mail.Address, msg Message, now time.Time) ([]byte, error) {
	id := make([]byte, 16)
	rand.Read(id)
	domain := "avanti.invalid"
	if _, d, ok := strings.Cut(from.Address, "@"); ok && d != "" {
		domain = d
	}
	rcpts := make([]string, len(to))
	for i, a := range to {
		rcpts[i] = a.String()
	}
	var b bytes.Buffer
	h := func(k, v string) { b.WriteString(fold(k+": "+v) + "\r\n") }
	h("From", from.String())
	h("To", strings.Join(rcpts, ", "))
	h("Subject", mime.QEncoding.Encode("utf-8", msg.Subject))
	h("Date", now.Format(time.RFC1123Z))
	h("Message-ID", "<"+hex.EncodeToString(id)+"@"+domain+">")
	h("MIME-Version", "1.0")
	h("Content-Type", "text/plain; charset=utf-8")
	h("Content-Transfer-Encoding", "quoted-printable")
	h("Auto-Submitted", "auto-generated") // RFC 3834: no out-of-office replies
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	body := strings.ReplaceAll(strings.ReplaceAll(msg.Body, "\r\n", "\n"), "\n", "\r\n")
	if _, err := qp.Write([]byte(body)); err != nil {
		return nil, err
	}
	if err := qp.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// fold breaks a header line at spaces to keep lines within 78 characters
// (RFC 5322 2.2.3); mime's encoded words are at most 75 long, with spaces
// between them.
func fold(line string) string {
	var b strings.Builder
	n := 0
	for i, w := range strings.Split(line, " ") {
		switch {
		case i == 0:
		case n+1+len(w) > 78:
			b.WriteString("\r\n")
			n = 0
			fallthrough
		default:
			b.WriteByte(' ')
			n++
		}
		b.WriteString(w)
		n += len(w)
	}
	return b.String()
}

// redact takes the password, plain or in base64 as AUTH sends it, out of
// an error's text. The result wraps nothing, so that no caller can reach
// the original text.
func redact(err error, password string) error {
	if password == "" {
		return err
	}
	msg := err.Error()
	clean := strings.ReplaceAll(msg, password, redactedText)
	clean = strings.ReplaceAll(clean, base64.StdEncoding.EncodeToString([]byte(password)), redactedText)
	if clean == msg {
		return err
	}
	return errors.New(clean)
}
