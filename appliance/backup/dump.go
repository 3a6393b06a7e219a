package backup

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
)

const (
	stmtLimit = 1 << 20 // an INSERT holds rows up to about this many bytes
	partLimit = 4 << 20 // a dump part holds statements up to about this many bytes
)

// dbConfig parses a DSN and sets what the dump and restore rely on: values
// as the server prints them (no time parsing), UTC for TIMESTAMP columns,
// utf8mb4.
func dbConfig(dsn string) (*mysql.Config, error) {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("backup: database DSN: %w", err)
	}
	cfg.ParseTime = false
	cfg.Loc = time.UTC
	if cfg.Params == nil {
		cfg.Params = map[string]string{}
	}
	cfg.Params["time_zone"] = "'+00:00'"
	cfg.Collation = "utf8mb4_unicode_ci"
	cfg.InterpolateParams = true
	cfg.MultiStatements = false
	return cfg, nil
}

func openConfig(cfg *mysql.Config) (*sql.DB, error) {
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, fmt.Errorf("backup: database settings: %w", err)
	}
	db := sql.OpenDB(conn)
	db.SetMaxOpenConns(4)
	return db, nil
}

func openDB(dsn string) (*sql.DB, error) {
	cfg, err := dbConfig(dsn)
	if err != nil {
		return nil, err
	}
	if cfg.DBName == "" {
		return nil, errors.New("backup: the DSN names no database")
	}
	return openConfig(cfg)
}

// queryer is what both *sql.Conn and *sql.DB offer.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func estimateDump(ctx context.Context, db *sql.DB) (int64, error) {
	var n int64
	err := db.QueryRowContext(ctx, `SELECT COALESCE(SUM(DATA_LENGTH), 0) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()`).Scan(&n)
	return n, err
}

func quoteIdent(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" }

// dumper writes the dump's statements into parts of the archive.
type dumper struct {
	aw    *archiveWriter
	seq   int
	label string
	buf   bytes.Buffer
}

func (d *dumper) statement(s string) error {
	d.buf.WriteString(s)
	d.buf.WriteString(";\n")
	if d.aw.onWrite != nil {
		d.aw.onWrite(d.aw.written() + int64(d.buf.Len()))
	}
	if d.buf.Len() >= partLimit {
		return d.flush()
	}
	return nil
}

func (d *dumper) flush() error {
	if d.buf.Len() == 0 {
		return nil
	}
	d.seq++
	name := fmt.Sprintf("db/%06d-%s.sql", d.seq, safeName(d.label))
	err := d.aw.addPart(name, d.buf.Bytes())
	d.buf.Reset()
	return err
}

// start begins a new part for label after flushing the current one.
func (d *dumper) start(label string) error {
	if err := d.flush(); err != nil {
		return err
	}
	d.label = label
	return nil
}

func safeName(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

// dumpDatabase writes the database into the archive from one consistent
// snapshot, recording in m the snapshot's time and binlog position and each
// table's row count and checksum.
func dumpDatabase(ctx context.Context, db *sql.DB, aw *archiveWriter, m *Manifest, now func() time.Time) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("backup: connect to database: %w", err)
	}
	defer conn.Close()
	if err := conn.QueryRowContext(ctx, `SELECT DATABASE(), VERSION(), s.DEFAULT_CHARACTER_SET_NAME, s.DEFAULT_COLLATION_NAME
		FROM information_schema.SCHEMATA s WHERE s.SCHEMA_NAME = DATABASE()`).Scan(&m.Database, &m.Server, &m.Charset, &m.Collation); err != nil {
		return fmt.Errorf("backup: read database: %w", err)
	}
	if _, err := conn.ExecContext(ctx, "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ"); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	m.SnapshotAt = now().UTC()
	if _, err := conn.ExecContext(ctx, "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY"); err != nil {
		return fmt.Errorf("backup: start snapshot: %w", err)
	}
	defer conn.ExecContext(context.Background(), "ROLLBACK")

	// MariaDB's binlog_snapshot_* status is the binlog position of this
	// very snapshot, without the global read lock mariadb-dump takes
	// elsewhere.
	var logBin int
	if err := conn.QueryRowContext(ctx, "SELECT @@log_bin").Scan(&logBin); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if logBin == 1 {
		pos, err := snapshotPosition(ctx, conn)
		if err != nil {
			return err
		}
		m.Binlog = pos
	}

	type object struct{ name, kind string }
	var tables []object
	rows, err := conn.QueryContext(ctx, `SELECT TABLE_NAME, TABLE_TYPE FROM information_schema.TABLES
		WHERE TABLE_SCHEMA = DATABASE() ORDER BY TABLE_NAME`)
	if err != nil {
		return fmt.Errorf("backup: list tables: %w", err)
	}
	for rows.Next() {
		var o object
		if err := rows.Scan(&o.name, &o.kind); err != nil {
			rows.Close()
			return err
		}
		tables = append(tables, o)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}

	d := &dumper{aw: aw}
	d.start("schema")
	d.buf.WriteString(fmt.Sprintf("-- Avanti backup of database %s, snapshot %s, format %d: one statement per line; restore with `avanti restore`.\n",
		quoteIdent(m.Database), m.SnapshotAt.Format(time.RFC3339), FormatVersion))
	for _, s := range []string{"SET NAMES utf8mb4", "SET time_zone = '+00:00'", "SET foreign_key_checks = 0", "SET unique_checks = 0",
		"SET sql_mode = 'NO_AUTO_VALUE_ON_ZERO,NO_ENGINE_SUBSTITUTION'"} {
		d.statement(s)
	}
	var views []string
	for _, t := range tables {
		if t.kind == "VIEW" {
			views = append(views, t.name)
			continue
		}
		create, err := showCreate(ctx, conn, "SHOW CREATE TABLE "+quoteIdent(t.name), "Create Table")
		if err != nil {
			return err
		}
		if err := d.statement(create); err != nil {
			return err
		}
	}
	for _, t := range tables {
		if t.kind == "VIEW" {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := d.start(t.name); err != nil {
			return err
		}
		sum, err := dumpTable(ctx, conn, d, t.name)
		if err != nil {
			return err
		}
		m.Tables = append(m.Tables, sum)
	}
	if err := d.start("objects"); err != nil {
		return err
	}
	for _, v := range views {
		create, err := showCreate(ctx, conn, "SHOW CREATE VIEW "+quoteIdent(v), "Create View")
		if err != nil {
			return err
		}
		d.statement(create)
	}
	if err := dumpRoutines(ctx, conn, d); err != nil {
		return err
	}
	return d.flush()
}

func snapshotPosition(ctx context.Context, q queryer) (*BinlogPos, error) {
	rows, err := q.QueryContext(ctx, "SHOW STATUS LIKE 'binlog_snapshot_%'")
	if err != nil {
		return nil, fmt.Errorf("backup: binlog position: %w", err)
	}
	defer rows.Close()
	var pos BinlogPos
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return nil, err
		}
		switch strings.ToLower(k) {
		case "binlog_snapshot_file":
			pos.File = v
		case "binlog_snapshot_position":
			fmt.Sscan(v, &pos.Pos)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if pos.File == "" {
		return nil, errors.New("backup: the server reports no binlog snapshot position (MariaDB is required for point-in-time recovery)")
	}
	return &pos, nil
}

// showCreate runs a SHOW CREATE statement and returns the named column,
// made into one line.
func showCreate(ctx context.Context, q queryer, query, column string) (string, error) {
	rows, err := q.QueryContext(ctx, query)
	if err != nil {
		return "", fmt.Errorf("backup: %s: %w", query, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return "", err
	}
	if !rows.Next() {
		return "", fmt.Errorf("backup: %s: no result", query)
	}
	vals := make([]sql.NullString, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		return "", err
	}
	for i, c := range cols {
		if strings.EqualFold(c, column) {
			if !vals[i].Valid {
				return "", fmt.Errorf("backup: %s: no definition (missing privilege?)", query)
			}
			return oneLine(vals[i].String)
		}
	}
	return "", fmt.Errorf("backup: %s: no column %s", query, column)
}

func dumpRoutines(ctx context.Context, conn *sql.Conn, d *dumper) error {
	type obj struct{ query, column string }
	var objs []obj
	rows, err := conn.QueryContext(ctx, `SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE() ORDER BY TRIGGER_NAME`)
	if err != nil {
		return fmt.Errorf("backup: list triggers: %w", err)
	}
	for rows.Next() {
		var n string
		rows.Scan(&n)
		objs = append(objs, obj{"SHOW CREATE TRIGGER " + quoteIdent(n), "SQL Original Statement"})
	}
	rows.Close()
	rows, err = conn.QueryContext(ctx, `SELECT ROUTINE_NAME, ROUTINE_TYPE FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = DATABASE() ORDER BY ROUTINE_NAME`)
	if err != nil {
		return fmt.Errorf("backup: list routines: %w", err)
	}
	for rows.Next() {
		var n, kind string
		rows.Scan(&n, &kind)
		if kind == "FUNCTION" {
			objs = append(objs, obj{"SHOW CREATE FUNCTION " + quoteIdent(n), "Create Function"})
		} else {
			objs = append(objs, obj{"SHOW CREATE PROCEDURE " + quoteIdent(n), "Create Procedure"})
		}
	}
	rows.Close()
	for _, o := range objs {
		s, err := showCreate(ctx, conn, o.query, o.column)
		if err != nil {
			return err
		}
		if err := d.statement(s); err != nil {
			return err
		}
	}
	return nil
}

// column is a stored column of a table and how its values are written.
type column struct {
	name string
	kind byte // 'n' number as printed, 'x' hex literal, 's' quoted string
}

func tableColumns(ctx context.Context, q queryer, table string) ([]column, error) {
	rows, err := q.QueryContext(ctx, `SELECT COLUMN_NAME, DATA_TYPE, EXTRA FROM information_schema.COLUMNS
		WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION`, table)
	if err != nil {
		return nil, fmt.Errorf("backup: columns of %s: %w", table, err)
	}
	defer rows.Close()
	var cols []column
	for rows.Next() {
		var name, typ, extra string
		if err := rows.Scan(&name, &typ, &extra); err != nil {
			return nil, err
		}
		if strings.Contains(strings.ToUpper(extra), "GENERATED") {
			continue // recomputed by the server
		}
		cols = append(cols, column{name: name, kind: columnKind(typ)})
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(cols) == 0 {
		return nil, fmt.Errorf("backup: table %s has no columns (missing privilege?)", table)
	}
	return cols, nil
}

func columnKind(dataType string) byte {
	switch strings.ToLower(dataType) {
	case "tinyint", "smallint", "mediumint", "int", "integer", "bigint", "decimal", "numeric", "float", "double", "real", "year":
		return 'n'
	case "binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob", "bit",
		"geometry", "point", "linestring", "polygon", "multipoint", "multilinestring", "multipolygon", "geometrycollection":
		return 'x'
	}
	return 's'
}

func selectColumns(table string, cols []column) string {
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = quoteIdent(c.name)
	}
	return "SELECT " + strings.Join(names, ", ") + " FROM " + quoteIdent(table)
}

// tableSum accumulates a table's row count and order-independent checksum.
type tableSum struct {
	rows int64
	sum  [4]uint64 // a 256-bit number, most significant word first
	h    []byte
}

func (s *tableSum) add(vals []sql.RawBytes) {
	hh := sha256.New()
	var lenBuf [binary.MaxVarintLen64 + 1]byte
	for _, v := range vals {
		if v == nil {
			hh.Write([]byte{0xff})
			continue
		}
		lenBuf[0] = 0
		n := binary.PutUvarint(lenBuf[1:], uint64(len(v)))
		hh.Write(lenBuf[:n+1])
		hh.Write(v)
	}
	s.h = hh.Sum(s.h[:0])
	var carry uint64
	for i := 3; i >= 0; i-- {
		w := binary.BigEndian.Uint64(s.h[i*8:])
		s.sum[i], carry = bits.Add64(s.sum[i], w, carry)
	}
	s.rows++
}

func (s *tableSum) result(name string) TableSum {
	var b [32]byte
	for i := range 4 {
		binary.BigEndian.PutUint64(b[i*8:], s.sum[i])
	}
	return TableSum{Name: name, Rows: s.rows, Checksum: hex.EncodeToString(b[:])}
}

// dumpTable writes a table's rows as INSERT statements and sums them.
func dumpTable(ctx context.Context, q queryer, d *dumper, table string) (TableSum, error) {
	cols, err := tableColumns(ctx, q, table)
	if err != nil {
		return TableSum{}, err
	}
	rows, err := q.QueryContext(ctx, selectColumns(table, cols))
	if err != nil {
		return TableSum{}, fmt.Errorf("backup: read %s: %w", table, err)
	}
	defer rows.Close()
	head := "INSERT INTO " + quoteIdent(table) + " ("
	for i, c := range cols {
		if i > 0 {
			head += ", "
		}
		head += quoteIdent(c.name)
	}
	head += ") VALUES "
	vals := make([]sql.RawBytes, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	var sum tableSum
	var stmt bytes.Buffer
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return TableSum{}, fmt.Errorf("backup: read %s: %w", table, err)
		}
		sum.add(vals)
		if stmt.Len() == 0 {
			stmt.WriteString(head)
		} else {
			stmt.WriteByte(',')
		}
		stmt.WriteByte('(')
		for i, v := range vals {
			if i > 0 {
				stmt.WriteByte(',')
			}
			writeValue(&stmt, cols[i].kind, v)
		}
		stmt.WriteByte(')')
		if stmt.Len() >= stmtLimit {
			if err := d.statement(stmt.String()); err != nil {
				return TableSum{}, err
			}
			stmt.Reset()
			if err := ctx.Err(); err != nil {
				return TableSum{}, err
			}
		}
	}
	if err := rows.Err(); err != nil {
		return TableSum{}, fmt.Errorf("backup: read %s: %w", table, err)
	}
	if stmt.Len() > 0 {
		if err := d.statement(stmt.String()); err != nil {
			return TableSum{}, err
		}
	}
	return sum.result(table), nil
}

const hexDigits = "0123456789abcdef"

func writeValue(b *bytes.Buffer, kind byte, v sql.RawBytes) {
	switch {
	case v == nil:
		b.WriteString("NULL")
	case kind == 'n':
		b.Write(v)
	case kind == 'x':
		if len(v) == 0 {
			b.WriteString("''")
			return
		}
		b.WriteString("0x")
		for _, c := range v {
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&15])
		}
	default:
		b.WriteByte('\'')
		for _, c := range v {
			switch c {
			case 0:
				b.WriteString(`\0`)
			case '\n':
				b.WriteString(`\n`)
			case '\r':
				b.WriteString(`\r`)
			case '\\':
				b.WriteString(`\\`)
			case '\'':
				b.WriteString(`\'`)
			case 0x1a:
				b.WriteString(`\Z`)
			default:
				b.WriteByte(c)
			}
		}
		b.WriteByte('\'')
	}
}

// oneLine makes a statement the server printed (CREATE TABLE …, a routine)
// fit on one line without changing its meaning: line breaks outside quotes
// become spaces, inside strings \n, and line comments become block comments.
func oneLine(s string) (string, error) {
	var b strings.Builder
	var quote byte // ', ", ` or 0
	inBlock, inLine := false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case inLine:
			if c == '\n' {
				b.WriteString(" */ ")
				inLine = false
			} else if c == '*' && i+1 < len(s) && s[i+1] == '/' {
				b.WriteString("* ")
			} else if c != '\r' {
				b.WriteByte(c)
			}
		case inBlock:
			if c == '*' && i+1 < len(s) && s[i+1] == '/' {
				b.WriteString("*/")
				i++
				inBlock = false
			} else if c == '\n' || c == '\r' {
				b.WriteByte(' ')
			} else {
				b.WriteByte(c)
			}
		case quote != 0:
			switch {
			case c == '\\' && quote != '`' && i+1 < len(s):
				b.WriteByte(c)
				i++
				if s[i] == '\n' {
					b.WriteByte('n')
				} else {
					b.WriteByte(s[i])
				}
			case c == '\n' || c == '\r':
				if quote == '`' {
					return "", fmt.Errorf("backup: an identifier with a line break cannot be dumped: %.60s", s)
				}
				if c == '\n' {
					b.WriteString(`\n`)
				} else {
					b.WriteString(`\r`)
				}
			default:
				b.WriteByte(c)
				if c == quote {
					quote = 0 // a doubled quote reopens at the next byte
				}
			}
		default:
			switch {
			case c == '\'' || c == '"' || c == '`':
				quote = c
				b.WriteByte(c)
			case c == '/' && i+1 < len(s) && s[i+1] == '*':
				b.WriteString("/*")
				i++
				inBlock = true
			case c == '#' || c == '-' && i+2 < len(s) && s[i+1] == '-' && (s[i+2] == ' ' || s[i+2] == '\t' || s[i+2] == '\n'):
				b.WriteString("/* ")
				if c == '-' {
					i++
				}
				inLine = true
			case c == '\n' || c == '\r':
				b.WriteByte(' ')
			default:
				b.WriteByte(c)
			}
		}
	}
	if inLine {
		b.WriteString(" */")
	}
	return b.String(), nil
}

// loadDump runs the statements of a dump part in the session of conn.
func loadDump(ctx context.Context, conn *sql.Conn, r io.Reader) error {
	br := bufio.NewReaderSize(r, 1<<20)
	for {
		line, err := br.ReadString('\n')
		if err != nil && err != io.EOF {
			return err
		}
		stmt := strings.TrimSuffix(strings.TrimRight(line, "\r\n"), ";")
		if stmt != "" && !strings.HasPrefix(stmt, "-- ") {
			if _, xerr := conn.ExecContext(ctx, stmt); xerr != nil {
				return fmt.Errorf("restore: %w (statement: %.120s)", xerr, stmt)
			}
		}
		if err == io.EOF {
			return nil
		}
	}
}

// sumTables computes, in the database conn uses, the row count and checksum
// of every base table, as dumpTable does.
func sumTables(ctx context.Context, conn *sql.Conn) ([]TableSum, error) {
	rows, err := conn.QueryContext(ctx, `SELECT TABLE_NAME FROM information_schema.TABLES
		WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME`)
	if err != nil {
		return nil, err
	}
	var names []string
	for rows.Next() {
		var n string
		rows.Scan(&n)
		names = append(names, n)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var out []TableSum
	for _, t := range names {
		cols, err := tableColumns(ctx, conn, t)
		if err != nil {
			return nil, err
		}
		r, err := conn.QueryContext(ctx, selectColumns(t, cols))
		if err != nil {
			return nil, err
		}
		vals := make([]sql.RawBytes, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		var sum tableSum
		for r.Next() {
			if err := r.Scan(ptrs...); err != nil {
				r.Close()
				return nil, err
			}
			sum.add(vals)
		}
		r.Close()
		if err := r.Err(); err != nil {
			return nil, err
		}
		out = append(out, sum.result(t))
	}
	return out, nil
}
