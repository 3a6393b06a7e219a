package main

import (
	"fmt"
	"io"
	"time"

	"avanti/appliance/benchkit"
)

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// ratio is a/b for the "x baseline" column; empty when b is not positive
// (a ratio to a negative or zero latency means nothing).
func ratio(a, b float64) string {
	if b <= 0 || a < 0 {
		return ""
	}
	return fmt.Sprintf("%.2f", a/b)
}

type report struct {
	benchkit.Table

	loadStart        float64
	cpuStart, cpuEnd cpu
}

func (r *report) print(w io.Writer, total time.Duration) {
	fmt.Fprintln(w)
	fmt.Fprintf(w, "AVANTI FAN-OUT BENCHMARK  (%s total; ratios are to a bare gorilla/websocket broadcast to the same number of connections, measured in this run with the same clients; none where either side is negative)\n", total.Round(time.Second))
	benchkit.WriteLoadAverage(w, r.loadStart)
	if a, b := r.cpuStart, r.cpuEnd; a.ok && b.ok && b.total > a.total {
		// /proc/stat counts in USER_HZ, 100 per second on Linux.
		total := time.Duration(b.total-a.total) * 10 * time.Millisecond
		busy := time.Duration(b.busy-a.busy) * 10 * time.Millisecond
		self := b.self - a.self
		others := max(0, busy-self)
		fmt.Fprintf(w, "CPU during the run: %.0f%% of the machine busy, this process %.0f%%, everything else (the database and any other work) %.0f%%\n",
			100*busy.Seconds()/total.Seconds(), 100*self.Seconds()/total.Seconds(), 100*others.Seconds()/total.Seconds())
	}
	fmt.Fprintln(w)
	r.Write(w)
	fmt.Fprintln(w)
}
