package api_test

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"avanti/appliance/testenv"
)

var staff = []string{operator, backoffice, admin}

// access is one row of the role matrix: a route, who may use it, and a
// request to it that has no lasting effect, so the rows can run in any order.
type access struct {
	route   string   // "METHOD /path" as registered in api.go
	allowed []string // everyone else: 401 when anonymous, 403 otherwise
	path    string   // the concrete path; the route's own path when empty
	body    any
	// fresh runs every caller on a session of its own (logout ends it).
	fresh bool
}

func TestRoleMatrix(t *testing.T) {
	t.Parallel()
	env := testenv.NewServer(t, testenv.Options{})
	who := signIn(t, env)
	svc := env.Demo.Services
	closedDesk := env.Demo.DeskIDs[0]
	walkIn := book(t, who[kiosk], map[string]any{"service_id": svc["I"]})
	unknownToken := strings.Repeat("x", 43)

	desk := func(action string) string { return fmt.Sprintf("/api/v1/desks/%d/%s", closedDesk, action) }
	service := func(rest string) string { return fmt.Sprintf("/api/v1/services/%d%s", svc["A"], rest) }
	everyone := allRoles
	deskRoles := []string{operator, admin}
	agendaRoles := []string{backoffice, admin}

	matrix := []access{
		{route: "GET /healthz", allowed: everyone},
		{route: "GET /metrics", allowed: everyone},
		{route: "GET /ca.crt", allowed: everyone},
		{route: "GET /api/v1/openapi.yaml", allowed: everyone},

		{route: "POST /api/v1/auth/login", allowed: everyone, body: map[string]any{}},
		{route: "GET /api/v1/setup", allowed: everyone},
		{route: "POST /api/v1/setup", allowed: everyone, body: map[string]any{}},
		{route: "POST /api/v1/auth/logout", allowed: everyone, fresh: true},
		{route: "GET /api/v1/auth/me", allowed: staff},

		{route: "GET /api/v1/services", allowed: everyone},
		{route: "POST /api/v1/services", allowed: []string{admin}, body: map[string]any{}},
		{route: "GET /api/v1/services/:id", allowed: everyone, path: service("")},
		{route: "GET /api/v1/services/:id/availability", allowed: everyone, path: service("/availability")},
		{route: "GET /api/v1/services/:id/punctuality", allowed: everyone, path: service("/punctuality")},
		{route: "GET /api/v1/services/:id/agendas", allowed: agendaRoles, path: service("/agendas")},
		{route: "POST /api/v1/services/:id/agendas", allowed: agendaRoles, path: service("/agendas"), body: map[string]any{}},
		{route: "PUT /api/v1/services/:id/agendas/:agenda_id", allowed: agendaRoles, path: service("/agendas/1"), body: map[string]any{}},

		{route: "POST /api/v1/tickets", allowed: []string{anonymous, kiosk, operator, backoffice, admin}, body: map[string]any{}},
		{route: "GET /api/v1/tickets/:token", allowed: everyone, path: "/api/v1/tickets/" + walkIn.Token},
		{route: "POST /api/v1/tickets/:token/checkin", allowed: []string{kiosk, operator, backoffice, admin},
			path: "/api/v1/tickets/" + unknownToken + "/checkin"},
		{route: "POST /api/v1/tickets/:token/revoke", allowed: []string{anonymous, kiosk, operator, backoffice, admin},
			path: "/api/v1/tickets/" + unknownToken + "/revoke"},

		{route: "GET /api/v1/desks", allowed: staff},
		{route: "GET /api/v1/desks/:id", allowed: staff, path: fmt.Sprintf("/api/v1/desks/%d", closedDesk)},
		// On a closed desk every action is refused for its state (409) or
		// its body (422), never by the role check, and changes nothing.
		{route: "POST /api/v1/desks/:id/open", allowed: deskRoles, path: desk("open"), body: map[string]any{}},
		{route: "POST /api/v1/desks/:id/call-next", allowed: deskRoles, path: desk("call-next")},
		{route: "POST /api/v1/desks/:id/recall", allowed: deskRoles, path: desk("recall")},
		{route: "POST /api/v1/desks/:id/start", allowed: deskRoles, path: desk("start")},
		{route: "POST /api/v1/desks/:id/finish", allowed: deskRoles, path: desk("finish")},
		{route: "POST /api/v1/desks/:id/no-show", allowed: deskRoles, path: desk("no-show")},
		{route: "POST /api/v1/desks/:id/transfer", allowed: deskRoles, path: desk("transfer"), body: map[string]any{}},
		{route: "POST /api/v1/desks/:id/pause", allowed: deskRoles, path: desk("pause"), body: map[string]any{}},
		{route: "POST /api/v1/desks/:id/resume", allowed: deskRoles, path: desk("resume")},
		{route: "POST /api/v1/desks/:id/close", allowed: deskRoles, path: desk("close")},

		{route: "POST /api/v1/tickets/:token/move", allowed: []string{anonymous, kiosk, operator, backoffice, admin},
			path: "/api/v1/tickets/" + unknownToken + "/move", body: map[string]any{}},
		{route: "GET /api/v1/tickets/:token/print", allowed: everyone, path: "/api/v1/tickets/" + unknownToken + "/print"},
		{route: "GET /api/v1/tickets/:token/qr.png", allowed: everyone, path: "/api/v1/tickets/" + unknownToken + "/qr.png"},
		{route: "POST /api/v1/tickets/:token/print", allowed: []string{kiosk}, path: "/api/v1/tickets/" + unknownToken + "/print"},
		{route: "GET /t/:token", allowed: everyone, path: "/t/" + unknownToken},
		{route: "GET /api/v1/kiosk", allowed: []string{kiosk}},
		{route: "GET /api/v1/kiosk/printer", allowed: []string{kiosk}},
		{route: "POST /api/v1/kiosk/identify", allowed: []string{kiosk}, body: map[string]any{}},
		{route: "POST /api/v1/kiosk/checkin", allowed: []string{kiosk}, body: map[string]any{}},
		{route: "POST /api/v1/scan", allowed: []string{kiosk}, body: map[string]any{}},

		{route: "POST /api/v1/auth/password", allowed: staff, body: map[string]any{}},
		{route: "GET /api/v1/org", allowed: []string{admin}},
		{route: "PUT /api/v1/owner", allowed: []string{admin}, body: map[string]any{}},
		{route: "POST /api/v1/sites", allowed: []string{admin}, body: map[string]any{}},
		{route: "PUT /api/v1/sites/:id", allowed: []string{admin}, path: "/api/v1/sites/999999", body: map[string]any{}},
		{route: "POST /api/v1/rooms", allowed: []string{admin}, body: map[string]any{}},
		{route: "PUT /api/v1/rooms/:id", allowed: []string{admin}, path: "/api/v1/rooms/999999", body: map[string]any{}},
		{route: "POST /api/v1/desks", allowed: []string{admin}, body: map[string]any{}},
		{route: "PUT /api/v1/desks/:id", allowed: []string{admin}, path: "/api/v1/desks/999999", body: map[string]any{}},
		{route: "GET /api/v1/desks/:id/upcoming", allowed: staff, path: fmt.Sprintf("/api/v1/desks/%d/upcoming", closedDesk)},
		{route: "GET /api/v1/users", allowed: []string{admin}},
		{route: "POST /api/v1/users", allowed: []string{admin}, body: map[string]any{}},
		{route: "PUT /api/v1/users/:id", allowed: []string{admin}, path: "/api/v1/users/999999", body: map[string]any{}},
		{route: "PUT /api/v1/devices/:id", allowed: []string{admin}, path: "/api/v1/devices/999999", body: map[string]any{}},
		{route: "GET /api/v1/audit", allowed: []string{admin}},
		{route: "GET /api/v1/maintenance", allowed: []string{admin}},
		{route: "POST /api/v1/maintenance/windows", allowed: []string{admin}, body: map[string]any{}},
		{route: "POST /api/v1/maintenance/windows/:id/close", allowed: []string{admin}, path: "/api/v1/maintenance/windows/999999/close"},
		{route: "GET /api/v1/updates", allowed: []string{admin}},
		{route: "GET /api/v1/backups", allowed: []string{admin}},
		{route: "GET /api/v1/tls", allowed: []string{admin}},
		{route: "PUT /api/v1/tls", allowed: []string{admin}, body: map[string]any{}},
		{route: "GET /api/v1/stats", allowed: agendaRoles},
		{route: "PATCH /api/v1/slots/:id", allowed: agendaRoles, path: "/api/v1/slots/999999", body: map[string]any{}},
		{route: "GET /api/v1/pause-reasons", allowed: staff},
		{route: "POST /api/v1/services/:id/agendas/preview", allowed: agendaRoles, path: service("/agendas/preview"), body: map[string]any{}},
		{route: "PUT /api/v1/services/:id", allowed: []string{admin}, path: service(""), body: map[string]any{"name": ""}},
		{route: "GET /api/v1/services/:id/workplan", allowed: agendaRoles, path: service("/workplan")},
		{route: "GET /api/v1/services/:id/workplan.csv", allowed: agendaRoles, path: service("/workplan.csv")},
		{route: "GET /api/v1/services/:id/workplan.xlsx", allowed: agendaRoles, path: service("/workplan.xlsx")},

		{route: "GET /api/v1/device", allowed: []string{kiosk, display}},
		{route: "POST /api/v1/pairing", allowed: everyone, body: map[string]any{}},
		{route: "GET /api/v1/pairing/:secret", allowed: everyone, path: "/api/v1/pairing/" + unknownToken},
		{route: "POST /api/v1/devices/pair", allowed: []string{admin}, body: map[string]any{}},
		{route: "GET /api/v1/devices", allowed: []string{backoffice, admin}},
		{route: "PUT /api/v1/devices/:id/settings", allowed: []string{admin}, path: "/api/v1/devices/999999/settings", body: map[string]any{}},
		{route: "GET /api/v1/playlists", allowed: []string{admin}},
		{route: "POST /api/v1/playlists", allowed: []string{admin}, body: map[string]any{}},
		{route: "GET /api/v1/playlists/:id", allowed: []string{admin}, path: "/api/v1/playlists/999999"},
		{route: "PUT /api/v1/playlists/:id", allowed: []string{admin}, path: "/api/v1/playlists/999999", body: map[string]any{}},
		{route: "POST /api/v1/media", allowed: []string{admin}},
		{route: "GET /media/:name", allowed: everyone, path: "/media/" + strings.Repeat("0", 64) + ".png"},
		{route: "GET /voice/announcement", allowed: everyone},
		{route: "HEAD /voice/announcement", allowed: everyone},
		// Not a WebSocket handshake: refused (400) after the role check.
		{route: "GET /ws/display", allowed: []string{display}},
		{route: "GET /ws/kiosk", allowed: []string{kiosk}},
		{route: "GET /ws/desk", allowed: staff},
	}

	t.Run("every route has a row", func(t *testing.T) {
		rows := map[string]bool{}
		for _, a := range matrix {
			if rows[a.route] {
				t.Errorf("route %s has two rows", a.route)
			}
			rows[a.route] = true
		}
		var missing []string
		for _, r := range env.Server.Handler.(*echo.Echo).Routes() {
			if r.Method == echo.RouteNotFound {
				continue
			}
			key := r.Method + " " + r.Path
			if !rows[key] {
				missing = append(missing, key)
			}
			delete(rows, key)
		}
		sort.Strings(missing)
		for _, m := range missing {
			t.Errorf("route %s has no row in the role matrix: say who may use it", m)
		}
		for r := range rows {
			t.Errorf("row %s matches no registered route", r)
		}
	})

	for _, a := range matrix {
		method, route, _ := strings.Cut(a.route, " ")
		path := a.path
		if path == "" {
			path = route
		}
		for _, role := range allRoles {
			c := who[role]
			if a.fresh {
				c = fresh(t, env, role)
			}
			st, raw := c.Do(method, path, a.body)
			switch {
			case st >= 500:
				t.Errorf("%s as %s: %d: %s", a.route, role, st, raw)
			case slices.Contains(a.allowed, role):
				if st == 401 || st == 403 {
					t.Errorf("%s as %s: %d, want it allowed: %s", a.route, role, st, raw)
				}
			case role == anonymous:
				if st != 401 {
					t.Errorf("%s as %s: %d, want 401: %s", a.route, role, st, raw)
				} else {
					checkErrorShape(t, st, raw)
				}
			default:
				if st != 403 {
					t.Errorf("%s as %s: %d, want 403: %s", a.route, role, st, raw)
				} else if e := checkErrorShape(t, st, raw); e.Error.Code != "forbidden" {
					t.Errorf("%s as %s: code %q, want forbidden", a.route, role, e.Error.Code)
				}
			}
		}
	}

	t.Run("an operator cannot act on a desk opened by another", func(t *testing.T) {
		cr := env.Demo.Credentials
		other := env.Login(t, cr.Operators[1].Username, cr.Operators[1].Password)
		deskID := env.Demo.DeskIDs[1]
		path := func(action string) string { return fmt.Sprintf("/api/v1/desks/%d/%s", deskID, action) }
		if st, raw := who[operator].Do("POST", path("open"), map[string]any{"service_ids": []int64{svc["A"]}}); st != 200 {
			t.Fatalf("open: %d: %s", st, raw)
		}
		for _, action := range []string{"call-next", "recall", "start", "finish", "no-show", "resume", "close"} {
			st, raw := other.Do("POST", path(action), nil)
			wantError(t, st, raw, 403, "not_your_desk", "")
		}
		st, raw := other.Do("POST", path("open"), map[string]any{"service_ids": []int64{svc["T"]}})
		wantError(t, st, raw, 403, "not_your_desk", "")
		st, raw = other.Do("POST", path("pause"), map[string]any{"reason": "break"})
		wantError(t, st, raw, 403, "not_your_desk", "")
		st, raw = other.Do("POST", path("transfer"), map[string]any{"service_id": svc["T"]})
		wantError(t, st, raw, 403, "not_your_desk", "")
		// An admin may stand in; the holder may close it.
		if st, raw := who[admin].Do("POST", path("pause"), map[string]any{"reason": "meeting"}); st != 200 {
			t.Errorf("admin pauses another's desk: %d: %s", st, raw)
		}
		if st, raw := who[operator].Do("POST", path("close"), nil); st != 200 {
			t.Errorf("holder closes the desk: %d: %s", st, raw)
		}
	})

	t.Run("a kiosk books only through the kiosk channel", func(t *testing.T) {
		for _, ch := range []string{"web", "phone", "desk"} {
			st, raw := who[kiosk].Do("POST", "/api/v1/tickets", map[string]any{"service_id": svc["I"], "channel": ch})
			wantError(t, st, raw, 403, "channel_not_allowed", "")
		}
		st, raw := who[kiosk].Do("POST", "/api/v1/tickets", map[string]any{"service_id": svc["I"], "channel": "fax"})
		wantError(t, st, raw, 422, "invalid_channel", "channel")
		if tk := book(t, who[kiosk], map[string]any{"service_id": svc["I"], "channel": "kiosk"}); tk.Channel != "kiosk" {
			t.Errorf("channel %q, want kiosk", tk.Channel)
		}
	})

	t.Run("an anonymous citizen books only online", func(t *testing.T) {
		tomorrow := testenv.Monday.AddDate(0, 0, 1).Format(time.DateOnly)
		start, _ := freeSlot(t, who[anonymous], svc["I"], tomorrow)
		for _, ch := range []string{"kiosk", "phone", "desk"} {
			st, raw := who[anonymous].Do("POST", "/api/v1/tickets", map[string]any{"service_id": svc["I"], "channel": ch, "start": start})
			wantError(t, st, raw, 403, "channel_not_allowed", "")
		}
		// No "first available today" from home: that is for the totem.
		st, raw := who[anonymous].Do("POST", "/api/v1/tickets", map[string]any{"service_id": svc["I"]})
		wantError(t, st, raw, 422, "start_required", "start")
		// Social services are booked only at the office or by phone.
		sStart, _ := freeSlot(t, who[operator], svc["S"], "2026-11-25")
		st, raw = who[anonymous].Do("POST", "/api/v1/tickets", map[string]any{"service_id": svc["S"], "start": sStart,
			"citizen": map[string]any{"fiscal_code": "RSSMRA85T10A562S"}})
		wantError(t, st, raw, 403, "channel_not_allowed", "")
		if tk := book(t, who[anonymous], map[string]any{"service_id": svc["I"], "start": start}); tk.Channel != "web" || tk.Status != "booked" {
			t.Errorf("anonymous booking: channel %q status %q, want web booked", tk.Channel, tk.Status)
		}
	})

	t.Run("a display cannot book or check in", func(t *testing.T) {
		booked := book(t, who[anonymous], map[string]any{"service_id": svc["I"], "start": freeSlotToday(t, who[anonymous], svc["I"])})
		st, raw := who[display].Do("POST", "/api/v1/tickets", map[string]any{"service_id": svc["I"]})
		wantError(t, st, raw, 403, "forbidden", "")
		st, raw = who[display].Do("POST", "/api/v1/tickets/"+booked.Token+"/checkin", nil)
		wantError(t, st, raw, 403, "forbidden", "")
		st, raw = who[display].Do("POST", "/api/v1/tickets/"+booked.Token+"/revoke", nil)
		wantError(t, st, raw, 403, "forbidden", "")
		var got ticket
		if who[display].JSON("GET", "/api/v1/tickets/"+booked.Token, nil, &got); got.Status != "booked" {
			t.Errorf("after the display's attempts the ticket is %q, want booked", got.Status)
		}
	})

	t.Run("staff and devices never reach another owner's data", func(t *testing.T) {
		lodi := addOtherOwner(t, env)
		lodiAdmin := env.Login(t, lodi.Admin.Username, lodi.Admin.Password)
		lodiOperator := env.Login(t, lodi.Operator.Username, lodi.Operator.Password)
		lodiKiosk := env.Device(t, lodi.KioskToken)
		cremaTicket := book(t, who[kiosk], map[string]any{"service_id": svc["I"]})
		cremaDesk := env.Demo.DeskIDs[2]

		for _, p := range []string{"", "/availability", "/punctuality", "/agendas"} {
			st, raw := lodiAdmin.Do("GET", fmt.Sprintf("/api/v1/services/%d%s", svc["A"], p), nil)
			wantError(t, st, raw, 404, "service_not_found", "")
		}
		st, raw := lodiAdmin.Do("POST", fmt.Sprintf("/api/v1/services/%d/agendas", svc["A"]),
			map[string]any{"valid_from": "2026-12-01", "ranges": []any{}})
		wantError(t, st, raw, 404, "service_not_found", "")

		var list struct {
			Services []struct {
				OwnerID int64 `json:"owner_id"`
			} `json:"services"`
		}
		lodiAdmin.JSON("GET", "/api/v1/services", nil, &list)
		if len(list.Services) != 1 || list.Services[0].OwnerID != lodi.ID {
			t.Errorf("Lodi's admin lists %+v, want Lodi's one service", list.Services)
		}
		var desks struct {
			Desks []struct {
				ID int64 `json:"id"`
			} `json:"desks"`
		}
		lodiOperator.JSON("GET", "/api/v1/desks", nil, &desks)
		if len(desks.Desks) != 1 || desks.Desks[0].ID != lodi.DeskID {
			t.Errorf("Lodi's operator lists desks %+v, want only %d", desks.Desks, lodi.DeskID)
		}
		st, raw = lodiOperator.Do("GET", fmt.Sprintf("/api/v1/desks/%d", cremaDesk), nil)
		wantError(t, st, raw, 404, "desk_not_found", "")
		for _, action := range []string{"call-next", "close", "resume"} {
			st, raw = lodiAdmin.Do("POST", fmt.Sprintf("/api/v1/desks/%d/%s", cremaDesk, action), nil)
			wantError(t, st, raw, 404, "desk_not_found", "")
		}
		st, raw = lodiOperator.Do("POST", fmt.Sprintf("/api/v1/desks/%d/open", cremaDesk), map[string]any{"service_ids": []int64{lodi.ServiceID}})
		wantError(t, st, raw, 404, "desk_not_found", "")
		// Nor may Lodi's desk serve Crema's queue.
		st, raw = lodiOperator.Do("POST", fmt.Sprintf("/api/v1/desks/%d/open", lodi.DeskID), map[string]any{"service_ids": []int64{svc["I"]}})
		wantError(t, st, raw, 422, "unknown_service", "service_ids")

		for _, action := range []string{"checkin", "revoke"} {
			st, raw = lodiKiosk.Do("POST", "/api/v1/tickets/"+cremaTicket.Token+"/"+action, nil)
			wantError(t, st, raw, 404, "ticket_not_found", "")
			st, raw = lodiAdmin.Do("POST", "/api/v1/tickets/"+cremaTicket.Token+"/"+action, nil)
			wantError(t, st, raw, 404, "ticket_not_found", "")
		}
		// Lodi's totem issues Lodi's tickets, never Crema's.
		for _, prefix := range []string{"I", "S"} {
			st, raw = lodiKiosk.Do("POST", "/api/v1/tickets", map[string]any{"service_id": svc[prefix]})
			wantError(t, st, raw, 422, "service_not_found", "service_id")
			st, raw = lodiOperator.Do("POST", "/api/v1/tickets", map[string]any{"service_id": svc[prefix], "channel": "desk"})
			wantError(t, st, raw, 422, "service_not_found", "service_id")
		}
		if tk := book(t, lodiKiosk, map[string]any{"service_id": lodi.ServiceID}); tk.ServiceID != lodi.ServiceID {
			t.Errorf("Lodi's walk-in is for service %d", tk.ServiceID)
		}
		// Creating a service on Crema's site is not Lodi's to do.
		st, raw = lodiAdmin.Do("POST", "/api/v1/services", map[string]any{"site_id": siteOf(t, env, svc["A"]), "name": "Intrusi", "prefix": "Z"})
		wantError(t, st, raw, 422, "unknown_site", "site_id")
	})
}

// freeSlotToday is the first bookable place of a service later today.
func freeSlotToday(t *testing.T, c *testenv.Client, serviceID int64) time.Time {
	t.Helper()
	start, _ := freeSlot(t, c, serviceID, testenv.Monday.Format(time.DateOnly))
	return start
}

func siteOf(t *testing.T, env *testenv.Env, serviceID int64) int64 {
	t.Helper()
	s, err := env.Store.Service(t.Context(), serviceID)
	if err != nil {
		t.Fatal(err)
	}
	return s.SiteID
}
