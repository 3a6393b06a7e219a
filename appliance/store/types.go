package store

import (
	"time"
)

// Ticket statuses, as in DESIGN.md's lifecycle.
const (
	StatusBooked  = "booked"
	StatusWaiting = "waiting"
	StatusCalled  = "called"
	StatusServing = "serving"
	StatusDone    = "done"
	StatusNoShow  = "no_show"
	StatusRevoked = "revoked"
	StatusExpired = "expired"
)

// Channels a booking can come from.
const (
	ChannelKiosk = "kiosk"
	ChannelWeb   = "web"
	ChannelPhone = "phone"
	ChannelDesk  = "desk"
)

// Desk states.
const (
	DeskClosed = "closed"
	DeskOpen   = "open"
	DeskPaused = "paused"
)

// PauseReasons are the reason codes an operator may give for a pause.
var PauseReasons = []string{"break", "back_office", "training", "meeting", "technical", "other"}

// Owner is the organisation that owns services (Titolare di agenda).
type Owner struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
}

// Site is an address where services are delivered (Sede).
type Site struct {
	ID       int64  `json:"id"`
	OwnerID  int64  `json:"owner_id"`
	Name     string `json:"name"`
	Address  string `json:"address"`
	Timezone string `json:"timezone"`
}

// Room is a waiting room (Sala d'attesa).
type Room struct {
	ID     int64  `json:"id"`
	SiteID int64  `json:"site_id"`
	Name   string `json:"name"`
}

// Service is what a citizen comes for, with its rules (DESIGN.md).
type Service struct {
	ID                 int64   `json:"id"`
	OwnerID            int64   `json:"owner_id"`
	SiteID             int64   `json:"site_id"`
	Name               string  `json:"name"`
	Description        string  `json:"description"`
	Notes              string  `json:"notes"`
	Prefix             string  `json:"prefix"`
	TargetWaitMin      int     `json:"target_wait_min"`
	AllowedLatenessMin int     `json:"allowed_lateness_min"`
	CheckinEarlyMin    int     `json:"checkin_early_min"`
	CheckinRequired    bool    `json:"checkin_required"`
	SecondCheckin      bool    `json:"second_checkin"`
	OnlineBookable     bool    `json:"online_bookable"`
	OverbookingPct     int     `json:"overbooking_pct"`
	AutoRegulation     bool    `json:"auto_regulation"`
	MinNoticeMin       int     `json:"min_notice_min"`
	MaxDaysAhead       int     `json:"max_days_ahead"`
	AvgServiceMin      int     `json:"avg_service_min"`
	IDRequiredFuture   bool    `json:"id_required_future"`
	WalkInQuotaPerHour int     `json:"walkin_quota_per_hour"`
	OneActiveBooking   bool    `json:"one_active_booking"`
	PriorityWeight     float64 `json:"priority_weight"`
	EarlyCalls         bool    `json:"early_calls"`
	Active             bool    `json:"active"`
	Timezone           string  `json:"timezone"` // the site's
}

// Location is the service's site time zone.
func (s Service) Location() *time.Location {
	if loc, err := time.LoadLocation(s.Timezone); err == nil {
		return loc
	}
	loc, _ := time.LoadLocation("Europe/Rome")
	return loc
}

// Slot is one bookable time with its capacity.
type Slot struct {
	ID        int64     `json:"id"`
	ServiceID int64     `json:"service_id"`
	Start     time.Time `json:"start"`
	End       time.Time `json:"end"`
	Capacity  int       `json:"capacity"`
	Reserved  int       `json:"reserved"`
	Booked    int       `json:"booked"`
	Prebooked int       `json:"prebooked"`
	Open      bool      `json:"open"`
}

// FreeForBooking is how many places remain for a booking made in advance:
// the walk-in reserve is not theirs.
func (s Slot) FreeForBooking() int {
	return max(0, min(s.Capacity-s.Booked, s.Capacity-s.Reserved-s.Prebooked))
}

// Citizen is who a ticket is for, when they identified.
type Citizen struct {
	FiscalCode string `json:"fiscal_code,omitempty"`
	FirstName  string `json:"first_name,omitempty"`
	LastName   string `json:"last_name,omitempty"`
	Phone      string `json:"phone,omitempty"`
	Email      string `json:"email,omitempty"`
}

// Empty reports whether no identifying data was given.
func (c Citizen) Empty() bool { return c == Citizen{} }

// Ticket is one booking (Appuntamento / biglietto).
type Ticket struct {
	ID              int64     `json:"id"`
	Token           string    `json:"token"`
	ServiceID       int64     `json:"service_id"`
	IssuedServiceID int64     `json:"issued_service_id"`
	Code            string    `json:"code"`
	Day             string    `json:"day"`
	SlotID          int64     `json:"slot_id,omitempty"`
	Status          string    `json:"status"`
	Channel         string    `json:"channel"`
	WalkIn          bool      `json:"walk_in"`
	Priority        bool      `json:"priority"`
	Late            bool      `json:"late"`
	Returning       bool      `json:"returning"`
	SecondUsed      bool      `json:"-"`
	NeedsRecall     bool      `json:"needs_recall"`
	Start           time.Time `json:"start"`
	End             time.Time `json:"end"`
	CheckedInAt     time.Time `json:"checked_in_at,omitzero"`
	DueAt           time.Time `json:"-"`
	CalledAt        time.Time `json:"called_at,omitzero"`
	DeskID          int64     `json:"desk_id,omitempty"`
	ServingAt       time.Time `json:"serving_at,omitzero"`
	FinishedAt      time.Time `json:"finished_at,omitzero"`
	ClosedAt        time.Time `json:"-"`
	Recalls         int       `json:"recalls"`
	Note            string    `json:"note,omitempty"`
	Citizen         Citizen   `json:"-"`
	CreatedAt       time.Time `json:"created_at"`
}

// Desk is a counter where citizens are served (Sportello).
type Desk struct {
	ID              int64     `json:"id"`
	RoomID          int64     `json:"room_id"`
	RoomName        string    `json:"room_name"`
	Name            string    `json:"name"`
	Number          string    `json:"number"`
	State           string    `json:"state"`
	PauseReason     string    `json:"pause_reason,omitempty"`
	OperatorID      int64     `json:"operator_id,omitempty"`
	OperatorName    string    `json:"operator_name,omitempty"`
	CurrentTicketID int64     `json:"current_ticket_id,omitempty"`
	StateSince      time.Time `json:"state_since"`
	ServiceIDs      []int64   `json:"service_ids"`
	OwnerID         int64     `json:"owner_id"`
}
