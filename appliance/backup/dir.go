package backup

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"avanti/appliance/atomicfile"
)

const (
	namePrefix  = "avanti-"
	nameLayout  = "20060102T150405Z"
	manifestExt = ".json"
	verifiedExt = ".verified.json"
	lockFile    = ".lock"
	binlogDir   = "binlogs"
)

func archiveExt(encrypted bool) string {
	if encrypted {
		return ".tar.zst.age"
	}
	return ".tar.zst"
}

// uniqueName names a backup taken at t: avanti-<UTC time>, with -2, -3 …
// when one of that second exists already.
func uniqueName(dir string, t time.Time) string {
	base := namePrefix + t.UTC().Format(nameLayout)
	name := base
	for i := 2; ; i++ {
		if _, err := os.Stat(filepath.Join(dir, name+manifestExt)); os.IsNotExist(err) {
			if _, err := os.Stat(filepath.Join(dir, name+archiveExt(false))); os.IsNotExist(err) {
				if _, err := os.Stat(filepath.Join(dir, name+archiveExt(true))); os.IsNotExist(err) {
					return name
				}
			}
		}
		name = fmt.Sprintf("%s-%d", base, i)
	}
}

// parseName returns the time a backup name stands for and its sequence
// within that second.
func parseName(name string) (time.Time, int, bool) {
	if !strings.HasPrefix(name, namePrefix) {
		return time.Time{}, 0, false
	}
	rest := name[len(namePrefix):]
	seq := 1
	if len(rest) > len(nameLayout) {
		if rest[len(nameLayout)] != '-' {
			return time.Time{}, 0, false
		}
		n, err := strconv.Atoi(rest[len(nameLayout)+1:])
		if err != nil || n < 2 {
			return time.Time{}, 0, false
		}
		seq, rest = n, rest[:len(nameLayout)]
	}
	t, err := time.Parse(nameLayout, rest)
	if err != nil {
		return time.Time{}, 0, false
	}
	return t, seq, true
}

// nameOf maps a file name of the backup directory to its backup's name.
func nameOf(file string) (string, bool) {
	for _, ext := range []string{verifiedExt, manifestExt, archiveExt(true), archiveExt(false)} {
		if n, ok := strings.CutSuffix(file, ext); ok {
			if _, _, ok := parseName(n); ok {
				return n, true
			}
		}
	}
	return "", false
}

// sortNames orders backup names oldest first.
func sortNames(names []string) {
	sort.Slice(names, func(i, j int) bool {
		ti, si, _ := parseName(names[i])
		tj, sj, _ := parseName(names[j])
		if !ti.Equal(tj) {
			return ti.Before(tj)
		}
		return si < sj
	})
}

// backups lists the complete backups in dir (those with a manifest and
// their archive), oldest first.
func backups(dir string) ([]Manifest, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, nil
		}
		return nil, err
	}
	var out []Manifest
	for _, e := range entries {
		n, ok := strings.CutSuffix(e.Name(), manifestExt)
		if !ok || strings.HasSuffix(n, ".verified") {
			continue
		}
		if _, _, ok := parseName(n); !ok {
			continue
		}
		var m Manifest
		if err := readJSON(filepath.Join(dir, e.Name()), &m); err != nil {
			continue // a damaged manifest: not a usable backup
		}
		if _, err := os.Stat(filepath.Join(dir, m.Archive)); err != nil || m.Archive == "" {
			continue
		}
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].CreatedAt.Equal(out[j].CreatedAt) {
			return out[i].CreatedAt.Before(out[j].CreatedAt)
		}
		return out[i].Name < out[j].Name
	})
	return out, nil
}

// resolve finds a backup by name, archive file name or path; "" or
// "latest" is the newest.
func resolve(dir, which string) (Manifest, error) {
	all, err := backups(dir)
	if err != nil {
		return Manifest{}, err
	}
	if len(all) == 0 {
		return Manifest{}, fmt.Errorf("no backup in %s", dir)
	}
	if which == "" || which == "latest" {
		return all[len(all)-1], nil
	}
	base := filepath.Base(which)
	if n, ok := nameOf(base); ok {
		base = n
	}
	for _, m := range all {
		if m.Name == base {
			if filepath.IsAbs(which) && filepath.Dir(which) != filepath.Clean(dir) {
				return Manifest{}, fmt.Errorf("%s is not in the backup directory %s", which, dir)
			}
			return m, nil
		}
	}
	return Manifest{}, fmt.Errorf("no backup %q in %s", which, dir)
}

// lockDir takes the backup directory's lock: exclusive for Run, shared for
// the operations that only read backups.
func lockDir(dir string, exclusive bool) (func(), error) {
	f, err := os.OpenFile(filepath.Join(dir, lockFile), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("backup directory: %w", err)
	}
	how := syscall.LOCK_SH
	if exclusive {
		how = syscall.LOCK_EX
	}
	if err := syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB); err != nil {
		f.Close()
		if err == syscall.EWOULDBLOCK {
			return nil, ErrBusy
		}
		return nil, fmt.Errorf("lock backup directory: %w", err)
	}
	return func() { f.Close() }, nil
}

// removeLeftovers deletes what a run killed midway left: temporary files,
// and an archive newer than every complete backup whose manifest was never
// written (an older one without manifest was put there by hand: it stays).
// Only called with the exclusive lock held, so no run is writing them.
func removeLeftovers(dir string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	have := map[string]bool{}
	for _, e := range entries {
		have[e.Name()] = true
	}
	newest := ""
	if all, err := backups(dir); err == nil && len(all) > 0 {
		newest = all[len(all)-1].Name
	}
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, atomicfile.TempPrefix) {
			os.Remove(filepath.Join(dir, name))
			continue
		}
		for _, ext := range []string{archiveExt(true), archiveExt(false)} {
			if n, ok := strings.CutSuffix(name, ext); ok {
				if _, _, ok := parseName(n); ok && !have[n+manifestExt] && (newest == "" || laterName(n, newest)) {
					os.Remove(filepath.Join(dir, name))
				}
			}
		}
	}
}

// laterName says whether backup name a stands for a later backup than b.
func laterName(a, b string) bool {
	s := []string{a, b}
	sortNames(s)
	return s[1] == a && a != b
}

// writeJSON writes v to path atomically: a temporary file, fsynced, renamed,
// and the directory fsynced.
func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(path, append(b, '\n'), 0o600)
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// List returns the complete backups in opt.Dir, oldest first, as their
// manifests beside the archives describe them.
func List(opt Options) ([]Manifest, error) {
	return backups(opt.Dir)
}
