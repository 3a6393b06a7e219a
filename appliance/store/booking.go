package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"avanti/appliance/civil"
	"avanti/appliance/fault"
	"avanti/appliance/fiscalcode"
)

// BookRequest asks for a ticket.
type BookRequest struct {
	ServiceID int64
	// Start of the chosen slot; zero asks for the first available place
	// today, a walk-in ticket that is created already checked in.
	Start    time.Time
	Channel  string
	Citizen  Citizen
	Priority bool
	Actor    string
	// replace is the token of a booking this one replaces (Move): it is
	// revoked in the same transaction.
	replace string
}

// Booking errors a client can act on.
var (
	ErrNoAvailability = fault.New(fault.Conflict, "no_availability", "no places left today for this service")
	ErrSlotFull       = fault.New(fault.Conflict, "slot_full", "this time is fully booked; please choose another")
	ErrSlotClosed     = fault.New(fault.Conflict, "slot_closed", "this time is no longer open; please choose another")
	ErrAlreadyBooked  = fault.New(fault.Conflict, "already_booked", "this citizen already has an active booking for this service")
)

var errSlotNotFound = fault.Field("start", "slot_not_found", "the service has no appointment time starting then")

// Book creates a ticket. The place is taken by a conditional UPDATE of the
// slot row (booked < capacity), so concurrent bookings can never overfill a
// slot; the daily code comes from a counter row bumped in the same
// transaction, so codes are unique.
//
// Everything that only reads (the service's rules, the chosen slot, the
// candidates for the first place today) is read before the transaction:
// those reads take no locks under READ COMMITTED anyway, and a refusal that
// a committed read already explains (a full or closed slot) then costs no
// transaction at all. The conditional UPDATE inside decides.
func (s *Store) Book(ctx context.Context, req BookRequest, now time.Time) (Ticket, error) {
	var svc Service
	var chosen Slot
	var err error
	if req.Start.IsZero() {
		svc, err = getService(ctx, s.db, req.ServiceID)
	} else {
		svc, chosen, err = serviceAndSlot(ctx, s.db, req.ServiceID, req.Start.UTC())
	}
	if err != nil {
		return Ticket{}, err
	}
	citizen, key, err := checkBooking(svc, req, now)
	if err != nil {
		return Ticket{}, err
	}
	if !req.Start.IsZero() {
		switch {
		case chosen.ID == 0:
			return Ticket{}, errSlotNotFound
		case !chosen.Open:
			return Ticket{}, ErrSlotClosed
		case chosen.FreeForBooking() == 0:
			return Ticket{}, ErrSlotFull
		}
	}
	for attempt := 0; ; attempt++ {
		t, err := s.book(ctx, svc, req, chosen, citizen, key, now)
		var nc errNoCounter
		if errors.As(err, &nc) && attempt < 2 {
			// The first ticket of the day: make its counter, then book again.
			if err := s.createCounter(ctx, svc.ID, nc.day); err != nil {
				return Ticket{}, err
			}
			continue
		}
		return t, err
	}
}

// serviceAndSlot reads a service and its slot starting at start (the open
// one, if a regeneration left a closed one beside it) in one query. The
// slot's ID is 0 when the service has no slot starting then.
func serviceAndSlot(ctx context.Context, q querier, serviceID int64, start time.Time) (Service, Slot, error) {
	var id sql.NullInt64
	var st, end sql.NullTime
	var capacity, reserved, booked, prebooked sql.NullInt64
	var open sql.NullBool
	svc, err := scanService(extraScan{q.QueryRowContext(ctx, `SELECT `+serviceColumns+`,
		sl.id, sl.starts_at, sl.ends_at, sl.capacity, sl.reserved, sl.booked, sl.prebooked, sl.is_open
		FROM services s JOIN sites si ON si.id = s.site_id
		LEFT JOIN slots sl ON sl.id = (SELECT x.id FROM slots x WHERE x.service_id = s.id AND x.starts_at = ?
			ORDER BY x.is_open DESC LIMIT 1)
		WHERE s.id = ?`, start, serviceID),
		[]any{&id, &st, &end, &capacity, &reserved, &booked, &prebooked, &open}})
	if errors.Is(err, sql.ErrNoRows) {
		return Service{}, Slot{}, ErrServiceNotFound
	}
	if err != nil {
		return Service{}, Slot{}, fmt.Errorf("service %d: %w", serviceID, err)
	}
	sl := Slot{ServiceID: svc.ID}
	if id.Valid {
		sl = Slot{ID: id.Int64, ServiceID: svc.ID, Start: st.Time, End: end.Time, Capacity: int(capacity.Int64),
			Reserved: int(reserved.Int64), Booked: int(booked.Int64), Prebooked: int(prebooked.Int64), Open: open.Bool}
	}
	return svc, sl, nil
}

// extraScan scans a row into the destinations given to Scan followed by its
// own: a shared scanner (scanService) reads the leading columns.
type extraScan struct {
	r     scanner
	extra []any
}

func (e extraScan) Scan(dest ...any) error { return e.r.Scan(append(dest, e.extra...)...) }

func (s *Store) book(ctx context.Context, svc Service, req BookRequest, chosen Slot, citizen Citizen, key string, now time.Time) (Ticket, error) {
	var cands []Slot
	if req.Start.IsZero() {
		var err error
		if cands, err = firstTodayCandidates(ctx, s.db, svc, now); err != nil {
			return Ticket{}, err
		}
	}
	var out Ticket
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var slot Slot
		var err error
		if req.replace != "" {
			if err := replaceInTx(ctx, tx, req.replace, svc.ID, now, req.Actor); err != nil {
				return err
			}
		}
		if req.Start.IsZero() {
			slot, err = takeFirstToday(ctx, tx, svc, now, cands)
		} else {
			slot, err = takeSlot(ctx, tx, chosen)
		}
		if err != nil {
			return err
		}
		loc := svc.Location()
		day := civil.DateOf(slot.Start.In(loc))
		seq, err := nextSeq(ctx, tx, svc.ID, day)
		if err != nil {
			return err
		}
		t := Ticket{
			Token: newToken(), ServiceID: svc.ID, IssuedServiceID: svc.ID, Code: fmt.Sprintf("%s%03d", svc.Prefix, seq),
			Day: day.String(), SlotID: slot.ID, Status: StatusBooked, Channel: req.Channel, Priority: req.Priority,
			Start: slot.Start, End: slot.End, Citizen: citizen, CreatedAt: now,
		}
		switch {
		case req.Start.IsZero():
			t.WalkIn, t.Status, t.CheckedInAt, t.DueAt = true, StatusWaiting, now, later(slot.Start, now)
		case !svc.CheckinRequired:
			// Without check-in the citizen is taken as present at the appointment time.
			t.Status, t.DueAt, t.CheckedInAt = StatusWaiting, slot.Start, slot.Start
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO tickets (token, service_id, issued_service_id, day, seq, code, slot_id,
			status, channel, walk_in, priority, starts_at, ends_at, checked_in_at, due_at,
			fiscal_code, first_name, last_name, phone, email, citizen_key, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			t.Token, t.ServiceID, t.IssuedServiceID, t.Day, seq, t.Code, t.SlotID,
			t.Status, t.Channel, t.WalkIn, t.Priority, t.Start, t.End, nullTime(t.CheckedInAt), nullTime(t.DueAt),
			nullString(citizen.FiscalCode), nullString(citizen.FirstName), nullString(citizen.LastName),
			nullString(citizen.Phone), nullString(citizen.Email), nullString(key), now, now)
		if isDuplicate(err) && strings.Contains(err.Error(), "tickets_one_active") {
			return ErrAlreadyBooked
		}
		if err != nil {
			return fmt.Errorf("insert ticket: %w", err)
		}
		t.ID, _ = res.LastInsertId()
		out = t
		return recordEvent(ctx, tx, t.ID, now, "", t.Status, 0, req.Actor, "booked via "+req.Channel)
	})
	return out, err
}

// checkBooking applies the service's rules that need no database: channel,
// identification, notice and horizon. It returns the cleaned citizen data
// and, where the service allows one active booking, the citizen's key.
func checkBooking(svc Service, req BookRequest, now time.Time) (Citizen, string, error) {
	if !svc.Active {
		return Citizen{}, "", fault.New(fault.Conflict, "service_closed", "this service is not available")
	}
	c, err := cleanCitizen(req.Citizen, now)
	if err != nil {
		return Citizen{}, "", err
	}
	switch req.Channel {
	case ChannelKiosk, ChannelDesk, ChannelPhone:
	case ChannelWeb:
		if !svc.OnlineBookable {
			return Citizen{}, "", fault.New(fault.Forbidden, "channel_not_allowed", "this service can be booked only at the office or by phone")
		}
	default:
		return Citizen{}, "", fault.Field("channel", "invalid_channel", "channel must be one of kiosk, web, phone, desk")
	}
	if req.Start.IsZero() {
		if req.Channel != ChannelKiosk && req.Channel != ChannelDesk {
			return Citizen{}, "", fault.Field("start", "start_required", "choose a time: the first available place today is given only at the office")
		}
	} else {
		if req.Start.Before(now) {
			return Citizen{}, "", fault.Field("start", "slot_in_past", "this time has already passed")
		}
		if req.Start.Sub(now) < time.Duration(svc.MinNoticeMin)*time.Minute {
			return Citizen{}, "", fault.Field("start", "too_soon", fmt.Sprintf("this service must be booked at least %d minutes ahead", svc.MinNoticeMin))
		}
		loc := svc.Location()
		if civil.Today(now, loc).DaysUntil(civil.DateOf(req.Start.In(loc))) > svc.MaxDaysAhead {
			return Citizen{}, "", fault.Field("start", "too_far_ahead", fmt.Sprintf("this service can be booked at most %d days ahead", svc.MaxDaysAhead))
		}
		if svc.IDRequiredFuture && c.FiscalCode == "" && (c.Phone == "" || c.FirstName == "" || c.LastName == "") {
			return Citizen{}, "", fault.Field("citizen", "identification_required", "a booking for a later time needs the fiscal code, or phone number with first and last name")
		}
	}
	key := ""
	if svc.OneActiveBooking {
		switch {
		case c.FiscalCode != "":
			key = "cf:" + c.FiscalCode
		case c.Phone != "":
			key = "ph:" + c.Phone
		}
	}
	return c, key, nil
}

// cleanCitizen normalises and checks what a citizen typed or swiped.
func cleanCitizen(c Citizen, now time.Time) (Citizen, error) {
	c.FirstName, c.LastName = strings.TrimSpace(c.FirstName), strings.TrimSpace(c.LastName)
	c.Email, c.Phone = strings.TrimSpace(c.Email), normalizePhone(c.Phone)
	if c.FiscalCode != "" {
		c.FiscalCode = fiscalcode.Normalize(c.FiscalCode)
		if err := fiscalcode.Validate(c.FiscalCode); err != nil {
			msg := "invalid fiscal code"
			var fe *fiscalcode.Error
			if errors.As(err, &fe) {
				msg = fe.Message
			}
			return c, fault.Field("citizen.fiscal_code", "invalid_fiscal_code", msg)
		}
	}
	for _, f := range []struct{ name, v string }{{"first_name", c.FirstName}, {"last_name", c.LastName}} {
		if len([]rune(f.v)) > 100 {
			return c, fault.Field("citizen."+f.name, "invalid_name", "names are at most 100 characters")
		}
	}
	if c.Phone != "" && (len(c.Phone) < 6 || len(c.Phone) > 16) {
		return c, fault.Field("citizen.phone", "invalid_phone", "phone number must have 6 to 15 digits, optionally starting with +")
	}
	if c.Email != "" && (len(c.Email) > 254 || !strings.Contains(c.Email, "@") || strings.ContainsAny(c.Email, " \t\r\n<>")) {
		return c, fault.Field("citizen.email", "invalid_email", "e-mail address is not valid")
	}
	return c, nil
}

// normalizePhone keeps digits and a leading +; anything else makes it invalid.
func normalizePhone(p string) string {
	p = strings.TrimSpace(p)
	if p == "" {
		return ""
	}
	var b strings.Builder
	for i, r := range p {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == '+' && i == 0:
			b.WriteRune(r)
		case r == ' ' || r == '-' || r == '.' || r == '/' || r == '(' || r == ')':
		default:
			return "!" // fails the length rule with a clear message
		}
	}
	return b.String()
}

// firstTodayCandidates reads, without locks, the earliest slots still
// open today that had a free place when read.
func firstTodayCandidates(ctx context.Context, q querier, svc Service, now time.Time) ([]Slot, error) {
	endOfDay := civil.Today(now, svc.Location()).AddDays(1).In(svc.Location())
	rows, err := q.QueryContext(ctx, `SELECT id, starts_at, ends_at, capacity, reserved, booked, prebooked
		FROM slots WHERE service_id = ? AND is_open AND starts_at < ? AND ends_at > ? AND starts_at >= ?
		AND booked < capacity ORDER BY starts_at LIMIT 20`, svc.ID, endOfDay, now, now.Add(-24*time.Hour))
	if err != nil {
		return nil, fmt.Errorf("find first available: %w", err)
	}
	defer rows.Close()
	var cands []Slot
	for rows.Next() {
		sl := Slot{ServiceID: svc.ID, Open: true}
		if err := rows.Scan(&sl.ID, &sl.Start, &sl.End, &sl.Capacity, &sl.Reserved, &sl.Booked, &sl.Prebooked); err != nil {
			return nil, fmt.Errorf("find first available: %w", err)
		}
		cands = append(cands, sl)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("find first available: %w", err)
	}
	return cands, nil
}

// takeFirstToday books the earliest place still open today. Candidates are
// read without locks; the conditional UPDATE decides, and a lost race moves
// on to the next slot. cands is a first reading made before the
// transaction; when all of them are gone it reads again.
func takeFirstToday(ctx context.Context, tx *sql.Tx, svc Service, now time.Time, cands []Slot) (Slot, error) {
	for attempt := 0; attempt < 5; attempt++ {
		if attempt > 0 || cands == nil {
			var err error
			if cands, err = firstTodayCandidates(ctx, tx, svc, now); err != nil {
				return Slot{}, err
			}
		}
		if len(cands) == 0 {
			return Slot{}, ErrNoAvailability
		}
		for _, sl := range cands {
			res, err := tx.ExecContext(ctx, `UPDATE slots SET booked = booked + 1 WHERE id = ? AND is_open AND booked < capacity`, sl.ID)
			if err != nil {
				return Slot{}, fmt.Errorf("take place: %w", err)
			}
			if n, _ := res.RowsAffected(); n == 1 {
				sl.Booked++
				return sl, nil
			}
		}
	}
	return Slot{}, ErrNoAvailability
}

// takeSlot books a place in the chosen slot, read before the transaction.
// When the place cannot be taken it tells a slot closed meanwhile (the
// agenda was regenerated) from a full one.
func takeSlot(ctx context.Context, tx *sql.Tx, sl Slot) (Slot, error) {
	// The walk-in reserve is not for bookings made in advance.
	res, err := tx.ExecContext(ctx, `UPDATE slots SET booked = booked + 1, prebooked = prebooked + 1
		WHERE id = ? AND is_open AND booked < capacity AND prebooked < capacity - reserved`, sl.ID)
	if err != nil {
		return Slot{}, fmt.Errorf("take place: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		var open bool
		err := tx.QueryRowContext(ctx, `SELECT is_open FROM slots WHERE id = ?`, sl.ID).Scan(&open)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return Slot{}, ErrSlotClosed // removed by a regeneration since it was read
		case err != nil:
			return Slot{}, fmt.Errorf("take place: %w", err)
		case !open:
			return Slot{}, ErrSlotClosed
		}
		return Slot{}, ErrSlotFull
	}
	sl.Booked++
	sl.Prebooked++
	return sl, nil
}

// errNoCounter: the service has no ticket counter for the day yet.
type errNoCounter struct{ day civil.Date }

func (e errNoCounter) Error() string { return "no ticket counter for " + e.day.String() + " yet" }

// nextSeq bumps the service's counter for day. LAST_INSERT_ID(expr) hands
// the new value back through the OK packet, so it costs no extra query. The
// UPDATE locks the counter row only; the row itself is created by
// createCounter, outside the booking transaction.
func nextSeq(ctx context.Context, tx *sql.Tx, serviceID int64, day civil.Date) (int64, error) {
	res, err := tx.ExecContext(ctx, `UPDATE ticket_counters SET last_seq = LAST_INSERT_ID(last_seq + 1)
		WHERE service_id = ? AND day = ?`, serviceID, day.String())
	if err != nil {
		return 0, fmt.Errorf("next ticket number: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return 0, errNoCounter{day}
	}
	seq, err := res.LastInsertId()
	if err != nil || seq < 1 {
		return 0, fmt.Errorf("next ticket number: got %d: %v", seq, err)
	}
	return seq, nil
}

// createCounter creates the ticket counter of a day, in a statement of its
// own. Creating it inside concurrent booking transactions (INSERT … ON
// DUPLICATE KEY UPDATE) made the first bookings of new days lock the gaps
// around the new keys and deadlock one another round after round, each
// rolled-back insert handing its gap locks on to the next.
func (s *Store) createCounter(ctx context.Context, serviceID int64, day civil.Date) error {
	_, err := s.db.ExecContext(ctx, `INSERT IGNORE INTO ticket_counters (service_id, day, last_seq) VALUES (?, ?, 0)`,
		serviceID, day.String())
	return wrap("create ticket counter", err)
}
