package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"regexp"

	"github.com/labstack/echo/v4"

	"avanti/appliance/auth"
	"avanti/appliance/fault"
	"avanti/appliance/store"
)

// Devices: pairing, what a device learns about itself, the admin's list
// and settings, playlists and their media, and the WebSocket endpoints.
// docs/realtime.md is the contract with the pages.

func (a *API) thisDevice(c echo.Context) (store.DeviceInfo, error) {
	p := principal(c)
	if p.Kind != auth.KindDevice {
		return store.DeviceInfo{}, errUnauthenticated
	}
	return a.st.DeviceInfo(c.Request().Context(), p.Device.ID, a.now())
}

func (a *API) getDevice(c echo.Context) error {
	d, err := a.thisDevice(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"device": d})
}

type pairingRequest struct {
	Kind    string `json:"kind"`
	Screen  string `json:"screen"`
	Version string `json:"version"`
}

func (a *API) startPairing(c echo.Context) error {
	var req pairingRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	p, err := a.st.StartPairing(c.Request().Context(), req.Kind, req.Screen, req.Version, a.now())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, p)
}

func (a *API) pollPairing(c echo.Context) error {
	dev, token, done, err := a.st.PollPairing(c.Request().Context(), c.Param("secret"), a.now())
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	if !done {
		return c.JSON(http.StatusAccepted, map[string]any{"status": "waiting"})
	}
	if token == "" {
		// Handed out already: a second page cannot take over the device.
		return fault.New(fault.Gone, "pairing_used", "this screen was paired and its credential handed out already")
	}
	setDeviceCookie(c, token, a.secure(c))
	return c.JSON(http.StatusOK, map[string]any{"device": dev, "token": token})
}

type pairRequest struct {
	Code   string `json:"code"`
	Kind   string `json:"kind"`
	Name   string `json:"name"`
	RoomID int64  `json:"room_id"`
}

func (a *API) pairDevice(c echo.Context) error {
	var req pairRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	d, err := a.st.ClaimPairing(c.Request().Context(), req.Code, req.Kind, req.Name, principal(c).OwnerID(), req.RoomID, a.now())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, map[string]any{"device": d})
}

func (a *API) listDevices(c echo.Context) error {
	list, err := a.st.DeviceInfos(c.Request().Context(), principal(c).OwnerID(), a.now())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"devices": list})
}

func (a *API) putDeviceSettings(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	d, err := a.st.DeviceInfo(ctx, id, a.now())
	if err != nil {
		return err
	}
	if d.Owner.ID != principal(c).OwnerID() {
		return store.ErrDeviceNotFound
	}
	// What the body leaves out takes its default: a console may send only
	// the mode.
	if d.Kind == "kiosk" {
		set := store.DefaultKioskSettings()
		if err := decode(c, &set); err != nil {
			return err
		}
		if d, err = a.st.SetKioskSettings(ctx, id, principal(c).OwnerID(), set, a.now()); err != nil {
			return err
		}
	} else {
		set := store.DefaultDisplaySettings()
		if err := decode(c, &set); err != nil {
			return err
		}
		if d, err = a.st.SetDisplaySettings(ctx, id, principal(c).OwnerID(), set, a.now()); err != nil {
			return err
		}
	}
	if a.live != nil {
		a.live.DeviceChanged(d.ID)
	}
	return c.JSON(http.StatusOK, map[string]any{"device": d})
}

type playlistRequest struct {
	Name  string               `json:"name"`
	Items []store.PlaylistItem `json:"items"`
}

func (a *API) listPlaylists(c echo.Context) error {
	list, err := a.st.Playlists(c.Request().Context(), principal(c).OwnerID())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"playlists": list})
}

func (a *API) getPlaylist(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	p, err := a.st.Playlist(c.Request().Context(), id, principal(c).OwnerID())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, p)
}

func (a *API) savePlaylist(c echo.Context) error {
	var id int64
	if c.Param("id") != "" {
		var err error
		if id, err = pathID(c, "id"); err != nil {
			return err
		}
	}
	var req playlistRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	p, err := a.st.SavePlaylist(c.Request().Context(), store.Playlist{ID: id, OwnerID: principal(c).OwnerID(), Name: req.Name, Items: req.Items}, a.now())
	if err != nil {
		return err
	}
	if id == 0 {
		return c.JSON(http.StatusCreated, p)
	}
	if a.live != nil {
		a.live.PlaylistChanged(p.ID)
	}
	return c.JSON(http.StatusOK, p)
}

// maxMedia bounds an uploaded image or video: short clips for a waiting
// room, not films.
const maxMedia = 50 << 20

// mediaTypes are the uploads the screens can show, by content type, with
// the extension they are served under.
var mediaTypes = map[string]string{
	"image/png": ".png", "image/jpeg": ".jpg", "image/webp": ".webp", "image/gif": ".gif", "image/svg+xml": ".svg",
	"video/mp4": ".mp4", "video/webm": ".webm",
}

// uploadMedia takes the file as the raw body, its type in Content-Type and
// its name in ?name=; the file is stored under its SHA-256.
func (a *API) uploadMedia(c echo.Context) error {
	if a.opt.MediaDir == "" {
		return fault.New(fault.Unavailable, "media_unavailable", "this appliance keeps no media")
	}
	mt, _, err := mime.ParseMediaType(c.Request().Header.Get("Content-Type"))
	ext, ok := mediaTypes[mt]
	if err != nil || !ok {
		return fault.New(fault.UnsupportedMedia, "unsupported_media_type", "upload a PNG, JPEG, WebP, GIF or SVG image, or an MP4 or WebM video")
	}
	if err := os.MkdirAll(a.opt.MediaDir, 0o750); err != nil {
		return fmt.Errorf("media directory: %w", err)
	}
	tmp, err := os.CreateTemp(a.opt.MediaDir, ".upload-*")
	if err != nil {
		return fmt.Errorf("media upload: %w", err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), io.LimitReader(c.Request().Body, maxMedia+1))
	if err != nil {
		return fault.New(fault.BadRequest, "upload_failed", "the upload was interrupted: try again")
	}
	if n > maxMedia {
		return fault.New(fault.TooLarge, "body_too_large", "a media file is at most 50 MB")
	}
	if n == 0 {
		return fault.New(fault.Invalid, "empty_file", "the file is empty")
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("media upload: %w", err)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	if err := os.Rename(tmp.Name(), filepath.Join(a.opt.MediaDir, sum+ext)); err != nil {
		return fmt.Errorf("media upload: %w", err)
	}
	name := c.QueryParam("name")
	if name == "" {
		name = sum[:12] + ext
	}
	m, err := a.st.AddMedia(c.Request().Context(), store.Media{OwnerID: principal(c).OwnerID(), Name: name, ContentType: mt, SHA256: sum, Size: n}, a.now())
	if err != nil {
		return err
	}
	m.URL = "/media/" + sum + ext
	return c.JSON(http.StatusCreated, m)
}

var mediaNameRE = regexp.MustCompile(`^([0-9a-f]{64})(\.[a-z0-9]{2,4})$`)

// serveMedia serves an upload. Files never change (their name is their
// hash), so they are cached for a year; SVG is sandboxed, so that an
// uploaded image can never run script in the appliance's origin.
func (a *API) serveMedia(c echo.Context) error {
	m := mediaNameRE.FindStringSubmatch(c.Param("name"))
	if m == nil || a.opt.MediaDir == "" {
		return fault.New(fault.NotFound, "not_found", "no such media file")
	}
	rec, ok, err := a.st.MediaByHash(c.Request().Context(), m[1])
	if err != nil {
		return err
	}
	if !ok || mediaTypes[rec.ContentType] != m[2] {
		return fault.New(fault.NotFound, "not_found", "no such media file")
	}
	f, err := os.Open(filepath.Join(a.opt.MediaDir, m[1]+m[2]))
	if errors.Is(err, os.ErrNotExist) {
		return fault.New(fault.NotFound, "not_found", "no such media file")
	}
	if err != nil {
		return fmt.Errorf("media: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("media: %w", err)
	}
	h := c.Response().Header()
	h.Set("Content-Type", rec.ContentType)
	h.Set("Cache-Control", "public, max-age=31536000, immutable")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; img-src 'self'; media-src 'self'; style-src 'unsafe-inline'; sandbox")
	http.ServeContent(c.Response(), c.Request(), "", st.ModTime(), f)
	return nil
}

// WebSocket endpoints. The handshake is refused with a JSON 401/403 before
// the upgrade when the credential is missing or of the wrong kind (the
// route's allow middleware).

func (a *API) wsDisplay(c echo.Context) error {
	d, err := a.thisDevice(c)
	if err != nil {
		return err
	}
	a.serveWS(c, func(w http.ResponseWriter, r *http.Request) error { return a.live.ServeDisplay(w, r, d) })
	return nil
}

func (a *API) wsKiosk(c echo.Context) error {
	d, err := a.thisDevice(c)
	if err != nil {
		return err
	}
	a.serveWS(c, func(w http.ResponseWriter, r *http.Request) error { return a.live.ServeKiosk(w, r, d) })
	return nil
}

func (a *API) wsDesk(c echo.Context) error {
	owner, user := principal(c).OwnerID(), principal(c).User.ID
	a.serveWS(c, func(w http.ResponseWriter, r *http.Request) error { return a.live.ServeDesk(w, r, owner, user) })
	return nil
}

func (a *API) serveWS(c echo.Context, serve func(http.ResponseWriter, *http.Request) error) {
	if a.live == nil {
		c.Error(fault.New(fault.Unavailable, "realtime_unavailable", "live updates are not available"))
		return
	}
	if err := serve(c.Response(), c.Request()); err != nil {
		a.log.Debug("websocket ended", "path", c.Path(), "err", err)
	}
}

// deskViews is what the desk consoles get of an owner's desks.
func (a *API) deskViews(ctx context.Context, ownerID int64) (any, error) {
	list, err := a.st.Desks(ctx, ownerID)
	if err != nil {
		return nil, err
	}
	out := make([]deskView, 0, len(list))
	for _, d := range list {
		v, err := a.deskView(ctx, d)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// Hooks called after the store committed: the screens and consoles follow.

func (a *API) notifyDesk(ctx context.Context, d store.Desk) {
	if a.live == nil {
		return
	}
	v, err := a.deskView(ctx, d)
	if err != nil {
		a.log.Warn("desk view for live update", "desk", d.ID, "err", err)
		return
	}
	a.live.DeskChanged(d.OwnerID, v)
}

func (a *API) notifyQueue(ctx context.Context, serviceID int64) {
	if a.live == nil {
		return
	}
	svc, err := a.st.Service(ctx, serviceID)
	if err != nil {
		return
	}
	a.live.QueueChanged(svc.OwnerID)
}

func (a *API) notifyCall(callID int64) {
	if a.live != nil && callID != 0 {
		a.live.Called(callID)
	}
}
