package backup

import (
	"archive/tar"
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"filippo.io/age"
	"filippo.io/age/agessh"
	"github.com/klauspost/compress/zstd"
)

const innerManifest = "manifest.json"

// archiveWriter writes tar → zstd → (age) → file, hashing the file's bytes
// and each entry.
type archiveWriter struct {
	file    *hashCounter
	enc     io.WriteCloser // age, or nil
	zw      *zstd.Encoder
	tw      *tar.Writer
	tarSize *counter
	parts   []Part
	onWrite func(done int64)
	mtime   time.Time
}

func newArchiveWriter(f io.Writer, recipients []string) (*archiveWriter, error) {
	aw := &archiveWriter{file: &hashCounter{w: f, h: sha256.New()}, mtime: time.Now().UTC().Truncate(time.Second)}
	var w io.Writer = aw.file
	if len(recipients) > 0 {
		rs, err := parseRecipients(recipients)
		if err != nil {
			return nil, err
		}
		if aw.enc, err = age.Encrypt(aw.file, rs...); err != nil {
			return nil, fmt.Errorf("backup: encrypt: %w", err)
		}
		w = aw.enc
	}
	zw, err := zstd.NewWriter(w, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderCRC(true))
	if err != nil {
		return nil, err
	}
	aw.zw = zw
	aw.tarSize = &counter{w: zw}
	aw.tw = tar.NewWriter(aw.tarSize)
	return aw, nil
}

func (aw *archiveWriter) written() int64 { return aw.tarSize.n }

// addPart adds an entry held in memory.
func (aw *archiveWriter) addPart(name string, data []byte) error {
	hdr := &tar.Header{Name: name, Mode: 0o600, Size: int64(len(data)), ModTime: aw.mtime, Typeflag: tar.TypeReg, Format: tar.FormatPAX}
	if err := aw.tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if _, err := aw.tw.Write(data); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	sum := sha256.Sum256(data)
	aw.parts = append(aw.parts, Part{Name: name, Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:])})
	aw.progress()
	return nil
}

// addFile adds a file from disk. A file that changes size while it is read
// fails the backup (the next run takes it whole).
func (aw *archiveWriter) addFile(name, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	hdr := &tar.Header{Name: name, Mode: int64(fi.Mode().Perm()), Size: fi.Size(), ModTime: fi.ModTime(), Typeflag: tar.TypeReg, Format: tar.FormatPAX}
	if err := aw.tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	h := sha256.New()
	n, err := io.CopyN(io.MultiWriter(aw.tw, h), &progressReader{r: f, aw: aw}, fi.Size())
	if err != nil {
		return fmt.Errorf("backup: read %s (%d of %d bytes): %w", path, n, fi.Size(), err)
	}
	aw.parts = append(aw.parts, Part{Name: name, Size: n, SHA256: hex.EncodeToString(h.Sum(nil))})
	aw.progress()
	return nil
}

func (aw *archiveWriter) progress() {
	if aw.onWrite != nil {
		aw.onWrite(aw.tarSize.n)
	}
}

// close adds the manifest as the last entry and closes every layer.
func (aw *archiveWriter) close(m Manifest) error {
	m.Size, m.SHA256 = 0, ""
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	hdr := &tar.Header{Name: innerManifest, Mode: 0o600, Size: int64(len(b)), ModTime: aw.mtime, Typeflag: tar.TypeReg, Format: tar.FormatPAX}
	if err := aw.tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if _, err := aw.tw.Write(b); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if err := aw.tw.Close(); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if err := aw.zw.Close(); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if aw.enc != nil {
		if err := aw.enc.Close(); err != nil {
			return fmt.Errorf("backup: encrypt: %w", err)
		}
	}
	return aw.file.err
}

func (aw *archiveWriter) fileSize() int64    { return aw.file.n }
func (aw *archiveWriter) fileSHA256() string { return hex.EncodeToString(aw.file.h.Sum(nil)) }

type progressReader struct {
	r  io.Reader
	aw *archiveWriter
	n  int64
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.n += int64(n)
	if p.n >= 1<<20 {
		p.n = 0
		p.aw.progress()
	}
	return n, err
}

type counter struct {
	w io.Writer
	n int64
}

func (c *counter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n += int64(n)
	return n, err
}

type hashCounter struct {
	w   io.Writer
	h   hash.Hash
	n   int64
	err error
}

func (c *hashCounter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.h.Write(b[:n])
	c.n += int64(n)
	if err != nil && c.err == nil {
		c.err = err
	}
	return n, err
}

func parseRecipients(keys []string) ([]age.Recipient, error) {
	var out []age.Recipient
	for _, k := range keys {
		k = strings.TrimSpace(k)
		if k == "" {
			continue
		}
		var r age.Recipient
		var err error
		if strings.HasPrefix(k, "ssh-") {
			r, err = agessh.ParseRecipient(k)
		} else {
			r, err = age.ParseX25519Recipient(k)
		}
		if err != nil {
			return nil, fmt.Errorf("backup: recipient %q: %w", short(k), err)
		}
		out = append(out, r)
	}
	if len(out) == 0 {
		return nil, errors.New("backup: no valid recipient")
	}
	return out, nil
}

// parseIdentities reads identities given inline or as files.
func parseIdentities(list []string) ([]age.Identity, error) {
	var out []age.Identity
	for _, s := range list {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		data := []byte(s)
		if !strings.HasPrefix(s, "AGE-SECRET-KEY-") {
			b, err := os.ReadFile(s)
			if err != nil {
				return nil, fmt.Errorf("backup: identity: %w", err)
			}
			data = b
		}
		if bytes.Contains(data, []byte("PRIVATE KEY-----")) {
			id, err := agessh.ParseIdentity(data)
			if err != nil {
				return nil, fmt.Errorf("backup: identity %s: %w", short(s), err)
			}
			out = append(out, id)
			continue
		}
		ids, err := age.ParseIdentities(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("backup: identity %s: %w", short(s), err)
		}
		out = append(out, ids...)
	}
	return out, nil
}

func short(s string) string {
	if strings.HasPrefix(s, "AGE-SECRET-KEY-") {
		return "AGE-SECRET-KEY-…"
	}
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// entryFunc receives one entry of an archive while it is read; what it
// leaves unread is read (and hashed) after it returns.
type entryFunc func(hdr *tar.Header, r io.Reader) error

// readArchive reads an archive from start to end, checking each entry
// against the manifest inside (which comes last) and returning it. fn may be
// nil. Every mismatch is an error wrapping ErrCorrupt; a missing identity,
// ErrNoIdentity.
func readArchive(path string, identities []string, progress func(done int64), fn entryFunc) (Manifest, error) {
	var m Manifest
	f, err := os.Open(path)
	if err != nil {
		return m, err
	}
	defer f.Close()
	cr := &readCounter{r: bufio.NewReaderSize(f, 1<<20), progress: progress}
	var r io.Reader = cr
	if strings.HasSuffix(path, ".age") {
		ids, err := parseIdentities(identities)
		if err != nil {
			return m, err
		}
		if len(ids) == 0 {
			return m, ErrNoIdentity
		}
		dr, err := age.Decrypt(cr, ids...)
		if err != nil {
			var nm *age.NoIdentityMatchError
			if errors.As(err, &nm) {
				return m, fmt.Errorf("%w (none of the given identities matches)", ErrNoIdentity)
			}
			return m, fmt.Errorf("%w: %s: decrypt: %v", ErrCorrupt, filepath.Base(path), err)
		}
		r = dr
	}
	zr, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1))
	if err != nil {
		return m, fmt.Errorf("%w: %s: %v", ErrCorrupt, filepath.Base(path), err)
	}
	defer zr.Close()
	tr := tar.NewReader(zr)
	got := map[string]Part{}
	corrupt := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrCorrupt, filepath.Base(path), fmt.Sprintf(format, args...))
	}
	sawManifest := false
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return m, corrupt("%v", err)
		}
		if sawManifest {
			return m, corrupt("entry %s after the manifest", hdr.Name)
		}
		if hdr.Name == innerManifest {
			b, err := io.ReadAll(io.LimitReader(tr, 64<<20))
			if err != nil {
				return m, corrupt("%v", err)
			}
			if err := json.Unmarshal(b, &m); err != nil {
				return m, corrupt("manifest: %v", err)
			}
			sawManifest = true
			continue
		}
		if _, dup := got[hdr.Name]; dup {
			return m, corrupt("entry %s twice", hdr.Name)
		}
		h := sha256.New()
		er := &entryReader{r: io.TeeReader(tr, h)}
		if fn != nil {
			if err := fn(hdr, er); err != nil {
				if er.err != nil { // the archive failed under fn
					return m, corrupt("%s: %v", hdr.Name, er.err)
				}
				return m, err
			}
		}
		if _, err := io.Copy(io.Discard, er); err != nil {
			return m, corrupt("%s: %v", hdr.Name, err)
		}
		got[hdr.Name] = Part{Name: hdr.Name, Size: hdr.Size, SHA256: hex.EncodeToString(h.Sum(nil))}
	}
	if !sawManifest {
		return m, corrupt("no manifest (the archive ends early)")
	}
	if m.Version != FormatVersion {
		return m, fmt.Errorf("backup: %s has format version %d, this program reads %d", filepath.Base(path), m.Version, FormatVersion)
	}
	if len(m.Parts) != len(got) {
		return m, corrupt("%d entries, the manifest lists %d", len(got), len(m.Parts))
	}
	for _, p := range m.Parts {
		g, ok := got[p.Name]
		switch {
		case !ok:
			return m, corrupt("%s is missing", p.Name)
		case g.Size != p.Size || g.SHA256 != p.SHA256:
			return m, corrupt("%s: SHA-256 differs from the manifest", p.Name)
		}
	}
	return m, nil
}

// entryReader remembers a read error of the archive itself, to tell it
// from an error of the function reading the entry.
type entryReader struct {
	r   io.Reader
	err error
}

func (e *entryReader) Read(b []byte) (int, error) {
	n, err := e.r.Read(b)
	if err != nil && err != io.EOF && e.err == nil {
		e.err = err
	}
	return n, err
}

type readCounter struct {
	r        io.Reader
	n        int64
	progress func(int64)
	last     int64
}

func (c *readCounter) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n += int64(n)
	if c.progress != nil && (c.n-c.last >= 1<<20 || err == io.EOF) {
		c.last = c.n
		c.progress(c.n)
	}
	return n, err
}

// fileSHA256 hashes a file.
func fileSHA256(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", n, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// checkArchive compares the archive file with its manifest's size and
// SHA-256: a cheap check, possible without the identity.
func checkArchive(dir string, m Manifest) error {
	sum, n, err := fileSHA256(filepath.Join(dir, m.Archive))
	if err != nil {
		return err
	}
	if m.SHA256 == "" {
		return nil
	}
	if n != m.Size || sum != m.SHA256 {
		return fmt.Errorf("%w: %s: its SHA-256 (or size) differs from the manifest's", ErrCorrupt, m.Archive)
	}
	return nil
}

// GenerateKey makes an age key pair for encrypted backups: the public key
// goes into Options.Recipients, the secret key into Options.Identities for
// Verify and Restore. A copy of the secret key must be kept off the
// appliance: without it no encrypted backup can be restored.
func GenerateKey() (secret, public string, err error) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return "", "", err
	}
	return id.String(), id.Recipient().String(), nil
}
