package benchkit

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"

	"avanti/appliance/store"
)

// FreshDatabase creates a database of its own for a run of the command cmd
// on the server of serverDSN (user:pass@tcp(host:port)/), named after the
// command: avanti-bench makes avanti_bench_<random>. It returns the DSN of
// that database and a function that drops it, or with keep only says that
// it is kept. Progress lines tell both; a failed drop is reported on
// stderr.
func FreshDatabase(ctx context.Context, serverDSN, cmd string, keep bool) (dsn string, drop func(), err error) {
	cfg, err := store.Config(serverDSN)
	if err != nil {
		return "", nil, err
	}
	b := make([]byte, 6)
	rand.Read(b)
	name := strings.ReplaceAll(cmd, "-", "_") + "_" + hex.EncodeToString(b)
	cfg.DBName = ""
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return "", nil, err
	}
	admin := sql.OpenDB(conn)
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name+" CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"); err != nil {
		admin.Close()
		return "", nil, fmt.Errorf("create database (is the private MariaDB running? `make bench` starts it): %w", err)
	}
	Progress("database %s created", name)
	drop = func() {
		defer admin.Close()
		if keep {
			Progress("database %s kept (-keep)", name)
			return
		}
		dctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if _, err := admin.ExecContext(dctx, "DROP DATABASE IF EXISTS "+name); err != nil {
			fmt.Fprintf(os.Stderr, "%s: drop database %s: %v\n", cmd, name, err)
			return
		}
		Progress("database %s dropped", name)
	}
	cfg.DBName = name
	return cfg.FormatDSN(), drop, nil
}

// FreshStore opens the appliance's store, migrated, on a FreshDatabase.
// done closes the store, then drops the database (unless keep).
func FreshStore(ctx context.Context, serverDSN, cmd string, keep bool) (st *store.Store, done func(), err error) {
	dsn, drop, err := FreshDatabase(ctx, serverDSN, cmd, keep)
	if err != nil {
		return nil, nil, err
	}
	if st, err = store.Open(ctx, dsn); err != nil {
		drop()
		return nil, nil, err
	}
	if err := st.Migrate(ctx); err != nil {
		st.Close()
		drop()
		return nil, nil, err
	}
	return st, func() { st.Close(); drop() }, nil
}
