package api

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/xuri/excelize/v2"

	"avanti/appliance/auth"
	"avanti/appliance/civil"
	"avanti/appliance/fault"
	"avanti/appliance/store"
)

// The admin console's routes (docs/console.md). Every change is written to
// the audit log with what it was before and after.

func (a *API) audit(c echo.Context, action, entity string, id int64, before, after any) {
	p := principal(c)
	if err := a.st.Audit(c.Request().Context(), p.OwnerID(), p.Name(), action, entity, id, before, after, a.now()); err != nil {
		// The change is made; losing its trace is logged loudly.
		a.log.Error("audit log", "action", action, "entity", entity, "id", id, "err", err)
	}
}

func (a *API) getOrg(c echo.Context) error {
	o, err := a.st.Org(c.Request().Context(), principal(c).OwnerID())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, o)
}

type nameRequest struct {
	Name string `json:"name"`
}

func (a *API) putOwner(c echo.Context) error {
	var req nameRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	ctx, owner := c.Request().Context(), principal(c).OwnerID()
	before, err := a.st.Org(ctx, owner)
	if err != nil {
		return err
	}
	if err := a.st.RenameOwner(ctx, owner, req.Name); err != nil {
		return err
	}
	after, err := a.st.Org(ctx, owner)
	if err != nil {
		return err
	}
	a.audit(c, "update", "owner", owner, before.Owner, after.Owner)
	return c.JSON(http.StatusOK, after.Owner)
}

type siteRequest struct {
	Name     string          `json:"name"`
	Address  string          `json:"address"`
	Timezone string          `json:"timezone"`
	Holidays []store.Holiday `json:"holidays"`
}

func (a *API) saveSite(c echo.Context) error {
	id, err := optionalID(c)
	if err != nil {
		return err
	}
	var req siteRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	ctx, owner := c.Request().Context(), principal(c).OwnerID()
	before := a.orgItem(ctx, owner, func(o store.Org) any {
		for _, s := range o.Sites {
			if s.ID == id {
				return s
			}
		}
		return nil
	})
	si, err := a.st.SaveSite(ctx, store.SiteInfo{Site: store.Site{ID: id, OwnerID: owner, Name: req.Name, Address: req.Address, Timezone: req.Timezone}, Holidays: req.Holidays})
	if err != nil {
		return err
	}
	return a.saved(c, id == 0, "site", si.ID, before, si)
}

type roomRequest struct {
	SiteID int64  `json:"site_id"`
	Name   string `json:"name"`
}

func (a *API) saveRoom(c echo.Context) error {
	id, err := optionalID(c)
	if err != nil {
		return err
	}
	var req roomRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	ctx, owner := c.Request().Context(), principal(c).OwnerID()
	before := a.orgItem(ctx, owner, func(o store.Org) any {
		for _, r := range o.Rooms {
			if r.ID == id {
				return r
			}
		}
		return nil
	})
	r, err := a.st.SaveRoom(ctx, owner, store.Room{ID: id, SiteID: req.SiteID, Name: req.Name})
	if err != nil {
		return err
	}
	return a.saved(c, id == 0, "room", r.ID, before, r)
}

type deskRequest struct {
	RoomID int64  `json:"room_id"`
	Name   string `json:"name"`
	Number string `json:"number"`
}

func (a *API) saveDesk(c echo.Context) error {
	id, err := optionalID(c)
	if err != nil {
		return err
	}
	var req deskRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	ctx, owner := c.Request().Context(), principal(c).OwnerID()
	before := a.orgItem(ctx, owner, func(o store.Org) any {
		for _, d := range o.Desks {
			if d.ID == id {
				return d
			}
		}
		return nil
	})
	d, err := a.st.SaveDesk(ctx, owner, store.OrgDesk{ID: id, RoomID: req.RoomID, Name: req.Name, Number: req.Number}, a.now())
	if err != nil {
		return err
	}
	return a.saved(c, id == 0, "desk", d.ID, before, d)
}

// orgItem picks the state of one organisation record before a change.
func (a *API) orgItem(ctx context.Context, owner int64, pick func(store.Org) any) any {
	o, err := a.st.Org(ctx, owner)
	if err != nil {
		return nil
	}
	return pick(o)
}

// saved answers a create (201) or update (200) and audits it.
func (a *API) saved(c echo.Context, created bool, entity string, id int64, before, after any) error {
	if created {
		a.audit(c, "create", entity, id, nil, after)
		return c.JSON(http.StatusCreated, after)
	}
	a.audit(c, "update", entity, id, before, after)
	return c.JSON(http.StatusOK, after)
}

// optionalID is the :id of an update, or 0 for a create.
func optionalID(c echo.Context) (int64, error) {
	if c.Param("id") == "" {
		return 0, nil
	}
	return pathID(c, "id")
}

func (a *API) updateService(c echo.Context) error {
	cur, err := a.service(c)
	if err != nil {
		return err
	}
	req := cur
	if err := decode(c, &req); err != nil {
		return err
	}
	switch {
	case req.ID != cur.ID:
		return fault.Field("id", "read_only", "id is assigned by the appliance")
	case req.OwnerID != cur.OwnerID:
		return fault.Field("owner_id", "read_only", "the owner is the one of the signed-in user")
	case req.Timezone != cur.Timezone:
		return fault.Field("timezone", "read_only", "the time zone is the site's")
	}
	svc, err := a.st.UpdateService(c.Request().Context(), req, a.now())
	if err != nil {
		return err
	}
	a.audit(c, "update", "service", svc.ID, cur, svc)
	if a.live != nil {
		a.live.QueueChanged(svc.OwnerID)
	}
	return c.JSON(http.StatusOK, svc)
}

// previewAgenda shows what saving an agenda would make, saving nothing.
func (a *API) previewAgenda(c echo.Context) error {
	svc, err := a.service(c)
	if err != nil {
		return err
	}
	var body struct {
		agendaBody
		AgendaID int64 `json:"agenda_id"`
	}
	if err := decode(c, &body); err != nil {
		return err
	}
	body.agendaBody.ID = body.AgendaID
	ag, err := body.toAgenda()
	if err != nil {
		return err
	}
	p, err := a.st.PreviewAgenda(c.Request().Context(), svc.ID, ag, a.now(), 14, a.opt.HorizonDays)
	if err != nil {
		return err
	}
	affected := make([]map[string]any, 0, len(p.Affected))
	for _, t := range p.Affected {
		affected = append(affected, map[string]any{"id": t.ID, "code": t.Code, "start": t.Start.In(svc.Location()), "status": t.Status})
	}
	return c.JSON(http.StatusOK, map[string]any{"days": p.Days, "affected_tickets": affected})
}

// workTicket is a ticket in the work plan: the back office sees the
// citizen's contact data (the plan is theirs to call people back).
type workTicket struct {
	ticketView
	CheckedInAt *time.Time     `json:"checked_in_at"`
	CalledAt    *time.Time     `json:"called_at"`
	FinishedAt  *time.Time     `json:"finished_at"`
	Citizen     *store.Citizen `json:"citizen,omitempty"`
	Note        string         `json:"note,omitempty"`
}

func optTime(t time.Time, loc *time.Location) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.In(loc)
	return &t
}

func (a *API) workPlan(c echo.Context) (store.Service, store.WorkPlan, []workTicket, error) {
	svc, err := a.service(c)
	if err != nil {
		return svc, store.WorkPlan{}, nil, err
	}
	day := civil.Today(a.now(), svc.Location())
	if s := c.QueryParam("date"); s != "" {
		if day, err = civil.ParseDate(s); err != nil {
			return svc, store.WorkPlan{}, nil, fault.Field("date", "invalid_date", "date must be YYYY-MM-DD")
		}
	}
	ctx := c.Request().Context()
	wp, err := a.st.WorkPlan(ctx, svc, day)
	if err != nil {
		return svc, wp, nil, err
	}
	loc := svc.Location()
	list := make([]workTicket, 0, len(wp.Tickets))
	for _, t := range wp.Tickets {
		v, err := a.view(ctx, t, false)
		if err != nil {
			return svc, wp, nil, err
		}
		w := workTicket{ticketView: v, CheckedInAt: optTime(t.CheckedInAt, loc), CalledAt: optTime(t.CalledAt, loc),
			FinishedAt: optTime(t.FinishedAt, loc), Note: t.Note}
		if !t.Citizen.Empty() {
			cz := t.Citizen
			w.Citizen = &cz
		}
		list = append(list, w)
	}
	return svc, wp, list, nil
}

func (a *API) getWorkPlan(c echo.Context) error {
	svc, wp, list, err := a.workPlan(c)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, map[string]any{"date": wp.Date, "service": svc, "slots": wp.Slots, "tickets": list})
}

// workPlanRows are the export's rows, header first: the same columns as
// the console's table.
func workPlanRows(list []workTicket) [][]string {
	rows := [][]string{{"Codice", "Orario", "Stato", "Canale", "Arrivo", "Chiamata", "Fine", "Sportello",
		"Cognome", "Nome", "Codice fiscale", "Telefono", "Email", "Note"}}
	hm := func(t *time.Time) string {
		if t == nil {
			return ""
		}
		return t.Format("15:04")
	}
	for _, w := range list {
		var c store.Citizen
		if w.Citizen != nil {
			c = *w.Citizen
		}
		desk := ""
		if w.Desk != nil {
			desk = w.Desk.Name
		}
		rows = append(rows, []string{w.Code, w.Start.Format("15:04"), w.Status, w.Channel, hm(w.CheckedInAt),
			hm(w.CalledAt), hm(w.FinishedAt), desk, c.LastName, c.FirstName, c.FiscalCode, c.Phone, c.Email, w.Note})
	}
	return rows
}

func (a *API) workPlanCSV(c echo.Context) error {
	svc, wp, list, err := a.workPlan(c)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	buf.WriteString("\ufeff") // Excel opens UTF-8 CSV right only with a BOM
	w := csv.NewWriter(&buf)
	w.Comma = ';' // what Italian spreadsheets expect
	if err := w.WriteAll(workPlanRows(list)); err != nil {
		return err
	}
	a.audit(c, "export", "work_plan", svc.ID, nil, map[string]any{"date": wp.Date, "format": "csv", "rows": len(list)})
	c.Response().Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="piano-%s-%s.csv"`, svc.Prefix, wp.Date))
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.Blob(http.StatusOK, "text/csv; charset=utf-8", buf.Bytes())
}

func (a *API) workPlanXLSX(c echo.Context) error {
	svc, wp, list, err := a.workPlan(c)
	if err != nil {
		return err
	}
	f := excelize.NewFile()
	defer f.Close()
	sheet := "Piano di lavoro"
	if err := f.SetSheetName("Sheet1", sheet); err != nil {
		return err
	}
	for i, row := range workPlanRows(list) {
		cells := make([]any, len(row))
		for j, v := range row {
			cells[j] = v
		}
		cell, _ := excelize.CoordinatesToCellName(1, i+1)
		if err := f.SetSheetRow(sheet, cell, &cells); err != nil {
			return err
		}
	}
	var buf bytes.Buffer
	if err := f.Write(&buf); err != nil {
		return err
	}
	a.audit(c, "export", "work_plan", svc.ID, nil, map[string]any{"date": wp.Date, "format": "xlsx", "rows": len(list)})
	c.Response().Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="piano-%s-%s.xlsx"`, svc.Prefix, wp.Date))
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.Blob(http.StatusOK, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", buf.Bytes())
}

func (a *API) patchSlot(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	var p store.SlotPatch
	if err := decode(c, &p); err != nil {
		return err
	}
	w, serviceID, err := a.st.PatchSlot(c.Request().Context(), principal(c).OwnerID(), id, p)
	if err != nil {
		return err
	}
	a.audit(c, "update", "slot", w.ID, p, w)
	a.notifyQueue(c.Request().Context(), serviceID)
	return c.JSON(http.StatusOK, w)
}

type userRequest struct {
	Username    string  `json:"username"`
	DisplayName string  `json:"display_name"`
	Email       *string `json:"email"` // absent on a change: kept
	Role        string  `json:"role"`
	Source      string  `json:"source"`
	Password    string  `json:"password"`
	Active      *bool   `json:"active"`
	ServiceIDs  []int64 `json:"service_ids"`
}

func (a *API) listUsers(c echo.Context) error {
	list, err := a.st.Users(c.Request().Context(), principal(c).OwnerID())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"users": list})
}

func (a *API) saveUser(c echo.Context) error {
	id, err := optionalID(c)
	if err != nil {
		return err
	}
	var req userRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	ctx, owner := c.Request().Context(), principal(c).OwnerID()
	u := store.UserInfo{User: store.User{ID: id, OwnerID: owner, Username: req.Username, DisplayName: req.DisplayName, Role: req.Role, Active: true},
		Source: req.Source, ServiceIDs: req.ServiceIDs}
	if u.Source == "" {
		u.Source = store.SourceLocal
	}
	if u.ServiceIDs == nil {
		u.ServiceIDs = []int64{}
	}
	var before any
	if id != 0 {
		cur, err := a.st.UserInfo(ctx, id)
		if err != nil || cur.OwnerID != owner {
			return store.ErrUserNotFound
		}
		before = cur
		u.Email = cur.Email
		if req.Username != "" && req.Username != cur.Username {
			return fault.Field("username", "read_only", "a username cannot change: create a new account")
		}
		u.Username = cur.Username
		if req.Active != nil {
			u.Active = *req.Active
		}
		if id == principal(c).User.ID && (!u.Active || u.Role != store.RoleAdmin) {
			return fault.New(fault.Conflict, "cannot_demote_self", "you cannot remove your own administrator access")
		}
	}
	if req.Email != nil {
		u.Email = *req.Email
	}
	// A local account needs a password: one is generated when none is given
	// and shown once.
	generated := ""
	if req.Password == "" && id == 0 && u.Source != store.SourceDirectory {
		generated = auth.Token(12)
		req.Password = generated
	}
	hash := ""
	if req.Password != "" {
		if err := auth.CheckPasswordRules(req.Password); err != nil {
			if f, ok := fault.As(err); ok {
				return fault.Field("password", "weak_password", f.Message)
			}
			return err
		}
		if hash, err = auth.HashPassword(req.Password); err != nil {
			return err
		}
	}
	saved, err := a.st.SaveUser(ctx, u, hash, a.now())
	if err != nil {
		return err
	}
	if id == 0 {
		a.audit(c, "create", "user", saved.ID, nil, saved)
		out := map[string]any{"user": saved}
		if generated != "" {
			out["password"] = generated
		}
		return c.JSON(http.StatusCreated, out)
	}
	a.audit(c, "update", "user", saved.ID, before, saved)
	if a.live != nil && !saved.Active {
		a.live.UserRevoked(saved.ID)
	}
	return c.JSON(http.StatusOK, map[string]any{"user": saved})
}

type deviceRequest struct {
	Name   string `json:"name"`
	RoomID int64  `json:"room_id"`
	Active *bool  `json:"active"`
}

func (a *API) updateDevice(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	var req deviceRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	ctx, owner := c.Request().Context(), principal(c).OwnerID()
	before, err := a.st.DeviceInfo(ctx, id, a.now())
	if err != nil || before.Owner.ID != owner {
		return store.ErrDeviceNotFound
	}
	active := true
	if req.Active != nil {
		active = *req.Active
	}
	d, err := a.st.UpdateDevice(ctx, owner, id, req.Name, req.RoomID, active, a.now())
	if err != nil {
		return err
	}
	a.audit(c, "update", "device", id, before, d)
	if a.live != nil {
		if active {
			a.live.DeviceChanged(id)
		} else {
			a.live.DeviceRevoked(id)
		}
	}
	return c.JSON(http.StatusOK, map[string]any{"device": d})
}

func (a *API) auditLog(c echo.Context) error {
	var f store.AuditFilter
	var err error
	parse := func(name string) (time.Time, error) {
		s := c.QueryParam(name)
		if s == "" {
			return time.Time{}, nil
		}
		if d, err := civil.ParseDate(s); err == nil {
			loc, _ := time.LoadLocation("Europe/Rome")
			if name == "to" {
				d = d.AddDays(1)
			}
			return d.In(loc), nil
		}
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return t, fault.Field(name, "invalid_date", name+" must be YYYY-MM-DD or an RFC 3339 time")
		}
		return t, nil
	}
	if f.From, err = parse("from"); err != nil {
		return err
	}
	if f.To, err = parse("to"); err != nil {
		return err
	}
	f.Actor, f.Entity = c.QueryParam("actor"), c.QueryParam("entity")
	if s := c.QueryParam("limit"); s != "" {
		if f.Limit, err = strconv.Atoi(s); err != nil || f.Limit < 1 || f.Limit > 1000 {
			return fault.Field("limit", "invalid_limit", "limit must be between 1 and 1000")
		}
	}
	list, err := a.st.AuditLog(c.Request().Context(), principal(c).OwnerID(), f)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"entries": list})
}

func (a *API) stats(c echo.Context) error {
	loc, _ := time.LoadLocation("Europe/Rome")
	to := civil.Today(a.now(), loc)
	from := to.AddDays(-30)
	var err error
	if s := c.QueryParam("from"); s != "" {
		if from, err = civil.ParseDate(s); err != nil {
			return fault.Field("from", "invalid_date", "from must be YYYY-MM-DD")
		}
	}
	if s := c.QueryParam("to"); s != "" {
		if to, err = civil.ParseDate(s); err != nil {
			return fault.Field("to", "invalid_date", "to must be YYYY-MM-DD")
		}
	}
	if from.DaysUntil(to) > 366 || from.DaysUntil(to) < 0 {
		return fault.Field("to", "invalid_range", "the period is at most a year, from before to")
	}
	list, err := a.st.Stats(c.Request().Context(), principal(c).OwnerID(), from, to)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"from": from.String(), "to": to.String(), "services": list})
}

func (a *API) pauseReasons(c echo.Context) error {
	labels := map[string]string{"break": "Pausa", "back_office": "Lavoro di back office", "training": "Formazione",
		"meeting": "Riunione", "technical": "Problema tecnico", "other": "Altro"}
	out := make([]map[string]string, 0, len(store.PauseReasons))
	for _, r := range store.PauseReasons {
		out = append(out, map[string]string{"code": r, "label": labels[r]})
	}
	return c.JSON(http.StatusOK, map[string]any{"reasons": out})
}

func (a *API) upcoming(c echo.Context) error {
	id, err := a.ownDesk(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	d, err := a.st.Desk(ctx, id)
	if err != nil || d.OwnerID != principal(c).OwnerID() {
		return store.ErrDeskNotFound
	}
	list, err := a.st.Upcoming(ctx, d.ServiceIDs, a.now(), 10)
	if err != nil {
		return err
	}
	out := make([]ticketView, 0, len(list))
	for _, t := range list {
		v, err := a.view(ctx, t, false)
		if err != nil {
			return err
		}
		out = append(out, v)
	}
	return c.JSON(http.StatusOK, map[string]any{"tickets": out})
}

type passwordRequest struct {
	Current string `json:"current"`
	New     string `json:"new"`
}

func (a *API) changePassword(c echo.Context) error {
	var req passwordRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	if req.Current == "" {
		return fault.Field("current", "required", "give the current password")
	}
	p := principal(c)
	ctx := c.Request().Context()
	if _, err := auth.Verify(ctx, a.st, a.opt.Auth, p.User.Username, req.Current, a.now()); err != nil {
		// Not 401: the session is fine, the form has a wrong value.
		if f, ok := fault.As(err); ok && f.Code == "invalid_credentials" {
			return fault.Field("current", "wrong_password", "the current password is not right")
		}
		return err
	}
	if err := auth.CheckPasswordRules(req.New); err != nil {
		if f, ok := fault.As(err); ok {
			return fault.Field("new", "weak_password", f.Message)
		}
		return err
	}
	hash, err := auth.HashPassword(req.New)
	if err != nil {
		return err
	}
	if err := a.st.SetPassword(ctx, p.User.ID, hash); err != nil {
		return err
	}
	a.audit(c, "password", "user", p.User.ID, nil, nil)
	return c.NoContent(http.StatusNoContent)
}
