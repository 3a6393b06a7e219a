package webpage

import (
	"bytes"
	"net/http"
	"time"
)

// GetOnly answers every method but GET and HEAD with 405 and false: the
// faces' pages and assets are only ever read.
func GetOnly(w http.ResponseWriter, r *http.Request) bool {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return true
	}
	w.Header().Set("Allow", "GET, HEAD")
	http.Error(w, "use GET", http.StatusMethodNotAllowed)
	return false
}

// ServePage serves a rendered page: asked for again every time (no-cache,
// with etag, the version it was rendered at, to answer 304) and never
// sniffed. The face sets its Referrer-Policy and Content-Security-Policy
// before: they differ from face to face and page to page.
func ServePage(w http.ResponseWriter, r *http.Request, page []byte, etag string) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", `"`+etag+`"`)
	h.Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(page))
}
