package api_test

import (
	"encoding/json"
	"fmt"
	"regexp"
	"testing"

	"avanti/appliance/testenv"
)

func TestHealthAndMetrics(t *testing.T) {
	t.Parallel()
	env := testenv.NewServer(t, testenv.Options{})
	who := signIn(t, env)

	var health map[string]any
	st, raw := who[anonymous].Do("GET", "/healthz", nil)
	if err := json.Unmarshal(raw, &health); st != 200 || err != nil || health["status"] != "ok" {
		t.Errorf("healthz: %d %s, want 200 {\"status\":\"ok\"}", st, raw)
	}

	book(t, who[kiosk], map[string]any{"service_id": env.Demo.Services["I"]})
	deskID := env.Demo.DeskIDs[0]
	if st, raw := who[operator].Do("POST", fmt.Sprintf("/api/v1/desks/%d/open", deskID), map[string]any{"service_ids": []int64{env.Demo.Services["I"]}}); st != 200 {
		t.Fatalf("open: %d: %s", st, raw)
	}
	if st, raw := who[operator].Do("POST", fmt.Sprintf("/api/v1/desks/%d/call-next", deskID), nil); st != 200 {
		t.Fatalf("call-next: %d: %s", st, raw)
	}
	who[anonymous].Do("GET", "/api/v1/tickets/"+"no-such-token", nil)

	st, raw = who[anonymous].Do("GET", "/metrics", nil)
	if st != 200 {
		t.Fatalf("metrics: %d", st)
	}
	for _, want := range []string{
		`(?m)^avanti_tickets_booked_total\{channel="kiosk",service="I"\} 1$`,
		`(?m)^avanti_call_next_duration_seconds_count 1$`,
		`(?m)^avanti_calls_total\{kind="call",service="I"\} 1$`,
		`(?m)^avanti_http_requests_total\{code="Created",route="/api/v1/tickets"\} 1$`,
		// Tokens are in paths: requests are counted by route, never by path.
		`(?m)^avanti_http_requests_total\{code="Not Found",route="/api/v1/tickets/:token"\} 1$`,
	} {
		if !regexp.MustCompile(want).Match(raw) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if regexp.MustCompile(`no-such-token`).Match(raw) {
		t.Errorf("a path token leaked into the metrics")
	}
}
