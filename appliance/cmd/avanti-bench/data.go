package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"fmt"
	"strings"
	"time"

	"avanti/appliance/civil"
	"avanti/appliance/fiscalcode"
	"avanti/appliance/store"
)

// benchDay is the working Monday every scenario happens on; the store takes
// "now" as an argument, so the wall clock of the machine does not matter.
var benchDay = civil.Date{Year: 2026, Month: time.November, Day: 23}

// org is the organisation the scenarios share.
type org struct {
	ownerID, siteID, roomID int64
	loc                     *time.Location
	deskIDs                 []int64
	operators               []store.User
}

// setupOrg creates an owner, a site in Europe/Rome, a room with desks, and
// one operator per desk, through the store's own methods.
func setupOrg(ctx context.Context, st *store.Store, desks int) (org, error) {
	var o org
	now := benchDay.At(6*60, mustLoc("Europe/Rome"))
	owner, err := st.CreateOwner(ctx, "COMUNE DI BENCHMARK", now)
	if err != nil {
		return o, err
	}
	site, err := st.CreateSite(ctx, store.Site{OwnerID: owner.ID, Name: "Sede unica", Timezone: "Europe/Rome"})
	if err != nil {
		return o, err
	}
	room, err := st.CreateRoom(ctx, store.Room{SiteID: site.ID, Name: "Sala d'attesa"})
	if err != nil {
		return o, err
	}
	o.ownerID, o.siteID, o.roomID, o.loc = owner.ID, site.ID, room.ID, mustLoc(site.Timezone)
	for i := 1; i <= desks; i++ {
		d, err := st.CreateDesk(ctx, store.Desk{RoomID: room.ID, Name: fmt.Sprintf("Sportello %d", i), Number: fmt.Sprint(i)}, now)
		if err != nil {
			return o, err
		}
		u, err := st.CreateUser(ctx, store.User{OwnerID: owner.ID, Username: fmt.Sprintf("operatore%02d", i),
			DisplayName: fmt.Sprintf("Operatore %d", i), Role: store.RoleOperator}, now)
		if err != nil {
			return o, err
		}
		o.deskIDs = append(o.deskIDs, d.ID)
		o.operators = append(o.operators, u)
	}
	return o, nil
}

// baseService is a service as a municipality would set it up.
func (o org) baseService(name, prefix string) store.Service {
	return store.Service{OwnerID: o.ownerID, SiteID: o.siteID, Name: name, Prefix: prefix,
		Description: "Servizio creato dal benchmark.", TargetWaitMin: 15, AllowedLatenessMin: 10, CheckinEarlyMin: 30,
		CheckinRequired: true, OnlineBookable: true, MaxDaysAhead: 60, AvgServiceMin: 10, IDRequiredFuture: true,
		PriorityWeight: 2, EarlyCalls: true}
}

func mustLoc(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return loc
}

// warmPool opens every connection of the pool before a measurement, so that
// connection set-up is not counted as latency.
func warmPool(ctx context.Context, db *sql.DB) error {
	n := db.Stats().MaxOpenConnections
	if n <= 0 {
		n = 64
	}
	conns := make([]*sql.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range n {
		c, err := db.Conn(ctx)
		if err != nil {
			return fmt.Errorf("warm pool: %w", err)
		}
		conns = append(conns, c)
		if err := c.PingContext(ctx); err != nil {
			return fmt.Errorf("warm pool: %w", err)
		}
	}
	return nil
}

// fiscalCode makes the i-th of a series of distinct, checksum-valid fiscal
// codes: the surname and name letters spell i in base 26.
func fiscalCode(i int) string {
	var b [16]byte
	n := i
	for k := 5; k >= 0; k-- {
		b[k] = 'A' + byte(n%26)
		n /= 26
	}
	yy := 40 + i%60
	b[6], b[7] = '0'+byte(yy/10), '0'+byte(yy%10)
	b[8] = "ABCDEHLMPRST"[i%12]
	day := 1 + i%28
	if i%2 == 1 {
		day += 40
	}
	b[9], b[10] = '0'+byte(day/10), '0'+byte(day%10)
	copy(b[11:15], "D142") // Crema
	b[15] = checkChar(b[:15])
	return string(b[:])
}

var oddValues = [26]int{1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24, 23}

func checkChar(v []byte) byte {
	sum := 0
	for i, c := range v {
		k := int(c - 'A')
		if c >= '0' && c <= '9' {
			k = int(c - '0')
		}
		if i%2 == 0 {
			sum += oddValues[k]
		} else {
			sum += k
		}
	}
	return byte('A' + sum%26)
}

func checkFiscalCodes() error {
	for _, i := range []int{0, 1, 25, 26, 12345, 999999} {
		if err := fiscalcode.Validate(fiscalCode(i)); err != nil {
			return fmt.Errorf("benchmark fiscal code %s: %w", fiscalCode(i), err)
		}
	}
	return nil
}

func newToken() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// ticketRow is a ticket written by bulk INSERT, for volumes the store has
// no bulk path for. The columns are those Book writes.
type ticketRow struct {
	serviceID          int64
	day                civil.Date
	seq                int
	code               string
	slotID             int64 // 0: none
	status, channel    string
	walkIn, priority   bool
	start, end         time.Time
	checkedIn, due     time.Time // zero: NULL
	fiscalCode         string
	firstName, surname string
	created            time.Time
}

func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC()
}

func nullStr(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func nullID(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}

// insertTickets writes rows in multi-row INSERTs of 1,000.
func insertTickets(ctx context.Context, db *sql.DB, rows []ticketRow) error {
	const batch = 1000
	const cols = 20
	for len(rows) > 0 {
		n := min(batch, len(rows))
		args := make([]any, 0, n*cols)
		for _, r := range rows[:n] {
			args = append(args, newToken(), r.serviceID, r.serviceID, r.day.String(), r.seq, r.code, nullID(r.slotID),
				r.status, r.channel, r.walkIn, r.priority, r.start.UTC(), r.end.UTC(), nullTime(r.checkedIn), nullTime(r.due),
				nullStr(r.fiscalCode), nullStr(r.firstName), nullStr(r.surname), r.created.UTC(), r.created.UTC())
		}
		q := `INSERT INTO tickets (token, service_id, issued_service_id, day, seq, code, slot_id, status, channel, walk_in, priority,
			starts_at, ends_at, checked_in_at, due_at, fiscal_code, first_name, last_name, created_at, updated_at) VALUES ` +
			strings.TrimSuffix(strings.Repeat("(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?),", n), ",")
		if _, err := db.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("bulk insert tickets: %w", err)
		}
		rows = rows[n:]
	}
	return nil
}

// syncCounters sets the daily code counters of a service to the highest
// sequence its tickets use, as Book would have left them.
func syncCounters(ctx context.Context, db *sql.DB, serviceID int64) error {
	_, err := db.ExecContext(ctx, `INSERT INTO ticket_counters (service_id, day, last_seq)
		SELECT issued_service_id, day, MAX(seq) FROM tickets WHERE issued_service_id = ? GROUP BY issued_service_id, day
		ON DUPLICATE KEY UPDATE last_seq = GREATEST(last_seq, VALUES(last_seq))`, serviceID)
	if err != nil {
		return fmt.Errorf("ticket counters: %w", err)
	}
	return nil
}

func queryInt(ctx context.Context, db *sql.DB, q string, args ...any) (int64, error) {
	var n sql.NullInt64
	if err := db.QueryRowContext(ctx, q, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("%s: %w", strings.Join(strings.Fields(q), " "), err)
	}
	return n.Int64, nil
}

func inList(ids []int64) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = fmt.Sprint(id)
	}
	return "(" + strings.Join(s, ",") + ")"
}
