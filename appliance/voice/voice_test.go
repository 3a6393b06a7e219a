package voice

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"avanti/appliance/atomicfile"
)

// needTool fails the test, with how to fix it, when a program the voice needs
// is missing: the announcements are part of the product, so their tests must
// not pass by being skipped.
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is not installed, and the voice tests need it: install Debian's %s package "+
			"(apt-get install -y espeak-ng sox; `make test` and `make run` do it)", name, debPackage(name))
	}
	return p
}

func debPackage(tool string) string {
	if tool == "soxi" {
		return "sox"
	}
	return tool
}

// countingEspeak writes a wrapper around the real espeak-ng that records
// each run (after sleeping delay, to widen races) and returns its path and
// a function counting the runs so far.
func countingEspeak(t *testing.T, delay time.Duration) (string, func() int) {
	t.Helper()
	real := needTool(t, "espeak-ng")
	dir := t.TempDir()
	log := filepath.Join(dir, "runs")
	script := fmt.Sprintf("#!/bin/sh\necho run >> '%s'\nsleep %.3f\nexec '%s' \"$@\"\n", log, delay.Seconds(), real)
	path := filepath.Join(dir, "espeak-ng")
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path, func() int {
		b, err := os.ReadFile(log)
		if errors.Is(err, os.ErrNotExist) {
			return 0
		}
		if err != nil {
			t.Fatal(err)
		}
		return strings.Count(string(b), "run\n")
	}
}

func fakeEspeak(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "espeak-ng")
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

func newSynth(t *testing.T, o Options) *Synth {
	t.Helper()
	if o.CacheDir == "" {
		o.CacheDir = t.TempDir()
	}
	if o.Espeak == "" {
		o.Espeak = needTool(t, "espeak-ng")
	}
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestPhrase(t *testing.T) {
	for _, c := range []struct{ code, desk, it, en string }{
		{"A023", "3", "Numero A 23, sportello 3", "Number A-23, desk 3"},
		{"C001", "3", "Numero C 1, sportello 3", "Number C-1, desk 3"},
		{"AB105", "12", "Numero A B 105, sportello 12", "Number A-B-105, desk 12"},
		{"ZZZ9999", "1", "Numero Z Z Z 9999, sportello 1", "Number Z-Z-Z-9999, desk 1"},
		{"A000", "3", "Numero A 0, sportello 3", "Number A-0, desk 3"},
		{"B7", "03", "Numero B 7, sportello 3", "Number B-7, desk 3"},
		{"a023", "3", "Numero A 23, sportello 3", "Number A-23, desk 3"},
		{"A-023", "3", "Numero A 23, sportello 3", "Number A-23, desk 3"},
		{"A023", "Sportello 3", "Numero A 23, Sportello 3", "Number A-23, Sportello 3"},
		{"A023", "Ufficio Tributi 2", "Numero A 23, Ufficio Tributi 2", "Number A-23, Ufficio Tributi 2"},
		{"A023", "  Ufficio   Tributi  2 ", "Numero A 23, Ufficio Tributi 2", "Number A-23, Ufficio Tributi 2"},
		{"A023", "12 bis", "Numero A 23, sportello 12 bis", "Number A-23, desk 12 bis"},
		{"A023", "007A", "Numero A 23, sportello 7A", "Number A-23, desk 7A"},
		{"A023", "Anagrafe-Stato Civile", "Numero A 23, Anagrafe Stato Civile", "Number A-23, Anagrafe Stato Civile"},
		{"A023", "Sant'Anna", "Numero A 23, Sant'Anna", "Number A-23, Sant'Anna"},
		{"A023", "Attività Produttive", "Numero A 23, Attività Produttive", "Number A-23, Attività Produttive"},
		{"A023", "", "Numero A 23", "Number A-23"},
		{"", "3", "sportello 3", "desk 3"},
	} {
		if got := Phrase(c.code, c.desk); got != c.it {
			t.Errorf("Phrase(%q, %q) = %q, want %q", c.code, c.desk, got, c.it)
		}
		if got := PhraseEN(c.code, c.desk); got != c.en {
			t.Errorf("PhraseEN(%q, %q) = %q, want %q", c.code, c.desk, got, c.en)
		}
	}
}

// wavFile is a strict reading of the canonical files Announcement writes.
type wavFile struct {
	rate    int
	samples []int16
}

func readCanonicalWAV(t *testing.T, b []byte) wavFile {
	t.Helper()
	le := binary.LittleEndian
	switch {
	case len(b) < 44:
		t.Fatalf("WAV of %d bytes", len(b))
	case string(b[0:4]) != "RIFF" || string(b[8:12]) != "WAVE":
		t.Fatalf("not RIFF/WAVE: % x", b[:12])
	case int(le.Uint32(b[4:])) != len(b)-8:
		t.Fatalf("RIFF size %d, file %d bytes", le.Uint32(b[4:]), len(b))
	case string(b[12:16]) != "fmt " || le.Uint32(b[16:]) != 16:
		t.Fatalf("fmt chunk: %q size %d", b[12:16], le.Uint32(b[16:]))
	case le.Uint16(b[20:]) != 1:
		t.Fatalf("format %d, want 1 (PCM)", le.Uint16(b[20:]))
	case le.Uint16(b[22:]) != 1:
		t.Fatalf("%d channels, want mono", le.Uint16(b[22:]))
	case le.Uint16(b[34:]) != 16 || le.Uint16(b[32:]) != 2:
		t.Fatalf("%d bits in %d-byte frames, want 16 in 2", le.Uint16(b[34:]), le.Uint16(b[32:]))
	case le.Uint32(b[28:]) != 2*le.Uint32(b[24:]):
		t.Fatalf("byte rate %d at %d Hz", le.Uint32(b[28:]), le.Uint32(b[24:]))
	case string(b[36:40]) != "data" || int(le.Uint32(b[40:])) != len(b)-44:
		t.Fatalf("data chunk %q of %d bytes, file has %d after the header", b[36:40], le.Uint32(b[40:]), len(b)-44)
	}
	w := wavFile{rate: int(le.Uint32(b[24:]))}
	if w.rate < 8000 || w.rate > 48000 {
		t.Fatalf("sample rate %d", w.rate)
	}
	for i := 44; i+1 < len(b); i += 2 {
		w.samples = append(w.samples, int16(le.Uint16(b[i:])))
	}
	return w
}

// goertzel is the power of the signal at hz over samples[from:to].
func goertzel(s []int16, rate int, hz float64, from, to int) float64 {
	k := 2 * math.Cos(2*math.Pi*hz/float64(rate))
	var s1, s2 float64
	for _, x := range s[from:to] {
		s0 := float64(x) + k*s1 - s2
		s2, s1 = s1, s0
	}
	return s1*s1 + s2*s2 - k*s1*s2
}

func rms(s []int16) float64 {
	if len(s) == 0 {
		return 0
	}
	var sum float64
	for _, x := range s {
		sum += float64(x) * float64(x)
	}
	return math.Sqrt(sum / float64(len(s)))
}

func TestAnnouncementAudio(t *testing.T) {
	s := newSynth(t, Options{})
	path, err := s.Announcement(context.Background(), "A023", "3")
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	w := readCanonicalWAV(t, b)
	at := func(sec float64) int { return int(sec * float64(w.rate)) }
	dur := float64(len(w.samples)) / float64(w.rate)
	t.Logf("%s: %d Hz, %.2f s", filepath.Base(path), w.rate, dur)
	if dur < 1.5 || dur > 6 {
		t.Fatalf("announcement lasts %.2f s, want 1.5–6 s", dur)
	}

	// The ding: 880 Hz dominates, far above 440 Hz (and above 660 Hz).
	f, e := at(0.02), at(dingSec-0.02)
	d880, d660, d440 := goertzel(w.samples, w.rate, 880, f, e), goertzel(w.samples, w.rate, 660, f, e), goertzel(w.samples, w.rate, 440, f, e)
	if d880 < 100*d440 || d880 < 10*d660 {
		t.Errorf("ding: power at 880 Hz %.3g, 660 Hz %.3g, 440 Hz %.3g", d880, d660, d440)
	}
	// The dong: 660 Hz dominates.
	f, e = at(dingSec+0.02), at(ChimeDuration-0.02)
	g880, g660, g440 := goertzel(w.samples, w.rate, 880, f, e), goertzel(w.samples, w.rate, 660, f, e), goertzel(w.samples, w.rate, 440, f, e)
	if g660 < 100*g440 || g660 < 10*g880 {
		t.Errorf("dong: power at 660 Hz %.3g, 880 Hz %.3g, 440 Hz %.3g", g660, g880, g440)
	}
	// The chime is loud, the gap silent, the speech after it clearly audible.
	if r := rms(w.samples[:at(ChimeDuration)]); r < 1000 {
		t.Errorf("chime RMS %.0f", r)
	}
	chimeEnd := len(Chime(w.rate))
	speechStart := chimeEnd + at(gapSec)
	if r := rms(w.samples[chimeEnd:speechStart]); r > 1 {
		t.Errorf("gap RMS %.0f, want silence", r)
	}
	speech := w.samples[speechStart:]
	loudest, voiced := 0.0, 0
	frame := at(0.05)
	for i := 0; i+frame <= len(speech); i += frame {
		r := rms(speech[i : i+frame])
		loudest = max(loudest, r)
		if r > 500 {
			voiced++
		}
	}
	if loudest < 2000 || voiced < 10 {
		t.Errorf("speech after the chime: loudest 50 ms frame RMS %.0f, %d frames above 500", loudest, voiced)
	}
	if sd := float64(len(speech)) / float64(w.rate); sd < 1 {
		t.Errorf("speech lasts %.2f s", sd)
	}
	// The same phrase read by espeak-ng alone lasts as long as what follows the gap.
	alone := exec.Command(needTool(t, "espeak-ng"), "-v", "it", "-s", "150", "--stdout", Phrase("A023", "3"))
	out, err := alone.Output()
	if err != nil {
		t.Fatal(err)
	}
	ref, err := ParseWAV(out)
	if err != nil {
		t.Fatal(err)
	}
	if ref.Rate != w.rate || len(ref.Samples) != len(speech) {
		t.Errorf("speech: %d samples at %d Hz, espeak-ng alone %d at %d Hz", len(speech), w.rate, len(ref.Samples), ref.Rate)
	}

	// sox reads the file the same way.
	soxi := needTool(t, "soxi")
	for opt, want := range map[string]string{"-r": strconv.Itoa(w.rate), "-c": "1", "-b": "16", "-s": strconv.Itoa(len(w.samples)), "-e": "Signed Integer PCM"} {
		got, err := exec.Command(soxi, opt, path).Output()
		if err != nil {
			t.Fatalf("soxi %s: %v", opt, err)
		}
		if strings.TrimSpace(string(got)) != want {
			t.Errorf("soxi %s = %q, want %q", opt, strings.TrimSpace(string(got)), want)
		}
	}
}

func TestChimeHasNoClicks(t *testing.T) {
	for _, rate := range []int{16000, 22050, 44100} {
		c := Chime(rate)
		if want := int(dingSec*float64(rate)) + int(dongSec*float64(rate)); len(c) != want {
			t.Errorf("%d Hz: %d samples, want %d", rate, len(c), want)
		}
		join := int(dingSec * float64(rate))
		for _, i := range []int{0, join - 1, join, len(c) - 1} {
			if c[i] < -50 || c[i] > 50 {
				t.Errorf("%d Hz: sample %d is %d, want about 0 (a click)", rate, i, c[i])
			}
		}
		// No jump larger than the steepest slope of the tones themselves.
		peak, limit := 0, int(0.45*32767*2*math.Pi*(880+0.25*1760)/float64(rate)*1.1)
		for i := 1; i < len(c); i++ {
			d := int(c[i]) - int(c[i-1])
			peak = max(peak, d, -d)
		}
		if peak > limit {
			t.Errorf("%d Hz: a step of %d between samples (limit %d)", rate, peak, limit)
		}
	}
}

func TestAnnouncementIsCached(t *testing.T) {
	espeak, runs := countingEspeak(t, 0)
	dir := t.TempDir()
	s := newSynth(t, Options{CacheDir: dir, Espeak: espeak})
	ctx := context.Background()
	p1, err := s.Announcement(ctx, "A023", "3")
	if err != nil {
		t.Fatal(err)
	}
	if n := runs(); n != 1 {
		t.Fatalf("%d espeak-ng runs for the first announcement", n)
	}
	first, _ := os.ReadFile(p1)
	p2, err := s.Announcement(ctx, "A023", "3")
	if err != nil || p2 != p1 {
		t.Fatalf("second call: %q, %v; first %q", p2, err, p1)
	}
	// "03" says the same as "3": same phrase, same file.
	if p3, err := s.Announcement(ctx, "A023", "03"); err != nil || p3 != p1 {
		t.Fatalf("desk 03: %q, %v; desk 3 %q", p3, err, p1)
	}
	if n := runs(); n != 1 {
		t.Fatalf("%d espeak-ng runs after cached calls, want 1", n)
	}
	if filepath.Dir(p1) != dir || !strings.HasSuffix(p1, ".wav") {
		t.Errorf("path %s is not a .wav in the cache directory %s", p1, dir)
	}
	// Another phrase is another file.
	p4, err := s.Announcement(ctx, "A024", "3")
	if err != nil || p4 == p1 || runs() != 2 {
		t.Fatalf("another phrase: %q, %v, %d runs", p4, err, runs())
	}
	// The voice and the speed are part of the key.
	s2 := newSynth(t, Options{CacheDir: t.TempDir(), Espeak: espeak, Speed: 170})
	if p5, err := s2.Announcement(ctx, "A023", "3"); err != nil || filepath.Base(p5) == filepath.Base(p1) {
		t.Fatalf("another speed: %q, %v", p5, err)
	}
	// A restarted appliance finds its cache.
	s3 := newSynth(t, Options{CacheDir: dir, Espeak: espeak})
	n := runs()
	p6, err := s3.Announcement(ctx, "A023", "3")
	if err != nil || p6 != p1 || runs() != n {
		t.Fatalf("after a restart: %q, %v, %d runs (was %d)", p6, err, runs(), n)
	}
	if again, _ := os.ReadFile(p6); !bytes.Equal(again, first) {
		t.Error("the cached file changed")
	}
	// No temporary files are left behind.
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if !cacheNameRE.MatchString(e.Name()) {
			t.Errorf("stray file in the cache: %s", e.Name())
		}
	}
	// A file removed behind the cache's back is made again.
	os.Remove(p1)
	if p7, err := s3.Announcement(ctx, "A023", "3"); err != nil || p7 != p1 {
		t.Fatalf("after removal: %q, %v", p7, err)
	}
	if _, err := os.Stat(p1); err != nil {
		t.Fatal(err)
	}
}

func TestConcurrentCallsRunEspeakOnce(t *testing.T) {
	espeak, runs := countingEspeak(t, 300*time.Millisecond)
	s := newSynth(t, Options{Espeak: espeak})
	var wg sync.WaitGroup
	paths := make([]string, 20)
	errs := make([]error, 20)
	start := make(chan struct{})
	for i := range paths {
		wg.Go(func() {
			<-start
			paths[i], errs[i] = s.Announcement(context.Background(), "B105", "Ufficio Tributi 2")
		})
	}
	close(start)
	wg.Wait()
	for i := range paths {
		if errs[i] != nil || paths[i] != paths[0] {
			t.Fatalf("caller %d: %q, %v; caller 0: %q", i, paths[i], errs[i], paths[0])
		}
	}
	if n := runs(); n != 1 {
		t.Fatalf("20 concurrent calls ran espeak-ng %d times, want 1", n)
	}
}

func TestCallerGivingUpDoesNotFailOthers(t *testing.T) {
	espeak, runs := countingEspeak(t, 500*time.Millisecond)
	s := newSynth(t, Options{Espeak: espeak})
	impatient, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := s.Announcement(impatient, "C001", "4")
		done <- err
	}()
	time.Sleep(20 * time.Millisecond)
	path, err := s.Announcement(context.Background(), "C001", "4")
	if err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("impatient caller: %v", err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatal(err)
	}
	if n := runs(); n != 1 {
		t.Errorf("%d espeak-ng runs, want 1", n)
	}
}

func TestEspeakTimesOut(t *testing.T) {
	s := newSynth(t, Options{Espeak: fakeEspeak(t, "exec sleep 30"), Timeout: 300 * time.Millisecond})
	start := time.Now()
	_, err := s.Announcement(context.Background(), "A1", "1")
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("err = %v, want ErrTimeout", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("gave up after %s", d)
	}
}

func TestEspeakFailureIsReportedAndNotCached(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "runs")
	s := newSynth(t, Options{Espeak: fakeEspeak(t, "echo run >> '"+log+"'\necho 'no voice here' >&2\nexit 1")})
	for range 2 {
		_, err := s.Announcement(context.Background(), "A1", "1")
		if err == nil || !strings.Contains(err.Error(), "no voice here") {
			t.Fatalf("err = %v, want espeak-ng's message", err)
		}
	}
	if b, _ := os.ReadFile(log); strings.Count(string(b), "run") != 2 {
		t.Errorf("a failure was cached: runs %q", b)
	}
	// A real espeak-ng with an unknown voice fails too, with its reason.
	bad := newSynth(t, Options{Voice: "xx-nosuch"})
	if _, err := bad.Announcement(context.Background(), "A1", "1"); err == nil {
		t.Error("an unknown voice made an announcement")
	}
	// Output that is not a WAV file is an error, not a broken file.
	junk := newSynth(t, Options{Espeak: fakeEspeak(t, `while [ "$1" != -w ]; do shift; done; echo junk > "$2"`)})
	if _, err := junk.Announcement(context.Background(), "A1", "1"); err == nil || !strings.Contains(err.Error(), "RIFF") {
		t.Errorf("junk output: %v", err)
	}
}

func TestInputNeverReachesAShell(t *testing.T) {
	dir := t.TempDir()
	witness := filepath.Join(dir, "pwned")
	s := newSynth(t, Options{})
	for _, desk := range []string{"$(touch " + witness + ")", "`touch " + witness + "`", "; touch " + witness, "-w " + witness} {
		if _, err := s.Announcement(context.Background(), "A1", desk); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(witness); err == nil {
		t.Fatal("a desk name ran a command")
	}
}

func TestCacheEvictsLeastRecentlyUsed(t *testing.T) {
	espeak, runs := countingEspeak(t, 0)
	dir := t.TempDir()
	s := newSynth(t, Options{CacheDir: dir, Espeak: espeak, MaxEntries: 2})
	ctx := context.Background()
	get := func(code string) string {
		t.Helper()
		p, err := s.Announcement(ctx, code, "1")
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	exists := func(p string) bool { _, err := os.Stat(p); return err == nil }
	a, b := get("A1"), get("B1")
	get("A1") // A is now more recent than B
	c := get("C1")
	if !exists(a) || exists(b) || !exists(c) {
		t.Fatalf("after A, B, A, C with room for 2: A %v, B %v, C %v; want B evicted", exists(a), exists(b), exists(c))
	}
	if n, _ := s.CacheStats(); n != 2 {
		t.Fatalf("%d files cached", n)
	}
	if runs() != 3 {
		t.Fatalf("%d runs", runs())
	}
	if get("B1"); runs() != 4 || exists(a) {
		t.Fatalf("B again: %d runs, A still there %v", runs(), exists(a))
	}

	// A size bound: room for one file and a half keeps one.
	info, _ := os.Stat(c)
	small := newSynth(t, Options{CacheDir: t.TempDir(), MaxBytes: info.Size() * 3 / 2})
	x, _ := small.Announcement(ctx, "C1", "1")
	y, _ := small.Announcement(ctx, "D1", "1")
	if exists(x) || !exists(y) {
		t.Fatalf("size bound: first kept %v, second kept %v", exists(x), exists(y))
	}
	if n, bytes := small.CacheStats(); n != 1 || bytes > info.Size()*3/2 {
		t.Fatalf("size bound: %d files, %d bytes", n, bytes)
	}

	// On restart with a smaller bound, the most recently used survive.
	now := time.Now()
	for i, code := range []string{"E1", "F1", "G1"} {
		p := get(code)
		os.Chtimes(p, now.Add(time.Duration(i)*time.Second), now.Add(time.Duration(i)*time.Second))
	}
	os.WriteFile(filepath.Join(dir, atomicfile.TempPrefix+"123"), []byte("partial"), 0o644)
	restarted := newSynth(t, Options{CacheDir: dir, Espeak: espeak, MaxEntries: 1})
	if n, _ := restarted.CacheStats(); n != 1 {
		t.Fatalf("after restart: %d files", n)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != filepath.Base(restarted.fileName(Phrase("G1", "1"))) {
		t.Fatalf("after restart the cache holds %v, want only G1's file", entries)
	}
}

func TestNewChecksOptions(t *testing.T) {
	espeak := needTool(t, "espeak-ng")
	for _, c := range []struct {
		name string
		o    Options
	}{
		{"no cache dir", Options{Espeak: espeak}},
		{"voice like an option", Options{CacheDir: t.TempDir(), Espeak: espeak, Voice: "-w/etc/x"}},
		{"voice with ..", Options{CacheDir: t.TempDir(), Espeak: espeak, Voice: "it/../../x"}},
		{"too slow", Options{CacheDir: t.TempDir(), Espeak: espeak, Speed: 20}},
		{"too fast", Options{CacheDir: t.TempDir(), Espeak: espeak, Speed: 9000}},
	} {
		if _, err := New(c.o); err == nil {
			t.Errorf("%s: New accepted %+v", c.name, c.o)
		}
	}
	_, err := New(Options{CacheDir: t.TempDir(), Espeak: filepath.Join(t.TempDir(), "missing")})
	if !errors.Is(err, ErrNoEspeak) {
		t.Errorf("missing espeak-ng: %v, want ErrNoEspeak", err)
	}
	s, err := New(Options{CacheDir: filepath.Join(t.TempDir(), "a", "b"), Voice: "it+f3"})
	if err != nil {
		t.Fatal(err)
	}
	if s.voice != "it+f3" || s.speed != DefaultSpeed || s.timeout != DefaultTimeout || s.maxEntries != DefaultMaxEntries {
		t.Errorf("defaults: %+v", s)
	}
	if en := newSynth(t, Options{Voice: "en-gb"}); en.Phrase("A023", "3") != "Number A-23, desk 3" {
		t.Errorf("English voice says %q", en.Phrase("A023", "3"))
	}
}

func TestParseWAV(t *testing.T) {
	le := binary.LittleEndian
	chunk := func(id string, body []byte) []byte {
		b := append([]byte(id), 0, 0, 0, 0)
		le.PutUint32(b[4:], uint32(len(body)))
		b = append(b, body...)
		if len(body)%2 == 1 {
			b = append(b, 0)
		}
		return b
	}
	fmtBody := func(format, channels, rate, bits int, extra []byte) []byte {
		b := make([]byte, 16)
		le.PutUint16(b[0:], uint16(format))
		le.PutUint16(b[2:], uint16(channels))
		le.PutUint32(b[4:], uint32(rate))
		le.PutUint32(b[8:], uint32(rate*channels*bits/8))
		le.PutUint16(b[12:], uint16(channels*bits/8))
		le.PutUint16(b[14:], uint16(bits))
		return append(b, extra...)
	}
	riff := func(chunks ...[]byte) []byte {
		b := []byte("RIFF\x00\x00\x00\x00WAVE")
		for _, c := range chunks {
			b = append(b, c...)
		}
		le.PutUint32(b[4:], uint32(len(b)-8))
		return b
	}
	pcm16 := func(v ...int16) []byte {
		b := make([]byte, 2*len(v))
		for i, x := range v {
			le.PutUint16(b[2*i:], uint16(x))
		}
		return b
	}

	// A round trip through EncodeWAV.
	a := Audio{Rate: 22050, Samples: []int16{0, 1, -1, 32767, -32768}}
	if got, err := ParseWAV(EncodeWAV(a)); err != nil || got.Rate != a.Rate || !equal(got.Samples, a.Samples) {
		t.Errorf("round trip: %+v, %v", got, err)
	}
	// A longer fmt chunk, and chunks (one of odd size) before the data.
	ext := make([]byte, 24) // cbSize, valid bits, channel mask, sub-format GUID
	le.PutUint16(ext[0:], 22)
	le.PutUint16(ext[8:], formatPCM)
	odd := riff(chunk("fmt ", fmtBody(formatExtensible, 1, 16000, 16, ext)), chunk("LIST", []byte("INFOabc")),
		chunk("data", pcm16(5, -5, 7)))
	if got, err := ParseWAV(odd); err != nil || got.Rate != 16000 || !equal(got.Samples, []int16{5, -5, 7}) {
		t.Errorf("extensible with LIST: %+v, %v", got, err)
	}
	// A streaming writer's unset data size: the data runs to the end.
	stream := riff(chunk("fmt ", fmtBody(formatPCM, 1, 22050, 16, nil)), chunk("data", pcm16(1, 2, 3, 4)))
	le.PutUint32(stream[len(stream)-8-4:], 0xFFFFFFFF)
	if got, err := ParseWAV(stream); err != nil || !equal(got.Samples, []int16{1, 2, 3, 4}) {
		t.Errorf("unset data size: %+v, %v", got, err)
	}
	// Stereo 16-bit and mono 8-bit are mixed down to mono 16-bit.
	if got, err := ParseWAV(riff(chunk("fmt ", fmtBody(formatPCM, 2, 44100, 16, nil)), chunk("data", pcm16(100, 300, -10, -30)))); err != nil || !equal(got.Samples, []int16{200, -20}) {
		t.Errorf("stereo: %+v, %v", got, err)
	}
	if got, err := ParseWAV(riff(chunk("fmt ", fmtBody(formatPCM, 1, 8000, 8, nil)), chunk("data", []byte{128, 255, 0}))); err != nil || !equal(got.Samples, []int16{0, 127 << 8, -128 << 8}) {
		t.Errorf("8-bit: %+v, %v", got, err)
	}
	// What is refused.
	for name, b := range map[string][]byte{
		"empty":         nil,
		"not RIFF":      []byte("RIFX\x00\x00\x00\x00WAVEfmt "),
		"no data":       riff(chunk("fmt ", fmtBody(formatPCM, 1, 22050, 16, nil))),
		"data first":    riff(chunk("data", pcm16(1)), chunk("fmt ", fmtBody(formatPCM, 1, 22050, 16, nil))),
		"float":         riff(chunk("fmt ", fmtBody(3, 1, 22050, 32, nil)), chunk("data", pcm16(1, 2))),
		"short fmt":     riff(chunk("fmt ", []byte{1, 0, 1, 0})),
		"12-bit":        riff(chunk("fmt ", fmtBody(formatPCM, 1, 22050, 12, nil)), chunk("data", pcm16(1))),
		"no channels":   riff(chunk("fmt ", fmtBody(formatPCM, 0, 22050, 16, nil)), chunk("data", pcm16(1))),
		"absurd rate":   riff(chunk("fmt ", fmtBody(formatPCM, 1, 10, 16, nil)), chunk("data", pcm16(1))),
		"truncated fmt": riff(chunk("fmt ", fmtBody(formatPCM, 1, 22050, 16, nil)))[:30],
	} {
		if got, err := ParseWAV(b); err == nil {
			t.Errorf("%s: parsed as %+v", name, got)
		}
	}
}

func equal(a, b []int16) bool {
	return len(a) == len(b) && string(pcmBytes(a)) == string(pcmBytes(b))
}

func pcmBytes(s []int16) []byte {
	return EncodeWAV(Audio{Rate: 1, Samples: s})[44:]
}

func TestHandler(t *testing.T) {
	espeak, runs := countingEspeak(t, 0)
	s := newSynth(t, Options{Espeak: espeak})
	srv := httptest.NewServer(Handler(s))
	defer srv.Close()
	get := func(method, query string, header ...string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+"/?"+query, nil)
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body bytes.Buffer
		body.ReadFrom(resp.Body)
		return resp, body.Bytes()
	}
	q := func(kv ...string) string {
		v := url.Values{}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Add(kv[i], kv[i+1])
		}
		return v.Encode()
	}

	for _, c := range []struct{ query, code, field string }{
		{q("desk", "3"), "invalid_code", "code"},
		{q("code", "", "desk", "3"), "invalid_code", "code"},
		{q("code", "a023", "desk", "3"), "invalid_code", "code"},
		{q("code", "A", "desk", "3"), "invalid_code", "code"},
		{q("code", "023", "desk", "3"), "invalid_code", "code"},
		{q("code", "ABCD1", "desk", "3"), "invalid_code", "code"},
		{q("code", "A12345", "desk", "3"), "invalid_code", "code"},
		{q("code", "A 23", "desk", "3"), "invalid_code", "code"},
		{q("code", "A23\n", "desk", "3"), "invalid_code", "code"},
		{q("code", "À23", "desk", "3"), "invalid_code", "code"},
		{q("code", "A023", "code", "B1", "desk", "3"), "invalid_code", "code"},
		{q("code", "A023"), "invalid_desk", "desk"},
		{q("code", "A023", "desk", ""), "invalid_desk", "desk"},
		{q("code", "A023", "desk", "---"), "invalid_desk", "desk"},
		{q("code", "A023", "desk", strings.Repeat("x", 41)), "invalid_desk", "desk"},
		{q("code", "A023", "desk", "3; rm -rf /"), "invalid_desk", "desk"},
		{q("code", "A023", "desk", "$(reboot)"), "invalid_desk", "desk"},
		{q("code", "A023", "desk", "<speak>"), "invalid_desk", "desk"},
		{q("code", "A023", "desk", "tab\there"), "invalid_desk", "desk"},
		{q("code", "A023", "desk", "3", "desk", "4"), "invalid_desk", "desk"},
		{"code=A023&desk=%ff", "invalid_desk", "desk"},
	} {
		resp, body := get("GET", c.query)
		var e errorBody
		if resp.StatusCode != http.StatusBadRequest || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") ||
			json.Unmarshal(body, &e) != nil || e.Error.Code != c.code || e.Error.Field != c.field || e.Error.Message == "" {
			t.Errorf("?%s: %d %s %s, want 400 %s on %s", c.query, resp.StatusCode, resp.Header.Get("Content-Type"), body, c.code, c.field)
		}
	}
	if runs() != 0 {
		t.Fatalf("bad input ran espeak-ng %d times", runs())
	}
	if resp, body := get("POST", q("code", "A023", "desk", "3")); resp.StatusCode != http.StatusMethodNotAllowed || !bytes.Contains(body, []byte(`"method_not_allowed"`)) {
		t.Errorf("POST: %d %s", resp.StatusCode, body)
	}

	good := q("code", "A023", "desk", "Ufficio Tributi 2", "v", s.Version())
	resp, body := get("GET", good)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("good request: %d %s", resp.StatusCode, body)
	}
	etag := resp.Header.Get("ETag")
	if ct := resp.Header.Get("Content-Type"); ct != "audio/wav" {
		t.Errorf("Content-Type %q", ct)
	}
	if cc := resp.Header.Get("Cache-Control"); !strings.Contains(cc, "immutable") || !strings.Contains(cc, "max-age=") {
		t.Errorf("Cache-Control %q", cc)
	}
	if len(etag) < 10 || !strings.HasPrefix(etag, `"`) {
		t.Errorf("ETag %q", etag)
	}
	path, err := s.Announcement(context.Background(), "A023", "Ufficio Tributi 2")
	if err != nil {
		t.Fatal(err)
	}
	onDisk, _ := os.ReadFile(path)
	if !bytes.Equal(body, onDisk) || etag != etagOf(onDisk) {
		t.Errorf("served %d bytes with ETag %s; the file has %d bytes, ETag %s", len(body), etag, len(onDisk), etagOf(onDisk))
	}
	readCanonicalWAV(t, body)

	if resp, body := get("GET", good, "If-None-Match", etag); resp.StatusCode != http.StatusNotModified || len(body) != 0 {
		t.Errorf("If-None-Match: %d, %d bytes", resp.StatusCode, len(body))
	}
	if resp, _ := get("GET", good, "If-None-Match", `"something-else"`); resp.StatusCode != http.StatusOK {
		t.Errorf("If-None-Match another ETag: %d", resp.StatusCode)
	}
	if resp, body := get("HEAD", good); resp.StatusCode != http.StatusOK || len(body) != 0 || resp.Header.Get("ETag") != etag {
		t.Errorf("HEAD: %d, %d bytes, ETag %q", resp.StatusCode, len(body), resp.Header.Get("ETag"))
	}
	if resp, body := get("GET", good, "Range", "bytes=0-43"); resp.StatusCode != http.StatusPartialContent || !bytes.Equal(body, onDisk[:44]) {
		t.Errorf("Range: %d, %d bytes", resp.StatusCode, len(body))
	}
	if runs() != 1 {
		t.Errorf("%d espeak-ng runs for one phrase served 5 times", runs())
	}

	// A Synth whose announcements fail answers 503 in JSON; one that hangs, 504.
	broken := httptest.NewServer(Handler(newSynth(t, Options{Espeak: fakeEspeak(t, "exit 1")})))
	defer broken.Close()
	resp, err = http.Get(broken.URL + "/?" + q("code", "A1", "desk", "1"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("failing espeak-ng: %d", resp.StatusCode)
	}
	slow := httptest.NewServer(Handler(newSynth(t, Options{Espeak: fakeEspeak(t, "exec sleep 30"), Timeout: 200 * time.Millisecond})))
	defer slow.Close()
	resp, err = http.Get(slow.URL + "/?" + q("code", "A1", "desk", "1"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusGatewayTimeout {
		t.Errorf("hanging espeak-ng: %d", resp.StatusCode)
	}
}
