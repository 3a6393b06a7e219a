package console_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"testing"

	"avanti/appliance/browsertest"
	"avanti/console"
)

// moduleTab is a tab on the console's assets alone (no appliance), where a
// test can import the modules and call them.
func moduleTab(t *testing.T) *tab {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("/console/", http.StripPrefix("/console/", console.Handler()))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	b := newTab(t, 800, 600)
	b.Open(srv.URL + "/console/a/" + console.Version() + "/console.css")
	return b
}

// run imports module and evaluates expr with it as m; the value comes back
// as JSON.
func run(b *tab, module, expr string) string {
	b.T.Helper()
	return browsertest.EvalAwait[string](b, `import("./`+module+`").then(m => JSON.stringify(`+expr+`))`)
}

func decodeJSON[T any](t *testing.T, raw string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(raw), &v); err != nil {
		t.Fatalf("%s: %v", raw, err)
	}
	return v
}

func TestPagesAreForTheirRoles(t *testing.T) {
	b := moduleTab(t)
	cases := []struct {
		roles, role string
		want        bool
	}{
		{"admin operator", "operator", true},
		{"admin operator", "backoffice", false},
		{"admin", "admin", true},
		{"", "operator", true},
		{"admin backoffice", "operator", false},
	}
	for _, c := range cases {
		got := run(b, "logic.js", `m.allowed(`+browsertest.JS(c.roles)+`, `+browsertest.JS(c.role)+`)`)
		if got != browsertest.JS(c.want) {
			t.Errorf("allowed(%q, %q) = %s, want %v", c.roles, c.role, got, c.want)
		}
	}
}

// After signing in the console goes back to the page asked for, and only
// to a page of the console.
func TestSignInGoesBackOnlyToTheConsole(t *testing.T) {
	b := moduleTab(t)
	cases := map[string]string{
		"/console/desk":             "/console/desk",
		"/console/workplan?date=1":  "/console/workplan?date=1",
		"https://evil.example/":     "/console/",
		"//evil.example/console/":   "/console/",
		"/api/v1/auth/logout":       "/console/",
		"/console/login?next=/x":    "/console/",
		"/console/\\\\evil.example": "/console/",
		"":                          "/console/",
	}
	for in, want := range cases {
		if got := decodeJSON[string](t, run(b, "logic.js", `m.safeNext(`+browsertest.JS(in)+`)`)); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDeskOpensWithAssignedThenLastServices(t *testing.T) {
	b := moduleTab(t)
	cases := []struct {
		name                       string
		assigned, stored, existing []int
		want                       []int
	}{
		{"assigned first", []int{2, 3}, []int{1}, []int{1, 2, 3}, []int{2, 3}},
		{"no assignment: last choice", nil, []int{1, 3}, []int{1, 2, 3}, []int{1, 3}},
		{"last choice of a service gone", []int{}, []int{1, 9}, []int{1, 2}, []int{1}},
		{"assigned services gone: last choice", []int{9}, []int{2}, []int{1, 2}, []int{2}},
		{"nothing", nil, nil, []int{1, 2}, []int{}},
	}
	for _, c := range cases {
		got := decodeJSON[[]int](t, run(b, "logic.js", `m.defaultServices(`+browsertest.JS(c.assigned)+`, `+browsertest.JS(c.stored)+`, `+browsertest.JS(c.existing)+`)`))
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

// A reload finds the desk the operator has open on the appliance, whatever
// this browser remembers.
func TestDeskOfTheOperatorSurvivesAReload(t *testing.T) {
	b := moduleTab(t)
	desks := `[{id: 1, state: "open", operator_id: 9}, {id: 2, state: "paused", operator_id: 7}, {id: 3, state: "closed", operator_id: 7}, {id: 4, state: "closed"}]`
	cases := []struct {
		user, stored int
		want         string
	}{
		{7, 4, `{"desk":2,"open":true}`},
		{8, 4, `{"desk":4,"open":false}`},
		{8, 99, `{"desk":null,"open":false}`},
	}
	for _, c := range cases {
		got := run(b, "logic.js", `(r => ({desk: r.desk && r.desk.id, open: r.open}))(m.myDesk(`+desks+`, `+browsertest.JS(c.user)+`, `+browsertest.JS(c.stored)+`))`)
		if got != c.want {
			t.Errorf("user %d, stored %d: %s, want %s", c.user, c.stored, got, c.want)
		}
	}
}

func TestSupervisorGroupsDesksByRoom(t *testing.T) {
	b := moduleTab(t)
	got := decodeJSON[[]struct {
		Room  string `json:"room"`
		Desks []int  `json:"desks"`
	}](t, run(b, "logic.js", `m.groupByRoom([
		{id: 5, room_id: 2, room_name: "Sala B", number: "10"},
		{id: 1, room_id: 1, room_name: "Sala A", number: "2"},
		{id: 4, room_id: 2, room_name: "Sala B", number: "9"},
		{id: 2, room_id: 1, room_name: "Sala A", number: "1"}]).map(r => ({room: r.room_name, desks: r.desks.map(d => d.id)}))`))
	want := []struct {
		Room  string `json:"room"`
		Desks []int  `json:"desks"`
	}{{"Sala A", []int{2, 1}}, {"Sala B", []int{4, 5}}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func TestTimeInState(t *testing.T) {
	b := moduleTab(t)
	cases := map[string]string{
		`m.elapsed("2026-11-23T08:00:00Z", Date.parse("2026-11-23T08:00:59Z"))`: "0:59",
		`m.elapsed("2026-11-23T08:00:00Z", Date.parse("2026-11-23T08:12:05Z"))`: "12:05",
		`m.elapsed("2026-11-23T08:00:00Z", Date.parse("2026-11-23T09:02:03Z"))`: "1:02:03",
		`m.elapsed("2026-11-23T08:00:00Z", Date.parse("2026-11-23T07:00:00Z"))`: "0:00",
		`m.elapsed("", 0)`: "",
	}
	for expr, want := range cases {
		if got := decodeJSON[string](t, run(b, "logic.js", expr)); got != want {
			t.Errorf("%s = %q, want %q", expr, got, want)
		}
	}
}

// "Perché questo numero": the call's stored reason in words.
func TestWhyThisNumber(t *testing.T) {
	b := moduleTab(t)
	tr := `(k, p) => k + (p ? " " + JSON.stringify(p) : "")`
	got := decodeJSON[string](t, run(b, "logic.js", `m.reasonText({rule: "urgency", urgency: 1.5, wait_seconds: 1350, target_seconds: 900, priority: true, priority_weight: 2, waiting: 4}, `+tr+`)`))
	want := `why.urgency {"wait":22,"early":-22,"target":15,"urgency":"1.50","waiting":4,"weight":2} why.priority {"wait":22,"early":-22,"target":15,"urgency":"1.50","waiting":4,"weight":2} why.waiting {"wait":22,"early":-22,"target":15,"urgency":"1.50","waiting":4,"weight":2}`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if got := decodeJSON[string](t, run(b, "logic.js", `m.reasonText(null, `+tr+`)`)); got != "" {
		t.Errorf("no reason: %q", got)
	}
}

// The agenda editor's rows become the API's body (docs/console.md).
func TestAgendaRowsBecomeTheBody(t *testing.T) {
	b := moduleTab(t)
	got := run(b, "logic.js", `m.agendaBody({name: " Orario ", valid_from: "2026-11-23", valid_to: "", open_on_holidays: false},
		[{weekday: "1", start: "08:30", end: "12:30", slot_minutes: "15", places: "2"}],
		[{day: "2026-12-08", kind: "closed", start: "", end: "", slot_minutes: "15", places: "1"},
		 {day: "2026-12-07", kind: "closed", start: "14:00", end: "17:00", slot_minutes: "15", places: "1"},
		 {day: "2026-12-24", kind: "open", start: "09:00", end: "10:00", slot_minutes: "30", places: "1"}])`)
	want := `{"name":"Orario","valid_from":"2026-11-23","open_on_holidays":false,"ranges":[{"weekday":1,"start":"08:30","end":"12:30","slot_minutes":15,"places":2}],` +
		`"exceptions":[{"day":"2026-12-08","kind":"closed"},{"day":"2026-12-07","kind":"closed","start":"14:00","end":"17:00"},` +
		`{"day":"2026-12-24","kind":"open","start":"09:00","end":"10:00","slot_minutes":30,"places":1}]}`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestAgendaValidationPointsAtTheField(t *testing.T) {
	b := moduleTab(t)
	r := func(weekday int, start, end string, slot, places int) string {
		return fmt.Sprintf(`{weekday: %d, start: %q, end: %q, slot_minutes: %d, places: %d}`, weekday, start, end, slot, places)
	}
	cases := []struct {
		name, body string
		want       map[string]string
	}{
		{"fine", `{name: "A", valid_from: "2026-11-23", ranges: [` + r(1, "08:30", "12:30", 15, 2) + `, ` + r(0, "00:00", "24:00", 60, 1) + `], exceptions: [{day: "2026-12-08", kind: "closed"}]}`, map[string]string{}},
		{"end before start", `{name: "A", valid_from: "2026-11-23", ranges: [` + r(1, "08:30", "12:30", 15, 2) + `, ` + r(2, "12:00", "11:00", 15, 1) + `], exceptions: []}`,
			map[string]string{"ranges[1].end": "invalid.end_after_start"}},
		{"slot longer than the range", `{name: "A", valid_from: "2026-11-23", ranges: [` + r(1, "08:30", "09:00", 45, 2) + `], exceptions: []}`,
			map[string]string{"ranges[0].slot_minutes": "invalid.slot_too_long"}},
		{"overlap", `{name: "A", valid_from: "2026-11-23", ranges: [` + r(1, "08:30", "12:30", 15, 2) + `, ` + r(1, "12:00", "13:00", 15, 2) + `], exceptions: []}`,
			map[string]string{"ranges[1].start": "invalid.overlap"}},
		{"bad time, weekday and no name", `{name: "", valid_from: "2026-11-23", valid_to: "2026-11-01", ranges: [` + r(7, "8.30", "24:00", 15, -1) + `],
			exceptions: [{day: "", kind: "open", start: "09:00", end: "09:00", slot_minutes: 15, places: 1}, {day: "2026-10-01", kind: "closed", start: "10:00", end: ""}]}`,
			map[string]string{"name": "invalid.required", "valid_to": "invalid.to_before_from", "ranges[0].weekday": "invalid.required", "ranges[0].start": "invalid.time",
				"ranges[0].places": "invalid.range", "exceptions[0].day": "invalid.required", "exceptions[0].end": "invalid.end_after_start",
				"exceptions[1].day": "invalid.outside_validity", "exceptions[1].end": "invalid.time"}},
		{"no ranges", `{name: "A", valid_from: "2026-11-23", ranges: [], exceptions: []}`, map[string]string{"ranges": "invalid.no_ranges"}},
	}
	for _, c := range cases {
		got := decodeJSON[map[string]string](t, run(b, "logic.js", `Object.fromEntries(Object.entries(m.validateAgenda(`+c.body+`)).map(([k, v]) => [k, v[0]]))`))
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

// The appliance names the row of a wrong agenda in its message: the page
// puts the message next to that field.
func TestAgendaRefusalFindsItsField(t *testing.T) {
	b := moduleTab(t)
	cases := map[string]string{
		"ranges[1].end: must be after start":                 `{"field":"ranges[1].end","text":"must be after start"}`,
		"ranges[1]: overlaps ranges[0] (Monday 09:00-12:00)": `{"field":"ranges[1]","text":"overlaps ranges[0] (Monday 09:00-12:00)"}`,
		"exceptions[0].day: 2027-01-04 is outside":           `{"field":"exceptions[0].day","text":"2027-01-04 is outside"}`,
		"valid_from: required":                               `{"field":"valid_from","text":"required"}`,
		"something else":                                     `null`,
	}
	for msg, want := range cases {
		if got := run(b, "logic.js", `m.fieldOfMessage({message: `+browsertest.JS(msg)+`})`); got != want {
			t.Errorf("%q: %s, want %s", msg, got, want)
		}
	}
}

func TestServiceValidationPointsAtTheField(t *testing.T) {
	b := moduleTab(t)
	ok := `{name: "Anagrafe", prefix: "A", site_id: 1, target_wait_min: 15, avg_service_min: 10, allowed_lateness_min: 10, checkin_early_min: 30, min_notice_min: 0, max_days_ahead: 60, walkin_quota_per_hour: 2, overbooking_pct: 0, priority_weight: 2}`
	cases := []struct {
		name, change string
		want         map[string]string
	}{
		{"fine", `{}`, map[string]string{}},
		{"prefix", `{prefix: "a1"}`, map[string]string{"prefix": "invalid.prefix"}},
		{"missing name and wait", `{name: " ", target_wait_min: null}`, map[string]string{"name": "invalid.required", "target_wait_min": "invalid.required"}},
		{"out of range", `{overbooking_pct: 150, priority_weight: 0.5, max_days_ahead: 1.5}`, map[string]string{"overbooking_pct": "invalid.range", "priority_weight": "invalid.range", "max_days_ahead": "invalid.integer"}},
	}
	for _, c := range cases {
		got := decodeJSON[map[string]string](t, run(b, "logic.js", `Object.fromEntries(Object.entries(m.validateService({...`+ok+`, ...`+c.change+`})).map(([k, v]) => [k, v[0]]))`))
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

func TestQuietHoursText(t *testing.T) {
	b := moduleTab(t)
	cases := map[string]string{
		"12:30-14:00, 18:00 - 19:00": `[{"from":"12:30","to":"14:00"},{"from":"18:00","to":"19:00"}]`,
		"":                           `[]`,
		"12:30":                      `null`,
		"25:00-26:00":                `null`,
	}
	for in, want := range cases {
		if got := run(b, "logic.js", `m.quietHours(`+browsertest.JS(in)+`)`); got != want {
			t.Errorf("quietHours(%q) = %s, want %s", in, got, want)
		}
	}
	if got := decodeJSON[string](t, run(b, "logic.js", `m.quietHoursText([{from: "12:30", to: "14:00"}, {from: "18:00", to: "19:00"}])`)); got != "12:30-14:00, 18:00-19:00" {
		t.Errorf("quietHoursText: %q", got)
	}
}

// Every POST carries an Idempotency-Key and the CSRF token; clicks of one
// action before the appliance answered, or just after, share one key (a
// double click acts once), a later one gets a new key; a network failure
// keeps the key for the retry.
func TestIdempotencyKeyPerIntent(t *testing.T) {
	b := moduleTab(t)
	got := decodeJSON[[]string](t, browsertest.EvalAwait[string](b, `import("./api.js").then(async ({api, setCSRF, Intent}) => {
		const seen = [];
		let fail = false;
		window.fetch = async (url, init) => {
			seen.push({url, method: init.method, key: init.headers["Idempotency-Key"] || "", csrf: init.headers["X-CSRF-Token"] || ""});
			await new Promise(r => setTimeout(r, 20));
			if (fail) throw new TypeError("network");
			return new Response(JSON.stringify({ok: true}), {status: 200, headers: {"Content-Type": "application/json"}});
		};
		setCSRF("tok");
		const intent = new Intent(150);
		await Promise.all([
			intent.run("call-next", key => api("POST", "/desks/1/call-next", null, {key})),
			intent.run("call-next", key => api("POST", "/desks/1/call-next", null, {key})),
		]);
		await intent.run("call-next", key => api("POST", "/desks/1/call-next", null, {key}));
		await new Promise(r => setTimeout(r, 300));
		await intent.run("call-next", key => api("POST", "/desks/1/call-next", null, {key}));
		await intent.run("start", key => api("POST", "/desks/1/start", null, {key}));
		await intent.run("call-next", key => api("POST", "/desks/1/call-next", null, {key}));
		fail = true;
		try { await intent.run("finish", key => api("POST", "/desks/1/finish", null, {key})); } catch {}
		fail = false;
		await intent.run("finish", key => api("POST", "/desks/1/finish", null, {key}));
		await api("GET", "/desks");
		const k = seen.map(s => s.key);
		const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
		return JSON.stringify([
			"first two share a key " + (k[0] === k[1]),
			"one just after the answer too " + (k[2] === k[0]),
			"a later one is new " + (k[3] !== k[0]),
			"after another action it is new " + (k[5] !== k[3]),
			"retry after a network failure keeps it " + (k[6] === k[7]),
			"uuid " + uuid.test(k[0]),
			"GET has none " + (k[8] === ""),
			"csrf on POST " + seen.slice(0, 8).every(s => s.csrf === "tok"),
			"no csrf on GET " + (seen[8].csrf === ""),
			"url " + seen[0].url,
		]);
	})`))
	want := []string{"first two share a key true", "one just after the answer too true", "a later one is new true", "after another action it is new true", "retry after a network failure keeps it true", "uuid true",
		"GET has none true", "csrf on POST true", "no csrf on GET true", "url /api/v1/desks/1/call-next"}
	if !slices.Equal(got, want) {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

// The WebSocket client is signage's: one seq per channel, a gap or a new
// epoch asks for a snapshot.
func TestLiveClientSeqPerChannel(t *testing.T) {
	b := moduleTab(t)
	got := decodeJSON[[]string](t, browsertest.EvalAwait[string](b, `import("./live.js").then(({Live}) => {
		const log = [];
		const l = new Live({url: () => "", onSnapshot: m => log.push("snapshot"), onEvent: (m, {gap}) => log.push(m.channel + ":" + m.seq + (gap ? " gap" : ""))});
		l.send = m => { log.push("send " + m.type); return true; };
		l.receive({type: "snapshot", channel: "owner:1:desks", epoch: "e1", seq: 3, seqs: {"owner:1:desks": 3, "owner:1:services": 10}});
		l.receive({type: "queue", channel: "owner:1:services", epoch: "e1", seq: 11});
		l.receive({type: "queue", channel: "owner:1:services", epoch: "e1", seq: 11});
		l.receive({type: "desk", channel: "owner:1:desks", epoch: "e1", seq: 5});
		l.receive({type: "desk", channel: "owner:1:desks", epoch: "e2", seq: 1});
		return JSON.stringify(log);
	})`))
	want := []string{"snapshot", "owner:1:services:11", "send snapshot", "owner:1:desks:5 gap", "owner:1:desks:1 gap"}
	if !slices.Equal(got, want) {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}
