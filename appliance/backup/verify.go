package backup

import (
	"archive/tar"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"time"
)

// Verification is the result of Verify, kept beside the archive as
// <name>.verified.json.
type Verification struct {
	Name       string        `json:"name"`
	VerifiedAt time.Time     `json:"verified_at"`
	OK         bool          `json:"ok"`
	Error      string        `json:"error,omitempty"`
	Database   string        `json:"database,omitempty"` // the scratch database it was restored into
	Duration   time.Duration `json:"duration_ns"`
	Tables     []TableCheck  `json:"tables,omitempty"`
}

// TableCheck compares a table as dumped with the same table restored.
type TableCheck struct {
	Name         string `json:"name"`
	WantRows     int64  `json:"want_rows"`
	GotRows      int64  `json:"got_rows"`
	WantChecksum string `json:"want_checksum"`
	GotChecksum  string `json:"got_checksum"`
	OK           bool   `json:"ok"`
}

// ErrVerifyFailed: the archive is intact but does not restore to what was
// dumped.
var ErrVerifyFailed = errors.New("backup verification failed")

// Verify restores a backup ("" or "latest": the newest; else its name or
// archive file) into a scratch database avanti_verify_<random> on the same
// server, compares every table's row count and checksum with those recorded
// when it was dumped, records the result beside the archive and drops the
// scratch database. A damaged archive fails with ErrCorrupt, a table that
// differs with ErrVerifyFailed; both are recorded too. Scratch databases
// left by a verify that was killed midway are dropped first.
func Verify(ctx context.Context, opt Options, archive string) (Verification, error) {
	if err := opt.check(); err != nil {
		return Verification{}, err
	}
	unlock, err := lockDir(opt.Dir, false)
	if err != nil {
		return Verification{}, err
	}
	defer unlock()
	m, err := resolve(opt.Dir, archive)
	if err != nil {
		return Verification{}, err
	}
	start := opt.now()
	v := Verification{Name: m.Name}
	err = verify(ctx, &opt, m, &v)
	v.VerifiedAt = opt.now().UTC()
	v.Duration = v.VerifiedAt.Sub(start)
	v.OK = err == nil
	if err != nil {
		v.Error = err.Error()
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return v, err // not a verdict on the backup
		}
	}
	if werr := writeJSON(filepath.Join(opt.Dir, m.Name+verifiedExt), v); werr != nil && err == nil {
		err = werr
	}
	return v, err
}

func verify(ctx context.Context, opt *Options, m Manifest, v *Verification) error {
	if err := checkArchive(opt.Dir, m); err != nil {
		return err
	}
	cfg, err := dbConfig(opt.DSN)
	if err != nil {
		return err
	}
	b := make([]byte, 6)
	rand.Read(b)
	scratch := scratchPrefix + hex.EncodeToString(b)
	v.Database = scratch
	cfg.DBName = ""
	admin, err := openConfig(cfg)
	if err != nil {
		return err
	}
	defer admin.Close()
	dropScratchLeftovers(ctx, admin, opt.log())
	// Held from before the scratch database exists until it is dropped:
	// the sign for dropScratchLeftovers that it is in use.
	lock, err := admin.Conn(ctx)
	if err != nil {
		return err
	}
	defer lock.Close()
	var locked sql.NullInt64
	if err := lock.QueryRowContext(ctx, "SELECT GET_LOCK(?, 0)", scratch).Scan(&locked); err != nil || locked.Int64 != 1 {
		return fmt.Errorf("verify: lock %s: %v", scratch, err)
	}
	defer lock.ExecContext(context.WithoutCancel(ctx), "DO RELEASE_LOCK(?)", scratch)
	charset, collation := m.Charset, m.Collation
	if charset == "" {
		charset, collation = "utf8mb4", "utf8mb4_unicode_ci"
	}
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+quoteIdent(scratch)+" CHARACTER SET "+charset+" COLLATE "+collation); err != nil {
		return fmt.Errorf("verify: create scratch database: %w", err)
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		admin.ExecContext(dctx, "DROP DATABASE IF EXISTS "+quoteIdent(scratch))
	}()
	cfg.DBName = scratch
	db, err := openConfig(cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	// The scratch database need not reach the binary log (and its shipped
	// copies); without the privilege to turn that off, it is logged.
	conn.ExecContext(ctx, "SET SESSION sql_log_bin = 0")

	progress := func(done int64) { opt.progress(done, m.Size) }
	inner, err := readArchive(filepath.Join(opt.Dir, m.Archive), opt.Identities, progress, func(hdr *tar.Header, r io.Reader) error {
		if strings.HasPrefix(hdr.Name, "db/") {
			return loadDump(ctx, conn, r)
		}
		return nil
	})
	if err != nil {
		return err
	}
	got, err := sumTables(ctx, conn)
	if err != nil {
		return fmt.Errorf("verify: read restored tables: %w", err)
	}
	checks, bad := compareTables(inner.Tables, got)
	v.Tables = checks
	if len(bad) > 0 {
		return fmt.Errorf("%w: %s", ErrVerifyFailed, strings.Join(bad, "; "))
	}
	return nil
}

func compareTables(want, got []TableSum) ([]TableCheck, []string) {
	gotBy := map[string]TableSum{}
	for _, g := range got {
		gotBy[g.Name] = g
	}
	var checks []TableCheck
	var bad []string
	seen := map[string]bool{}
	for _, w := range want {
		g, ok := gotBy[w.Name]
		seen[w.Name] = true
		c := TableCheck{Name: w.Name, WantRows: w.Rows, WantChecksum: w.Checksum, GotRows: g.Rows, GotChecksum: g.Checksum}
		c.OK = ok && g.Rows == w.Rows && g.Checksum == w.Checksum
		checks = append(checks, c)
		switch {
		case !ok:
			bad = append(bad, "table "+w.Name+" is missing after the restore")
		case g.Rows != w.Rows:
			bad = append(bad, fmt.Sprintf("table %s has %d rows after the restore, %d were dumped", w.Name, g.Rows, w.Rows))
		case g.Checksum != w.Checksum:
			bad = append(bad, "table "+w.Name+": the restored rows' checksum differs from the dumped rows'")
		}
	}
	for _, g := range got {
		if !seen[g.Name] {
			bad = append(bad, "table "+g.Name+" was restored but not dumped")
			checks = append(checks, TableCheck{Name: g.Name, GotRows: g.Rows, GotChecksum: g.Checksum})
		}
	}
	return checks, bad
}

// scratchPrefix names the databases Verify restores into.
const scratchPrefix = "avanti_verify_"

// dropScratchLeftovers drops the scratch databases of verifications that
// were killed midway (a verify's deferred DROP never ran). A running verify
// holds the user lock named after its scratch database (GET_LOCK, released
// by the server when its connection goes, however the process ended), so a
// scratch database whose lock can be taken is nobody's; several verifies on
// one server, from one backup directory or several, leave each other's
// alone. Failures are only logged: a leftover costs disk space, not
// correctness.
func dropScratchLeftovers(ctx context.Context, admin *sql.DB, log *slog.Logger) {
	rows, err := admin.QueryContext(ctx, `SHOW DATABASES LIKE 'avanti\_verify\_%'`)
	if err != nil {
		log.Warn("verify: list scratch databases", "err", err)
		return
	}
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err == nil && strings.HasPrefix(n, scratchPrefix) {
			names = append(names, n)
		}
	}
	rows.Close()
	for _, n := range names {
		switch err := dropIfAbandoned(ctx, admin, n); {
		case errors.Is(err, errInUse):
		case err != nil:
			log.Warn("verify: drop a leftover scratch database", "database", n, "err", err)
		default:
			log.Info("verify: dropped a leftover scratch database", "database", n)
		}
	}
}

// cleanScratch is dropScratchLeftovers on a connection of its own (Run).
func cleanScratch(ctx context.Context, opt *Options) {
	cfg, err := dbConfig(opt.DSN)
	if err != nil {
		return // Run reports a bad DSN itself
	}
	cfg.DBName = ""
	admin, err := openConfig(cfg)
	if err != nil {
		return
	}
	defer admin.Close()
	dropScratchLeftovers(ctx, admin, opt.log())
}

// errInUse: a verify is using the scratch database.
var errInUse = errors.New("in use")

func dropIfAbandoned(ctx context.Context, admin *sql.DB, name string) error {
	conn, err := admin.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	var got sql.NullInt64
	if err := conn.QueryRowContext(ctx, "SELECT GET_LOCK(?, 0)", name).Scan(&got); err != nil {
		return err
	}
	if got.Int64 != 1 {
		return errInUse
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), "DO RELEASE_LOCK(?)", name)
	_, err = conn.ExecContext(ctx, "DROP DATABASE IF EXISTS "+quoteIdent(name))
	return err
}
