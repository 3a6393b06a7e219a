package api

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"avanti/appliance/auth"
	"avanti/appliance/fault"
	"avanti/appliance/store"
)

func actorOf(p auth.Principal) store.Actor {
	return store.Actor{UserID: p.User.ID, Name: p.Name(), Admin: p.User.Role == store.RoleAdmin, OwnerID: p.User.OwnerID}
}

// deskView is a desk with its current ticket, as the console shows it.
type deskView struct {
	store.Desk
	Current *currentTicket `json:"current_ticket,omitempty"`
}

// currentTicket is the ticket at a desk: the operator may see the contact
// data the citizen gave.
type currentTicket struct {
	ticketView
	Citizen *store.Citizen  `json:"citizen,omitempty"`
	Note    string          `json:"note,omitempty"`
	Reason  json.RawMessage `json:"reason,omitempty"` // why it was called: shown again after a reload
}

func (a *API) deskView(ctx context.Context, d store.Desk) (deskView, error) {
	v := deskView{Desk: d}
	if d.ServiceIDs == nil {
		v.ServiceIDs = []int64{}
	}
	if d.CurrentTicketID != 0 {
		t, err := a.st.TicketByID(ctx, d.CurrentTicketID)
		if err != nil {
			return v, err
		}
		cur, err := a.current(ctx, t)
		if err != nil {
			return v, err
		}
		v.Current = &cur
	}
	return v, nil
}

func (a *API) current(ctx context.Context, t store.Ticket) (currentTicket, error) {
	tv, err := a.view(ctx, t, false)
	if err != nil {
		return currentTicket{}, err
	}
	cur := currentTicket{ticketView: tv, Note: t.Note}
	if t.Status == store.StatusCalled || t.Status == store.StatusServing {
		if cur.Reason, err = a.st.LastCallReason(ctx, t.ID); err != nil {
			return currentTicket{}, err
		}
	}
	if !t.Citizen.Empty() {
		c := t.Citizen
		cur.Citizen = &c
	}
	return cur, nil
}

func (a *API) ownDesk(c echo.Context) (int64, error) {
	id, err := pathID(c, "id")
	if err != nil {
		return 0, err
	}
	return id, nil
}

func (a *API) listDesks(c echo.Context) error {
	ctx := c.Request().Context()
	list, err := a.st.Desks(ctx, principal(c).OwnerID())
	if err != nil {
		return err
	}
	out := make([]deskView, 0, len(list))
	for _, d := range list {
		v, err := a.deskView(ctx, d)
		if err != nil {
			return err
		}
		out = append(out, v)
	}
	return c.JSON(http.StatusOK, map[string]any{"desks": out})
}

func (a *API) getDesk(c echo.Context) error {
	id, err := a.ownDesk(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	d, err := a.st.Desk(ctx, id)
	if err != nil {
		return err
	}
	if d.OwnerID != principal(c).OwnerID() {
		return store.ErrDeskNotFound
	}
	v, err := a.deskView(ctx, d)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, v)
}

type openRequest struct {
	ServiceIDs []int64 `json:"service_ids"`
}

func (a *API) openDesk(c echo.Context) error {
	id, err := a.ownDesk(c)
	if err != nil {
		return err
	}
	var req openRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	ctx := c.Request().Context()
	d, err := a.st.OpenDesk(ctx, id, req.ServiceIDs, actorOf(principal(c)), a.now())
	if err != nil {
		return err
	}
	a.notifyDesk(ctx, d)
	v, err := a.deskView(ctx, d)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, v)
}

func (a *API) callNext(c echo.Context) error {
	id, err := a.ownDesk(c)
	if err != nil {
		return err
	}
	if err := emptyBody(c); err != nil {
		return err
	}
	ctx := c.Request().Context()
	began := time.Now()
	res, err := a.st.CallNext(ctx, id, actorOf(principal(c)), a.now())
	if err == store.ErrNobodyWaiting {
		return c.NoContent(http.StatusNoContent)
	}
	if err != nil {
		return err
	}
	a.m.CallDuration.Observe(time.Since(began).Seconds())
	a.notifyCall(res.CallID)
	a.notifyDesk(ctx, res.Desk)
	cur, err := a.current(ctx, res.Ticket)
	if err != nil {
		return err
	}
	if svc, err := a.st.Service(ctx, res.Ticket.ServiceID); err == nil {
		a.m.Calls.WithLabelValues(svc.Prefix, "call").Inc()
	}
	return c.JSON(http.StatusOK, map[string]any{"ticket": cur, "reason": res.Reason, "desk": res.Desk})
}

func (a *API) deskTicketAction(action string) echo.HandlerFunc {
	return func(c echo.Context) error {
		id, err := a.ownDesk(c)
		if err != nil {
			return err
		}
		if err := emptyBody(c); err != nil {
			return err
		}
		ctx, actor, now := c.Request().Context(), actorOf(principal(c)), a.now()
		var res store.TicketAction
		switch action {
		case "recall":
			res, err = a.st.Recall(ctx, id, actor, now)
		case "start":
			res, err = a.st.Start(ctx, id, actor, now)
		case "finish":
			res, err = a.st.Finish(ctx, id, actor, now)
		case "no_show":
			res, err = a.st.NoShow(ctx, id, actor, now)
		}
		if err != nil {
			return err
		}
		a.notifyCall(res.CallID)
		a.notifyDesk(ctx, res.Desk)
		if action == "recall" {
			if svc, err := a.st.Service(ctx, res.Ticket.ServiceID); err == nil {
				a.m.Calls.WithLabelValues(svc.Prefix, "recall").Inc()
			}
		}
		return a.ticketActionResponse(c, res)
	}
}

func (a *API) ticketActionResponse(c echo.Context, res store.TicketAction) error {
	ctx := c.Request().Context()
	cur, err := a.current(ctx, res.Ticket)
	if err != nil {
		return err
	}
	dv, err := a.deskView(ctx, res.Desk)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"ticket": cur, "desk": dv})
}

type transferRequest struct {
	ServiceID int64  `json:"service_id"`
	Note      string `json:"note"`
}

func (a *API) transfer(c echo.Context) error {
	id, err := a.ownDesk(c)
	if err != nil {
		return err
	}
	var req transferRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	if req.ServiceID <= 0 {
		return fault.Field("service_id", "required", "service_id is required")
	}
	res, err := a.st.Transfer(c.Request().Context(), id, req.ServiceID, req.Note, actorOf(principal(c)), a.now())
	if err != nil {
		return err
	}
	a.notifyDesk(c.Request().Context(), res.Desk)
	return a.ticketActionResponse(c, res)
}

type pauseRequest struct {
	Reason string `json:"reason"`
}

func (a *API) pause(c echo.Context) error {
	id, err := a.ownDesk(c)
	if err != nil {
		return err
	}
	var req pauseRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	d, err := a.st.Pause(c.Request().Context(), id, req.Reason, actorOf(principal(c)), a.now())
	if err != nil {
		return err
	}
	return a.deskResponse(c, d)
}

func (a *API) deskStateAction(action string) echo.HandlerFunc {
	return func(c echo.Context) error {
		id, err := a.ownDesk(c)
		if err != nil {
			return err
		}
		if err := emptyBody(c); err != nil {
			return err
		}
		var d store.Desk
		if action == "resume" {
			d, err = a.st.Resume(c.Request().Context(), id, actorOf(principal(c)), a.now())
		} else {
			d, err = a.st.CloseDesk(c.Request().Context(), id, actorOf(principal(c)), a.now())
		}
		if err != nil {
			return err
		}
		return a.deskResponse(c, d)
	}
}

func (a *API) deskResponse(c echo.Context, d store.Desk) error {
	a.notifyDesk(c.Request().Context(), d)
	v, err := a.deskView(c.Request().Context(), d)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, v)
}
