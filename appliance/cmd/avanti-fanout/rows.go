package main

import (
	"fmt"
	"time"

	"avanti/appliance/benchkit"
)

// sizeResult is one number of displays: the appliance and the baseline.
type sizeResult struct {
	sec          string
	n            int
	app, bare    *runResult
	slow, silent int64 // hub drops during the appliance's run
	hubConns     int   // the hub's connections once every display had its snapshot
	bareDrops    int64 // messages the baseline dropped on a full queue
}

// perConn is the growth of a memory figure per connection, in KiB.
func perConn(before, after int64, n int) float64 {
	return float64(after-before) / float64(n) / 1024
}

func (r *runResult) rssPerConn(n int) float64 { return perConn(r.before.rss, r.after.rss, n) }

// memLine is the process's RSS and Go heap before connecting, once
// connected and after the displays left.
func (r *runResult) memLine() string {
	m := func(b int64) string { return fmt.Sprintf("%.1f", float64(b)/(1<<20)) }
	return fmt.Sprintf("RSS %s -> %s -> %s MiB, heap %s -> %s -> %s MiB", m(r.before.rss), m(r.after.rss), m(r.closed.rss),
		m(r.before.heap), m(r.after.heap), m(r.closed.heap))
}

// perConnLine splits the growth per connection: Go heap, goroutine stacks,
// goroutines.
func (r *runResult) perConnLine(n int) string {
	return fmt.Sprintf("%.1f KiB / %.1f KiB / %.1f", perConn(r.before.heap, r.after.heap, n), perConn(r.before.stack, r.after.stack, n),
		float64(r.after.goroutines-r.before.goroutines)/float64(n))
}

// rows writes a number of displays' figures to the report.
func (b *bench) rows(s sizeResult) {
	r, sec, a, g := b.r, s.sec, s.app, s.bare
	fl := func(d time.Duration) float64 { return float64(d) }
	const base = "bare gorilla: "

	r.Add(sec, "displays connected (handshake + snapshot)", fmt.Sprintf("%s in %s, p50 / p99 %s / %s each", thousands(s.n), secs(a.connectWall),
		benchkit.Millis(a.connect.P(50)), benchkit.Millis(a.connect.P(99))), ratio(fl(a.connectWall), fl(g.connectWall)), "", "")
	r.Add(sec, base+"connected", fmt.Sprintf("%s in %s, p50 / p99 %s / %s each", thousands(s.n), secs(g.connectWall),
		benchkit.Millis(g.connect.P(50)), benchkit.Millis(g.connect.P(99))), "1.00", "", "")

	calls := len(a.out.api)
	r.Add(sec, "call -> display, p50", benchkit.Millis(a.out.lat.P(50)), ratio(fl(a.out.lat.P(50)), fl(g.out.lat.P(50))), "", "")
	p99 := a.out.lat.P(99)
	r.Add(sec, "call -> display, p99", benchkit.Millis(p99), ratio(fl(p99), fl(g.out.lat.P(99))), "< "+benchkit.Millis(b.o.target), benchkit.PassMiss(p99 < b.o.target))
	r.Add(sec, "call -> display, max", benchkit.Millis(a.out.lat.Max()), ratio(fl(a.out.lat.Max()), fl(g.out.lat.Max())), "", "")
	r.Add(sec, base+"p50 / p99 / max", benchkit.Millis(g.out.lat.P(50))+" / "+benchkit.Millis(g.out.lat.P(99))+" / "+benchkit.Millis(g.out.lat.Max()), "1.00", "", "")
	r.Add(sec, "call-next request -> display, p50 / p99", benchkit.Millis(a.out.fromReq.P(50))+" / "+benchkit.Millis(a.out.fromReq.P(99)),
		ratio(fl(a.out.fromReq.P(99)), fl(g.out.fromReq.P(99))), "", "")
	r.Add(sec, base+"request -> client, p50 / p99", benchkit.Millis(g.out.fromReq.P(50))+" / "+benchkit.Millis(g.out.fromReq.P(99)), "1.00", "", "")
	r.Add(sec, "read before the API answered", fmt.Sprintf("%.0f%% (earliest %s); bare gorilla %.0f%% (earliest %s)",
		a.out.lat.Below(0), benchkit.Millis(a.out.lat.Min()), g.out.lat.Below(0), benchkit.Millis(g.out.lat.Min())), "", "", "")
	r.Add(sec, "first -> last display, p50 / max", benchkit.Millis(a.out.spread.P(50))+" / "+benchkit.Millis(a.out.spread.Max()),
		ratio(fl(a.out.spread.P(50)), fl(g.out.spread.P(50))), "", "")
	r.Add(sec, base+"first -> last, p50 / max", benchkit.Millis(g.out.spread.P(50))+" / "+benchkit.Millis(g.out.spread.Max()), "1.00", "", "")
	r.Add(sec, "call-next request -> answer, p50 / max", benchkit.Millis(a.out.api.P(50))+" / "+benchkit.Millis(a.out.api.Max()),
		ratio(fl(a.out.api.P(50)), fl(g.out.api.P(50))), "", "")
	r.Add(sec, base+"POST /broadcast, p50 / max", benchkit.Millis(g.out.api.P(50))+" / "+benchkit.Millis(g.out.api.Max()), "1.00", "", "")

	r.Add(sec, "RSS per display", fmt.Sprintf("%.1f KiB", a.rssPerConn(s.n)), ratio(a.rssPerConn(s.n), g.rssPerConn(s.n)), "", "")
	r.Add(sec, base+"RSS per connection", fmt.Sprintf("%.1f KiB", g.rssPerConn(s.n)), "1.00", "", "")
	r.Add(sec, "  heap / stacks / goroutines per display", a.perConnLine(s.n), "", "", "")
	r.Add(sec, "  "+base+"same", g.perConnLine(s.n), "", "", "")
	r.Add(sec, "process before -> connected -> left", a.memLine(), "", "", "")
	r.Add(sec, "  "+base+"same", g.memLine(), "", "", "")
	r.Add(sec, "messages read per display", fmt.Sprintf("%.1f, %.1f KiB (calls, queue events)", a.msgsPerDisplay, a.kibPerDisplay), "", "", "")

	r.Add(sec, "hub drops: slow / silent clients", fmt.Sprintf("%d / %d", s.slow, s.silent), "", "", "")
	r.Invariant(sec, fmt.Sprintf("display calls missed (of %s)", thousands(calls*s.n)), a.out.missed)
	r.Invariant(sec, "calls read twice by a display", a.twice)
	r.Invariant(sec, base+"missed + read twice", g.out.missed+g.twice)

	if s.hubConns != s.n {
		r.Note("%s displays: the hub counted %d connections once every display had its snapshot, want %d", thousands(s.n), s.hubConns, s.n)
	}
	for _, x := range []struct {
		who string
		res *runResult
	}{{"appliance", a}, {"bare gorilla", g}} {
		if x.res.lost > 0 {
			r.Note("%s displays, %s: %d connections ended during the run (first: %s)", thousands(s.n), x.who, x.res.lost, x.res.lostReason)
		}
		if x.res.timedOut > 0 {
			r.Note("%s displays, %s: %d calls had not reached every display after %s", thousands(s.n), x.who, x.res.timedOut, b.o.wait)
		}
		if x.res.other > 0 {
			r.Note("%s displays, %s: %d call events for tickets the benchmark did not call", thousands(s.n), x.who, x.res.other)
		}
	}
	if s.bareDrops > 0 {
		r.Note("%s displays: the baseline dropped %d messages on full queues", thousands(s.n), s.bareDrops)
	}
}

// notes explains how the figures were measured.
func (b *bench) notes() {
	b.r.Note("call -> display is the moment a display read the call event minus the moment the call-next API's 200 answer was read, "+
		"over every display and %d calls per size (after one warm-up call). Negative when the event arrived before the answer, and "+
		"nothing is clamped: call-next publishes the call to the hub, then still reads the desk, the current ticket and the service "+
		"before it answers, so most displays have the call first. The baseline is measured the same way from the answer of its "+
		"POST /broadcast, which answers as soon as the message is queued; first -> last display (the spread of one call's receipts) "+
		"compares the fan-out itself.", b.o.calls)
	b.r.Note("baseline: a bare gorilla/websocket server in this process (per-connection queue and writer goroutine, as in gorilla's chat example; " +
		"no channels, seq, snapshot or pings) broadcasting the appliance's own call event, its ticket code changed, to the same number of connections " +
		"from the same clients")
	b.r.Note("RSS is of the whole process (appliance, baseline server and the clients: one process on loopback), read from /proc/self/status " +
		"after a GC, before and after connecting; per display = delta / displays. Both sides use the same clients, so the difference between " +
		"the two per-connection figures is the appliance's own")
	b.r.Note("each call: call-next, wait until every display has it (at most %s), start, finish, then %s pause; "+
		"the coalesced queue event (250 ms after a change) is read by every display too", b.o.wait, b.o.gap)
}
