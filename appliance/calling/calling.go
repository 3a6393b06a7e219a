// Package calling decides who is called next at a desk ("a chi tocca").
//
// The operator does not choose: Order ranks the waiting tickets of a desk's
// services and says why each one is where it is. It is a pure function of its
// inputs (the clock comes in as now) because the store calls it inside the
// call-next transaction and again for "your position in the queue": the same
// inputs must always give the same order, on every desk and on every replay.
//
// The rules, in order (see DESIGN.md, "Call next"):
//
//  0. returning tickets (a second check-in after being served) go first, by
//     check-in time: they come back without queueing again;
//  1. due, on-time tickets by urgency = wait / target wait, times the
//     service's priority weight for priority tickets, so a service breaching
//     its SLA goes first; ties go to the earlier appointment, the earlier
//     check-in, the lower ticket id;
//  2. late arrivals readmitted within the allowed lateness join, by check-in
//     time, at the earliest position that pushes no on-time ticket past its
//     target;
//  3. tickets not yet due are offered only when nothing at all is due, and only
//     for services that allow early calls.
package calling

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"
)

// Candidate is a waiting ticket as the store loads it.
type Candidate struct {
	TicketID       int64
	ServiceID      int64
	ScheduledStart time.Time // appointment (slot) start, UTC
	CheckedInAt    time.Time
	DueAt          time.Time // when the ticket became callable: max(ScheduledStart, CheckedInAt), set by the store
	Priority       bool      // elderly, disabled, pregnant
	Late           bool      // a late arrival readmitted within the allowed lateness
	Returning      bool      // second check-in after being served: returns without queueing again
}

// Service holds the settings of a service that matter for calling.
type Service struct {
	TargetWait     time.Duration // SLA, > 0
	AvgService     time.Duration // average service time, > 0
	Desks          int           // open desks serving this service now, >= 1 (treat <1 as 1)
	PriorityWeight float64       // >= 1; multiplies a priority ticket's urgency (treat <1 as 1)
	EarlyCalls     bool          // may call not-yet-due tickets when nothing at all is due
}

// Rule names the rule that placed a ticket; it is stored with every call.
type Rule string

const (
	RuleReturning       Rule = "returning"
	RuleUrgency         Rule = "urgency"
	RuleLateReadmission Rule = "late_readmission"
	RuleEarly           Rule = "early"
)

// Reason is why a ticket is where it is, stored with every call so a
// supervisor can see it.
type Reason struct {
	Rule           Rule    `json:"rule"`
	Urgency        float64 `json:"urgency"`      // wait/target (x weight), rounded to 4 decimals; 0 for early calls
	WaitSeconds    int64   `json:"wait_seconds"` // now - DueAt (negative for early calls)
	TargetSeconds  int64   `json:"target_seconds"`
	Priority       bool    `json:"priority"`
	PriorityWeight float64 `json:"priority_weight,omitempty"` // the weight applied; only for priority tickets
	Position       int     `json:"position"`                  // 0-based position in the order
	Waiting        int     `json:"waiting"`                   // how many candidates were considered
	Text           string  `json:"text"`                      // one English sentence for a human
}

// Ranked is a candidate in its place, with the reason.
type Ranked struct {
	Candidate
	Reason Reason
}

// Defaults for a service that is missing from the map or misconfigured. They
// exist so that a bad setting neither hides a ticket (a ticket left out of the
// order would never be called) nor divides by zero.
const (
	DefaultTargetWait = 15 * time.Minute
	DefaultAvgService = 5 * time.Minute
)

// urgencyEpsilon is the resolution at which urgencies count as equal, so that
// 10m/15m x 1.5 ties with 15m/15m despite floating point.
const urgencyEpsilon = 1e-9

func normalize(s Service) Service {
	if s.TargetWait <= 0 {
		s.TargetWait = DefaultTargetWait
	}
	if s.AvgService <= 0 {
		s.AvgService = DefaultAvgService
	}
	if s.Desks < 1 {
		s.Desks = 1
	}
	if !(s.PriorityWeight >= 1) { // also catches NaN
		s.PriorityWeight = 1
	}
	return s
}

// entry is a candidate with the figures Order needs, computed once.
type entry struct {
	c       *Candidate
	svc     Service // normalized
	due     time.Time
	wait    time.Duration // now - due; negative when not yet due
	urgency float64       // wait/target x weight, unrounded
	key     int64         // urgency quantized to urgencyEpsilon, for a transitive comparison
}

// Order ranks the candidates; see the package comment for the rules. The
// result holds every returning ticket and every due ticket exactly once, or,
// when there is none, the not-yet-due tickets of services with EarlyCalls. An
// empty result means nobody to call. Candidates whose DueAt is zero get
// max(ScheduledStart, CheckedInAt), as the store would have set it.
//
// Returning tickets are taken whether or not DueAt has passed: they have been
// served already and only come back, so there is no appointment to wait for.
func Order(now time.Time, cands []Candidate, services map[int64]Service) []Ranked {
	if len(cands) == 0 {
		return nil
	}
	es := make([]entry, len(cands))
	var returning, onTime, late, early []*entry
	for i := range cands {
		c := &cands[i]
		e := &es[i]
		e.c = c
		e.svc = normalize(services[c.ServiceID])
		e.due = c.DueAt
		if e.due.IsZero() {
			e.due = c.ScheduledStart
			if c.CheckedInAt.After(e.due) {
				e.due = c.CheckedInAt
			}
		}
		e.wait = now.Sub(e.due)
		e.urgency = float64(e.wait) / float64(e.svc.TargetWait)
		if c.Priority {
			e.urgency *= e.svc.PriorityWeight
		}
		e.key = quantize(e.urgency)
		switch {
		case c.Returning:
			returning = append(returning, e)
		case e.due.After(now):
			if e.svc.EarlyCalls {
				early = append(early, e)
			}
		case c.Late:
			late = append(late, e)
		default:
			onTime = append(onTime, e)
		}
	}

	// Every comparison ends in TicketID, so the order is total and does not
	// depend on the order of the input.
	slices.SortFunc(returning, byCheckIn)
	slices.SortFunc(onTime, func(a, b *entry) int {
		if c := cmp.Compare(b.key, a.key); c != 0 {
			return c
		}
		if c := a.c.ScheduledStart.Compare(b.c.ScheduledStart); c != 0 {
			return c
		}
		return byCheckIn(a, b)
	})
	slices.SortFunc(late, byCheckIn)

	out := make([]Ranked, 0, len(returning)+len(onTime)+len(late))
	if len(returning)+len(onTime)+len(late) > 0 {
		base := append(returning, onTime...)
		gaps := lateGaps(now, base, len(returning), len(late), step(cands, services))
		first := true // the first urgency ticket is the one with the longest relative wait
		k := 0
		for g := 0; g <= len(base); g++ {
			for ; k < len(late) && gaps[k] == g; k++ {
				out = appendRanked(out, late[k], RuleLateReadmission, false, len(cands))
			}
			if g == len(base) {
				break
			}
			e := base[g]
			rule := RuleUrgency
			if g < len(returning) {
				rule = RuleReturning
			}
			out = appendRanked(out, e, rule, first && rule == RuleUrgency, len(cands))
			if rule == RuleUrgency {
				first = false
			}
		}
		return out
	}

	slices.SortFunc(early, func(a, b *entry) int {
		if c := a.due.Compare(b.due); c != 0 {
			return c
		}
		return byCheckIn(a, b)
	})
	for _, e := range early {
		out = appendRanked(out, e, RuleEarly, false, len(cands))
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func byCheckIn(a, b *entry) int {
	if c := a.c.CheckedInAt.Compare(b.c.CheckedInAt); c != 0 {
		return c
	}
	return cmp.Compare(a.c.TicketID, b.c.TicketID)
}

// quantize maps an urgency onto a grid of urgencyEpsilon. Comparing "within
// epsilon" directly is not transitive, and a sort with an intransitive
// comparison could depend on the input order; integer grid points cannot.
func quantize(u float64) int64 {
	q := math.Round(u / urgencyEpsilon)
	switch {
	case q >= math.MaxInt64:
		return math.MaxInt64
	case q <= math.MinInt64:
		return math.MinInt64
	}
	return int64(q)
}

// step is the expected time between two calls at the desk: the mean, over the
// services present among the candidates, of AvgService/Desks. It is at least
// 1ns so that positions stay meaningful.
func step(cands []Candidate, services map[int64]Service) time.Duration {
	seen := make(map[int64]struct{}, 4)
	var sum time.Duration
	for i := range cands {
		id := cands[i].ServiceID
		if _, ok := seen[id]; ok {
			continue
		}
		seen[id] = struct{}{}
		s := normalize(services[id])
		sum += s.AvgService / time.Duration(s.Desks)
	}
	if len(seen) == 0 {
		return 1
	}
	return max(sum/time.Duration(len(seen)), 1)
}

// lateGaps places the late tickets (already in check-in order). base is the
// returning tickets (the first nReturning) followed by the on-time tickets in
// urgency order. The result gives, for the k-th late ticket, the number of base
// tickets ahead of it.
//
// Rule 2 read literally: the ticket at index j is called at now + j*step;
// inserting at i moves every ticket at j >= i to j+1; i is allowed if every
// on-time ticket at j >= i then still meets now + (j+1)*step - DueAt <= target.
// Two refinements make it well defined: a late ticket never goes ahead of the
// returning tickets, nor ahead of a late ticket that checked in before it
// (otherwise, when everyone has slack, each new late arrival would jump ahead
// of the previous one). Inserting at the very end always qualifies, which is
// "append at the end of the due list".
//
// Because late tickets go in behind one another, when the k-th (1-based) is
// placed every earlier one is ahead of any base ticket it could push, so the
// on-time ticket at base index m would end up at index m+k. It may go there if
// (m+k)*step <= target - wait, i.e. k <= slack(m) = floor((target-wait)/step)
// - m. So the k-th late ticket goes after the last base ticket whose slack is
// below k: with suffix minima of the slack that is one forward scan, O(n),
// instead of re-checking the whole list for every late ticket.
func lateGaps(now time.Time, base []*entry, nReturning, nLate int, step time.Duration) []int {
	if nLate == 0 {
		return nil
	}
	n := len(base)
	// Slack only needs comparing with k in 1..nLate; clamping keeps it there
	// and out of integer overflow for absurd waits.
	hi := int64(nLate) + 1
	sufMin := make([]int64, n+1)
	sufMin[n] = hi
	for m := n - 1; m >= 0; m-- {
		s := hi // returning tickets are never pushed past a target
		if m >= nReturning {
			e := base[m]
			s = clamp(floorDiv(int64(e.svc.TargetWait-e.wait), int64(step)), -1, int64(n)+hi) - int64(m)
		}
		sufMin[m] = min(s, sufMin[m+1])
	}
	gaps := make([]int, nLate)
	g := nReturning
	for k := 1; k <= nLate; k++ {
		// sufMin is non-decreasing and k grows, so g only moves forward.
		for g < n && sufMin[g] < int64(k) {
			g++
		}
		gaps[k-1] = g
	}
	return gaps
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

func clamp(v, lo, hi int64) int64 { return max(lo, min(v, hi)) }

func appendRanked(out []Ranked, e *entry, rule Rule, longest bool, waiting int) []Ranked {
	r := Reason{
		Rule:          rule,
		WaitSeconds:   int64(e.wait / time.Second),
		TargetSeconds: int64(e.svc.TargetWait / time.Second),
		Priority:      e.c.Priority,
		Position:      len(out),
		Waiting:       waiting,
	}
	if rule != RuleEarly {
		r.Urgency = math.Round(e.urgency*1e4) / 1e4
		if e.c.Priority {
			r.PriorityWeight = e.svc.PriorityWeight
		}
	}
	r.Text = text(r, e, longest)
	return append(out, Ranked{Candidate: *e.c, Reason: r})
}

// text is the sentence a supervisor reads next to a call.
func text(r Reason, e *entry, longest bool) string {
	wait, target := humanDuration(e.wait), humanDuration(e.svc.TargetWait)
	switch r.Rule {
	case RuleReturning:
		return fmt.Sprintf("Returning after being served, comes back without queueing again (waiting %s)", wait)
	case RuleLateReadmission:
		return fmt.Sprintf("Late arrival readmitted where no on-time ticket is pushed past its target: waited %s of %s", wait, target)
	case RuleEarly:
		return fmt.Sprintf("Nothing is due: called early, %s before its time", humanDuration(-e.wait))
	}
	lead := "Wait relative to target"
	if longest {
		lead = "Longest wait relative to target"
	}
	if r.Priority {
		return fmt.Sprintf("%s, priority ticket: %s of %s x %s (%.2f)", lead, wait, target,
			strconv.FormatFloat(r.PriorityWeight, 'f', -1, 64), e.urgency)
	}
	return fmt.Sprintf("%s: %s of %s (%.2f)", lead, wait, target, e.urgency)
}

// humanDuration writes 45s, 18m or 1h05m: minutes are what a supervisor
// compares, seconds only matter under a minute.
func humanDuration(d time.Duration) string {
	if d < 0 {
		return "-" + humanDuration(-d)
	}
	// strconv rather than fmt: this runs for every ranked ticket.
	switch {
	case d < time.Minute:
		return strconv.FormatInt(int64(d/time.Second), 10) + "s"
	case d < time.Hour:
		return strconv.FormatInt(int64(d/time.Minute), 10) + "m"
	}
	m := int64(d % time.Hour / time.Minute)
	pad := ""
	if m < 10 {
		pad = "0"
	}
	return strconv.FormatInt(int64(d/time.Hour), 10) + "h" + pad + strconv.FormatInt(m, 10) + "m"
}

// Position returns the 0-based position of ticket id among the tickets of its
// own service in Order, and the estimated wait
//
//	estWait = (pos+1) × AvgService / Desks
//
// of that service: the citizens ahead of it plus the one each desk is serving
// now, shared among the open desks, with no credit for service time already
// elapsed, so the estimate errs long. ok is false when id is not in Order's
// result (unknown, or not yet due while something else is due).
func Position(now time.Time, cands []Candidate, services map[int64]Service, id int64) (pos int, estWait time.Duration, ok bool) {
	ranked := Order(now, cands, services)
	at := slices.IndexFunc(ranked, func(r Ranked) bool { return r.TicketID == id })
	if at < 0 {
		return 0, 0, false
	}
	svcID := ranked[at].ServiceID
	for _, r := range ranked[:at] {
		if r.ServiceID == svcID {
			pos++
		}
	}
	s := normalize(services[svcID])
	return pos, time.Duration(int64(pos+1) * int64(s.AvgService) / int64(s.Desks)), true
}
