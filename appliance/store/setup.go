package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"avanti/appliance/fault"
)

// Initial is what the first-boot setup asks for: the organisation, its
// first site, and the administrator.
type Initial struct {
	OwnerName     string
	SiteName      string
	Address       string
	Timezone      string
	AdminUsername string
	AdminName     string
	AdminEmail    string // optional: where the alerts (backups) go
	PasswordHash  string
}

// Initialise makes the organisation, its site and its administrator on an
// empty database, in one transaction; it refuses once anything exists, so
// a setup code cannot be used twice.
func (s *Store) Initialise(ctx context.Context, in Initial, now time.Time) (User, error) {
	in.OwnerName, in.SiteName = strings.TrimSpace(in.OwnerName), strings.TrimSpace(in.SiteName)
	switch {
	case in.OwnerName == "" || len([]rune(in.OwnerName)) > 200:
		return User{}, fault.Field("owner_name", "invalid_name", "the organisation's name is required, e.g. COMUNE DI CREMA")
	case in.SiteName == "" || len([]rune(in.SiteName)) > 200:
		return User{}, fault.Field("site_name", "invalid_name", "the site's name is required, e.g. Palazzo Comunale")
	case in.AdminUsername == "" || len(in.AdminUsername) > 100:
		return User{}, fault.Field("admin_username", "invalid_username", "the administrator's username is required")
	}
	email, err := CheckEmail("admin_email", in.AdminEmail)
	if err != nil {
		return User{}, err
	}
	in.Timezone = strings.TrimSpace(in.Timezone)
	if in.Timezone == "" {
		in.Timezone = "Europe/Rome"
	}
	if _, err := time.LoadLocation(in.Timezone); err != nil {
		return User{}, fault.Field("timezone", "invalid_timezone", "unknown time zone "+in.Timezone)
	}
	var u User
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		var n int
		// Serialises two setups racing: the second sees the first's owner.
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM owners FOR UPDATE`).Scan(&n); err != nil {
			return fmt.Errorf("setup: %w", err)
		}
		if n > 0 {
			return ErrSetupDone
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO owners (name, created_at) VALUES (?, ?)`, in.OwnerName, now)
		if err != nil {
			return fmt.Errorf("setup owner: %w", err)
		}
		owner, _ := res.LastInsertId()
		if _, err := tx.ExecContext(ctx, `INSERT INTO sites (owner_id, name, address, timezone) VALUES (?, ?, ?, ?)`,
			owner, in.SiteName, strings.TrimSpace(in.Address), in.Timezone); err != nil {
			return fmt.Errorf("setup site: %w", err)
		}
		res, err = tx.ExecContext(ctx, `INSERT INTO users (owner_id, username, display_name, email, role, password_hash, created_at)
			VALUES (?, ?, ?, ?, 'admin', ?, ?)`, owner, in.AdminUsername, in.AdminName, nullEmail(email), in.PasswordHash, now)
		if err != nil {
			return fmt.Errorf("setup admin: %w", err)
		}
		id, _ := res.LastInsertId()
		u = User{ID: id, OwnerID: owner, Username: in.AdminUsername, DisplayName: in.AdminName, Email: email, Role: RoleAdmin, Active: true}
		return nil
	})
	return u, err
}

// ErrSetupDone: the appliance is set up already.
var ErrSetupDone = fault.New(fault.Conflict, "setup_done", "the appliance is already set up: sign in")
