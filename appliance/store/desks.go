package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"avanti/appliance/calling"
	"avanti/appliance/fault"
)

// Actor is who acts on a desk: its operator, or an admin standing in.
type Actor struct {
	UserID  int64
	Name    string
	Admin   bool
	OwnerID int64
}

// Desk errors a client can act on.
var (
	ErrDeskNotFound   = fault.New(fault.NotFound, "desk_not_found", "no such desk")
	ErrDeskClosed     = fault.New(fault.Conflict, "desk_closed", "the desk is closed: open it first")
	ErrDeskPaused     = fault.New(fault.Conflict, "desk_paused", "the desk is paused: resume it first")
	ErrDeskBusy       = fault.New(fault.Conflict, "desk_busy", "the desk is serving a ticket: finish it, mark it as no-show or transfer it first")
	ErrDeskTaken      = fault.New(fault.Conflict, "desk_taken", "another operator is working at this desk")
	ErrNoCurrent      = fault.New(fault.Conflict, "no_current_ticket", "the desk has no current ticket")
	ErrNotYourDesk    = fault.New(fault.Forbidden, "not_your_desk", "this desk is open for another operator")
	ErrNobodyWaiting  = errors.New("nobody is waiting")
	errCallContention = errors.New("every candidate was taken by another desk")
)

func (s *Store) deskServices(ctx context.Context, q querier, deskID int64) ([]int64, error) {
	rows, err := q.QueryContext(ctx, `SELECT service_id FROM desk_services WHERE desk_id = ? ORDER BY service_id`, deskID)
	if err != nil {
		return nil, fmt.Errorf("desk services: %w", err)
	}
	defer rows.Close()
	ids := []int64{}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("desk services: %w", err)
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

func (s *Store) loadDesk(ctx context.Context, q querier, id int64, lock bool) (Desk, error) {
	var d Desk
	var op, cur sql.NullInt64
	if lock {
		// Lock the desk row alone: FOR UPDATE on the join below would also
		// lock the room and site rows and so serialise every desk of a site.
		var one int
		err := q.QueryRowContext(ctx, `SELECT 1 FROM desks WHERE id = ? FOR UPDATE`, id).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return Desk{}, ErrDeskNotFound
		}
		if err != nil {
			return Desk{}, fmt.Errorf("lock desk %d: %w", id, err)
		}
	}
	var opName sql.NullString
	err := q.QueryRowContext(ctx, `SELECT d.id, d.room_id, r.name, d.name, d.number, d.state, d.pause_reason, d.operator_id,
		COALESCE(NULLIF(u.display_name, ''), u.username), d.current_ticket_id, d.state_since, si.owner_id
		FROM desks d JOIN rooms r ON r.id = d.room_id JOIN sites si ON si.id = r.site_id
		LEFT JOIN users u ON u.id = d.operator_id WHERE d.id = ?`, id).
		Scan(&d.ID, &d.RoomID, &d.RoomName, &d.Name, &d.Number, &d.State, &d.PauseReason, &op, &opName, &cur, &d.StateSince, &d.OwnerID)
	d.OperatorName = opName.String
	if errors.Is(err, sql.ErrNoRows) {
		return Desk{}, ErrDeskNotFound
	}
	if err != nil {
		return Desk{}, fmt.Errorf("desk %d: %w", id, err)
	}
	d.OperatorID, d.CurrentTicketID = op.Int64, cur.Int64
	d.ServiceIDs, err = s.deskServices(ctx, q, id)
	return d, err
}

// Desk returns a desk with the services it serves.
func (s *Store) Desk(ctx context.Context, id int64) (Desk, error) {
	return s.loadDesk(ctx, s.db, id, false)
}

// Desks lists the desks of an owner.
func (s *Store) Desks(ctx context.Context, ownerID int64) ([]Desk, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT d.id FROM desks d JOIN rooms r ON r.id = d.room_id JOIN sites si ON si.id = r.site_id
		WHERE si.owner_id = ? ORDER BY d.room_id, d.number`, ownerID)
	if err != nil {
		return nil, fmt.Errorf("list desks: %w", err)
	}
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, fmt.Errorf("list desks: %w", err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	out := make([]Desk, 0, len(ids))
	for _, id := range ids {
		d, err := s.Desk(ctx, id)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

// deskTx runs fn on a locked desk after checking that actor may use it.
// Locking the desk row first is what makes a double click harmless: the
// second request waits for the first and then sees its result.
func (s *Store) deskTx(ctx context.Context, deskID int64, actor Actor, fn func(tx *sql.Tx, d *Desk) error) (Desk, error) {
	var out Desk
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		d, err := s.loadDesk(ctx, tx, deskID, true)
		if err != nil {
			return err
		}
		if actor.OwnerID != 0 && d.OwnerID != actor.OwnerID {
			return ErrDeskNotFound
		}
		if d.State != DeskClosed && d.OperatorID != 0 && d.OperatorID != actor.UserID && !actor.Admin {
			return ErrNotYourDesk
		}
		if err := fn(tx, &d); err != nil {
			return err
		}
		out = d
		return nil
	})
	return out, err
}

func setDesk(ctx context.Context, tx *sql.Tx, d *Desk, now time.Time) error {
	var op, cur any
	if d.OperatorID != 0 {
		op = d.OperatorID
	}
	if d.CurrentTicketID != 0 {
		cur = d.CurrentTicketID
	}
	_, err := tx.ExecContext(ctx, `UPDATE desks SET state = ?, pause_reason = ?, operator_id = ?, current_ticket_id = ?, state_since = ? WHERE id = ?`,
		d.State, d.PauseReason, op, cur, d.StateSince, d.ID)
	if err != nil {
		return fmt.Errorf("update desk: %w", err)
	}
	return nil
}

// OpenDesk opens a desk for actor and the given services (or changes the
// services of a desk actor already holds).
func (s *Store) OpenDesk(ctx context.Context, deskID int64, serviceIDs []int64, actor Actor, now time.Time) (Desk, error) {
	if len(serviceIDs) == 0 {
		return Desk{}, fault.Field("service_ids", "services_required", "choose at least one service for this desk")
	}
	ids := slices.Clone(serviceIDs)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	return s.deskTx(ctx, deskID, actor, func(tx *sql.Tx, d *Desk) error {
		if d.State != DeskClosed && d.OperatorID != actor.UserID {
			return ErrDeskTaken
		}
		for _, id := range ids {
			svc, err := getService(ctx, tx, id)
			if err != nil || svc.OwnerID != d.OwnerID {
				return fault.Field("service_ids", "unknown_service", fmt.Sprintf("service %d does not exist", id))
			}
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM desk_services WHERE desk_id = ?`, d.ID); err != nil {
			return fmt.Errorf("open desk: %w", err)
		}
		for _, id := range ids {
			if _, err := tx.ExecContext(ctx, `INSERT INTO desk_services (desk_id, service_id) VALUES (?, ?)`, d.ID, id); err != nil {
				return fmt.Errorf("open desk: %w", err)
			}
		}
		if d.State == DeskClosed {
			d.State, d.StateSince, d.PauseReason = DeskOpen, now, ""
		}
		d.OperatorID, d.OperatorName, d.ServiceIDs = actor.UserID, actor.Name, ids
		return setDesk(ctx, tx, d, now)
	})
}

// CallResult is a call: the ticket and why the engine chose it.
type CallResult struct {
	Ticket Ticket         `json:"ticket"`
	Reason calling.Reason `json:"reason"`
	Desk   Desk           `json:"desk"`
	CallID int64          `json:"-"` // the row in calls, for the screens
}

// candidatesPerGroup bounds how many waiting tickets per service and
// priority class are ranked per call. Within a group the order is by due
// time, so the heads decide the next call; the bound only has to exceed the
// number of desks that may be calling the same group at the same instant
// (each skips the heads the others hold). Reading more costs every call.
const candidatesPerGroup = 64

// callAttempts bounds how often a call ranks again when every candidate it
// ranked was taken by other desks meanwhile.
const callAttempts = 8

// ErrCallContention is what an operator sees in the unlikely case that
// other desks took every ticket this one ranked, several times over.
var ErrCallContention = fault.New(fault.Conflict, "call_contention",
	"many desks are calling at the same moment: press again")

// CallNext lets the engine choose the next ticket for the desk and calls it,
// in one transaction. The desk row lock makes it idempotent for one desk;
// SELECT … FOR UPDATE SKIP LOCKED on the chosen ticket with a re-check of its
// status makes two desks never call the same ticket.
func (s *Store) CallNext(ctx context.Context, deskID int64, actor Actor, now time.Time) (CallResult, error) {
	var out CallResult
	for attempt := 0; ; attempt++ {
		d, err := s.deskTx(ctx, deskID, actor, func(tx *sql.Tx, d *Desk) error {
			if err := callable(ctx, tx, d); err != nil {
				return err
			}
			res, err := s.pickAndCall(ctx, tx, d, actor, now)
			if err != nil {
				return err
			}
			out = res
			return nil
		})
		if errors.Is(err, errCallContention) {
			if attempt+1 >= callAttempts {
				return CallResult{}, ErrCallContention
			}
			// The ranking moved under us: let the other desks commit, then
			// rank again. The pause grows and is jittered so that desks
			// that collided do not collide again in step.
			if err := sleepCtx(ctx, time.Duration(1+rand.IntN(2<<attempt))*time.Millisecond); err != nil {
				return CallResult{}, err
			}
			continue
		}
		if err != nil {
			return CallResult{}, err
		}
		out.Desk = d
		return out, nil
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func callable(ctx context.Context, tx *sql.Tx, d *Desk) error {
	switch d.State {
	case DeskClosed:
		return ErrDeskClosed
	case DeskPaused:
		return ErrDeskPaused
	}
	if d.CurrentTicketID != 0 {
		return ErrDeskBusy.With("current_ticket_id", d.CurrentTicketID)
	}
	if len(d.ServiceIDs) == 0 {
		return fault.New(fault.Conflict, "desk_has_no_services", "the desk serves no service: open it with some")
	}
	return nil
}

func (s *Store) pickAndCall(ctx context.Context, tx *sql.Tx, d *Desk, actor Actor, now time.Time) (CallResult, error) {
	services, err := queueRules(ctx, tx, d.ServiceIDs)
	if err != nil {
		return CallResult{}, err
	}
	cands, err := waitingCandidates(ctx, tx, d.ServiceIDs)
	if err != nil {
		return CallResult{}, err
	}
	ranked := calling.Order(now, cands, services)
	if len(ranked) == 0 {
		return CallResult{}, ErrNobodyWaiting
	}
	for _, r := range ranked {
		t, err := oneTicket(ctx, tx, `WHERE t.id = ? AND t.status = 'waiting' FOR UPDATE SKIP LOCKED`, r.TicketID)
		if errors.Is(err, ErrTicketNotFound) {
			continue // another desk is calling it, or already has
		}
		if err != nil {
			return CallResult{}, fmt.Errorf("lock ticket: %w", err)
		}
		reason, _ := json.Marshal(r.Reason)
		if _, err := tx.ExecContext(ctx, `UPDATE tickets SET status = 'called', called_at = ?, desk_id = ?, updated_at = ? WHERE id = ?`,
			now, d.ID, now, t.ID); err != nil {
			return CallResult{}, fmt.Errorf("call ticket: %w", err)
		}
		delay := int64(now.Sub(t.DueAt) / time.Second)
		res, err := tx.ExecContext(ctx, `INSERT INTO calls (ticket_id, desk_id, service_id, kind, called_at, delay_sec, late, reason)
			VALUES (?, ?, ?, 'call', ?, ?, ?, ?)`, t.ID, d.ID, t.ServiceID, now, delay, t.Late || t.Returning, reason)
		if err != nil {
			return CallResult{}, fmt.Errorf("record call: %w", err)
		}
		callID, _ := res.LastInsertId()
		if err := recordEvent(ctx, tx, t.ID, now, t.Status, StatusCalled, d.ID, actor.Name, string(r.Reason.Rule)); err != nil {
			return CallResult{}, err
		}
		t.Status, t.CalledAt, t.DeskID = StatusCalled, now, d.ID
		d.CurrentTicketID = t.ID
		if err := setDesk(ctx, tx, d, now); err != nil {
			return CallResult{}, err
		}
		return CallResult{Ticket: t, Reason: r.Reason, CallID: callID}, nil
	}
	return CallResult{}, errCallContention
}

func inList(n int) string { return "(" + strings.TrimSuffix(strings.Repeat("?,", n), ",") + ")" }

func int64Args(ids []int64) []any {
	out := make([]any, len(ids))
	for i, id := range ids {
		out[i] = id
	}
	return out
}

// queueRules are the calling rules of the services, with how many open
// desks serve each now.
func queueRules(ctx context.Context, q querier, serviceIDs []int64) (map[int64]calling.Service, error) {
	rows, err := q.QueryContext(ctx, `SELECT s.id, s.target_wait_min, s.avg_service_min, s.priority_weight, s.early_calls,
		(SELECT COUNT(*) FROM desk_services ds JOIN desks d ON d.id = ds.desk_id WHERE ds.service_id = s.id AND d.state = 'open')
		FROM services s WHERE s.id IN `+inList(len(serviceIDs)), int64Args(serviceIDs)...)
	if err != nil {
		return nil, fmt.Errorf("queue rules: %w", err)
	}
	defer rows.Close()
	out := map[int64]calling.Service{}
	for rows.Next() {
		var id int64
		var target, avg, desks int
		var c calling.Service
		if err := rows.Scan(&id, &target, &avg, &c.PriorityWeight, &c.EarlyCalls, &desks); err != nil {
			return nil, fmt.Errorf("queue rules: %w", err)
		}
		c.TargetWait, c.AvgService, c.Desks = time.Duration(target)*time.Minute, time.Duration(avg)*time.Minute, max(desks, 1)
		out[id] = c
	}
	return out, rows.Err()
}

// waitingCandidates reads the heads of the queues, per service and priority
// class, ordered by due time: what the calling order needs.
func waitingCandidates(ctx context.Context, q querier, serviceIDs []int64) ([]calling.Candidate, error) {
	var parts []string
	var args []any
	for _, id := range serviceIDs {
		for _, prio := range []bool{false, true} {
			parts = append(parts, `(SELECT id, service_id, starts_at, checked_in_at, due_at, priority, late, returning_visit
				FROM tickets WHERE service_id = ? AND status = 'waiting' AND priority = ? ORDER BY due_at LIMIT ?)`)
			args = append(args, id, prio, candidatesPerGroup)
		}
	}
	rows, err := q.QueryContext(ctx, strings.Join(parts, " UNION ALL "), args...)
	if err != nil {
		return nil, fmt.Errorf("waiting tickets: %w", err)
	}
	defer rows.Close()
	var out []calling.Candidate
	for rows.Next() {
		var c calling.Candidate
		var checked, due sql.NullTime
		if err := rows.Scan(&c.TicketID, &c.ServiceID, &c.ScheduledStart, &checked, &due, &c.Priority, &c.Late, &c.Returning); err != nil {
			return nil, fmt.Errorf("waiting tickets: %w", err)
		}
		c.CheckedInAt, c.DueAt = checked.Time, due.Time
		out = append(out, c)
	}
	return out, rows.Err()
}

// currentTicket runs fn on the desk's current ticket, locked, if its status
// is one of want.
func currentTicket(ctx context.Context, tx *sql.Tx, d *Desk, want ...string) (Ticket, error) {
	if d.CurrentTicketID == 0 {
		return Ticket{}, ErrNoCurrent
	}
	t, err := oneTicket(ctx, tx, `WHERE t.id = ? FOR UPDATE`, d.CurrentTicketID)
	if err != nil {
		return Ticket{}, err
	}
	if !slices.Contains(want, t.Status) {
		return Ticket{}, fault.New(fault.Conflict, "invalid_transition",
			fmt.Sprintf("the current ticket is %s; this action needs it %s", t.Status, strings.Join(want, " or ")))
	}
	return t, nil
}

// TicketAction is the result of an action on a desk's current ticket.
type TicketAction struct {
	Ticket Ticket `json:"ticket"`
	Desk   Desk   `json:"desk"`
	CallID int64  `json:"-"` // set by a recall: the row in calls, for the screens
}

func (s *Store) ticketAction(ctx context.Context, deskID int64, actor Actor, now time.Time, want []string,
	apply func(tx *sql.Tx, d *Desk, t *Ticket) error) (TicketAction, error) {
	var t Ticket
	d, err := s.deskTx(ctx, deskID, actor, func(tx *sql.Tx, d *Desk) error {
		var err error
		if t, err = currentTicket(ctx, tx, d, want...); err != nil {
			return err
		}
		from := t.Status
		if err := apply(tx, d, &t); err != nil {
			return err
		}
		if err := recordEvent(ctx, tx, t.ID, now, from, t.Status, d.ID, actor.Name, t.Note); err != nil {
			return err
		}
		return setDesk(ctx, tx, d, now)
	})
	return TicketAction{Ticket: t, Desk: d}, err
}

// Recall calls the desk's current ticket again (the screens say it again).
func (s *Store) Recall(ctx context.Context, deskID int64, actor Actor, now time.Time) (TicketAction, error) {
	var callID int64
	res, err := s.ticketAction(ctx, deskID, actor, now, []string{StatusCalled}, func(tx *sql.Tx, d *Desk, t *Ticket) error {
		t.Recalls++
		if _, err := tx.ExecContext(ctx, `UPDATE tickets SET recalls = recalls + 1, updated_at = ? WHERE id = ?`, now, t.ID); err != nil {
			return fmt.Errorf("recall: %w", err)
		}
		r, err := tx.ExecContext(ctx, `INSERT INTO calls (ticket_id, desk_id, service_id, kind, called_at, late, reason)
			VALUES (?, ?, ?, 'recall', ?, ?, ?)`, t.ID, d.ID, t.ServiceID, now, t.Late, `{"rule":"recall"}`)
		if err != nil {
			return fmt.Errorf("record recall: %w", err)
		}
		callID, _ = r.LastInsertId()
		return nil
	})
	res.CallID = callID
	return res, err
}

// Start marks the citizen as being served.
func (s *Store) Start(ctx context.Context, deskID int64, actor Actor, now time.Time) (TicketAction, error) {
	return s.ticketAction(ctx, deskID, actor, now, []string{StatusCalled}, func(tx *sql.Tx, d *Desk, t *Ticket) error {
		t.Status, t.ServingAt = StatusServing, now
		_, err := tx.ExecContext(ctx, `UPDATE tickets SET status = 'serving', serving_at = ?, updated_at = ? WHERE id = ?`, now, now, t.ID)
		return wrap("start", err)
	})
}

// Finish closes the current ticket as served.
func (s *Store) Finish(ctx context.Context, deskID int64, actor Actor, now time.Time) (TicketAction, error) {
	return s.ticketAction(ctx, deskID, actor, now, []string{StatusServing}, func(tx *sql.Tx, d *Desk, t *Ticket) error {
		t.Status, t.FinishedAt = StatusDone, now
		d.CurrentTicketID = 0
		_, err := tx.ExecContext(ctx, `UPDATE tickets SET status = 'done', finished_at = ?, closed_at = ?, updated_at = ? WHERE id = ?`, now, now, now, t.ID)
		return wrap("finish", err)
	})
}

// NoShow closes the current ticket as not presented at the call; the citizen
// may still check in again within the allowed lateness.
func (s *Store) NoShow(ctx context.Context, deskID int64, actor Actor, now time.Time) (TicketAction, error) {
	return s.ticketAction(ctx, deskID, actor, now, []string{StatusCalled}, func(tx *sql.Tx, d *Desk, t *Ticket) error {
		t.Status, t.ClosedAt = StatusNoShow, now
		d.CurrentTicketID = 0
		_, err := tx.ExecContext(ctx, `UPDATE tickets SET status = 'no_show', closed_at = ?, updated_at = ? WHERE id = ?`, now, now, t.ID)
		return wrap("no-show", err)
	})
}

// Transfer sends the current ticket to wait in another service.
func (s *Store) Transfer(ctx context.Context, deskID int64, serviceID int64, note string, actor Actor, now time.Time) (TicketAction, error) {
	if len([]rune(note)) > 500 {
		return TicketAction{}, fault.Field("note", "note_too_long", "the note is at most 500 characters")
	}
	return s.ticketAction(ctx, deskID, actor, now, []string{StatusCalled, StatusServing}, func(tx *sql.Tx, d *Desk, t *Ticket) error {
		svc, err := getService(ctx, tx, serviceID)
		if err != nil || svc.OwnerID != d.OwnerID || !svc.Active {
			return fault.Field("service_id", "unknown_service", "no such service to transfer to")
		}
		if svc.ID == t.ServiceID {
			return fault.Field("service_id", "same_service", "the ticket already waits for this service")
		}
		t.Status, t.ServiceID, t.DueAt, t.DeskID, t.Late, t.Note = StatusWaiting, svc.ID, now, 0, false, note
		d.CurrentTicketID = 0
		_, err = tx.ExecContext(ctx, `UPDATE tickets SET status = 'waiting', service_id = ?, due_at = ?, desk_id = NULL, late = FALSE,
			called_at = NULL, serving_at = NULL, note = ?, updated_at = ? WHERE id = ?`, svc.ID, now, note, now, t.ID)
		return wrap("transfer", err)
	})
}

func wrap(what string, err error) error {
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// Pause pauses an open desk with a reason code.
func (s *Store) Pause(ctx context.Context, deskID int64, reason string, actor Actor, now time.Time) (Desk, error) {
	if !slices.Contains(PauseReasons, reason) {
		return Desk{}, fault.Field("reason", "invalid_pause_reason", "reason must be one of "+strings.Join(PauseReasons, ", "))
	}
	return s.deskTx(ctx, deskID, actor, func(tx *sql.Tx, d *Desk) error {
		switch {
		case d.State == DeskClosed:
			return ErrDeskClosed
		case d.CurrentTicketID != 0:
			return ErrDeskBusy.With("current_ticket_id", d.CurrentTicketID)
		case d.State == DeskPaused && d.PauseReason == reason:
			return nil
		}
		d.State, d.PauseReason, d.StateSince = DeskPaused, reason, now
		return setDesk(ctx, tx, d, now)
	})
}

// Resume reopens a paused desk.
func (s *Store) Resume(ctx context.Context, deskID int64, actor Actor, now time.Time) (Desk, error) {
	return s.deskTx(ctx, deskID, actor, func(tx *sql.Tx, d *Desk) error {
		switch d.State {
		case DeskClosed:
			return ErrDeskClosed
		case DeskOpen:
			return nil
		}
		d.State, d.PauseReason, d.StateSince = DeskOpen, "", now
		return setDesk(ctx, tx, d, now)
	})
}

// CloseDesk closes a desk; it must not be serving anybody.
func (s *Store) CloseDesk(ctx context.Context, deskID int64, actor Actor, now time.Time) (Desk, error) {
	return s.deskTx(ctx, deskID, actor, func(tx *sql.Tx, d *Desk) error {
		if d.State == DeskClosed {
			return nil
		}
		if d.CurrentTicketID != 0 {
			return ErrDeskBusy.With("current_ticket_id", d.CurrentTicketID)
		}
		d.State, d.PauseReason, d.OperatorID, d.OperatorName, d.StateSince = DeskClosed, "", 0, "", now
		return setDesk(ctx, tx, d, now)
	})
}
