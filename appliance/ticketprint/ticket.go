// Package ticketprint turns a ticket into what a citizen takes home: the QR
// image for the HTML ticket page and the ESC/POS byte stream for a network
// thermal printer, plus the printer's paper-status protocol.
//
// It is pure apart from Status and Print, which talk to a printer over a
// connection; it knows nothing of the store or of HTTP.
package ticketprint

import (
	"fmt"
	"time"
)

// Ticket is what a printed ticket shows, top to bottom. The caller fills it
// from the store; nothing here is looked up.
type Ticket struct {
	Owner   string    // "COMUNE DI CREMA"
	Address string    // the site of the service
	Service string    // "Carta d'identità"
	Start   time.Time // the appointment, in the appliance's local time zone
	WalkIn  bool      // taken at the totem for today's first available place
	Code    string    // "A023", the public identifier called on screens
	URL     string    // QR payload: the ticket page URL carrying the token
	Info    string    // configurable useful information, may be multi-line
}

var weekdays = [...]string{"domenica", "lunedì", "martedì", "mercoledì", "giovedì", "venerdì", "sabato"}

var months = [...]string{"gennaio", "febbraio", "marzo", "aprile", "maggio", "giugno",
	"luglio", "agosto", "settembre", "ottobre", "novembre", "dicembre"}

// ItalianDate formats a day as "lunedì 23 novembre 2026", in t's location.
func ItalianDate(t time.Time) string {
	return fmt.Sprintf("%s %d %s %d", weekdays[t.Weekday()], t.Day(), months[t.Month()-1], t.Year())
}

// DateText is the date line of the ticket. A walk-in ticket still shows the
// full date after "Oggi": a ticket found in a pocket next week must not look
// valid, and an operator can tell at a glance which day it was for.
func (t Ticket) DateText() string {
	d := ItalianDate(t.Start)
	if t.WalkIn {
		return "Oggi, " + d
	}
	return capitalize(d)
}

// TimeText is the time line. A walk-in's time is the slot it was fitted into,
// which the call engine may bring forward or push back: "previsto" says so.
func (t Ticket) TimeText() string {
	if t.WalkIn {
		return "Orario previsto: " + t.Start.Format("15:04")
	}
	return "Ore " + t.Start.Format("15:04")
}

// capitalize upper-cases the first letter; weekday names are ASCII-initial.
func capitalize(s string) string {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return s
	}
	return string(s[0]-'a'+'A') + s[1:]
}
