package backup

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"filippo.io/age"
)

// RestorePlan says what Restore does, or in a dry run would do.
type RestorePlan struct {
	Backup   Manifest  `json:"backup"`   // the backup restored (its manifest beside the archive)
	Database string    `json:"database"` // the database restored into
	Target   time.Time `json:"target,omitzero"`
	// ReplacesTables are the tables and views of the database that are
	// dropped first; empty for a new or empty database.
	ReplacesTables []string `json:"replaces_tables,omitempty"`
	Files          int      `json:"files"` // data and config files written back
	// Binlogs are the shipped binlog files replayed after the dump, from
	// BinlogStart; ReplayUntil is the time of the last transaction replayed
	// (zero when none is).
	Binlogs     []string   `json:"binlogs,omitempty"`
	BinlogStart *BinlogPos `json:"binlog_start,omitempty"`
	ReplayUntil time.Time  `json:"replay_until,omitzero"`
	// RecoversTo is the point the database is restored to: the target, or
	// the last shipped transaction, or the backup's snapshot.
	RecoversTo time.Time `json:"recovers_to"`
	Steps      []string  `json:"steps"`
	Warnings   []string  `json:"warnings,omitempty"`

	replay []replayFile
}

type replayFile struct {
	path        string
	start, stop int64 // replay the events in [start, stop)
	size        int64
}

// Restore restores a backup into the database of opt.DSN (created if
// missing; its tables are replaced) and the data directory and config file
// of opt, then replays the shipped binary logs up to target: the state at
// that second (transactions stamped before it), or with a zero target all
// of them (the latest state). archive names the backup ("" or "latest":
// the newest one taken before target). With dryRun nothing changes and the
// plan says what would be done. The appliance should be stopped while its
// own database is restored; a new backup right after a restore gives the
// next point-in-time recovery a start after it.
func Restore(ctx context.Context, opt Options, archive string, target time.Time, dryRun bool) (RestorePlan, error) {
	if err := opt.check(); err != nil {
		return RestorePlan{}, err
	}
	unlock, err := lockDir(opt.Dir, false)
	if err != nil {
		return RestorePlan{}, err
	}
	defer unlock()
	target = target.UTC().Truncate(time.Second)
	plan, err := makePlan(ctx, &opt, archive, target, true)
	if err != nil || dryRun {
		return plan, err
	}
	return plan, restore(ctx, &opt, &plan)
}

// RestoreSnapshot restores a backup as it was taken, replaying no binlog:
// the state at its snapshot, e.g. to roll back a failed update (whose
// migrations the binlogs hold). archive and dryRun are as for Restore.
func RestoreSnapshot(ctx context.Context, opt Options, archive string, dryRun bool) (RestorePlan, error) {
	if err := opt.check(); err != nil {
		return RestorePlan{}, err
	}
	unlock, err := lockDir(opt.Dir, false)
	if err != nil {
		return RestorePlan{}, err
	}
	defer unlock()
	plan, err := makePlan(ctx, &opt, archive, time.Time{}, false)
	if err != nil || dryRun {
		return plan, err
	}
	return plan, restore(ctx, &opt, &plan)
}

func chooseBackup(dir, archive string, target time.Time) (Manifest, error) {
	if archive != "" && archive != "latest" {
		m, err := resolve(dir, archive)
		if err != nil {
			return m, err
		}
		if !target.IsZero() && m.SnapshotAt.After(target) {
			return m, fmt.Errorf("backup %s was taken at %s, after %s: choose an earlier backup", m.Name,
				m.SnapshotAt.Format(time.RFC3339), target.Format(time.RFC3339))
		}
		return m, nil
	}
	all, err := backups(dir)
	if err != nil {
		return Manifest{}, err
	}
	for i := len(all) - 1; i >= 0; i-- {
		if target.IsZero() || !all[i].SnapshotAt.After(target) {
			return all[i], nil
		}
	}
	if len(all) == 0 {
		return Manifest{}, fmt.Errorf("no backup in %s", dir)
	}
	return Manifest{}, fmt.Errorf("no backup in %s was taken before %s (the oldest is from %s)", dir,
		target.Format(time.RFC3339), all[0].SnapshotAt.Format(time.RFC3339))
}

func makePlan(ctx context.Context, opt *Options, archive string, target time.Time, replay bool) (RestorePlan, error) {
	plan := RestorePlan{Target: target}
	m, err := chooseBackup(opt.Dir, archive, target)
	if err != nil {
		return plan, err
	}
	plan.Backup = m
	plan.RecoversTo = m.SnapshotAt
	cfg, err := dbConfig(opt.DSN)
	if err != nil {
		return plan, err
	}
	if cfg.DBName == "" {
		return plan, fmt.Errorf("restore: the DSN names no database to restore into")
	}
	plan.Database = cfg.DBName
	if m.Encrypted {
		ids, err := parseIdentities(opt.Identities)
		if err != nil {
			return plan, err
		}
		if len(ids) == 0 {
			return plan, ErrNoIdentity
		}
	}

	// What the database holds now.
	cfg.DBName = ""
	admin, err := openConfig(cfg)
	if err != nil {
		return plan, err
	}
	defer admin.Close()
	rows, err := admin.QueryContext(ctx, `SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME`, plan.Database)
	if err != nil {
		return plan, fmt.Errorf("restore: connect to the database server: %w", err)
	}
	for rows.Next() {
		var n string
		rows.Scan(&n)
		plan.ReplacesTables = append(plan.ReplacesTables, n)
	}
	rows.Close()

	if files, err := innerFiles(m); err == nil {
		plan.Files = files
	}

	if replay {
		if err := planBinlogs(opt, &plan, target); err != nil {
			return plan, err
		}
	}

	where := fmt.Sprintf("database %s", quoteIdent(plan.Database))
	if len(plan.ReplacesTables) > 0 {
		plan.Steps = append(plan.Steps, fmt.Sprintf("drop the %d tables of %s", len(plan.ReplacesTables), where))
	} else {
		plan.Steps = append(plan.Steps, fmt.Sprintf("create %s if missing", where))
	}
	plan.Steps = append(plan.Steps, fmt.Sprintf("load the dump of %s (snapshot %s, %d tables) into %s",
		m.Name, m.SnapshotAt.Format(time.RFC3339), len(m.Tables), where))
	if opt.DataDir != "" || opt.ConfigFile != "" {
		plan.Steps = append(plan.Steps, "write back the certificates, media, system settings and config file"+fileCount(plan.Files))
	}
	if len(plan.Binlogs) > 0 {
		until := "the end of the shipped binlogs"
		if !target.IsZero() {
			until = target.Format(time.RFC3339)
		}
		plan.Steps = append(plan.Steps, fmt.Sprintf("replay %d binlog file(s) from %s up to %s", len(plan.Binlogs), plan.BinlogStart, until))
	}
	plan.Steps = append(plan.Steps, "the database is then as of "+plan.RecoversTo.Format(time.RFC3339))
	return plan, nil
}

func fileCount(n int) string {
	if n <= 0 {
		return ""
	}
	return fmt.Sprintf(" (%d files)", n)
}

// innerFiles counts the files of a backup from its manifest's parts.
func innerFiles(m Manifest) (int, error) {
	if len(m.Parts) == 0 {
		return 0, fmt.Errorf("unknown")
	}
	n := 0
	for _, p := range m.Parts {
		if strings.HasPrefix(p.Name, "files/") || strings.HasPrefix(p.Name, "config/") {
			n++
		}
	}
	return n, nil
}

// planBinlogs chooses the binlog files to replay and where to stop.
func planBinlogs(opt *Options, plan *RestorePlan, target time.Time) error {
	m := plan.Backup
	if m.Binlog == nil {
		if !target.IsZero() && target.After(m.SnapshotAt) {
			return fmt.Errorf("restore: backup %s has no binlog position (the server logged no binlog then): it restores only to %s",
				m.Name, m.SnapshotAt.Format(time.RFC3339))
		}
		return nil
	}
	base, seq, ok := splitBinlogName(m.Binlog.File)
	if !ok {
		return fmt.Errorf("restore: unexpected binlog name %q in %s", m.Binlog.File, m.Name)
	}
	local, err := localBinlogs(opt.Dir)
	if err != nil {
		return err
	}
	var files []binlogFile
	for _, f := range local {
		if f.base == base && f.seq >= seq {
			files = append(files, f)
		}
	}
	if len(files) == 0 || files[0].seq != seq {
		msg := fmt.Sprintf("no shipped binlogs from %s on (is the binlog shipping running?)", m.Binlog.File)
		if !target.IsZero() && target.After(m.SnapshotAt) {
			return fmt.Errorf("restore: cannot reach %s: %s", target.Format(time.RFC3339), msg)
		}
		if target.IsZero() {
			plan.Warnings = append(plan.Warnings, msg+": restoring to the backup's snapshot only")
		}
		return nil
	}
	for i := 1; i < len(files); i++ {
		if files[i].seq != files[i-1].seq+1 {
			// A gap: what follows cannot be replayed.
			plan.Warnings = append(plan.Warnings, fmt.Sprintf("binlog %s.%06d is missing: replay stops before it", base, files[i-1].seq+1))
			files = files[:i]
			break
		}
	}
	plan.BinlogStart = m.Binlog
	dir := filepath.Join(opt.Dir, binlogDir)
	cut := false
	for i, f := range files {
		from := int64(4)
		if i == 0 {
			from = m.Binlog.Pos
		}
		p := filepath.Join(dir, f.name)
		sc, err := scanBinlog(p, from, target)
		if err != nil {
			return fmt.Errorf("restore: %w", err)
		}
		rf := replayFile{path: p, start: from, stop: sc.valid, size: sc.valid - from}
		if sc.cut >= 0 {
			rf.stop = sc.cut
			rf.size = sc.cut - from
		}
		if rf.size > 0 || i == 0 {
			plan.replay = append(plan.replay, rf)
			plan.Binlogs = append(plan.Binlogs, f.name)
		}
		if !sc.last.IsZero() {
			plan.ReplayUntil = sc.last
		}
		if sc.cut >= 0 {
			cut = true
			break
		}
	}
	switch {
	case !target.IsZero():
		plan.RecoversTo = target
		if !cut { // the shipped binlogs end before the target
			last := plan.ReplayUntil
			if last.IsZero() {
				last = m.SnapshotAt
			}
			plan.Warnings = append(plan.Warnings, fmt.Sprintf("the last shipped transaction is from %s; nothing later is known",
				last.Format(time.RFC3339)))
		}
	case !plan.ReplayUntil.IsZero():
		plan.RecoversTo = plan.ReplayUntil
	}
	return nil
}

func restore(ctx context.Context, opt *Options, plan *RestorePlan) error {
	m := plan.Backup
	if err := checkArchive(opt.Dir, m); err != nil {
		return err
	}
	path := filepath.Join(opt.Dir, m.Archive)
	if m.Encrypted { // fail on a wrong identity before anything changes
		if err := tryDecrypt(path, opt.Identities); err != nil {
			return err
		}
	}
	var binlogBytes int64
	for _, r := range plan.replay {
		binlogBytes += r.size
	}
	total := m.Size + binlogBytes

	cfg, err := dbConfig(opt.DSN)
	if err != nil {
		return err
	}
	name := cfg.DBName
	cfg.DBName = ""
	admin, err := openConfig(cfg)
	if err != nil {
		return err
	}
	defer admin.Close()
	charset, collation := m.Charset, m.Collation
	if charset == "" {
		charset, collation = "utf8mb4", "utf8mb4_unicode_ci"
	}
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE IF NOT EXISTS "+quoteIdent(name)+" CHARACTER SET "+charset+" COLLATE "+collation); err != nil {
		return fmt.Errorf("restore: create database: %w", err)
	}
	cfg.DBName = name
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
	if err := dropAll(ctx, conn); err != nil {
		return err
	}
	progress := func(done int64) { opt.progress(done, total) }
	_, err = readArchive(path, opt.Identities, progress, func(hdr *tar.Header, r io.Reader) error {
		if strings.HasPrefix(hdr.Name, "db/") {
			return loadDump(ctx, conn, r)
		}
		target, err := fileTarget(opt, hdr.Name)
		if err != nil || target == "" {
			return err
		}
		if err := restoreFile(target, hdr, r); err != nil {
			return fmt.Errorf("restore: %s: %w", target, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	conn.Close()
	if len(plan.replay) == 0 {
		opt.progress(total, total)
		return nil
	}
	return replayBinlogs(ctx, opt, plan, m.Database, name, func(done int64) { opt.progress(m.Size+done, total) })
}

func tryDecrypt(path string, identities []string) error {
	ids, err := parseIdentities(identities)
	if err != nil {
		return err
	}
	if len(ids) == 0 {
		return ErrNoIdentity
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := age.Decrypt(f, ids...); err != nil {
		return fmt.Errorf("%w (%v)", ErrNoIdentity, err)
	}
	return nil
}

// dropAll drops every view and table of the connection's database.
func dropAll(ctx context.Context, conn *sql.Conn) error {
	rows, err := conn.QueryContext(ctx, `SELECT TABLE_NAME, TABLE_TYPE FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()`)
	if err != nil {
		return err
	}
	var stmts []string
	for rows.Next() {
		var n, kind string
		rows.Scan(&n, &kind)
		if kind == "VIEW" {
			stmts = append([]string{"DROP VIEW IF EXISTS " + quoteIdent(n)}, stmts...)
		} else {
			stmts = append(stmts, "DROP TABLE IF EXISTS "+quoteIdent(n))
		}
	}
	rows.Close()
	if _, err := conn.ExecContext(ctx, "SET foreign_key_checks = 0"); err != nil {
		return err
	}
	for _, s := range stmts {
		if _, err := conn.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("restore: %s: %w", s, err)
		}
	}
	return nil
}

// replayBinlogs pipes each binlog file's events for the backed-up database
// (renamed to the restored one) through mariadb-binlog into the mariadb
// client. Transactions never span files, so one client per file is enough.
func replayBinlogs(ctx context.Context, opt *Options, plan *RestorePlan, from, to string, progress func(int64)) error {
	binlogTool, err := lookTool("mariadb-binlog")
	if err != nil {
		return err
	}
	client, err := lookTool("mariadb")
	if err != nil {
		return err
	}
	defaults, cleanup, err := clientDefaults(opt.DSN, "")
	if err != nil {
		return err
	}
	defer cleanup()
	var done int64
	for _, rf := range plan.replay {
		if rf.stop <= rf.start {
			continue
		}
		// The file is read up to the cut (or the end of its last whole
		// event) through stdin: mariadb-binlog reads one event past
		// --stop-position and fails on a torn one.
		f, err := os.Open(rf.path)
		if err != nil {
			return fmt.Errorf("restore: %w", err)
		}
		args := []string{"--no-defaults", "--skip-gtid-strict-mode", "--database=" + from, "--start-position=" + strconv.FormatInt(rf.start, 10)}
		if from != to {
			args = append(args, "--rewrite-db="+from+"->"+to)
		}
		producer := exec.CommandContext(ctx, binlogTool, append(args, "-")...)
		base := done
		producer.Stdin = &readCounter{r: io.LimitReader(f, rf.stop), progress: func(n int64) {
			progress(base + max(0, n-rf.start))
		}}
		err = pipe(ctx, producer,
			exec.CommandContext(ctx, client, "--defaults-file="+defaults, "--default-character-set=utf8mb4", "--binary-mode", "--batch"))
		f.Close()
		if err != nil {
			return fmt.Errorf("restore: replay %s: %w", filepath.Base(rf.path), err)
		}
		done += rf.size
		progress(done)
	}
	return nil
}

// pipe runs producer | consumer, leaving out the statements that would
// give the replayed transactions their original GTIDs: logged again with
// those, they would come out of order in the server's binlog (or be
// refused under gtid_strict_mode); they get new ones instead.
func pipe(ctx context.Context, producer, consumer *exec.Cmd) error {
	out, err := producer.StdoutPipe()
	if err != nil {
		return err
	}
	in, err := consumer.StdinPipe()
	if err != nil {
		return err
	}
	perr, cerr := &limitedBuffer{max: 4 << 10}, &limitedBuffer{max: 4 << 10}
	producer.Stderr = perr
	consumer.Stdout, consumer.Stderr = cerr, cerr
	for _, c := range []*exec.Cmd{producer, consumer} {
		c.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	}
	if err := consumer.Start(); err != nil {
		return err
	}
	if err := producer.Start(); err != nil {
		in.Close()
		consumer.Wait()
		return err
	}
	copyErr := dropGTIDs(in, out)
	in.Close()
	if copyErr != nil {
		producer.Process.Kill()
	}
	pe := producer.Wait()
	ce := consumer.Wait()
	switch {
	case ce != nil:
		return fmt.Errorf("mariadb: %v: %s", ce, strings.TrimSpace(cerr.String()))
	case pe != nil:
		return fmt.Errorf("mariadb-binlog: %v: %s", pe, strings.TrimSpace(perr.String()))
	case copyErr != nil:
		return copyErr
	}
	return ctx.Err()
}

var gtidSeqNo = []byte("/*M!100001 SET @@session.gtid_seq_no=")

// dropGTIDs copies mariadb-binlog's output, without its gtid_seq_no lines.
func dropGTIDs(w io.Writer, r io.Reader) error {
	br := bufio.NewReaderSize(r, 64<<10)
	atStart := true
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			skip := atStart && bytes.HasPrefix(line, gtidSeqNo)
			if !skip {
				if _, werr := w.Write(line); werr != nil {
					return werr
				}
			}
			atStart = line[len(line)-1] == '\n'
		}
		switch {
		case err == bufio.ErrBufferFull:
		case err == io.EOF:
			return nil
		case err != nil:
			return err
		}
	}
}
