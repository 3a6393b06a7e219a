// Package backup keeps the appliance's data safe: consistent backups of the
// database taken while the appliance keeps serving, together with its
// configuration, certificates and uploaded media; binary logs shipped
// continuously for point-in-time recovery; a verified restore of every
// backup into a scratch database; retention; and an off-site copy over SFTP
// with the server's host key pinned.
//
// # Layout of the backup directory (Options.Dir)
//
//	avanti-20261202T030000Z.tar.zst[.age]   the archive
//	avanti-20261202T030000Z.json            its manifest, written last: a backup exists once this file does
//	avanti-20261202T030000Z.verified.json   the result of its last Verify
//	binlogs/binlog.000042 …                 binary logs shipped by ShipBinlogs (ship.json: its state)
//	offsite.json                            the state of the off-site copy
//
// The directory may be a mounted NFS or SMB share (mount it at Options.Dir,
// e.g. with a systemd .mount unit): everything is written to a temporary
// name, fsynced and renamed, so a share sees whole files only.
//
// # Archive
//
// An archive is a tar stream compressed with zstd and, when Options.Recipients
// is set, encrypted with age to those public keys. Its entries: the database
// dump as db/NNNNNN-<table>.sql parts (one SQL statement per line: the schema,
// then INSERTs of at most about 1 MiB, then views, triggers and routines);
// the data directory's tls/, media/ and system/ under files/; the config file
// under config/; and manifest.json last, with the SHA-256 of every part and
// the row count and checksum of every table.
//
// # Why a dump of our own rather than mariadb-dump
//
// The dump is written by this package over one connection inside one
// START TRANSACTION WITH CONSISTENT SNAPSHOT (REPEATABLE READ, no global read
// lock, so bookings go on). In that same snapshot it reads MariaDB's
// binlog_snapshot_file/position (the binlog position exactly matching the
// snapshot, where point-in-time recovery starts) and computes each table's
// row count and checksum while streaming its rows. mariadb-dump would take
// the same kind of snapshot, but the checksums could then only be computed
// in another transaction, at another point in time, while the appliance is
// writing: Verify could not tell a bad dump from a booking made meanwhile.
//
// A table's checksum is the sum modulo 2^256 of the SHA-256 of each row's
// columns as the server prints them (text protocol, time_zone +00:00), so it
// does not depend on row order; generated columns are left out, as they are
// recomputed on restore.
//
// # Point-in-time recovery
//
// ShipBinlogs runs `mariadb-binlog --read-from-remote-server --raw
// --stop-never`, a replica connection that writes every binlog event into
// Dir/binlogs/ as the server commits it (works against any server the DSN
// reaches, the private test instance included, and needs no access to the
// server's own files). Every ShipInterval (default one minute) it fsyncs
// them and appends what is new to the off-site server, so at most a minute
// or two of bookings are lost with the VM's disk. Restore loads a dump, then
// pipes `mariadb-binlog --start-position … --stop-datetime …` of the shipped
// binlogs from the dump's position into the `mariadb` client.
//
// The server needs log_bin, binlog_format=ROW and a server_id; the account
// of Options.DSN needs SELECT, SHOW VIEW, TRIGGER, EVENT, REPLICATION SLAVE,
// BINLOG MONITOR (or REPLICATION CLIENT), BINLOG REPLAY (for restores), and
// CREATE and DROP of databases named avanti_verify_* (for Verify); on the
// appliance, root over the unix socket.
package backup

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"avanti/appliance/atomicfile"
)

// FormatVersion is the archive format this package writes and reads.
const FormatVersion = 1

// DataSubdirs are the directories under Options.DataDir that are backed up
// (certificates, uploaded media, system settings). The voice cache is not:
// it is rebuilt on demand.
var DataSubdirs = []string{"tls", "media", "system"}

// Options say what to back up, where, and how.
type Options struct {
	// DSN is the database, in go-sql-driver format with the database name
	// (e.g. root@unix(/run/mysqld/mysqld.sock)/avanti). Run dumps it;
	// Restore restores into it (creating it if needed); Verify creates its
	// scratch database on the same server.
	DSN string
	// DataDir is the appliance's data directory (/var/lib/avanti); its
	// DataSubdirs are backed up and restored.
	DataDir string
	// ConfigFile is the appliance's config file, backed up and restored;
	// empty for none.
	ConfigFile string
	// Dir is the local backup directory (a local disk or an NFS/SMB mount).
	Dir string
	// Recipients are age public keys (age1…) or SSH public keys
	// (ssh-ed25519 …, ssh-rsa …) to encrypt archives to; empty: archives are
	// not encrypted.
	Recipients []string
	// Identities decrypt archives for Verify and Restore: age secret keys
	// (AGE-SECRET-KEY-1…) or paths of files holding age identities or an
	// unencrypted SSH private key.
	Identities []string
	// Retention is how many backups are kept; zero fields take the defaults.
	Retention Retention
	// Offsite is the municipality's backup server; nil: no off-site copy.
	Offsite *SFTPTarget
	// Progress, if set, is called as work advances: done and total bytes of
	// the current operation (total is an estimate while dumping).
	Progress func(done, total int64)
	// Log receives what happens in the background (ShipBinlogs, off-site
	// copies); nil discards it.
	Log *slog.Logger
	// AppVersion is recorded in manifests.
	AppVersion string
	// ShipInterval is how often ShipBinlogs fsyncs and copies binlogs off
	// site; default one minute.
	ShipInterval time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Retention is how many backups are kept: the newest of each of the last
// Daily days, Weekly ISO weeks and Monthly months that have one (days in the
// appliance's local time), plus always the newest and the newest verified.
// A zero field takes its default (7, 4, 12); a negative one keeps none of
// that kind.
type Retention struct {
	Daily, Weekly, Monthly int
}

// DefaultRetention is 7 daily, 4 weekly and 12 monthly backups.
var DefaultRetention = Retention{Daily: 7, Weekly: 4, Monthly: 12}

// Manifest describes one backup.
type Manifest struct {
	Version    int       `json:"version"`
	AppVersion string    `json:"app_version,omitempty"`
	Name       string    `json:"name"`    // e.g. avanti-20261202T030000Z
	Archive    string    `json:"archive"` // file name in Dir
	CreatedAt  time.Time `json:"created_at"`
	// SnapshotAt is just before the database snapshot was taken: every
	// transaction committed before it is in the dump.
	SnapshotAt time.Time     `json:"snapshot_at"`
	Duration   time.Duration `json:"duration_ns"`
	Database   string        `json:"database"`
	Charset    string        `json:"charset"`
	Collation  string        `json:"collation"`
	Server     string        `json:"server"` // version() of the server
	// Binlog is the binary log position of the snapshot, where
	// point-in-time recovery starts; nil when the server logs no binlog.
	Binlog     *BinlogPos `json:"binlog,omitempty"`
	Encrypted  bool       `json:"encrypted"`
	Recipients []string   `json:"recipients,omitempty"`
	// Tables and Parts are left out of the manifest beside an encrypted
	// archive (their checksums could confirm guesses of its contents); the
	// copy inside the archive has them.
	Tables []TableSum `json:"tables,omitempty"`
	Parts  []Part     `json:"parts,omitempty"`
	// DataBytes is the size of the uncompressed tar stream.
	DataBytes int64 `json:"data_bytes"`
	// Size and SHA256 are those of the archive file (not in the copy inside).
	Size   int64  `json:"size,omitempty"`
	SHA256 string `json:"sha256,omitempty"`
}

// BinlogPos is a position in the server's binary log.
type BinlogPos struct {
	File string `json:"file"`
	Pos  int64  `json:"pos"`
}

func (p BinlogPos) String() string { return fmt.Sprintf("%s:%d", p.File, p.Pos) }

// TableSum is what was dumped of one table.
type TableSum struct {
	Name     string `json:"name"`
	Rows     int64  `json:"rows"`
	Checksum string `json:"checksum"` // hex; see the package documentation
}

// Part is one entry of the archive.
type Part struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Errors callers act on.
var (
	// ErrBusy: another backup, verify or restore holds the directory.
	ErrBusy = errors.New("another backup operation is running on this backup directory")
	// ErrOffsite wraps a failed off-site copy; the local backup is complete.
	ErrOffsite = errors.New("off-site copy failed")
	// ErrHostKeyMismatch: the off-site server presented another host key
	// than the pinned one; nothing was sent.
	ErrHostKeyMismatch = errors.New("off-site server host key does not match the pinned key")
	// ErrNoIdentity: the archive is encrypted and no identity opens it.
	ErrNoIdentity = errors.New("the archive is encrypted: an age identity (backup secret key) is needed to read it")
	// ErrCorrupt: the archive is damaged or was altered.
	ErrCorrupt = errors.New("backup archive is corrupted")
	// ErrMissingTool: a MariaDB client program is not installed.
	ErrMissingTool = errors.New("MariaDB client program missing")
)

func (o *Options) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

func (o *Options) log() *slog.Logger {
	if o.Log != nil {
		return o.Log
	}
	return slog.New(slog.DiscardHandler)
}

func (o *Options) progress(done, total int64) {
	if o.Progress == nil {
		return
	}
	if total < done {
		total = done
	}
	o.Progress(done, total)
}

func (o *Options) check() error {
	if o.DSN == "" {
		return errors.New("backup: no database DSN")
	}
	if o.Dir == "" {
		return errors.New("backup: no backup directory")
	}
	return nil
}

// Run takes a backup: a consistent dump of the database while it keeps
// serving, and the data directory's files, into a new archive in Dir. The
// archive is written under a temporary name, fsynced and renamed, then its
// manifest likewise; a run that fails or is killed midway leaves older
// backups untouched, and the next run removes its leftovers. After a
// complete backup, backups beyond the retention are deleted, and with
// Offsite set the new archive is copied off site: if only that copy fails,
// Run returns the manifest and an error wrapping ErrOffsite. Like Verify, it
// first drops the scratch databases of verifications killed midway.
func Run(ctx context.Context, opt Options) (Manifest, error) {
	if err := opt.check(); err != nil {
		return Manifest{}, err
	}
	if err := os.MkdirAll(opt.Dir, 0o700); err != nil {
		return Manifest{}, fmt.Errorf("backup directory: %w", err)
	}
	unlock, err := lockDir(opt.Dir, true)
	if err != nil {
		return Manifest{}, err
	}
	defer unlock()
	removeLeftovers(opt.Dir)
	cleanScratch(ctx, &opt)

	m, err := write(ctx, &opt)
	if err != nil {
		return Manifest{}, err
	}
	if _, err := prune(opt.Dir, opt.Retention, opt.now()); err != nil {
		opt.log().Warn("backup: retention", "err", err)
	}
	if opt.Offsite != nil {
		if err := syncOffsite(ctx, &opt); err != nil {
			return m, err
		}
	}
	return m, nil
}

// write makes the archive and its manifest.
func write(ctx context.Context, opt *Options) (Manifest, error) {
	start := opt.now()
	m := Manifest{Version: FormatVersion, AppVersion: opt.AppVersion, CreatedAt: start.UTC()}
	m.Name = uniqueName(opt.Dir, start)
	m.Encrypted = len(opt.Recipients) > 0
	m.Recipients = opt.Recipients
	m.Archive = m.Name + archiveExt(m.Encrypted)

	tmp, err := atomicfile.Create(filepath.Join(opt.Dir, m.Archive), 0o600)
	if err != nil {
		return m, fmt.Errorf("backup: %w", err)
	}
	defer tmp.Abort()
	aw, err := newArchiveWriter(tmp, opt.Recipients)
	if err != nil {
		return m, err
	}
	db, err := openDB(opt.DSN)
	if err != nil {
		return m, err
	}
	defer db.Close()

	var total int64
	if est, err := estimateDump(ctx, db); err == nil {
		total = est
	}
	files, err := listDataFiles(opt)
	if err != nil {
		return m, err
	}
	for _, f := range files {
		total += f.size
	}
	aw.onWrite = func(done int64) { opt.progress(done, total) }

	if err := dumpDatabase(ctx, db, aw, &m, opt.now); err != nil {
		return m, err
	}
	for _, f := range files {
		if err := ctx.Err(); err != nil {
			return m, err
		}
		if err := aw.addFile(f.name, f.path); err != nil {
			return m, err
		}
	}
	m.Parts = aw.parts
	m.DataBytes = aw.written()
	m.Duration = opt.now().Sub(start)
	if err := aw.close(m); err != nil {
		return m, err
	}
	m.Size, m.SHA256 = aw.fileSize(), aw.fileSHA256()
	if err := ctx.Err(); err != nil {
		return m, err
	}
	if err := tmp.Commit(); err != nil {
		return m, fmt.Errorf("backup: archive: %w", err)
	}
	if err := writeJSON(filepath.Join(opt.Dir, m.Name+manifestExt), sideManifest(m)); err != nil {
		os.Remove(filepath.Join(opt.Dir, m.Archive))
		return m, err
	}
	opt.progress(m.DataBytes, m.DataBytes)
	return m, nil
}

// sideManifest is the manifest kept beside the archive.
func sideManifest(m Manifest) Manifest {
	if m.Encrypted {
		m.Tables, m.Parts = nil, nil
	}
	return m
}
