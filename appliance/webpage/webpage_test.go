package webpage_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"

	"avanti/appliance/webpage"
)

func serve(a *webpage.Assets, path string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	a.Serve(rec, httptest.NewRequest("GET", "/a/"+path, nil), path)
	return rec
}

// A face serves its own files and the shared realtime client beside them,
// under one version, cached for a year; another version or a path out of
// the assets is a 404.
func TestAFaceServesItsFilesAndTheSharedClient(t *testing.T) {
	files := fstest.MapFS{
		"page.html":        {Data: []byte("<p>page</p>")},
		"static/page.js":   {Data: []byte(`import { Live } from "./live.js";`)},
		"static/page.json": {Data: []byte(`{}`)},
	}
	a := webpage.NewAssets(files, "static")
	if a.Prefix() != "a/"+a.Version()+"/" || len(a.Version()) != 12 {
		t.Fatalf("prefix %q, version %q", a.Prefix(), a.Version())
	}
	for name, want := range map[string]string{"page.js": "text/javascript; charset=utf-8", "live.js": "text/javascript; charset=utf-8", "page.json": "application/json"} {
		rec := serve(a, a.Version()+"/"+name)
		if rec.Code != 200 || rec.Header().Get("Content-Type") != want || !strings.Contains(rec.Header().Get("Cache-Control"), "immutable") ||
			rec.Header().Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: %d %v", name, rec.Code, rec.Header())
		}
	}
	if body := serve(a, a.Version()+"/live.js").Body.String(); !strings.Contains(body, "export class Live") {
		t.Errorf("live.js is not the realtime client")
	}
	for _, p := range []string{"000000000000/page.js", a.Version() + "/../page.html", a.Version() + "/", a.Version(), a.Version() + "/missing.js"} {
		if rec := serve(a, p); rec.Code != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", p, rec.Code)
		}
	}
	if !a.Has("page.js") || !a.Has("live.js") || a.Has("vendor/fonts.css") {
		t.Errorf("Has")
	}

	// Another page or asset is another version.
	files["page.html"] = &fstest.MapFile{Data: []byte("<p>page 2</p>")}
	if b := webpage.NewAssets(files, "static"); b.Version() == a.Version() {
		t.Errorf("a changed page keeps the version %s", a.Version())
	}
}

// A face that kept its own copy of a shared module would serve a stale
// one: it is refused at start.
func TestAStaleCopyOfTheSharedClientIsRefused(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Errorf("a face's own live.js was accepted")
		}
	}()
	webpage.NewAssets(fstest.MapFS{"static/live.js": {Data: []byte("old")}}, "static")
}

// A page is asked for again every time and answered 304 while its version
// holds; only GET and HEAD are served.
func TestPagesAreRevalidatedAndOnlyRead(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !webpage.GetOnly(w, r) {
			return
		}
		webpage.ServePage(w, r, []byte("<p>page</p>"), "v1-it")
	})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != 200 || rec.Header().Get("Cache-Control") != "no-cache" || rec.Header().Get("ETag") != `"v1-it"` ||
		rec.Header().Get("Content-Type") != "text/html; charset=utf-8" || rec.Header().Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("page: %d %v", rec.Code, rec.Header())
	}
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("If-None-Match", `"v1-it"`)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusNotModified {
		t.Errorf("same version: %d, want 304", rec.Code)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/", nil))
	if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != "GET, HEAD" {
		t.Errorf("POST: %d %v", rec.Code, rec.Header())
	}
}
