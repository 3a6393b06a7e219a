package maint

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// castHeader is the first line of an asciicast v2 file
// (https://docs.asciinema.org/manual/asciicast/v2/).
type castHeader struct {
	Version   int               `json:"version"`
	Width     int               `json:"width"`
	Height    int               `json:"height"`
	Timestamp int64             `json:"timestamp"`
	Command   string            `json:"command,omitempty"`
	Title     string            `json:"title,omitempty"`
	Env       map[string]string `json:"env,omitempty"`
}

// recorder writes a terminal's output as asciicast v2: the header, then one
// [seconds, "o", text] line per chunk of output and [seconds, "r", "COLSxROWS"]
// per resize. Play it back with `asciinema play FILE`, or read it as JSON
// lines. What the engineer types is not recorded apart from its echo, so
// passwords typed at a prompt stay out of it.
type recorder struct {
	path  string
	start time.Time

	mu      sync.Mutex
	f       *os.File
	pending []byte // an incomplete UTF-8 sequence at the end of the last chunk
	err     error
}

func newRecorder(path string, h castHeader) (*recorder, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	h.Version = 2
	b, _ := json.Marshal(h)
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return nil, err
	}
	return &recorder{path: path, start: time.Now(), f: f}, nil
}

// Write records output. It never fails the session: a write error is kept
// and reported by Close.
func (r *recorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	data := append(r.pending, p...)
	// Hold back a trailing, incomplete UTF-8 sequence for the next chunk.
	cut := len(data)
	for i := len(data) - 1; i >= 0 && i >= len(data)-utf8.UTFMax; i-- {
		if utf8.RuneStart(data[i]) {
			if !utf8.FullRune(data[i:]) {
				cut = i
			}
			break
		}
	}
	r.pending = append([]byte(nil), data[cut:]...)
	r.event("o", string(data[:cut]))
	return len(p), nil
}

// Resize records a terminal size change.
func (r *recorder) Resize(cols, rows int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.event("r", fmt.Sprintf("%dx%d", cols, rows))
}

// event writes one event line; r.mu is held.
func (r *recorder) event(kind, data string) {
	if data == "" || r.f == nil {
		return
	}
	s, _ := json.Marshal(data) // invalid UTF-8 becomes U+FFFD
	line := "[" + strconv.FormatFloat(time.Since(r.start).Seconds(), 'f', 6, 64) + `, "` + kind + `", ` + string(s) + "]\n"
	if _, err := r.f.WriteString(line); err != nil && r.err == nil {
		r.err = err
	}
}

// Close flushes what is held back and closes the file.
func (r *recorder) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f == nil {
		return r.err
	}
	r.event("o", string(r.pending))
	r.pending = nil
	if err := r.f.Sync(); err != nil && r.err == nil {
		r.err = err
	}
	if err := r.f.Close(); err != nil && r.err == nil {
		r.err = err
	}
	r.f = nil
	return r.err
}
