package backup_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"avanti/appliance/backup"
	"avanti/appliance/sshdtest"
)

func TestOffsiteCopyOverSFTPWithPinnedHostKey(t *testing.T) {
	t.Parallel()
	srv := sshdtest.Start(t, sshdtest.Options{Role: sshdtest.SFTP})
	f := newFixture(t)
	ctx := testContext(t)
	remote := filepath.Join(srv.Root, "crema")
	f.opt.Offsite = &backup.SFTPTarget{Addr: srv.Addr(), User: srv.User, KeyFile: srv.ClientKeyFile, HostKey: srv.HostKey, Path: remote}

	key, fp, err := backup.ProbeOffsite(ctx, *f.opt.Offsite)
	if err != nil || key != srv.HostKey || fp != srv.Fingerprint {
		t.Fatalf("probe: %q %q %v, want %q", key, fp, err, srv.HostKey)
	}

	m, err := backup.Run(ctx, f.opt)
	if err != nil {
		t.Fatalf("backup with off-site copy: %v\nsshd: %s", err, srv.Log())
	}
	for _, name := range []string{m.Archive, m.Name + ".json"} {
		local, _ := os.ReadFile(filepath.Join(f.opt.Dir, name))
		got, err := os.ReadFile(filepath.Join(remote, name))
		if err != nil || !bytes.Equal(got, local) {
			t.Errorf("off-site %s: %v (equal: %v)", name, err, bytes.Equal(got, local))
		}
	}
	noParts(t, remote)
	st, _ := backup.ReadStatus(f.opt)
	if !st.Offsite.Configured || st.Offsite.Name != m.Name || st.Offsite.Err != "" || st.Offsite.At.IsZero() {
		t.Errorf("off-site status: %+v", st.Offsite)
	}

	// The verification follows with the next copy; a fingerprint pins too.
	if _, err := backup.Verify(ctx, f.opt, m.Name); err != nil {
		t.Fatal(err)
	}
	byFingerprint := f.opt
	byFingerprint.Offsite = &backup.SFTPTarget{Addr: srv.Addr(), User: srv.User, KeyFile: srv.ClientKeyFile, HostKey: srv.Fingerprint, Path: remote}
	if err := backup.Offsite(ctx, byFingerprint); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(remote, m.Name+".verified.json")); err != nil {
		t.Errorf("verification not copied: %v", err)
	}

	// Binlogs are appended off site as they are shipped.
	shipOpt := f.opt
	shipOpt.ShipInterval = 100 * time.Millisecond
	stopShip := startShipping(t, ctx, shipOpt)
	l := startLoad(t, f.st, f.demo, 2)
	time.Sleep(500 * time.Millisecond)
	booked := l.stop()
	waitShipped(t, f.st.DB(), f.opt.Dir)
	deadline := time.Now().Add(10 * time.Second)
	for !sameDir(t, filepath.Join(f.opt.Dir, "binlogs"), filepath.Join(remote, "binlogs")) {
		if time.Now().After(deadline) {
			t.Fatal("binlogs not copied off site in time")
		}
		time.Sleep(50 * time.Millisecond)
	}
	stopShip()

	// The appliance's disk is lost: a fresh one fetches everything from
	// the off-site server and restores to the last shipped booking.
	fresh := f.restoreTarget(t)
	fresh.Dir = t.TempDir()
	got, err := backup.Fetch(ctx, fresh)
	if err != nil || len(got) < 3 {
		t.Fatalf("fetch: %v %v", got, err)
	}
	if _, err := backup.Restore(ctx, fresh, "", time.Time{}, false); err != nil {
		t.Fatal(err)
	}
	restored := tokens(t, fresh.DSN)
	for _, b := range booked {
		if !restored[b.token] {
			t.Errorf("booking %s, shipped off site, is missing after the restore on a fresh appliance", b.token)
		}
	}
	f.checkFiles(t, fresh)

	// A server presenting another key is refused, and nothing is sent.
	for _, wrong := range []string{sshdtest.NewHostKey(), "SHA256:" + strings.Repeat("A", 43)} {
		o := f.opt
		o.Offsite = &backup.SFTPTarget{Addr: srv.Addr(), User: srv.User, KeyFile: srv.ClientKeyFile, HostKey: wrong, Path: remote}
		m2, err := backup.Run(ctx, o)
		if !errors.Is(err, backup.ErrOffsite) || !errors.Is(err, backup.ErrHostKeyMismatch) {
			t.Fatalf("wrong pinned key: %v", err)
		}
		if m2.Name == "" {
			t.Errorf("the local backup should be complete when only the off-site copy fails")
		}
		if _, err := os.Stat(filepath.Join(remote, m2.Archive)); err == nil {
			t.Errorf("the archive reached a server with the wrong host key")
		}
		st, _ := backup.ReadStatus(o)
		if !strings.Contains(st.Offsite.Err, "refusing") {
			t.Errorf("off-site status does not say the key was refused: %+v", st.Offsite)
		}
		t.Log(err)
	}
}

func noParts(t *testing.T, dir string) {
	t.Helper()
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".part") {
			t.Errorf("%s left on the server", e.Name())
		}
	}
}

func sameDir(t *testing.T, a, b string) bool {
	t.Helper()
	ea, err := os.ReadDir(a)
	if err != nil {
		return false
	}
	for _, e := range ea {
		if strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		x, _ := os.ReadFile(filepath.Join(a, e.Name()))
		y, err := os.ReadFile(filepath.Join(b, e.Name()))
		if err != nil || !bytes.Equal(x, y) {
			return false
		}
	}
	return true
}

func TestEncryptedArchiveNeedsTheIdentity(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := testContext(t)
	secret, public, err := backup.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	f.opt.Recipients = []string{public}
	m, err := backup.Run(ctx, f.opt)
	if err != nil {
		t.Fatal(err)
	}
	if !m.Encrypted || !strings.HasSuffix(m.Archive, ".age") {
		t.Fatalf("manifest: %+v", m)
	}
	raw, err := os.ReadFile(filepath.Join(f.opt.Dir, m.Archive))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(raw, []byte("age-encryption.org/v1")) {
		t.Errorf("the archive is not an age file")
	}
	side, _ := os.ReadFile(filepath.Join(f.opt.Dir, m.Name+".json"))
	for _, plain := range []string{"CREATE TABLE", "COMUNE DI CREMA", "secret"} {
		if bytes.Contains(raw, []byte(plain)) || bytes.Contains(side, []byte(plain)) {
			t.Errorf("%q readable in the encrypted backup", plain)
		}
	}
	if bytes.Contains(side, []byte(`"checksum"`)) {
		t.Errorf("table checksums beside an encrypted archive")
	}

	into := f.restoreTarget(t)
	if _, err := backup.Verify(ctx, f.opt, ""); !errors.Is(err, backup.ErrNoIdentity) {
		t.Errorf("verify without the identity: %v", err)
	}
	if _, err := backup.Restore(ctx, into, "", time.Time{}, false); !errors.Is(err, backup.ErrNoIdentity) {
		t.Errorf("restore without the identity: %v", err)
	}
	other, _ := age.GenerateX25519Identity()
	into.Identities = []string{other.String()}
	if _, err := backup.Restore(ctx, into, "", time.Time{}, false); !errors.Is(err, backup.ErrNoIdentity) {
		t.Errorf("restore with another identity: %v", err)
	}
	if n := tableCount(t, into.DSN); n != 0 {
		t.Errorf("a refused restore created %d tables", n)
	}

	// With the identity, as a key or as a file, it verifies and restores.
	keyFile := filepath.Join(t.TempDir(), "backup.key")
	os.WriteFile(keyFile, []byte("# created: test\n"+secret+"\n"), 0o600)
	f.opt.Identities = []string{keyFile}
	if v, err := backup.Verify(ctx, f.opt, ""); err != nil || !v.OK {
		t.Fatalf("verify with the identity: %v", err)
	}
	into.Identities = []string{secret}
	if _, err := backup.Restore(ctx, into, "", time.Time{}, false); err != nil {
		t.Fatal(err)
	}
	sums, err := backup.SumTables(ctx, into.DSN)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := backup.SumTables(ctx, f.opt.DSN)
	if len(sums) != len(want) {
		t.Fatalf("%d tables restored, want %d", len(sums), len(want))
	}
	for i := range want {
		if sums[i] != want[i] {
			t.Errorf("table %s: %+v, want %+v", want[i].Name, sums[i], want[i])
		}
	}
	f.checkFiles(t, into)
}
