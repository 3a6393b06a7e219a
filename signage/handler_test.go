package signage_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"avanti/signage"
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

var assetRef = regexp.MustCompile(`(?:href|src)="(a/[^"]+)"`)

// The page works mounted at /display/ whether or not the prefix is
// stripped, its assets are cached for good and the page never.
func TestPageAndAssetsUnderAnyMount(t *testing.T) {
	mounts := map[string]http.Handler{
		"/display/": signage.Handler(),
		"/":         http.StripPrefix("/display", signage.Handler()),
	}
	for name, h := range mounts {
		t.Run(name, func(t *testing.T) {
			page := get(t, h, "/display/?token=x")
			html := body(t, page)
			if page.StatusCode != 200 || !strings.HasPrefix(page.Header.Get("Content-Type"), "text/html") {
				t.Fatalf("page: %d %s", page.StatusCode, page.Header.Get("Content-Type"))
			}
			if cc := page.Header.Get("Cache-Control"); cc != "no-cache" {
				t.Errorf("page Cache-Control %q, want no-cache", cc)
			}
			if csp := page.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
				t.Errorf("page CSP %q", csp)
			}
			refs := assetRef.FindAllStringSubmatch(html, -1)
			if len(refs) < 2 {
				t.Fatalf("the page refers to %d assets: %s", len(refs), html)
			}
			for _, ref := range refs {
				r := get(t, h, "/display/"+ref[1])
				if r.StatusCode != 200 {
					t.Errorf("%s: %d", ref[1], r.StatusCode)
				}
				if cc := r.Header.Get("Cache-Control"); !strings.Contains(cc, "immutable") {
					t.Errorf("%s: Cache-Control %q", ref[1], cc)
				}
				if strings.HasSuffix(ref[1], ".js") && !strings.HasPrefix(r.Header.Get("Content-Type"), "text/javascript") {
					t.Errorf("%s: Content-Type %q", ref[1], r.Header.Get("Content-Type"))
				}
			}
			if r := get(t, h, "/display/a/000000000000/display.js"); r.StatusCode != 404 {
				t.Errorf("an asset of another version: %d, want 404", r.StatusCode)
			}
			if r := get(t, h, "/display/a/"+signage.Version()+"/../signage.go"); r.StatusCode != 404 {
				t.Errorf("a path out of the assets: %d, want 404", r.StatusCode)
			}
		})
	}
}

// Screens run on a LAN that may have no Internet: nothing may come from
// elsewhere.
func TestPagesUseNoOutsideURL(t *testing.T) {
	h := signage.Handler()
	html := body(t, get(t, h, "/display/"))
	files := []string{html}
	for _, name := range []string{"display.js", "live.js", "voice.js", "schedule.js", "display.css"} {
		r := get(t, h, "/display/a/"+signage.Version()+"/"+name)
		if r.StatusCode != 200 {
			t.Fatalf("%s: %d", name, r.StatusCode)
		}
		files = append(files, body(t, r))
	}
	outside := regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}`)
	for i, f := range files {
		if m := outside.FindString(f); m != "" {
			t.Errorf("file %d refers to %q", i, m)
		}
	}
}
