package main

import (
	"fmt"
	"io"
	"sync"
	"time"

	"avanti/appliance/benchkit"
)

type baselineResult struct {
	workers int
	commits int
	elapsed time.Duration
	rate    float64
	lat     benchkit.Latencies
}

type report struct {
	benchkit.Table
	baseline map[int]baselineResult

	mu    sync.Mutex // errs, nerrs
	errs  []string
	nerrs int

	loadStart float64
}

// fail records an unexpected error; the run goes on, the exit status is 1.
func (r *report) fail(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.nerrs++
	if len(r.errs) < 20 {
		r.errs = append(r.errs, fmt.Sprintf(format, args...))
	}
}

// rate adds a throughput compared with the commit rate at the same
// concurrency; the target is half of it.
func (r *report) rate(section, name string, perSec float64, workers int, target bool) {
	b, ok := r.baseline[workers]
	ratio, tgt, res := "", "", ""
	if ok && b.rate > 0 {
		x := perSec / b.rate
		ratio = fmt.Sprintf("%.2f", x)
		if target {
			tgt = fmt.Sprintf(">= 0.5 x (%.0f/s)", b.rate*0.5)
			res = benchkit.PassMiss(x >= 0.5)
		}
	}
	r.Add(section, name, fmt.Sprintf("%.0f /s", perSec), ratio, tgt, res)
}

// latency adds a percentile with an upper target (0: none).
func (r *report) latency(section, name string, d, limit time.Duration) {
	tgt, res := "", ""
	if limit > 0 {
		tgt, res = "< "+benchkit.Millis(limit), benchkit.PassMiss(d < limit)
	}
	r.Add(section, name, benchkit.Millis(d), "", tgt, res)
}

func (r *report) print(w io.Writer, total time.Duration) {
	fmt.Fprintln(w)
	fmt.Fprintf(w, "AVANTI BENCHMARK  (%s total; ratios are to the commit rate measured in this run at the same concurrency)\n", total.Round(time.Second))
	benchkit.WriteLoadAverage(w, r.loadStart)
	fmt.Fprintln(w)
	r.Write(w)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.nerrs > 0 {
		fmt.Fprintf(w, "\n%d unexpected errors, first ones:\n", r.nerrs)
		for _, e := range r.errs {
			fmt.Fprintln(w, "  - "+e)
		}
	}
	fmt.Fprintln(w)
}
