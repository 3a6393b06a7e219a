// Package directory signs municipal staff in against the municipality's
// directory, Active Directory or any LDAP server, with their own municipal
// password: find the user with a service account (or anonymously), bind as
// the user with the password they typed, then map the user's groups to an
// Avanti role. A user in none of the configured groups may not sign in.
//
// The LDAP client is github.com/go-ldap/ldap/v3: the de facto standard LDAP
// library for Go, well kept for over a decade and used by Grafana, Gitea,
// Vault and Dex; pure Go (no cgo, no libldap on the appliance); LDAPS and
// StartTLS with a caller-supplied crypto/tls config; RFC 4515 filter
// escaping (EscapeFilter) and RFC 4514 DN parsing. The package we import
// needs only its BER codec, an NTLM helper and google/uuid, all pure Go.
//
// Each Authenticate opens one connection and closes it: sign-ins are rare
// (a few dozen a morning), and a pool would only add stale connections to
// handle. The whole exchange is bounded by Config.Timeout and by ctx.
package directory

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/go-ldap/ldap/v3"
)

// Roles a directory group can grant; the same values as the users table's
// role column (store.RoleAdmin, store.RoleBackoffice, store.RoleOperator).
const (
	RoleAdmin      = "admin"
	RoleBackoffice = "backoffice"
	RoleOperator   = "operator"
)

// rank orders the roles: when a user is in several mapped groups, the most
// powerful role wins.
var rank = map[string]int{RoleOperator: 1, RoleBackoffice: 2, RoleAdmin: 3}

// Defaults of the optional settings.
const (
	DefaultGroupAttribute = "memberOf"
	DefaultGroupFilter    = "(&(objectClass=groupOfNames)(member=%s))"
	DefaultTimeout        = 5 * time.Second
)

// Errors of Authenticate; test them with errors.Is.
var (
	// ErrInvalidCredentials: unknown user, wrong or empty password, a
	// username matching more than one entry, or a directory refusing the
	// bind (disabled, expired or locked account). Unknown user and wrong
	// password are deliberately the same error: the answer must not tell
	// which usernames exist.
	ErrInvalidCredentials = errors.New("directory: invalid credentials")
	// ErrNotAllowed: the password is right but the user is in none of the
	// groups mapped to a role.
	ErrNotAllowed = errors.New("directory: user is in no group allowed to sign in")
	// ErrUnavailable: the directory could not be asked: connection refused,
	// TLS failure (wrong CA, wrong name), timeout, service account refused,
	// base DN missing. It wraps the cause, for the log.
	ErrUnavailable = errors.New("directory: unavailable")
	// ErrInvalidConfig: Config.Validate found a mistake.
	ErrInvalidConfig = errors.New("directory: invalid configuration")
)

// Config says how to reach the directory and whom it lets in. The yaml keys
// are a suggestion for the appliance's settings file.
type Config struct {
	// URL is ldap://host:389 (then StartTLS, or Plaintext) or
	// ldaps://host:636.
	URL string `yaml:"url"`
	// StartTLS upgrades an ldap:// connection to TLS before anything else
	// is sent.
	StartTLS bool `yaml:"start_tls"`
	// Plaintext allows ldap:// without StartTLS: the user's password then
	// crosses the network in clear. Only for a directory on the same host
	// or a segment trusted as much; Validate refuses ldap:// without
	// StartTLS otherwise.
	Plaintext bool `yaml:"plaintext"`
	// CACertFile is a PEM file of the CA(s) that signed the directory's
	// certificate (the municipality's own CA, typically); empty trusts the
	// system's roots.
	CACertFile string `yaml:"ca_cert_file"`
	// InsecureSkipVerify accepts any certificate. Never the default; only
	// for a test bench, since it lets anyone in the middle read passwords.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
	// BindDN and BindPassword are the service account that searches for
	// the user; both empty searches anonymously (Active Directory needs an
	// account).
	BindDN       string `yaml:"bind_dn"`
	BindPassword string `yaml:"bind_password"`
	// BaseDN is where users are searched (subtree).
	BaseDN string `yaml:"base_dn"`
	// UserFilter finds the user; every %s becomes the escaped username.
	// E.g. "(&(objectClass=inetOrgPerson)(uid=%s))", or on Active
	// Directory "(&(objectClass=user)(sAMAccountName=%s))".
	UserFilter string `yaml:"user_filter"`
	// UsernameAttribute holds the sign-in name, to report it as the
	// directory spells it; default: the attribute compared with %s in
	// UserFilter (uid, sAMAccountName), else "uid".
	UsernameAttribute string `yaml:"username_attribute"`
	// GroupRoles maps a group's DN (compared case-insensitively, as DNs)
	// to a role: "admin", "backoffice" or "operator". A user in none of
	// them may not sign in; in several, the most powerful role wins.
	GroupRoles map[string]string `yaml:"group_roles"`
	// GroupAttribute is the user's attribute listing the DNs of their
	// groups; default "memberOf" (Active Directory; OpenLDAP with the
	// memberof overlay).
	GroupAttribute string `yaml:"group_attribute"`
	// GroupSearch finds the groups by searching them instead, for servers
	// without memberOf: GroupFilter, every %s the user's escaped DN, under
	// GroupBaseDN. Default filter DefaultGroupFilter; on Active Directory
	// "(&(objectClass=group)(member:1.2.840.113556.1.4.1941:=%s))" also
	// finds nested groups.
	GroupSearch bool   `yaml:"group_search"`
	GroupFilter string `yaml:"group_filter"`
	// GroupBaseDN is where groups are searched; default BaseDN.
	GroupBaseDN string `yaml:"group_base_dn"`
	// Timeout bounds one whole sign-in: connect, TLS, searches, binds.
	// Default 5s.
	Timeout time.Duration `yaml:"timeout"`
}

// Entry is a user the directory has signed in.
type Entry struct {
	DN          string
	Username    string   // as the directory spells it (UsernameAttribute)
	DisplayName string   // displayName, else cn
	Email       string   // mail
	Groups      []string // DNs of all the user's groups, mapped or not
	Role        string   // the most powerful role among the mapped groups
}

// Limits of a username and a password.
const (
	maxUsername = 100
	maxPassword = 1024
)

// CleanUsername trims a typed username and checks it: 1 to 100 characters,
// valid UTF-8, no control characters. The result is what Authenticate looks
// up.
func CleanUsername(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if s == "" || !utf8.ValidString(s) || utf8.RuneCountInString(s) > maxUsername {
		return "", false
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return "", false
		}
	}
	return s, true
}

// Validate checks the configuration; the errors wrap ErrInvalidConfig and
// name the setting.
func (c Config) Validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, a...))
	}
	u, err := url.Parse(c.URL)
	if err != nil || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
		return bad("url %q: want ldap://host:389 or ldaps://host:636", c.URL)
	}
	switch u.Scheme {
	case "ldaps":
		if c.StartTLS {
			return bad("start_tls with an ldaps:// url: the connection is already TLS")
		}
	case "ldap":
		if !c.StartTLS && !c.Plaintext {
			return bad("url %q without start_tls would send passwords in clear: use ldaps://, start_tls, or plaintext for a trusted local directory", c.URL)
		}
	default:
		return bad("url %q: the scheme must be ldap or ldaps", c.URL)
	}
	if c.CACertFile != "" {
		if _, err := loadCA(c.CACertFile); err != nil {
			return bad("ca_cert_file: %v", err)
		}
	}
	if (c.BindDN == "") != (c.BindPassword == "") {
		return bad("bind_dn and bind_password go together (both empty: anonymous search)")
	}
	if c.BindDN != "" {
		if _, err := ldap.ParseDN(c.BindDN); err != nil {
			return bad("bind_dn %q: %v", c.BindDN, err)
		}
	}
	if err := checkDN("base_dn", c.BaseDN); err != nil {
		return bad("%v", err)
	}
	if c.GroupBaseDN != "" {
		if err := checkDN("group_base_dn", c.GroupBaseDN); err != nil {
			return bad("%v", err)
		}
	}
	if err := checkFilter("user_filter", c.UserFilter); err != nil {
		return bad("%v", err)
	}
	if c.GroupSearch && c.GroupFilter != "" {
		if err := checkFilter("group_filter", c.GroupFilter); err != nil {
			return bad("%v", err)
		}
	}
	if len(c.GroupRoles) == 0 {
		return bad("group_roles is empty: nobody could sign in")
	}
	seen := map[string]string{}
	for dn, role := range c.GroupRoles {
		if _, ok := rank[role]; !ok {
			return bad("group_roles[%q]: role %q must be admin, backoffice or operator", dn, role)
		}
		if err := checkDN("group_roles", dn); err != nil {
			return bad("%v", err)
		}
		k := dnKey(dn)
		if prev, ok := seen[k]; ok {
			return bad("group_roles: %q and %q are the same group", prev, dn)
		}
		seen[k] = dn
	}
	for _, a := range []struct{ name, v string }{{"group_attribute", c.GroupAttribute}, {"username_attribute", c.UsernameAttribute}} {
		if a.v != "" && !attrName.MatchString(a.v) {
			return bad("%s %q is not an attribute name", a.name, a.v)
		}
	}
	if c.Timeout < 0 {
		return bad("timeout %s is negative", c.Timeout)
	}
	return nil
}

var (
	attrName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]*$`)
	// filterAttr finds the attribute compared with %s in a user filter.
	filterAttr = regexp.MustCompile(`\(([A-Za-z][A-Za-z0-9-]*)=%s\)`)
)

func checkDN(name, dn string) error {
	if strings.TrimSpace(dn) == "" {
		return fmt.Errorf("%s is empty", name)
	}
	if _, err := ldap.ParseDN(dn); err != nil {
		return fmt.Errorf("%s %q: %v", name, dn, err)
	}
	return nil
}

func checkFilter(name, f string) error {
	if !strings.Contains(f, "%s") {
		return fmt.Errorf("%s %q has no %%s for the value", name, f)
	}
	if _, err := ldap.CompileFilter(strings.ReplaceAll(f, "%s", "x")); err != nil {
		return fmt.Errorf("%s %q: %v", name, f, err)
	}
	return nil
}

func loadCA(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s holds no PEM certificate", path)
	}
	return pool, nil
}

// dnKey is a DN's comparison key: attribute types and values lower-cased,
// spacing normalised. A DN that does not parse is compared lower-cased.
func dnKey(dn string) string {
	p, err := ldap.ParseDN(dn)
	if err != nil {
		return strings.ToLower(strings.TrimSpace(dn))
	}
	rdns := make([]string, len(p.RDNs))
	for i, rdn := range p.RDNs {
		avas := make([]string, len(rdn.Attributes))
		for j, a := range rdn.Attributes {
			avas[j] = strings.ToLower(a.Type) + "=" + ldap.EscapeDN(strings.ToLower(a.Value))
		}
		slices.Sort(avas)
		rdns[i] = strings.Join(avas, "+")
	}
	return strings.Join(rdns, ",")
}

// Authenticate signs a user in: it finds the user's entry (exactly one
// under BaseDN), binds as that entry with password, and maps the user's
// groups to a role. The errors are ErrInvalidCredentials, ErrNotAllowed,
// ErrUnavailable (wrapping the cause) and ErrInvalidConfig; none of them
// contains the password. With ErrNotAllowed the Entry is filled in (DN,
// groups; no role), for the log. An empty password, or a username that
// CleanUsername refuses, fails with ErrInvalidCredentials before any
// connection. It returns within Config.Timeout, sooner if ctx ends.
func Authenticate(ctx context.Context, cfg Config, username, password string) (Entry, error) {
	if err := cfg.Validate(); err != nil {
		return Entry{}, err
	}
	name, ok := CleanUsername(username)
	// An empty password would make the bind an "unauthenticated bind",
	// which many servers answer with success: refuse it before connecting.
	if !ok || password == "" || len(password) > maxPassword {
		return Entry{}, ErrInvalidCredentials
	}
	timeout := cfg.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	conn, closeConn, err := connect(ctx, cfg)
	if err != nil {
		return Entry{}, err
	}
	defer closeConn()

	if cfg.BindDN != "" {
		if err := conn.Bind(cfg.BindDN, cfg.BindPassword); err != nil {
			return Entry{}, unavailable(ctx, "bind as the service account "+cfg.BindDN, err)
		}
	}

	user, err := findUser(ctx, conn, cfg, name)
	if err != nil {
		return Entry{}, err
	}
	groups, err := userGroups(ctx, conn, cfg, user)
	if err != nil {
		return Entry{}, err
	}

	// The password is checked last, so that the connection needs no
	// rebinding: everything above ran as the service account.
	if err := conn.Bind(user.DN, password); err != nil {
		if ldap.IsErrorAnyOf(err, ldap.LDAPResultInvalidCredentials, ldap.LDAPResultInappropriateAuthentication,
			ldap.LDAPResultInsufficientAccessRights, ldap.LDAPResultUnwillingToPerform, ldap.LDAPResultConstraintViolation,
			ldap.ErrorEmptyPassword) {
			return Entry{}, ErrInvalidCredentials
		}
		return Entry{}, unavailable(ctx, "bind as the user", err)
	}

	e := Entry{
		DN:          user.DN,
		Username:    spelling(user, usernameAttribute(cfg), name),
		DisplayName: first(user, "displayName", "cn"),
		Email:       first(user, "mail"),
		Groups:      groups,
	}
	for _, g := range groups {
		if role, ok := roleOf(cfg, g); ok && rank[role] > rank[e.Role] {
			e.Role = role
		}
	}
	if e.Role == "" {
		return e, ErrNotAllowed
	}
	return e, nil
}

// roleOf is the role mapped to group dn, if any.
func roleOf(cfg Config, dn string) (string, bool) {
	k := dnKey(dn)
	for g, role := range cfg.GroupRoles {
		if dnKey(g) == k {
			return role, true
		}
	}
	return "", false
}

// connect dials the directory with ctx's deadline on the socket (so a
// server that accepts and then says nothing cannot hang the sign-in), and
// runs StartTLS when asked. The caller must call the returned close.
func connect(ctx context.Context, cfg Config) (*ldap.Conn, func(), error) {
	u, _ := url.Parse(cfg.URL) // Validate parsed it
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = "389"
		if u.Scheme == "ldaps" {
			port = "636"
		}
	}
	tc := &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12, InsecureSkipVerify: cfg.InsecureSkipVerify}
	if cfg.CACertFile != "" {
		pool, err := loadCA(cfg.CACertFile)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: CA file: %v", ErrUnavailable, err)
		}
		tc.RootCAs = pool
	}
	addr := net.JoinHostPort(host, port)
	var nc net.Conn
	var err error
	if u.Scheme == "ldaps" {
		nc, err = (&tls.Dialer{Config: tc}).DialContext(ctx, "tcp", addr)
	} else {
		nc, err = (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return nil, nil, unavailable(ctx, "connect to "+addr, err)
	}
	if d, ok := ctx.Deadline(); ok {
		nc.SetDeadline(d)
	}
	conn := ldap.NewConn(nc, u.Scheme == "ldaps")
	conn.Start()
	if d, ok := ctx.Deadline(); ok {
		conn.SetTimeout(time.Until(d))
	}
	// A cancelled ctx closes the socket, which fails whatever is pending.
	stop := context.AfterFunc(ctx, func() { nc.Close() })
	closeAll := func() {
		stop()
		conn.Close()
	}
	if cfg.StartTLS {
		if err := conn.StartTLS(tc); err != nil {
			closeAll()
			return nil, nil, unavailable(ctx, "StartTLS with "+addr, err)
		}
	}
	return conn, closeAll, nil
}

// unavailable wraps a failure to ask the directory; past the deadline it
// says so, since the socket error alone reads as an I/O error.
func unavailable(ctx context.Context, what string, err error) error {
	cause := context.Cause(ctx)
	if d, ok := ctx.Deadline(); ok && cause == nil && !time.Now().Before(d) {
		cause = context.DeadlineExceeded // the socket's deadline fired first
	}
	if cause != nil && !errors.Is(err, cause) {
		return fmt.Errorf("%w: %s: %w (%w)", ErrUnavailable, what, err, cause)
	}
	return fmt.Errorf("%w: %s: %w", ErrUnavailable, what, err)
}

// findUser searches the one entry the username names.
func findUser(ctx context.Context, conn *ldap.Conn, cfg Config, name string) (*ldap.Entry, error) {
	attrs := []string{"cn", "displayName", "mail", usernameAttribute(cfg)}
	if !cfg.GroupSearch {
		attrs = append(attrs, groupAttribute(cfg))
	}
	req := ldap.NewSearchRequest(cfg.BaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
		2, timeLimit(ctx), false,
		strings.ReplaceAll(cfg.UserFilter, "%s", ldap.EscapeFilter(name)), attrs, nil)
	res, err := conn.Search(req)
	switch {
	case ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded):
		return nil, ErrInvalidCredentials // ambiguous: sign in nobody
	case ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject):
		return nil, unavailable(ctx, "search users: base_dn "+cfg.BaseDN+" does not exist", err)
	case err != nil:
		return nil, unavailable(ctx, "search users", err)
	case len(res.Entries) != 1 || res.Entries[0].DN == "":
		return nil, ErrInvalidCredentials
	}
	return res.Entries[0], nil
}

// userGroups lists the DNs of the user's groups: the group attribute of the
// user's entry, or a search of the groups naming the user as a member.
func userGroups(ctx context.Context, conn *ldap.Conn, cfg Config, user *ldap.Entry) ([]string, error) {
	if !cfg.GroupSearch {
		return user.GetEqualFoldAttributeValues(groupAttribute(cfg)), nil
	}
	base, filter := cfg.GroupBaseDN, cfg.GroupFilter
	if base == "" {
		base = cfg.BaseDN
	}
	if filter == "" {
		filter = DefaultGroupFilter
	}
	req := ldap.NewSearchRequest(base, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
		0, timeLimit(ctx), false,
		strings.ReplaceAll(filter, "%s", ldap.EscapeFilter(user.DN)), []string{"1.1"}, nil)
	res, err := conn.Search(req)
	if err != nil {
		return nil, unavailable(ctx, "search groups", err)
	}
	groups := make([]string, 0, len(res.Entries))
	for _, g := range res.Entries {
		groups = append(groups, g.DN)
	}
	return groups, nil
}

// timeLimit is the server-side time limit of a search, in whole seconds.
func timeLimit(ctx context.Context) int {
	if d, ok := ctx.Deadline(); ok {
		return max(1, int(time.Until(d).Seconds()+0.999))
	}
	return 0
}

func groupAttribute(cfg Config) string {
	if cfg.GroupAttribute != "" {
		return cfg.GroupAttribute
	}
	return DefaultGroupAttribute
}

func usernameAttribute(cfg Config) string {
	if cfg.UsernameAttribute != "" {
		return cfg.UsernameAttribute
	}
	if m := filterAttr.FindStringSubmatch(cfg.UserFilter); m != nil {
		return m[1]
	}
	return "uid"
}

// spelling is the value of attr equal (case aside) to what the user typed,
// else the attribute's first value, else what the user typed.
func spelling(e *ldap.Entry, attr, typed string) string {
	vals := e.GetEqualFoldAttributeValues(attr)
	if i := slices.IndexFunc(vals, func(v string) bool { return strings.EqualFold(v, typed) }); i >= 0 {
		return vals[i]
	}
	if len(vals) > 0 && vals[0] != "" {
		return vals[0]
	}
	return typed
}

// first is the first non-empty value among the attributes, in order.
func first(e *ldap.Entry, attrs ...string) string {
	for _, a := range attrs {
		if v := e.GetEqualFoldAttributeValue(a); v != "" {
			return v
		}
	}
	return ""
}
