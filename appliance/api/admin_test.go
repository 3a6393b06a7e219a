package api_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"avanti/appliance/testenv"
)

func TestAnAdminShapesTheOrganisationAndEveryChangeIsAudited(t *testing.T) {
	env := testenv.NewServer(t, testenv.Options{})
	who := signIn(t, env)
	var site struct {
		ID       int64 `json:"id"`
		Holidays []struct{ Date, Name string }
	}
	if st := who[admin].JSON("POST", "/api/v1/sites", map[string]any{"name": "Sede di Ombriano", "address": "Via Milano 1, Crema",
		"holidays": []map[string]string{{"date": "01-25", "name": "San Pantaleone"}, {"date": "2026-12-24", "name": "Chiusura straordinaria"}}}, &site); st != 201 {
		t.Fatalf("create site: %d", st)
	}
	if len(site.Holidays) != 2 {
		t.Errorf("site holidays %+v", site.Holidays)
	}
	st, raw := who[admin].Do("PUT", fmt.Sprintf("/api/v1/sites/%d", site.ID), map[string]any{"name": "Sede di Ombriano",
		"holidays": []map[string]string{{"date": "02-30", "name": "x"}}})
	wantError(t, st, raw, 422, "invalid_date", "holidays[0].date")
	var room struct{ ID int64 }
	if st := who[admin].JSON("POST", "/api/v1/rooms", map[string]any{"site_id": site.ID, "name": "Sala Ombriano"}, &room); st != 201 {
		t.Fatalf("create room: %d", st)
	}
	var desk struct{ ID int64 }
	if st := who[admin].JSON("POST", "/api/v1/desks", map[string]any{"room_id": room.ID, "name": "Sportello 1", "number": "1"}, &desk); st != 201 {
		t.Fatalf("create desk: %d", st)
	}
	st, raw = who[admin].Do("POST", "/api/v1/desks", map[string]any{"room_id": room.ID, "name": "Sportello uno", "number": "1"})
	wantError(t, st, raw, 422, "number_taken", "number")
	if st, raw := who[admin].Do("PUT", fmt.Sprintf("/api/v1/desks/%d", desk.ID), map[string]any{"room_id": room.ID, "name": "Sportello Anagrafe", "number": "1"}); st != 200 {
		t.Fatalf("rename desk: %d %s", st, raw)
	}
	var org struct {
		Owner struct{ Name string }
		Desks []struct {
			ID   int64
			Name string
		}
	}
	who[admin].JSON("GET", "/api/v1/org", nil, &org)
	found := false
	for _, d := range org.Desks {
		found = found || (d.ID == desk.ID && d.Name == "Sportello Anagrafe")
	}
	if org.Owner.Name != "COMUNE DI CREMA" || !found {
		t.Errorf("org %+v", org)
	}
	// Another organisation's admin sees none of it.
	other := addOtherOwner(t, env)
	st, raw = env.Login(t, other.Admin.Username, other.Admin.Password).Do("PUT", fmt.Sprintf("/api/v1/desks/%d", desk.ID), map[string]any{"room_id": room.ID, "name": "x", "number": "9"})
	if st != 422 && st != 404 {
		t.Errorf("another owner's admin edits our desk: %d %s", st, raw)
	}

	var log struct {
		Entries []struct {
			Actor, Action, Entity string
			EntityID              int64 `json:"entity_id"`
			Before, After         json.RawMessage
		}
	}
	if st := who[admin].JSON("GET", "/api/v1/audit?entity=desk", nil, &log); st != 200 {
		t.Fatalf("audit: %d", st)
	}
	if len(log.Entries) != 2 || log.Entries[0].Action != "update" || log.Entries[1].Action != "create" ||
		!strings.Contains(string(log.Entries[0].Before), "Sportello 1") || !strings.Contains(string(log.Entries[0].After), "Sportello Anagrafe") {
		t.Errorf("desk audit entries: %+v", log.Entries)
	}
	who[admin].JSON("GET", "/api/v1/audit", nil, &log)
	if len(log.Entries) < 4 || log.Entries[0].Actor == "" {
		t.Errorf("audit log: %+v", log.Entries)
	}
}

func TestAServiceIsEditedAndItsAgendaPreviewedBeforeSaving(t *testing.T) {
	env := testenv.NewServer(t, testenv.Options{})
	who := signIn(t, env)
	svc := env.Demo.Services["T"]
	var s map[string]any
	who[admin].JSON("GET", fmt.Sprintf("/api/v1/services/%d", svc), nil, &s)
	s["notes"] = "Portare il modello F24"
	s["target_wait_min"] = 25
	var got map[string]any
	if st := who[admin].JSON("PUT", fmt.Sprintf("/api/v1/services/%d", svc), s, &got); st != 200 ||
		got["notes"] != "Portare il modello F24" || got["target_wait_min"] != float64(25) {
		t.Fatalf("update service: %d %v", st, got)
	}
	s["prefix"] = "tt"
	st, raw := who[admin].Do("PUT", fmt.Sprintf("/api/v1/services/%d", svc), s)
	wantError(t, st, raw, 422, "invalid_prefix", "prefix")
	s["prefix"], s["active"] = "T", false
	who[admin].JSON("PUT", fmt.Sprintf("/api/v1/services/%d", svc), s, &got)
	var all struct{ Services []map[string]any }
	who[admin].JSON("GET", "/api/v1/services?all=true", nil, &all)
	listed := false
	for _, x := range all.Services {
		listed = listed || (x["id"] == float64(svc) && x["active"] == false)
	}
	if !listed {
		t.Errorf("an inactive service is missing from the console's list")
	}

	// A booked place in Informazioni tomorrow, then an agenda preview that
	// would close that hour: the booking is named, nothing is saved.
	info := env.Demo.Services["I"]
	tomorrow := testenv.Monday.AddDate(0, 0, 1)
	start, _ := freeSlot(t, who[kiosk], info, tomorrow.Format(time.DateOnly))
	tk := book(t, who[kiosk], map[string]any{"service_id": info, "start": start, "citizen": map[string]any{"fiscal_code": citizenFC}})
	var ags []map[string]any
	var agList struct{ Agendas []map[string]any }
	who[admin].JSON("GET", fmt.Sprintf("/api/v1/services/%d/agendas", info), nil, &agList)
	ags = agList.Agendas
	if len(ags) == 0 {
		t.Fatal("Informazioni has no agenda")
	}
	edit := ags[0]
	edit["agenda_id"] = edit["id"]
	delete(edit, "id")
	edit["ranges"] = []map[string]any{{"weekday": 1, "start": "14:00", "end": "16:00", "slot_minutes": 15, "places": 2}}
	var p struct {
		Days []struct {
			Date  string
			Slots []struct {
				Start    time.Time
				Capacity int
			}
		}
		Affected []struct{ Code string } `json:"affected_tickets"`
	}
	st, raw = who[admin].Do("POST", fmt.Sprintf("/api/v1/services/%d/agendas/preview", info), edit)
	if st != 200 || json.Unmarshal(raw, &p) != nil {
		t.Fatalf("preview: %d %s", st, raw)
	}
	if len(p.Days) == 0 || len(p.Days[0].Slots) != 8 || p.Days[0].Slots[0].Start.In(testenv.Rome).Format("15:04") != "14:00" {
		t.Errorf("preview days %+v", p.Days)
	}
	hit := false
	for _, a := range p.Affected {
		hit = hit || a.Code == tk.Code
	}
	if !hit {
		t.Errorf("the preview does not name the booking %s that would lose its slot: %+v", tk.Code, p.Affected)
	}
	if free := freeAt(t, who[kiosk], info, start.Add(5*time.Minute)); free == 0 {
		t.Errorf("the preview changed the slots")
	}
}

func TestTheWorkPlanListsTheDayAndExportsIt(t *testing.T) {
	env := testenv.NewServer(t, testenv.Options{})
	who := signIn(t, env)
	svc := env.Demo.Services["I"]
	day := testenv.Monday.Format(time.DateOnly)
	start, _ := freeSlot(t, who[operator], svc, day)
	tk := book(t, who[operator], map[string]any{"service_id": svc, "start": start, "channel": "phone",
		"citizen": map[string]any{"first_name": "Giulia", "last_name": "Ferrari", "phone": "0373 894111"}})
	var wp struct {
		Slots []struct {
			ID       int64
			Start    time.Time
			Capacity int
			Booked   int
			Open     bool
		}
		Tickets []struct {
			Code    string
			Channel string
			Citizen *struct {
				LastName string `json:"last_name"`
				Phone    string
			}
		}
	}
	if st := who[backoffice].JSON("GET", fmt.Sprintf("/api/v1/services/%d/workplan?date=%s", svc, day), nil, &wp); st != 200 {
		t.Fatalf("work plan: %d", st)
	}
	var slotID int64
	for _, s := range wp.Slots {
		if s.Start.Equal(start) {
			slotID = s.ID
			if s.Booked != 1 {
				t.Errorf("slot booked %d, want 1", s.Booked)
			}
		}
	}
	if len(wp.Tickets) != 1 || wp.Tickets[0].Code != tk.Code || wp.Tickets[0].Channel != "phone" ||
		wp.Tickets[0].Citizen == nil || wp.Tickets[0].Citizen.LastName != "Ferrari" {
		t.Fatalf("work plan tickets %+v", wp.Tickets)
	}

	resp, raw := who[backoffice].Send("GET", fmt.Sprintf("/api/v1/services/%d/workplan.csv?date=%s", svc, day), nil)
	if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Disposition"), "attachment") {
		t.Fatalf("CSV: %d %v", resp.StatusCode, resp.Header)
	}
	r := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(raw, []byte("\ufeff"))))
	r.Comma = ';'
	rows, err := r.ReadAll()
	if err != nil || len(rows) != 2 || rows[0][0] != "Codice" || rows[1][0] != tk.Code || rows[1][8] != "Ferrari" || rows[1][11] != "0373894111" {
		t.Errorf("CSV rows %q (%v)", rows, err)
	}
	resp, raw = who[backoffice].Send("GET", fmt.Sprintf("/api/v1/services/%d/workplan.xlsx?date=%s", svc, day), nil)
	if resp.StatusCode != 200 {
		t.Fatalf("XLSX: %d", resp.StatusCode)
	}
	f, err := excelize.OpenReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("XLSX does not open: %v", err)
	}
	xrows, err := f.GetRows("Piano di lavoro")
	if err != nil || len(xrows) != 2 || xrows[1][0] != tk.Code || xrows[1][8] != "Ferrari" {
		t.Errorf("XLSX rows %q (%v)", xrows, err)
	}

	// Places: never below what is booked; a closed slot takes no booking.
	st, raw := who[backoffice].Do("PATCH", fmt.Sprintf("/api/v1/slots/%d", slotID), map[string]any{"capacity": 0})
	wantError(t, st, raw, 409, "capacity_below_booked", "")
	if st, raw := who[backoffice].Do("PATCH", fmt.Sprintf("/api/v1/slots/%d", slotID), map[string]any{"open": false}); st != 200 {
		t.Fatalf("close slot: %d %s", st, raw)
	}
	st, raw = who[operator].Do("POST", "/api/v1/tickets", map[string]any{"service_id": svc, "start": start, "channel": "phone"})
	wantError(t, st, raw, 409, "slot_closed", "")
	// Saving the agenda again regenerates the slots: the hand-made closure stays.
	var ags struct{ Agendas []map[string]any }
	who[admin].JSON("GET", fmt.Sprintf("/api/v1/services/%d/agendas", svc), nil, &ags)
	ag := ags.Agendas[0]
	if st, raw := who[admin].Do("PUT", fmt.Sprintf("/api/v1/services/%d/agendas/%v", svc, ag["id"]), ag); st != 200 {
		t.Fatalf("save agenda: %d %s", st, raw)
	}
	st, raw = who[operator].Do("POST", "/api/v1/tickets", map[string]any{"service_id": svc, "start": start, "channel": "phone"})
	wantError(t, st, raw, 409, "slot_closed", "")
	if st, _ := who[operator].Do("GET", fmt.Sprintf("/api/v1/services/%d/workplan", svc), nil); st != 403 {
		t.Errorf("an operator reads the work plan: %d", st)
	}
}

func TestUsersAreManagedAndOperatorsGetTheirServices(t *testing.T) {
	env := testenv.NewServer(t, testenv.Options{})
	who := signIn(t, env)
	svc := env.Demo.Services["A"]
	var created struct {
		User struct {
			ID         int64   `json:"id"`
			Email      string  `json:"email"`
			ServiceIDs []int64 `json:"service_ids"`
		}
		Password string
	}
	for _, bad := range []string{"paolo.neri", "Paolo Neri <paolo.neri@comune.example.it>", "a@b.it, c@d.it", strings.Repeat("x", 250) + "@b.it"} {
		st, raw := who[admin].Do("POST", "/api/v1/users", map[string]any{"username": "operatore3", "role": "operator", "email": bad})
		wantError(t, st, raw, 422, "invalid_email", "email")
	}
	if st := who[admin].JSON("POST", "/api/v1/users", map[string]any{"username": "operatore3", "display_name": "Paolo Neri",
		"role": "operator", "email": " paolo.neri@comune.example.it ", "service_ids": []int64{svc}}, &created); st != 201 || created.Password == "" ||
		created.User.Email != "paolo.neri@comune.example.it" {
		t.Fatalf("create user: %d %+v", st, created)
	}
	op := env.Login(t, "operatore3", created.Password)
	var me struct {
		Role       string
		Source     string
		Email      string
		ServiceIDs []int64 `json:"service_ids"`
	}
	op.JSON("GET", "/api/v1/auth/me", nil, &me)
	if me.Role != "operator" || me.Source != "local" || me.Email != "paolo.neri@comune.example.it" || len(me.ServiceIDs) != 1 || me.ServiceIDs[0] != svc {
		t.Errorf("me %+v", me)
	}
	// A change without email keeps it; an empty one removes it.
	var saved struct {
		User struct{ Email string }
	}
	path := fmt.Sprintf("/api/v1/users/%d", created.User.ID)
	if who[admin].JSON("PUT", path, map[string]any{"display_name": "Paolo Neri", "role": "operator"}, &saved); saved.User.Email != "paolo.neri@comune.example.it" {
		t.Errorf("a change without email: %+v", saved)
	}
	var list struct {
		Users []struct{ Username, Email string }
	}
	who[admin].JSON("GET", "/api/v1/users", nil, &list)
	if !slices.ContainsFunc(list.Users, func(u struct{ Username, Email string }) bool {
		return u.Username == "operatore3" && u.Email == "paolo.neri@comune.example.it"
	}) {
		t.Errorf("the list lacks the address: %+v", list)
	}
	saved.User.Email = "" // omitted when none
	if who[admin].JSON("PUT", path, map[string]any{"display_name": "Paolo Neri", "role": "operator", "email": ""}, &saved); saved.User.Email != "" {
		t.Errorf("an empty email should remove it: %+v", saved)
	}
	// Password change: the current one is checked, the new one must be strong.
	st, raw := op.Do("POST", "/api/v1/auth/password", map[string]any{"current": "nope-nope-nope", "new": "Un3-password-lunga"})
	wantError(t, st, raw, 422, "wrong_password", "current")
	st, raw = op.Do("POST", "/api/v1/auth/password", map[string]any{"current": created.Password, "new": "corta"})
	wantError(t, st, raw, 422, "weak_password", "new")
	if st, raw := op.Do("POST", "/api/v1/auth/password", map[string]any{"current": created.Password, "new": "Un3-password-lunga"}); st != 204 {
		t.Fatalf("change password: %d %s", st, raw)
	}
	env.Login(t, "operatore3", "Un3-password-lunga")
	// Deactivated: the session ends, no new one.
	if st, raw := who[admin].Do("PUT", fmt.Sprintf("/api/v1/users/%d", created.User.ID), map[string]any{"display_name": "Paolo Neri",
		"role": "operator", "active": false}); st != 200 {
		t.Fatalf("deactivate: %d %s", st, raw)
	}
	if st, _ := op.Do("GET", "/api/v1/auth/me", nil); st != 401 {
		t.Errorf("a deactivated user's session still works: %d", st)
	}
	st, raw = env.Anonymous(t).Do("POST", "/api/v1/auth/login", map[string]any{"username": "operatore3", "password": "Un3-password-lunga"})
	wantError(t, st, raw, 401, "invalid_credentials", "")
	// An admin cannot lock themselves out.
	var self struct{ ID int64 }
	who[admin].JSON("GET", "/api/v1/auth/me", nil, &self)
	st, raw = who[admin].Do("PUT", fmt.Sprintf("/api/v1/users/%d", self.ID), map[string]any{"role": "operator"})
	wantError(t, st, raw, 409, "cannot_demote_self", "")
}

func TestAnUnpairedDeviceLosesItsCredential(t *testing.T) {
	env := testenv.NewServer(t, testenv.Options{})
	who := signIn(t, env)
	var me struct {
		Device struct{ ID int64 } `json:"device"`
	}
	who[display].JSON("GET", "/api/v1/device", nil, &me)
	if st, raw := who[admin].Do("PUT", fmt.Sprintf("/api/v1/devices/%d", me.Device.ID), map[string]any{"name": "Vecchio monitor", "active": false}); st != 200 {
		t.Fatalf("unpair: %d %s", st, raw)
	}
	st, raw := env.Device(t, env.Demo.Credentials.DisplayToken).Do("GET", "/api/v1/device", nil)
	wantError(t, st, raw, 401, "invalid_token", "")
}

func TestTheDeskAppGetsReasonsUpcomingTicketsAndStatistics(t *testing.T) {
	env := testenv.NewServer(t, testenv.Options{})
	who := signIn(t, env)
	svc := env.Demo.Services["I"]
	for range 3 {
		book(t, who[kiosk], map[string]any{"service_id": svc})
	}
	desk := env.Demo.DeskIDs[0]
	who[operator].Do("POST", fmt.Sprintf("/api/v1/desks/%d/open", desk), map[string]any{"service_ids": []int64{svc}})
	var up struct{ Tickets []ticket }
	if st := who[operator].JSON("GET", fmt.Sprintf("/api/v1/desks/%d/upcoming", desk), nil, &up); st != 200 || len(up.Tickets) != 3 || up.Tickets[0].Status != "waiting" {
		t.Errorf("upcoming: %d %+v", st, up.Tickets)
	}
	var d struct {
		OperatorName string `json:"operator_name"`
		RoomName     string `json:"room_name"`
	}
	who[operator].JSON("GET", fmt.Sprintf("/api/v1/desks/%d", desk), nil, &d)
	if d.OperatorName == "" || d.RoomName == "" {
		t.Errorf("desk without operator or room name: %+v", d)
	}
	var reasons struct {
		Reasons []struct{ Code, Label string }
	}
	who[operator].JSON("GET", "/api/v1/pause-reasons", nil, &reasons)
	if len(reasons.Reasons) < 3 || reasons.Reasons[0].Label == "" {
		t.Errorf("pause reasons %+v", reasons)
	}
	who[operator].Do("POST", fmt.Sprintf("/api/v1/desks/%d/call-next", desk), nil)
	// After a reload the desk still says why this ticket was called.
	var cur struct {
		Current struct {
			Reason map[string]any `json:"reason"`
		} `json:"current_ticket"`
	}
	who[operator].JSON("GET", fmt.Sprintf("/api/v1/desks/%d", desk), nil, &cur)
	if cur.Current.Reason["rule"] == nil {
		t.Errorf("the current ticket carries no reason: %+v", cur)
	}
	var me struct {
		ServerTime string `json:"server_time"`
		TimeZone   string `json:"time_zone"`
	}
	who[operator].JSON("GET", "/api/v1/auth/me", nil, &me)
	if !strings.HasPrefix(me.ServerTime, "2026-11-23T08:00") || me.TimeZone != "Europe/Rome" {
		t.Errorf("me: server time %q zone %q, want the appliance's", me.ServerTime, me.TimeZone)
	}
	who[operator].Do("POST", fmt.Sprintf("/api/v1/desks/%d/no-show", desk), nil)
	var stats struct {
		Services []struct {
			ID      int64
			Tickets int
			NoShow  int `json:"no_show"`
		}
	}
	if st := who[backoffice].JSON("GET", "/api/v1/stats?from=2026-11-23&to=2026-11-23", nil, &stats); st != 200 {
		t.Fatalf("stats: %d", st)
	}
	for _, s := range stats.Services {
		if s.ID == svc && (s.Tickets != 3 || s.NoShow != 1) {
			t.Errorf("Informazioni stats %+v, want 3 tickets, 1 no-show", s)
		}
	}
}
