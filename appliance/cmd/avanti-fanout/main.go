// Command avanti-fanout measures how fast a call reaches the waiting-room
// displays (issue 3): N displays (1,000 and 5,000 by default) hold a
// WebSocket to the appliance, all in the room of the desk that calls; an
// operator calls tickets one after the other over the HTTP API, and every
// display notes when the "call" event with that ticket arrives. The figure
// is the time from the call-next response to each display's receipt
// (p50/p99/max over every display and call), with the memory the process
// holds per connection.
//
// The baseline, in the same run and process, is a bare gorilla/websocket
// broadcast: a minimal server that takes the same message over an HTTP POST
// and queues it to every connection, each written by its own goroutine (the
// pattern of gorilla's chat example), measured the same way with the same
// clients. The appliance runs on a fresh database on the MariaDB/MySQL
// server named by AVANTI_TEST_DSN (`make bench` points it at the private
// instance), dropped at the end unless -keep.
//
// It prints the figures with their ratio to the baseline and the target
// (p99 under 100 ms at 5,000 displays; PASS/MISS, informative). The exit
// status is non-zero only when a display missed a call or got it twice, or
// something failed.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
	_ "time/tzdata"

	"avanti/appliance/benchkit"
)

type options struct {
	dsn  string
	keep bool

	sizes       []int
	calls       int
	gap         time.Duration
	wait        time.Duration
	dialWorkers int
	sharedToken bool
	target      time.Duration

	timeout time.Duration
}

func main() {
	var o options
	sizes := "1000,5000"
	flag.StringVar(&o.dsn, "dsn", os.Getenv("AVANTI_TEST_DSN"), "server DSN (user:pass@tcp(host:port)/); a fresh database is created on it")
	flag.BoolVar(&o.keep, "keep", false, "keep the benchmark database instead of dropping it")
	flag.StringVar(&sizes, "displays", sizes, "numbers of displays to measure, comma-separated")
	flag.IntVar(&o.calls, "calls", 20, "measured calls per number of displays (after one warm-up call)")
	flag.DurationVar(&o.gap, "gap", 300*time.Millisecond, "pause after each call's finish, so the coalesced queue event (250 ms) lands between calls")
	flag.DurationVar(&o.wait, "wait", 5*time.Second, "how long a call may take to reach every display before the missing ones count as missed")
	flag.IntVar(&o.dialWorkers, "dial-workers", 64, "displays connecting at the same time")
	flag.BoolVar(&o.sharedToken, "shared-token", false, "connect every display with the demo display's token (one device) instead of one display device each")
	flag.DurationVar(&o.target, "target", 100*time.Millisecond, "target for the p99 at the largest number of displays")
	flag.DurationVar(&o.timeout, "timeout", 10*time.Minute, "give up after this long")
	flag.Parse()

	for _, s := range strings.Split(sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n <= 0 {
			fmt.Fprintf(os.Stderr, "avanti-fanout: -displays: %q is not a positive number\n", s)
			os.Exit(2)
		}
		o.sizes = append(o.sizes, n)
	}
	slices.Sort(o.sizes)
	o.sizes = slices.Compact(o.sizes)
	if o.calls <= 0 {
		fmt.Fprintln(os.Stderr, "avanti-fanout: -calls must be positive")
		os.Exit(2)
	}
	benchkit.Main("avanti-fanout", o.dsn, o.timeout, func(ctx context.Context) int { return run(ctx, o) })
}

func run(ctx context.Context, o options) int {
	start := time.Now()
	if err := raiseFileLimit(uint64(2*o.sizes[len(o.sizes)-1] + 1000)); err != nil {
		fmt.Fprintln(os.Stderr, "avanti-fanout:", err)
		return 1
	}
	st, done, err := benchkit.FreshStore(ctx, o.dsn, "avanti-fanout", o.keep)
	if err != nil {
		fmt.Fprintln(os.Stderr, "avanti-fanout:", err)
		return 1
	}
	defer done()
	var version string
	st.DB().QueryRowContext(ctx, `SELECT VERSION()`).Scan(&version)
	benchkit.Progress("server %s, %d CPU, Go %s, GOMAXPROCS %d", version, runtime.NumCPU(), runtime.Version(), runtime.GOMAXPROCS(0))

	r := &report{loadStart: benchkit.LoadAverage(), cpuStart: readCPU()}
	b := &bench{o: o, st: st, r: r}
	err = b.all(ctx)
	b.close()
	r.cpuEnd = readCPU()
	r.print(os.Stdout, time.Since(start))
	switch {
	case err != nil:
		fmt.Fprintln(os.Stderr, "avanti-fanout: FAILED:", err)
		return 1
	case r.Broken():
		fmt.Fprintln(os.Stderr, "avanti-fanout: FAILED: a display missed a call or got it twice (see the table)")
		return 1
	}
	return 0
}

// raiseFileLimit lifts the soft limit of open files to the hard one: every
// display costs two sockets, its client end and the server's.
func raiseFileLimit(need uint64) error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("getrlimit: %w", err)
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			return fmt.Errorf("raise open files to %d: %w", lim.Max, err)
		}
	}
	if lim.Cur < need {
		return fmt.Errorf("%d displays need about %d open files but the hard limit is %d: raise it (ulimit -Hn, LimitNOFILE=) or measure fewer displays (-displays)",
			(need-1000)/2, need, lim.Cur)
	}
	benchkit.Progress("open files limit %d", lim.Cur)
	return nil
}

// memory is what the whole process (server and clients) holds.
type memory struct {
	rss        int64 // resident, from /proc/self/status
	heap       int64 // Go heap in use
	stack      int64 // goroutine stacks
	goroutines int
}

// measureMemory reads the process's memory after a collection that
// returns freed memory to the system.
func measureMemory() (memory, error) {
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	m := memory{heap: int64(ms.HeapInuse), stack: int64(ms.StackInuse), goroutines: runtime.NumGoroutine()}
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return m, err
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(v)
			if len(f) != 2 || f[1] != "kB" {
				break
			}
			kb, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				return m, err
			}
			m.rss = kb * 1024
			return m, nil
		}
	}
	return m, errors.New("no VmRSS in /proc/self/status")
}

// cpu is the machine's CPU time (busy and all, in clock ticks) and this
// process's own, for the share of the machine the run had.
type cpu struct {
	busy, total int64
	self        time.Duration
	ok          bool
}

func readCPU() cpu {
	var c cpu
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		c.self = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return c
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return c
	}
	for i, v := range f[1:] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return c
		}
		if i >= 8 { // guest time is already counted in user
			break
		}
		c.total += n
		if i != 3 && i != 4 { // idle, iowait
			c.busy += n
		}
	}
	c.ok = true
	return c
}
