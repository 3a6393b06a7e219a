package voice

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"net/http"
	"os"
	"regexp"
	"time"
	"unicode"
	"unicode/utf8"
)

// MaxDeskLen is the longest desk name the handler accepts, in characters.
const MaxDeskLen = 40

var codeRE = regexp.MustCompile(`^[A-Z]{1,3}[0-9]{1,4}$`)

// ValidCode reports whether code is a ticket code the handler accepts: one
// to three capital letters and one to four digits ("A023", "AB105").
func ValidCode(code string) bool { return codeRE.MatchString(code) }

// ValidDesk reports whether desk is a desk name the handler accepts: one to
// MaxDeskLen letters, digits, spaces, apostrophes and dashes, with at least
// one letter or digit ("3", "Ufficio Tributi 2", "Sant'Anna").
func ValidDesk(desk string) bool {
	if desk == "" || !utf8.ValidString(desk) || utf8.RuneCountInString(desk) > MaxDeskLen {
		return false
	}
	alnum := false
	for _, r := range desk {
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			alnum = true
		case r == ' ' || r == '\'' || r == '’' || r == '-':
		default:
			return false
		}
	}
	return alnum
}

// Handler serves announcements: GET (or HEAD) ?code=A023&desk=3 answers
// audio/wav with a strong ETag (a hash of the content), honours
// If-None-Match (304) and Range, and lets browsers keep the file for a day
// without asking again. Other query parameters (such as v=Synth.Version(),
// which a page may add to bust caches after a change of settings) are
// ignored. Bad input is a 400 with a JSON body
// {"error":{"code":"invalid_code","message":"…","field":"code"}}.
func Handler(s *Synth) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeError(w, r, http.StatusMethodNotAllowed, "method_not_allowed", "use GET", "")
			return
		}
		q := r.URL.Query()
		code, ok := single(q, "code")
		if !ok || !ValidCode(code) {
			writeError(w, r, http.StatusBadRequest, "invalid_code",
				"code must be 1 to 3 capital letters followed by 1 to 4 digits, such as A023", "code")
			return
		}
		desk, ok := single(q, "desk")
		if !ok || !ValidDesk(desk) {
			writeError(w, r, http.StatusBadRequest, "invalid_desk",
				"desk must be 1 to 40 letters, digits, spaces, apostrophes or dashes", "desk")
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), s.timeout+5*time.Second)
		defer cancel()
		var data []byte
		var etag string
		var err error
		for range 2 { // the file may be evicted between making and reading it
			var path string
			if path, etag, err = s.announce(ctx, code, desk); err != nil {
				break
			}
			if data, err = os.ReadFile(path); !errors.Is(err, fs.ErrNotExist) {
				break
			}
		}
		if err != nil {
			if r.Context().Err() != nil {
				return // the client has gone
			}
			status, ecode := http.StatusServiceUnavailable, "voice_unavailable"
			if errors.Is(err, ErrTimeout) || errors.Is(err, context.DeadlineExceeded) {
				status, ecode = http.StatusGatewayTimeout, "voice_timeout"
			}
			writeError(w, r, status, ecode, "the announcement could not be made: "+err.Error(), "")
			return
		}
		h := w.Header()
		h.Set("Content-Type", "audio/wav")
		h.Set("Cache-Control", "public, max-age=86400, immutable")
		h.Set("ETag", etag)
		h.Set("X-Content-Type-Options", "nosniff")
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(data))
	})
}

// single is the one value of a query parameter; a repeated one is refused.
func single(q map[string][]string, key string) (string, bool) {
	v := q[key]
	if len(v) != 1 {
		return "", false
	}
	return v[0], true
}

type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

func writeError(w http.ResponseWriter, r *http.Request, status int, code, msg, field string) {
	b, _ := json.Marshal(errorBody{errorDetail{Code: code, Message: msg, Field: field}})
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		w.Write(append(b, '\n'))
	}
}
