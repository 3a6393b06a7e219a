package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"avanti/appliance/fault"
)

const ticketColumns = `t.id, t.token, t.service_id, t.issued_service_id, t.code, t.day, t.slot_id, t.status,
	t.channel, t.walk_in, t.priority, t.late, t.returning_visit, t.second_checkin_used, t.needs_recall,
	t.starts_at, t.ends_at, t.checked_in_at, t.due_at, t.called_at, t.desk_id, t.serving_at, t.finished_at,
	t.closed_at, t.recalls, t.note, t.fiscal_code, t.first_name, t.last_name, t.phone, t.email, t.created_at`

func scanTicket(r scanner) (Ticket, error) {
	var t Ticket
	var day time.Time
	var slot, desk sql.NullInt64
	var checked, due, called, serving, finished, closed sql.NullTime
	var fc, fn, ln, ph, em sql.NullString
	err := r.Scan(&t.ID, &t.Token, &t.ServiceID, &t.IssuedServiceID, &t.Code, &day, &slot, &t.Status,
		&t.Channel, &t.WalkIn, &t.Priority, &t.Late, &t.Returning, &t.SecondUsed, &t.NeedsRecall,
		&t.Start, &t.End, &checked, &due, &called, &desk, &serving, &finished,
		&closed, &t.Recalls, &t.Note, &fc, &fn, &ln, &ph, &em, &t.CreatedAt)
	if err != nil {
		return t, err
	}
	t.Day = day.Format(time.DateOnly)
	t.SlotID, t.DeskID = slot.Int64, desk.Int64
	t.CheckedInAt, t.DueAt, t.CalledAt = checked.Time, due.Time, called.Time
	t.ServingAt, t.FinishedAt, t.ClosedAt = serving.Time, finished.Time, closed.Time
	t.Citizen = Citizen{FiscalCode: fc.String, FirstName: fn.String, LastName: ln.String, Phone: ph.String, Email: em.String}
	return t, nil
}

func queryTickets(ctx context.Context, q querier, where string, args ...any) ([]Ticket, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+ticketColumns+` FROM tickets t `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("query tickets: %w", err)
	}
	defer rows.Close()
	var out []Ticket
	for rows.Next() {
		t, err := scanTicket(rows)
		if err != nil {
			return nil, fmt.Errorf("query tickets: %w", err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// ErrTicketNotFound is returned for an unknown token or id.
var ErrTicketNotFound = fault.New(fault.NotFound, "ticket_not_found", "no ticket with this token")

func oneTicket(ctx context.Context, q querier, where string, args ...any) (Ticket, error) {
	t, err := scanTicket(q.QueryRowContext(ctx, `SELECT `+ticketColumns+` FROM tickets t `+where, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return Ticket{}, ErrTicketNotFound
	}
	if err != nil {
		return Ticket{}, fmt.Errorf("ticket: %w", err)
	}
	return t, nil
}

// TicketByToken finds a ticket by the token its QR code carries.
func (s *Store) TicketByToken(ctx context.Context, token string) (Ticket, error) {
	if len(token) != 43 {
		return Ticket{}, ErrTicketNotFound
	}
	return oneTicket(ctx, s.db, `WHERE t.token = ?`, token)
}

// TicketByID finds a ticket by id.
func (s *Store) TicketByID(ctx context.Context, id int64) (Ticket, error) {
	return oneTicket(ctx, s.db, `WHERE t.id = ?`, id)
}

// newToken is 256 random bits, URL-safe: unguessable, fits a QR code.
func newToken() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func recordEvent(ctx context.Context, tx *sql.Tx, ticketID int64, at time.Time, from, to string, deskID int64, actor, detail string) error {
	var desk any
	if deskID != 0 {
		desk = deskID
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO ticket_events (ticket_id, at, from_status, to_status, desk_id, actor, detail)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, ticketID, at, from, to, desk, actor, truncate(detail, 500))
	if err != nil {
		return fmt.Errorf("record ticket event: %w", err)
	}
	return nil
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) > n {
		return string(r[:n])
	}
	return s
}

// CheckIn confirms that the ticket's citizen is in the waiting room.
func (s *Store) CheckIn(ctx context.Context, token string, now time.Time, actor string) (Ticket, error) {
	var out Ticket
	expired := false
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		expired = false
		t, err := oneTicket(ctx, tx, `WHERE t.token = ? FOR UPDATE`, token)
		if err != nil {
			return err
		}
		svc, err := getService(ctx, tx, t.ServiceID)
		if err != nil {
			return err
		}
		lateness := time.Duration(svc.AllowedLatenessMin) * time.Minute
		from := t.Status
		switch t.Status {
		case StatusBooked:
			opens := t.Start.Add(-time.Duration(svc.CheckinEarlyMin) * time.Minute)
			if now.Before(opens) {
				return fault.New(fault.Conflict, "too_early", "check-in opens "+fmt.Sprint(svc.CheckinEarlyMin)+" minutes before the appointment").
					With("come_back_at", opens)
			}
			if now.After(t.Start.Add(lateness)) {
				// The expiry must commit: returning the error from here
				// would roll it back and leave the ticket booked.
				expired = true
				return expire(ctx, tx, t, now)
			}
			t.Status, t.CheckedInAt, t.DueAt, t.Late = StatusWaiting, now, later(t.Start, now), now.After(t.Start)
		case StatusNoShow:
			// A citizen who missed the call may come back within the allowed lateness.
			if now.After(later(t.Start, t.ClosedAt).Add(lateness)) {
				return errExpired
			}
			t.Status, t.CheckedInAt, t.DueAt, t.Late = StatusWaiting, now, now, true
		case StatusDone:
			if !svc.SecondCheckin || t.SecondUsed || t.Day != now.In(svc.Location()).Format(time.DateOnly) {
				return fault.New(fault.Conflict, "already_served", "this ticket has already been served")
			}
			t.Status, t.CheckedInAt, t.DueAt, t.Returning, t.SecondUsed = StatusWaiting, now, now, true, true
			t.DeskID = 0
		case StatusWaiting, StatusCalled, StatusServing:
			return fault.New(fault.Conflict, "already_checked_in", "this ticket is already checked in")
		case StatusRevoked:
			return fault.New(fault.Conflict, "ticket_revoked", "this ticket was revoked")
		default:
			return errExpired
		}
		var desk any
		if t.DeskID != 0 {
			desk = t.DeskID
		}
		if _, err := tx.ExecContext(ctx, `UPDATE tickets SET status = ?, checked_in_at = ?, due_at = ?, late = ?,
			returning_visit = ?, second_checkin_used = ?, desk_id = ?, updated_at = ? WHERE id = ?`,
			t.Status, t.CheckedInAt, t.DueAt, t.Late, t.Returning, t.SecondUsed, desk, now, t.ID); err != nil {
			if isDuplicate(err) && strings.Contains(err.Error(), "tickets_one_active") {
				// Readmitted (no-show, second check-in) while the citizen
				// already holds another active ticket of the service.
				return ErrAlreadyBooked
			}
			return fmt.Errorf("check in: %w", err)
		}
		out = t
		return recordEvent(ctx, tx, t.ID, now, from, t.Status, 0, actor, "check-in")
	})
	if err == nil && expired {
		return Ticket{}, errExpired
	}
	return out, err
}

var errExpired = fault.New(fault.Conflict, "ticket_expired", "this ticket has expired: the allowed lateness has passed")

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func expire(ctx context.Context, tx *sql.Tx, t Ticket, now time.Time) error {
	if _, err := tx.ExecContext(ctx, `UPDATE tickets SET status = 'expired', closed_at = ?, updated_at = ? WHERE id = ? AND status = 'booked'`,
		now, now, t.ID); err != nil {
		return fmt.Errorf("expire ticket: %w", err)
	}
	return recordEvent(ctx, tx, t.ID, now, t.Status, StatusExpired, 0, "system", "not presented")
}

// Revoke cancels a booking (or a waiting ticket whose citizen leaves) and
// gives its place back.
func (s *Store) Revoke(ctx context.Context, token string, now time.Time, actor string) (Ticket, error) {
	var out Ticket
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		t, err := oneTicket(ctx, tx, `WHERE t.token = ? FOR UPDATE`, token)
		if err != nil {
			return err
		}
		if t.Status != StatusBooked && t.Status != StatusWaiting {
			return fault.New(fault.Conflict, "cannot_revoke", "a ticket that is "+t.Status+" cannot be revoked")
		}
		if err := revokeTx(ctx, tx, t, now, actor, "revoked"); err != nil {
			return err
		}
		t.Status, t.ClosedAt = StatusRevoked, now
		out = t
		return nil
	})
	return out, err
}

// revokeTx revokes a locked ticket and gives its place back.
func revokeTx(ctx context.Context, tx *sql.Tx, t Ticket, now time.Time, actor, detail string) error {
	// The place goes back only while it is still to come.
	if t.SlotID != 0 && t.End.After(now) {
		pre := 1
		if t.WalkIn {
			pre = 0
		}
		if _, err := tx.ExecContext(ctx, `UPDATE slots SET booked = booked - 1, prebooked = prebooked - ? WHERE id = ?`, pre, t.SlotID); err != nil {
			return fmt.Errorf("free slot: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE tickets SET status = 'revoked', closed_at = ?, updated_at = ? WHERE id = ?`, now, now, t.ID); err != nil {
		return fmt.Errorf("revoke: %w", err)
	}
	return recordEvent(ctx, tx, t.ID, now, t.Status, StatusRevoked, 0, actor, detail)
}

// ExpireOverdue marks as expired (not presented) the bookings whose start
// plus allowed lateness has passed without a check-in.
func (s *Store) ExpireOverdue(ctx context.Context, now time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, `UPDATE tickets t JOIN services s ON s.id = t.service_id
		SET t.status = 'expired', t.closed_at = ?, t.updated_at = ?
		WHERE t.status = 'booked' AND t.starts_at < ? AND t.starts_at + INTERVAL s.allowed_lateness_min MINUTE < ?`,
		now, now, now, now)
	if err != nil {
		return 0, fmt.Errorf("expire overdue tickets: %w", err)
	}
	return res.RowsAffected()
}

// PurgePersonalData erases the citizen data of tickets older than the
// retention period; the tickets stay for statistics.
func (s *Store) PurgePersonalData(ctx context.Context, now time.Time, retention time.Duration) (int64, error) {
	res, err := s.db.ExecContext(ctx, `UPDATE tickets SET fiscal_code = NULL, first_name = NULL, last_name = NULL,
		phone = NULL, email = NULL, citizen_key = NULL, note = '', personal_purged = TRUE
		WHERE personal_purged = FALSE AND ends_at < ?`, now.Add(-retention))
	if err != nil {
		return 0, fmt.Errorf("purge personal data: %w", err)
	}
	return res.RowsAffected()
}
