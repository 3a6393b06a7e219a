package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"avanti/appliance/fault"
)

// MaintWindow is a time during which the vendor's support may connect.
type MaintWindow struct {
	ID       int64     `json:"id"`
	OpenedBy string    `json:"opened_by"`
	Reason   string    `json:"reason"`
	From     time.Time `json:"from"`
	Until    time.Time `json:"until"`
	ClosedBy string    `json:"closed_by,omitempty"`
}

// MaxMaintWindow bounds a window: support is let in for a task, not left in.
const MaxMaintWindow = 8 * time.Hour

// OpenMaintWindow opens a window from now for d, closing any still open.
func (s *Store) OpenMaintWindow(ctx context.Context, ownerID int64, by, reason string, d time.Duration, now time.Time) (MaintWindow, error) {
	reason = strings.TrimSpace(reason)
	if reason == "" || len([]rune(reason)) > 500 {
		return MaintWindow{}, fault.Field("reason", "reason_required", "say why support is let in (at most 500 characters)")
	}
	if d < 5*time.Minute || d > MaxMaintWindow {
		return MaintWindow{}, fault.Field("minutes", "invalid_duration", "a maintenance window lasts 5 minutes to 8 hours")
	}
	w := MaintWindow{OpenedBy: by, Reason: reason, From: now.UTC(), Until: now.Add(d).UTC()}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE maint_windows SET ends_at = ?, closed_by = ? WHERE ends_at > ?`, now, by, now); err != nil {
			return fmt.Errorf("close open windows: %w", err)
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO maint_windows (owner_id, opened_by, reason, starts_at, ends_at) VALUES (?, ?, ?, ?, ?)`,
			ownerID, by, reason, w.From, w.Until)
		if err != nil {
			return fmt.Errorf("open window: %w", err)
		}
		w.ID, _ = res.LastInsertId()
		return nil
	})
	return w, err
}

// CloseMaintWindow ends a window at once.
func (s *Store) CloseMaintWindow(ctx context.Context, ownerID, id int64, by string, now time.Time) (MaintWindow, error) {
	res, err := s.db.ExecContext(ctx, `UPDATE maint_windows SET ends_at = ?, closed_by = ? WHERE id = ? AND owner_id = ? AND ends_at > ?`,
		now, by, id, ownerID, now)
	if err != nil {
		return MaintWindow{}, fmt.Errorf("close window: %w", err)
	}
	w, err := s.maintWindow(ctx, `WHERE id = ? AND owner_id = ?`, id, ownerID)
	if errors.Is(err, sql.ErrNoRows) {
		return w, fault.New(fault.NotFound, "window_not_found", "no such maintenance window")
	}
	if n, _ := res.RowsAffected(); n == 0 && err == nil {
		return w, fault.New(fault.Conflict, "window_closed", "this window is closed already")
	}
	return w, err
}

// CurrentMaintWindow is the window open at now, or nil.
func (s *Store) CurrentMaintWindow(ctx context.Context, now time.Time) (*MaintWindow, error) {
	w, err := s.maintWindow(ctx, `WHERE starts_at <= ? AND ends_at > ? ORDER BY id DESC LIMIT 1`, now, now)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &w, nil
}

// MaintWindows lists an owner's latest windows, newest first.
func (s *Store) MaintWindows(ctx context.Context, ownerID int64, limit int) ([]MaintWindow, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, opened_by, reason, starts_at, ends_at, closed_by FROM maint_windows
		WHERE owner_id = ? ORDER BY id DESC LIMIT ?`, ownerID, limit)
	if err != nil {
		return nil, fmt.Errorf("maintenance windows: %w", err)
	}
	defer rows.Close()
	out := []MaintWindow{}
	for rows.Next() {
		var w MaintWindow
		if err := rows.Scan(&w.ID, &w.OpenedBy, &w.Reason, &w.From, &w.Until, &w.ClosedBy); err != nil {
			return nil, fmt.Errorf("maintenance windows: %w", err)
		}
		out = append(out, w)
	}
	return out, rows.Err()
}

func (s *Store) maintWindow(ctx context.Context, where string, args ...any) (MaintWindow, error) {
	var w MaintWindow
	err := s.db.QueryRowContext(ctx, `SELECT id, opened_by, reason, starts_at, ends_at, closed_by FROM maint_windows `+where, args...).
		Scan(&w.ID, &w.OpenedBy, &w.Reason, &w.From, &w.Until, &w.ClosedBy)
	return w, err
}
