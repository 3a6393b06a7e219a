package api_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"

	"avanti/appliance/testenv"
)

func TestIdempotencyKeyMakesRetriesHarmless(t *testing.T) {
	t.Parallel()
	env := testenv.NewServer(t, testenv.Options{})
	who := signIn(t, env)
	svc := env.Demo.Services
	walkIn := map[string]any{"service_id": svc["I"]}

	t.Run("a retried booking returns the same ticket and takes one place", func(t *testing.T) {
		resp1, raw1 := who[kiosk].Send("POST", "/api/v1/tickets", walkIn, "Idempotency-Key", "totem-42")
		resp2, raw2 := who[kiosk].Send("POST", "/api/v1/tickets", walkIn, "Idempotency-Key", "totem-42")
		if resp1.StatusCode != 201 || resp2.StatusCode != 201 {
			t.Fatalf("statuses %d and %d, want 201 twice: %s / %s", resp1.StatusCode, resp2.StatusCode, raw1, raw2)
		}
		var a, b ticket
		json.Unmarshal(raw1, &a)
		json.Unmarshal(raw2, &b)
		if a.ID == 0 || a.ID != b.ID || a.Token != b.Token || a.Code != b.Code {
			t.Errorf("retry got ticket %d %s %s, first %d %s %s", b.ID, b.Code, b.Token, a.ID, a.Code, a.Token)
		}
		if resp1.Header.Get("Idempotent-Replayed") != "" || resp2.Header.Get("Idempotent-Replayed") != "true" {
			t.Errorf("Idempotent-Replayed: first %q, retry %q; want only the retry marked",
				resp1.Header.Get("Idempotent-Replayed"), resp2.Header.Get("Idempotent-Replayed"))
		}
		// The next ticket number shows that only one was issued.
		if next := book(t, who[kiosk], walkIn); next.Code != "I002" {
			t.Errorf("next ticket %s, want I002 after one idempotent booking", next.Code)
		}
	})

	t.Run("the same key for another request is refused", func(t *testing.T) {
		st, raw := who[kiosk].Do("POST", "/api/v1/tickets", map[string]any{"service_id": svc["A"]}, "Idempotency-Key", "totem-42")
		wantError(t, st, raw, 422, "idempotency_key_reused", "")
	})

	t.Run("keys belong to their caller", func(t *testing.T) {
		// A citizen at home happening to pick the totem's key books their own ticket.
		start := freeSlotToday(t, who[anonymous], svc["I"])
		resp, raw := who[anonymous].Send("POST", "/api/v1/tickets", map[string]any{"service_id": svc["I"], "start": start}, "Idempotency-Key", "totem-42")
		if resp.StatusCode != 201 || resp.Header.Get("Idempotent-Replayed") != "" {
			t.Errorf("another caller with the same key: %d replayed=%q: %s", resp.StatusCode, resp.Header.Get("Idempotent-Replayed"), raw)
		}
	})

	t.Run("keys are compared exactly", func(t *testing.T) {
		first := book(t, who[kiosk], walkIn)
		resp, raw := who[kiosk].Send("POST", "/api/v1/tickets", walkIn, "Idempotency-Key", "Totem-7")
		var a, b ticket
		json.Unmarshal(raw, &a)
		for _, key := range []string{"totem-7", "TOTEM-7", "Totem-7."} {
			resp, raw = who[kiosk].Send("POST", "/api/v1/tickets", walkIn, "Idempotency-Key", key)
			json.Unmarshal(raw, &b)
			if resp.StatusCode != 201 || resp.Header.Get("Idempotent-Replayed") != "" || b.ID == a.ID || b.ID == first.ID {
				t.Errorf("key %q after \"Totem-7\": %d replayed=%q ticket %d (Totem-7 got %d): %s",
					key, resp.StatusCode, resp.Header.Get("Idempotent-Replayed"), b.ID, a.ID, raw)
			}
		}
	})

	t.Run("a key that is not text is refused, not a server error", func(t *testing.T) {
		for _, key := range []string{"\xff\xfe", "caf\xe9", strings.Repeat("k", 201)} {
			st, raw := who[kiosk].Do("POST", "/api/v1/tickets", walkIn, "Idempotency-Key", key)
			wantError(t, st, raw, 400, "invalid_idempotency_key", "")
		}
	})

	t.Run("a refused request replays its refusal", func(t *testing.T) {
		body := map[string]any{"service_id": svc["I"], "channel": "web"}
		st1, raw1 := who[kiosk].Do("POST", "/api/v1/tickets", body, "Idempotency-Key", "totem-43")
		resp, raw2 := who[kiosk].Send("POST", "/api/v1/tickets", body, "Idempotency-Key", "totem-43")
		wantError(t, st1, raw1, 403, "channel_not_allowed", "")
		wantError(t, resp.StatusCode, raw2, 403, "channel_not_allowed", "")
		if resp.Header.Get("Idempotent-Replayed") != "true" {
			t.Errorf("the retried refusal is not marked as replayed")
		}
	})

	t.Run("a double click on call-next calls one ticket", func(t *testing.T) {
		op := who[operator]
		deskID := env.Demo.DeskIDs[0]
		if st, raw := op.Do("POST", fmt.Sprintf("/api/v1/desks/%d/open", deskID), map[string]any{"service_ids": []int64{svc["I"]}}); st != 200 {
			t.Fatalf("open: %d: %s", st, raw)
		}
		const clicks = 4
		var wg sync.WaitGroup
		ids := make([]int64, clicks)
		statuses := make([]int, clicks)
		replays := make([]string, clicks)
		for i := range clicks {
			wg.Add(1)
			go func() {
				defer wg.Done()
				resp, raw := op.Send("POST", fmt.Sprintf("/api/v1/desks/%d/call-next", deskID), nil, "Idempotency-Key", "click-1")
				var r deskReply
				json.Unmarshal(raw, &r)
				ids[i], statuses[i], replays[i] = r.Ticket.ID, resp.StatusCode, resp.Header.Get("Idempotent-Replayed")
			}()
		}
		wg.Wait()
		fresh := 0
		for i := range clicks {
			if statuses[i] != 200 || ids[i] == 0 || ids[i] != ids[0] {
				t.Errorf("click %d: status %d ticket %d; first click got %d", i, statuses[i], ids[i], ids[0])
			}
			if replays[i] != "true" {
				fresh++
			}
		}
		if fresh != 1 {
			t.Errorf("%d clicks ran call-next, want exactly one (the others replayed)", fresh)
		}
		var d deskView
		op.JSON("GET", fmt.Sprintf("/api/v1/desks/%d", deskID), nil, &d)
		if d.CurrentTicket == nil || d.CurrentTicket.ID != ids[0] {
			t.Errorf("desk's current ticket %+v, want %d", d.CurrentTicket, ids[0])
		}
		called := 0
		for _, tk := range statusesOf(t, env, svc["I"]) {
			if tk == "called" {
				called++
			}
		}
		if called != 1 {
			t.Errorf("%d tickets called, want 1", called)
		}
	})
}

// statusesOf lists the statuses of a service's tickets.
func statusesOf(t *testing.T, env *testenv.Env, serviceID int64) []string {
	t.Helper()
	rows, err := env.Store.DB().QueryContext(t.Context(), `SELECT status FROM tickets WHERE service_id = ?`, serviceID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		rows.Scan(&s)
		out = append(out, s)
	}
	return out
}
