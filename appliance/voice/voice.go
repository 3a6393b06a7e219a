// Package voice produces the audio of a call announcement on the appliance:
// a two-tone chime generated in Go, a short silence, then the code and desk
// spoken by espeak-ng ("Numero A 23, sportello 3"), as one mono 16-bit PCM
// WAV file. Generating it on the appliance makes every screen sound the same
// and keeps announcements working without the Internet.
//
// Files are cached on disk per phrase (the name is a hash of the phrase, the
// voice, the speed and the chime's version), written atomically, generated
// once however many displays ask at the same moment, and bounded in number
// and size by evicting the least recently used. One Synth should own a cache
// directory.
package voice

import (
	"bytes"
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"avanti/appliance/atomicfile"
)

// Options configure a Synth. Only CacheDir is required.
type Options struct {
	CacheDir string        // where announcement files are kept; created if missing
	Voice    string        // espeak-ng voice; default "it" ("en…" voices speak PhraseEN)
	Speed    int           // words per minute, 80–450; default 150
	Espeak   string        // espeak-ng executable; default "espeak-ng" looked up in PATH
	Timeout  time.Duration // limit on one espeak-ng run; default 10 s

	MaxEntries int   // files kept in the cache; default 2000
	MaxBytes   int64 // bytes kept in the cache; default 200 MB
}

const (
	DefaultVoice      = "it"
	DefaultSpeed      = 150
	DefaultTimeout    = 10 * time.Second
	DefaultMaxEntries = 2000
	DefaultMaxBytes   = 200 << 20
)

var (
	// ErrNoEspeak is returned by New when the espeak-ng executable cannot be
	// found: install Debian's espeak-ng package.
	ErrNoEspeak = errors.New("voice: espeak-ng not found (install the espeak-ng package)")
	// ErrTimeout is returned when espeak-ng runs longer than Options.Timeout.
	ErrTimeout = errors.New("voice: espeak-ng timed out")
)

// Synth makes announcement files. It is safe for concurrent use.
type Synth struct {
	dir, voice, espeak string
	speed              int
	timeout            time.Duration
	maxEntries         int
	maxBytes           int64

	mu    sync.Mutex
	lru   *list.List               // of *entry; front is the most recently used
	index map[string]*list.Element // by file name
	total int64                    // bytes of the files in lru
	calls map[string]*call         // generations under way, by file name
}

type entry struct {
	name string
	size int64
	etag string // "" until known (files found on disk at New)
}

type call struct {
	done chan struct{}
	path string
	etag string
	err  error
}

var voiceRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_+/-]{0,39}$`)

// New checks the options, finds espeak-ng, creates the cache directory and
// indexes the files already in it (removing leftovers of interrupted writes
// and evicting beyond the limits).
func New(opts Options) (*Synth, error) {
	s := &Synth{
		dir: opts.CacheDir, voice: opts.Voice, speed: opts.Speed, timeout: opts.Timeout,
		maxEntries: opts.MaxEntries, maxBytes: opts.MaxBytes,
		lru: list.New(), index: map[string]*list.Element{}, calls: map[string]*call{},
	}
	if s.dir == "" {
		return nil, errors.New("voice: Options.CacheDir is required")
	}
	if s.voice == "" {
		s.voice = DefaultVoice
	}
	if !voiceRE.MatchString(s.voice) || strings.Contains(s.voice, "..") {
		return nil, fmt.Errorf("voice: bad voice name %q", s.voice)
	}
	if s.speed == 0 {
		s.speed = DefaultSpeed
	}
	if s.speed < 80 || s.speed > 450 {
		return nil, fmt.Errorf("voice: speed %d words per minute is outside 80–450", s.speed)
	}
	if s.timeout <= 0 {
		s.timeout = DefaultTimeout
	}
	if s.maxEntries <= 0 {
		s.maxEntries = DefaultMaxEntries
	}
	if s.maxBytes <= 0 {
		s.maxBytes = DefaultMaxBytes
	}
	exe := opts.Espeak
	if exe == "" {
		exe = "espeak-ng"
	}
	path, err := exec.LookPath(exe)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoEspeak, err)
	}
	if s.espeak, err = filepath.Abs(path); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return nil, fmt.Errorf("voice: cache directory: %w", err)
	}
	if err := s.load(); err != nil {
		return nil, err
	}
	return s, nil
}

var cacheNameRE = regexp.MustCompile(`^[0-9a-f]{32}\.wav$`)

// load indexes the cache directory, oldest modification first.
func (s *Synth) load() error {
	des, err := os.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("voice: cache directory: %w", err)
	}
	type found struct {
		name string
		size int64
		mod  time.Time
	}
	var files []found
	for _, de := range des {
		name := de.Name()
		if strings.HasPrefix(name, atomicfile.TempPrefix) || strings.HasPrefix(name, espeakDirPrefix) {
			os.RemoveAll(filepath.Join(s.dir, name)) // left by a crash
			continue
		}
		if !de.Type().IsRegular() || !cacheNameRE.MatchString(name) {
			continue
		}
		info, err := de.Info()
		if err != nil {
			continue
		}
		if info.Size() < 44 {
			os.Remove(filepath.Join(s.dir, name))
			continue
		}
		files = append(files, found{name, info.Size(), info.ModTime()})
	}
	slices.SortFunc(files, func(a, b found) int { return a.mod.Compare(b.mod) })
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range files {
		s.add(f.name, f.size, "")
	}
	s.evict()
	return nil
}

// Phrase is the sentence this Synth speaks for a call: PhraseEN for an
// English voice, Phrase otherwise.
func (s *Synth) Phrase(code, desk string) string {
	if strings.HasPrefix(strings.ToLower(s.voice), "en") {
		return PhraseEN(code, desk)
	}
	return Phrase(code, desk)
}

// Version identifies what, besides the phrase, the audio depends on (voice,
// speed, chime). A page can put it in the URL of an announcement so that a
// change of settings is not hidden by a browser's cache.
func (s *Synth) Version() string {
	h := sha256.Sum256([]byte(ChimeVersion + "\x00" + s.voice + "\x00" + strconv.Itoa(s.speed)))
	return hex.EncodeToString(h[:6])
}

func (s *Synth) fileName(text string) string {
	h := sha256.Sum256([]byte("avanti-voice\x00" + ChimeVersion + "\x00" + s.voice + "\x00" +
		strconv.Itoa(s.speed) + "\x00" + text))
	return hex.EncodeToString(h[:16]) + ".wav"
}

// Announcement returns the path of a WAV file with the chime followed by the
// spoken call, generating it unless it is cached. Concurrent calls for the
// same phrase share one espeak-ng run, which is not cut short when one of
// the callers gives up (ctx only bounds the caller's wait; Options.Timeout
// bounds the run). The file may be evicted later: open it soon.
func (s *Synth) Announcement(ctx context.Context, code, desk string) (path string, err error) {
	path, _, err = s.announce(ctx, code, desk)
	return path, err
}

// announce is Announcement that also returns the file's ETag.
func (s *Synth) announce(ctx context.Context, code, desk string) (path, etag string, err error) {
	text := s.Phrase(code, desk)
	if text == "" {
		return "", "", errors.New("voice: nothing to say")
	}
	name := s.fileName(text)
	path = filepath.Join(s.dir, name)
	for range 3 {
		s.mu.Lock()
		if el, ok := s.index[name]; ok {
			s.lru.MoveToFront(el)
			etag := el.Value.(*entry).etag
			s.mu.Unlock()
			now := time.Now() // the modification time keeps the order across restarts
			if err := os.Chtimes(path, now, now); errors.Is(err, fs.ErrNotExist) {
				s.forget(name) // removed behind our back: make it again
				continue
			}
			if etag == "" {
				if etag, err = fileETag(path); err != nil {
					return "", "", err
				}
				s.setETag(name, etag)
			}
			return path, etag, nil
		}
		c, ok := s.calls[name]
		if !ok {
			c = &call{done: make(chan struct{})}
			s.calls[name] = c
			go s.generate(context.WithoutCancel(ctx), name, text, c)
		}
		s.mu.Unlock()
		select {
		case <-c.done:
			return c.path, c.etag, c.err
		case <-ctx.Done():
			return "", "", ctx.Err()
		}
	}
	return "", "", fmt.Errorf("voice: %s keeps disappearing", path)
}

func (s *Synth) generate(ctx context.Context, name, text string, c *call) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	data, err := s.synthesize(ctx, text)
	if err == nil {
		// A reader never sees a partial file.
		if err = atomicfile.Write(filepath.Join(s.dir, name), data, 0o644); err != nil {
			err = fmt.Errorf("voice: writing %s: %w", name, err)
		}
	}
	s.mu.Lock()
	delete(s.calls, name)
	if err == nil {
		c.path = filepath.Join(s.dir, name)
		c.etag = etagOf(data)
		s.add(name, int64(len(data)), c.etag)
		s.evict()
	}
	c.err = err
	s.mu.Unlock()
	close(c.done)
}

const espeakDirPrefix = ".espeak-"

// synthesize runs espeak-ng on text (given on its standard input, never
// through a shell or as an argument) and returns the whole announcement as
// a WAV file.
func (s *Synth) synthesize(ctx context.Context, text string) ([]byte, error) {
	tmp, err := os.MkdirTemp(s.dir, espeakDirPrefix)
	if err != nil {
		return nil, fmt.Errorf("voice: %w", err)
	}
	defer os.RemoveAll(tmp)
	out := filepath.Join(tmp, "speech.wav")
	cmd := exec.CommandContext(ctx, s.espeak,
		"-v", s.voice, "-s", strconv.Itoa(s.speed), "-b", "1", "-w", out, "--stdin")
	cmd.Stdin = strings.NewReader(text)
	var stderr bytes.Buffer
	cmd.Stdout = io.Discard
	cmd.Stderr = &limitedWriter{w: &stderr, n: 2048}
	cmd.WaitDelay = time.Second // don't hang on a grandchild holding the pipes
	if err := cmd.Run(); err != nil {
		if ctx.Err() == context.DeadlineExceeded {
			return nil, fmt.Errorf("%w after %s", ErrTimeout, s.timeout)
		}
		return nil, fmt.Errorf("voice: espeak-ng: %v: %s", err, strings.TrimSpace(stderr.String()))
	}
	b, err := os.ReadFile(out)
	if err != nil {
		return nil, fmt.Errorf("voice: espeak-ng wrote no audio: %w", err)
	}
	speech, err := ParseWAV(b)
	if err != nil {
		return nil, fmt.Errorf("voice: espeak-ng output: %w", err)
	}
	if speech.Duration() < 0.1 {
		return nil, fmt.Errorf("voice: espeak-ng produced %.3f s of audio", speech.Duration())
	}
	return EncodeWAV(announcementAudio(speech)), nil
}

type limitedWriter struct {
	w io.Writer
	n int
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if l.n > 0 {
		q := p[:min(len(p), l.n)]
		l.n -= len(q)
		l.w.Write(q)
	}
	return len(p), nil
}

func etagOf(data []byte) string {
	h := sha256.Sum256(data)
	return `"` + hex.EncodeToString(h[:16]) + `"`
}

func fileETag(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("voice: %w", err)
	}
	return etagOf(b), nil
}

// add records a file as the most recently used; s.mu must be held.
func (s *Synth) add(name string, size int64, etag string) {
	if el, ok := s.index[name]; ok {
		e := el.Value.(*entry)
		s.total += size - e.size
		e.size, e.etag = size, etag
		s.lru.MoveToFront(el)
		return
	}
	s.index[name] = s.lru.PushFront(&entry{name: name, size: size, etag: etag})
	s.total += size
}

// evict removes the least recently used files beyond the limits, but never
// the most recent one; s.mu must be held (so that a file is never removed
// while another goroutine decides to use it).
func (s *Synth) evict() {
	for s.lru.Len() > 1 && (s.lru.Len() > s.maxEntries || s.total > s.maxBytes) {
		e := s.lru.Back().Value.(*entry)
		os.Remove(filepath.Join(s.dir, e.name))
		s.drop(e.name)
	}
}

func (s *Synth) forget(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.drop(name)
}

func (s *Synth) drop(name string) {
	if el, ok := s.index[name]; ok {
		s.total -= el.Value.(*entry).size
		s.lru.Remove(el)
		delete(s.index, name)
	}
}

func (s *Synth) setETag(name, etag string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if el, ok := s.index[name]; ok {
		el.Value.(*entry).etag = etag
	}
}

// CacheStats reports the number and total size of the cached files.
func (s *Synth) CacheStats() (files int, bytes int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lru.Len(), s.total
}
