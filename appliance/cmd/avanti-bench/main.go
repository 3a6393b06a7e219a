// Command avanti-bench measures the store where the appliance is under
// pressure, against a fresh database on the MariaDB/MySQL server named by
// AVANTI_TEST_DSN (`make bench` points it at the private instance):
//
//  1. the server's commit rate: N workers each committing one INSERT per
//     transaction, at the concurrency of the benchmark it is compared with;
//  2. a booking rush: 500 clients filling one day of one service, chosen
//     times (web) mixed with first-available walk-ins (kiosk);
//  3. call-next contention: 50 desks draining a queue of 10,000 tickets;
//  4. availability: a month of free places of a service with 180 days of
//     slots, in a database holding 100,000 tickets.
//
// It prints the figures with their ratio to the commit rate and the targets
// (PASS/MISS, informative), then drops its database. The exit status is
// non-zero only when an invariant broke (overbooked slot, duplicate ticket
// code, ticket called twice) or something failed.
package main

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"
	_ "time/tzdata"

	"avanti/appliance/benchkit"
	"avanti/appliance/store"
)

type options struct {
	dsn  string
	keep bool

	baselineTime time.Duration

	clients     int
	rounds      int
	places      int
	webPct      int
	walkInQuota int

	desks        int
	waiting      int
	callsPerDesk int
	callTime     time.Duration

	tickets    int
	availDays  int
	availReps  int
	availRange int

	timeout time.Duration
	only    string
}

func main() {
	var o options
	flag.StringVar(&o.dsn, "dsn", os.Getenv("AVANTI_TEST_DSN"), "server DSN (user:pass@tcp(host:port)/); a fresh database is created on it")
	flag.BoolVar(&o.keep, "keep", false, "keep the benchmark database instead of dropping it")
	flag.DurationVar(&o.baselineTime, "baseline-time", 3*time.Second, "duration of each commit-rate baseline")
	flag.IntVar(&o.clients, "clients", 500, "booking rush: concurrent clients")
	flag.IntVar(&o.rounds, "rounds", 10, "booking rush: rounds, each filling one day of a fresh service")
	flag.IntVar(&o.places, "places", 3, "booking rush: places per 5-minute slot (08:00-16:00)")
	flag.IntVar(&o.webPct, "web-pct", 70, "booking rush: percent of attempts that book a chosen time on the web (the rest are kiosk walk-ins)")
	flag.IntVar(&o.walkInQuota, "walkin-quota", 6, "booking rush: places per hour kept for walk-ins")
	flag.IntVar(&o.desks, "desks", 50, "call-next: desks calling on one service")
	flag.IntVar(&o.waiting, "waiting", 10000, "call-next: waiting tickets")
	flag.IntVar(&o.callsPerDesk, "calls-per-desk", 0, "call-next: calls per desk (0: until nobody waits)")
	flag.DurationVar(&o.callTime, "call-time", 60*time.Second, "call-next: stop calling after this long")
	flag.IntVar(&o.tickets, "tickets", 100000, "availability: tickets booked in the service's slots")
	flag.IntVar(&o.availDays, "avail-days", 180, "availability: days of slots")
	flag.IntVar(&o.availReps, "avail-reps", 500, "availability: requests")
	flag.IntVar(&o.availRange, "avail-range", 31, "availability: days per request")
	flag.DurationVar(&o.timeout, "timeout", 15*time.Minute, "give up after this long")
	flag.StringVar(&o.only, "only", "", "run only these benchmarks, comma-separated: rush, callnext, availability (the baseline always runs)")
	flag.Parse()

	benchkit.Main("avanti-bench", o.dsn, o.timeout, func(ctx context.Context) int { return run(ctx, o) })
}

func run(ctx context.Context, o options) int {
	start := time.Now()
	st, done, err := benchkit.FreshStore(ctx, o.dsn, "avanti-bench", o.keep)
	if err != nil {
		fmt.Fprintln(os.Stderr, "avanti-bench:", err)
		return 1
	}
	defer done()
	var version string
	st.DB().QueryRowContext(ctx, `SELECT VERSION()`).Scan(&version)
	benchkit.Progress("server %s, %d CPU, Go %s, store pool %d connections", version, runtime.NumCPU(), runtime.Version(),
		st.DB().Stats().MaxOpenConnections)

	if err := checkFiscalCodes(); err != nil {
		fmt.Fprintln(os.Stderr, "avanti-bench:", err)
		return 1
	}
	r := &report{baseline: map[int]baselineResult{}, loadStart: benchkit.LoadAverage()}
	b := &bench{st: st, db: st.DB(), o: o, r: r}
	err = b.all(ctx)
	r.print(os.Stdout, time.Since(start))
	switch {
	case err != nil:
		fmt.Fprintln(os.Stderr, "avanti-bench: FAILED:", err)
		return 1
	case r.Broken():
		fmt.Fprintln(os.Stderr, "avanti-bench: FAILED: an invariant is broken (see the table)")
		return 1
	case r.nerrs > 0:
		fmt.Fprintf(os.Stderr, "avanti-bench: FAILED: %d errors during the run, first ones:\n", r.nerrs)
		for _, e := range r.errs {
			fmt.Fprintln(os.Stderr, "  ", e)
		}
		return 1
	}
	return 0
}

type bench struct {
	st  *store.Store
	db  *sql.DB
	o   options
	r   *report
	org org

	availSvc              int64
	availSlots, availDays int
}

func (b *bench) all(ctx context.Context) error {
	var err error
	if b.org, err = setupOrg(ctx, b.st, b.o.desks); err != nil {
		return fmt.Errorf("set up organisation: %w", err)
	}
	if err := warmPool(ctx, b.db); err != nil {
		return err
	}
	steps := []struct {
		name, key string
		fn        func(context.Context) error
	}{
		{"baseline", "", b.baselines},
		{"availability data", "availability", b.loadAvailability}, // first, so the rush and the calls run on a loaded tickets table
		{"booking rush", "rush", b.rush},
		{"call-next", "callnext", b.callNext},
		{"availability", "availability", b.availability},
	}
	for _, s := range steps {
		if s.key != "" && b.o.only != "" && !slices.Contains(strings.Split(b.o.only, ","), s.key) {
			continue
		}
		t0 := time.Now()
		if err := s.fn(ctx); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		benchkit.Progress("%s done in %s", s.name, time.Since(t0).Round(time.Millisecond))
	}
	return nil
}

func (b *bench) baselines(ctx context.Context) error {
	if _, err := b.db.ExecContext(ctx, `CREATE TABLE bench_commits (
		id BIGINT PRIMARY KEY AUTO_INCREMENT, worker INT NOT NULL, n INT NOT NULL,
		created_at DATETIME(6) NOT NULL, payload VARCHAR(64) NOT NULL) ENGINE=InnoDB`); err != nil {
		return fmt.Errorf("create baseline table: %w", err)
	}
	seen := map[int]bool{}
	for _, n := range []int{b.o.clients, b.o.desks} {
		if seen[n] {
			continue
		}
		seen[n] = true
		res, err := commitRate(ctx, b.db, n, b.o.baselineTime)
		if err != nil {
			return err
		}
		b.r.baseline[n] = res
		b.r.Add("1. baseline", fmt.Sprintf("commits/s, %d workers", n), fmt.Sprintf("%.0f /s", res.rate), "1.00", "", "")
		b.r.Add("1. baseline", fmt.Sprintf("p50 / p99 commit, %d workers", n), benchkit.Millis(res.lat.P(50))+" / "+benchkit.Millis(res.lat.P(99)), "", "", "")
		b.r.Note("baseline @%d workers: %d commits in %s (one INSERT per READ COMMITTED transaction, store pool of %d), p50 %s, p99 %s",
			n, res.commits, res.elapsed.Round(time.Millisecond), b.db.Stats().MaxOpenConnections, benchkit.Millis(res.lat.P(50)), benchkit.Millis(res.lat.P(99)))
		benchkit.Progress("baseline @%d workers: %.0f commits/s (p50 %s, p99 %s)", n, res.rate, benchkit.Millis(res.lat.P(50)), benchkit.Millis(res.lat.P(99)))
	}
	return nil
}
