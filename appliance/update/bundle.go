// Package update installs new versions of the appliance from bundles signed
// with the vendor's ed25519 key (`avanti update apply BUNDLE`), and makes
// them (`avanti update sign`).
//
// A bundle is a gzip-compressed tar archive:
//
//	manifest.json           {"format":1,"product":"avanti","version":…,"created_at":…,
//	                         "files":[{"path":"avanti","size":…,"mode":493,"sha256":…},…]}
//	manifest.json.sig       base64 of the ed25519 signature of manifest.json's bytes
//	files/avanti            the new binary
//	files/provisioning/…    optional: files for the image (units, configuration)
//
// The manifest and its signature come first, so the signature is checked
// before a byte of anything else is read; every file is then checked
// against the size and SHA-256 the signed manifest gives, and nothing that
// the manifest does not list is accepted.
package update

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"avanti/appliance/atomicfile"
)

// Entry names inside a bundle.
const (
	ManifestName  = "manifest.json"
	SignatureName = "manifest.json.sig"
	BinaryName    = "avanti"        // the path of the binary in the manifest
	ProvisionDir  = "provisioning/" // where optional image files go in the manifest
	filesPrefix   = "files/"
	maxManifest   = 1 << 20
	formatVersion = 1
	product       = "avanti"
)

// Errors a refused bundle gives (wrapped with detail).
var (
	ErrSignature = errors.New("update: the bundle's signature is not valid for any trusted key")
	ErrTampered  = errors.New("update: the bundle's content does not match its signed manifest")
	ErrMalformed = errors.New("update: not a valid update bundle")
)

// Manifest describes a bundle; it is what the vendor signs.
type Manifest struct {
	Format    int       `json:"format"`
	Product   string    `json:"product"`
	Version   string    `json:"version"`
	CreatedAt time.Time `json:"created_at"`
	Files     []File    `json:"files"`
}

// File is one file of a bundle.
type File struct {
	Path   string `json:"path"` // "avanti" or "provisioning/…", slash-separated
	Size   int64  `json:"size"`
	Mode   uint32 `json:"mode"` // permission bits to install it with
	SHA256 string `json:"sha256"`
}

func (m Manifest) validate() error {
	if m.Format != formatVersion || m.Product != product {
		return fmt.Errorf("%w: format %d of %q, want format %d of %q", ErrMalformed, m.Format, m.Product, formatVersion, product)
	}
	if strings.TrimSpace(m.Version) == "" || strings.ContainsAny(m.Version, " \t\r\n/") {
		return fmt.Errorf("%w: version %q", ErrMalformed, m.Version)
	}
	seen := map[string]bool{}
	for _, f := range m.Files {
		if err := checkPath(f.Path); err != nil {
			return err
		}
		if seen[f.Path] {
			return fmt.Errorf("%w: %s listed twice", ErrMalformed, f.Path)
		}
		seen[f.Path] = true
		if f.Size < 0 || f.Mode&^0o755 != 0 || len(f.SHA256) != 64 {
			return fmt.Errorf("%w: %s: size %d, mode %o, sha256 %q", ErrMalformed, f.Path, f.Size, f.Mode, f.SHA256)
		}
	}
	if !seen[BinaryName] {
		return fmt.Errorf("%w: no %s binary", ErrMalformed, BinaryName)
	}
	return nil
}

// checkPath allows "avanti" and clean relative paths under provisioning/.
func checkPath(p string) error {
	if p == BinaryName {
		return nil
	}
	if !strings.HasPrefix(p, ProvisionDir) || p == ProvisionDir || path.Clean(p) != p || !filepath.IsLocal(p) || strings.Contains(p, "\\") {
		return fmt.Errorf("%w: file path %q: want %s or a clean path under %s", ErrMalformed, p, BinaryName, ProvisionDir)
	}
	return nil
}

// Sign writes a signed bundle of dir's files to w: dir/avanti (required)
// and everything under dir/provisioning/.
func Sign(w io.Writer, dir, version string, key ed25519.PrivateKey, now time.Time) (Manifest, error) {
	m := Manifest{Format: formatVersion, Product: product, Version: version, CreatedAt: now.UTC().Truncate(time.Second)}
	var sources []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if rel == "." || rel == "provisioning" || strings.HasPrefix(rel, ProvisionDir) {
				return nil
			}
			return filepath.SkipDir
		}
		if rel != BinaryName && !strings.HasPrefix(rel, ProvisionDir) {
			return nil
		}
		if !d.Type().IsRegular() {
			return fmt.Errorf("update: %s is not a regular file", p)
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		sum, err := fileSHA256(p)
		if err != nil {
			return err
		}
		mode := uint32(0o644)
		if fi.Mode()&0o111 != 0 {
			mode = 0o755
		}
		m.Files = append(m.Files, File{Path: rel, Size: fi.Size(), Mode: mode, SHA256: sum})
		sources = append(sources, p)
		return nil
	})
	if err != nil {
		return Manifest{}, err
	}
	if err := m.validate(); err != nil {
		return Manifest{}, err
	}
	manifest, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return Manifest{}, err
	}
	sig := base64.StdEncoding.EncodeToString(ed25519.Sign(key, manifest)) + "\n"

	gz := gzip.NewWriter(w)
	tw := tar.NewWriter(gz)
	add := func(name string, mode int64, size int64, r io.Reader) error {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: mode, Size: size, ModTime: m.CreatedAt, Format: tar.FormatPAX}); err != nil {
			return err
		}
		_, err := io.Copy(tw, r)
		return err
	}
	if err := add(ManifestName, 0o644, int64(len(manifest)), bytes.NewReader(manifest)); err != nil {
		return Manifest{}, err
	}
	if err := add(SignatureName, 0o644, int64(len(sig)), strings.NewReader(sig)); err != nil {
		return Manifest{}, err
	}
	for i, f := range m.Files {
		src, err := os.Open(sources[i])
		if err != nil {
			return Manifest{}, err
		}
		// The size is the manifest's: a file that changed meanwhile fails
		// here rather than making a bundle that lies.
		err = add(filesPrefix+f.Path, int64(f.Mode), f.Size, io.LimitReader(src, f.Size))
		src.Close()
		if err != nil {
			return Manifest{}, fmt.Errorf("update: %s: %w", sources[i], err)
		}
	}
	if err := tw.Close(); err != nil {
		return Manifest{}, err
	}
	return m, gz.Close()
}

// SignFile is Sign into the file out, written whole or not at all.
func SignFile(out, dir, version string, key ed25519.PrivateKey, now time.Time) (Manifest, error) {
	f, err := atomicfile.Create(out, 0o644)
	if err != nil {
		return Manifest{}, err
	}
	defer f.Abort()
	m, err := Sign(f, dir, version, key, now)
	if err != nil {
		return m, err
	}
	return m, f.Commit()
}

// Verify checks a bundle whole, signature first, then every file, without
// installing anything. It returns the manifest and the fingerprint of the
// key that signed it.
func Verify(bundle string, keys []ed25519.PublicKey) (Manifest, string, error) {
	f, err := os.Open(bundle)
	if err != nil {
		return Manifest{}, "", err
	}
	defer f.Close()
	return read(f, keys, func(File) (io.WriteCloser, error) { return nopWriteCloser{io.Discard}, nil })
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }

// read checks a bundle read from r, handing each file's content to open's
// writer as it goes; the caller discards what it wrote if read fails.
func read(r io.Reader, keys []ed25519.PublicKey, open func(File) (io.WriteCloser, error)) (Manifest, string, error) {
	gz, err := gzip.NewReader(r)
	if err != nil {
		return Manifest{}, "", fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	tr := tar.NewReader(gz)
	next := func(want string) ([]byte, error) {
		h, err := tr.Next()
		if err != nil {
			return nil, fmt.Errorf("%w: reading %s: %v", ErrMalformed, want, err)
		}
		if h.Name != want || h.Typeflag != tar.TypeReg || h.Size > maxManifest {
			return nil, fmt.Errorf("%w: %q where %s belongs", ErrMalformed, h.Name, want)
		}
		return io.ReadAll(io.LimitReader(tr, maxManifest))
	}
	manifest, err := next(ManifestName)
	if err != nil {
		return Manifest{}, "", err
	}
	sigText, err := next(SignatureName)
	if err != nil {
		return Manifest{}, "", err
	}
	sig, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(sigText)))
	if err != nil || len(sig) != ed25519.SignatureSize {
		return Manifest{}, "", fmt.Errorf("%w: %s is not a base64 ed25519 signature", ErrSignature, SignatureName)
	}
	signer := ""
	for _, k := range keys {
		if len(k) == ed25519.PublicKeySize && ed25519.Verify(k, manifest, sig) {
			signer = KeyID(k)
			break
		}
	}
	if signer == "" {
		return Manifest{}, "", fmt.Errorf("%w (%d trusted)", ErrSignature, len(keys))
	}

	// From here on the manifest is the vendor's word.
	var m Manifest
	if err := json.Unmarshal(manifest, &m); err != nil {
		return Manifest{}, "", fmt.Errorf("%w: manifest: %v", ErrMalformed, err)
	}
	if err := m.validate(); err != nil {
		return m, signer, err
	}
	want := map[string]File{}
	for _, f := range m.Files {
		want[f.Path] = f
	}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return m, signer, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		name, ok := strings.CutPrefix(h.Name, filesPrefix)
		f, listed := want[name]
		if !ok || !listed {
			return m, signer, fmt.Errorf("%w: %q is not in the manifest (or is there twice)", ErrTampered, h.Name)
		}
		delete(want, name)
		if h.Typeflag != tar.TypeReg || h.Size != f.Size {
			return m, signer, fmt.Errorf("%w: %s: size %d, the manifest says %d", ErrTampered, name, h.Size, f.Size)
		}
		w, err := open(f)
		if err != nil {
			return m, signer, err
		}
		sum := sha256.New()
		_, err = io.Copy(io.MultiWriter(w, sum), io.LimitReader(tr, f.Size))
		if cerr := w.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return m, signer, fmt.Errorf("update: %s: %w", name, err)
		}
		if got := hex.EncodeToString(sum.Sum(nil)); got != f.SHA256 {
			return m, signer, fmt.Errorf("%w: %s: sha256 %s, the manifest says %s", ErrTampered, name, got, f.SHA256)
		}
	}
	if len(want) > 0 {
		missing := make([]string, 0, len(want))
		for p := range want {
			missing = append(missing, p)
		}
		sort.Strings(missing)
		return m, signer, fmt.Errorf("%w: missing %s", ErrTampered, strings.Join(missing, ", "))
	}
	return m, signer, nil
}

func fileSHA256(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// KeyID names a public key: the first 16 hex digits of its SHA-256.
func KeyID(k ed25519.PublicKey) string {
	s := sha256.Sum256(k)
	return hex.EncodeToString(s[:8])
}

// MarshalPublicKey is the one-line form of a public key for configuration:
// the base64 of its 32 bytes.
func MarshalPublicKey(k ed25519.PublicKey) string { return base64.StdEncoding.EncodeToString(k) }

// ParsePublicKey reads a public key in MarshalPublicKey's form or as a PEM
// "PUBLIC KEY" (as openssl writes it).
func ParsePublicKey(s string) (ed25519.PublicKey, error) {
	s = strings.TrimSpace(s)
	if b, _ := pem.Decode([]byte(s)); b != nil {
		k, err := x509.ParsePKIXPublicKey(b.Bytes)
		if err != nil {
			return nil, err
		}
		if ek, ok := k.(ed25519.PublicKey); ok {
			return ek, nil
		}
		return nil, errors.New("update: not an ed25519 public key")
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, errors.New("update: a public key is the base64 of 32 bytes, or a PEM PUBLIC KEY")
	}
	return ed25519.PublicKey(b), nil
}

// MarshalPrivateKey is a private key as PEM (PKCS #8, as openssl writes it).
func MarshalPrivateKey(k ed25519.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// ParsePrivateKey reads MarshalPrivateKey's form.
func ParsePrivateKey(b []byte) (ed25519.PrivateKey, error) {
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, errors.New("update: no PEM private key")
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, err
	}
	ek, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, errors.New("update: not an ed25519 private key")
	}
	return ek, nil
}
