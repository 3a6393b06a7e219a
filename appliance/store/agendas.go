package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"avanti/appliance/agenda"
	"avanti/appliance/civil"
	"avanti/appliance/fault"
)

// SaveAgenda stores a new agenda for a service (ID 0) or replaces one, with
// its ranges and exceptions. It does not touch slots: RegenerateSlots does.
func (s *Store) SaveAgenda(ctx context.Context, serviceID int64, name string, a agenda.Agenda, now time.Time) (int64, error) {
	if len([]rune(name)) > 200 {
		return 0, fault.Field("name", "invalid_name", "the agenda's name is at most 200 characters")
	}
	if err := a.Validate(); err != nil {
		return 0, agendaFault(err)
	}
	id := a.ID
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := getService(ctx, tx, serviceID); err != nil {
			return err
		}
		var validTo any
		if !a.ValidTo.IsZero() {
			validTo = a.ValidTo.String()
		}
		if id == 0 {
			res, err := tx.ExecContext(ctx, `INSERT INTO agendas (service_id, name, valid_from, valid_to, open_on_holidays, created_at, updated_at)
				VALUES (?, ?, ?, ?, ?, ?, ?)`, serviceID, name, a.ValidFrom.String(), validTo, a.OpenOnHolidays, now, now)
			if err != nil {
				return fmt.Errorf("insert agenda: %w", err)
			}
			id, _ = res.LastInsertId()
		} else {
			res, err := tx.ExecContext(ctx, `UPDATE agendas SET name = ?, valid_from = ?, valid_to = ?, open_on_holidays = ?, updated_at = ?
				WHERE id = ? AND service_id = ?`, name, a.ValidFrom.String(), validTo, a.OpenOnHolidays, now, id, serviceID)
			if err != nil {
				return fmt.Errorf("update agenda: %w", err)
			}
			if n, _ := res.RowsAffected(); n == 0 {
				var exists int
				if tx.QueryRowContext(ctx, `SELECT 1 FROM agendas WHERE id = ? AND service_id = ?`, id, serviceID).Scan(&exists) != nil {
					return fault.New(fault.NotFound, "agenda_not_found", "no such agenda for this service")
				}
			}
			for _, t := range []string{"agenda_ranges", "agenda_exceptions"} {
				if _, err := tx.ExecContext(ctx, `DELETE FROM `+t+` WHERE agenda_id = ?`, id); err != nil {
					return fmt.Errorf("replace agenda: %w", err)
				}
			}
		}
		for _, r := range a.Ranges {
			if _, err := tx.ExecContext(ctx, `INSERT INTO agenda_ranges (agenda_id, weekday, start_min, end_min, slot_minutes, places)
				VALUES (?, ?, ?, ?, ?, ?)`, id, int(r.Weekday), r.Start, r.End, r.SlotMinutes, r.Places); err != nil {
				return fmt.Errorf("insert agenda range: %w", err)
			}
		}
		for _, e := range a.Exceptions {
			if _, err := tx.ExecContext(ctx, `INSERT INTO agenda_exceptions (agenda_id, day, kind, start_min, end_min, slot_minutes, places)
				VALUES (?, ?, ?, ?, ?, ?, ?)`, id, e.Day.String(), string(e.Kind), e.Start, e.End, e.SlotMinutes, e.Places); err != nil {
				return fmt.Errorf("insert agenda exception: %w", err)
			}
		}
		return nil
	})
	return id, err
}

// Agendas loads every agenda of a service.
func (s *Store) Agendas(ctx context.Context, serviceID int64) ([]agenda.Agenda, error) {
	return loadAgendas(ctx, s.db, serviceID)
}

func loadAgendas(ctx context.Context, q querier, serviceID int64) ([]agenda.Agenda, error) {
	rows, err := q.QueryContext(ctx, `SELECT id, name, valid_from, valid_to, open_on_holidays FROM agendas WHERE service_id = ? ORDER BY id`, serviceID)
	if err != nil {
		return nil, fmt.Errorf("load agendas: %w", err)
	}
	var out []agenda.Agenda
	index := map[int64]int{}
	for rows.Next() {
		var a agenda.Agenda
		var from time.Time
		var to sql.NullTime
		if err := rows.Scan(&a.ID, &a.Name, &from, &to, &a.OpenOnHolidays); err != nil {
			rows.Close()
			return nil, fmt.Errorf("load agendas: %w", err)
		}
		a.ValidFrom = civil.DateOf(from)
		if to.Valid {
			a.ValidTo = civil.DateOf(to.Time)
		}
		index[a.ID] = len(out)
		out = append(out, a)
	}
	rows.Close()
	if len(out) == 0 {
		return nil, rows.Err()
	}
	rows, err = q.QueryContext(ctx, `SELECT r.agenda_id, r.weekday, r.start_min, r.end_min, r.slot_minutes, r.places
		FROM agenda_ranges r JOIN agendas a ON a.id = r.agenda_id WHERE a.service_id = ? ORDER BY r.id`, serviceID)
	if err != nil {
		return nil, fmt.Errorf("load agenda ranges: %w", err)
	}
	for rows.Next() {
		var aid int64
		var wd int
		var r agenda.Range
		if err := rows.Scan(&aid, &wd, &r.Start, &r.End, &r.SlotMinutes, &r.Places); err != nil {
			rows.Close()
			return nil, fmt.Errorf("load agenda ranges: %w", err)
		}
		r.Weekday = time.Weekday(wd)
		out[index[aid]].Ranges = append(out[index[aid]].Ranges, r)
	}
	rows.Close()
	rows, err = q.QueryContext(ctx, `SELECT e.agenda_id, e.day, e.kind, e.start_min, e.end_min, e.slot_minutes, e.places
		FROM agenda_exceptions e JOIN agendas a ON a.id = e.agenda_id WHERE a.service_id = ? ORDER BY e.id`, serviceID)
	if err != nil {
		return nil, fmt.Errorf("load agenda exceptions: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var aid int64
		var day time.Time
		var kind string
		var e agenda.Exception
		if err := rows.Scan(&aid, &day, &kind, &e.Start, &e.End, &e.SlotMinutes, &e.Places); err != nil {
			return nil, fmt.Errorf("load agenda exceptions: %w", err)
		}
		e.Day = civil.DateOf(day)
		e.Kind = agenda.ExceptionKind(kind)
		out[index[aid]].Exceptions = append(out[index[aid]].Exceptions, e)
	}
	return out, rows.Err()
}

func loadHolidays(ctx context.Context, q querier, siteID int64) (agenda.Holidays, error) {
	rows, err := q.QueryContext(ctx, `SELECT year, month, day, name FROM site_holidays WHERE site_id = ?`, siteID)
	if err != nil {
		return agenda.Holidays{}, fmt.Errorf("load holidays: %w", err)
	}
	defer rows.Close()
	var h agenda.Holidays
	for rows.Next() {
		var l agenda.LocalHoliday
		var m int
		if err := rows.Scan(&l.Year, &m, &l.Day, &l.Name); err != nil {
			return h, fmt.Errorf("load holidays: %w", err)
		}
		l.Month = time.Month(m)
		h.Local = append(h.Local, l)
	}
	return h, rows.Err()
}

// Regeneration is what RegenerateSlots changed.
type Regeneration struct {
	Added, Updated, Removed, Closed int
	// Affected are the tickets whose slot was closed: citizens to recall.
	Affected []Ticket
}

// PlannedSlots computes, without saving, the slots the service's agendas
// give from now over horizonDays: the preview an admin sees before saving.
func (s *Store) PlannedSlots(ctx context.Context, serviceID int64, now time.Time, horizonDays int) ([]agenda.Slot, error) {
	svc, err := getService(ctx, s.db, serviceID)
	if err != nil {
		return nil, err
	}
	return plannedSlots(ctx, s.db, svc, now, horizonDays)
}

func plannedSlots(ctx context.Context, q querier, svc Service, now time.Time, horizonDays int) ([]agenda.Slot, error) {
	agendas, err := loadAgendas(ctx, q, svc.ID)
	if err != nil {
		return nil, err
	}
	hol, err := loadHolidays(ctx, q, svc.SiteID)
	if err != nil {
		return nil, err
	}
	loc := svc.Location()
	from := civil.Today(now, loc)
	all := agenda.Generate(agendas, agenda.Rules{OverbookingPct: svc.OverbookingPct, WalkInQuotaPerHour: svc.WalkInQuotaPerHour},
		hol, loc, from, from.AddDays(horizonDays))
	// The past is not rewritten.
	out := all[:0]
	for _, sl := range all {
		if !sl.Start.Before(now) {
			out = append(out, sl)
		}
	}
	return out, nil
}

type slotKey struct{ start, end int64 }

// RegenerateSlots makes the service's slot rows from now on match its
// agendas. A slot that is no longer wanted is deleted only if nobody booked
// it; otherwise it is closed and its tickets are flagged for recall.
func (s *Store) RegenerateSlots(ctx context.Context, serviceID int64, now time.Time, horizonDays int) (Regeneration, error) {
	var out Regeneration
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		out = Regeneration{}
		// One regeneration of a service at a time.
		var one int
		if err := tx.QueryRowContext(ctx, `SELECT 1 FROM services WHERE id = ? FOR UPDATE`, serviceID).Scan(&one); err != nil {
			if err == sql.ErrNoRows {
				return ErrServiceNotFound
			}
			return fmt.Errorf("lock service: %w", err)
		}
		svc, err := getService(ctx, tx, serviceID)
		if err != nil {
			return err
		}
		want, err := plannedSlots(ctx, tx, svc, now, horizonDays)
		if err != nil {
			return err
		}
		wanted := make(map[slotKey]agenda.Slot, len(want))
		for _, sl := range want {
			wanted[slotKey{sl.Start.UnixMicro(), sl.End.UnixMicro()}] = sl
		}
		rows, err := tx.QueryContext(ctx, `SELECT id, starts_at, ends_at, capacity, reserved, booked, is_open, manual
			FROM slots WHERE service_id = ? AND starts_at >= ?`, serviceID, now)
		if err != nil {
			return fmt.Errorf("load slots: %w", err)
		}
		type existing struct {
			id                         int64
			capacity, reserved, booked int
			open, manual               bool
		}
		have := map[slotKey]existing{}
		for rows.Next() {
			var e existing
			var st, en time.Time
			if err := rows.Scan(&e.id, &st, &en, &e.capacity, &e.reserved, &e.booked, &e.open, &e.manual); err != nil {
				rows.Close()
				return fmt.Errorf("load slots: %w", err)
			}
			have[slotKey{st.UnixMicro(), en.UnixMicro()}] = e
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("load slots: %w", err)
		}
		var closed []int64
		for k, e := range have {
			w, ok := wanted[k]
			if !ok {
				if !e.open {
					continue
				}
				// The condition re-reads booked under the row lock, so a
				// booking that lands meanwhile turns the delete into a close.
				res, err := tx.ExecContext(ctx, `DELETE FROM slots WHERE id = ? AND booked = 0
					AND NOT EXISTS (SELECT 1 FROM tickets WHERE slot_id = ?)`, e.id, e.id)
				if err != nil {
					return fmt.Errorf("delete slot: %w", err)
				}
				if n, _ := res.RowsAffected(); n == 1 {
					out.Removed++
					continue
				}
				if _, err := tx.ExecContext(ctx, `UPDATE slots SET is_open = FALSE WHERE id = ?`, e.id); err != nil {
					return fmt.Errorf("close slot: %w", err)
				}
				out.Closed++
				closed = append(closed, e.id)
				continue
			}
			delete(wanted, k)
			// Places or a closure set by hand in the work plan stay.
			if !e.manual && (e.capacity != w.Capacity || e.reserved != w.Reserved || !e.open) {
				if _, err := tx.ExecContext(ctx, `UPDATE slots SET capacity = GREATEST(?, booked),
					reserved = LEAST(?, GREATEST(?, booked)), is_open = TRUE WHERE id = ?`,
					w.Capacity, w.Reserved, w.Capacity, e.id); err != nil {
					return fmt.Errorf("update slot: %w", err)
				}
				out.Updated++
			}
		}
		if err := insertSlots(ctx, tx, serviceID, wanted); err != nil {
			return err
		}
		out.Added = len(wanted)
		if len(closed) > 0 {
			ids := make([]any, len(closed))
			for i, id := range closed {
				ids[i] = id
			}
			in := "(" + strings.TrimSuffix(strings.Repeat("?,", len(ids)), ",") + ")"
			if _, err := tx.ExecContext(ctx, `UPDATE tickets SET needs_recall = TRUE, updated_at = ?
				WHERE slot_id IN `+in+` AND status IN ('booked','waiting')`, append([]any{now}, ids...)...); err != nil {
				return fmt.Errorf("flag tickets for recall: %w", err)
			}
			out.Affected, err = queryTickets(ctx, tx, `WHERE t.slot_id IN `+in+` AND t.status IN ('booked','waiting') ORDER BY t.starts_at`, ids...)
			if err != nil {
				return err
			}
		}
		return nil
	})
	return out, err
}

func insertSlots(ctx context.Context, tx *sql.Tx, serviceID int64, slots map[slotKey]agenda.Slot) error {
	const batch = 500
	args := make([]any, 0, batch*5)
	n := 0
	flush := func() error {
		if n == 0 {
			return nil
		}
		q := `INSERT INTO slots (service_id, starts_at, ends_at, capacity, reserved) VALUES ` +
			strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?, ?),", n), ",")
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("insert slots: %w", err)
		}
		args, n = args[:0], 0
		return nil
	}
	for _, sl := range slots {
		args = append(args, serviceID, sl.Start.UTC(), sl.End.UTC(), sl.Capacity, sl.Reserved)
		n++
		if n == batch {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}

// PreviewDay is one local day of an agenda preview.
type PreviewDay struct {
	Date  string        `json:"date"`
	Slots []PreviewSlot `json:"slots"`
}

// PreviewSlot is a slot an agenda would make.
type PreviewSlot struct {
	Start    time.Time `json:"start"`
	End      time.Time `json:"end"`
	Capacity int       `json:"capacity"`
}

// Preview is what saving an agenda would do, computed without saving.
type Preview struct {
	Days     []PreviewDay
	Affected []Ticket // bookings whose slot would be closed
}

// PreviewAgenda computes the slots of the next days the service would have
// with ag saved (replacing the agenda of the same ID, or added), and the
// tickets whose slot would go.
func (s *Store) PreviewAgenda(ctx context.Context, serviceID int64, ag agenda.Agenda, now time.Time, days, horizonDays int) (Preview, error) {
	svc, err := getService(ctx, s.db, serviceID)
	if err != nil {
		return Preview{}, err
	}
	agendas, err := loadAgendas(ctx, s.db, svc.ID)
	if err != nil {
		return Preview{}, err
	}
	if err := ag.Validate(); err != nil {
		return Preview{}, agendaFault(err)
	}
	replaced := false
	for i := range agendas {
		if ag.ID != 0 && agendas[i].ID == ag.ID {
			agendas[i], replaced = ag, true
		}
	}
	if ag.ID != 0 && !replaced {
		return Preview{}, fault.New(fault.NotFound, "agenda_not_found", "no such agenda of this service")
	}
	if !replaced {
		agendas = append(agendas, ag)
	}
	hol, err := loadHolidays(ctx, s.db, svc.SiteID)
	if err != nil {
		return Preview{}, err
	}
	loc := svc.Location()
	from := civil.Today(now, loc)
	all := agenda.Generate(agendas, agenda.Rules{OverbookingPct: svc.OverbookingPct, WalkInQuotaPerHour: svc.WalkInQuotaPerHour},
		hol, loc, from, from.AddDays(horizonDays))
	wanted := map[slotKey]bool{}
	p := Preview{Days: []PreviewDay{}}
	byDay := map[string]int{}
	for _, sl := range all {
		if sl.Start.Before(now) {
			continue
		}
		wanted[slotKey{sl.Start.UnixMicro(), sl.End.UnixMicro()}] = true
		d := civil.DateOf(sl.Start.In(loc))
		if from.DaysUntil(d) >= days {
			continue
		}
		i, ok := byDay[d.String()]
		if !ok {
			i = len(p.Days)
			byDay[d.String()] = i
			p.Days = append(p.Days, PreviewDay{Date: d.String(), Slots: []PreviewSlot{}})
		}
		p.Days[i].Slots = append(p.Days[i].Slots, PreviewSlot{Start: sl.Start.In(loc), End: sl.End.In(loc), Capacity: sl.Capacity})
	}
	booked, err := queryTickets(ctx, s.db, `JOIN slots sl ON sl.id = t.slot_id WHERE t.service_id = ? AND sl.starts_at >= ?
		AND t.status IN ('booked','waiting') ORDER BY t.starts_at`, svc.ID, now)
	if err != nil {
		return Preview{}, err
	}
	p.Affected = []Ticket{}
	for _, t := range booked {
		if !wanted[slotKey{t.Start.UnixMicro(), t.End.UnixMicro()}] {
			p.Affected = append(p.Affected, t)
		}
	}
	return p, nil
}

// agendaFault turns an agenda's problems into one error whose field is the
// first problem's exact path ("ranges[2].end"), every problem listed in
// details.problems, so a form can mark each input.
func agendaFault(err error) error {
	var problems []map[string]string
	field := "agenda"
	var walk func(error)
	walk = func(e error) {
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range j.Unwrap() {
				walk(x)
			}
			return
		}
		var fe *agenda.FieldError
		if errors.As(e, &fe) {
			if len(problems) == 0 {
				field = fe.Field
			}
			problems = append(problems, map[string]string{"field": fe.Field, "problem": fe.Problem})
		}
	}
	walk(err)
	f := fault.Field(field, "invalid_agenda", err.Error())
	if len(problems) > 0 {
		return f.With("problems", problems)
	}
	return f
}
