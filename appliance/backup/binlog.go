package backup

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"time"

	"avanti/appliance/atomicfile"
)

// ShipStatus is the state of ShipBinlogs, kept in Dir/binlogs/ship.json.
type ShipStatus struct {
	UpdatedAt time.Time `json:"updated_at"`
	Running   bool      `json:"running"`
	Files     int       `json:"files"`
	Bytes     int64     `json:"bytes"`
	LastFile  string    `json:"last_file,omitempty"`
	Err       string    `json:"error,omitempty"`
	ErrAt     time.Time `json:"error_at,omitzero"`
	// Gap is set when binlogs were lost before they could be shipped (the
	// shipper was stopped longer than the server keeps them): point-in-time
	// recovery works only from the next backup on.
	Gap     string    `json:"gap,omitempty"`
	Offsite LastCopy  `json:"offsite"`
	Started time.Time `json:"started"`
}

// LastCopy is the state of an off-site copy.
type LastCopy struct {
	At    time.Time `json:"at,omitzero"` // last successful copy
	Name  string    `json:"name,omitempty"`
	Err   string    `json:"error,omitempty"`
	ErrAt time.Time `json:"error_at,omitzero"`
}

var binlogName = regexp.MustCompile(`^(.+)\.([0-9]{6,})$`)

// binlogFile is a shipped binlog file.
type binlogFile struct {
	name string
	base string
	seq  int
	size int64
}

// localBinlogs lists Dir/binlogs, oldest first.
func localBinlogs(dir string) ([]binlogFile, error) {
	entries, err := os.ReadDir(filepath.Join(dir, binlogDir))
	if err != nil {
		if os.IsNotExist(err) {
			return nil, nil
		}
		return nil, err
	}
	var out []binlogFile
	for _, e := range entries {
		m := binlogName.FindStringSubmatch(e.Name())
		if m == nil || !e.Type().IsRegular() {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		seq, _ := strconv.Atoi(m[2])
		out = append(out, binlogFile{name: e.Name(), base: m[1], seq: seq, size: info.Size()})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].base != out[j].base {
			return out[i].base < out[j].base
		}
		return out[i].seq < out[j].seq
	})
	return out, nil
}

func splitBinlogName(name string) (string, int, bool) {
	m := binlogName.FindStringSubmatch(name)
	if m == nil {
		return "", 0, false
	}
	seq, _ := strconv.Atoi(m[2])
	return m[1], seq, true
}

// ShipBinlogs copies the server's binary logs into Dir/binlogs/ as they are
// written, until ctx ends: a `mariadb-binlog --read-from-remote-server --raw
// --stop-never` child (restarted after failures) receives every event as
// the server commits it; every ShipInterval the files are fsynced, the
// state recorded in Dir/binlogs/ship.json and, with Offsite set, what is new
// appended to the off-site server's binlogs/ directory. It returns nil when
// ctx ends, an error only if it cannot start at all.
func ShipBinlogs(ctx context.Context, opt Options) error {
	if err := opt.check(); err != nil {
		return err
	}
	tool, err := lookTool("mariadb-binlog")
	if err != nil {
		return err
	}
	dir := filepath.Join(opt.Dir, binlogDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("binlogs: %w", err)
	}
	db, err := openDB(opt.DSN)
	if err != nil {
		return err
	}
	defer db.Close()
	var logBin int
	if err := db.QueryRowContext(ctx, "SELECT @@log_bin").Scan(&logBin); err != nil {
		return fmt.Errorf("binlogs: %w", err)
	}
	if logBin != 1 {
		return errors.New("binlogs: the server does not write a binary log (set log_bin, binlog_format=ROW and server_id in its configuration)")
	}
	defaults, cleanup, err := clientDefaults(opt.DSN, dir)
	if err != nil {
		return err
	}
	defer cleanup()

	interval := opt.ShipInterval
	if interval <= 0 {
		interval = time.Minute
	}
	s := &shipper{opt: &opt, dir: dir, db: db, tool: tool, defaults: defaults, synced: map[string]int64{}}
	s.status.Started = opt.now().UTC()
	readJSON(filepath.Join(dir, "ship.json"), &s.prev)
	s.status.Offsite = s.prev.Offsite

	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.streamLoop(ctx)
	}()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	var off *offsiteConn
	defer func() {
		if off != nil {
			off.close()
		}
	}()
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			s.sync()
			s.writeStatus(false)
			return nil
		case <-tick.C:
			if ctx.Err() != nil {
				continue // stopping: the next round returns
			}
			s.sync()
			if opt.Offsite != nil {
				off = s.shipOffsite(ctx, off)
			}
			s.writeStatus(true)
		}
	}
}

type shipper struct {
	opt      *Options
	dir      string
	db       *sql.DB
	tool     string
	defaults string
	synced   map[string]int64
	offsite  map[string]int64 // remote sizes

	mu     sync.Mutex
	status ShipStatus
	prev   ShipStatus
}

func (s *shipper) setErr(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil {
		s.status.Err = ""
		return
	}
	s.status.Err = err.Error()
	s.status.ErrAt = s.opt.now().UTC()
	s.opt.log().Warn("binlogs: shipping", "err", err)
}

// streamLoop runs mariadb-binlog until ctx ends, restarting it with a
// growing pause when it stops.
func (s *shipper) streamLoop(ctx context.Context) {
	pause := time.Second
	for ctx.Err() == nil {
		started := time.Now()
		err := s.stream(ctx)
		if ctx.Err() != nil {
			return
		}
		s.setErr(err)
		if time.Since(started) > time.Minute {
			pause = time.Second
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(pause):
		}
		pause = min(pause*2, time.Minute)
	}
}

func (s *shipper) stream(ctx context.Context) error {
	start, gap, err := s.startFile(ctx)
	if err != nil {
		return err
	}
	if gap != "" {
		s.mu.Lock()
		s.status.Gap = gap
		s.mu.Unlock()
		s.opt.log().Warn("binlogs: gap", "detail", gap)
	}
	// The replica id must differ from the server's and from any other
	// replica's, or the server drops one of the connections.
	id := 1_000_000 + rand.IntN(1_000_000_000)
	cmd := exec.CommandContext(ctx, s.tool, "--defaults-file="+s.defaults,
		"--read-from-remote-server", "--raw", "--stop-never",
		"--stop-never-slave-server-id="+strconv.Itoa(id),
		"--result-file="+s.dir+string(filepath.Separator), start)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stderr := &limitedBuffer{max: 4 << 10}
	cmd.Stderr = stderr
	cmd.Stdout = stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("binlogs: start mariadb-binlog: %w", err)
	}
	s.setErr(nil)
	err = cmd.Wait()
	if ctx.Err() != nil {
		return nil
	}
	return fmt.Errorf("binlogs: mariadb-binlog stopped (%v): %s", err, stderr.String())
}

// startFile chooses where streaming starts: the newest file shipped so far
// (fetched again whole), else the binlog of the oldest backup, else the
// server's current binlog.
func (s *shipper) startFile(ctx context.Context) (string, string, error) {
	server, err := serverBinlogs(ctx, s.db)
	if err != nil {
		return "", "", err
	}
	if len(server) == 0 {
		return "", "", errors.New("binlogs: the server lists no binary logs")
	}
	onServer := map[string]bool{}
	for _, n := range server {
		onServer[n] = true
	}
	want := ""
	if local, _ := localBinlogs(s.opt.Dir); len(local) > 0 {
		want = local[len(local)-1].name
	} else if bs, _ := backups(s.opt.Dir); len(bs) > 0 {
		for _, b := range bs {
			if b.Binlog != nil {
				want = b.Binlog.File
				break
			}
		}
	}
	if want == "" {
		return server[len(server)-1], "", nil
	}
	if onServer[want] {
		return want, "", nil
	}
	// Purged on the server before it was shipped: start from the oldest
	// the server still has that comes after it.
	wb, ws, _ := splitBinlogName(want)
	for _, n := range server {
		if b, sq, ok := splitBinlogName(n); ok && b == wb && sq > ws {
			return n, fmt.Sprintf("binlogs after %s up to %s were purged on the server before they were shipped", want, n), nil
		}
	}
	return server[len(server)-1], fmt.Sprintf("binlog %s is no longer on the server", want), nil
}

func serverBinlogs(ctx context.Context, db *sql.DB) ([]string, error) {
	rows, err := db.QueryContext(ctx, "SHOW BINARY LOGS")
	if err != nil {
		return nil, fmt.Errorf("binlogs: SHOW BINARY LOGS: %w", err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out []string
	for rows.Next() {
		vals := make([]sql.RawBytes, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		out = append(out, string(vals[0]))
	}
	return out, rows.Err()
}

// sync fsyncs the files that grew since the last time.
func (s *shipper) sync() {
	files, err := localBinlogs(s.opt.Dir)
	if err != nil {
		s.setErr(err)
		return
	}
	newFile := false
	var total int64
	for _, f := range files {
		total += f.size
		if s.synced[f.name] == f.size {
			continue
		}
		if _, ok := s.synced[f.name]; !ok {
			newFile = true
		}
		if fh, err := os.Open(filepath.Join(s.dir, f.name)); err == nil {
			if err := fh.Sync(); err != nil {
				s.setErr(err)
			}
			fh.Close()
		}
		s.synced[f.name] = f.size
	}
	if newFile {
		atomicfile.SyncDir(s.dir)
	}
	s.mu.Lock()
	s.status.Files, s.status.Bytes = len(files), total
	if len(files) > 0 {
		s.status.LastFile = files[len(files)-1].name
	}
	s.mu.Unlock()
}

func (s *shipper) writeStatus(running bool) {
	s.mu.Lock()
	s.status.Running = running
	s.status.UpdatedAt = s.opt.now().UTC()
	st := s.status
	s.mu.Unlock()
	if err := writeJSON(filepath.Join(s.dir, "ship.json"), st); err != nil {
		s.opt.log().Warn("binlogs: status", "err", err)
	}
}

// Binlog events, as far as recovery needs to read them.
const (
	evRotate           = 4
	evFormat           = 15
	evHeartbeat        = 27
	evBinlogCheckpoint = 161
	evGTID             = 162
	evGTIDList         = 163
	evStartEncryption  = 164
	eventHeader        = 19
)

// binlogScan is what scanBinlog found in a binlog file.
type binlogScan struct {
	valid int64     // end of the last complete event
	last  time.Time // time of the last event of a transaction
	cut   int64     // where the transaction with the first event at or after the target starts; -1 if none
}

// scanBinlog walks the events of a binlog file from offset from on (earlier
// ones only for their sizes). With a non-zero target it finds the cut: the
// start of the first transaction (GTID event group) that has an event
// stamped at or after target, so restoring stops at a transaction boundary.
func scanBinlog(path string, from int64, target time.Time) (binlogScan, error) {
	res := binlogScan{cut: -1}
	f, err := os.Open(path)
	if err != nil {
		return res, err
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 1<<16)
	magic := make([]byte, 4)
	if _, err := io.ReadFull(br, magic); err != nil {
		return res, fmt.Errorf("%w: binlog %s: too short", ErrCorrupt, filepath.Base(path))
	}
	if string(magic) != "\xfebin" {
		return res, fmt.Errorf("%w: %s is not a binlog", ErrCorrupt, filepath.Base(path))
	}
	off := int64(4)
	res.valid = off
	group := int64(-1)
	hdr := make([]byte, eventHeader)
	for {
		if _, err := io.ReadFull(br, hdr); err != nil {
			return res, nil // end, or a partial header: the event is still being written
		}
		ts := binary.LittleEndian.Uint32(hdr[0:])
		typ := hdr[4]
		size := int64(binary.LittleEndian.Uint32(hdr[9:]))
		if size < eventHeader {
			return res, fmt.Errorf("%w: binlog %s: bad event at %d", ErrCorrupt, filepath.Base(path), off)
		}
		if _, err := br.Discard(int(size - eventHeader)); err != nil {
			return res, nil // a partial event at the end
		}
		if off >= from {
			meta := false
			switch typ {
			case evRotate, evFormat, evHeartbeat, evBinlogCheckpoint, evGTIDList, evStartEncryption:
				meta = true
			case evGTID:
				group = off
			}
			if !meta && ts != 0 {
				t := time.Unix(int64(ts), 0).UTC()
				if !target.IsZero() && !t.Before(target) {
					res.cut = off
					if group >= 0 {
						res.cut = group
					}
					res.valid = off + size
					return res, nil
				}
				res.last = t
			}
		}
		off += size
		res.valid = off
	}
}

type limitedBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if room := l.max - len(l.b); room > 0 {
		l.b = append(l.b, p[:min(len(p), room)]...)
	}
	return len(p), nil
}

func (l *limitedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return string(l.b)
}
