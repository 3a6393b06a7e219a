package update

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"avanti/appliance/atomicfile"
	"avanti/appliance/clock"
)

// DefaultBinaryPath is where the image installs the appliance's binary.
const DefaultBinaryPath = "/usr/local/bin/avanti"

// Options of Apply. The hooks are the appliance's; a nil hook is skipped.
type Options struct {
	// PublicKeys are the vendor keys a bundle may be signed with.
	PublicKeys []ed25519.PublicKey
	// BinaryPath is the binary to replace; the previous one is kept
	// beside it as BinaryPath+".prev". Default DefaultBinaryPath.
	BinaryPath string
	// ProvisioningDir receives the bundle's provisioning/ files (the
	// previous content is kept as ProvisioningDir+".prev"); empty: they are
	// verified but not installed.
	ProvisioningDir string
	// CurrentVersion is the version running now, for the history and to
	// refuse going back to an older version unless AllowDowngrade.
	CurrentVersion string
	AllowDowngrade bool

	// Preflight runs the staged new binary before anything changes
	// (ExecVersion: it must start and say its version); an error refuses
	// the bundle.
	Preflight func(ctx context.Context, binary, version string) error
	// Backup takes the pre-update backup and returns how to restore it.
	Backup func(ctx context.Context) (restore func(ctx context.Context) error, err error)
	// Migrate runs the new binary's migrations (ExecMigrate).
	Migrate func(ctx context.Context, binary string) error
	// Restart restarts the service on the binary now in place
	// (SystemctlRestart).
	Restart func(ctx context.Context) error
	// Health says whether the appliance is healthy and runs version (which
	// may be empty: unknown); Apply asks it every HealthInterval until it
	// says yes or HealthTimeout passes (HTTPHealth).
	Health         func(ctx context.Context, version string) error
	HealthTimeout  time.Duration // default 2 minutes
	HealthInterval time.Duration // default 2 seconds

	// History records every attempt (required; FileHistory).
	History History
	// Progress receives a line per step, for the person applying.
	Progress io.Writer
	Clock    clock.Clock
}

func (o Options) defaults() Options {
	if o.BinaryPath == "" {
		o.BinaryPath = DefaultBinaryPath
	}
	if o.HealthTimeout <= 0 {
		o.HealthTimeout = 2 * time.Minute
	}
	if o.HealthInterval <= 0 {
		o.HealthInterval = 2 * time.Second
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	return o
}

func (o Options) say(format string, a ...any) {
	fmt.Fprintf(o.Progress, "update: "+format+"\n", a...)
}

// Apply installs the bundle: it verifies it whole before changing anything,
// takes the pre-update backup, keeps the previous binary, puts the new one
// in place by rename, migrates, restarts and waits for health. If any step
// after the install fails, it puts the previous binary (and provisioning
// files) back, restores the backup, restarts and records "rolled back".
// Every attempt is recorded in o.History. The error is nil only when the
// new version is installed and healthy.
func Apply(ctx context.Context, bundle string, o Options) (Entry, error) {
	o = o.defaults()
	if o.History == nil {
		return Entry{}, errors.New("update: no history to record the attempt in")
	}
	e := Entry{From: o.CurrentVersion, At: o.Clock.Now(), Bundle: filepath.Base(bundle)}
	finish := func(result string, err error) (Entry, error) {
		e.Result, e.FinishedAt = result, o.Clock.Now()
		if err != nil {
			e.Reason = err.Error()
		}
		if e.Reason == "" {
			o.say("%s %s (was %s)", result, e.Version, e.From)
		} else {
			o.say("%s: %s", result, e.Reason)
		}
		if herr := o.History.Record(context.WithoutCancel(ctx), e); herr != nil {
			err = errors.Join(err, fmt.Errorf("update: recording the history: %w", herr))
		}
		return e, err
	}

	dir := filepath.Dir(o.BinaryPath)
	unlock, err := lock(dir)
	if err != nil {
		return finish(Refused, err)
	}
	defer unlock()
	if fi, err := os.Stat(o.BinaryPath); err != nil || !fi.Mode().IsRegular() {
		return finish(Refused, fmt.Errorf("update: no binary to replace at %s: %v", o.BinaryPath, err))
	}

	// Verify and stage: the new binary beside the old one (same file
	// system, so that putting it in place is a rename).
	stage, err := os.MkdirTemp(dir, ".avanti-update-")
	if err != nil {
		return finish(Refused, err)
	}
	defer os.RemoveAll(stage)
	provStage := ""
	if o.ProvisioningDir != "" {
		if err := os.MkdirAll(filepath.Dir(o.ProvisioningDir), 0o755); err != nil {
			return finish(Refused, err)
		}
		if provStage, err = os.MkdirTemp(filepath.Dir(o.ProvisioningDir), ".provisioning-update-"); err != nil {
			return finish(Refused, err)
		}
		defer os.RemoveAll(provStage)
	}
	m, signer, err := extract(bundle, o.PublicKeys, stage, provStage)
	e.Version, e.SignedBy = m.Version, signer
	if err != nil {
		return finish(Refused, err)
	}
	o.say("bundle verified: version %s, %d files, signed by key %s", m.Version, len(m.Files), signer)
	if older(m.Version, o.CurrentVersion) && !o.AllowDowngrade {
		return finish(Refused, fmt.Errorf("update: %s is older than the running %s (a downgrade needs AllowDowngrade)", m.Version, o.CurrentVersion))
	}
	if o.Preflight != nil {
		if err := o.Preflight(ctx, filepath.Join(stage, BinaryName), m.Version); err != nil {
			return finish(Refused, fmt.Errorf("update: the new binary does not run: %w", err))
		}
	}

	var restore func(ctx context.Context) error
	if o.Backup != nil {
		o.say("taking the pre-update backup")
		if restore, err = o.Backup(ctx); err != nil {
			return finish(Aborted, fmt.Errorf("update: pre-update backup: %w", err))
		}
	}

	prev := o.BinaryPath + ".prev"
	if err := keepPrevious(o.BinaryPath, prev); err != nil {
		return finish(Aborted, fmt.Errorf("update: keeping the previous binary: %w", err))
	}
	if err := replace(filepath.Join(stage, BinaryName), o.BinaryPath); err != nil {
		return finish(Aborted, fmt.Errorf("update: installing the binary: %w", err))
	}
	o.say("installed %s (previous kept as %s)", o.BinaryPath, prev)

	provSwapped := false
	fail := func(step string, cause error) (Entry, error) {
		cause = fmt.Errorf("update: %s: %w", step, cause)
		o.say("%v; rolling back", cause)
		if rerr := o.rollback(ctx, prev, provSwapped, restore); rerr != nil {
			return finish(RollbackFailed, errors.Join(cause, fmt.Errorf("rollback: %w", rerr)))
		}
		return finish(RolledBack, cause)
	}
	if provStage != "" && hasProvisioning(m) {
		if err := swapIn(provStage, o.ProvisioningDir); err != nil {
			return fail("installing the provisioning files", err)
		}
		provSwapped = true
	}
	if o.Migrate != nil {
		o.say("migrating")
		if err := o.Migrate(ctx, o.BinaryPath); err != nil {
			return fail("migrate", err)
		}
	}
	if o.Restart != nil {
		o.say("restarting")
		if err := o.Restart(ctx); err != nil {
			return fail("restart", err)
		}
	}
	if o.Health != nil {
		o.say("waiting up to %s for health", o.HealthTimeout)
		if err := o.waitHealthy(ctx, m.Version); err != nil {
			return fail("health", err)
		}
	}
	return finish(Installed, nil)
}

// rollback puts the previous binary and provisioning files back, restores
// the backup and restarts. It goes on even if the update's ctx ended.
func (o Options) rollback(ctx context.Context, prev string, provSwapped bool, restore func(context.Context) error) error {
	ctx = context.WithoutCancel(ctx)
	var errs []error
	if err := replaceWithCopyOf(prev, o.BinaryPath); err != nil {
		errs = append(errs, fmt.Errorf("previous binary: %w", err))
	}
	if provSwapped {
		if err := swapBack(o.ProvisioningDir); err != nil {
			errs = append(errs, fmt.Errorf("previous provisioning files: %w", err))
		}
	}
	if restore != nil {
		o.say("restoring the pre-update backup")
		if err := restore(ctx); err != nil {
			errs = append(errs, fmt.Errorf("restoring the pre-update backup: %w", err))
		}
	}
	if o.Restart != nil {
		if err := o.Restart(ctx); err != nil {
			errs = append(errs, fmt.Errorf("restart: %w", err))
		}
	}
	if o.Health != nil && len(errs) == 0 {
		if err := o.waitHealthy(ctx, o.CurrentVersion); err != nil {
			errs = append(errs, fmt.Errorf("the previous version is not healthy either: %w", err))
		}
	}
	return errors.Join(errs...)
}

// waitHealthy asks Health until it says yes or HealthTimeout passes.
func (o Options) waitHealthy(ctx context.Context, version string) error {
	ctx, cancel := context.WithTimeout(ctx, o.HealthTimeout)
	defer cancel()
	for {
		err := o.Health(ctx, version)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not healthy within %s: %w", o.HealthTimeout, err)
		case <-time.After(o.HealthInterval):
		}
	}
}

// extract verifies the bundle and writes its files: the binary into
// stage, provisioning files into provStage (discarded if empty).
func extract(bundle string, keys []ed25519.PublicKey, stage, provStage string) (Manifest, string, error) {
	f, err := os.Open(bundle)
	if err != nil {
		return Manifest{}, "", err
	}
	defer f.Close()
	return read(f, keys, func(file File) (io.WriteCloser, error) {
		var dst string
		switch {
		case file.Path == BinaryName:
			dst = filepath.Join(stage, BinaryName)
		case provStage != "":
			dst = filepath.Join(provStage, filepath.FromSlash(strings.TrimPrefix(file.Path, ProvisionDir)))
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				return nil, err
			}
		default:
			return nopWriteCloser{io.Discard}, nil
		}
		out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, os.FileMode(file.Mode))
		if err != nil {
			return nil, err
		}
		return syncCloser{out}, nil
	})
}

// syncCloser syncs a file before closing it.
type syncCloser struct{ *os.File }

func (s syncCloser) Close() error {
	err := s.File.Sync()
	if cerr := s.File.Close(); err == nil {
		err = cerr
	}
	return err
}

func hasProvisioning(m Manifest) bool {
	for _, f := range m.Files {
		if strings.HasPrefix(f.Path, ProvisionDir) {
			return true
		}
	}
	return false
}

// lock takes an exclusive lock on dir for the update, so that two updates
// never run at once.
func lock(dir string) (func(), error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, errors.New("update: another update is running")
		}
		return nil, err
	}
	return func() { syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
}

// keepPrevious makes prev the binary now at bin (a hard link, or a copy
// where links are not possible).
func keepPrevious(bin, prev string) error {
	if err := os.Remove(prev); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if os.Link(bin, prev) == nil {
		return atomicfile.SyncDir(filepath.Dir(prev))
	}
	return copyFile(bin, prev)
}

// replace renames src over dst and makes that durable.
func replace(src, dst string) error {
	if err := os.Rename(src, dst); err != nil {
		return err
	}
	return atomicfile.SyncDir(filepath.Dir(dst))
}

// replaceWithCopyOf puts a copy of src at dst atomically, keeping src.
func replaceWithCopyOf(src, dst string) error {
	tmp := filepath.Join(filepath.Dir(dst), "."+filepath.Base(dst)+".rollback")
	os.Remove(tmp)
	if err := os.Link(src, tmp); err != nil {
		return copyFile(src, dst)
	}
	return replace(tmp, dst)
}

// copyFile puts a copy of src, with its mode, at dst atomically.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return err
	}
	out, err := atomicfile.Create(dst, fi.Mode().Perm())
	if err != nil {
		return err
	}
	defer out.Abort()
	if _, err := io.Copy(out, in); err != nil {
		return err
	}
	return out.Commit()
}

// swapIn puts the directory staged in place of dir, keeping dir as
// dir+".prev".
func swapIn(staged, dir string) error {
	prev := dir + ".prev"
	if err := os.RemoveAll(prev); err != nil {
		return err
	}
	hadDir := true
	if err := os.Rename(dir, prev); errors.Is(err, os.ErrNotExist) {
		hadDir = false
	} else if err != nil {
		return err
	}
	if err := os.Rename(staged, dir); err != nil {
		if hadDir {
			os.Rename(prev, dir)
		}
		return err
	}
	return atomicfile.SyncDir(filepath.Dir(dir))
}

// swapBack undoes swapIn.
func swapBack(dir string) error {
	prev := dir + ".prev"
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if err := os.Rename(prev, dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return atomicfile.SyncDir(filepath.Dir(dir))
}

// older tells whether version a is older than b, both as
// [v]MAJOR.MINOR.PATCH[-suffix]; versions that do not read so (a "dev"
// build) are never older.
func older(a, b string) bool {
	pa, oka := parseVersion(a)
	pb, okb := parseVersion(b)
	if !oka || !okb {
		return false
	}
	for i := range pa {
		if pa[i] != pb[i] {
			return pa[i] < pb[i]
		}
	}
	return false
}

func parseVersion(s string) ([3]int, bool) {
	var v [3]int
	s = strings.TrimPrefix(s, "v")
	if i := strings.IndexAny(s, "-+"); i >= 0 {
		s = s[:i]
	}
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return v, false
	}
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return v, false
		}
		v[i] = n
	}
	return v, true
}
