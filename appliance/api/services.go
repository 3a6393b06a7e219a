package api

import (
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"avanti/appliance/agenda"
	"avanti/appliance/civil"
	"avanti/appliance/fault"
	"avanti/appliance/store"
)

// publicService is what anyone may read of a service.
type publicService struct {
	ID              int64  `json:"id"`
	OwnerID         int64  `json:"owner_id"`
	Name            string `json:"name"`
	Description     string `json:"description"`
	Notes           string `json:"notes"`
	Prefix          string `json:"prefix"`
	OnlineBookable  bool   `json:"online_bookable"`
	CheckinRequired bool   `json:"checkin_required"`
	MaxDaysAhead    int    `json:"max_days_ahead"`
	MinNoticeMin    int    `json:"min_notice_min"`
	TargetWaitMin   int    `json:"target_wait_min"`
}

func toPublic(s store.Service) publicService {
	return publicService{ID: s.ID, OwnerID: s.OwnerID, Name: s.Name, Description: s.Description, Notes: s.Notes,
		Prefix: s.Prefix, OnlineBookable: s.OnlineBookable, CheckinRequired: s.CheckinRequired,
		MaxDaysAhead: s.MaxDaysAhead, MinNoticeMin: s.MinNoticeMin, TargetWaitMin: s.TargetWaitMin}
}

func (a *API) listServices(c echo.Context) error {
	if r := principal(c).Role(); c.QueryParam("all") == "true" && (r == store.RoleAdmin || r == store.RoleBackoffice) {
		// The console's list: every rule, inactive services too.
		list, err := a.st.AllServices(c.Request().Context(), principal(c).OwnerID())
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, map[string]any{"services": list})
	}
	list, err := a.st.Services(c.Request().Context(), principal(c).OwnerID())
	if err != nil {
		return err
	}
	out := make([]publicService, 0, len(list))
	for _, s := range list {
		out = append(out, toPublic(s))
	}
	return c.JSON(http.StatusOK, map[string]any{"services": out})
}

// service loads the :id service, hiding other owners' services from staff
// and devices.
func (a *API) service(c echo.Context) (store.Service, error) {
	id, err := pathID(c, "id")
	if err != nil {
		return store.Service{}, err
	}
	svc, err := a.st.Service(c.Request().Context(), id)
	if err != nil {
		return svc, err
	}
	r := principal(c).Role()
	planner := r == store.RoleAdmin || r == store.RoleBackoffice
	if o := principal(c).OwnerID(); (o != 0 && svc.OwnerID != o) || (!svc.Active && !planner) {
		return store.Service{}, store.ErrServiceNotFound
	}
	return svc, nil
}

func (a *API) getService(c echo.Context) error {
	svc, err := a.service(c)
	if err != nil {
		return err
	}
	if r := principal(c).Role(); r == store.RoleAdmin || r == store.RoleBackoffice {
		return c.JSON(http.StatusOK, svc)
	}
	return c.JSON(http.StatusOK, toPublic(svc))
}

func (a *API) createService(c echo.Context) error {
	var req store.Service
	// Defaults a municipal service starts from; the body overrides them.
	req = store.Service{TargetWaitMin: 15, AllowedLatenessMin: 10, CheckinEarlyMin: 30, CheckinRequired: true,
		OnlineBookable: true, MaxDaysAhead: 60, AvgServiceMin: 10, IDRequiredFuture: true, PriorityWeight: 2, EarlyCalls: true}
	if err := decode(c, &req); err != nil {
		return err
	}
	if req.SiteID == 0 {
		return fault.Field("site_id", "required", "site_id is required")
	}
	// Set by the appliance, never by the caller: refused rather than ignored.
	switch {
	case req.ID != 0:
		return fault.Field("id", "read_only", "id is assigned by the appliance")
	case req.OwnerID != 0:
		return fault.Field("owner_id", "read_only", "the owner is the one of the signed-in user")
	case req.Timezone != "":
		return fault.Field("timezone", "read_only", "the time zone is the site's")
	}
	req.OwnerID = principal(c).OwnerID()
	svc, err := a.st.CreateService(c.Request().Context(), req, a.now())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, svc)
}

func (a *API) availability(c echo.Context) error {
	svc, err := a.service(c)
	if err != nil {
		return err
	}
	today := civil.Today(a.now(), svc.Location())
	from, to := today, today.AddDays(30)
	if s := c.QueryParam("from"); s != "" {
		if from, err = civil.ParseDate(s); err != nil {
			return fault.Field("from", "invalid_date", "from must be a date as YYYY-MM-DD")
		}
		to = from.AddDays(30)
	}
	if s := c.QueryParam("to"); s != "" {
		if to, err = civil.ParseDate(s); err != nil {
			return fault.Field("to", "invalid_date", "to must be a date as YYYY-MM-DD")
		}
	}
	days, err := a.st.Availability(c.Request().Context(), svc.ID, from, to, a.now())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"service_id": svc.ID, "days": days})
}

func (a *API) punctuality(c echo.Context) error {
	svc, err := a.service(c)
	if err != nil {
		return err
	}
	p, err := a.st.Punctuality(c.Request().Context(), svc.ID, a.now())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, p)
}

// agendaBody is an agenda as the API reads and writes it.
type agendaBody struct {
	ID             int64           `json:"id"`
	Name           string          `json:"name"`
	ValidFrom      civil.Date      `json:"valid_from"`
	ValidTo        *civil.Date     `json:"valid_to"`
	OpenOnHolidays bool            `json:"open_on_holidays"`
	Ranges         []rangeBody     `json:"ranges"`
	Exceptions     []exceptionBody `json:"exceptions"`
}

type rangeBody struct {
	Weekday     int    `json:"weekday"` // 0 = Sunday … 6 = Saturday
	Start       string `json:"start"`   // HH:MM
	End         string `json:"end"`     // HH:MM, 24:00 allowed
	SlotMinutes int    `json:"slot_minutes"`
	Places      int    `json:"places"`
}

type exceptionBody struct {
	Day         civil.Date `json:"day"`
	Kind        string     `json:"kind"` // closed | open
	Start       string     `json:"start,omitempty"`
	End         string     `json:"end,omitempty"`
	SlotMinutes int        `json:"slot_minutes,omitempty"`
	Places      int        `json:"places,omitempty"`
}

func parseClock(field, s string, allowEmpty bool) (int, error) {
	if s == "" && allowEmpty {
		return 0, nil
	}
	if s == "24:00" {
		return 1440, nil
	}
	t, err := time.Parse("15:04", s)
	if err != nil {
		return 0, fault.Field(field, "invalid_time", field+" must be a time as HH:MM")
	}
	return t.Hour()*60 + t.Minute(), nil
}

func fmtClock(m int) string {
	if m == 0 {
		return ""
	}
	if m == 1440 {
		return "24:00"
	}
	return time.Date(0, 1, 1, 0, m, 0, 0, time.UTC).Format("15:04")
}

func (b agendaBody) toAgenda() (agenda.Agenda, error) {
	a := agenda.Agenda{ID: b.ID, Name: b.Name, ValidFrom: b.ValidFrom, OpenOnHolidays: b.OpenOnHolidays}
	if b.ValidFrom.IsZero() {
		return a, fault.Field("valid_from", "required", "valid_from is required")
	}
	if b.ValidTo != nil {
		a.ValidTo = *b.ValidTo
	}
	for i, r := range b.Ranges {
		if r.Weekday < 0 || r.Weekday > 6 {
			return a, fault.Field(fmt.Sprintf("ranges[%d].weekday", i), "invalid_weekday", "weekday must be 0 (Sunday) to 6 (Saturday)")
		}
		start, err := parseClock(fmt.Sprintf("ranges[%d].start", i), r.Start, false)
		if err != nil {
			return a, err
		}
		end, err := parseClock(fmt.Sprintf("ranges[%d].end", i), r.End, false)
		if err != nil {
			return a, err
		}
		a.Ranges = append(a.Ranges, agenda.Range{Weekday: time.Weekday(r.Weekday), Start: start, End: end, SlotMinutes: r.SlotMinutes, Places: r.Places})
	}
	for i, e := range b.Exceptions {
		start, err := parseClock(fmt.Sprintf("exceptions[%d].start", i), e.Start, true)
		if err != nil {
			return a, err
		}
		end, err := parseClock(fmt.Sprintf("exceptions[%d].end", i), e.End, true)
		if err != nil {
			return a, err
		}
		a.Exceptions = append(a.Exceptions, agenda.Exception{Day: e.Day, Kind: agenda.ExceptionKind(e.Kind), Start: start, End: end,
			SlotMinutes: e.SlotMinutes, Places: e.Places})
	}
	return a, nil
}

func fromAgenda(a agenda.Agenda) agendaBody {
	b := agendaBody{ID: a.ID, Name: a.Name, ValidFrom: a.ValidFrom, OpenOnHolidays: a.OpenOnHolidays, Ranges: []rangeBody{}, Exceptions: []exceptionBody{}}
	if !a.ValidTo.IsZero() {
		to := a.ValidTo
		b.ValidTo = &to
	}
	for _, r := range a.Ranges {
		end := fmtClock(r.End)
		if r.End == 1440 {
			end = "24:00"
		}
		start := fmtClock(r.Start)
		if start == "" {
			start = "00:00"
		}
		b.Ranges = append(b.Ranges, rangeBody{Weekday: int(r.Weekday), Start: start, End: end, SlotMinutes: r.SlotMinutes, Places: r.Places})
	}
	for _, e := range a.Exceptions {
		b.Exceptions = append(b.Exceptions, exceptionBody{Day: e.Day, Kind: string(e.Kind), Start: fmtClock(e.Start), End: fmtClock(e.End),
			SlotMinutes: e.SlotMinutes, Places: e.Places})
	}
	return b
}

func (a *API) listAgendas(c echo.Context) error {
	svc, err := a.service(c)
	if err != nil {
		return err
	}
	list, err := a.st.Agendas(c.Request().Context(), svc.ID)
	if err != nil {
		return err
	}
	out := make([]agendaBody, 0, len(list))
	for _, ag := range list {
		out = append(out, fromAgenda(ag))
	}
	return c.JSON(http.StatusOK, map[string]any{"agendas": out})
}

// saveAgenda creates (POST) or replaces (PUT) an agenda, then regenerates
// the service's slots and lists the tickets that lost their slot.
func (a *API) saveAgenda(c echo.Context) error {
	svc, err := a.service(c)
	if err != nil {
		return err
	}
	var body agendaBody
	if err := decode(c, &body); err != nil {
		return err
	}
	body.ID = 0
	if c.Param("agenda_id") != "" {
		if body.ID, err = pathID(c, "agenda_id"); err != nil {
			return err
		}
	}
	ag, err := body.toAgenda()
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	id, err := a.st.SaveAgenda(ctx, svc.ID, ag.Name, ag, a.now())
	if err != nil {
		return err
	}
	regen, err := a.st.RegenerateSlots(ctx, svc.ID, a.now(), a.opt.HorizonDays)
	if err != nil {
		return err
	}
	affected := make([]map[string]any, 0, len(regen.Affected))
	for _, t := range regen.Affected {
		affected = append(affected, map[string]any{"id": t.ID, "code": t.Code, "start": t.Start, "status": t.Status})
	}
	code := http.StatusCreated
	if c.Request().Method == http.MethodPut {
		code = http.StatusOK
	}
	ag.ID = id
	return c.JSON(code, map[string]any{"agenda": fromAgenda(ag), "slots": map[string]int{
		"added": regen.Added, "updated": regen.Updated, "removed": regen.Removed, "closed": regen.Closed},
		"affected_tickets": affected})
}
