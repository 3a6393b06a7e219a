// Package atomicfile replaces files whole: a reader, or the appliance after
// a crash, finds the old content or the new, never half of either.
//
// The content goes to a temporary file in the same directory (a rename is
// atomic only within one file system), which is synced, given its mode and
// renamed over the target; then the directory is synced so the rename
// itself survives a power cut.
package atomicfile

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
)

// TempPrefix begins the names of the temporary files, so that a directory's
// owner can sweep those a crash left behind.
const TempPrefix = ".tmp-"

// An Option changes how a file is written.
type Option func(*File)

// Owner gives the file this user and group (-1 leaves one as it is), set
// on the open temporary file so no link is ever followed.
func Owner(uid, gid int) Option {
	return func(f *File) { f.uid, f.gid = uid, gid }
}

// Write replaces path with data, with the permissions perm.
func Write(path string, data []byte, perm os.FileMode, opts ...Option) error {
	f, err := Create(path, perm, opts...)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Abort()
		return err
	}
	return f.Commit()
}

// File is the new content of a file being written: nothing is at its path
// until Commit.
type File struct {
	tmp      *os.File
	path     string
	perm     os.FileMode
	uid, gid int
	done     bool
}

// Create starts replacing path. The temporary file is made 0600 and gets
// perm only when complete, so no one reads a secret through a wider mode
// meanwhile. Call Commit to put it in place, or Abort (safe to defer).
func Create(path string, perm os.FileMode, opts ...Option) (*File, error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), TempPrefix+filepath.Base(path)+"-*")
	if err != nil {
		return nil, err
	}
	f := &File{tmp: tmp, path: path, perm: perm, uid: -1, gid: -1}
	for _, o := range opts {
		o(f)
	}
	return f, nil
}

// Write adds p to the new content.
func (f *File) Write(p []byte) (int, error) {
	return f.tmp.Write(p)
}

// Commit puts the new content at the path. On an error before the rename
// the temporary file is removed and the old file is as it was; an error
// syncing the directory comes after the new content is already in place.
func (f *File) Commit() error {
	if f.done {
		return errors.New("atomicfile: " + f.path + " already committed or aborted")
	}
	f.done = true
	err := f.tmp.Chmod(f.perm)
	if err == nil && (f.uid >= 0 || f.gid >= 0) {
		err = f.tmp.Chown(f.uid, f.gid)
	}
	if err == nil {
		err = f.tmp.Sync()
	}
	if cerr := f.tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.tmp.Name(), f.path)
	}
	if err != nil {
		os.Remove(f.tmp.Name())
		return err
	}
	return SyncDir(filepath.Dir(f.path))
}

// Abort drops the new content and leaves the old file as it was. After
// Commit it does nothing, so it can be deferred.
func (f *File) Abort() {
	if f.done {
		return
	}
	f.done = true
	f.tmp.Close()
	os.Remove(f.tmp.Name())
}

// SyncDir makes the renames and removals done in dir durable. A file
// system that cannot sync a directory (some network shares) is no error.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) {
		return err
	}
	return nil
}
