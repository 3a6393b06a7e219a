// Package auth holds who may call the appliance: staff signed in with a
// password (argon2id hashes, lockout after repeated failures, sessions with
// CSRF tokens) and devices holding a bearer token.
package auth

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/alexedwards/argon2id"

	"avanti/appliance/directory"
	"avanti/appliance/fault"
	"avanti/appliance/store"
)

// Kinds of principal.
const (
	KindAnonymous = "anonymous"
	KindUser      = "user"
	KindDevice    = "device"
)

// Principal is who is calling.
type Principal struct {
	Kind    string
	User    store.User
	Device  store.Device
	CSRF    string // the session's token, for staff
	Session string // the session id, for logout
}

// Role is the principal's role: admin, backoffice, operator, kiosk,
// display or anonymous.
func (p Principal) Role() string {
	switch p.Kind {
	case KindUser:
		return p.User.Role
	case KindDevice:
		return p.Device.Kind
	}
	return KindAnonymous
}

// OwnerID is the organisation the principal belongs to (0 if anonymous).
func (p Principal) OwnerID() int64 {
	switch p.Kind {
	case KindUser:
		return p.User.OwnerID
	case KindDevice:
		return p.Device.OwnerID
	}
	return 0
}

// Name identifies the principal in logs and ticket history.
func (p Principal) Name() string {
	switch p.Kind {
	case KindUser:
		return "user:" + p.User.Username
	case KindDevice:
		return fmt.Sprintf("%s:%d", p.Device.Kind, p.Device.ID)
	}
	return "anonymous"
}

// Token returns n random bytes, URL-safe encoded.
func Token(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// params follow OWASP's argon2id minimum (19 MiB, 2 passes): strong, yet
// cheap enough that a morning of logins does not stall a small VM.
var params = &argon2id.Params{Memory: 19 * 1024, Iterations: 2, Parallelism: 1, SaltLength: 16, KeyLength: 32}

// HashPassword hashes a password with argon2id.
func HashPassword(pw string) (string, error) {
	h, err := argon2id.CreateHash(pw, params)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return h, nil
}

// CheckPasswordRules says what is wrong with a new local password.
func CheckPasswordRules(pw string) error {
	if len([]rune(pw)) < 10 {
		return fault.Field("password", "weak_password", "the password needs at least 10 characters")
	}
	if len(pw) > 200 {
		return fault.Field("password", "weak_password", "the password is at most 200 characters")
	}
	return nil
}

// Settings of sign-in.
type Settings struct {
	MaxFailures     int           // failed passwords before lockout
	LockFor         time.Duration // how long an account stays locked
	SessionIdle     time.Duration // idle timeout
	SessionAbsolute time.Duration // longest a session lives
	// Directory is the municipality's LDAP / Active Directory; nil or
	// without URL: local passwords only.
	Directory *directory.Config
}

// DefaultSettings are sensible for a municipal office.
var DefaultSettings = Settings{MaxFailures: 5, LockFor: 15 * time.Minute, SessionIdle: 2 * time.Hour, SessionAbsolute: 12 * time.Hour}

// Errors of sign-in. Unknown user and wrong password read the same, so the
// answer does not tell which usernames exist.
var (
	ErrBadCredentials = fault.New(fault.Unauthorized, "invalid_credentials", "wrong username or password")
	ErrLocked         = fault.New(fault.TooMany, "account_locked", "too many failed attempts: the account is locked for a while")
	ErrNotAllowed     = fault.New(fault.Forbidden, "not_allowed", "your municipal account is not in a group allowed to use Avanti: ask the administrator")
	ErrDirectoryDown  = fault.New(fault.Unavailable, "directory_unavailable", "the municipal directory cannot be reached: try again in a minute")
)

// dummyHash keeps the time of a failed login the same for unknown users.
var dummyHash, _ = HashPassword("avanti-timing-equaliser")

// Login checks a password, locally or against the directory as the
// account says, and opens a session.
func Login(ctx context.Context, st *store.Store, set Settings, username, password string, now time.Time) (Principal, error) {
	u, err := verifyAny(ctx, st, set, username, password, now)
	if err != nil {
		return Principal{}, err
	}
	id, csrf := Token(32), Token(32)
	if err := st.CreateSession(ctx, id, csrf, u.ID, now, now.Add(set.SessionIdle)); err != nil {
		return Principal{}, err
	}
	return Principal{Kind: KindUser, User: u, CSRF: csrf, Session: id}, nil
}

// Verify checks a local password, counting failures and honouring the
// lockout, without opening a session (a password change asks for the
// current one this way).
func Verify(ctx context.Context, st *store.Store, set Settings, username, password string, now time.Time) (store.User, error) {
	u, err := st.UserByName(ctx, username)
	if errors.Is(err, store.ErrUserNotFound) || (err == nil && (!u.Active || u.PasswordHash == "")) {
		argon2id.ComparePasswordAndHash(password, dummyHash)
		return store.User{}, ErrBadCredentials
	}
	if err != nil {
		return store.User{}, err
	}
	if now.Before(u.LockedUntil) {
		return store.User{}, ErrLocked.With("locked_until", u.LockedUntil)
	}
	ok, err := argon2id.ComparePasswordAndHash(password, u.PasswordHash)
	if err != nil {
		return store.User{}, fmt.Errorf("check password: %w", err)
	}
	if !ok {
		if err := st.LoginFailed(ctx, u.ID, now, set.MaxFailures, set.LockFor); err != nil {
			return store.User{}, err
		}
		return store.User{}, ErrBadCredentials
	}
	if err := st.LoginSucceeded(ctx, u.ID); err != nil {
		return store.User{}, err
	}
	return u, nil
}

// FromSession resolves a session cookie.
func FromSession(ctx context.Context, st *store.Store, set Settings, id string, now time.Time) (Principal, bool, error) {
	if len(id) != 43 {
		return Principal{}, false, nil
	}
	s, ok, err := st.SessionByID(ctx, id, now, set.SessionIdle, set.SessionAbsolute)
	if err != nil || !ok {
		return Principal{}, false, err
	}
	return Principal{Kind: KindUser, User: s.User, CSRF: s.CSRFToken, Session: id}, true, nil
}

// FromToken resolves a device's bearer token.
func FromToken(ctx context.Context, st *store.Store, token string, now time.Time) (Principal, bool, error) {
	if len(token) < 20 || len(token) > 100 {
		return Principal{}, false, nil
	}
	d, ok, err := st.DeviceByToken(ctx, token, now)
	if err != nil || !ok {
		return Principal{}, false, err
	}
	return Principal{Kind: KindDevice, Device: d}, true, nil
}

func (s Settings) directoryOn() bool { return s.Directory != nil && s.Directory.URL != "" }

// verifyAny checks a password where the account keeps it: the local hash,
// the directory, or either ("both": the local password first, so sign-in
// still works when the directory is down). An unknown username is looked
// up in the directory, when there is one, and its account made at the
// first sign-in with the role its groups give.
func verifyAny(ctx context.Context, st *store.Store, set Settings, username, password string, now time.Time) (store.User, error) {
	if !set.directoryOn() {
		return Verify(ctx, st, set, username, password, now)
	}
	u, err := st.UserByName(ctx, username)
	if errors.Is(err, store.ErrUserNotFound) {
		return viaDirectory(ctx, st, set, store.User{}, username, password, now)
	}
	if err != nil {
		return store.User{}, err
	}
	source, err := st.UserSource(ctx, u.ID)
	if err != nil {
		return store.User{}, err
	}
	switch source {
	case store.SourceLocal:
		return Verify(ctx, st, set, username, password, now)
	case store.SourceBoth:
		if u.PasswordHash != "" {
			if ok, _ := argon2id.ComparePasswordAndHash(password, u.PasswordHash); ok {
				return Verify(ctx, st, set, username, password, now)
			}
		}
	}
	if !u.Active {
		return store.User{}, ErrBadCredentials
	}
	// The lockout applies before the directory is asked: guesses through
	// Avanti must not lock the municipality's own account.
	if now.Before(u.LockedUntil) {
		return store.User{}, ErrLocked.With("locked_until", u.LockedUntil)
	}
	return viaDirectory(ctx, st, set, u, username, password, now)
}

func viaDirectory(ctx context.Context, st *store.Store, set Settings, u store.User, username, password string, now time.Time) (store.User, error) {
	e, err := directory.Authenticate(ctx, *set.Directory, username, password)
	switch {
	case errors.Is(err, directory.ErrInvalidCredentials):
		if u.ID != 0 {
			if err := st.LoginFailed(ctx, u.ID, now, set.MaxFailures, set.LockFor); err != nil {
				return store.User{}, err
			}
		}
		return store.User{}, ErrBadCredentials
	case errors.Is(err, directory.ErrNotAllowed):
		return store.User{}, ErrNotAllowed
	case err != nil:
		return store.User{}, fmt.Errorf("%w: %w", ErrDirectoryDown, err)
	}
	// The directory decides the role and name at every sign-in, and the
	// e-mail address when it has one.
	nu, err := st.DirectoryUser(ctx, u.ID, e.Username, e.DisplayName, e.Email, e.Role, e.DN, now)
	if err != nil {
		return store.User{}, err
	}
	if !nu.Active {
		return store.User{}, ErrBadCredentials
	}
	if err := st.LoginSucceeded(ctx, nu.ID); err != nil {
		return store.User{}, err
	}
	return nu, nil
}
