package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"avanti/appliance/agenda"
	"avanti/appliance/calling"
	"avanti/appliance/civil"
	"avanti/appliance/fault"
	"avanti/appliance/store"
	"avanti/appliance/testenv"
)

// The tests share one database per top-level test; each subtest builds its
// own municipality in it (a world), so services, desks and staff of one
// subtest never show up in another's queue.

var ctx = context.Background()

// Monday is 2026-11-23 09:00 in Crema: every fixture service is open.
var Monday = testenv.Monday

// at is the wall-clock time h:m on the local day of day, in Rome.
func at(day time.Time, h, m int) time.Time {
	y, mo, d := day.In(testenv.Rome).Date()
	return time.Date(y, mo, d, h, m, 0, 0, testenv.Rome)
}

// hm is minutes after midnight, as agendas count.
func hm(h, m int) int { return h*60 + m }

// weekdays opens Monday to Friday from start to end (minutes after midnight).
func weekdays(start, end, slot, places int) []agenda.Range {
	var out []agenda.Range
	for d := time.Monday; d <= time.Friday; d++ {
		out = append(out, agenda.Range{Weekday: d, Start: start, End: end, SlotMinutes: slot, Places: places})
	}
	return out
}

// everyDay opens all seven days of the week.
func everyDay(start, end, slot, places int) []agenda.Range {
	var out []agenda.Range
	for d := time.Sunday; d <= time.Saturday; d++ {
		out = append(out, agenda.Range{Weekday: d, Start: start, End: end, SlotMinutes: slot, Places: places})
	}
	return out
}

var worldSeq atomic.Int64

// world is one owner with a site, a waiting room, an admin, and whatever
// services, desks and operators the test adds, created through the store's
// own methods at times the test fixes.
type world struct {
	t     testing.TB
	st    *store.Store
	now   time.Time // when the set-up happens
	owner store.Owner
	site  store.Site
	room  store.Room
	admin store.Actor
	n     int64 // unique suffix for names that are unique per database
}

func newWorld(t testing.TB, st *store.Store, now time.Time) *world {
	t.Helper()
	w := &world{t: t, st: st, now: now, n: worldSeq.Add(1)}
	var err error
	if w.owner, err = st.CreateOwner(ctx, fmt.Sprintf("COMUNE DI PROVA %d", w.n), now); err != nil {
		t.Fatal(err)
	}
	if w.site, err = st.CreateSite(ctx, store.Site{OwnerID: w.owner.ID, Name: "Municipio", Timezone: "Europe/Rome"}); err != nil {
		t.Fatal(err)
	}
	if w.room, err = st.CreateRoom(ctx, store.Room{SiteID: w.site.ID, Name: "Sala d'attesa"}); err != nil {
		t.Fatal(err)
	}
	w.admin = w.user("admin", store.RoleAdmin)
	return w
}

// user creates a staff account and returns it as the actor the desk
// methods take.
func (w *world) user(name, role string) store.Actor {
	w.t.Helper()
	u, err := w.st.CreateUser(ctx, store.User{OwnerID: w.owner.ID, Username: fmt.Sprintf("%s-%d", name, w.n),
		DisplayName: name, Role: role}, w.now)
	if err != nil {
		w.t.Fatal(err)
	}
	return store.Actor{UserID: u.ID, Name: name, Admin: role == store.RoleAdmin, OwnerID: w.owner.ID}
}

func (w *world) operator(name string) store.Actor { return w.user(name, store.RoleOperator) }

// service creates a service with sensible rules (those of the demo's
// registry office, without identification), changed by opts, and an agenda
// of ranges valid from last week, and generates its slots for two weeks.
func (w *world) service(prefix string, ranges []agenda.Range, opts ...func(*store.Service)) store.Service {
	w.t.Helper()
	v := store.Service{OwnerID: w.owner.ID, SiteID: w.site.ID, Name: "Servizio " + prefix, Prefix: prefix,
		TargetWaitMin: 15, AllowedLatenessMin: 10, CheckinEarlyMin: 30, CheckinRequired: true, OnlineBookable: true,
		MaxDaysAhead: 60, AvgServiceMin: 10, PriorityWeight: 2, EarlyCalls: true}
	for _, o := range opts {
		o(&v)
	}
	svc, err := w.st.CreateService(ctx, v, w.now)
	if err != nil {
		w.t.Fatal(err)
	}
	w.agenda(svc.ID, 0, agenda.Agenda{Ranges: ranges}, 14)
	return svc
}

// agenda saves a (the agenda id, or 0 for a new one) valid from last week
// unless a says otherwise, regenerates the slots over horizon days, and
// returns the agenda id and what the regeneration changed.
func (w *world) agenda(serviceID, id int64, a agenda.Agenda, horizon int) (int64, store.Regeneration) {
	w.t.Helper()
	a.ID = id
	if a.ValidFrom.IsZero() {
		a.ValidFrom = civil.Today(w.now, testenv.Rome).AddDays(-7)
	}
	id, err := w.st.SaveAgenda(ctx, serviceID, "Orario", a, w.now)
	if err != nil {
		w.t.Fatal(err)
	}
	reg, err := w.st.RegenerateSlots(ctx, serviceID, w.now, horizon)
	if err != nil {
		w.t.Fatal(err)
	}
	return id, reg
}

// agendaOf is the id of the (first) agenda of a service.
func (w *world) agendaOf(serviceID int64) int64 {
	w.t.Helper()
	as, err := w.st.Agendas(ctx, serviceID)
	if err != nil || len(as) == 0 {
		w.t.Fatalf("agendas of service %d: %v", serviceID, err)
	}
	return as[0].ID
}

// desk creates a desk and opens it for a new operator on the services.
func (w *world) desk(number string, serviceIDs ...int64) (store.Desk, store.Actor) {
	w.t.Helper()
	d, err := w.st.CreateDesk(ctx, store.Desk{RoomID: w.room.ID, Name: "Sportello " + number, Number: number}, w.now)
	if err != nil {
		w.t.Fatal(err)
	}
	op := w.operator("operatore" + number)
	if d, err = w.st.OpenDesk(ctx, d.ID, serviceIDs, op, w.now); err != nil {
		w.t.Fatal(err)
	}
	return d, op
}

// walkIn takes the first available place today at the totem.
func (w *world) walkIn(serviceID int64, now time.Time) store.Ticket {
	w.t.Helper()
	tk, err := w.st.Book(ctx, store.BookRequest{ServiceID: serviceID, Channel: store.ChannelKiosk, Actor: "totem"}, now)
	if err != nil {
		w.t.Fatalf("walk-in at %s: %v", now.In(testenv.Rome).Format("15:04"), err)
	}
	return tk
}

// mario is a citizen who identifies with his health card.
var mario = store.Citizen{FiscalCode: "RSSMRA85T10A562S", FirstName: "Mario", LastName: "Rossi"}

// book books the slot starting at start on the web, as Mario.
func (w *world) book(serviceID int64, start, now time.Time) store.Ticket {
	w.t.Helper()
	tk, err := w.st.Book(ctx, store.BookRequest{ServiceID: serviceID, Start: start, Channel: store.ChannelWeb,
		Citizen: store.Citizen{Phone: "+39 333 1234567", FirstName: "Anna", LastName: "Verdi"}, Actor: "web"}, now)
	if err != nil {
		w.t.Fatalf("book %s at %s: %v", start.In(testenv.Rome).Format("Mon 15:04"), now.In(testenv.Rome).Format("Mon 15:04"), err)
	}
	return tk
}

// call calls the next ticket at the desk and fails the test if nobody comes.
func (w *world) call(deskID int64, op store.Actor, now time.Time) store.CallResult {
	w.t.Helper()
	res, err := w.st.CallNext(ctx, deskID, op, now)
	if err != nil {
		w.t.Fatalf("call next at %s: %v", now.In(testenv.Rome).Format("15:04"), err)
	}
	return res
}

// serve starts and finishes the desk's current ticket.
func (w *world) serve(deskID int64, op store.Actor, now time.Time) {
	w.t.Helper()
	if _, err := w.st.Start(ctx, deskID, op, now); err != nil {
		w.t.Fatal(err)
	}
	if _, err := w.st.Finish(ctx, deskID, op, now.Add(5*time.Minute)); err != nil {
		w.t.Fatal(err)
	}
}

func (w *world) ticket(id int64) store.Ticket {
	w.t.Helper()
	tk, err := w.st.TicketByID(ctx, id)
	if err != nil {
		w.t.Fatal(err)
	}
	return tk
}

// slot reads the slot row of a service starting at start.
func (w *world) slot(serviceID int64, start time.Time) store.Slot {
	w.t.Helper()
	s := store.Slot{ServiceID: serviceID}
	err := w.st.DB().QueryRowContext(ctx, `SELECT id, starts_at, ends_at, capacity, reserved, booked, prebooked, is_open
		FROM slots WHERE service_id = ? AND starts_at = ? ORDER BY is_open DESC LIMIT 1`, serviceID, start.UTC()).
		Scan(&s.ID, &s.Start, &s.End, &s.Capacity, &s.Reserved, &s.Booked, &s.Prebooked, &s.Open)
	if err != nil {
		w.t.Fatalf("slot at %s: %v", start.In(testenv.Rome).Format("Mon 2 Jan 15:04"), err)
	}
	return s
}

// slots lists the slot rows of a service starting in [from, to).
func slots(t testing.TB, st *store.Store, serviceID int64, from, to time.Time) []store.Slot {
	t.Helper()
	rows, err := st.DB().QueryContext(ctx, `SELECT id, starts_at, ends_at, capacity, reserved, booked, prebooked, is_open
		FROM slots WHERE service_id = ? AND starts_at >= ? AND starts_at < ? ORDER BY starts_at`, serviceID, from.UTC(), to.UTC())
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []store.Slot
	for rows.Next() {
		s := store.Slot{ServiceID: serviceID}
		if err := rows.Scan(&s.ID, &s.Start, &s.End, &s.Capacity, &s.Reserved, &s.Booked, &s.Prebooked, &s.Open); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// count runs a COUNT-like query.
func count(t testing.TB, st *store.Store, query string, args ...any) int {
	t.Helper()
	var n int
	if err := st.DB().QueryRowContext(ctx, query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// callReasons are the reasons stored with the calls of a ticket, oldest first.
func callReasons(t testing.TB, st *store.Store, ticketID int64) []calling.Reason {
	t.Helper()
	rows, err := st.DB().QueryContext(ctx, `SELECT reason FROM calls WHERE ticket_id = ? AND kind = 'call' ORDER BY id`, ticketID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []calling.Reason
	for rows.Next() {
		var raw []byte
		var r calling.Reason
		if err := rows.Scan(&raw); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(raw, &r); err != nil {
			t.Fatalf("calls.reason %s: %v", raw, err)
		}
		out = append(out, r)
	}
	return out
}

// wantFault fails the test unless err carries the fault code.
func wantFault(t testing.TB, err error, code string) *fault.Error {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %s", code)
	}
	f, ok := fault.As(err)
	if !ok || f.Code != code {
		t.Fatalf("got error %v, want %s", err, code)
	}
	return f
}

func wantTime(t testing.TB, what string, got, want time.Time) {
	t.Helper()
	if !got.Equal(want) {
		t.Fatalf("%s = %s, want %s", what, got.In(testenv.Rome).Format(time.DateTime+" MST"), want.In(testenv.Rome).Format(time.DateTime+" MST"))
	}
}

// dateOf is the local day of t in Rome.
func dateOf(t time.Time) civil.Date { return civil.Today(t, testenv.Rome) }
