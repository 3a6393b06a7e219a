// Package console is the face staff use all day from any browser on the
// municipal network: the sign-in page, the operator's desk app, the
// supervisor's live view and the admin console (organisation, services,
// agendas, work plans, users, devices, playlists, audit log, statistics,
// backups, remote maintenance, updates, the HTTPS certificate) and the
// first-boot setup page.
// Its pages and assets are embedded in the binary; it talks to the
// appliance only over HTTP and /ws/desk, as docs/console.md describes.
//
// Mount Handler at /console/ (with or without stripping the prefix). Every
// page is its own URL (/console/desk, /console/services, …, Pages lists
// them); the pages are the same for everyone, and each asks the API who is
// signed in: an anonymous visitor is sent to /console/login, a role the page
// is not for sees "non autorizzato". The API enforces the same rules.
//
// Pages are rendered once per language (Italian, the default, and English,
// chosen by the avanti_lang cookie). Assets are under a/<hash of every
// asset>/, cached for a year, so a new build is never mixed with an old one.
package console

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"strings"
	"sync"

	"avanti/appliance/webpage"
)

// files are the page templates and static/, the pages' modules, styles
// and the i18n catalogue; static/vendor/ also holds the font scripts/assets
// copies from npm, when it has run.
//
//go:embed layout.html pages static
var files embed.FS

// Roles of the staff, as the API names them.
const (
	Admin      = "admin"
	Backoffice = "backoffice"
	Operator   = "operator"
)

// Page is one page of the console: its path under the mount point and the
// roles it is for (none: anyone, signed in or not).
type Page struct {
	Path  string // "" is the home page
	Name  string // template and module name
	Roles []string
	Menu  bool // listed in the navigation
}

var everyone = []string{Admin, Backoffice, Operator}

var pages = []Page{
	{Path: "", Name: "home", Roles: everyone},
	{Path: "login", Name: "login"},
	{Path: "setup", Name: "setup"}, // first boot: no account exists yet
	{Path: "desk", Name: "desk", Roles: []string{Admin, Operator}, Menu: true},
	{Path: "supervisor", Name: "supervisor", Roles: []string{Admin, Backoffice}, Menu: true},
	{Path: "workplan", Name: "workplan", Roles: []string{Admin, Backoffice}, Menu: true},
	{Path: "agendas", Name: "agendas", Roles: []string{Admin, Backoffice}, Menu: true},
	{Path: "stats", Name: "stats", Roles: []string{Admin, Backoffice}, Menu: true},
	{Path: "org", Name: "org", Roles: []string{Admin}, Menu: true},
	{Path: "services", Name: "services", Roles: []string{Admin}, Menu: true},
	{Path: "users", Name: "users", Roles: []string{Admin}, Menu: true},
	{Path: "devices", Name: "devices", Roles: []string{Admin}, Menu: true},
	{Path: "playlists", Name: "playlists", Roles: []string{Admin}, Menu: true},
	{Path: "audit", Name: "audit", Roles: []string{Admin}, Menu: true},
	{Path: "backups", Name: "backups", Roles: []string{Admin}, Menu: true},
	{Path: "maintenance", Name: "maintenance", Roles: []string{Admin}, Menu: true},
	{Path: "updates", Name: "updates", Roles: []string{Admin}, Menu: true},
	{Path: "tls", Name: "tls", Roles: []string{Admin}, Menu: true},
	{Path: "account", Name: "account", Roles: everyone},
}

// Pages are the console's pages, for tests and documentation.
func Pages() []Page { return append([]Page(nil), pages...) }

// Languages the console speaks; the first is the default.
var Languages = []string{"it", "en"}

const langCookie = "avanti_lang"

var (
	once  sync.Once
	built *site
)

// site is every page rendered once per language and the assets they refer to.
type site struct {
	version string
	pages   map[string]map[string][]byte // lang → path → page
	assets  *webpage.Assets
}

// Version is a hash of the embedded pages and assets: it changes with every
// change to them.
func Version() string { return load().version }

// Handler serves the console's pages and their assets.
func Handler() http.Handler {
	s := load()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !webpage.GetOnly(w, r) {
			return
		}
		// Stripped of "/console/" the path is "", "desk" or "a/…";
		// stripped of "/console" only, it starts with a slash.
		p := strings.TrimPrefix(r.URL.Path, "/")
		if rest, ok := strings.CutPrefix(p, "a/"); ok {
			s.assets.Serve(w, r, rest)
			return
		}
		lang := Languages[0]
		if ck, err := r.Cookie(langCookie); err == nil {
			if _, ok := s.pages[ck.Value]; ok {
				lang = ck.Value
			}
		}
		page, ok := s.pages[lang][p]
		if !ok {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h.Set("Vary", "Cookie") // the language
		h.Set("Referrer-Policy", "same-origin")
		// Everything comes from the appliance itself: no CDN, no outside URL;
		// no other site may frame the console (clickjacking).
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; "+
			"connect-src 'self'; style-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; "+
			"form-action 'self'; frame-ancestors 'none'")
		h.Set("X-Frame-Options", "DENY")
		webpage.ServePage(w, r, page, s.version+"-"+lang)
	})
}

// Catalogue is the i18n catalogue: language → key → text. Pages use it in
// their templates ({{t "key"}}) and the modules through the copy of it
// each page carries.
func Catalogue() map[string]map[string]string {
	raw, err := fs.ReadFile(files, "static/i18n.json")
	if err != nil {
		panic(err)
	}
	var c map[string]map[string]string
	if err := json.Unmarshal(raw, &c); err != nil {
		panic(fmt.Sprintf("console: static/i18n.json: %v", err))
	}
	return c
}

func load() *site {
	once.Do(func() {
		assets := webpage.NewAssets(files, "static")
		version := assets.Version()
		font := assets.Has("vendor/fonts.css")
		cat := Catalogue()
		s := &site{version: version, pages: map[string]map[string][]byte{}, assets: assets}
		for _, lang := range Languages {
			words := cat[lang]
			t := func(key string) (string, error) {
				if w, ok := words[key]; ok {
					return w, nil
				}
				return "", fmt.Errorf("no %s text for %q in static/i18n.json", lang, key)
			}
			tpl := template.Must(template.New("").Funcs(template.FuncMap{
				"t":    t,
				"join": strings.Join,
			}).ParseFS(files, "layout.html", "pages/*.html"))
			s.pages[lang] = map[string][]byte{}
			for _, p := range pages {
				var b bytes.Buffer
				// Relative asset URLs: every page is one level under the
				// mount point, whatever the mount point is.
				err := tpl.ExecuteTemplate(&b, "layout", map[string]any{
					"Assets":    assets.Prefix(),
					"Version":   version,
					"Font":      font,
					"Lang":      lang,
					"Page":      p,
					"Pages":     pages,
					"Main":      template.HTML(render(tpl, "page-"+p.Name, lang)),
					"Catalogue": words,
				})
				if err != nil {
					panic(fmt.Sprintf("console: page %s (%s): %v", p.Name, lang, err))
				}
				s.pages[lang][p.Path] = b.Bytes()
			}
		}
		built = s
	})
	return built
}

func render(tpl *template.Template, name, lang string) string {
	var b bytes.Buffer
	if err := tpl.ExecuteTemplate(&b, name, map[string]any{"Lang": lang}); err != nil {
		panic(fmt.Sprintf("console: %s (%s): %v", name, lang, err))
	}
	return b.String()
}
