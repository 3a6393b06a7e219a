package benchkit

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// Main runs the benchmark command cmd and exits with run's status. It
// keeps the store's Info logs (migrations) off stderr, where the progress
// lines go; exits 1 with a hint when serverDSN is empty; and gives run a
// context cancelled on SIGINT or SIGTERM, or after timeout.
func Main(cmd, serverDSN string, timeout time.Duration, run func(context.Context) int) {
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if serverDSN == "" {
		fmt.Fprintln(os.Stderr, cmd+": AVANTI_TEST_DSN is not set: run `make bench`, or set it to a MariaDB >= 10.6 / MySQL >= 8.0 server (user:pass@tcp(host:port)/)")
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	code := run(ctx)
	cancel()
	stop()
	os.Exit(code)
}

// Progress writes a progress line, prefixed with the time of day, to
// stderr.
func Progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s  %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// LoadAverage is the 1-minute load average of the machine (Linux), or -1.
func LoadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	var l float64
	if _, err := fmt.Sscan(string(b), &l); err != nil {
		return -1
	}
	return l
}

// WriteLoadAverage writes the report's line on the load average taken
// before the run (nothing when it is negative, i.e. unknown), with a
// warning when something else was using the CPUs.
func WriteLoadAverage(w io.Writer, load float64) {
	if load < 0 {
		return
	}
	fmt.Fprintf(w, "machine load average before the run: %.1f", load)
	if load > 1 {
		fmt.Fprintf(w, "  -- something else was using the CPUs: trust the ratios more than the absolute figures")
	}
	fmt.Fprintln(w)
}
