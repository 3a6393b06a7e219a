package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"avanti/appliance/civil"
)

// What the waiting-room screens show: calls and the state of each service.
// Nothing here carries personal data: screens are public.

// CallTicket is the part of a called ticket a screen shows.
type CallTicket struct {
	Code        string      `json:"code"`
	Service     CallService `json:"service"`
	Appointment *string     `json:"appointment"` // local "15:04"; nil for walk-ins
}

// CallService names a ticket's service on a screen.
type CallService struct {
	ID     int64  `json:"id"`
	Name   string `json:"name"`
	Prefix string `json:"prefix"`
}

// CallDesk names the desk a ticket is called to.
type CallDesk struct {
	ID     int64  `json:"id"`
	Name   string `json:"name"`
	Number string `json:"number"`
}

// CallView is one call or recall as the screens show it.
type CallView struct {
	ID       int64      `json:"id"`
	Kind     string     `json:"kind"`
	Ticket   CallTicket `json:"ticket"`
	Desk     CallDesk   `json:"desk"`
	Room     Named      `json:"room"`
	CalledAt time.Time  `json:"called_at"`
	OwnerID  int64      `json:"-"`
}

const callViewQuery = `SELECT c.id, c.kind, t.code, t.walk_in, t.starts_at, sv.id, sv.name, sv.prefix, si.timezone,
	d.id, d.name, d.number, r.id, r.name, c.called_at, si.owner_id
	FROM calls c JOIN tickets t ON t.id = c.ticket_id JOIN services sv ON sv.id = t.service_id
	JOIN desks d ON d.id = c.desk_id JOIN rooms r ON r.id = d.room_id JOIN sites si ON si.id = r.site_id `

func scanCallView(r scanner) (CallView, error) {
	var c CallView
	var walkIn bool
	var starts sql.NullTime
	var tz string
	if err := r.Scan(&c.ID, &c.Kind, &c.Ticket.Code, &walkIn, &starts, &c.Ticket.Service.ID, &c.Ticket.Service.Name,
		&c.Ticket.Service.Prefix, &tz, &c.Desk.ID, &c.Desk.Name, &c.Desk.Number, &c.Room.ID, &c.Room.Name, &c.CalledAt, &c.OwnerID); err != nil {
		return c, err
	}
	if !walkIn && starts.Valid {
		loc, err := time.LoadLocation(tz)
		if err != nil {
			loc = time.UTC
		}
		s := starts.Time.In(loc).Format("15:04")
		c.Ticket.Appointment = &s
	}
	return c, nil
}

// Call returns one call as the screens show it.
func (s *Store) Call(ctx context.Context, id int64) (CallView, error) {
	c, err := scanCallView(s.db.QueryRowContext(ctx, callViewQuery+`WHERE c.id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return c, fmt.Errorf("call %d: not found", id)
	}
	return c, wrap("call", err)
}

// RoomCalls lists the latest calls and recalls in the rooms, newest first,
// since the start of the local day of loc.
func (s *Store) RoomCalls(ctx context.Context, rooms []int64, now time.Time, loc *time.Location, limit int) ([]CallView, error) {
	out := []CallView{}
	if len(rooms) == 0 || limit <= 0 {
		return out, nil
	}
	since := civil.Today(now, loc).In(loc)
	args := append(int64Args(rooms), since, limit)
	rows, err := s.db.QueryContext(ctx, callViewQuery+`WHERE d.room_id IN `+inList(len(rooms))+` AND c.called_at >= ?
		ORDER BY c.called_at DESC, c.id DESC LIMIT ?`, args...)
	if err != nil {
		return nil, fmt.Errorf("calls of rooms: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		c, err := scanCallView(rows)
		if err != nil {
			return nil, fmt.Errorf("calls of rooms: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// ServicePunctuality is how a service keeps to its appointments, for the
// services monitor.
type ServicePunctuality struct {
	State    string `json:"state"` // on_time, late, closed
	DelayMin int    `json:"delay_min"`
	Label    string `json:"label"` // Italian, as shown
}

// ServiceStatus is one line of the services monitor.
type ServiceStatus struct {
	ID          int64              `json:"id"`
	Name        string             `json:"name"`
	Prefix      string             `json:"prefix"`
	Rooms       []int64            `json:"rooms"`
	Waiting     int                `json:"waiting"`
	LastCalled  *string            `json:"last_called"`
	Punctuality ServicePunctuality `json:"punctuality"`
}

// ServiceStatuses is the services monitor of an owner: per service the
// tickets waiting, the last code called today, the rooms of the desks that
// serve it, and its punctuality over the last hour. A service that no open
// desk serves and nobody waits for is "chiuso".
func (s *Store) ServiceStatuses(ctx context.Context, ownerID int64, now time.Time) ([]ServiceStatus, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT sv.id, sv.name, sv.prefix, si.timezone,
		(SELECT COUNT(*) FROM tickets t WHERE t.service_id = sv.id AND t.status = 'waiting'),
		(SELECT COUNT(*) FROM desk_services ds JOIN desks d ON d.id = ds.desk_id WHERE ds.service_id = sv.id AND d.state <> 'closed'),
		(SELECT COUNT(*) FROM calls c WHERE c.service_id = sv.id AND c.kind = 'call' AND NOT c.late AND c.called_at > ? AND c.called_at <= ?),
		(SELECT AVG(c.delay_sec) FROM calls c WHERE c.service_id = sv.id AND c.kind = 'call' AND NOT c.late AND c.called_at > ? AND c.called_at <= ?)
		FROM services sv JOIN sites si ON si.id = sv.site_id WHERE sv.owner_id = ? ORDER BY sv.prefix, sv.id`,
		now.Add(-punctualityWindow), now, now.Add(-punctualityWindow), now, ownerID)
	if err != nil {
		return nil, fmt.Errorf("service status: %w", err)
	}
	out := []ServiceStatus{}
	zones := map[int64]string{}
	for rows.Next() {
		var st ServiceStatus
		var tz string
		var open, calls int
		var avg sql.NullFloat64
		if err := rows.Scan(&st.ID, &st.Name, &st.Prefix, &tz, &st.Waiting, &open, &calls, &avg); err != nil {
			rows.Close()
			return nil, fmt.Errorf("service status: %w", err)
		}
		st.Rooms = []int64{}
		st.Punctuality = punctualityOf(open > 0 || st.Waiting > 0, calls, avg.Float64)
		zones[st.ID] = tz
		out = append(out, st)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("service status: %w", err)
	}
	if len(out) == 0 {
		return out, nil
	}
	byID := map[int64]*ServiceStatus{}
	for i := range out {
		byID[out[i].ID] = &out[i]
	}
	// Rooms: where the desks that serve each service are.
	rrows, err := s.db.QueryContext(ctx, `SELECT DISTINCT ds.service_id, d.room_id FROM desk_services ds JOIN desks d ON d.id = ds.desk_id
		JOIN services sv ON sv.id = ds.service_id WHERE sv.owner_id = ? ORDER BY ds.service_id, d.room_id`, ownerID)
	if err != nil {
		return nil, fmt.Errorf("service rooms: %w", err)
	}
	for rrows.Next() {
		var sid, rid int64
		if err := rrows.Scan(&sid, &rid); err != nil {
			rrows.Close()
			return nil, fmt.Errorf("service rooms: %w", err)
		}
		if st := byID[sid]; st != nil {
			st.Rooms = append(st.Rooms, rid)
		}
	}
	rrows.Close()
	// Last code called today (local day of each service's site).
	for i := range out {
		loc, err := time.LoadLocation(zones[out[i].ID])
		if err != nil {
			loc = time.UTC
		}
		var code string
		err = s.db.QueryRowContext(ctx, `SELECT t.code FROM calls c JOIN tickets t ON t.id = c.ticket_id
			WHERE c.service_id = ? AND c.called_at >= ? ORDER BY c.called_at DESC, c.id DESC LIMIT 1`,
			out[i].ID, civil.Today(now, loc).In(loc)).Scan(&code)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("last call: %w", err)
		}
		out[i].LastCalled = &code
	}
	return out, nil
}

func punctualityOf(open bool, calls int, avgDelaySec float64) ServicePunctuality {
	if !open {
		return ServicePunctuality{State: "closed", Label: "chiuso"}
	}
	delay := int(avgDelaySec / 60)
	if calls == 0 || delay < 5 {
		return ServicePunctuality{State: "on_time", DelayMin: max(delay, 0), Label: "in orario"}
	}
	return ServicePunctuality{State: "late", DelayMin: delay, Label: fmt.Sprintf("ritardo %d min", delay)}
}

// LastCallReason is why the engine last called a ticket (nil if never).
func (s *Store) LastCallReason(ctx context.Context, ticketID int64) (json.RawMessage, error) {
	var r []byte
	err := s.db.QueryRowContext(ctx, `SELECT reason FROM calls WHERE ticket_id = ? AND kind = 'call' ORDER BY id DESC LIMIT 1`, ticketID).Scan(&r)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return r, wrap("call reason", err)
}
