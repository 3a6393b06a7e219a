package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
)

// latencies is a set of measured durations.
type latencies []time.Duration

// p is the q-th percentile (nearest rank); 0 when empty.
func (l latencies) p(q float64) time.Duration {
	if len(l) == 0 {
		return 0
	}
	s := slices.Clone(l)
	slices.Sort(s)
	i := int(math.Ceil(q/100*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

func (l latencies) mean() time.Duration {
	if len(l) == 0 {
		return 0
	}
	var sum time.Duration
	for _, d := range l {
		sum += d
	}
	return sum / time.Duration(len(l))
}

func ms(d time.Duration) string {
	switch {
	case d >= 100*time.Millisecond:
		return fmt.Sprintf("%.0f ms", float64(d)/1e6)
	case d >= 10*time.Millisecond:
		return fmt.Sprintf("%.1f ms", float64(d)/1e6)
	default:
		return fmt.Sprintf("%.2f ms", float64(d)/1e6)
	}
}

type baselineResult struct {
	workers int
	commits int
	elapsed time.Duration
	rate    float64
	lat     latencies
}

// row is one line of the final table.
type row struct {
	section, name, value, ratio, target, result string
}

type report struct {
	mu       sync.Mutex
	baseline map[int]baselineResult
	rows     []row
	notes    []string
	errs     []string
	nerrs    int
	invalid  bool

	loadStart float64
}

func (r *report) add(section, name, value, ratio, target, result string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rows = append(r.rows, row{section, name, value, ratio, target, result})
}

func (r *report) note(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.notes = append(r.notes, fmt.Sprintf(format, args...))
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

// invariant adds a must-be-zero figure.
func (r *report) invariant(section, name string, n int64) {
	res := "OK"
	if n != 0 {
		res = "BROKEN"
		r.mu.Lock()
		r.invalid = true
		r.mu.Unlock()
	}
	r.add(section, name, fmt.Sprint(n), "", "= 0", res)
}

func (r *report) broken() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.invalid
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
			res = passMiss(x >= 0.5)
		}
	}
	r.add(section, name, fmt.Sprintf("%.0f /s", perSec), ratio, tgt, res)
}

// latency adds a percentile with an upper target (0: none).
func (r *report) latency(section, name string, d, limit time.Duration) {
	tgt, res := "", ""
	if limit > 0 {
		tgt, res = "< "+ms(limit), passMiss(d < limit)
	}
	r.add(section, name, ms(d), "", tgt, res)
}

func passMiss(ok bool) string {
	if ok {
		return "PASS"
	}
	return "MISS"
}

func (r *report) print(w io.Writer, total time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fmt.Fprintln(w)
	fmt.Fprintf(w, "AVANTI BENCHMARK  (%s total; ratios are to the commit rate measured in this run at the same concurrency)\n", total.Round(time.Second))
	if r.loadStart >= 0 {
		fmt.Fprintf(w, "machine load average before the run: %.1f", r.loadStart)
		if r.loadStart > 1 {
			fmt.Fprintf(w, "  -- something else was using the CPUs: trust the ratios more than the absolute figures")
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "benchmark\tfigure\tvalue\tx baseline\ttarget\tresult\t")
	fmt.Fprintln(tw, "---------\t------\t-----\t----------\t------\t------\t")
	rows := slices.Clone(r.rows)
	slices.SortStableFunc(rows, func(a, b row) int { return strings.Compare(a.section, b.section) })
	last := ""
	for _, x := range rows {
		sec := x.section
		if sec == last {
			sec = ""
		} else if last != "" {
			fmt.Fprintln(tw, "\t\t\t\t\t\t")
		}
		last = x.section
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t\n", sec, x.name, x.value, x.ratio, x.target, x.result)
	}
	tw.Flush()
	if len(r.notes) > 0 {
		fmt.Fprintln(w)
		for _, n := range r.notes {
			fmt.Fprintln(w, "  * "+strings.ReplaceAll(n, "\n", "\n    "))
		}
	}
	if r.nerrs > 0 {
		fmt.Fprintf(w, "\n%d unexpected errors, first ones:\n", r.nerrs)
		for _, e := range r.errs {
			fmt.Fprintln(w, "  - "+e)
		}
	}
	fmt.Fprintln(w)
}
