// Package kiosk is the face of the touchscreen totems: the totem page
// (standby, services, walk-in tickets, identified citizens' appointments,
// check-in, scanner and camera, pairing), the 80 mm ticket it prints from
// the browser, and the public ticket page a citizen opens from the ticket's
// QR code. Its pages and assets are embedded in the binary; it talks to the
// appliance only over HTTP and /ws/kiosk, as docs/kiosk.md and
// docs/realtime.md describe.
//
// Mount Handler at /kiosk/ (with or without stripping the prefix). Pages:
//
//	/kiosk/              the totem (?token=<kiosk token> or the device cookie)
//	/kiosk/print/<token> the ticket laid out for 80 mm paper; prints itself
//	/kiosk/t/<token>     the ticket's public status page (the QR's target)
//
// Assets are under a/<hash of every asset>/, cached for a year, so a new
// build is never mixed with an old one.
package kiosk

import (
	"bytes"
	"embed"
	"html/template"
	"net/http"
	"regexp"
	"strings"
	"sync"

	"avanti/appliance/webpage"
)

// files are the page templates and static/, the pages' modules and styles;
// static/vendor/ also holds the font scripts/assets copies from npm, when
// it has run.
//
//go:embed kiosk.html print.html ticket.html static
var files embed.FS

var (
	once  sync.Once
	built *site
	tpls  = template.Must(template.ParseFS(files, "*.html"))
	// A ticket token as the store issues them (base64url), with room for
	// other lengths: the API, not the page, decides whether it exists.
	tokenPath = regexp.MustCompile(`^[A-Za-z0-9_-]{8,128}$`)
)

// site is the pages rendered once and the assets they refer to.
type site struct {
	version string // hash of the pages and assets: the page version the totem reports
	kiosk   []byte
	print   []byte
	ticket  []byte
	assets  *webpage.Assets
}

// Version is the page version a totem reports in its status messages: a
// hash of the embedded pages and assets, so it changes with every change.
func Version() string { return load().version }

// Handler serves the totem's pages and their assets.
func Handler() http.Handler {
	s := load()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !webpage.GetOnly(w, r) {
			return
		}
		// Stripped of "/kiosk/" the path is "" or "a/…"; stripped of
		// "/kiosk" only, it starts with a slash.
		p := strings.TrimPrefix(r.URL.Path, "/")
		if rest, ok := strings.CutPrefix(p, "a/"); ok {
			s.assets.Serve(w, r, rest)
			return
		}
		switch {
		case p == "":
			s.servePage(w, r, s.kiosk, "'none'")
		case strings.HasPrefix(p, "print/") && tokenPath.MatchString(strings.TrimPrefix(p, "print/")):
			// The totem page prints it in a hidden frame of its own.
			s.servePage(w, r, s.print, "'self'")
		case strings.HasPrefix(p, "t/") && tokenPath.MatchString(strings.TrimPrefix(p, "t/")):
			s.servePage(w, r, s.ticket, "'none'")
		default:
			http.NotFound(w, r)
		}
	})
}

func (s *site) servePage(w http.ResponseWriter, r *http.Request, page []byte, ancestors string) {
	h := w.Header()
	// The ticket's token is in the URL: never tell other sites.
	h.Set("Referrer-Policy", "no-referrer")
	// Everything comes from the appliance itself: no CDN, no outside URL.
	// blob: and mediastream: are the camera's preview and its frames.
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob: mediastream:; "+
		"connect-src 'self'; style-src 'self'; script-src 'self'; frame-src 'self'; object-src 'none'; base-uri 'none'; "+
		"frame-ancestors "+ancestors)
	webpage.ServePage(w, r, page, s.version)
}

func load() *site {
	once.Do(func() {
		assets := webpage.NewAssets(files, "static")
		version := assets.Version()
		font := assets.Has("vendor/fonts.css")
		render := func(name, base string) []byte {
			var b bytes.Buffer
			// Relative asset URLs, so the pages work under any mount;
			// the print and ticket pages are one level down.
			if err := tpls.ExecuteTemplate(&b, name, map[string]any{
				"Assets":  base + assets.Prefix(),
				"Version": version,
				"Font":    font,
			}); err != nil {
				panic(err)
			}
			return b.Bytes()
		}
		built = &site{
			version: version,
			kiosk:   render("kiosk.html", ""),
			print:   render("print.html", "../"),
			ticket:  render("ticket.html", "../"),
			assets:  assets,
		}
	})
	return built
}
