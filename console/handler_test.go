package console_test

import (
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"avanti/console"
)

func get(t *testing.T, h http.Handler, path string, cookies ...*http.Cookie) (*http.Response, string) {
	t.Helper()
	req := httptest.NewRequest("GET", path, nil)
	for _, c := range cookies {
		req.AddCookie(c)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	res := rec.Result()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, string(b)
}

var assetRef = regexp.MustCompile(`(?:href|src)="(a/[^"]+)"`)

// Every page works mounted at /console/ whether or not the prefix is
// stripped, in both languages; assets are cached for good, pages never.
func TestEveryPageUnderAnyMountInBothLanguages(t *testing.T) {
	mounts := map[string]http.Handler{
		"stripped":     http.StripPrefix("/console/", console.Handler()),
		"not stripped": http.StripPrefix("/console", console.Handler()),
	}
	for name, h := range mounts {
		for _, p := range console.Pages() {
			for _, lang := range console.Languages {
				res, html := get(t, h, "/console/"+p.Path, &http.Cookie{Name: "avanti_lang", Value: lang})
				if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
					t.Fatalf("%s /console/%s (%s): %d %s", name, p.Path, lang, res.StatusCode, res.Header.Get("Content-Type"))
				}
				if !strings.Contains(html, `<html lang="`+lang+`">`) {
					t.Errorf("/console/%s in %s: no lang attribute", p.Path, lang)
				}
				if cc := res.Header.Get("Cache-Control"); cc != "no-cache" {
					t.Errorf("/console/%s: Cache-Control %q", p.Path, cc)
				}
				csp := res.Header.Get("Content-Security-Policy")
				if !strings.Contains(csp, "default-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
					t.Errorf("/console/%s: CSP %q", p.Path, csp)
				}
				if !strings.Contains(html, `data-page="`+p.Name+`"`) {
					t.Errorf("/console/%s: not the %s page", p.Path, p.Name)
				}
				refs := assetRef.FindAllStringSubmatch(html, -1)
				if len(refs) < 2 {
					t.Fatalf("/console/%s refers to %d assets", p.Path, len(refs))
				}
				for _, ref := range refs {
					r, _ := get(t, h, "/console/"+ref[1])
					if r.StatusCode != 200 {
						t.Errorf("/console/%s: %s: %d", p.Path, ref[1], r.StatusCode)
					}
					if cc := r.Header.Get("Cache-Control"); !strings.Contains(cc, "immutable") {
						t.Errorf("%s: Cache-Control %q", ref[1], cc)
					}
					if strings.HasSuffix(ref[1], ".js") && !strings.HasPrefix(r.Header.Get("Content-Type"), "text/javascript") {
						t.Errorf("%s: Content-Type %q", ref[1], r.Header.Get("Content-Type"))
					}
				}
			}
		}
		for _, bad := range []string{"/console/nope", "/console/desk/", "/console/a/000000000000/desk.js", "/console/a/" + console.Version() + "/../console.go"} {
			if r, _ := get(t, h, bad); r.StatusCode != 404 {
				t.Errorf("%s %s: %d, want 404", name, bad, r.StatusCode)
			}
		}
	}
}

func TestLanguageFromCookieItalianByDefault(t *testing.T) {
	h := http.StripPrefix("/console/", console.Handler())
	cases := []struct{ cookie, want, text string }{
		{"", "it", "Chiama il prossimo"},
		{"en", "en", "Call next"},
		{"fr", "it", "Chiama il prossimo"},
	}
	for _, c := range cases {
		var cookies []*http.Cookie
		if c.cookie != "" {
			cookies = append(cookies, &http.Cookie{Name: "avanti_lang", Value: c.cookie})
		}
		_, html := get(t, h, "/console/desk", cookies...)
		if !strings.Contains(html, `lang="`+c.want+`"`) || !strings.Contains(html, c.text) {
			t.Errorf("cookie %q: want the %s page with %q", c.cookie, c.want, c.text)
		}
	}
}

func TestPostIsRefused(t *testing.T) {
	rec := httptest.NewRecorder()
	console.Handler().ServeHTTP(rec, httptest.NewRequest("POST", "/desk", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", rec.Code)
	}
}

// The consoles run on a municipal LAN that may have no Internet: nothing
// may come from elsewhere.
func TestPagesUseNoOutsideURL(t *testing.T) {
	outside := regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}`)
	err := filepath.WalkDir(".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "web" || d.Name() == "vendor") {
			return filepath.SkipDir
		}
		if d.IsDir() || !(strings.HasSuffix(p, ".html") || strings.HasSuffix(p, ".js") || strings.HasSuffix(p, ".css")) {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, m := range outside.FindAllString(string(b), -1) {
			t.Errorf("%s refers to %s", p, m)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// Both languages have every text, and every text the pages and modules ask
// for is in the catalogue.
func TestCatalogueHasEveryTextInBothLanguages(t *testing.T) {
	cat := console.Catalogue()
	keys := func(m map[string]string) []string {
		var out []string
		for k := range m {
			out = append(out, k)
		}
		sort.Strings(out)
		return out
	}
	it, en := keys(cat["it"]), keys(cat["en"])
	if !slices.Equal(it, en) {
		for _, k := range it {
			if _, ok := cat["en"][k]; !ok {
				t.Errorf("no English text for %q", k)
			}
		}
		for _, k := range en {
			if _, ok := cat["it"][k]; !ok {
				t.Errorf("no Italian text for %q", k)
			}
		}
	}
	literal := regexp.MustCompile(`\bt\("([a-z0-9_.]+)"`)
	// Keys the modules build from a prefix and a value of the API.
	prefixed := regexp.MustCompile(`\bt\("([a-z0-9_.]+[._])" \+`)
	static, err := fs.Glob(os.DirFS("static"), "*.js")
	if err != nil {
		t.Fatal(err)
	}
	used := map[string]bool{}
	for _, name := range static {
		b, _ := os.ReadFile(filepath.Join("static", name))
		for _, m := range literal.FindAllStringSubmatch(string(b), -1) {
			if !strings.HasSuffix(m[1], ".") && !strings.HasSuffix(m[1], "_") {
				used[m[1]] = true
			}
		}
		for _, m := range prefixed.FindAllStringSubmatch(string(b), -1) {
			found := false
			for k := range cat["it"] {
				if strings.HasPrefix(k, m[1]) {
					found = true
					break
				}
			}
			if !found {
				t.Errorf("%s: no text starts with %q", name, m[1])
			}
		}
	}
	// Keys chosen among a few, or built from a fixed list.
	for _, k := range []string{"invalid.prefix", "invalid.integer", "invalid.end_after_start", "invalid.slot_too_long", "invalid.outside_validity", "invalid.overlap",
		"invalid.to_before_from", "invalid.no_ranges", "ks.move_up", "ks.move_down", "workplan.open_slot_at", "workplan.close_slot_at",
		"why.urgency", "why.returning", "why.late_readmission", "why.early", "live.connecting", "live.online", "live.offline"} {
		used[k] = true
	}
	for _, p := range console.Pages() {
		used["title."+p.Name] = true
		if p.Menu {
			used["home.about."+p.Path] = true
		}
	}
	for _, code := range []string{"break", "back_office", "training", "meeting", "technical", "other"} {
		used["pause."+code] = true
	}
	for _, s := range []string{"booked", "waiting", "called", "serving", "done", "no_show", "revoked", "expired"} {
		used["status."+s] = true
	}
	for _, s := range []string{"admin", "backoffice", "operator"} {
		used["role."+s] = true
	}
	for d := 1; d <= 7; d++ {
		used["weekday."+string(rune('0'+d))] = true
		used["weekday_short."+string(rune('0'+d))] = true
	}
	for k := range used {
		if _, ok := cat["it"][k]; !ok {
			t.Errorf("the catalogue has no text for %q", k)
		}
	}
}
