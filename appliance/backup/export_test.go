package backup

import (
	"archive/tar"
	"context"
	"io"
	"os"
	"path/filepath"
)

// SumTables computes the row counts and checksums of the database of dsn
// as a backup records them.
func SumTables(ctx context.Context, dsn string) ([]TableSum, error) {
	db, err := openDB(dsn)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return sumTables(ctx, conn)
}

// RewriteArchive rewrites a backup's archive, passing each entry through
// edit, with the hashes of the manifests made to match: an archive that is
// intact but whose contents differ from what was dumped.
func RewriteArchive(opt Options, name string, edit func(entry string, data []byte) []byte) error {
	m, err := resolve(opt.Dir, name)
	if err != nil {
		return err
	}
	type entry struct {
		hdr  *tar.Header
		data []byte
	}
	var entries []entry
	inner, err := readArchive(filepath.Join(opt.Dir, m.Archive), opt.Identities, nil, func(hdr *tar.Header, r io.Reader) error {
		b, err := io.ReadAll(r)
		entries = append(entries, entry{hdr, edit(hdr.Name, b)})
		return err
	})
	if err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(opt.Dir, m.Archive))
	if err != nil {
		return err
	}
	defer f.Close()
	aw, err := newArchiveWriter(f, inner.Recipients)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := aw.addPart(e.hdr.Name, e.data); err != nil {
			return err
		}
	}
	inner.Parts = aw.parts
	if err := aw.close(inner); err != nil {
		return err
	}
	inner.Size, inner.SHA256 = aw.fileSize(), aw.fileSHA256()
	return writeJSON(filepath.Join(opt.Dir, m.Name+manifestExt), sideManifest(inner))
}

// SetArchiveHash records size and sha256 as the archive's in its manifest.
func SetArchiveHash(opt Options, name string) error {
	m, err := resolve(opt.Dir, name)
	if err != nil {
		return err
	}
	sum, n, err := fileSHA256(filepath.Join(opt.Dir, m.Archive))
	if err != nil {
		return err
	}
	m.SHA256, m.Size = sum, n
	return writeJSON(filepath.Join(opt.Dir, m.Name+manifestExt), m)
}

// KeepNames exposes the retention rule.
var KeepNames = keepNames

// OneLine exposes the statement flattening of the dump.
var OneLine = oneLine
