// Package demo loads a municipality that makes the product obvious: COMUNE
// DI CREMA with its registry office, identity cards, taxes, social services
// and an information desk open around the clock, so that every flow can be
// tried at any hour.
package demo

import (
	"context"
	"fmt"
	"time"

	"avanti/appliance/agenda"
	"avanti/appliance/auth"
	"avanti/appliance/civil"
	"avanti/appliance/store"
)

// Credentials are what a person needs to try the demo.
type Credentials struct {
	BaseURL      string            `json:"base_url"`
	Admin        Login             `json:"admin"`
	Backoffice   Login             `json:"backoffice"`
	Operator     Login             `json:"operator"`
	Operators    []Login           `json:"operators"`
	KioskToken   string            `json:"kiosk_token"`
	DisplayToken string            `json:"display_token"`
	URLs         map[string]string `json:"urls"`
}

// Login is a username and its password.
type Login struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// Data is what Load created, for tests that drive the demo.
type Data struct {
	Credentials Credentials
	OwnerID     int64
	RoomIDs     []int64
	DeskIDs     []int64
	Services    map[string]int64 // by prefix
	DisplayID   int64            // the waiting-room display
	PlaylistID  int64            // its notices
}

type serviceDef struct {
	svc     store.Service
	ranges  []agenda.Range
	allDays bool
}

func weekdays(days []time.Weekday, start, end, slot, places int) []agenda.Range {
	var out []agenda.Range
	for _, d := range days {
		out = append(out, agenda.Range{Weekday: d, Start: start, End: end, SlotMinutes: slot, Places: places})
	}
	return out
}

var monFri = []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday}

func h(hour, min int) int { return hour*60 + min }

// Load creates the demo organisation, generates its slots over horizonDays
// and returns the generated credentials (random passwords and tokens).
func Load(ctx context.Context, st *store.Store, now time.Time, horizonDays int) (Data, error) {
	d := Data{Services: map[string]int64{}}
	owner, err := st.CreateOwner(ctx, "COMUNE DI CREMA", now)
	if err != nil {
		return d, err
	}
	d.OwnerID = owner.ID
	site, err := st.CreateSite(ctx, store.Site{OwnerID: owner.ID, Name: "Palazzo Comunale",
		Address: "Piazza del Duomo 25, 26013 Crema (CR)", Timezone: "Europe/Rome"})
	if err != nil {
		return d, err
	}
	// San Pantaleone, patron saint of Crema.
	if err := st.AddSiteHoliday(ctx, site.ID, 0, 6, 10, "San Pantaleone"); err != nil {
		return d, err
	}
	rooms := []string{"Sala d'attesa piano terra", "Sala d'attesa primo piano"}
	for _, name := range rooms {
		r, err := st.CreateRoom(ctx, store.Room{SiteID: site.ID, Name: name})
		if err != nil {
			return d, err
		}
		d.RoomIDs = append(d.RoomIDs, r.ID)
	}
	for i := 1; i <= 5; i++ {
		room := d.RoomIDs[0]
		if i > 3 {
			room = d.RoomIDs[1]
		}
		desk, err := st.CreateDesk(ctx, store.Desk{RoomID: room, Name: fmt.Sprintf("Sportello %d", i), Number: fmt.Sprint(i)}, now)
		if err != nil {
			return d, err
		}
		d.DeskIDs = append(d.DeskIDs, desk.ID)
	}
	base := store.Service{OwnerID: owner.ID, SiteID: site.ID, TargetWaitMin: 15, AllowedLatenessMin: 10, CheckinEarlyMin: 30,
		CheckinRequired: true, OnlineBookable: true, MaxDaysAhead: 60, AvgServiceMin: 10, IDRequiredFuture: true,
		PriorityWeight: 2, EarlyCalls: true}
	with := func(f func(*store.Service)) store.Service { s := base; f(&s); return s }
	defs := []serviceDef{
		{svc: with(func(s *store.Service) {
			s.Name, s.Prefix, s.AvgServiceMin, s.WalkInQuotaPerHour = "Anagrafe", "A", 12, 2
			s.Description = "Certificati, residenza, cambi di indirizzo, stato di famiglia."
			s.Notes = "Portare un documento di identità valido."
		}), ranges: append(weekdays(monFri, h(8, 30), h(12, 30), 15, 3),
			weekdays([]time.Weekday{time.Tuesday, time.Thursday}, h(14, 30), h(17, 0), 15, 2)...)},
		{svc: with(func(s *store.Service) {
			s.Name, s.Prefix, s.AvgServiceMin, s.TargetWaitMin, s.OneActiveBooking = "Carta d'identità", "C", 20, 20, true
			s.Description = "Rilascio e rinnovo della carta d'identità elettronica (CIE)."
			s.Notes = "Portare una fototessera recente, la vecchia carta o la denuncia di smarrimento, e la tessera sanitaria."
			s.MinNoticeMin = 60
		}), ranges: append(weekdays(monFri, h(9, 0), h(12, 0), 20, 1),
			weekdays([]time.Weekday{time.Tuesday, time.Thursday}, h(14, 30), h(16, 30), 20, 1)...)},
		{svc: with(func(s *store.Service) {
			s.Name, s.Prefix, s.AvgServiceMin = "Tributi", "T", 15
			s.Description = "IMU, TARI, rateizzazioni e rimborsi."
			s.Notes = "Portare gli avvisi di pagamento ricevuti."
		}), ranges: weekdays(monFri, h(9, 0), h(12, 30), 15, 2)},
		{svc: with(func(s *store.Service) {
			s.Name, s.Prefix, s.AvgServiceMin, s.TargetWaitMin, s.OnlineBookable = "Servizi sociali", "S", 20, 20, false
			s.Description = "Colloqui con l'assistente sociale, contributi e agevolazioni."
			s.Notes = "Portare l'ISEE in corso di validità."
		}), ranges: append(weekdays([]time.Weekday{time.Monday, time.Wednesday, time.Friday}, h(9, 0), h(12, 0), 20, 1),
			weekdays([]time.Weekday{time.Tuesday, time.Thursday}, h(14, 30), h(17, 0), 10, 1)...)},
		{svc: with(func(s *store.Service) {
			s.Name, s.Prefix, s.AvgServiceMin, s.TargetWaitMin, s.IDRequiredFuture = "Informazioni", "I", 5, 10, false
			s.Description = "Informazioni generali e orientamento ai servizi del Comune."
			s.Notes = "Sempre aperto: prova qui il percorso completo a qualsiasi ora."
			s.MaxDaysAhead, s.AllowedLatenessMin = 7, 15
		}), ranges: weekdays([]time.Weekday{time.Sunday, time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday, time.Saturday},
			0, 24*60, 5, 20), allDays: true},
	}
	loc, _ := time.LoadLocation("Europe/Rome")
	from := civil.Today(now, loc).AddDays(-1)
	for _, def := range defs {
		svc, err := st.CreateService(ctx, def.svc, now)
		if err != nil {
			return d, err
		}
		d.Services[svc.Prefix] = svc.ID
		ag := agenda.Agenda{ValidFrom: from, Ranges: def.ranges, OpenOnHolidays: def.allDays}
		if _, err := st.SaveAgenda(ctx, svc.ID, "Orario "+svc.Name, ag, now); err != nil {
			return d, fmt.Errorf("agenda of %s: %w", svc.Name, err)
		}
		if _, err := st.RegenerateSlots(ctx, svc.ID, now, horizonDays); err != nil {
			return d, fmt.Errorf("slots of %s: %w", svc.Name, err)
		}
	}
	users := []struct {
		name, display, role string
	}{
		{"admin", "Amministratore", store.RoleAdmin},
		{"backoffice", "Ufficio di back office", store.RoleBackoffice},
		{"operatore1", "Giulia Bianchi", store.RoleOperator},
		{"operatore2", "Marco Ferrari", store.RoleOperator},
	}
	for _, u := range users {
		pw := auth.Token(12)
		hash, err := auth.HashPassword(pw)
		if err != nil {
			return d, err
		}
		if _, err := st.CreateUser(ctx, store.User{OwnerID: owner.ID, Username: u.name, DisplayName: u.display, Role: u.role, PasswordHash: hash}, now); err != nil {
			return d, err
		}
		l := Login{Username: u.name, Password: pw}
		switch u.role {
		case store.RoleAdmin:
			d.Credentials.Admin = l
		case store.RoleBackoffice:
			d.Credentials.Backoffice = l
		default:
			d.Credentials.Operators = append(d.Credentials.Operators, l)
		}
	}
	d.Credentials.Operator = d.Credentials.Operators[0]
	d.Credentials.KioskToken, d.Credentials.DisplayToken = auth.Token(32), auth.Token(32)
	if _, err := st.CreateDevice(ctx, store.Device{OwnerID: owner.ID, RoomID: d.RoomIDs[0], Kind: "kiosk", Name: "Totem ingresso"}, d.Credentials.KioskToken, now); err != nil {
		return d, err
	}
	screen, err := st.CreateDevice(ctx, store.Device{OwnerID: owner.ID, RoomID: d.RoomIDs[0], Kind: "display", Name: "Monitor sala piano terra"}, d.Credentials.DisplayToken, now)
	if err != nil {
		return d, err
	}
	// The waiting-room notices, ready for the display's alternating mode.
	pl, err := st.SavePlaylist(ctx, store.Playlist{OwnerID: owner.ID, Name: "Avvisi sala d'attesa", Items: []store.PlaylistItem{
		{Kind: "text", Text: "Per la carta d'identità elettronica porta una fototessera recente e la vecchia carta.", DurationSec: 12},
		{Kind: "text", Text: "Il pagamento dei tributi si può fare anche online con pagoPA.", DurationSec: 10, Days: []int{1, 2, 3, 4, 5}},
		{Kind: "text", Text: "Giovedì 8 dicembre gli uffici sono chiusi per l'Immacolata.", DurationSec: 8, From: "08:00", To: "13:00"},
	}}, now)
	if err != nil {
		return d, err
	}
	set := store.DefaultDisplaySettings()
	set.PlaylistID = &pl.ID
	set.Voice.QuietHours = []store.QuietHours{}
	if _, err := st.SetDisplaySettings(ctx, screen.ID, owner.ID, set, now); err != nil {
		return d, err
	}
	d.DisplayID, d.PlaylistID = screen.ID, pl.ID
	d.Credentials.URLs = map[string]string{}
	return d, nil
}
