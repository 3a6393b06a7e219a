package store

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"log/slog"

	"github.com/pressly/goose/v3"

	schema "avanti/sql"
)

// Migrations are run with goose (numbered plain .sql files, a version table,
// one transaction per file): a well-kept library for what is not our domain.
func provider(db *sql.DB) (*goose.Provider, error) {
	fsys := fs.FS(schema.Files)
	p, err := goose.NewProvider(goose.DialectMySQL, db, fsys)
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	return p, nil
}

// Migrate brings the schema up to the version this binary knows. A database
// already at a newer version than the binary is refused: running old code on
// a newer schema could lose data.
func (s *Store) Migrate(ctx context.Context) error {
	p, err := provider(s.db)
	if err != nil {
		return err
	}
	current, err := p.GetDBVersion(ctx)
	if err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	sources := p.ListSources()
	latest := int64(0)
	if n := len(sources); n > 0 {
		latest = sources[n-1].Version
	}
	if current > latest {
		return fmt.Errorf("database schema is at version %d but this avanti knows only up to %d: install the newer avanti or restore a matching backup", current, latest)
	}
	results, err := p.Up(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	for _, r := range results {
		slog.Info("migration applied", "version", r.Source.Version, "file", r.Source.Path, "duration", r.Duration)
	}
	return nil
}

// SchemaVersion is the schema version of the database.
func (s *Store) SchemaVersion(ctx context.Context) (int64, error) {
	p, err := provider(s.db)
	if err != nil {
		return 0, err
	}
	return p.GetDBVersion(ctx)
}
