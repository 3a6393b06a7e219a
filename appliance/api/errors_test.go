package api_test

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"

	"avanti/appliance/testenv"
)

func TestBadInputGetsClearErrors(t *testing.T) {
	t.Parallel()
	env := testenv.NewServer(t, testenv.Options{})
	who := signIn(t, env)
	svc := env.Demo.Services
	deskID := env.Demo.DeskIDs[0]
	if st, raw := who[operator].Do("POST", fmt.Sprintf("/api/v1/desks/%d/open", deskID), map[string]any{"service_ids": []int64{svc["I"]}}); st != 200 {
		t.Fatalf("open desk: %d: %s", st, raw)
	}
	desk := func(action string) string { return fmt.Sprintf("/api/v1/desks/%d/%s", deskID, action) }
	availability := func(query string) string {
		return fmt.Sprintf("/api/v1/services/%d/availability?%s", svc["A"], query)
	}
	huge := []byte(`{"service_id":1,"citizen":{"first_name":"` + strings.Repeat("a", 70<<10) + `"}}`)
	json := []string{"Content-Type", "application/json"}

	cases := []struct {
		name         string
		as           string
		method, path string
		body         any // []byte is sent as is
		headers      []string
		status       int
		code, field  string
	}{
		// Bodies that cannot be read.
		{"malformed JSON", kiosk, "POST", "/api/v1/tickets", []byte(`{"service_id":`), json, 400, "malformed_json", ""},
		{"unquoted key", kiosk, "POST", "/api/v1/tickets", []byte(`{service_id: 1}`), json, 400, "malformed_json", ""},
		{"empty body", kiosk, "POST", "/api/v1/tickets", []byte{}, json, 400, "empty_body", ""},
		{"only spaces", kiosk, "POST", "/api/v1/tickets", []byte("  \n"), json, 400, "empty_body", ""},
		{"trailing garbage", kiosk, "POST", "/api/v1/tickets", []byte(`{"service_id":1} x`), json, 400, "malformed_json", ""},
		{"trailing brace", kiosk, "POST", "/api/v1/tickets", []byte(`{"service_id":1}}`), json, 400, "malformed_json", ""},
		{"trailing bracket", kiosk, "POST", "/api/v1/tickets", []byte(`{"service_id":1}]`), json, 400, "malformed_json", ""},
		{"two objects", kiosk, "POST", "/api/v1/tickets", []byte(`{"service_id":1}{"service_id":2}`), json, 400, "malformed_json", ""},
		{"start that is not a time", kiosk, "POST", "/api/v1/tickets", []byte(`{"service_id":1,"start":"tomorrow at nine"}`), json, 422, "invalid_date", ""},
		{"garbage on call-next", operator, "POST", desk("call-next"), []byte(`please`), json, 400, "malformed_json", ""},
		{"wrong content type", kiosk, "POST", "/api/v1/tickets", []byte(`{"service_id":1}`), []string{"Content-Type", "text/plain"}, 415, "unsupported_media_type", ""},
		{"form instead of JSON", anonymous, "POST", "/api/v1/auth/login", []byte(`username=a&password=b`),
			[]string{"Content-Type", "application/x-www-form-urlencoded"}, 415, "unsupported_media_type", ""},
		{"huge body", kiosk, "POST", "/api/v1/tickets", huge, json, 413, "body_too_large", ""},
		{"huge body with an idempotency key", kiosk, "POST", "/api/v1/tickets", huge,
			[]string{"Content-Type", "application/json", "Idempotency-Key", "big-1"}, 413, "body_too_large", ""},

		// Bodies that break a rule: 422 naming the field.
		{"wrong type", kiosk, "POST", "/api/v1/tickets", map[string]any{"service_id": "x"}, nil, 422, "invalid_type", "service_id"},
		{"fraction for an id", kiosk, "POST", "/api/v1/tickets", []byte(`{"service_id":1.5}`), json, 422, "invalid_type", "service_id"},
		{"id out of range", kiosk, "POST", "/api/v1/tickets", []byte(`{"service_id":1e400}`), json, 422, "invalid_type", "service_id"},
		{"nested wrong type", kiosk, "POST", "/api/v1/tickets", map[string]any{"service_id": svc["I"], "citizen": map[string]any{"fiscal_code": 5}},
			nil, 422, "invalid_type", "citizen.fiscal_code"},
		{"list instead of object", kiosk, "POST", "/api/v1/tickets", []byte(`[]`), json, 422, "invalid_type", "body"},
		{"unknown field", kiosk, "POST", "/api/v1/tickets", map[string]any{"service_id": svc["I"], "colour": "red"}, nil, 422, "unknown_field", "colour"},
		{"missing service", kiosk, "POST", "/api/v1/tickets", map[string]any{}, nil, 422, "required", "service_id"},
		{"unknown service", kiosk, "POST", "/api/v1/tickets", map[string]any{"service_id": 999999}, nil, 422, "service_not_found", "service_id"},
		{"invalid fiscal code", kiosk, "POST", "/api/v1/tickets",
			map[string]any{"service_id": svc["I"], "citizen": map[string]any{"fiscal_code": "RSSMRA85T10A562X"}}, nil, 422, "invalid_fiscal_code", "citizen.fiscal_code"},
		{"invalid phone", kiosk, "POST", "/api/v1/tickets",
			map[string]any{"service_id": svc["I"], "citizen": map[string]any{"phone": "call me"}}, nil, 422, "invalid_phone", "citizen.phone"},
		{"time that is no slot", anonymous, "POST", "/api/v1/tickets",
			map[string]any{"service_id": svc["I"], "start": "2026-11-24T10:02:00+01:00"}, nil, 422, "slot_not_found", "start"},
		{"time in the past", anonymous, "POST", "/api/v1/tickets",
			map[string]any{"service_id": svc["I"], "start": "2026-11-20T10:00:00+01:00"}, nil, 422, "slot_in_past", "start"},
		{"too far ahead", anonymous, "POST", "/api/v1/tickets",
			map[string]any{"service_id": svc["I"], "start": "2027-11-20T10:00:00+01:00"}, nil, 422, "too_far_ahead", "start"},
		{"no identification for later", anonymous, "POST", "/api/v1/tickets",
			map[string]any{"service_id": svc["A"], "start": "2026-11-24T10:00:00+01:00"}, nil, 422, "identification_required", "citizen"},
		{"login without username", anonymous, "POST", "/api/v1/auth/login", map[string]any{"password": "x"}, nil, 422, "required", "username"},
		{"login with a number", anonymous, "POST", "/api/v1/auth/login", map[string]any{"username": 5, "password": "x"}, nil, 422, "invalid_type", "username"},
		{"desk without services", operator, "POST", desk("open"), map[string]any{"service_ids": []int64{}}, nil, 422, "services_required", "service_ids"},
		{"desk services as text", operator, "POST", desk("open"), map[string]any{"service_ids": "A"}, nil, 422, "invalid_type", "service_ids"},
		{"desk with an unknown service", operator, "POST", desk("open"), map[string]any{"service_ids": []int64{999999}}, nil, 422, "unknown_service", "service_ids"},
		{"unknown field on call-next", operator, "POST", desk("call-next"), map[string]any{"x": 1}, nil, 422, "unknown_field", "x"},
		{"pause without reason", operator, "POST", desk("pause"), map[string]any{"reason": "nap"}, nil, 422, "invalid_pause_reason", "reason"},
		{"transfer without service", operator, "POST", desk("transfer"), map[string]any{"note": "x"}, nil, 422, "required", "service_id"},
		{"transfer note too long", operator, "POST", desk("transfer"), map[string]any{"service_id": svc["T"], "note": strings.Repeat("n", 501)}, nil, 422, "note_too_long", "note"},
		{"bad from date", anonymous, "GET", availability("from=2026-13-01"), nil, nil, 422, "invalid_date", "from"},
		{"from that is a word", anonymous, "GET", availability("from=tomorrow"), nil, nil, 422, "invalid_date", "from"},
		{"to that does not exist", anonymous, "GET", availability("to=2026-02-30"), nil, nil, 422, "invalid_date", "to"},
		{"range too long", anonymous, "GET", availability("from=2026-11-23&to=2027-03-01"), nil, nil, 422, "range_too_long", "to"},
		{"range backwards", anonymous, "GET", availability("from=2026-11-30&to=2026-11-23"), nil, nil, 422, "invalid_range", "to"},
		{"agenda with an impossible time", admin, "POST", fmt.Sprintf("/api/v1/services/%d/agendas", svc["T"]),
			map[string]any{"valid_from": "2026-12-01", "ranges": []any{map[string]any{"weekday": 1, "start": "25:00", "end": "26:00", "slot_minutes": 15, "places": 1}}},
			nil, 422, "invalid_time", "ranges[0].start"},
		{"agenda with more places than a day can hold", admin, "POST", fmt.Sprintf("/api/v1/services/%d/agendas", svc["T"]),
			map[string]any{"valid_from": "2026-12-01", "ranges": []any{map[string]any{"weekday": 1, "start": "09:00", "end": "10:00", "slot_minutes": 15, "places": 100000}}},
			nil, 422, "invalid_agenda", "ranges[0].places"},
		{"agenda with a name too long", admin, "POST", fmt.Sprintf("/api/v1/services/%d/agendas", svc["T"]),
			map[string]any{"name": strings.Repeat("n", 201), "valid_from": "2026-12-01", "ranges": []any{}}, nil, 422, "invalid_name", "name"},
		{"service on an unknown site", admin, "POST", "/api/v1/services", map[string]any{"site_id": 999999, "name": "Nuovo", "prefix": "N"},
			nil, 422, "unknown_site", "site_id"},
		{"service with an absurd target wait", admin, "POST", "/api/v1/services",
			map[string]any{"site_id": siteOf(t, env, svc["A"]), "name": "Nuovo", "prefix": "N", "target_wait_min": 3000000000},
			nil, 422, "invalid_target_wait", "target_wait_min"},
		{"service that names its own owner", admin, "POST", "/api/v1/services",
			map[string]any{"site_id": siteOf(t, env, svc["A"]), "name": "Nuovo", "prefix": "N", "owner_id": 2},
			nil, 422, "read_only", "owner_id"},
		{"service with an absurd priority weight", admin, "POST", "/api/v1/services",
			map[string]any{"site_id": siteOf(t, env, svc["A"]), "name": "Nuovo", "prefix": "N", "priority_weight": 1000},
			nil, 422, "invalid_priority_weight", "priority_weight"},

		// Things that do not exist.
		{"unknown service id", anonymous, "GET", "/api/v1/services/999999", nil, nil, 404, "service_not_found", ""},
		{"non-numeric service id", anonymous, "GET", "/api/v1/services/abc", nil, nil, 404, "not_found", ""},
		{"negative service id", anonymous, "GET", "/api/v1/services/-1/availability", nil, nil, 404, "not_found", ""},
		{"unknown ticket", anonymous, "GET", "/api/v1/tickets/" + strings.Repeat("A", 43), nil, nil, 404, "ticket_not_found", ""},
		{"short token", anonymous, "GET", "/api/v1/tickets/abc", nil, nil, 404, "ticket_not_found", ""},
		{"check-in of an unknown ticket", kiosk, "POST", "/api/v1/tickets/" + strings.Repeat("A", 43) + "/checkin", nil, nil, 404, "ticket_not_found", ""},
		{"unknown desk", operator, "POST", "/api/v1/desks/999999/call-next", nil, nil, 404, "desk_not_found", ""},
		{"unknown desk to read", operator, "GET", "/api/v1/desks/999999", nil, nil, 404, "desk_not_found", ""},
		{"non-numeric desk id", operator, "POST", "/api/v1/desks/uno/call-next", nil, nil, 404, "not_found", ""},
		{"desk id too big", operator, "POST", "/api/v1/desks/99999999999999999999999/close", nil, nil, 404, "not_found", ""},
		{"unknown agenda", admin, "PUT", fmt.Sprintf("/api/v1/services/%d/agendas/999999", svc["T"]),
			map[string]any{"valid_from": "2026-12-01", "ranges": []any{}}, nil, 404, "agenda_not_found", ""},
		{"unknown route", anonymous, "GET", "/api/v1/nothing-here", nil, nil, 404, "not_found", ""},
		{"wrong method", anonymous, "DELETE", "/api/v1/tickets", nil, nil, 405, "method_not_allowed", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st, raw := who[tc.as].Do(tc.method, tc.path, tc.body, tc.headers...)
			wantError(t, st, raw, tc.status, tc.code, tc.field)
		})
	}

	t.Run("a chunked huge body", func(t *testing.T) {
		// No Content-Length: the limit is met while reading.
		req, err := http.NewRequest("POST", env.URL+"/api/v1/tickets", io.MultiReader(bytes.NewReader(huge)))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+env.Demo.Credentials.KioskToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		wantError(t, resp.StatusCode, raw, 413, "body_too_large", "")
	})

	t.Run("JSON with a charset is JSON", func(t *testing.T) {
		st, raw := who[kiosk].Do("POST", "/api/v1/tickets", []byte(fmt.Sprintf(`{"service_id":%d}`, svc["I"])),
			"Content-Type", "application/json; charset=utf-8")
		if st != 201 {
			t.Errorf("status %d, want 201: %s", st, raw)
		}
	})
}

// TestRandomBodiesNeverGet5xx throws mangled JSON at the API: every answer
// is a success or a client error in the one error shape, never a 5xx.
func TestRandomBodiesNeverGet5xx(t *testing.T) {
	t.Parallel()
	env := testenv.NewServer(t, testenv.Options{})
	who := signIn(t, env)
	svc := env.Demo.Services
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	rnd := rand.New(rand.NewPCG(seed, 42))

	seeds := []string{
		fmt.Sprintf(`{"service_id":%d}`, svc["I"]),
		fmt.Sprintf(`{"service_id":%d,"channel":"kiosk","priority":true}`, svc["A"]),
		fmt.Sprintf(`{"service_id":%d,"start":"2026-11-24T10:00:00+01:00","citizen":{"fiscal_code":"RSSMRA85T10A562S"}}`, svc["A"]),
		fmt.Sprintf(`{"service_id":%d,"start":"2026-11-24T10:00:00+01:00","citizen":{"phone":"+39 0373 1234567","first_name":"Anna","last_name":"Verdi","email":"a@b.it"}}`, svc["C"]),
		`{"service_id":0,"start":null,"channel":"web","citizen":null,"priority":false}`,
	}
	fragments := []string{`{`, `}`, `[`, `]`, `"`, `:`, `,`, `null`, `true`, `-1`, `1e999`, `9223372036854775808`, `"\u0000"`,
		`"\ud800"`, "\xff", `"0001-01-01T00:00:00Z"`, `"9999-12-31T23:59:59Z"`, `"2026-11-23T09:00:00+14:00"`, `{"fiscal_code":"` + strings.Repeat("Z", 300) + `"}`,
		`"start"`, `"citizen"`, `"service_id"`, `"channel"`, `"desk"`, `"phone"`, `"email"`, strings.Repeat(" ", 10)}
	mutate := func(s []byte) []byte {
		b := append([]byte(nil), s...)
		for range 1 + rnd.IntN(4) {
			pos := 0
			if len(b) > 0 {
				pos = rnd.IntN(len(b) + 1)
			}
			switch rnd.IntN(5) {
			case 0: // flip a byte
				if pos < len(b) {
					b[pos] = byte(rnd.IntN(256))
				}
			case 1: // cut
				b = b[:pos]
			case 2: // delete a run
				end := min(len(b), pos+1+rnd.IntN(8))
				b = append(b[:pos], b[end:]...)
			default: // insert a JSON-ish fragment
				f := fragments[rnd.IntN(len(fragments))]
				b = append(b[:pos], append([]byte(f), b[pos:]...)...)
			}
		}
		return b
	}

	targets := []struct {
		as, path string
	}{
		{kiosk, "/api/v1/tickets"},
		{anonymous, "/api/v1/tickets"},
		{operator, "/api/v1/tickets"},
		{kiosk, "/api/v1/tickets"},
	}
	for i := range 200 {
		body := mutate([]byte(seeds[rnd.IntN(len(seeds))]))
		tg := targets[i%len(targets)]
		st, raw := who[tg.as].Do("POST", tg.path, body)
		if st >= 500 {
			t.Errorf("POST %s as %s with %q: %d: %s", tg.path, tg.as, body, st, raw)
			continue
		}
		if st >= 400 {
			checkErrorShape(t, st, raw)
		}
	}
	// The other bodies the API reads, a few each.
	others := []struct {
		as, method, path, seed string
	}{
		{operator, "POST", fmt.Sprintf("/api/v1/desks/%d/open", env.Demo.DeskIDs[0]), fmt.Sprintf(`{"service_ids":[%d,%d]}`, svc["I"], svc["T"])},
		{operator, "POST", fmt.Sprintf("/api/v1/desks/%d/pause", env.Demo.DeskIDs[0]), `{"reason":"break"}`},
		{operator, "POST", fmt.Sprintf("/api/v1/desks/%d/transfer", env.Demo.DeskIDs[0]), fmt.Sprintf(`{"service_id":%d,"note":"x"}`, svc["T"])},
		{anonymous, "POST", "/api/v1/auth/login", `{"username":"nobody","password":"nothing"}`},
		{admin, "POST", fmt.Sprintf("/api/v1/services/%d/agendas", svc["T"]),
			`{"name":"x","valid_from":"2027-01-01","valid_to":"2027-01-31","ranges":[{"weekday":1,"start":"09:00","end":"10:00","slot_minutes":30,"places":1}],"exceptions":[{"day":"2027-01-04","kind":"closed"}]}`},
		{admin, "POST", "/api/v1/services", fmt.Sprintf(`{"site_id":%d,"name":"Nuovo","prefix":"N","target_wait_min":10,"priority_weight":1.5}`, siteOf(t, env, svc["A"]))},
	}
	for i := range 120 {
		o := others[i%len(others)]
		body := mutate([]byte(o.seed))
		st, raw := who[o.as].Do(o.method, o.path, body)
		if st >= 500 {
			t.Errorf("%s %s as %s with %q: %d: %s", o.method, o.path, o.as, body, st, raw)
			continue
		}
		if st >= 400 {
			checkErrorShape(t, st, raw)
		}
	}
}
