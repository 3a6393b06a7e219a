package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"avanti/appliance/calling"
	"avanti/appliance/civil"
	"avanti/appliance/fault"
)

// QueuePosition is where a waiting ticket stands in its service's queue.
type QueuePosition struct {
	Position      int           // 1 = next
	EstimatedWait time.Duration // rough: position × average service time ÷ open desks
}

// Position ranks the ticket's service queue with the calling order and
// says where the ticket stands.
func (s *Store) Position(ctx context.Context, t Ticket, now time.Time) (QueuePosition, bool, error) {
	if t.Status != StatusWaiting {
		return QueuePosition{}, false, nil
	}
	services, err := queueRules(ctx, s.db, []int64{t.ServiceID})
	if err != nil {
		return QueuePosition{}, false, err
	}
	cands, err := waitingCandidates(ctx, s.db, []int64{t.ServiceID})
	if err != nil {
		return QueuePosition{}, false, err
	}
	// Beyond the heads the exact order hardly matters; make sure the ticket
	// itself is ranked.
	found := false
	for _, c := range cands {
		found = found || c.TicketID == t.ID
	}
	if !found {
		cands = append(cands, calling.Candidate{TicketID: t.ID, ServiceID: t.ServiceID, ScheduledStart: t.Start,
			CheckedInAt: t.CheckedInAt, DueAt: t.DueAt, Priority: t.Priority, Late: t.Late, Returning: t.Returning})
	}
	pos, wait, ok := calling.Position(now, cands, services, t.ID)
	if !ok {
		// Not yet due while others are: it waits behind all of them.
		var n int
		if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM tickets WHERE service_id = ? AND status = 'waiting' AND due_at <= ?`,
			t.ServiceID, now).Scan(&n); err != nil {
			return QueuePosition{}, false, fmt.Errorf("queue length: %w", err)
		}
		svc := services[t.ServiceID]
		return QueuePosition{Position: n + 1, EstimatedWait: later(t.DueAt, now).Sub(now) +
			time.Duration(n+1)*svc.AvgService/time.Duration(max(svc.Desks, 1))}, true, nil
	}
	return QueuePosition{Position: pos + 1, EstimatedWait: wait}, true, nil
}

// Punctuality says how far a service's calls run behind (positive) or
// ahead (negative) of the appointment times.
type Punctuality struct {
	ServiceID    int64  `json:"service_id"`
	DelayMinutes int    `json:"delay_minutes"`
	Status       string `json:"status"` // on_time, late, ahead, no_data
	Calls        int    `json:"calls"`
	Waiting      int    `json:"waiting"`
}

// punctualityWindow is the rolling window of calls considered.
const punctualityWindow = 60 * time.Minute

// Punctuality is the mean delay of the on-time calls of the last hour:
// time called minus time due, where due is the appointment time (or the
// check-in of a walk-in). Late arrivals do not count: their delay is theirs.
func (s *Store) Punctuality(ctx context.Context, serviceID int64, now time.Time) (Punctuality, error) {
	p := Punctuality{ServiceID: serviceID, Status: "no_data"}
	var avg sql.NullFloat64
	err := s.db.QueryRowContext(ctx, `SELECT COUNT(*), AVG(delay_sec) FROM calls
		WHERE service_id = ? AND kind = 'call' AND NOT late AND called_at > ? AND called_at <= ?`,
		serviceID, now.Add(-punctualityWindow), now).Scan(&p.Calls, &avg)
	if err != nil {
		return p, fmt.Errorf("punctuality: %w", err)
	}
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM tickets WHERE service_id = ? AND status = 'waiting' AND due_at <= ?`,
		serviceID, now.Add(12*time.Hour)).Scan(&p.Waiting); err != nil {
		return p, fmt.Errorf("punctuality: %w", err)
	}
	if p.Calls == 0 {
		return p, nil
	}
	p.DelayMinutes = int(avg.Float64 / 60)
	switch {
	case p.DelayMinutes >= 5:
		p.Status = "late"
	case p.DelayMinutes <= -5:
		p.Status = "ahead"
	default:
		p.Status = "on_time"
	}
	return p, nil
}

// DayAvailability is the free places of one local day.
type DayAvailability struct {
	Date  string     `json:"date"`
	Slots []FreeSlot `json:"slots"`
}

// FreeSlot is a bookable time and its free places.
type FreeSlot struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	Free  int       `json:"free"`
}

// maxAvailabilityDays bounds one availability request.
const maxAvailabilityDays = 62

// Availability lists the open slots of a service from..to (local days,
// inclusive) with their places free for a booking, honouring minimum notice
// and maximum days ahead. Only days that have slots are listed.
func (s *Store) Availability(ctx context.Context, serviceID int64, from, to civil.Date, now time.Time) ([]DayAvailability, error) {
	if to.Before(from) {
		return nil, fault.Field("to", "invalid_range", "to must not be before from")
	}
	if from.DaysUntil(to) >= maxAvailabilityDays {
		return nil, fault.Field("to", "range_too_long", fmt.Sprintf("ask for at most %d days at a time", maxAvailabilityDays))
	}
	svc, err := getService(ctx, s.db, serviceID)
	if err != nil {
		return nil, err
	}
	loc := svc.Location()
	lo := from.In(loc)
	if earliest := now.Add(time.Duration(svc.MinNoticeMin) * time.Minute); lo.Before(earliest) {
		lo = earliest
	}
	hi := to.AddDays(1).In(loc)
	if last := civil.Today(now, loc).AddDays(svc.MaxDaysAhead + 1).In(loc); hi.After(last) {
		hi = last
	}
	days := []DayAvailability{}
	if !lo.Before(hi) {
		return days, nil
	}
	rows, err := s.db.QueryContext(ctx, `SELECT starts_at, ends_at, capacity, reserved, booked, prebooked
		FROM slots WHERE service_id = ? AND is_open AND starts_at >= ? AND starts_at < ? ORDER BY starts_at`,
		serviceID, lo.UTC(), hi.UTC())
	if err != nil {
		return nil, fmt.Errorf("availability: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var sl Slot
		if err := rows.Scan(&sl.Start, &sl.End, &sl.Capacity, &sl.Reserved, &sl.Booked, &sl.Prebooked); err != nil {
			return nil, fmt.Errorf("availability: %w", err)
		}
		date := civil.DateOf(sl.Start.In(loc)).String()
		if n := len(days); n == 0 || days[n-1].Date != date {
			days = append(days, DayAvailability{Date: date, Slots: []FreeSlot{}})
		}
		days[len(days)-1].Slots = append(days[len(days)-1].Slots, FreeSlot{Start: sl.Start.In(loc), End: sl.End.In(loc), Free: sl.FreeForBooking()})
	}
	return days, rows.Err()
}
