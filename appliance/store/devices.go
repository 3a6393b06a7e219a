package store

import (
	"cmp"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"regexp"
	"slices"
	"strings"
	"time"

	"avanti/appliance/fault"
)

// SilentAfter is how long a device may go without contact before it counts
// as silent: displays ping every 5 s, so 30 s is several missed beats.
const SilentAfter = 30 * time.Second

// Device errors a client can act on.
var (
	ErrDeviceNotFound  = fault.New(fault.NotFound, "device_not_found", "no such device")
	ErrPairingNotFound = fault.New(fault.NotFound, "pairing_not_found", "no device is showing this code: check the code on the screen, or let the screen show a new one")
	ErrPairingExpired  = fault.New(fault.Gone, "pairing_expired", "this pairing code has expired: the screen shows a new one")
	ErrPlaylistMissing = fault.New(fault.NotFound, "playlist_not_found", "no such playlist")
)

// Named is an id with its name, as the screens show it.
type Named struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
}

// QuietHours is a local time window in which a display stays silent.
type QuietHours struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// VoiceSettings say whether and how loud a display announces calls.
type VoiceSettings struct {
	Enabled    bool         `json:"enabled"`
	Volume     int          `json:"volume"`
	QuietHours []QuietHours `json:"quiet_hours"`
}

// DisplaySettings are what an admin sets for a waiting-room display
// (docs/realtime.md).
type DisplaySettings struct {
	Mode         string        `json:"mode"`
	Rooms        []int64       `json:"rooms"`
	Services     []int64       `json:"services"`
	History      int           `json:"history"`
	AlternateSec int           `json:"alternate_sec"`
	Voice        VoiceSettings `json:"voice"`
	PlaylistID   *int64        `json:"playlist_id"`
}

// DefaultDisplaySettings are a new display's: calls of its room, spoken.
func DefaultDisplaySettings() DisplaySettings {
	return DisplaySettings{Mode: "calls", Rooms: []int64{}, Services: []int64{}, History: 6, AlternateSec: 20,
		Voice: VoiceSettings{Enabled: true, Volume: 80, QuietHours: []QuietHours{}}}
}

var hhmmRE = regexp.MustCompile(`^([01][0-9]|2[0-3]):[0-5][0-9]$`)

// Validate checks the settings' ranges; it does not check that rooms,
// services and playlist belong to the owner (SetDisplaySettings does).
func (d *DisplaySettings) Validate() error {
	switch d.Mode {
	case "calls", "services", "alternating":
	default:
		return fault.Field("mode", "invalid_mode", "mode must be calls, services or alternating")
	}
	if d.History < 0 || d.History > 12 {
		return fault.Field("history", "invalid_history", "history must be between 0 and 12 previous calls")
	}
	if d.AlternateSec < 3 || d.AlternateSec > 600 {
		return fault.Field("alternate_sec", "invalid_alternate_sec", "alternate_sec must be between 3 and 600 seconds")
	}
	if d.Voice.Volume < 0 || d.Voice.Volume > 100 {
		return fault.Field("voice.volume", "invalid_volume", "volume must be between 0 and 100")
	}
	if len(d.Voice.QuietHours) > 10 || len(d.Rooms) > 50 || len(d.Services) > 200 {
		return fault.New(fault.Invalid, "too_many", "too many quiet hours, rooms or services")
	}
	for _, q := range d.Voice.QuietHours {
		if !hhmmRE.MatchString(q.From) || !hhmmRE.MatchString(q.To) {
			return fault.Field("voice.quiet_hours", "invalid_time", "quiet hours are HH:MM to HH:MM, e.g. 12:30 to 14:00")
		}
	}
	if d.Rooms == nil {
		d.Rooms = []int64{}
	}
	if d.Services == nil {
		d.Services = []int64{}
	}
	if d.Voice.QuietHours == nil {
		d.Voice.QuietHours = []QuietHours{}
	}
	return nil
}

// DeviceInfo is a device as the admin and the device itself see it.
type DeviceInfo struct {
	ID       int64            `json:"id"`
	Kind     string           `json:"kind"`
	Name     string           `json:"name"`
	Owner    Named            `json:"owner"`
	Room     *Named           `json:"room"`
	Settings *DisplaySettings `json:"settings,omitempty"`
	// KioskSettings are a totem's; Printer its printer's last known state.
	KioskSettings *KioskSettings `json:"kiosk_settings,omitempty"`
	Printer       string         `json:"printer,omitempty"`
	LastSeen      *time.Time     `json:"last_seen"`
	Version       string         `json:"version"`
	Screen        string         `json:"screen"`
	Showing       string         `json:"showing"`
	Seq           int64          `json:"seq"`
	Silent        bool           `json:"silent"`
}

// ShownRooms are the rooms whose calls a display shows: its settings' or,
// by default, its own room.
func (d DeviceInfo) ShownRooms() []int64 {
	if d.Settings != nil && len(d.Settings.Rooms) > 0 {
		return d.Settings.Rooms
	}
	if d.Room != nil {
		return []int64{d.Room.ID}
	}
	return nil
}

const deviceInfoQuery = `SELECT d.id, d.kind, d.name, o.id, o.name, r.id, r.name, d.settings, d.last_seen, d.version, d.screen, d.showing, d.seq, d.printer
	FROM devices d JOIN owners o ON o.id = d.owner_id LEFT JOIN rooms r ON r.id = d.room_id WHERE d.active`

func scanDeviceInfo(r scanner, now time.Time) (DeviceInfo, error) {
	var d DeviceInfo
	var roomID sql.NullInt64
	var roomName sql.NullString
	var settings []byte
	var last sql.NullTime
	if err := r.Scan(&d.ID, &d.Kind, &d.Name, &d.Owner.ID, &d.Owner.Name, &roomID, &roomName, &settings, &last,
		&d.Version, &d.Screen, &d.Showing, &d.Seq, &d.Printer); err != nil {
		return d, err
	}
	if roomID.Valid {
		d.Room = &Named{ID: roomID.Int64, Name: roomName.String}
	}
	if last.Valid {
		t := last.Time
		d.LastSeen = &t
	}
	d.Silent = !last.Valid || now.Sub(last.Time) > SilentAfter
	if d.Kind == "kiosk" {
		k := DefaultKioskSettings()
		if len(settings) > 0 {
			if err := json.Unmarshal(settings, &k); err != nil {
				return d, fmt.Errorf("settings of device %d: %w", d.ID, err)
			}
			_ = k.Validate()
		}
		d.KioskSettings = &k
		if d.Printer == "" && k.Printer.Mode == "browser" {
			d.Printer = "browser"
		}
	}
	if d.Kind == "display" {
		s := DefaultDisplaySettings()
		if len(settings) > 0 {
			if err := json.Unmarshal(settings, &s); err != nil {
				return d, fmt.Errorf("settings of device %d: %w", d.ID, err)
			}
			_ = s.Validate() // fills empty lists
		}
		d.Settings = &s
	}
	return d, nil
}

// DeviceInfo returns an active device.
func (s *Store) DeviceInfo(ctx context.Context, id int64, now time.Time) (DeviceInfo, error) {
	d, err := scanDeviceInfo(s.db.QueryRowContext(ctx, deviceInfoQuery+` AND d.id = ?`, id), now)
	if errors.Is(err, sql.ErrNoRows) {
		return d, ErrDeviceNotFound
	}
	return d, wrap("device", err)
}

// DeviceInfos lists an owner's active devices (every owner's for 0).
func (s *Store) DeviceInfos(ctx context.Context, ownerID int64, now time.Time) ([]DeviceInfo, error) {
	q, args := deviceInfoQuery, []any{}
	if ownerID != 0 {
		q += ` AND d.owner_id = ?`
		args = append(args, ownerID)
	}
	rows, err := s.db.QueryContext(ctx, q+` ORDER BY d.kind, d.name, d.id`, args...)
	if err != nil {
		return nil, fmt.Errorf("list devices: %w", err)
	}
	defer rows.Close()
	out := []DeviceInfo{}
	for rows.Next() {
		d, err := scanDeviceInfo(rows, now)
		if err != nil {
			return nil, fmt.Errorf("list devices: %w", err)
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// SilentDisplays counts active displays with no contact for SilentAfter.
func (s *Store) SilentDisplays(ctx context.Context, now time.Time) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM devices WHERE active AND kind = 'display'
		AND (last_seen IS NULL OR last_seen < ?)`, now.Add(-SilentAfter)).Scan(&n)
	return n, wrap("silent displays", err)
}

// SetDisplaySettings replaces a display's settings after checking that what
// they name belongs to the display's owner.
func (s *Store) SetDisplaySettings(ctx context.Context, id, ownerID int64, set DisplaySettings, now time.Time) (DeviceInfo, error) {
	d, err := s.DeviceInfo(ctx, id, now)
	if err != nil {
		return d, err
	}
	if ownerID != 0 && d.Owner.ID != ownerID {
		return DeviceInfo{}, ErrDeviceNotFound
	}
	if d.Kind != "display" {
		return DeviceInfo{}, fault.New(fault.Conflict, "not_a_display", "only displays have these settings")
	}
	if err := set.Validate(); err != nil {
		return DeviceInfo{}, err
	}
	if missing, err := s.missing(ctx, ownerRooms, d.Owner.ID, set.Rooms); err != nil || missing != 0 {
		return DeviceInfo{}, cmp.Or(err, error(fault.Field("rooms", "unknown_room", fmt.Sprintf("room %d does not exist", missing))))
	}
	if missing, err := s.missing(ctx, `SELECT id FROM services WHERE owner_id = ?`, d.Owner.ID, set.Services); err != nil || missing != 0 {
		return DeviceInfo{}, cmp.Or(err, error(fault.Field("services", "unknown_service", fmt.Sprintf("service %d does not exist", missing))))
	}
	if set.PlaylistID != nil {
		if missing, err := s.missing(ctx, `SELECT id FROM playlists WHERE owner_id = ?`, d.Owner.ID, []int64{*set.PlaylistID}); err != nil || missing != 0 {
			return DeviceInfo{}, cmp.Or(err, error(fault.Field("playlist_id", "unknown_playlist", fmt.Sprintf("playlist %d does not exist", missing))))
		}
	}
	raw, err := json.Marshal(set)
	if err != nil {
		return DeviceInfo{}, fmt.Errorf("settings: %w", err)
	}
	if _, err := s.db.ExecContext(ctx, `UPDATE devices SET settings = ? WHERE id = ?`, raw, id); err != nil {
		return DeviceInfo{}, fmt.Errorf("save settings: %w", err)
	}
	d.Settings = &set
	return d, nil
}

const ownerRooms = `SELECT r.id FROM rooms r JOIN sites si ON si.id = r.site_id WHERE si.owner_id = ?`

// missing returns the first of ids that query (listing ownerID's ids)
// does not list, or 0.
func (s *Store) missing(ctx context.Context, query string, ownerID int64, ids []int64) (int64, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	rows, err := s.db.QueryContext(ctx, query, ownerID)
	if err != nil {
		return 0, fmt.Errorf("check ids: %w", err)
	}
	defer rows.Close()
	var have []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return 0, fmt.Errorf("check ids: %w", err)
		}
		have = append(have, id)
	}
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("check ids: %w", err)
	}
	for _, id := range ids {
		if !slices.Contains(have, id) {
			return id, nil
		}
	}
	return 0, nil
}

// DeviceStatus is what a device reports about itself.
type DeviceStatus struct {
	Printer string `json:"printer"` // a totem's printer: ok, error…
	Version string `json:"version"`
	Screen  string `json:"screen"`
	Showing string `json:"showing"`
	Seq     int64  `json:"seq"`
}

var (
	screenRE  = regexp.MustCompile(`^[0-9]{1,5}x[0-9]{1,5}$`)
	showingRE = regexp.MustCompile(`^[a-z_]{1,20}$`)
)

// RecordDeviceStatus notes a device's contact and, when given, what it
// reports; values a device could not mean are dropped rather than stored.
func (s *Store) RecordDeviceStatus(ctx context.Context, id int64, st DeviceStatus, now time.Time) error {
	if !screenRE.MatchString(st.Screen) {
		st.Screen = ""
	}
	st.Version = clip(st.Version, 60)
	if !showingRE.MatchString(st.Showing) {
		st.Showing = ""
	}
	switch st.Printer {
	case "ok", "error", "paper_low", "paper_out", "cover_open", "offline", "":
	default:
		st.Printer = "error"
	}
	_, err := s.db.ExecContext(ctx, `UPDATE devices SET last_seen = ?,
		version = IF(? = '', version, ?), screen = IF(? = '', screen, ?), showing = IF(? = '', showing, ?), seq = GREATEST(?, 0),
		printer = IF(? = '', printer, ?)
		WHERE id = ?`, now, st.Version, st.Version, st.Screen, st.Screen, st.Showing, st.Showing, st.Seq, st.Printer, st.Printer, id)
	return wrap("device status", err)
}

// TouchDevices notes the contact of connected devices.
func (s *Store) TouchDevices(ctx context.Context, ids []int64, now time.Time) error {
	// In batches: a statement takes at most 65,535 placeholders.
	for len(ids) > 0 {
		n := min(len(ids), 1000)
		if _, err := s.db.ExecContext(ctx, `UPDATE devices SET last_seen = ? WHERE id IN `+inList(n), append([]any{now}, int64Args(ids[:n])...)...); err != nil {
			return fmt.Errorf("device contact: %w", err)
		}
		ids = ids[n:]
	}
	return nil
}

// RoomTimezone is the time zone of a room's site.
func (s *Store) RoomTimezone(ctx context.Context, roomID int64) (string, error) {
	var tz string
	err := s.db.QueryRowContext(ctx, `SELECT si.timezone FROM rooms r JOIN sites si ON si.id = r.site_id WHERE r.id = ?`, roomID).Scan(&tz)
	if errors.Is(err, sql.ErrNoRows) {
		return "Europe/Rome", nil
	}
	return tz, wrap("room time zone", err)
}

func clip(s string, n int) string {
	s = strings.ToValidUTF8(s, "")
	if r := []rune(s); len(r) > n {
		return string(r[:n])
	}
	return s
}

// PairingTTL is how long a pairing code shown on a screen stays valid.
const PairingTTL = 10 * time.Minute

// Pairing is a code a new device shows and the secret it polls with.
type Pairing struct {
	Code      string    `json:"code"`
	Secret    string    `json:"secret"`
	ExpiresAt time.Time `json:"expires_at"`
}

// StartPairing makes a six-digit code for a device page that has no
// credential. The code is short so that an admin can type it; it is only
// claimable while valid and unique among the valid codes.
func (s *Store) StartPairing(ctx context.Context, kind, screen, version string, now time.Time) (Pairing, error) {
	if kind != "kiosk" && kind != "display" {
		return Pairing{}, fault.Field("kind", "invalid_kind", "kind must be kiosk or display")
	}
	if !screenRE.MatchString(screen) {
		screen = ""
	}
	if _, err := s.db.ExecContext(ctx, `DELETE FROM pairings WHERE expires_at < ? AND device_id IS NULL`, now.Add(-time.Hour)); err != nil {
		return Pairing{}, fmt.Errorf("pairing: %w", err)
	}
	for range 10 {
		n, err := rand.Int(rand.Reader, big.NewInt(1_000_000))
		if err != nil {
			return Pairing{}, fmt.Errorf("pairing code: %w", err)
		}
		p := Pairing{Code: fmt.Sprintf("%06d", n.Int64()), Secret: newToken(), ExpiresAt: now.Add(PairingTTL).UTC()}
		var taken int
		if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM pairings WHERE code = ? AND expires_at > ? AND device_id IS NULL`,
			p.Code, now).Scan(&taken); err != nil {
			return Pairing{}, fmt.Errorf("pairing: %w", err)
		}
		if taken > 0 {
			continue
		}
		if _, err := s.db.ExecContext(ctx, `INSERT INTO pairings (code, secret_hash, kind, screen, version, created_at, expires_at)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, p.Code, hashSecret(p.Secret), kind, screen, clip(version, 60), now, p.ExpiresAt); err != nil {
			return Pairing{}, fmt.Errorf("pairing: %w", err)
		}
		return p, nil
	}
	return Pairing{}, fault.New(fault.Unavailable, "pairing_busy", "too many screens are pairing at once: try again in a minute")
}

var codeRE = regexp.MustCompile(`^[0-9]{6}$`)

// ClaimPairing makes the device that the screen showing code becomes, in
// roomID of ownerID. The screen picks up its token when it next polls.
func (s *Store) ClaimPairing(ctx context.Context, code, kind, name string, ownerID, roomID int64, now time.Time) (DeviceInfo, error) {
	code = strings.ReplaceAll(strings.TrimSpace(code), " ", "")
	if !codeRE.MatchString(code) {
		return DeviceInfo{}, fault.Field("code", "invalid_code", "the pairing code is the six digits shown on the screen")
	}
	name = strings.TrimSpace(name)
	if name == "" || len([]rune(name)) > 200 {
		return DeviceInfo{}, fault.Field("name", "invalid_name", "give the device a name of 1 to 200 characters, e.g. \"Sala d'attesa\"")
	}
	if roomID != 0 {
		if missing, err := s.missing(ctx, ownerRooms, ownerID, []int64{roomID}); err != nil || missing != 0 {
			return DeviceInfo{}, cmp.Or(err, error(fault.Field("room_id", "unknown_room", fmt.Sprintf("room %d does not exist", roomID))))
		}
	}
	var id int64
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var pid int64
		var pkind, screen, version string
		var expires time.Time
		var dev sql.NullInt64
		err := tx.QueryRowContext(ctx, `SELECT id, kind, screen, version, expires_at, device_id FROM pairings
			WHERE code = ? ORDER BY (device_id IS NULL) DESC, expires_at DESC LIMIT 1 FOR UPDATE`, code).
			Scan(&pid, &pkind, &screen, &version, &expires, &dev)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrPairingNotFound
		}
		if err != nil {
			return fmt.Errorf("claim pairing: %w", err)
		}
		if dev.Valid {
			return fault.New(fault.Conflict, "already_paired", "this code was already used: the screen is paired")
		}
		if now.After(expires) {
			return ErrPairingExpired
		}
		if kind != "" && kind != pkind {
			return fault.Field("kind", "wrong_kind", fmt.Sprintf("the screen showing this code is a %s", pkind))
		}
		token := newToken()
		var room any
		if roomID != 0 {
			room = roomID
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO devices (owner_id, room_id, kind, name, token_hash, version, screen, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, ownerID, room, pkind, name, hashSecret(token), version, screen, now)
		if err != nil {
			return fmt.Errorf("create device: %w", err)
		}
		id, _ = res.LastInsertId()
		_, err = tx.ExecContext(ctx, `UPDATE pairings SET device_id = ?, token = ? WHERE id = ?`, id, token, pid)
		return wrap("claim pairing", err)
	})
	if err != nil {
		return DeviceInfo{}, err
	}
	return s.DeviceInfo(ctx, id, now)
}

// PollPairing is what the screen learns when it polls with its secret:
// done=false while nobody claimed the code; once claimed, the device and
// its token, handed out once (a second poll gets an empty token).
func (s *Store) PollPairing(ctx context.Context, secret string, now time.Time) (dev DeviceInfo, token string, done bool, err error) {
	if len(secret) != 43 {
		return dev, "", false, ErrPairingNotFound
	}
	var pid int64
	var expires time.Time
	var devID sql.NullInt64
	var tok sql.NullString
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `SELECT id, expires_at, device_id, token FROM pairings WHERE secret_hash = ? FOR UPDATE`,
			hashSecret(secret)).Scan(&pid, &expires, &devID, &tok)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrPairingNotFound
		}
		if err != nil {
			return fmt.Errorf("pairing: %w", err)
		}
		if !devID.Valid {
			if now.After(expires) {
				return ErrPairingExpired
			}
			return nil
		}
		_, err = tx.ExecContext(ctx, `UPDATE pairings SET token = NULL WHERE id = ?`, pid)
		return wrap("pairing", err)
	})
	if err != nil || !devID.Valid {
		return dev, "", false, err
	}
	dev, err = s.DeviceInfo(ctx, devID.Int64, now)
	return dev, tok.String, true, err
}
