// Package webpage serves what the browser faces (signage, kiosk, console)
// have in common: their embedded assets under a/<version>/, where version
// is a hash of every page and asset so the assets are cached for a year
// and a new build is never mixed with an old one, and the modules they
// share (live.js, the realtime client), served among each face's own
// assets so a page imports them as "./live.js". The faces never import
// each other; each renders its pages and says its own policies.
package webpage

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"path"
	"sort"
	"strings"
	"time"
)

// shared are the modules every face serves beside its own.
//
//go:embed live.js
var shared embed.FS

// Assets are a face's static files and the shared modules, under one version.
type Assets struct {
	version string
	own     fs.FS
}

// NewAssets serves the directory dir of files (the face's whole embedded
// tree: its version covers the page templates too). A face's file named
// like a shared module is a mistake (a stale copy) and panics.
func NewAssets(files fs.FS, dir string) *Assets {
	own, err := fs.Sub(files, dir)
	if err != nil {
		panic(err)
	}
	for _, n := range names(shared) {
		if _, err := fs.Stat(own, n); err == nil {
			panic(fmt.Sprintf("webpage: %s/%s is shared: serve appliance/webpage's, keep no copy", dir, n))
		}
	}
	h := sha256.New()
	hashFiles(h, files, "")
	hashFiles(h, shared, "webpage/")
	return &Assets{version: hex.EncodeToString(h.Sum(nil))[:12], own: own}
}

// Version is the hash of the face's pages, its assets and the shared
// modules: it changes with every change to any of them.
func (a *Assets) Version() string { return a.version }

// Prefix is the assets' URL relative to the mount point: "a/<version>/".
func (a *Assets) Prefix() string { return "a/" + a.version + "/" }

// Has tells whether the asset name exists (the font copied from npm may not).
func (a *Assets) Has(name string) bool {
	_, err := fs.Stat(a.open(name))
	return err == nil
}

func (a *Assets) open(name string) (fs.FS, string) {
	if _, err := fs.Stat(shared, name); err == nil {
		return shared, name
	}
	return a.own, name
}

// Serve serves rest = "<version>/<file>" (the path after "a/"); an old
// version's asset is a 404 rather than today's file under yesterday's name.
func (a *Assets) Serve(w http.ResponseWriter, r *http.Request, rest string) {
	version, name, ok := strings.Cut(rest, "/")
	if !ok || version != a.version || name == "" || !fs.ValidPath(name) {
		http.NotFound(w, r)
		return
	}
	data, err := fs.ReadFile(a.open(name))
	if err != nil {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Cache-Control", "public, max-age=31536000, immutable")
	h.Set("X-Content-Type-Options", "nosniff")
	switch path.Ext(name) {
	case ".js":
		h.Set("Content-Type", "text/javascript; charset=utf-8")
	case ".json":
		h.Set("Content-Type", "application/json")
	}
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(data))
}

func names(fsys fs.FS) []string {
	var out []string
	fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			out = append(out, p)
		}
		return nil
	})
	sort.Strings(out)
	return out
}

// hashFiles writes every file's name and the hash of its content.
func hashFiles(h io.Writer, fsys fs.FS, prefix string) {
	for _, n := range names(fsys) {
		data, _ := fs.ReadFile(fsys, n)
		h.Write([]byte(prefix + n))
		h.Write([]byte{0})
		sum := sha256.Sum256(data)
		h.Write(sum[:])
	}
}
