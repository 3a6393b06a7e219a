package calling

import (
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"
)

// now is the fixed clock of every test: a Tuesday morning at the town hall.
var now = time.Date(2026, 3, 10, 10, 0, 0, 0, time.UTC)

func min_(m float64) time.Time { return now.Add(time.Duration(m * float64(time.Minute))) }

// ticket builds an on-time ticket of service svc due at now+due minutes
// (negative: due that long ago), checked in before its appointment.
func ticket(id, svc int64, due float64) Candidate {
	return Candidate{TicketID: id, ServiceID: svc, ScheduledStart: min_(due), CheckedInAt: min_(due - 10), DueAt: min_(due)}
}

func lateTicket(id, svc int64, checkedIn float64) Candidate {
	return Candidate{TicketID: id, ServiceID: svc, ScheduledStart: min_(checkedIn - 10), CheckedInAt: min_(checkedIn), DueAt: min_(checkedIn), Late: true}
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func ids(rs []Ranked) []int64 {
	out := []int64{}
	for _, r := range rs {
		out = append(out, r.TicketID)
	}
	return out
}

func svc(target, avg float64) Service {
	return Service{TargetWait: time.Duration(target * float64(time.Minute)), AvgService: time.Duration(avg * float64(time.Minute)), Desks: 1, PriorityWeight: 1}
}

func checkOrder(t *testing.T, cands []Candidate, services map[int64]Service, want []int64) []Ranked {
	t.Helper()
	got := Order(now, cands, services)
	if !slices.Equal(ids(got), want) {
		t.Fatalf("order = %v, want %v", ids(got), want)
	}
	for i, r := range got {
		if r.Reason.Position != i || r.Reason.Waiting != len(cands) {
			t.Errorf("ticket %d: position %d waiting %d, want %d and %d", r.TicketID, r.Reason.Position, r.Reason.Waiting, i, len(cands))
		}
	}
	return got
}

func TestLongestWaitRelativeToTargetGoesFirst(t *testing.T) {
	tests := []struct {
		name     string
		services map[int64]Service
		cands    []Candidate
		want     []int64
		text     string
	}{
		{
			name:     "service breaching its SLA beats a longer absolute wait with a longer target",
			services: map[int64]Service{1: svc(15, 5), 2: svc(60, 5)},
			cands:    []Candidate{ticket(10, 2, -40), ticket(20, 1, -18)},
			want:     []int64{20, 10},
			text:     "Longest wait relative to target: 18m of 15m (1.20)",
		},
		{
			name:     "same service: longer wait first",
			services: map[int64]Service{1: svc(15, 5)},
			cands:    []Candidate{ticket(1, 1, -3), ticket(2, 1, -9), ticket(3, 1, -6)},
			want:     []int64{2, 3, 1},
			text:     "Longest wait relative to target: 9m of 15m (0.60)",
		},
		{
			name:     "just due counts as due",
			services: map[int64]Service{1: svc(15, 5)},
			cands:    []Candidate{ticket(1, 1, 0)},
			want:     []int64{1},
			text:     "Longest wait relative to target: 0s of 15m (0.00)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := checkOrder(t, tt.cands, tt.services, tt.want)
			if got[0].Reason.Rule != RuleUrgency || got[0].Reason.Text != tt.text {
				t.Errorf("reason = %q %q, want urgency %q", got[0].Reason.Rule, got[0].Reason.Text, tt.text)
			}
			if len(got) > 1 && got[1].Reason.Text[:4] != "Wait" {
				t.Errorf("second reason text %q should not claim the longest wait", got[1].Reason.Text)
			}
		})
	}
}

func TestPriorityTicketCountsWithWeight(t *testing.T) {
	prio := ticket(1, 1, -8) // 8m of 15m: 0.53 alone
	prio.Priority = true
	normal := ticket(2, 1, -12) // 12m of 15m: 0.80
	tests := []struct {
		name        string
		weight      float64
		want        []int64
		urgency     float64
		wantWeight  float64
		firstReason string
	}{
		{"weight 2 puts the priority ticket ahead", 2, []int64{1, 2}, 1.0667, 2,
			"Longest wait relative to target, priority ticket: 8m of 15m x 2 (1.07)"},
		{"weight 1.5 draws level and the earlier appointment wins", 1.5, []int64{2, 1}, 0.8, 1.5,
			"Longest wait relative to target: 12m of 15m (0.80)"},
		{"weight 1 is plain waiting order", 1, []int64{2, 1}, 0.5333, 1,
			"Longest wait relative to target: 12m of 15m (0.80)"},
		{"weight below 1 counts as 1", 0.2, []int64{2, 1}, 0.5333, 1,
			"Longest wait relative to target: 12m of 15m (0.80)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := svc(15, 5)
			s.PriorityWeight = tt.weight
			got := checkOrder(t, []Candidate{normal, prio}, map[int64]Service{1: s}, tt.want)
			var p Reason
			for _, r := range got {
				if r.TicketID == 1 {
					p = r.Reason
				}
			}
			if !p.Priority || p.PriorityWeight != tt.wantWeight {
				t.Errorf("priority reason = %+v, want priority with weight %v", p, tt.wantWeight)
			}
			if tt.want[0] == 1 && p.Urgency != tt.urgency {
				t.Errorf("urgency = %v, want %v", p.Urgency, tt.urgency)
			}
			if got[0].Reason.Text != tt.firstReason {
				t.Errorf("text = %q, want %q", got[0].Reason.Text, tt.firstReason)
			}
			for _, r := range got {
				if !r.Priority && r.Reason.PriorityWeight != 0 {
					t.Errorf("non-priority ticket %d carries weight %v", r.TicketID, r.Reason.PriorityWeight)
				}
			}
		})
	}
}

func TestTieGoesToEarlierAppointmentThenEarlierCheckIn(t *testing.T) {
	at := func(id, svcID int64, start, checkedIn float64) Candidate {
		c := Candidate{TicketID: id, ServiceID: svcID, ScheduledStart: min_(start), CheckedInAt: min_(checkedIn)}
		c.DueAt = later(c.ScheduledStart, c.CheckedInAt)
		return c
	}
	weighted := Service{TargetWait: 10 * time.Minute, AvgService: 5 * time.Minute, Desks: 1, PriorityWeight: 1.5}
	tests := []struct {
		name     string
		services map[int64]Service
		cands    []Candidate
		want     []int64
	}{
		{
			name: "equal urgency across services: earlier appointment",
			// 20m of 20m and 10m of 10m are both 1.00.
			services: map[int64]Service{1: svc(10, 5), 2: svc(20, 5)},
			cands:    []Candidate{at(1, 1, -10, -30), at(2, 2, -20, -25)},
			want:     []int64{2, 1},
		},
		{
			name: "same appointment: earlier check-in",
			// Two citizens booked on the same slot, both checked in early.
			services: map[int64]Service{1: svc(15, 5)},
			cands:    []Candidate{at(1, 1, -10, -20), at(2, 1, -10, -25)},
			want:     []int64{2, 1},
		},
		{
			name:     "everything equal: lower ticket id",
			services: map[int64]Service{1: svc(15, 5)},
			cands:    []Candidate{at(3, 1, -10, -20), at(1, 1, -10, -20), at(2, 1, -10, -20)},
			want:     []int64{1, 2, 3},
		},
		{
			name: "weighted priority ties within epsilon",
			// 6m of 10m x 1.5 is 0.8999999999999999 in floating point, 9m
			// of 10m is 0.9: a tie, so the earlier appointment (a walk-in
			// on the 9:40 slot who checked in at 9:54) wins.
			services: map[int64]Service{1: weighted},
			cands: func() []Candidate {
				p := at(1, 1, -20, -6)
				p.Priority = true
				return []Candidate{at(2, 1, -9, -15), p}
			}(),
			want: []int64{1, 2},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkOrder(t, tt.cands, tt.services, tt.want)
		})
	}
}

func TestLateArrivalJoinsWhereNoOnTimeTicketIsPushedPastTarget(t *testing.T) {
	// Step: one call every 5 minutes (both services 5m, one desk).
	services := map[int64]Service{1: svc(15, 5), 2: svc(60, 5)}
	returning := ticket(90, 1, -1)
	returning.Returning = true
	tests := []struct {
		name  string
		cands []Candidate
		want  []int64
	}{
		{
			name: "goes first when everyone has slack",
			// Waits 2m, 1m, 0m: pushed back one call each they are still
			// called within 7m, 11m and 15m of 15m.
			cands: []Candidate{ticket(1, 1, -2), ticket(2, 1, -1), ticket(3, 1, 0), lateTicket(50, 1, -1)},
			want:  []int64{50, 1, 2, 3},
		},
		{
			name: "goes last when someone is at their target",
			// Ticket 2 has waited exactly 15m of 15m: any delay breaches it.
			cands: []Candidate{ticket(1, 1, -16), ticket(2, 1, -15), lateTicket(50, 1, -3)},
			want:  []int64{1, 2, 50},
		},
		{
			name: "goes behind the ticket close to its target",
			// Ticket 1 (14m of 15m) cannot wait another call; tickets of the
			// 60m service can.
			cands: []Candidate{ticket(1, 1, -14), ticket(2, 2, -30), ticket(3, 2, -10), lateTicket(50, 1, -2)},
			want:  []int64{1, 50, 2, 3},
		},
		{
			name: "goes behind a ticket that would be pushed past target later in the queue",
			// Ticket 3 is third (called at +10m) with 4m waited; pushed
			// back it would be called at +15m: 19m of 15m. The late ticket
			// goes behind it, and ticket 4 has an hour of slack.
			cands: []Candidate{ticket(1, 2, -50), ticket(2, 2, -40), ticket(3, 1, -4), ticket(4, 2, 0), lateTicket(50, 1, -1)},
			want:  []int64{1, 2, 3, 50, 4},
		},
		{
			name:  "never before a returning ticket",
			cands: []Candidate{ticket(1, 1, -2), lateTicket(50, 1, -1), returning},
			want:  []int64{90, 50, 1},
		},
		{
			name: "two late arrivals keep their check-in order",
			cands: []Candidate{ticket(1, 1, 0), ticket(2, 1, 0),
				lateTicket(51, 1, -1), lateTicket(50, 1, -2)},
			want: []int64{50, 51, 1, 2},
		},
		{
			name: "the second late arrival goes further back when the first used the slack",
			// Ticket 2 (6m waited) behind the first late arrival is called
			// at +5m: 11m. Behind a second one it would be 16m of 15m.
			cands: []Candidate{ticket(1, 1, 0), ticket(2, 1, -6), lateTicket(50, 1, -2), lateTicket(51, 1, -1)},
			want:  []int64{50, 2, 51, 1},
		},
		{
			name:  "only late tickets due",
			cands: []Candidate{lateTicket(51, 1, -1), lateTicket(50, 1, -2), ticket(1, 1, 5)},
			want:  []int64{50, 51},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := checkOrder(t, tt.cands, services, tt.want)
			for _, r := range got {
				if r.Late && !r.Returning && r.Reason.Rule != RuleLateReadmission {
					t.Errorf("late ticket %d has rule %q", r.TicketID, r.Reason.Rule)
				}
			}
			// Independently of the table: the literal reading of the rule
			// (insert, then check every on-time ticket behind) agrees.
			if want := referenceOrder(now, tt.cands, services); !slices.Equal(ids(got), want) {
				t.Errorf("reference order = %v", want)
			}
		})
	}
}

func TestNotYetDueCalledOnlyWhenNothingIsDue(t *testing.T) {
	early := Service{TargetWait: 15 * time.Minute, AvgService: 5 * time.Minute, Desks: 1, PriorityWeight: 1, EarlyCalls: true}
	noEarly := svc(15, 5)
	services := map[int64]Service{1: early, 2: noEarly}
	tests := []struct {
		name  string
		cands []Candidate
		want  []int64
		rule  Rule
	}{
		{"something due: the not-yet-due are left out", []Candidate{ticket(1, 1, 10), ticket(2, 1, -1), ticket(3, 1, 5)}, []int64{2}, RuleUrgency},
		{"a late arrival counts as due", []Candidate{ticket(1, 1, 10), lateTicket(2, 2, -1)}, []int64{2}, RuleLateReadmission},
		{"nothing due: earliest appointment first", []Candidate{ticket(1, 1, 20), ticket(2, 1, 5), ticket(3, 1, 10)}, []int64{2, 3, 1}, RuleEarly},
		{"nothing due: only services with early calls", []Candidate{ticket(1, 2, 1), ticket(2, 1, 30), ticket(3, 2, 2)}, []int64{2}, RuleEarly},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := checkOrder(t, tt.cands, services, tt.want)
			if got[0].Reason.Rule != tt.rule {
				t.Errorf("rule = %q, want %q", got[0].Reason.Rule, tt.rule)
			}
		})
	}
	t.Run("early reason", func(t *testing.T) {
		c := ticket(7, 1, 10)
		c.Priority = true
		got := Order(now, []Candidate{c}, services)
		want := Reason{Rule: RuleEarly, WaitSeconds: -600, TargetSeconds: 900, Priority: true, Position: 0, Waiting: 1,
			Text: "Nothing is due: called early, 10m before its time"}
		if len(got) != 1 || got[0].Reason != want {
			t.Fatalf("got %+v, want %+v", got, want)
		}
	})
}

func TestEarlyCallsDisabled(t *testing.T) {
	tests := []struct {
		name     string
		services map[int64]Service
	}{
		{"service without early calls", map[int64]Service{1: svc(15, 5)}},
		{"service missing from the settings", map[int64]Service{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Order(now, []Candidate{ticket(1, 1, 5), ticket(2, 1, 1)}, tt.services); len(got) != 0 {
				t.Errorf("nobody should be called, got %v", ids(got))
			}
		})
	}
	if got := Order(now, nil, nil); len(got) != 0 {
		t.Errorf("empty queue gave %v", got)
	}
}

func TestReturningTicketComesFirst(t *testing.T) {
	services := map[int64]Service{1: svc(15, 5), 2: svc(10, 5)}
	ret := func(id, svcID int64, checkedIn float64) Candidate {
		c := Candidate{TicketID: id, ServiceID: svcID, ScheduledStart: min_(-60), CheckedInAt: min_(checkedIn), DueAt: min_(checkedIn), Returning: true}
		return c
	}
	tests := []struct {
		name  string
		cands []Candidate
		want  []int64
	}{
		{"ahead of a ticket breaching its SLA", []Candidate{ticket(1, 2, -30), ret(2, 1, -1)}, []int64{2, 1}},
		{"returning tickets by check-in", []Candidate{ret(3, 1, -1), ticket(1, 1, -5), ret(2, 2, -2)}, []int64{2, 3, 1}},
		{"returning even if flagged late", []Candidate{ticket(1, 1, -5), func() Candidate { c := ret(2, 1, -1); c.Late = true; return c }()}, []int64{2, 1}},
		{"returning keeps early tickets out", []Candidate{ret(2, 1, -1), ticket(1, 1, 5)}, []int64{2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := checkOrder(t, tt.cands, services, tt.want)
			if got[0].Reason.Rule != RuleReturning {
				t.Errorf("rule = %q", got[0].Reason.Rule)
			}
		})
	}
}

func TestPositionAndEstimatedWait(t *testing.T) {
	services := map[int64]Service{
		1: {TargetWait: 15 * time.Minute, AvgService: 6 * time.Minute, Desks: 2, PriorityWeight: 1},
		2: {TargetWait: 30 * time.Minute, AvgService: 10 * time.Minute, Desks: 0, PriorityWeight: 1, EarlyCalls: true},
	}
	cands := []Candidate{ticket(1, 1, -10), ticket(2, 2, -20), ticket(3, 1, -5), ticket(4, 1, -1), ticket(5, 2, 5)}
	// Order: 1 (0.67), 2 (0.67, earlier appointment), 3, 4; 5 not yet due.
	checkOrder(t, cands, services, []int64{2, 1, 3, 4})
	tests := []struct {
		name string
		id   int64
		pos  int
		wait time.Duration
		ok   bool
	}{
		{"first of its service: the one at the desk", 1, 0, 3 * time.Minute, true},
		{"third of its service with two desks", 4, 2, 9 * time.Minute, true},
		{"desks below one count as one", 2, 0, 10 * time.Minute, true},
		{"not yet due while others are due", 5, 0, 0, false},
		{"unknown ticket", 99, 0, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pos, wait, ok := Position(now, cands, services, tt.id)
			if pos != tt.pos || wait != tt.wait || ok != tt.ok {
				t.Errorf("Position(%d) = %d, %v, %v; want %d, %v, %v", tt.id, pos, wait, ok, tt.pos, tt.wait, tt.ok)
			}
		})
	}
	t.Run("not yet due when nothing is due", func(t *testing.T) {
		pos, wait, ok := Position(now, []Candidate{ticket(5, 2, 5), ticket(6, 2, 8)}, services, 6)
		if pos != 1 || wait != 20*time.Minute || !ok {
			t.Errorf("got %d, %v, %v", pos, wait, ok)
		}
	})
}

func TestOrderIsDeterministic(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	services, cands := randomQueue(rng, 300)
	want := Order(now, cands, services)
	for range 20 {
		shuffled := slices.Clone(cands)
		rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		if got := Order(now, shuffled, services); !reflect.DeepEqual(got, want) {
			t.Fatalf("shuffled input gave a different order:\n got %v\nwant %v", ids(got), ids(want))
		}
	}
}

func TestReasonsCarryFiguresAndText(t *testing.T) {
	s := Service{TargetWait: 15 * time.Minute, AvgService: 5 * time.Minute, Desks: 1, PriorityWeight: 1.5}
	services := map[int64]Service{1: s}
	ret := ticket(1, 1, -3)
	ret.Returning = true
	prio := ticket(2, 1, -12)
	prio.Priority = true
	cands := []Candidate{ret, prio, ticket(3, 1, -90), ticket(4, 1, -6), lateTicket(5, 1, -1)}
	got := Order(now, cands, services)
	want := []Reason{
		{Rule: RuleReturning, Urgency: 0.2, WaitSeconds: 180, TargetSeconds: 900, Position: 0, Waiting: 5,
			Text: "Returning after being served, comes back without queueing again (waiting 3m)"},
		{Rule: RuleUrgency, Urgency: 6, WaitSeconds: 5400, TargetSeconds: 900, Position: 1, Waiting: 5,
			Text: "Longest wait relative to target: 1h30m of 15m (6.00)"},
		{Rule: RuleUrgency, Urgency: 1.2, WaitSeconds: 720, TargetSeconds: 900, Priority: true, PriorityWeight: 1.5, Position: 2, Waiting: 5,
			Text: "Wait relative to target, priority ticket: 12m of 15m x 1.5 (1.20)"},
		{Rule: RuleUrgency, Urgency: 0.4, WaitSeconds: 360, TargetSeconds: 900, Position: 3, Waiting: 5,
			Text: "Wait relative to target: 6m of 15m (0.40)"},
		{Rule: RuleLateReadmission, Urgency: 0.0667, WaitSeconds: 60, TargetSeconds: 900, Position: 4, Waiting: 5,
			Text: "Late arrival readmitted where no on-time ticket is pushed past its target: waited 1m of 15m"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d ranked, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].Reason != want[i] {
			t.Errorf("reason %d:\n got %+v\nwant %+v", i, got[i].Reason, want[i])
		}
	}

	t.Run("json is snake_case and omits the weight of ordinary tickets", func(t *testing.T) {
		b, err := json.Marshal(got[3].Reason)
		if err != nil {
			t.Fatal(err)
		}
		const wantJSON = `{"rule":"urgency","urgency":0.4,"wait_seconds":360,"target_seconds":900,"priority":false,"position":3,"waiting":5,"text":"Wait relative to target: 6m of 15m (0.40)"}`
		if string(b) != wantJSON {
			t.Errorf("json = %s\nwant  %s", b, wantJSON)
		}
		b, _ = json.Marshal(got[2].Reason)
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil || m["priority_weight"] != 1.5 {
			t.Errorf("priority reason json = %s", b)
		}
	})
}

func TestHumanDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0s", 45 * time.Second: "45s", 18*time.Minute + 30*time.Second: "18m",
		65 * time.Minute: "1h05m", -10 * time.Minute: "-10m",
	} {
		if got := humanDuration(d); got != want {
			t.Errorf("humanDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

// TestOrderProperties checks, over many random queues, what the store relies
// on: every due candidate exactly once, nothing not yet due beside a due one,
// rule 1 order kept among on-time tickets, and the late insertion agreeing with
// a literal, quadratic reading of rule 2.
func TestOrderProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(2026, 3))
	for iter := range 2000 {
		services, cands := randomQueue(rng, rng.IntN(40))
		got := Order(now, cands, services)

		due := map[int64]bool{}
		for _, c := range cands {
			if c.Returning || !c.DueAt.After(now) {
				due[c.TicketID] = true
			}
		}
		seen := map[int64]bool{}
		for i, r := range got {
			if seen[r.TicketID] {
				t.Fatalf("iter %d: ticket %d twice in %v", iter, r.TicketID, ids(got))
			}
			seen[r.TicketID] = true
			if len(due) > 0 && !due[r.TicketID] {
				t.Fatalf("iter %d: not-yet-due ticket %d called while %d are due", iter, r.TicketID, len(due))
			}
			if r.Reason.Position != i || r.Reason.Waiting != len(cands) {
				t.Fatalf("iter %d: bad position/waiting %+v", iter, r.Reason)
			}
		}
		for id := range due {
			if !seen[id] {
				t.Fatalf("iter %d: due ticket %d missing from %v", iter, id, ids(got))
			}
		}
		if len(due) == 0 {
			for _, c := range cands {
				if services[c.ServiceID].EarlyCalls != seen[c.TicketID] {
					t.Fatalf("iter %d: early ticket %d: early calls %v, called %v", iter, c.TicketID, services[c.ServiceID].EarlyCalls, seen[c.TicketID])
				}
			}
		}
		var prev *Ranked
		for i := range got {
			r := &got[i]
			if r.Reason.Rule != RuleUrgency {
				continue
			}
			if prev != nil && r.Reason.Urgency > prev.Reason.Urgency {
				t.Fatalf("iter %d: urgency order broken: %d (%v) after %d (%v)", iter, r.TicketID, r.Reason.Urgency, prev.TicketID, prev.Reason.Urgency)
			}
			prev = r
		}
		if want := referenceOrder(now, cands, services); !slices.Equal(ids(got), want) {
			t.Fatalf("iter %d: order %v, reference %v", iter, ids(got), want)
		}
	}
}

// referenceOrder is rule 2 read literally, with plain time arithmetic and a
// full re-check of the list for every insertion, to cross-check the linear
// placement in lateGaps. The rule 0 and 1 order is taken from Order itself.
func referenceOrder(now time.Time, cands []Candidate, services map[int64]Service) []int64 {
	got := Order(now, cands, services)
	var list []Ranked
	var late []Ranked
	for _, r := range got {
		switch r.Reason.Rule {
		case RuleEarly:
			return ids(got)
		case RuleLateReadmission:
			late = append(late, r)
		default:
			list = append(list, r)
		}
	}
	st := step(cands, services)
	nRet := 0
	for _, r := range list {
		if r.Returning {
			nRet++
		}
	}
	slices.SortStableFunc(late, func(a, b Ranked) int {
		if c := a.CheckedInAt.Compare(b.CheckedInAt); c != 0 {
			return c
		}
		return int(a.TicketID - b.TicketID)
	})
	lastLate := -1
	for _, l := range late {
		for i := max(nRet, lastLate+1); i <= len(list); i++ {
			ok := true
			for j := i; j < len(list); j++ {
				c := list[j]
				if c.Late || c.Returning {
					continue
				}
				target := normalize(services[c.ServiceID]).TargetWait
				if now.Add(time.Duration(j+1)*st).Sub(c.DueAt) > target {
					ok = false
					break
				}
			}
			if ok {
				list = slices.Insert(list, i, l)
				lastLate = i
				break
			}
		}
	}
	return ids(list)
}

// randomQueue makes a plausible morning: three or four services (one of them
// sometimes missing from the settings), appointments from two hours ago to an
// hour ahead, some priority, late and returning tickets.
func randomQueue(rng *rand.Rand, n int) (map[int64]Service, []Candidate) {
	services := map[int64]Service{}
	nServices := 1 + rng.IntN(3)
	for id := int64(1); id <= int64(nServices); id++ {
		services[id] = Service{
			TargetWait:     time.Duration(5+rng.IntN(56)) * time.Minute,
			AvgService:     time.Duration(1+rng.IntN(15)) * time.Minute,
			Desks:          rng.IntN(4),
			PriorityWeight: []float64{0, 1, 1.5, 2, 3}[rng.IntN(5)],
			EarlyCalls:     rng.IntN(2) == 0,
		}
	}
	allFuture := rng.IntN(5) == 0
	cands := make([]Candidate, n)
	for i := range cands {
		c := Candidate{TicketID: int64(i + 1), ServiceID: 1 + rng.Int64N(int64(nServices)+1)}
		start := -120 + rng.IntN(180)
		if allFuture {
			start = 1 + rng.IntN(60)
		}
		c.ScheduledStart = now.Add(time.Duration(start) * time.Minute)
		c.CheckedInAt = c.ScheduledStart.Add(-time.Duration(rng.IntN(30)) * time.Minute)
		c.Priority = rng.IntN(5) == 0
		switch rng.IntN(10) {
		case 0, 1:
			if !allFuture {
				c.Late = true
				c.CheckedInAt = c.ScheduledStart.Add(time.Duration(1+rng.IntN(15)) * time.Minute)
				if c.CheckedInAt.After(now) {
					c.CheckedInAt = now
				}
			}
		case 2:
			if !allFuture {
				c.Returning = true
				c.CheckedInAt = now.Add(-time.Duration(rng.IntN(10)) * time.Minute)
			}
		}
		c.DueAt = later(c.ScheduledStart, c.CheckedInAt)
		cands[i] = c
	}
	return services, cands
}

func BenchmarkOrder10000(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	services := map[int64]Service{
		1: {TargetWait: 15 * time.Minute, AvgService: 8 * time.Minute, Desks: 3, PriorityWeight: 1.5},
		2: {TargetWait: 30 * time.Minute, AvgService: 12 * time.Minute, Desks: 2, PriorityWeight: 2},
		3: {TargetWait: 20 * time.Minute, AvgService: 5 * time.Minute, Desks: 1, PriorityWeight: 1, EarlyCalls: true},
	}
	cands := make([]Candidate, 10000)
	for i := range cands {
		start := now.Add(-time.Duration(rng.IntN(6*60*60)) * time.Second)
		c := Candidate{TicketID: int64(i + 1), ServiceID: 1 + rng.Int64N(3), ScheduledStart: start, CheckedInAt: start.Add(-5 * time.Minute)}
		c.Priority = rng.IntN(10) == 0
		if rng.IntN(10) == 0 {
			c.Late = true
			c.CheckedInAt = start.Add(10 * time.Minute)
		}
		c.Returning = rng.IntN(200) == 0
		c.DueAt = later(c.ScheduledStart, c.CheckedInAt)
		if c.DueAt.After(now) {
			c.DueAt = now
		}
		cands[i] = c
	}
	b.ReportAllocs()
	for b.Loop() {
		if got := Order(now, cands, services); len(got) != len(cands) {
			b.Fatalf("got %d", len(got))
		}
	}
}
