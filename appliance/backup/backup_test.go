package backup_test

import (
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"avanti/appliance/backup"
)

func TestBackupWhileBookingRestoresEveryAcknowledgedBooking(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := testContext(t)
	l := startLoad(t, f.st, f.demo, 4)
	time.Sleep(300 * time.Millisecond) // bookings before the backup

	var calls, last, lastTotal atomic.Int64
	f.opt.Progress = func(done, total int64) {
		if calls.Add(1) == 1 {
			// The snapshot is taken: bookings go on while the dump runs.
			time.Sleep(150 * time.Millisecond)
		}
		if done < last.Load() {
			t.Errorf("progress went back from %d to %d", last.Load(), done)
		}
		last.Store(done)
		lastTotal.Store(total)
	}
	m, err := backup.Run(ctx, f.opt)
	if err != nil {
		t.Fatal(err)
	}
	runDone := time.Now()
	time.Sleep(200 * time.Millisecond) // bookings after it
	booked := l.stop()
	f.opt.Progress = nil

	if calls.Load() == 0 || last.Load() != lastTotal.Load() {
		t.Errorf("progress: %d calls, ended at %d of %d", calls.Load(), last.Load(), lastTotal.Load())
	}
	if m.Binlog == nil || m.Binlog.File == "" {
		t.Errorf("manifest has no binlog position: %+v", m)
	}
	if len(m.Tables) == 0 || m.SHA256 == "" || m.Size == 0 {
		t.Fatalf("manifest incomplete: %+v", m)
	}
	before, during := 0, 0
	for _, b := range booked {
		switch {
		case b.acked.Before(m.SnapshotAt):
			before++
		case b.acked.Before(runDone):
			during++
		}
	}
	if before == 0 || during == 0 {
		t.Fatalf("want bookings both before the snapshot and while the backup ran, got %d and %d (of %d)", before, during, len(booked))
	}

	v, err := backup.Verify(ctx, f.opt, "")
	if err != nil || !v.OK {
		t.Fatalf("verify: %v (%+v)", err, v)
	}
	for _, c := range v.Tables {
		if !c.OK {
			t.Errorf("table %s: %+v", c.Name, c)
		}
	}

	target := f.restoreTarget(t)
	plan, err := backup.Restore(ctx, target, "", time.Time{}, false)
	if err != nil {
		t.Fatal(err)
	}
	if plan.Backup.Name != m.Name || len(plan.Binlogs) != 0 {
		t.Errorf("plan: backup %s, binlogs %v", plan.Backup.Name, plan.Binlogs)
	}
	restored := tokens(t, target.DSN)
	for _, b := range booked {
		if b.acked.Before(m.SnapshotAt) && !restored[b.token] {
			t.Errorf("booking %s acknowledged %s before the snapshot (%s) is missing after restore", b.token,
				m.SnapshotAt.Sub(b.acked), m.SnapshotAt.Format(time.StampMicro))
		}
	}
	known := map[string]bool{}
	for _, b := range booked {
		known[b.token] = true
	}
	for tok := range restored {
		if !known[tok] {
			t.Errorf("restored ticket %s was never booked", tok)
		}
	}
	// The restored database is exactly what was dumped: table by table.
	sums, err := backup.SumTables(ctx, target.DSN)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]backup.TableSum{}
	for _, s := range m.Tables {
		want[s.Name] = s
	}
	for _, s := range sums {
		if want[s.Name] != s {
			t.Errorf("restored table %s: %+v, dumped %+v", s.Name, s, want[s.Name])
		}
	}
	if len(sums) != len(m.Tables) {
		t.Errorf("%d tables restored, %d dumped", len(sums), len(m.Tables))
	}
	f.checkFiles(t, target)
	t.Logf("%d bookings: %d before the snapshot, %d while the backup ran; archive %d bytes (tar %d)", len(booked), before, during, m.Size, m.DataBytes)

	st, err := backup.ReadStatus(f.opt)
	if err != nil {
		t.Fatal(err)
	}
	if st.LastBackup == nil || st.LastBackup.Name != m.Name || st.LastVerified == nil || st.LastVerified.Name != m.Name {
		t.Errorf("status: %+v", st)
	}
	if backup.Stale(st, time.Now()) || !backup.Stale(st, m.CreatedAt.Add(27*time.Hour)) {
		t.Errorf("stale: a backup verified now is fresh, 27 hours later it is not")
	}
}

func TestPointInTimeRestoreToAChosenSecond(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := testContext(t)
	f.opt.ShipInterval = 100 * time.Millisecond
	// A new binlog file, so that shipping does not copy what other tests
	// wrote before.
	if _, err := f.st.DB().Exec("FLUSH BINARY LOGS"); err != nil {
		t.Fatal(err)
	}
	m, err := backup.Run(ctx, f.opt)
	if err != nil {
		t.Fatal(err)
	}
	stopShip := startShipping(t, ctx, f.opt)

	l := startLoad(t, f.st, f.demo, 3)
	// The target: a whole second at least a second after the load began,
	// with a second of bookings after it.
	target := time.Now().Add(1500 * time.Millisecond).Truncate(time.Second)
	time.Sleep(time.Until(target.Add(1200 * time.Millisecond)))
	booked := l.stop()
	waitShipped(t, f.st.DB(), f.opt.Dir)
	time.Sleep(3 * f.opt.ShipInterval)
	if st, _ := backup.ReadStatus(f.opt); st.Binlogs == nil || !st.Binlogs.Running || backup.ShipStale(st, time.Now()) {
		t.Errorf("binlog shipping status while it runs: %+v", st.Binlogs)
	}
	stopShip()
	if st, _ := backup.ReadStatus(f.opt); !backup.ShipStale(st, time.Now()) {
		t.Errorf("binlog shipping stopped, but not stale: %+v", st.Binlogs)
	}

	// A dry run says what it would do and changes nothing.
	into := f.restoreTarget(t)
	plan, err := backup.Restore(ctx, into, "", target, true)
	if err != nil {
		t.Fatal(err)
	}
	if plan.Backup.Name != m.Name || len(plan.Binlogs) == 0 || !plan.RecoversTo.Equal(target) || len(plan.Steps) < 3 {
		t.Fatalf("plan: %+v", plan)
	}
	if n := tableCount(t, into.DSN); n != 0 {
		t.Fatalf("the dry run created %d tables", n)
	}
	t.Logf("plan: %s; warnings %v", strings.Join(plan.Steps, "; "), plan.Warnings)

	var progressDone, progressTotal atomic.Int64
	into.Progress = func(done, total int64) { progressDone.Store(done); progressTotal.Store(total) }
	if _, err := backup.Restore(ctx, into, "", target, false); err != nil {
		t.Fatal(err)
	}
	if progressDone.Load() == 0 || progressDone.Load() != progressTotal.Load() {
		t.Errorf("progress ended at %d of %d", progressDone.Load(), progressTotal.Load())
	}
	restored := tokens(t, into.DSN)
	var before, after, between int
	for _, b := range booked {
		switch {
		case b.acked.Before(target):
			before++
			if !restored[b.token] {
				t.Errorf("booking acknowledged at %s, before the target %s, is missing", b.acked.Format(time.StampMicro), target.Format(time.TimeOnly))
			}
		case !b.started.Before(target):
			after++
			if restored[b.token] {
				t.Errorf("booking started at %s, after the target %s, was restored", b.started.Format(time.StampMicro), target.Format(time.TimeOnly))
			}
		default:
			between++
		}
	}
	if before == 0 || after == 0 {
		t.Fatalf("want bookings before and after the target, got %d and %d", before, after)
	}
	t.Logf("%d bookings before %s, %d after, %d across it", before, target.Format(time.TimeOnly), after, between)

	// To the backup's own point: none of the bookings made after it.
	snap := f.restoreTarget(t)
	if plan, err := backup.RestoreSnapshot(ctx, snap, m.Name, false); err != nil || len(plan.Binlogs) != 0 {
		t.Fatalf("restore of the snapshot alone: %v, binlogs %v", err, plan.Binlogs)
	}
	got, err := backup.SumTables(ctx, snap.DSN)
	if err != nil || len(got) != len(m.Tables) {
		t.Fatalf("snapshot restore: %d tables, %v; dumped %d", len(got), err, len(m.Tables))
	}
	for i := range got {
		if got[i] != m.Tables[i] {
			t.Errorf("snapshot restore: table %+v, dumped %+v", got[i], m.Tables[i])
		}
	}
	inSnap := tokens(t, snap.DSN)
	for _, b := range booked {
		if inSnap[b.token] {
			t.Fatalf("booking %s, made after the backup, is in its snapshot", b.token)
		}
	}

	// To the latest: every acknowledged booking is there.
	latest := f.restoreTarget(t)
	if _, err := backup.Restore(ctx, latest, "", time.Time{}, false); err != nil {
		t.Fatal(err)
	}
	restored = tokens(t, latest.DSN)
	for _, b := range booked {
		if !restored[b.token] {
			t.Errorf("booking %s is missing after a restore to the latest state", b.token)
		}
	}
	// The binlog being written when the disk died may end in the middle of
	// an event: the restore replays up to the last whole one.
	last := newestBinlog(t, f.opt.Dir)
	fi, err := os.Stat(last)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(last, fi.Size()-7); err != nil {
		t.Fatal(err)
	}
	cut := f.restoreTarget(t)
	plan, err = backup.Restore(ctx, cut, "", time.Time{}, false)
	if err != nil {
		t.Fatalf("restore with a torn last binlog: %v", err)
	}
	// (The torn event may be another database's.)
	if n := len(tokens(t, cut.DSN)); n < len(restored)-3 || n > len(restored) {
		t.Errorf("with the last event torn, %d tickets restored; %d with it", n, len(restored))
	}

	// And the same as the source database, table by table.
	got, err = backup.SumTables(ctx, latest.DSN)
	if err != nil {
		t.Fatal(err)
	}
	want, err := backup.SumTables(ctx, f.opt.DSN)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("%d tables, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("table %s after replay: %+v, source %+v", want[i].Name, got[i], want[i])
		}
	}
}

// newestBinlog is the path of the last binlog file shipped into dir.
func newestBinlog(t *testing.T, dir string) string {
	t.Helper()
	matches, _ := filepath.Glob(filepath.Join(dir, "binlogs", "*.[0-9][0-9][0-9][0-9][0-9][0-9]"))
	if len(matches) == 0 {
		t.Fatal("no binlog shipped")
	}
	return matches[len(matches)-1]
}
