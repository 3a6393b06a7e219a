// Package signage is the face of the waiting-room screens: the display page
// (call monitor, services monitor, playlist content, voice announcements,
// pairing) and its assets, embedded in the binary. It talks to the appliance
// only over HTTP and /ws/display, as docs/realtime.md describes.
//
// Mount Handler at /display/ (with or without stripping the prefix): the
// page refers to its assets by relative URLs, under a prefix that is the hash
// of every asset, so they can be cached for a year and a new build is never
// mixed with an old one.
package signage

import (
	"bytes"
	"embed"
	"html/template"
	"net/http"
	"strings"
	"sync"

	"avanti/appliance/webpage"
)

// files are the page template and static/, the page's modules and styles;
// static/vendor/ also holds what scripts/assets copies from npm (the font),
// when it has run.
//
//go:embed display.html static
var files embed.FS

var (
	once    sync.Once
	built   *site
	pageTpl = template.Must(template.ParseFS(files, "display.html"))
)

// site is the page rendered once and the assets it refers to.
type site struct {
	version string // hash of the page and its assets: the page version the display reports
	page    []byte
	assets  *webpage.Assets
}

// Version is the page version a display reports in its status messages: a
// hash of the embedded page and assets, so it changes with every change to them.
func Version() string { return load().version }

// Handler serves the display page at the mount point ("/display/") and its
// assets below it ("/display/a/<version>/display.js").
func Handler() http.Handler {
	s := load()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !webpage.GetOnly(w, r) {
			return
		}
		p := r.URL.Path
		if rest, ok := strings.CutPrefix(p, "a/"); ok {
			s.assets.Serve(w, r, rest)
			return
		}
		if i := strings.Index(p, "/a/"); i >= 0 {
			s.assets.Serve(w, r, p[i+len("/a/"):])
			return
		}
		if p != "" && !strings.HasSuffix(p, "/") {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h.Set("Referrer-Policy", "no-referrer")
		// Everything comes from the appliance itself: no CDN, no outside URL.
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; media-src 'self'; "+
			"connect-src 'self'; style-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")
		webpage.ServePage(w, r, s.page, s.version)
	})
}

func load() *site {
	once.Do(func() {
		assets := webpage.NewAssets(files, "static")
		var b bytes.Buffer
		if err := pageTpl.Execute(&b, map[string]any{
			"Assets":  assets.Prefix(),
			"Version": assets.Version(),
			"Font":    assets.Has("vendor/fonts.css"),
		}); err != nil {
			panic(err)
		}
		built = &site{version: assets.Version(), page: b.Bytes(), assets: assets}
	})
	return built
}
