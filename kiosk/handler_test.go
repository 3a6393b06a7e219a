package kiosk_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"avanti/kiosk"
)

func get(t *testing.T, h http.Handler, path string) *http.Response {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	return rec.Result()
}

func body(t *testing.T, r *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var assetRef = regexp.MustCompile(`(?:href|src)="((?:\.\./)?a/[^"]+)"`)

const someToken = "Zm9vYmFyYmF6cXV4cXV1eHF1dXhxdXV4cXV1eHF1dXg"

// The three pages work mounted at /kiosk/ whether or not the prefix is
// stripped, their assets are cached for good and the pages never.
func TestPagesAndAssetsUnderAnyMount(t *testing.T) {
	mounts := map[string]http.Handler{
		"stripped":   http.StripPrefix("/kiosk/", kiosk.Handler()),
		"slash kept": http.StripPrefix("/kiosk", kiosk.Handler()),
	}
	pages := map[string]string{
		"/kiosk/":                   "kiosk.js",
		"/kiosk/print/" + someToken: "print.js",
		"/kiosk/t/" + someToken:     "ticket.js",
	}
	for name, h := range mounts {
		for path, script := range pages {
			t.Run(name+" "+path, func(t *testing.T) {
				page := get(t, h, path+"?token=x")
				html := body(t, page)
				if page.StatusCode != 200 || !strings.HasPrefix(page.Header.Get("Content-Type"), "text/html") {
					t.Fatalf("page: %d %s", page.StatusCode, page.Header.Get("Content-Type"))
				}
				if cc := page.Header.Get("Cache-Control"); cc != "no-cache" {
					t.Errorf("page Cache-Control %q, want no-cache", cc)
				}
				csp := page.Header.Get("Content-Security-Policy")
				if !strings.Contains(csp, "default-src 'self'") {
					t.Errorf("page CSP %q", csp)
				}
				// Only the print page may be framed, and only by the totem.
				wantFrame := "frame-ancestors 'none'"
				if strings.Contains(path, "/print/") {
					wantFrame = "frame-ancestors 'self'"
				}
				if !strings.Contains(csp, wantFrame) {
					t.Errorf("page CSP %q, want %s", csp, wantFrame)
				}
				if !strings.Contains(html, script) {
					t.Errorf("the page does not load %s", script)
				}
				refs := assetRef.FindAllStringSubmatch(html, -1)
				if len(refs) < 2 {
					t.Fatalf("the page refers to %d assets: %s", len(refs), html)
				}
				for _, ref := range refs {
					// Resolve the relative URL against the page's.
					u := path[:strings.LastIndex(path, "/")+1] + ref[1]
					u = strings.Replace(u, "/print/../", "/", 1)
					u = strings.Replace(u, "/t/../", "/", 1)
					r := get(t, h, u)
					if r.StatusCode != 200 {
						t.Errorf("%s: %d", u, r.StatusCode)
					}
					if cc := r.Header.Get("Cache-Control"); !strings.Contains(cc, "immutable") {
						t.Errorf("%s: Cache-Control %q", u, cc)
					}
					if strings.HasSuffix(u, ".js") && !strings.HasPrefix(r.Header.Get("Content-Type"), "text/javascript") {
						t.Errorf("%s: Content-Type %q", u, r.Header.Get("Content-Type"))
					}
				}
			})
		}
	}
}

func TestUnknownPathsAndMethods(t *testing.T) {
	h := http.StripPrefix("/kiosk/", kiosk.Handler())
	for _, p := range []string{
		"/kiosk/a/000000000000/kiosk.js",               // another version's asset
		"/kiosk/a/" + kiosk.Version() + "/../kiosk.go", // out of the assets
		"/kiosk/nothing",
		"/kiosk/t/",
		"/kiosk/t/not%20a%20token",
		"/kiosk/print/" + someToken + "/more",
	} {
		if r := get(t, h, p); r.StatusCode != 404 {
			t.Errorf("%s: %d, want 404", p, r.StatusCode)
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/kiosk/", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d, want 405", rec.Code)
	}
}

// Totems run on a LAN that may have no Internet: nothing may come from
// elsewhere.
func TestPagesUseNoOutsideURL(t *testing.T) {
	h := http.StripPrefix("/kiosk/", kiosk.Handler())
	files := map[string]string{}
	for _, p := range []string{"/kiosk/", "/kiosk/print/" + someToken, "/kiosk/t/" + someToken} {
		files[p] = body(t, get(t, h, p))
	}
	for _, name := range []string{"kiosk.js", "live.js", "api.js", "i18n.js", "wall.js", "paging.js", "scanner.js",
		"keyboard.js", "print.js", "ticket.js", "kiosk.css", "print.css", "ticket.css"} {
		r := get(t, h, "/kiosk/a/"+kiosk.Version()+"/"+name)
		if r.StatusCode != 200 {
			t.Fatalf("%s: %d", name, r.StatusCode)
		}
		files[name] = body(t, r)
	}
	outside := regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}`)
	for name, f := range files {
		if m := outside.FindString(f); m != "" {
			t.Errorf("%s refers to %q", name, m)
		}
	}
}
