package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"avanti/appliance/fault"
)

// CreateOwner adds an organisation.
func (s *Store) CreateOwner(ctx context.Context, name string, now time.Time) (Owner, error) {
	res, err := s.db.ExecContext(ctx, `INSERT INTO owners (name, created_at) VALUES (?, ?)`, name, now)
	if err != nil {
		return Owner{}, fmt.Errorf("create owner %q: %w", name, err)
	}
	id, _ := res.LastInsertId()
	return Owner{ID: id, Name: name}, nil
}

// CreateSite adds a site of an owner.
func (s *Store) CreateSite(ctx context.Context, site Site) (Site, error) {
	if site.Timezone == "" {
		site.Timezone = "Europe/Rome"
	}
	if _, err := time.LoadLocation(site.Timezone); err != nil {
		return Site{}, fault.Field("timezone", "invalid_timezone", "unknown time zone "+site.Timezone)
	}
	res, err := s.db.ExecContext(ctx, `INSERT INTO sites (owner_id, name, address, timezone) VALUES (?, ?, ?, ?)`,
		site.OwnerID, site.Name, site.Address, site.Timezone)
	if err != nil {
		return Site{}, fmt.Errorf("create site %q: %w", site.Name, err)
	}
	site.ID, _ = res.LastInsertId()
	return site, nil
}

// AddSiteHoliday adds a local holiday (year 0 = every year).
func (s *Store) AddSiteHoliday(ctx context.Context, siteID int64, year, month, day int, name string) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO site_holidays (site_id, year, month, day, name) VALUES (?, ?, ?, ?, ?)`,
		siteID, year, month, day, name)
	if err != nil {
		return fmt.Errorf("add holiday %q: %w", name, err)
	}
	return nil
}

// CreateRoom adds a waiting room.
func (s *Store) CreateRoom(ctx context.Context, room Room) (Room, error) {
	res, err := s.db.ExecContext(ctx, `INSERT INTO rooms (site_id, name) VALUES (?, ?)`, room.SiteID, room.Name)
	if err != nil {
		return Room{}, fmt.Errorf("create room %q: %w", room.Name, err)
	}
	room.ID, _ = res.LastInsertId()
	return room, nil
}

// CreateDesk adds a desk to a room, closed.
func (s *Store) CreateDesk(ctx context.Context, d Desk, now time.Time) (Desk, error) {
	res, err := s.db.ExecContext(ctx, `INSERT INTO desks (room_id, name, number, state, state_since) VALUES (?, ?, ?, 'closed', ?)`,
		d.RoomID, d.Name, d.Number, now)
	if err != nil {
		return Desk{}, fmt.Errorf("create desk %q: %w", d.Name, err)
	}
	d.ID, _ = res.LastInsertId()
	d.State = DeskClosed
	d.StateSince = now
	return d, nil
}

const serviceColumns = `s.id, s.owner_id, s.site_id, s.name, s.description, s.notes, s.prefix,
	s.target_wait_min, s.allowed_lateness_min, s.checkin_early_min, s.checkin_required, s.second_checkin,
	s.online_bookable, s.overbooking_pct, s.auto_regulation, s.min_notice_min, s.max_days_ahead,
	s.avg_service_min, s.id_required_future, s.walkin_quota_per_hour, s.one_active_booking,
	s.priority_weight, s.early_calls, s.active, si.timezone`

type scanner interface{ Scan(dest ...any) error }

func scanService(r scanner) (Service, error) {
	var v Service
	err := r.Scan(&v.ID, &v.OwnerID, &v.SiteID, &v.Name, &v.Description, &v.Notes, &v.Prefix,
		&v.TargetWaitMin, &v.AllowedLatenessMin, &v.CheckinEarlyMin, &v.CheckinRequired, &v.SecondCheckin,
		&v.OnlineBookable, &v.OverbookingPct, &v.AutoRegulation, &v.MinNoticeMin, &v.MaxDaysAhead,
		&v.AvgServiceMin, &v.IDRequiredFuture, &v.WalkInQuotaPerHour, &v.OneActiveBooking,
		&v.PriorityWeight, &v.EarlyCalls, &v.Active, &v.Timezone)
	return v, err
}

// ErrServiceNotFound is returned for an unknown service id.
var ErrServiceNotFound = fault.New(fault.NotFound, "service_not_found", "no such service")

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func getService(ctx context.Context, q querier, id int64) (Service, error) {
	v, err := scanService(q.QueryRowContext(ctx, `SELECT `+serviceColumns+`
		FROM services s JOIN sites si ON si.id = s.site_id WHERE s.id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Service{}, ErrServiceNotFound
	}
	if err != nil {
		return Service{}, fmt.Errorf("service %d: %w", id, err)
	}
	return v, nil
}

// Service returns one service.
func (s *Store) Service(ctx context.Context, id int64) (Service, error) {
	return getService(ctx, s.db, id)
}

// Services lists the active services of an owner (all owners when ownerID is 0).
func (s *Store) Services(ctx context.Context, ownerID int64) ([]Service, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+serviceColumns+`
		FROM services s JOIN sites si ON si.id = s.site_id
		WHERE s.active AND (? = 0 OR s.owner_id = ?) ORDER BY s.name`, ownerID, ownerID)
	if err != nil {
		return nil, fmt.Errorf("list services: %w", err)
	}
	defer rows.Close()
	var out []Service
	for rows.Next() {
		v, err := scanService(rows)
		if err != nil {
			return nil, fmt.Errorf("list services: %w", err)
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// maxMinutes bounds the minute settings of a service: a year, as far as
// anything can be booked ahead, and well within the INT columns.
const maxMinutes = 366 * 24 * 60

// ValidateService checks a service's settings and says which field is wrong.
func ValidateService(v Service) error {
	switch {
	case v.Name == "" || len(v.Name) > 200:
		return fault.Field("name", "invalid_name", "name is required (at most 200 characters)")
	case !validPrefix(v.Prefix):
		return fault.Field("prefix", "invalid_prefix", "prefix must be 1 to 3 capital letters, e.g. A")
	case v.TargetWaitMin < 1 || v.TargetWaitMin > maxMinutes:
		return fault.Field("target_wait_min", "invalid_target_wait", "target wait must be at least 1 minute (and at most a year)")
	case v.AllowedLatenessMin < 0 || v.AllowedLatenessMin > maxMinutes:
		return fault.Field("allowed_lateness_min", "invalid_lateness", "allowed lateness cannot be negative (or over a year)")
	case v.AvgServiceMin < 1 || v.AvgServiceMin > maxMinutes:
		return fault.Field("avg_service_min", "invalid_avg_service", "average service time must be at least 1 minute (and at most a year)")
	case v.OverbookingPct < -100 || v.OverbookingPct > 100:
		return fault.Field("overbooking_pct", "invalid_overbooking", "overbooking must be between -100 and 100 percent")
	case v.MaxDaysAhead < 0 || v.MaxDaysAhead > 366:
		return fault.Field("max_days_ahead", "invalid_days_ahead", "maximum days ahead must be between 0 and 366")
	case v.MinNoticeMin < 0 || v.MinNoticeMin > maxMinutes:
		return fault.Field("min_notice_min", "invalid_min_notice", "minimum notice cannot be negative (or over a year)")
	case v.WalkInQuotaPerHour < 0 || v.WalkInQuotaPerHour > 10000:
		return fault.Field("walkin_quota_per_hour", "invalid_walkin_quota", "walk-in quota must be between 0 and 10000 an hour")
	case v.PriorityWeight < 1 || v.PriorityWeight > 99:
		return fault.Field("priority_weight", "invalid_priority_weight", "priority weight must be between 1 and 99")
	case v.CheckinEarlyMin < 0 || v.CheckinEarlyMin > maxMinutes:
		return fault.Field("checkin_early_min", "invalid_checkin_early", "check-in window cannot be negative (or over a year)")
	}
	return nil
}

func validPrefix(p string) bool {
	if len(p) < 1 || len(p) > 3 {
		return false
	}
	for _, r := range p {
		if r < 'A' || r > 'Z' {
			return false
		}
	}
	return true
}

// CreateService adds a service with its rules.
func (s *Store) CreateService(ctx context.Context, v Service, now time.Time) (Service, error) {
	if v.PriorityWeight == 0 {
		v.PriorityWeight = 2
	}
	if err := ValidateService(v); err != nil {
		return Service{}, err
	}
	var siteOwner int64
	err := s.db.QueryRowContext(ctx, `SELECT owner_id FROM sites WHERE id = ?`, v.SiteID).Scan(&siteOwner)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && siteOwner != v.OwnerID) {
		return Service{}, fault.Field("site_id", "unknown_site", "no such site")
	}
	if err != nil {
		return Service{}, fmt.Errorf("site of service %q: %w", v.Name, err)
	}
	res, err := s.db.ExecContext(ctx, `INSERT INTO services (owner_id, site_id, name, description, notes, prefix,
		target_wait_min, allowed_lateness_min, checkin_early_min, checkin_required, second_checkin, online_bookable,
		overbooking_pct, auto_regulation, min_notice_min, max_days_ahead, avg_service_min, id_required_future,
		walkin_quota_per_hour, one_active_booking, priority_weight, early_calls, active, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, TRUE, ?, ?)`,
		v.OwnerID, v.SiteID, v.Name, v.Description, v.Notes, v.Prefix,
		v.TargetWaitMin, v.AllowedLatenessMin, v.CheckinEarlyMin, v.CheckinRequired, v.SecondCheckin, v.OnlineBookable,
		v.OverbookingPct, v.AutoRegulation, v.MinNoticeMin, v.MaxDaysAhead, v.AvgServiceMin, v.IDRequiredFuture,
		v.WalkInQuotaPerHour, v.OneActiveBooking, v.PriorityWeight, v.EarlyCalls, now, now)
	if isDuplicate(err) {
		return Service{}, fault.Field("prefix", "prefix_taken", "another service of this site already uses prefix "+v.Prefix)
	}
	if err != nil {
		return Service{}, fmt.Errorf("create service %q: %w", v.Name, err)
	}
	id, _ := res.LastInsertId()
	return s.Service(ctx, id)
}
