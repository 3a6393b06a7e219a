package store

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"avanti/appliance/civil"
	"avanti/appliance/fault"
)

// What a totem needs beyond booking: its settings, the state of each
// service it offers, a citizen's own appointments, moving one, and what a
// printed ticket says. docs/kiosk.md is the contract with the pages.

// PrinterSettings say how a totem prints its tickets.
type PrinterSettings struct {
	Mode    string `json:"mode"`    // "browser" (window.print) or "network" (ESC/POS to Address)
	Address string `json:"address"` // host:port of a network printer
}

// KioskSettings are what an admin sets for a totem.
type KioskSettings struct {
	Services       []int64         `json:"services"`       // page order; [] = every service of the owner
	Identification string          `json:"identification"` // none, health_card, weak, any
	IdleSec        int             `json:"idle_sec"`
	InfoText       string          `json:"info_text"`
	TicketText     string          `json:"ticket_text"`
	Printer        PrinterSettings `json:"printer"`
	Languages      []string        `json:"languages"`
}

// DefaultKioskSettings are a new totem's.
func DefaultKioskSettings() KioskSettings {
	return KioskSettings{Services: []int64{}, Identification: "any", IdleSec: 45,
		Printer: PrinterSettings{Mode: "browser"}, Languages: []string{"it", "en"}}
}

// Validate checks the settings' ranges.
func (k *KioskSettings) Validate() error {
	switch k.Identification {
	case "none", "health_card", "weak", "any":
	default:
		return fault.Field("identification", "invalid_identification", "identification must be none, health_card, weak or any")
	}
	if k.IdleSec < 10 || k.IdleSec > 600 {
		return fault.Field("idle_sec", "invalid_idle", "idle_sec must be between 10 and 600 seconds")
	}
	if len([]rune(k.InfoText)) > 1000 || len([]rune(k.TicketText)) > 500 {
		return fault.Field("info_text", "text_too_long", "the information text has at most 1000 characters, the ticket text 500")
	}
	switch k.Printer.Mode {
	case "browser":
		k.Printer.Address = ""
	case "network":
		host, port, err := net.SplitHostPort(k.Printer.Address)
		if n, perr := strconv.Atoi(port); err != nil || host == "" || perr != nil || n < 1 || n > 65535 {
			return fault.Field("printer.address", "invalid_printer_address", "a network printer's address is host:port, e.g. 10.0.0.50:9100")
		}
	default:
		return fault.Field("printer.mode", "invalid_printer_mode", "printer mode must be browser or network")
	}
	for _, l := range k.Languages {
		if l != "it" && l != "en" {
			return fault.Field("languages", "invalid_language", "languages are it and en")
		}
	}
	if len(k.Languages) == 0 {
		k.Languages = []string{"it"}
	}
	if k.Services == nil {
		k.Services = []int64{}
	}
	if len(k.Services) > 200 {
		return fault.New(fault.Invalid, "too_many", "too many services")
	}
	return nil
}

// SetKioskSettings replaces a totem's settings.
func (s *Store) SetKioskSettings(ctx context.Context, id, ownerID int64, set KioskSettings, now time.Time) (DeviceInfo, error) {
	d, err := s.DeviceInfo(ctx, id, now)
	if err != nil {
		return d, err
	}
	if ownerID != 0 && d.Owner.ID != ownerID {
		return DeviceInfo{}, ErrDeviceNotFound
	}
	if d.Kind != "kiosk" {
		return DeviceInfo{}, fault.New(fault.Conflict, "not_a_kiosk", "only totems have these settings")
	}
	if err := set.Validate(); err != nil {
		return DeviceInfo{}, err
	}
	if missing, err := s.missing(ctx, `SELECT id FROM services WHERE owner_id = ?`, d.Owner.ID, set.Services); err != nil || missing != 0 {
		return DeviceInfo{}, cmp.Or(err, error(fault.Field("services", "unknown_service", fmt.Sprintf("service %d does not exist", missing))))
	}
	raw, err := json.Marshal(set)
	if err != nil {
		return DeviceInfo{}, fmt.Errorf("settings: %w", err)
	}
	if _, err := s.db.ExecContext(ctx, `UPDATE devices SET settings = ? WHERE id = ?`, raw, id); err != nil {
		return DeviceInfo{}, fmt.Errorf("save settings: %w", err)
	}
	d.KioskSettings = &set
	return d, nil
}

// RecordPrinter notes the last state of a totem's printer.
func (s *Store) RecordPrinter(ctx context.Context, id int64, state string) error {
	_, err := s.db.ExecContext(ctx, `UPDATE devices SET printer = ? WHERE id = ?`, clip(state, 20), id)
	return wrap("printer state", err)
}

// Place is a start and end time.
type Place struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// KioskService is a service as the totem offers it.
type KioskService struct {
	ID          int64      `json:"id"`
	Name        string     `json:"name"`
	Prefix      string     `json:"prefix"`
	Description string     `json:"description"`
	Notes       string     `json:"notes"`
	State       string     `json:"state"` // open, full, closed
	FirstToday  *Place     `json:"first_today"`
	Next        *time.Time `json:"next"`
}

// nextPlaceDays bounds how far the totem looks for a service's next place.
const nextPlaceDays = 31

// KioskServices lists the services a totem offers, in its order, with
// whether a walk-in gets a place now and, if not, when the next one is.
func (s *Store) KioskServices(ctx context.Context, ownerID int64, order []int64, now time.Time) ([]KioskService, error) {
	all, err := s.Services(ctx, ownerID)
	if err != nil {
		return nil, err
	}
	byID := map[int64]Service{}
	for _, sv := range all {
		byID[sv.ID] = sv
	}
	var list []Service
	if len(order) == 0 {
		list = all
	} else {
		for _, id := range order {
			if sv, ok := byID[id]; ok {
				list = append(list, sv)
			}
		}
	}
	out := []KioskService{}
	for _, sv := range list {
		if !sv.Active {
			continue
		}
		ks := KioskService{ID: sv.ID, Name: sv.Name, Prefix: sv.Prefix, Description: sv.Description, Notes: sv.Notes, State: "closed"}
		cands, err := firstTodayCandidates(ctx, s.db, sv, now)
		if err != nil {
			return nil, err
		}
		if len(cands) > 0 {
			ks.State = "open"
			ks.FirstToday = &Place{Start: later(cands[0].Start, now), End: cands[0].End}
		} else {
			endOfDay := civil.Today(now, sv.Location()).AddDays(1).In(sv.Location())
			var any int
			if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM slots WHERE service_id = ? AND is_open AND starts_at < ? AND ends_at > ?`,
				sv.ID, endOfDay, now).Scan(&any); err != nil {
				return nil, fmt.Errorf("service %d today: %w", sv.ID, err)
			}
			if any > 0 {
				ks.State = "full"
			}
			next, err := nextPlace(ctx, s.db, sv, now)
			if err != nil {
				return nil, err
			}
			ks.Next = next
		}
		out = append(out, ks)
	}
	return out, nil
}

// nextPlace is the start of the first slot after now with a place free
// for a booking, within nextPlaceDays.
func nextPlace(ctx context.Context, q querier, sv Service, now time.Time) (*time.Time, error) {
	var t time.Time
	err := q.QueryRowContext(ctx, `SELECT starts_at FROM slots WHERE service_id = ? AND is_open AND starts_at > ? AND starts_at < ?
		AND booked < capacity AND prebooked < capacity - reserved ORDER BY starts_at LIMIT 1`,
		sv.ID, now, now.AddDate(0, 0, nextPlaceDays)).Scan(&t)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("next place of service %d: %w", sv.ID, err)
	}
	return &t, nil
}

// NextPlace is when a service next has a free place, or nil.
func (s *Store) NextPlace(ctx context.Context, serviceID int64, now time.Time) (*time.Time, error) {
	sv, err := getService(ctx, s.db, serviceID)
	if err != nil {
		return nil, err
	}
	return nextPlace(ctx, s.db, sv, now)
}

// Identify errors.
var (
	ErrNoAppointmentToday = fault.New(fault.NotFound, "no_appointment_today", "there is no appointment today for this citizen")
)

// CheckCitizen normalises what a citizen gave to identify: a fiscal code,
// or phone with first and last name.
func CheckCitizen(c Citizen, now time.Time) (Citizen, error) {
	if c.FiscalCode == "" {
		if strings.TrimSpace(c.Phone) == "" {
			return c, fault.Field("phone", "phone_required", "give the phone number, or swipe the health card")
		}
		if strings.TrimSpace(c.FirstName) == "" || strings.TrimSpace(c.LastName) == "" {
			return c, fault.Field("first_name", "name_required", "give first and last name with the phone number")
		}
	}
	cl, err := cleanCitizen(c, now)
	if err != nil {
		if f, ok := fault.As(err); ok && f.Code == "invalid_fiscal_code" {
			return cl, fault.Field("fiscal_code", "invalid_fiscal_code", f.Message)
		}
		return cl, err
	}
	return cl, nil
}

// CitizenTickets lists the booked or waiting tickets of a citizen, from
// today on, in the owner's services, soonest first. A fiscal code matches
// exactly; a phone matches with the same first and last name (any case).
func (s *Store) CitizenTickets(ctx context.Context, ownerID int64, c Citizen, now time.Time) ([]Ticket, error) {
	where := `JOIN services sv ON sv.id = t.service_id WHERE sv.owner_id = ? AND t.status IN ('booked','waiting') AND t.ends_at > ?`
	args := []any{ownerID, now.Add(-12 * time.Hour)}
	if c.FiscalCode != "" {
		where += ` AND t.fiscal_code = ?`
		args = append(args, c.FiscalCode)
	} else {
		where += ` AND t.phone = ? AND LOWER(t.first_name) = LOWER(?) AND LOWER(t.last_name) = LOWER(?)`
		args = append(args, c.Phone, c.FirstName, c.LastName)
	}
	list, err := queryTickets(ctx, s.db, where+` ORDER BY t.starts_at, t.id LIMIT 50`, args...)
	if err != nil {
		return nil, err
	}
	if list == nil {
		list = []Ticket{}
	}
	return list, nil
}

// TodaysAppointment is the ticket of today, in the owner's services, that
// a swiped health card checks in: the earliest still booked, else one to
// readmit, else one already checked in (the check-in then says so).
func (s *Store) TodaysAppointment(ctx context.Context, ownerID int64, fiscalCode string, now time.Time, loc *time.Location) (Ticket, error) {
	today := civil.Today(now, loc)
	t, err := oneTicket(ctx, s.db, `JOIN services sv ON sv.id = t.service_id WHERE sv.owner_id = ? AND t.fiscal_code = ?
		AND t.status IN ('booked','no_show','done','waiting','called','serving') AND t.day = ?
		ORDER BY t.status = 'booked' DESC, t.status = 'no_show' DESC, t.starts_at LIMIT 1`,
		ownerID, fiscalCode, today.String())
	if errors.Is(err, ErrTicketNotFound) {
		return Ticket{}, ErrNoAppointmentToday
	}
	return t, err
}

// Move books the citizen of the ticket with token into another time of
// the same service and revokes the old ticket, in one transaction: if the
// new time is refused the old booking stays as it was.
func (s *Store) Move(ctx context.Context, token string, start time.Time, channel, actor string, now time.Time) (Ticket, error) {
	old, err := s.TicketByToken(ctx, token)
	if err != nil {
		return Ticket{}, err
	}
	if old.Status != StatusBooked {
		return Ticket{}, fault.New(fault.Conflict, "cannot_move", "only a booking not yet checked in can be moved")
	}
	return s.Book(ctx, BookRequest{ServiceID: old.ServiceID, Start: start, Channel: channel, Citizen: old.Citizen,
		Priority: old.Priority, Actor: actor, replace: token}, now)
}

// replaceInTx revokes, inside a booking's transaction, the ticket the new
// one replaces.
func replaceInTx(ctx context.Context, tx *sql.Tx, token string, serviceID int64, now time.Time, actor string) error {
	t, err := oneTicket(ctx, tx, `WHERE t.token = ? FOR UPDATE`, token)
	if err != nil {
		return err
	}
	if t.Status != StatusBooked || t.ServiceID != serviceID {
		return fault.New(fault.Conflict, "cannot_move", "only a booking not yet checked in can be moved")
	}
	return revokeTx(ctx, tx, t, now, actor, "moved")
}

// TicketPrint is what a printed ticket says.
type TicketPrint struct {
	Ticket  Ticket
	Service Service
	Owner   string
	Site    string
	Address string
}

// TicketForPrint reads a ticket with what its paper needs.
func (s *Store) TicketForPrint(ctx context.Context, token string) (TicketPrint, error) {
	t, err := s.TicketByToken(ctx, token)
	if err != nil {
		return TicketPrint{}, err
	}
	sv, err := getService(ctx, s.db, t.ServiceID)
	if err != nil {
		return TicketPrint{}, err
	}
	p := TicketPrint{Ticket: t, Service: sv}
	err = s.db.QueryRowContext(ctx, `SELECT o.name, si.name, si.address FROM sites si JOIN owners o ON o.id = si.owner_id WHERE si.id = ?`,
		sv.SiteID).Scan(&p.Owner, &p.Site, &p.Address)
	return p, wrap("ticket site", err)
}

// SiteOf returns the first site of an owner: the totem's heading.
func (s *Store) SiteOf(ctx context.Context, ownerID int64) (Owner, Site, error) {
	var o Owner
	var si Site
	err := s.db.QueryRowContext(ctx, `SELECT o.id, o.name, si.id, si.name, si.address, si.timezone FROM owners o
		JOIN sites si ON si.owner_id = o.id WHERE o.id = ? ORDER BY si.id LIMIT 1`, ownerID).
		Scan(&o.ID, &o.Name, &si.ID, &si.Name, &si.Address, &si.Timezone)
	if errors.Is(err, sql.ErrNoRows) {
		return o, si, fault.New(fault.NotFound, "no_owner", "no organisation yet: load the demo data or create one")
	}
	si.OwnerID = o.ID
	return o, si, wrap("site", err)
}
