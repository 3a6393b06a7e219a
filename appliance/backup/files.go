package backup

import (
	"archive/tar"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"avanti/appliance/atomicfile"
)

// dataFile is a file of the data directory or the config file, with its
// name in the archive.
type dataFile struct {
	name string // files/<subdir>/… or config/<base>
	path string
	size int64
}

// listDataFiles lists the regular files to back up. Symbolic links and
// special files are left out.
func listDataFiles(opt *Options) ([]dataFile, error) {
	var out []dataFile
	if opt.DataDir != "" {
		for _, sub := range DataSubdirs {
			root := filepath.Join(opt.DataDir, sub)
			err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
				if err != nil {
					if os.IsNotExist(err) && p == root {
						return filepath.SkipDir
					}
					return err
				}
				if !d.Type().IsRegular() {
					return nil
				}
				info, err := d.Info()
				if err != nil {
					if os.IsNotExist(err) { // deleted meanwhile
						return nil
					}
					return err
				}
				rel, err := filepath.Rel(opt.DataDir, p)
				if err != nil {
					return err
				}
				out = append(out, dataFile{name: "files/" + filepath.ToSlash(rel), path: p, size: info.Size()})
				return nil
			})
			if err != nil {
				return nil, fmt.Errorf("backup: data directory: %w", err)
			}
		}
	}
	if opt.ConfigFile != "" {
		info, err := os.Stat(opt.ConfigFile)
		if err != nil {
			return nil, fmt.Errorf("backup: config file: %w", err)
		}
		out = append(out, dataFile{name: "config/" + filepath.Base(opt.ConfigFile), path: opt.ConfigFile, size: info.Size()})
	}
	return out, nil
}

// fileTarget says where an archive entry of files/ or config/ is restored,
// or "" when it is not restored (no DataDir or ConfigFile given).
func fileTarget(opt *Options, name string) (string, error) {
	clean := path.Clean(name)
	if clean != name || strings.Contains(name, "..") {
		return "", fmt.Errorf("%w: unsafe entry name %q", ErrCorrupt, name)
	}
	switch {
	case strings.HasPrefix(name, "files/"):
		if opt.DataDir == "" {
			return "", nil
		}
		rel := strings.TrimPrefix(name, "files/")
		top, _, _ := strings.Cut(rel, "/")
		known := false
		for _, s := range DataSubdirs {
			known = known || s == top
		}
		if !known {
			return "", fmt.Errorf("%w: unexpected entry %q", ErrCorrupt, name)
		}
		return filepath.Join(opt.DataDir, filepath.FromSlash(rel)), nil
	case strings.HasPrefix(name, "config/"):
		if opt.ConfigFile == "" {
			return "", nil
		}
		return opt.ConfigFile, nil
	}
	return "", nil
}

// restoreFile writes an entry to its place whole, so a reader never sees
// half a file.
func restoreFile(target string, hdr *tar.Header, r io.Reader) error {
	dir := filepath.Dir(target)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	mode := os.FileMode(hdr.Mode).Perm()
	if mode == 0 {
		mode = 0o600
	}
	f, err := atomicfile.Create(target, mode)
	if err != nil {
		return err
	}
	defer f.Abort()
	if _, err := io.Copy(f, r); err != nil {
		return err
	}
	if err := f.Commit(); err != nil {
		return err
	}
	os.Chtimes(target, hdr.ModTime, hdr.ModTime)
	return nil
}
