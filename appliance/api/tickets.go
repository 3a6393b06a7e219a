package api

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"avanti/appliance/fault"
	"avanti/appliance/store"
)

type bookRequest struct {
	ServiceID int64          `json:"service_id"`
	Start     *time.Time     `json:"start"`
	Channel   string         `json:"channel"`
	Citizen   *store.Citizen `json:"citizen"`
	Priority  bool           `json:"priority"`
}

// ticketView is a ticket as its holder sees it: never the citizen's data.
type ticketView struct {
	ID                   int64     `json:"id"`
	Code                 string    `json:"code"`
	Token                string    `json:"token"`
	Status               string    `json:"status"`
	ServiceID            int64     `json:"service_id"`
	ServiceName          string    `json:"service_name"`
	Start                time.Time `json:"start"`
	End                  time.Time `json:"end"`
	Channel              string    `json:"channel"`
	WalkIn               bool      `json:"walk_in"`
	Priority             bool      `json:"priority"`
	Late                 bool      `json:"late"` // checked in after the appointment, within the allowed lateness
	Position             *int      `json:"position,omitempty"`
	EstimatedWaitMinutes *int      `json:"estimated_wait_minutes,omitempty"`
	Desk                 *deskRef  `json:"desk,omitempty"`
}

type deskRef struct {
	ID     int64  `json:"id"`
	Name   string `json:"name"`
	Number string `json:"number"`
}

func (a *API) view(ctx context.Context, t store.Ticket, withPosition bool) (ticketView, error) {
	svc, err := a.st.Service(ctx, t.ServiceID)
	if err != nil {
		return ticketView{}, err
	}
	loc := svc.Location()
	v := ticketView{ID: t.ID, Code: t.Code, Token: t.Token, Status: t.Status, ServiceID: t.ServiceID, ServiceName: svc.Name,
		Start: t.Start.In(loc), End: t.End.In(loc), Channel: t.Channel, WalkIn: t.WalkIn, Priority: t.Priority, Late: t.Late}
	if withPosition && t.Status == store.StatusWaiting {
		pos, ok, err := a.st.Position(ctx, t, a.now())
		if err != nil {
			return v, err
		}
		if ok {
			mins := int((pos.EstimatedWait + time.Minute - 1) / time.Minute)
			v.Position, v.EstimatedWaitMinutes = &pos.Position, &mins
		}
	}
	if t.DeskID != 0 && (t.Status == store.StatusCalled || t.Status == store.StatusServing) {
		d, err := a.st.Desk(ctx, t.DeskID)
		if err != nil {
			return v, err
		}
		v.Desk = &deskRef{ID: d.ID, Name: d.Name, Number: d.Number}
	}
	return v, nil
}

// channels each role may book through.
var channels = map[string][]string{
	roleAnonymous:        {store.ChannelWeb},
	roleKiosk:            {store.ChannelKiosk},
	store.RoleOperator:   {store.ChannelDesk, store.ChannelPhone},
	store.RoleBackoffice: {store.ChannelDesk, store.ChannelPhone},
	store.RoleAdmin:      {store.ChannelDesk, store.ChannelPhone, store.ChannelWeb},
}

func (a *API) book(c echo.Context) error {
	var req bookRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	if req.ServiceID <= 0 {
		return fault.Field("service_id", "required", "service_id is required")
	}
	p := principal(c)
	if req.Channel == "" {
		req.Channel = channels[p.Role()][0]
	}
	allowed := false
	for _, ch := range channels[p.Role()] {
		allowed = allowed || ch == req.Channel
	}
	if !allowed {
		switch req.Channel {
		case store.ChannelKiosk, store.ChannelWeb, store.ChannelPhone, store.ChannelDesk:
			return fault.New(fault.Forbidden, "channel_not_allowed", "you may not book through the "+req.Channel+" channel")
		}
		return fault.Field("channel", "invalid_channel", "channel must be one of kiosk, web, phone, desk")
	}
	ctx := c.Request().Context()
	// Staff and devices book for their own organisation only, as they see
	// only its services; citizens at home book any online service.
	svc, err := a.st.Service(ctx, req.ServiceID)
	if fault.Is(err, "service_not_found") || (err == nil && p.OwnerID() != 0 && svc.OwnerID != p.OwnerID()) {
		return fault.Field("service_id", "service_not_found", "no such service")
	}
	if err != nil {
		return err
	}
	r := store.BookRequest{ServiceID: req.ServiceID, Channel: req.Channel, Priority: req.Priority, Actor: p.Name()}
	if req.Start != nil {
		r.Start = *req.Start
	}
	if req.Citizen != nil {
		r.Citizen = *req.Citizen
	}
	began := time.Now()
	t, err := a.st.Book(ctx, r, a.now())
	if err == store.ErrNoAvailability {
		// Say when the service next has a place: the totem offers it.
		if next, nerr := a.st.NextPlace(ctx, req.ServiceID, a.now()); nerr == nil && next != nil {
			return store.ErrNoAvailability.With("next", next.In(svc.Location()))
		}
	}
	if err != nil {
		return err
	}
	a.m.BookingDuration.Observe(time.Since(began).Seconds())
	a.m.TicketsBooked.WithLabelValues(svc.Prefix, req.Channel).Inc()
	if a.live != nil {
		a.live.QueueChanged(svc.OwnerID)
	}
	v, err := a.view(ctx, t, true)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, v)
}

func (a *API) getTicket(c echo.Context) error {
	ctx := c.Request().Context()
	t, err := a.st.TicketByToken(ctx, c.Param("token"))
	if err != nil {
		return err
	}
	v, err := a.view(ctx, t, true)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, v)
}

// ticketOfCaller loads the :token ticket; staff and devices see only their
// owner's tickets.
func (a *API) ticketOfCaller(c echo.Context) (store.Ticket, error) {
	t, err := a.st.TicketByToken(c.Request().Context(), c.Param("token"))
	if err != nil {
		return t, err
	}
	if o := principal(c).OwnerID(); o != 0 {
		svc, err := a.st.Service(c.Request().Context(), t.ServiceID)
		if err != nil || svc.OwnerID != o {
			return store.Ticket{}, store.ErrTicketNotFound
		}
	}
	return t, nil
}

func (a *API) checkIn(c echo.Context) error {
	if _, err := a.ticketOfCaller(c); err != nil {
		return err
	}
	ctx := c.Request().Context()
	t, err := a.st.CheckIn(ctx, c.Param("token"), a.now(), principal(c).Name())
	if err != nil {
		return err
	}
	a.notifyQueue(ctx, t.ServiceID)
	v, err := a.view(ctx, t, true)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, v)
}

func (a *API) revoke(c echo.Context) error {
	if _, err := a.ticketOfCaller(c); err != nil {
		return err
	}
	ctx := c.Request().Context()
	t, err := a.st.Revoke(ctx, c.Param("token"), a.now(), principal(c).Name())
	if err != nil {
		return err
	}
	a.notifyQueue(ctx, t.ServiceID)
	v, err := a.view(ctx, t, false)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, v)
}

// emptyBody accepts no body, an empty one, or {}.
func emptyBody(c echo.Context) error {
	if c.Request().ContentLength == 0 {
		return nil
	}
	var v struct{}
	err := decode(c, &v)
	if f, ok := fault.As(err); ok && f.Code == "empty_body" {
		return nil
	}
	return err
}
