package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"avanti/appliance/agenda"
	"avanti/appliance/auth"
	"avanti/appliance/civil"
	"avanti/appliance/demo"
	"avanti/appliance/store"
	"avanti/appliance/testenv"
)

// Roles as the API knows them; "anonymous" is a caller without credentials.
const (
	anonymous  = "anonymous"
	kiosk      = "kiosk"
	display    = "display"
	operator   = "operator"
	backoffice = "backoffice"
	admin      = "admin"
)

var allRoles = []string{anonymous, kiosk, display, operator, backoffice, admin}

// callers holds one client per role, all of the demo municipality.
type callers map[string]*testenv.Client

func signIn(t *testing.T, env *testenv.Env) callers {
	t.Helper()
	cr := env.Demo.Credentials
	return callers{
		anonymous:  env.Anonymous(t),
		kiosk:      env.Device(t, cr.KioskToken),
		display:    env.Device(t, cr.DisplayToken),
		operator:   env.Login(t, cr.Operator.Username, cr.Operator.Password),
		backoffice: env.Login(t, cr.Backoffice.Username, cr.Backoffice.Password),
		admin:      env.Login(t, cr.Admin.Username, cr.Admin.Password),
	}
}

// fresh is a new client of the role, with its own session for staff: for
// requests that end the session they run with.
func fresh(t *testing.T, env *testenv.Env, role string) *testenv.Client {
	cr := env.Demo.Credentials
	switch role {
	case kiosk:
		return env.Device(t, cr.KioskToken)
	case display:
		return env.Device(t, cr.DisplayToken)
	case operator:
		return env.Login(t, cr.Operator.Username, cr.Operator.Password)
	case backoffice:
		return env.Login(t, cr.Backoffice.Username, cr.Backoffice.Password)
	case admin:
		return env.Login(t, cr.Admin.Username, cr.Admin.Password)
	}
	return env.Anonymous(t)
}

// ticket is a ticket as the API shows it.
type ticket struct {
	ID                   int64     `json:"id"`
	Code                 string    `json:"code"`
	Token                string    `json:"token"`
	Status               string    `json:"status"`
	ServiceID            int64     `json:"service_id"`
	Start                time.Time `json:"start"`
	End                  time.Time `json:"end"`
	Channel              string    `json:"channel"`
	WalkIn               bool      `json:"walk_in"`
	Position             *int      `json:"position"`
	EstimatedWaitMinutes *int      `json:"estimated_wait_minutes"`
	Note                 string    `json:"note"`
	Desk                 *struct {
		ID     int64  `json:"id"`
		Number string `json:"number"`
	} `json:"desk"`
}

// book books a ticket and fails the test unless it gets one.
func book(t *testing.T, c *testenv.Client, body any) ticket {
	t.Helper()
	var tk ticket
	st, raw := c.Do("POST", "/api/v1/tickets", body)
	if st != 201 {
		t.Fatalf("book %v: status %d: %s", body, st, raw)
	}
	if err := json.Unmarshal(raw, &tk); err != nil {
		t.Fatalf("book: %v: %s", err, raw)
	}
	return tk
}

// freeSlot is the start of the first bookable place of a service on day.
func freeSlot(t *testing.T, c *testenv.Client, serviceID int64, day string) (start time.Time, free int) {
	t.Helper()
	var av struct {
		Days []struct {
			Date  string `json:"date"`
			Slots []struct {
				Start time.Time `json:"start"`
				Free  int       `json:"free"`
			} `json:"slots"`
		} `json:"days"`
	}
	path := fmt.Sprintf("/api/v1/services/%d/availability?from=%s&to=%s", serviceID, day, day)
	if st := c.JSON("GET", path, nil, &av); st != 200 {
		t.Fatalf("GET %s: status %d", path, st)
	}
	for _, d := range av.Days {
		for _, s := range d.Slots {
			if s.Free > 0 {
				return s.Start, s.Free
			}
		}
	}
	t.Fatalf("no free place on %s for service %d", day, serviceID)
	return
}

// freeAt is how many places are free in the slot of a service starting at start.
func freeAt(t *testing.T, c *testenv.Client, serviceID int64, start time.Time) int {
	t.Helper()
	day := start.In(testenv.Rome).Format(time.DateOnly)
	var av struct {
		Days []struct {
			Slots []struct {
				Start time.Time `json:"start"`
				Free  int       `json:"free"`
			} `json:"slots"`
		} `json:"days"`
	}
	c.JSON("GET", fmt.Sprintf("/api/v1/services/%d/availability?from=%s&to=%s", serviceID, day, day), nil, &av)
	for _, d := range av.Days {
		for _, s := range d.Slots {
			if s.Start.Equal(start) {
				return s.Free
			}
		}
	}
	return 0
}

// checkErrorShape fails the test unless raw is exactly the API's one error
// shape, {"error":{"code","message"[,"field"][,"details"]}}, with a code and
// a message.
func checkErrorShape(t *testing.T, status int, raw []byte) testenv.APIError {
	t.Helper()
	var outer map[string]json.RawMessage
	if err := json.Unmarshal(raw, &outer); err != nil {
		t.Fatalf("status %d: error body is not a JSON object: %q", status, raw)
	}
	if len(outer) != 1 || outer["error"] == nil {
		t.Fatalf("status %d: error body must be {\"error\":{...}} only: %s", status, raw)
	}
	var inner map[string]json.RawMessage
	if err := json.Unmarshal(outer["error"], &inner); err != nil {
		t.Fatalf("status %d: \"error\" is not an object: %s", status, raw)
	}
	for k := range inner {
		switch k {
		case "code", "message", "field", "details":
		default:
			t.Errorf("status %d: unexpected key %q in error: %s", status, k, raw)
		}
	}
	var e testenv.APIError
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		t.Fatalf("status %d: error body has the wrong types: %v: %s", status, err, raw)
	}
	if e.Error.Code == "" || e.Error.Message == "" {
		t.Errorf("status %d: error without code or message: %s", status, raw)
	}
	return e
}

// wantError fails the test unless the answer is the given error.
func wantError(t *testing.T, st int, raw []byte, status int, code, field string) {
	t.Helper()
	if st != status {
		t.Fatalf("status %d, want %d: %s", st, status, raw)
	}
	e := checkErrorShape(t, st, raw)
	if e.Error.Code != code {
		t.Errorf("code %q, want %q: %s", e.Error.Code, code, raw)
	}
	if e.Error.Field != field {
		t.Errorf("field %q, want %q: %s", e.Error.Field, field, raw)
	}
}

// otherOwner is a second municipality on the same appliance, with one
// service, one desk, an admin, an operator and a totem.
type otherOwner struct {
	ID         int64
	SiteID     int64
	ServiceID  int64
	DeskID     int64
	Admin      demo.Login
	Operator   demo.Login
	KioskToken string
}

func addOtherOwner(t *testing.T, env *testenv.Env) otherOwner {
	t.Helper()
	ctx, now, st := context.Background(), env.Clock.Now(), env.Store
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	var o otherOwner
	owner, err := st.CreateOwner(ctx, "COMUNE DI LODI", now)
	must(err)
	o.ID = owner.ID
	site, err := st.CreateSite(ctx, store.Site{OwnerID: owner.ID, Name: "Broletto", Timezone: "Europe/Rome"})
	must(err)
	o.SiteID = site.ID
	room, err := st.CreateRoom(ctx, store.Room{SiteID: site.ID, Name: "Sala unica"})
	must(err)
	desk, err := st.CreateDesk(ctx, store.Desk{RoomID: room.ID, Name: "Sportello 1", Number: "1"}, now)
	must(err)
	o.DeskID = desk.ID
	svc, err := st.CreateService(ctx, store.Service{OwnerID: owner.ID, SiteID: site.ID, Name: "Anagrafe", Prefix: "A",
		TargetWaitMin: 15, AvgServiceMin: 10, MaxDaysAhead: 30, CheckinRequired: true, OnlineBookable: true}, now)
	must(err)
	o.ServiceID = svc.ID
	ranges := []agenda.Range{}
	for d := time.Sunday; d <= time.Saturday; d++ {
		ranges = append(ranges, agenda.Range{Weekday: d, Start: 0, End: 24 * 60, SlotMinutes: 10, Places: 5})
	}
	_, err = st.SaveAgenda(ctx, svc.ID, "Sempre", agenda.Agenda{ValidFrom: civil.Today(now, testenv.Rome), Ranges: ranges, OpenOnHolidays: true}, now)
	must(err)
	_, err = st.RegenerateSlots(ctx, svc.ID, now, 2)
	must(err)
	for _, u := range []struct {
		role string
		to   *demo.Login
	}{{store.RoleAdmin, &o.Admin}, {store.RoleOperator, &o.Operator}} {
		pw := auth.Token(12)
		hash, err := auth.HashPassword(pw)
		must(err)
		name := "lodi-" + u.role
		_, err = st.CreateUser(ctx, store.User{OwnerID: owner.ID, Username: name, DisplayName: name, Role: u.role, PasswordHash: hash}, now)
		must(err)
		*u.to = demo.Login{Username: name, Password: pw}
	}
	o.KioskToken = auth.Token(32)
	_, err = st.CreateDevice(ctx, store.Device{OwnerID: owner.ID, RoomID: room.ID, Kind: "kiosk", Name: "Totem Lodi"}, o.KioskToken, now)
	must(err)
	return o
}
