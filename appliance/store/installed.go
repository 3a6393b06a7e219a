package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// InstalledAt is when the appliance was set up: its first organisation's
// creation. Zero on an appliance not set up yet.
func (s *Store) InstalledAt(ctx context.Context) (time.Time, error) {
	var t sql.NullTime
	if err := s.db.QueryRowContext(ctx, `SELECT MIN(created_at) FROM owners`).Scan(&t); err != nil {
		return time.Time{}, fmt.Errorf("installed at: %w", err)
	}
	return t.Time, nil
}
