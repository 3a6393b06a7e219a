package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"

	"avanti/appliance/fault"
)

// Roles of staff accounts.
const (
	RoleAdmin      = "admin"
	RoleBackoffice = "backoffice"
	RoleOperator   = "operator"
)

// User is a staff account.
type User struct {
	ID           int64     `json:"id"`
	OwnerID      int64     `json:"owner_id"`
	Username     string    `json:"username"`
	DisplayName  string    `json:"display_name"`
	Email        string    `json:"email,omitempty"` // the admins' receive the alerts
	Role         string    `json:"role"`
	PasswordHash string    `json:"-"`
	FailedLogins int       `json:"-"`
	LockedUntil  time.Time `json:"-"`
	Active       bool      `json:"active"`
}

// ErrUserNotFound is returned for an unknown user.
var ErrUserNotFound = fault.New(fault.NotFound, "user_not_found", "no such user")

// CreateUser adds a staff account with an already hashed password.
func (s *Store) CreateUser(ctx context.Context, u User, now time.Time) (User, error) {
	switch u.Role {
	case RoleAdmin, RoleBackoffice, RoleOperator:
	default:
		return User{}, fault.Field("role", "invalid_role", "role must be admin, backoffice or operator")
	}
	if u.Username == "" || len(u.Username) > 100 {
		return User{}, fault.Field("username", "invalid_username", "username is required (at most 100 characters)")
	}
	email, err := CheckEmail("email", u.Email)
	if err != nil {
		return User{}, err
	}
	u.Email = email
	res, err := s.db.ExecContext(ctx, `INSERT INTO users (owner_id, username, display_name, email, role, password_hash, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, u.OwnerID, u.Username, u.DisplayName, nullEmail(email), u.Role, u.PasswordHash, now)
	if isDuplicate(err) {
		return User{}, fault.Field("username", "username_taken", "this username is already in use")
	}
	if err != nil {
		return User{}, fmt.Errorf("create user %q: %w", u.Username, err)
	}
	u.ID, _ = res.LastInsertId()
	u.Active = true
	return u, nil
}

// CheckEmail tidies and checks a staff account's e-mail address: empty,
// or one bare address (no display name) of at most 254 characters, the
// longest SMTP carries. field names the request field for the error.
func CheckEmail(field, email string) (string, error) {
	email = strings.TrimSpace(email)
	if email == "" {
		return "", nil
	}
	bad := fault.Field(field, "invalid_email", "not an e-mail address such as nome.cognome@comune.example.it (one address, no name)")
	if len(email) > 254 {
		return "", bad
	}
	a, err := mail.ParseAddress(email)
	if err != nil || a.Name != "" || a.Address != email {
		return "", bad
	}
	return email, nil
}

// nullEmail stores no address as NULL.
func nullEmail(email string) any {
	if email == "" {
		return nil
	}
	return email
}

const userColumns = `id, owner_id, username, display_name, email, role, password_hash, failed_logins, locked_until, active`

func scanUser(r scanner) (User, error) {
	var u User
	var locked sql.NullTime
	var email sql.NullString
	err := r.Scan(&u.ID, &u.OwnerID, &u.Username, &u.DisplayName, &email, &u.Role, &u.PasswordHash, &u.FailedLogins, &locked, &u.Active)
	if errors.Is(err, sql.ErrNoRows) {
		return u, ErrUserNotFound
	}
	u.LockedUntil = locked.Time
	u.Email = email.String
	return u, err
}

// AdminEmails lists the e-mail addresses of the active administrators of
// every organisation on the appliance, who receive its alerts.
func (s *Store) AdminEmails(ctx context.Context) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT DISTINCT email FROM users
		WHERE role = 'admin' AND active AND email IS NOT NULL AND email <> '' ORDER BY email`)
	if err != nil {
		return nil, fmt.Errorf("admin e-mails: %w", err)
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var e string
		if err := rows.Scan(&e); err != nil {
			return nil, fmt.Errorf("admin e-mails: %w", err)
		}
		out = append(out, e)
	}
	return out, wrap("admin e-mails", rows.Err())
}

// UserByName finds an account by username.
func (s *Store) UserByName(ctx context.Context, username string) (User, error) {
	return scanUser(s.db.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE username = ?`, username))
}

// UserByID finds an account by id.
func (s *Store) UserByID(ctx context.Context, id int64) (User, error) {
	return scanUser(s.db.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE id = ?`, id))
}

// LoginFailed counts a failed password and locks the account for lockFor
// once maxFailures is reached. The counter is bumped atomically so that
// parallel guesses are all counted.
func (s *Store) LoginFailed(ctx context.Context, userID int64, now time.Time, maxFailures int, lockFor time.Duration) error {
	_, err := s.db.ExecContext(ctx, `UPDATE users SET failed_logins = failed_logins + 1,
		locked_until = IF(failed_logins >= ?, ?, locked_until) WHERE id = ?`, maxFailures, now.Add(lockFor), userID)
	return wrap("count failed login", err)
}

// LoginSucceeded resets the failure counter.
func (s *Store) LoginSucceeded(ctx context.Context, userID int64) error {
	_, err := s.db.ExecContext(ctx, `UPDATE users SET failed_logins = 0, locked_until = NULL WHERE id = ?`, userID)
	return wrap("reset failed logins", err)
}

// SetPassword replaces a user's password hash.
func (s *Store) SetPassword(ctx context.Context, userID int64, hash string) error {
	_, err := s.db.ExecContext(ctx, `UPDATE users SET password_hash = ?, failed_logins = 0, locked_until = NULL WHERE id = ?`, hash, userID)
	return wrap("set password", err)
}

// Session is a signed-in staff member's session.
type Session struct {
	User      User
	CSRFToken string
	ExpiresAt time.Time
}

func hashSecret(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// CreateSession stores a session by the hash of its id.
func (s *Store) CreateSession(ctx context.Context, id, csrf string, userID int64, now, expires time.Time) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO sessions (id_hash, user_id, csrf_token, created_at, last_seen, expires_at)
		VALUES (?, ?, ?, ?, ?, ?)`, hashSecret(id), userID, csrf, now, now, expires)
	return wrap("create session", err)
}

// SessionByID returns a live session and slides its idle expiry.
func (s *Store) SessionByID(ctx context.Context, id string, now time.Time, idle, absolute time.Duration) (Session, bool, error) {
	var sess Session
	var created, expires time.Time
	row := s.db.QueryRowContext(ctx, `SELECT s.csrf_token, s.created_at, s.expires_at, `+prefixed("u.", userColumns)+`
		FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id_hash = ?`, hashSecret(id))
	var u User
	var locked sql.NullTime
	var email sql.NullString
	err := row.Scan(&sess.CSRFToken, &created, &expires, &u.ID, &u.OwnerID, &u.Username, &u.DisplayName, &email, &u.Role,
		&u.PasswordHash, &u.FailedLogins, &locked, &u.Active)
	if errors.Is(err, sql.ErrNoRows) {
		return sess, false, nil
	}
	if err != nil {
		return sess, false, fmt.Errorf("session: %w", err)
	}
	if !u.Active || !now.Before(expires) || !now.Before(created.Add(absolute)) {
		return sess, false, nil
	}
	u.Email = email.String
	sess.User = u
	sess.ExpiresAt = now.Add(idle)
	if sess.ExpiresAt.After(created.Add(absolute)) {
		sess.ExpiresAt = created.Add(absolute)
	}
	// Sliding the expiry costs a write; do it at most once a minute.
	if sess.ExpiresAt.Sub(expires) > time.Minute {
		if _, err := s.db.ExecContext(ctx, `UPDATE sessions SET last_seen = ?, expires_at = ? WHERE id_hash = ?`,
			now, sess.ExpiresAt, hashSecret(id)); err != nil {
			return sess, false, fmt.Errorf("touch session: %w", err)
		}
	}
	return sess, true, nil
}

// DeleteSession ends a session.
func (s *Store) DeleteSession(ctx context.Context, id string) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM sessions WHERE id_hash = ?`, hashSecret(id))
	return wrap("delete session", err)
}

// DeleteExpiredSessions removes sessions past their expiry.
func (s *Store) DeleteExpiredSessions(ctx context.Context, now time.Time) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM sessions WHERE expires_at < ?`, now)
	return wrap("delete expired sessions", err)
}

func prefixed(p, cols string) string {
	out := p
	for _, c := range cols {
		out += string(c)
		if c == ' ' {
			out += p
		}
	}
	return out
}

// Device is a totem or a waiting-room display.
type Device struct {
	ID      int64  `json:"id"`
	OwnerID int64  `json:"owner_id"`
	RoomID  int64  `json:"room_id,omitempty"`
	Kind    string `json:"kind"`
	Name    string `json:"name"`
}

// CreateDevice registers a device under the hash of its token.
func (s *Store) CreateDevice(ctx context.Context, d Device, token string, now time.Time) (Device, error) {
	if d.Kind != "kiosk" && d.Kind != "display" {
		return Device{}, fault.Field("kind", "invalid_kind", "kind must be kiosk or display")
	}
	var room any
	if d.RoomID != 0 {
		room = d.RoomID
	}
	res, err := s.db.ExecContext(ctx, `INSERT INTO devices (owner_id, room_id, kind, name, token_hash, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
		d.OwnerID, room, d.Kind, d.Name, hashSecret(token), now)
	if err != nil {
		return Device{}, fmt.Errorf("create device %q: %w", d.Name, err)
	}
	d.ID, _ = res.LastInsertId()
	return d, nil
}

// DeviceByToken finds an active device by its bearer token and notes its
// contact.
func (s *Store) DeviceByToken(ctx context.Context, token string, now time.Time) (Device, bool, error) {
	var d Device
	var room sql.NullInt64
	var last sql.NullTime
	err := s.db.QueryRowContext(ctx, `SELECT id, owner_id, room_id, kind, name, last_seen FROM devices WHERE token_hash = ? AND active`,
		hashSecret(token)).Scan(&d.ID, &d.OwnerID, &room, &d.Kind, &d.Name, &last)
	if errors.Is(err, sql.ErrNoRows) {
		return d, false, nil
	}
	if err != nil {
		return d, false, fmt.Errorf("device: %w", err)
	}
	d.RoomID = room.Int64
	if !last.Valid || now.Sub(last.Time) > 10*time.Second {
		if _, err := s.db.ExecContext(ctx, `UPDATE devices SET last_seen = ? WHERE id = ?`, now, d.ID); err != nil {
			return d, false, fmt.Errorf("device contact: %w", err)
		}
	}
	return d, true, nil
}

// FirstOwner is the appliance's first organisation (the CLI's default).
func (s *Store) FirstOwner(ctx context.Context) (Owner, error) {
	var o Owner
	err := s.db.QueryRowContext(ctx, `SELECT id, name FROM owners ORDER BY id LIMIT 1`).Scan(&o.ID, &o.Name)
	if errors.Is(err, sql.ErrNoRows) {
		return o, fault.New(fault.NotFound, "no_owner", "no organisation yet: load the demo data or create one")
	}
	return o, wrap("first owner", err)
}

// FirstRoom is the first room of an owner, for devices added without one.
func (s *Store) FirstRoom(ctx context.Context, ownerID int64) (int64, error) {
	var id int64
	err := s.db.QueryRowContext(ctx, `SELECT r.id FROM rooms r JOIN sites si ON si.id = r.site_id WHERE si.owner_id = ? ORDER BY r.id LIMIT 1`, ownerID).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return id, wrap("first room", err)
}

// Empty reports whether the database holds no organisation yet.
func (s *Store) Empty(ctx context.Context) (bool, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM owners`).Scan(&n)
	return n == 0, wrap("count owners", err)
}
