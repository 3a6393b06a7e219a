// Package live is what the appliance's WebSocket clients see: it decides
// which channels a display, totem or desk console listens to, builds their
// snapshots from the database, and turns what the engine did (a call, a
// change of a queue, of a desk, of a display's settings) into events on the
// realtime hub. Its methods are called after the transaction that caused
// them has committed, so a snapshot read afterwards already holds the event.
//
// The wire format and the objects are documented in docs/realtime.md.
package live

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"avanti/appliance/clock"
	"avanti/appliance/realtime"
	"avanti/appliance/store"
)

// Options configure Live.
type Options struct {
	Store   *store.Store
	Hub     *realtime.Hub
	Clock   clock.Clock
	Version string // the appliance version: a page that sees it change reloads
	Logger  *slog.Logger
	// QueueDelay coalesces queue events: at most one per owner per delay
	// (default 250 ms). The services monitor does not need every booking.
	QueueDelay time.Duration
	// ContactEvery is how often connected devices' last contact is written
	// (default 10 s, well inside store.SilentAfter).
	ContactEvery time.Duration
}

// Live publishes the appliance's events and serves its WebSocket clients.
type Live struct {
	opt Options
	st  *store.Store
	hub *realtime.Hub
	log *slog.Logger

	deskViews func(ctx context.Context, ownerID int64) (any, error)

	mu        sync.Mutex
	pending   map[int64]bool        // owners with a queue event to send
	timers    map[int64]*time.Timer // the coalescing timer per owner
	services  map[int64]cachedServices
	connected map[int64]int // device id → open connections
	stop      chan struct{}
	stopOnce  sync.Once
	wg        sync.WaitGroup
}

type cachedServices struct {
	list []store.ServiceStatus
	at   time.Time
}

// servicesFresh is how long a services picture serves snapshots: a crowd of
// screens reconnecting at once then costs one query, not one each.
const servicesFresh = time.Second

// New starts Live's background work (device contact); Close stops it.
func New(opt Options) *Live {
	if opt.Clock == nil {
		opt.Clock = clock.Real{}
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.QueueDelay == 0 {
		opt.QueueDelay = 250 * time.Millisecond
	}
	if opt.ContactEvery == 0 {
		opt.ContactEvery = 10 * time.Second
	}
	l := &Live{opt: opt, st: opt.Store, hub: opt.Hub, log: opt.Logger,
		pending: map[int64]bool{}, timers: map[int64]*time.Timer{}, services: map[int64]cachedServices{},
		connected: map[int64]int{}, stop: make(chan struct{})}
	l.wg.Add(1)
	go l.contactLoop()
	return l
}

// Close stops the background work and pending queue events.
func (l *Live) Close() {
	l.stopOnce.Do(func() { close(l.stop) })
	l.mu.Lock()
	for _, t := range l.timers {
		t.Stop()
	}
	l.mu.Unlock()
	l.wg.Wait()
}

// SetDeskViews sets what builds the desk consoles' picture of an owner's
// desks (the API's desk view); without it the desk snapshot has no desks.
func (l *Live) SetDeskViews(fn func(ctx context.Context, ownerID int64) (any, error)) {
	l.mu.Lock()
	l.deskViews = fn
	l.mu.Unlock()
}

// Hub is the realtime hub Live publishes on.
func (l *Live) Hub() *realtime.Hub { return l.hub }

// Channel names.
func roomChannel(id int64) string    { return "room:" + strconv.FormatInt(id, 10) }
func displayChannel(id int64) string { return "display:" + strconv.FormatInt(id, 10) }
func kioskChannel(id int64) string   { return "kiosk:" + strconv.FormatInt(id, 10) }
func servicesChannel(o int64) string { return "owner:" + strconv.FormatInt(o, 10) + ":services" }
func desksChannel(o int64) string    { return "owner:" + strconv.FormatInt(o, 10) + ":desks" }
func userChannel(id int64) string    { return "user:" + strconv.FormatInt(id, 10) }
func (l *Live) now() time.Time       { return l.opt.Clock.Now() }
func timeout() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 10*time.Second)
}

// Call is a call as the screens get it: the call and its announcement.
type Call struct {
	store.CallView
	Audio string `json:"audio"`
}

func withAudio(c store.CallView) Call {
	q := url.Values{"code": {c.Ticket.Code}, "desk": {c.Desk.Number}}
	return Call{CallView: c, Audio: "/voice/announcement?" + q.Encode()}
}

// Called publishes a call or recall (the row callID of calls) to its room,
// and the queue change it implies.
func (l *Live) Called(callID int64) {
	ctx, cancel := timeout()
	defer cancel()
	c, err := l.st.Call(ctx, callID)
	if err != nil {
		l.log.Error("live: read call", "call", callID, "err", err)
		return
	}
	if _, err := l.hub.Publish(roomChannel(c.Room.ID), c.Kind, map[string]any{"call": withAudio(c)}); err != nil {
		l.log.Warn("live: publish call", "call", callID, "err", err)
	}
	l.QueueChanged(c.OwnerID)
}

// QueueChanged notes that an owner's queues changed (a booking, a check-in,
// a call…); the services channel gets one "queue" event for the changes of
// the next QueueDelay.
func (l *Live) QueueChanged(ownerID int64) {
	if ownerID == 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.services, ownerID)
	if l.pending[ownerID] {
		return
	}
	l.pending[ownerID] = true
	l.timers[ownerID] = time.AfterFunc(l.opt.QueueDelay, func() { l.flushQueue(ownerID) })
}

func (l *Live) flushQueue(ownerID int64) {
	select {
	case <-l.stop:
		return
	default:
	}
	l.mu.Lock()
	delete(l.pending, ownerID)
	delete(l.timers, ownerID)
	delete(l.services, ownerID)
	l.mu.Unlock()
	ctx, cancel := timeout()
	defer cancel()
	list, err := l.serviceStatuses(ctx, ownerID)
	if err != nil {
		l.log.Error("live: service status", "owner", ownerID, "err", err)
		return
	}
	if _, err := l.hub.Publish(servicesChannel(ownerID), "queue", map[string]any{"services": list}); err != nil {
		l.log.Warn("live: publish queue", "owner", ownerID, "err", err)
	}
}

func (l *Live) serviceStatuses(ctx context.Context, ownerID int64) ([]store.ServiceStatus, error) {
	now := l.now()
	l.mu.Lock()
	c, ok := l.services[ownerID]
	l.mu.Unlock()
	if ok && now.Sub(c.at) < servicesFresh && now.Sub(c.at) >= 0 {
		return c.list, nil
	}
	list, err := l.st.ServiceStatuses(ctx, ownerID, now)
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	l.services[ownerID] = cachedServices{list: list, at: now}
	l.mu.Unlock()
	return list, nil
}

// DeskChanged publishes a desk's new state to its owner's desk consoles.
func (l *Live) DeskChanged(ownerID int64, desk any) {
	if _, err := l.hub.Publish(desksChannel(ownerID), "desk", map[string]any{"desk": desk}); err != nil {
		l.log.Warn("live: publish desk", "owner", ownerID, "err", err)
	}
	l.QueueChanged(ownerID)
}

// DeviceChanged sends a device its new settings (and playlist).
func (l *Live) DeviceChanged(deviceID int64) {
	ctx, cancel := timeout()
	defer cancel()
	d, err := l.st.DeviceInfo(ctx, deviceID, l.now())
	if err != nil {
		l.log.Error("live: read device", "device", deviceID, "err", err)
		return
	}
	if d.Kind == "kiosk" {
		if _, err := l.hub.Publish(kioskChannel(d.ID), "config", map[string]any{"kiosk": d}); err != nil {
			l.log.Warn("live: publish config", "device", deviceID, "err", err)
		}
		return
	}
	items, err := l.playlist(ctx, d)
	if err != nil {
		l.log.Error("live: read playlist", "device", deviceID, "err", err)
		return
	}
	if _, err := l.hub.Publish(displayChannel(d.ID), "config", map[string]any{"display": d, "playlist": items}); err != nil {
		l.log.Warn("live: publish config", "device", deviceID, "err", err)
	}
}

// PlaylistChanged sends the displays that show a playlist its new items.
func (l *Live) PlaylistChanged(playlistID int64) {
	ctx, cancel := timeout()
	defer cancel()
	ids, err := l.st.DisplaysOfPlaylist(ctx, playlistID)
	if err != nil {
		l.log.Error("live: displays of playlist", "playlist", playlistID, "err", err)
		return
	}
	for _, id := range ids {
		l.DeviceChanged(id)
	}
}

func (l *Live) playlist(ctx context.Context, d store.DeviceInfo) ([]store.PlaylistItem, error) {
	if d.Settings == nil || d.Settings.PlaylistID == nil {
		return []store.PlaylistItem{}, nil
	}
	p, err := l.st.Playlist(ctx, *d.Settings.PlaylistID, d.Owner.ID)
	if err == store.ErrPlaylistMissing {
		return []store.PlaylistItem{}, nil
	}
	return p.Items, err
}

// ServeDisplay runs a display's WebSocket: its own channel, the rooms it
// shows and its owner's services.
func (l *Live) ServeDisplay(w http.ResponseWriter, r *http.Request, d store.DeviceInfo) error {
	chans := []string{displayChannel(d.ID)}
	for _, room := range d.ShownRooms() {
		chans = append(chans, roomChannel(room))
	}
	chans = append(chans, servicesChannel(d.Owner.ID))
	return l.serveDevice(w, r, d, chans, func() (any, error) { return l.displaySnapshot(d.ID) })
}

// ServeKiosk runs a totem's WebSocket: its own channel and its owner's
// services.
func (l *Live) ServeKiosk(w http.ResponseWriter, r *http.Request, d store.DeviceInfo) error {
	chans := []string{kioskChannel(d.ID), servicesChannel(d.Owner.ID)}
	return l.serveDevice(w, r, d, chans, func() (any, error) {
		ctx, cancel := timeout()
		defer cancel()
		dev, err := l.st.DeviceInfo(ctx, d.ID, l.now())
		if err != nil {
			return nil, err
		}
		services, err := l.serviceStatuses(ctx, d.Owner.ID)
		if err != nil {
			return nil, err
		}
		loc, err := l.ownerLocation(ctx, dev)
		if err != nil {
			return nil, err
		}
		return map[string]any{"version": l.opt.Version, "server_time": l.now().UTC(), "time_zone": loc.String(),
			"kiosk": dev, "services": services}, nil
	})
}

func (l *Live) serveDevice(w http.ResponseWriter, r *http.Request, d store.DeviceInfo, chans []string, snap func() (any, error)) error {
	l.mu.Lock()
	l.connected[d.ID]++
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		if l.connected[d.ID]--; l.connected[d.ID] <= 0 {
			delete(l.connected, d.ID)
		}
		l.mu.Unlock()
	}()
	return l.hub.Serve(w, r, realtime.Subscription{
		Channels:  chans,
		Snapshot:  snap,
		OnMessage: func(msg []byte) { l.deviceMessage(d.ID, msg) },
	})
}

// displaySnapshot is everything a display shows, read fresh.
func (l *Live) displaySnapshot(id int64) (any, error) {
	ctx, cancel := timeout()
	defer cancel()
	now := l.now()
	d, err := l.st.DeviceInfo(ctx, id, now)
	if err != nil {
		return nil, err
	}
	history := 6
	if d.Settings != nil {
		history = d.Settings.History
	}
	loc, err := l.ownerLocation(ctx, d)
	if err != nil {
		return nil, err
	}
	views, err := l.st.RoomCalls(ctx, d.ShownRooms(), now, loc, history+1)
	if err != nil {
		return nil, err
	}
	calls := make([]Call, 0, len(views))
	for _, v := range views {
		calls = append(calls, withAudio(v))
	}
	services, err := l.serviceStatuses(ctx, d.Owner.ID)
	if err != nil {
		return nil, err
	}
	items, err := l.playlist(ctx, d)
	if err != nil {
		return nil, err
	}
	return map[string]any{"version": l.opt.Version, "server_time": now.UTC(), "time_zone": loc.String(), "display": d,
		"calls": calls, "services": services, "playlist": items}, nil
}

// ownerLocation is the time zone of the display's room (its site's), for
// "today's calls"; Europe/Rome when the display has no room.
func (l *Live) ownerLocation(ctx context.Context, d store.DeviceInfo) (*time.Location, error) {
	rooms := d.ShownRooms()
	if len(rooms) == 0 {
		return time.LoadLocation("Europe/Rome")
	}
	tz, err := l.st.RoomTimezone(ctx, rooms[0])
	if err != nil {
		return nil, err
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return nil, fmt.Errorf("time zone %q: %w", tz, err)
	}
	return loc, nil
}

// ServeDesk runs a desk console's WebSocket: the desks and services of the
// operator's owner (and a channel of the user's own, to end it).
func (l *Live) ServeDesk(w http.ResponseWriter, r *http.Request, ownerID, userID int64) error {
	return l.hub.Serve(w, r, realtime.Subscription{
		Channels: []string{desksChannel(ownerID), servicesChannel(ownerID), userChannel(userID)},
		Snapshot: func() (any, error) {
			ctx, cancel := timeout()
			defer cancel()
			services, err := l.serviceStatuses(ctx, ownerID)
			if err != nil {
				return nil, err
			}
			out := map[string]any{"version": l.opt.Version, "server_time": l.now().UTC(), "services": services}
			l.mu.Lock()
			views := l.deskViews
			l.mu.Unlock()
			if views != nil {
				desks, err := views(ctx, ownerID)
				if err != nil {
					return nil, err
				}
				out["desks"] = desks
			}
			return out, nil
		},
	})
}

// deviceMessage records what a device reports ({"type":"status",…}).
func (l *Live) deviceMessage(id int64, msg []byte) {
	var m struct {
		Type string `json:"type"`
		store.DeviceStatus
	}
	if err := json.Unmarshal(msg, &m); err != nil || m.Type != "status" {
		return // a client's mistake: nothing to record
	}
	ctx, cancel := timeout()
	defer cancel()
	if err := l.st.RecordDeviceStatus(ctx, id, m.DeviceStatus, l.now()); err != nil {
		l.log.Warn("live: device status", "device", id, "err", err)
	}
}

// contactLoop writes the last contact of every connected device: the hub
// drops a connection that misses its heartbeats, so a device connected now
// is a device that answered within the last PongWait.
func (l *Live) contactLoop() {
	defer l.wg.Done()
	t := time.NewTicker(l.opt.ContactEvery)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			l.mu.Lock()
			ids := make([]int64, 0, len(l.connected))
			for id := range l.connected {
				ids = append(ids, id)
			}
			l.mu.Unlock()
			if len(ids) == 0 {
				continue
			}
			ctx, cancel := timeout()
			if err := l.st.TouchDevices(ctx, ids, l.now()); err != nil {
				l.log.Warn("live: device contact", "err", err)
			}
			cancel()
		}
	}
}

// DeviceRevoked closes a device's open connections (it was unpaired).
func (l *Live) DeviceRevoked(deviceID int64) {
	l.hub.Disconnect(displayChannel(deviceID), "device unpaired")
	l.hub.Disconnect(kioskChannel(deviceID), "device unpaired")
}

// UserRevoked closes a user's open consoles (the account was disabled).
func (l *Live) UserRevoked(userID int64) {
	l.hub.Disconnect(userChannel(userID), "account disabled")
}

// Connected reports how many connections a device has open.
func (l *Live) Connected(deviceID int64) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.connected[deviceID]
}
