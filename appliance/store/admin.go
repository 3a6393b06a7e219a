package store

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"avanti/appliance/civil"
	"avanti/appliance/fault"
)

// What the admin console edits: the organisation, services, users, slots,
// and the audit log of every change. docs/console.md is the contract.

// Holiday is a local holiday of a site: "MM-DD" every year, or
// "YYYY-MM-DD" once.
type Holiday struct {
	Date string `json:"date"`
	Name string `json:"name"`
}

// SiteInfo is a site with its local holidays.
type SiteInfo struct {
	Site
	Holidays []Holiday `json:"holidays"`
}

// Org is an owner's organisation as the admin edits it.
type Org struct {
	Owner Owner      `json:"owner"`
	Sites []SiteInfo `json:"sites"`
	Rooms []Room     `json:"rooms"`
	Desks []OrgDesk  `json:"desks"`
}

// OrgDesk is a desk as the organisation lists it.
type OrgDesk struct {
	ID     int64  `json:"id"`
	RoomID int64  `json:"room_id"`
	Name   string `json:"name"`
	Number string `json:"number"`
}

// ErrNotFound is any organisation record another owner has, or none has.
var (
	ErrSiteNotFound = fault.New(fault.NotFound, "site_not_found", "no such site")
	ErrRoomNotFound = fault.New(fault.NotFound, "room_not_found", "no such room")
)

// Org reads an owner's organisation.
func (s *Store) Org(ctx context.Context, ownerID int64) (Org, error) {
	var o Org
	err := s.db.QueryRowContext(ctx, `SELECT id, name FROM owners WHERE id = ?`, ownerID).Scan(&o.Owner.ID, &o.Owner.Name)
	if errors.Is(err, sql.ErrNoRows) {
		return o, fault.New(fault.NotFound, "no_owner", "no such organisation")
	}
	if err != nil {
		return o, fmt.Errorf("owner: %w", err)
	}
	o.Sites, o.Rooms, o.Desks = []SiteInfo{}, []Room{}, []OrgDesk{}
	rows, err := s.db.QueryContext(ctx, `SELECT id, owner_id, name, address, timezone FROM sites WHERE owner_id = ? ORDER BY id`, ownerID)
	if err != nil {
		return o, fmt.Errorf("sites: %w", err)
	}
	for rows.Next() {
		var si SiteInfo
		if err := rows.Scan(&si.ID, &si.OwnerID, &si.Name, &si.Address, &si.Timezone); err != nil {
			rows.Close()
			return o, fmt.Errorf("sites: %w", err)
		}
		si.Holidays = []Holiday{}
		o.Sites = append(o.Sites, si)
	}
	rows.Close()
	for i := range o.Sites {
		hs, err := s.db.QueryContext(ctx, `SELECT year, month, day, name FROM site_holidays WHERE site_id = ? ORDER BY month, day, year`, o.Sites[i].ID)
		if err != nil {
			return o, fmt.Errorf("holidays: %w", err)
		}
		for hs.Next() {
			var y, m, d int
			var h Holiday
			if err := hs.Scan(&y, &m, &d, &h.Name); err != nil {
				hs.Close()
				return o, fmt.Errorf("holidays: %w", err)
			}
			h.Date = fmt.Sprintf("%02d-%02d", m, d)
			if y != 0 {
				h.Date = fmt.Sprintf("%04d-%s", y, h.Date)
			}
			o.Sites[i].Holidays = append(o.Sites[i].Holidays, h)
		}
		hs.Close()
	}
	rows, err = s.db.QueryContext(ctx, `SELECT r.id, r.site_id, r.name FROM rooms r JOIN sites si ON si.id = r.site_id WHERE si.owner_id = ? ORDER BY r.id`, ownerID)
	if err != nil {
		return o, fmt.Errorf("rooms: %w", err)
	}
	for rows.Next() {
		var r Room
		if err := rows.Scan(&r.ID, &r.SiteID, &r.Name); err != nil {
			rows.Close()
			return o, fmt.Errorf("rooms: %w", err)
		}
		o.Rooms = append(o.Rooms, r)
	}
	rows.Close()
	rows, err = s.db.QueryContext(ctx, `SELECT d.id, d.room_id, d.name, d.number FROM desks d JOIN rooms r ON r.id = d.room_id
		JOIN sites si ON si.id = r.site_id WHERE si.owner_id = ? ORDER BY d.room_id, d.number`, ownerID)
	if err != nil {
		return o, fmt.Errorf("desks: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var d OrgDesk
		if err := rows.Scan(&d.ID, &d.RoomID, &d.Name, &d.Number); err != nil {
			return o, fmt.Errorf("desks: %w", err)
		}
		o.Desks = append(o.Desks, d)
	}
	return o, rows.Err()
}

// RenameOwner changes an organisation's name.
func (s *Store) RenameOwner(ctx context.Context, ownerID int64, name string) error {
	name = strings.TrimSpace(name)
	if name == "" || len([]rune(name)) > 200 {
		return fault.Field("name", "invalid_name", "the name is required (at most 200 characters)")
	}
	_, err := s.db.ExecContext(ctx, `UPDATE owners SET name = ? WHERE id = ?`, name, ownerID)
	return wrap("rename owner", err)
}

var holidayRE = regexp.MustCompile(`^(?:(\d{4})-)?(\d{2})-(\d{2})$`)

// SaveSite creates (ID 0) or updates a site with its holidays.
func (s *Store) SaveSite(ctx context.Context, si SiteInfo) (SiteInfo, error) {
	si.Name, si.Address = strings.TrimSpace(si.Name), strings.TrimSpace(si.Address)
	if si.Name == "" || len([]rune(si.Name)) > 200 {
		return si, fault.Field("name", "invalid_name", "the name is required (at most 200 characters)")
	}
	if len([]rune(si.Address)) > 300 {
		return si, fault.Field("address", "invalid_address", "the address has at most 300 characters")
	}
	si.Timezone = cmp.Or(si.Timezone, "Europe/Rome")
	if _, err := time.LoadLocation(si.Timezone); err != nil {
		return si, fault.Field("timezone", "invalid_timezone", "unknown time zone "+si.Timezone)
	}
	type hol struct{ y, m, d int }
	var hols []hol
	for i, h := range si.Holidays {
		m := holidayRE.FindStringSubmatch(h.Date)
		field := fmt.Sprintf("holidays[%d].date", i)
		if m == nil {
			return si, fault.Field(field, "invalid_date", "a holiday is MM-DD (every year) or YYYY-MM-DD (once)")
		}
		y, _ := strconv.Atoi(m[1])
		mo, _ := strconv.Atoi(m[2])
		d, _ := strconv.Atoi(m[3])
		year := y
		if year == 0 {
			year = 2024 // a leap year: 02-29 is a valid yearly date
		}
		if t := time.Date(year, time.Month(mo), d, 0, 0, 0, 0, time.UTC); t.Month() != time.Month(mo) || t.Day() != d {
			return si, fault.Field(field, "invalid_date", "no such day: "+h.Date)
		}
		if strings.TrimSpace(h.Name) == "" || len([]rune(h.Name)) > 200 {
			return si, fault.Field(fmt.Sprintf("holidays[%d].name", i), "invalid_name", "give the holiday a name (at most 200 characters)")
		}
		hols = append(hols, hol{y, mo, d})
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if si.ID == 0 {
			res, err := tx.ExecContext(ctx, `INSERT INTO sites (owner_id, name, address, timezone) VALUES (?, ?, ?, ?)`,
				si.OwnerID, si.Name, si.Address, si.Timezone)
			if err != nil {
				return fmt.Errorf("create site: %w", err)
			}
			si.ID, _ = res.LastInsertId()
		} else {
			res, err := tx.ExecContext(ctx, `UPDATE sites SET name = ?, address = ?, timezone = ? WHERE id = ? AND owner_id = ?`,
				si.Name, si.Address, si.Timezone, si.ID, si.OwnerID)
			if err != nil {
				return fmt.Errorf("update site: %w", err)
			}
			if n, _ := res.RowsAffected(); n == 0 {
				var one int
				if err := tx.QueryRowContext(ctx, `SELECT 1 FROM sites WHERE id = ? AND owner_id = ?`, si.ID, si.OwnerID).Scan(&one); err != nil {
					return ErrSiteNotFound
				}
			}
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM site_holidays WHERE site_id = ?`, si.ID); err != nil {
			return fmt.Errorf("holidays: %w", err)
		}
		for i, h := range hols {
			if _, err := tx.ExecContext(ctx, `INSERT INTO site_holidays (site_id, year, month, day, name) VALUES (?, ?, ?, ?, ?)`,
				si.ID, h.y, h.m, h.d, strings.TrimSpace(si.Holidays[i].Name)); err != nil {
				return fmt.Errorf("holidays: %w", err)
			}
		}
		return nil
	})
	if si.Holidays == nil {
		si.Holidays = []Holiday{}
	}
	return si, err
}

// SaveRoom creates (ID 0) or renames a room of one of the owner's sites.
func (s *Store) SaveRoom(ctx context.Context, ownerID int64, r Room) (Room, error) {
	r.Name = strings.TrimSpace(r.Name)
	if r.Name == "" || len([]rune(r.Name)) > 200 {
		return r, fault.Field("name", "invalid_name", "the name is required (at most 200 characters)")
	}
	if missing, err := s.missing(ctx, `SELECT id FROM sites WHERE owner_id = ?`, ownerID, []int64{r.SiteID}); err != nil || missing != 0 {
		return r, cmp.Or(err, error(fault.Field("site_id", "unknown_site", "no such site")))
	}
	if r.ID == 0 {
		return s.CreateRoom(ctx, r)
	}
	if missing, err := s.missing(ctx, ownerRooms, ownerID, []int64{r.ID}); err != nil || missing != 0 {
		return r, cmp.Or(err, error(ErrRoomNotFound))
	}
	_, err := s.db.ExecContext(ctx, `UPDATE rooms SET site_id = ?, name = ? WHERE id = ?`, r.SiteID, r.Name, r.ID)
	return r, wrap("update room", err)
}

var deskNumberRE = regexp.MustCompile(`^[0-9A-Za-z]{1,10}$`)

// SaveDesk creates (ID 0) or updates a desk in one of the owner's rooms.
func (s *Store) SaveDesk(ctx context.Context, ownerID int64, d OrgDesk, now time.Time) (OrgDesk, error) {
	d.Name, d.Number = strings.TrimSpace(d.Name), strings.TrimSpace(d.Number)
	if d.Name == "" || len([]rune(d.Name)) > 200 {
		return d, fault.Field("name", "invalid_name", "the name is required, e.g. Sportello 3 (at most 200 characters)")
	}
	if !deskNumberRE.MatchString(d.Number) {
		return d, fault.Field("number", "invalid_number", "the number is 1 to 10 letters or digits, as the screens say it")
	}
	if missing, err := s.missing(ctx, ownerRooms, ownerID, []int64{d.RoomID}); err != nil || missing != 0 {
		return d, cmp.Or(err, error(fault.Field("room_id", "unknown_room", "no such room")))
	}
	var err error
	if d.ID == 0 {
		var created Desk
		created, err = s.CreateDesk(ctx, Desk{RoomID: d.RoomID, Name: d.Name, Number: d.Number}, now)
		d.ID = created.ID
	} else {
		var owner int64
		if qerr := s.db.QueryRowContext(ctx, `SELECT si.owner_id FROM desks x JOIN rooms r ON r.id = x.room_id JOIN sites si ON si.id = r.site_id
			WHERE x.id = ?`, d.ID).Scan(&owner); qerr != nil || owner != ownerID {
			return d, ErrDeskNotFound
		}
		_, err = s.db.ExecContext(ctx, `UPDATE desks SET room_id = ?, name = ?, number = ? WHERE id = ?`, d.RoomID, d.Name, d.Number, d.ID)
	}
	if isDuplicate(err) || (err != nil && isDuplicate(errors.Unwrap(err))) {
		return d, fault.Field("number", "number_taken", "another desk of this room has this number")
	}
	return d, wrap("save desk", err)
}

// AllServices lists an owner's services, inactive ones too.
func (s *Store) AllServices(ctx context.Context, ownerID int64) ([]Service, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+serviceColumns+` FROM services s JOIN sites si ON si.id = s.site_id
		WHERE s.owner_id = ? ORDER BY s.name`, ownerID)
	if err != nil {
		return nil, fmt.Errorf("list services: %w", err)
	}
	defer rows.Close()
	out := []Service{}
	for rows.Next() {
		v, err := scanService(rows)
		if err != nil {
			return nil, fmt.Errorf("list services: %w", err)
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// UpdateService replaces a service's settings.
func (s *Store) UpdateService(ctx context.Context, v Service, now time.Time) (Service, error) {
	if err := ValidateService(v); err != nil {
		return Service{}, err
	}
	var siteOwner int64
	err := s.db.QueryRowContext(ctx, `SELECT owner_id FROM sites WHERE id = ?`, v.SiteID).Scan(&siteOwner)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && siteOwner != v.OwnerID) {
		return Service{}, fault.Field("site_id", "unknown_site", "no such site")
	}
	if err != nil {
		return Service{}, fmt.Errorf("site of service: %w", err)
	}
	_, err = s.db.ExecContext(ctx, `UPDATE services SET site_id = ?, name = ?, description = ?, notes = ?, prefix = ?,
		target_wait_min = ?, allowed_lateness_min = ?, checkin_early_min = ?, checkin_required = ?, second_checkin = ?,
		online_bookable = ?, overbooking_pct = ?, auto_regulation = ?, min_notice_min = ?, max_days_ahead = ?,
		avg_service_min = ?, id_required_future = ?, walkin_quota_per_hour = ?, one_active_booking = ?,
		priority_weight = ?, early_calls = ?, active = ?, updated_at = ? WHERE id = ? AND owner_id = ?`,
		v.SiteID, v.Name, v.Description, v.Notes, v.Prefix, v.TargetWaitMin, v.AllowedLatenessMin, v.CheckinEarlyMin,
		v.CheckinRequired, v.SecondCheckin, v.OnlineBookable, v.OverbookingPct, v.AutoRegulation, v.MinNoticeMin,
		v.MaxDaysAhead, v.AvgServiceMin, v.IDRequiredFuture, v.WalkInQuotaPerHour, v.OneActiveBooking,
		v.PriorityWeight, v.EarlyCalls, v.Active, now, v.ID, v.OwnerID)
	if isDuplicate(err) {
		return Service{}, fault.Field("prefix", "prefix_taken", "another service of this site already uses prefix "+v.Prefix)
	}
	if err != nil {
		return Service{}, fmt.Errorf("update service: %w", err)
	}
	return s.Service(ctx, v.ID)
}

// Sources of a staff account's password.
const (
	SourceLocal     = "local"
	SourceDirectory = "directory"
	SourceBoth      = "both"
)

// UserInfo is a staff account as the admin sees it.
type UserInfo struct {
	User
	Source     string  `json:"source"`
	ServiceIDs []int64 `json:"service_ids"`
}

// Users lists an owner's staff accounts.
func (s *Store) Users(ctx context.Context, ownerID int64) ([]UserInfo, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id FROM users WHERE owner_id = ? ORDER BY username`, ownerID)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, fmt.Errorf("list users: %w", err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	out := []UserInfo{}
	for _, id := range ids {
		u, err := s.UserInfo(ctx, id)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, nil
}

// UserInfo reads one staff account with its source and services.
func (s *Store) UserInfo(ctx context.Context, id int64) (UserInfo, error) {
	u, err := s.UserByID(ctx, id)
	if err != nil {
		return UserInfo{}, err
	}
	info := UserInfo{User: u, ServiceIDs: []int64{}}
	if err := s.db.QueryRowContext(ctx, `SELECT source FROM users WHERE id = ?`, id).Scan(&info.Source); err != nil {
		return info, fmt.Errorf("user source: %w", err)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT service_id FROM user_services WHERE user_id = ? ORDER BY service_id`, id)
	if err != nil {
		return info, fmt.Errorf("user services: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var sid int64
		if err := rows.Scan(&sid); err != nil {
			return info, fmt.Errorf("user services: %w", err)
		}
		info.ServiceIDs = append(info.ServiceIDs, sid)
	}
	return info, rows.Err()
}

// SaveUser creates (ID 0) or updates a staff account; passwordHash, when
// not empty, replaces the password.
func (s *Store) SaveUser(ctx context.Context, u UserInfo, passwordHash string, now time.Time) (UserInfo, error) {
	switch u.Source {
	case SourceLocal, SourceDirectory, SourceBoth:
	default:
		return u, fault.Field("source", "invalid_source", "source must be local, directory or both")
	}
	switch u.Role {
	case RoleAdmin, RoleBackoffice, RoleOperator:
	default:
		return u, fault.Field("role", "invalid_role", "role must be admin, backoffice or operator")
	}
	u.DisplayName = strings.TrimSpace(u.DisplayName)
	if len([]rune(u.DisplayName)) > 200 {
		return u, fault.Field("display_name", "invalid_name", "the name has at most 200 characters")
	}
	email, err := CheckEmail("email", u.Email)
	if err != nil {
		return u, err
	}
	u.Email = email
	if missing, err := s.missing(ctx, `SELECT id FROM services WHERE owner_id = ?`, u.OwnerID, u.ServiceIDs); err != nil || missing != 0 {
		return u, cmp.Or(err, error(fault.Field("service_ids", "unknown_service", fmt.Sprintf("service %d does not exist", missing))))
	}
	if u.ID == 0 {
		u.Username = strings.TrimSpace(u.Username)
		created, err := s.CreateUser(ctx, User{OwnerID: u.OwnerID, Username: u.Username, DisplayName: u.DisplayName, Email: u.Email,
			Role: u.Role, PasswordHash: passwordHash}, now)
		if err != nil {
			return u, err
		}
		u.ID = created.ID
		u.Active = true
	} else {
		cur, err := s.UserByID(ctx, u.ID)
		if err != nil || cur.OwnerID != u.OwnerID {
			return u, ErrUserNotFound
		}
		if _, err := s.db.ExecContext(ctx, `UPDATE users SET display_name = ?, email = ?, role = ?, active = ? WHERE id = ?`,
			u.DisplayName, nullEmail(u.Email), u.Role, u.Active, u.ID); err != nil {
			return u, fmt.Errorf("update user: %w", err)
		}
		if passwordHash != "" {
			if err := s.SetPassword(ctx, u.ID, passwordHash); err != nil {
				return u, err
			}
		}
		if !u.Active {
			if _, err := s.db.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = ?`, u.ID); err != nil {
				return u, fmt.Errorf("end sessions: %w", err)
			}
		}
	}
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE users SET source = ? WHERE id = ?`, u.Source, u.ID); err != nil {
			return fmt.Errorf("user source: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM user_services WHERE user_id = ?`, u.ID); err != nil {
			return fmt.Errorf("user services: %w", err)
		}
		for _, sid := range u.ServiceIDs {
			if _, err := tx.ExecContext(ctx, `INSERT IGNORE INTO user_services (user_id, service_id) VALUES (?, ?)`, u.ID, sid); err != nil {
				return fmt.Errorf("user services: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return u, err
	}
	return s.UserInfo(ctx, u.ID)
}

// AuditEntry is one change made through the API.
type AuditEntry struct {
	ID       int64           `json:"id"`
	At       time.Time       `json:"at"`
	Actor    string          `json:"actor"`
	Action   string          `json:"action"`
	Entity   string          `json:"entity"`
	EntityID int64           `json:"entity_id"`
	Before   json.RawMessage `json:"before"`
	After    json.RawMessage `json:"after"`
}

// Audit records a change. before and after are marshalled as JSON (nil
// when the thing did not exist before, or no longer exists after).
func (s *Store) Audit(ctx context.Context, ownerID int64, actor, action, entity string, entityID int64, before, after any, now time.Time) error {
	enc := func(v any) (any, error) {
		if v == nil {
			return nil, nil
		}
		b, err := json.Marshal(v)
		return b, err
	}
	b, err := enc(before)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	a, err := enc(after)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	_, err = s.db.ExecContext(ctx, `INSERT INTO audit_log (owner_id, at, actor, action, entity, entity_id, before_json, after_json)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, ownerID, now, clip(actor, 120), action, entity, entityID, b, a)
	return wrap("audit", err)
}

// AuditFilter selects audit entries.
type AuditFilter struct {
	From, To time.Time
	Actor    string
	Entity   string
	Limit    int
}

// AuditLog lists an owner's audit entries, newest first.
func (s *Store) AuditLog(ctx context.Context, ownerID int64, f AuditFilter) ([]AuditEntry, error) {
	q := `SELECT id, at, actor, action, entity, entity_id, before_json, after_json FROM audit_log WHERE owner_id = ?`
	args := []any{ownerID}
	if !f.From.IsZero() {
		q += ` AND at >= ?`
		args = append(args, f.From)
	}
	if !f.To.IsZero() {
		q += ` AND at < ?`
		args = append(args, f.To)
	}
	if f.Actor != "" {
		q += ` AND actor = ?`
		args = append(args, f.Actor)
	}
	if f.Entity != "" {
		q += ` AND entity = ?`
		args = append(args, f.Entity)
	}
	if f.Limit <= 0 || f.Limit > 1000 {
		f.Limit = 200
	}
	rows, err := s.db.QueryContext(ctx, q+` ORDER BY at DESC, id DESC LIMIT ?`, append(args, f.Limit)...)
	if err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	defer rows.Close()
	out := []AuditEntry{}
	for rows.Next() {
		var e AuditEntry
		var b, a []byte
		if err := rows.Scan(&e.ID, &e.At, &e.Actor, &e.Action, &e.Entity, &e.EntityID, &b, &a); err != nil {
			return nil, fmt.Errorf("audit log: %w", err)
		}
		if len(b) > 0 {
			e.Before = b
		}
		if len(a) > 0 {
			e.After = a
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// WorkSlot is a slot in the work plan.
type WorkSlot struct {
	ID       int64     `json:"id"`
	Start    time.Time `json:"start"`
	End      time.Time `json:"end"`
	Capacity int       `json:"capacity"`
	Reserved int       `json:"reserved"`
	Booked   int       `json:"booked"`
	Open     bool      `json:"open"`
}

// WorkPlan is a service's day: its slots and every ticket.
type WorkPlan struct {
	Date    string     `json:"date"`
	Slots   []WorkSlot `json:"slots"`
	Tickets []Ticket   `json:"-"`
}

// WorkPlan reads a service's slots and tickets of a local day.
func (s *Store) WorkPlan(ctx context.Context, svc Service, day civil.Date) (WorkPlan, error) {
	loc := svc.Location()
	from, to := day.In(loc), day.AddDays(1).In(loc)
	wp := WorkPlan{Date: day.String(), Slots: []WorkSlot{}}
	rows, err := s.db.QueryContext(ctx, `SELECT id, starts_at, ends_at, capacity, reserved, booked, is_open FROM slots
		WHERE service_id = ? AND starts_at >= ? AND starts_at < ? ORDER BY starts_at, id`, svc.ID, from, to)
	if err != nil {
		return wp, fmt.Errorf("work plan slots: %w", err)
	}
	for rows.Next() {
		var w WorkSlot
		if err := rows.Scan(&w.ID, &w.Start, &w.End, &w.Capacity, &w.Reserved, &w.Booked, &w.Open); err != nil {
			rows.Close()
			return wp, fmt.Errorf("work plan slots: %w", err)
		}
		w.Start, w.End = w.Start.In(loc), w.End.In(loc)
		wp.Slots = append(wp.Slots, w)
	}
	rows.Close()
	wp.Tickets, err = queryTickets(ctx, s.db, `WHERE t.service_id = ? AND t.day = ? ORDER BY t.starts_at, t.seq`, svc.ID, day.String())
	if wp.Tickets == nil {
		wp.Tickets = []Ticket{}
	}
	return wp, err
}

// SlotPatch changes a slot: open or closed, and its places.
type SlotPatch struct {
	Open     *bool `json:"open"`
	Capacity *int  `json:"capacity"`
}

// PatchSlot opens or closes a slot of an owner's service or changes its
// places, never below what is already booked.
func (s *Store) PatchSlot(ctx context.Context, ownerID, slotID int64, p SlotPatch) (WorkSlot, int64, error) {
	var w WorkSlot
	var serviceID int64
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var owner int64
		err := tx.QueryRowContext(ctx, `SELECT sl.id, sl.service_id, sl.starts_at, sl.ends_at, sl.capacity, sl.reserved, sl.booked, sl.is_open, sv.owner_id
			FROM slots sl JOIN services sv ON sv.id = sl.service_id WHERE sl.id = ? FOR UPDATE`, slotID).
			Scan(&w.ID, &serviceID, &w.Start, &w.End, &w.Capacity, &w.Reserved, &w.Booked, &w.Open, &owner)
		if errors.Is(err, sql.ErrNoRows) || (err == nil && owner != ownerID) {
			return fault.New(fault.NotFound, "slot_not_found", "no such slot")
		}
		if err != nil {
			return fmt.Errorf("slot: %w", err)
		}
		if p.Capacity != nil {
			if *p.Capacity < 0 || *p.Capacity > 10000 {
				return fault.Field("capacity", "invalid_capacity", "places must be between 0 and 10000")
			}
			if *p.Capacity < w.Booked {
				return fault.New(fault.Conflict, "capacity_below_booked", fmt.Sprintf("%d places are already booked in this slot", w.Booked)).With("booked", w.Booked)
			}
			w.Capacity = *p.Capacity
			w.Reserved = min(w.Reserved, w.Capacity)
		}
		if p.Open != nil {
			w.Open = *p.Open
		}
		_, err = tx.ExecContext(ctx, `UPDATE slots SET capacity = ?, reserved = ?, is_open = ?, manual = TRUE WHERE id = ?`, w.Capacity, w.Reserved, w.Open, w.ID)
		return wrap("update slot", err)
	})
	return w, serviceID, err
}

// Upcoming lists the next due tickets of some services: waiting first by
// due time, then bookings of today still to come.
func (s *Store) Upcoming(ctx context.Context, serviceIDs []int64, now time.Time, limit int) ([]Ticket, error) {
	if len(serviceIDs) == 0 {
		return []Ticket{}, nil
	}
	args := append(int64Args(serviceIDs), now.Add(-12*time.Hour), now.Add(12*time.Hour), limit)
	list, err := queryTickets(ctx, s.db, `WHERE t.service_id IN `+inList(len(serviceIDs))+`
		AND t.status IN ('waiting','booked') AND t.starts_at BETWEEN ? AND ?
		ORDER BY t.status = 'waiting' DESC, COALESCE(t.due_at, t.starts_at), t.id LIMIT ?`, args...)
	if list == nil {
		list = []Ticket{}
	}
	return list, err
}

// ServiceStats are the figures of a service over a period.
type ServiceStats struct {
	ID            int64   `json:"id"`
	Name          string  `json:"name"`
	Tickets       int     `json:"tickets"`
	Served        int     `json:"served"`
	NoShow        int     `json:"no_show"`
	Revoked       int     `json:"revoked"`
	AvgWaitMin    float64 `json:"avg_wait_min"`
	AvgServiceMin float64 `json:"avg_service_min"`
}

// Stats counts an owner's tickets per service between two local days.
func (s *Store) Stats(ctx context.Context, ownerID int64, from, to civil.Date) ([]ServiceStats, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT sv.id, sv.name, COUNT(t.id),
		COALESCE(SUM(t.status = 'done'), 0), COALESCE(SUM(t.status = 'no_show'), 0), COALESCE(SUM(t.status = 'revoked'), 0),
		COALESCE(AVG(TIMESTAMPDIFF(SECOND, t.due_at, t.called_at)) / 60, 0),
		COALESCE(AVG(TIMESTAMPDIFF(SECOND, t.serving_at, t.finished_at)) / 60, 0)
		FROM services sv LEFT JOIN tickets t ON t.service_id = sv.id AND t.day >= ? AND t.day <= ?
		WHERE sv.owner_id = ? GROUP BY sv.id, sv.name ORDER BY sv.name`, from.String(), to.String(), ownerID)
	if err != nil {
		return nil, fmt.Errorf("statistics: %w", err)
	}
	defer rows.Close()
	out := []ServiceStats{}
	for rows.Next() {
		var st ServiceStats
		if err := rows.Scan(&st.ID, &st.Name, &st.Tickets, &st.Served, &st.NoShow, &st.Revoked, &st.AvgWaitMin, &st.AvgServiceMin); err != nil {
			return nil, fmt.Errorf("statistics: %w", err)
		}
		out = append(out, st)
	}
	return out, rows.Err()
}

// UpdateDevice renames a device, moves it to another room, or unpairs it
// (active false: its credential stops working at once).
func (s *Store) UpdateDevice(ctx context.Context, ownerID, id int64, name string, roomID int64, active bool, now time.Time) (DeviceInfo, error) {
	d, err := s.DeviceInfo(ctx, id, now)
	if err != nil || d.Owner.ID != ownerID {
		return DeviceInfo{}, ErrDeviceNotFound
	}
	name = strings.TrimSpace(name)
	if name == "" || len([]rune(name)) > 200 {
		return DeviceInfo{}, fault.Field("name", "invalid_name", "give the device a name of 1 to 200 characters")
	}
	var room any
	if roomID != 0 {
		if missing, err := s.missing(ctx, ownerRooms, ownerID, []int64{roomID}); err != nil || missing != 0 {
			return DeviceInfo{}, cmp.Or(err, error(fault.Field("room_id", "unknown_room", "no such room")))
		}
		room = roomID
	}
	if _, err := s.db.ExecContext(ctx, `UPDATE devices SET name = ?, room_id = ?, active = ? WHERE id = ?`, name, room, active, id); err != nil {
		return DeviceInfo{}, fmt.Errorf("update device: %w", err)
	}
	if !active {
		d.Name = name
		return d, nil
	}
	return s.DeviceInfo(ctx, id, now)
}

// UserSource says where an account's password is checked.
func (s *Store) UserSource(ctx context.Context, id int64) (string, error) {
	var src string
	err := s.db.QueryRowContext(ctx, `SELECT source FROM users WHERE id = ?`, id).Scan(&src)
	return src, wrap("user source", err)
}

// DirectoryUser records a directory sign-in: the account (id, or a new one
// in the appliance's first organisation when id is 0) takes the name and
// role the directory gives, and its e-mail address when it gives a valid
// one (else the account keeps the address an admin set).
func (s *Store) DirectoryUser(ctx context.Context, id int64, username, displayName, email, role, dn string, now time.Time) (User, error) {
	if id == 0 {
		owner, err := s.FirstOwner(ctx)
		if err != nil {
			return User{}, err
		}
		u, err := s.CreateUser(ctx, User{OwnerID: owner.ID, Username: username, DisplayName: displayName, Role: role}, now)
		if err != nil {
			return User{}, err
		}
		id = u.ID
		if _, err := s.db.ExecContext(ctx, `UPDATE users SET source = 'directory' WHERE id = ?`, id); err != nil {
			return User{}, fmt.Errorf("directory user: %w", err)
		}
	}
	if _, err := s.db.ExecContext(ctx, `UPDATE users SET display_name = ?, role = ?, directory_dn = ? WHERE id = ?`,
		clip(displayName, 200), role, clip(dn, 500), id); err != nil {
		return User{}, fmt.Errorf("directory user: %w", err)
	}
	if email, err := CheckEmail("email", email); err == nil && email != "" {
		if _, err := s.db.ExecContext(ctx, `UPDATE users SET email = ? WHERE id = ?`, email, id); err != nil {
			return User{}, fmt.Errorf("directory user: %w", err)
		}
	}
	return s.UserByID(ctx, id)
}
