package api

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"slices"
	"time"

	"github.com/labstack/echo/v4"

	"avanti/appliance/backup"
	"avanti/appliance/maint"
	"avanti/appliance/store"
	"avanti/appliance/update"
)

// Operations seen from the console: remote-maintenance windows (the agent
// reaches the vendor's bastion only while one is open) and update history.

func (a *API) maintenance(c echo.Context) error {
	ctx := c.Request().Context()
	list, err := a.st.MaintWindows(ctx, principal(c).OwnerID(), 20)
	if err != nil {
		return err
	}
	open, err := a.st.CurrentMaintWindow(ctx, a.now())
	if err != nil {
		return err
	}
	sessions, err := a.maintSessions(ctx, principal(c).OwnerID())
	if err != nil {
		return err
	}
	out := map[string]any{"windows": list, "open": open, "sessions": sessions}
	if a.opt.MaintKeyDir != "" {
		// The key the vendor pins; made by the agent at first use.
		if k, err := maint.PublicKey(a.opt.MaintKeyDir); err == nil {
			out["public_key"] = k
		} else if !os.IsNotExist(err) {
			a.log.Warn("maintenance public key", "err", err)
		}
	}
	return c.JSON(http.StatusOK, out)
}

// maxSessions bounds the sessions listed: the audit log keeps them all.
const maxSessions = 20

// maintSessions are the vendor engineers' sessions, newest first, as the
// agent recorded them in the audit log (it has no table of its own): a
// session still going has no end yet.
func (a *API) maintSessions(ctx context.Context, ownerID int64) ([]maint.Session, error) {
	entries, err := a.st.AuditLog(ctx, ownerID, store.AuditFilter{Entity: "maint_window", Limit: 500})
	if err != nil {
		return nil, err
	}
	out := []maint.Session{}
	seen := map[string]bool{}
	for _, e := range entries { // newest first: a session's end before its start
		if e.Action != maint.ActionSessionEnd && e.Action != maint.ActionSessionStart {
			continue
		}
		var ev maint.Event
		if err := json.Unmarshal(e.After, &ev); err != nil || ev.Session == nil || seen[ev.Session.ID] {
			continue
		}
		seen[ev.Session.ID] = true
		s := *ev.Session
		s.Recordings = nil // paths on the appliance, of no use in a browser
		out = append(out, s)
		if len(out) == maxSessions {
			break
		}
	}
	return out, nil
}

type windowRequest struct {
	Minutes int    `json:"minutes"`
	Reason  string `json:"reason"`
}

func (a *API) openWindow(c echo.Context) error {
	var req windowRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	p := principal(c)
	w, err := a.st.OpenMaintWindow(c.Request().Context(), p.OwnerID(), p.Name(), req.Reason, time.Duration(req.Minutes)*time.Minute, a.now())
	if err != nil {
		return err
	}
	a.audit(c, "open", "maint_window", w.ID, nil, w)
	return c.JSON(http.StatusCreated, w)
}

func (a *API) closeWindow(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	if err := emptyBody(c); err != nil {
		return err
	}
	p := principal(c)
	w, err := a.st.CloseMaintWindow(c.Request().Context(), p.OwnerID(), id, p.Name(), a.now())
	if err != nil {
		return err
	}
	a.audit(c, "close", "maint_window", w.ID, nil, w)
	return c.JSON(http.StatusOK, w)
}

// backups is what the console shows of the backups: last backup, last
// verified one, sizes, off-site copy, and whether it is stale (the last
// verified backup older than 26 hours: the console shows a banner).
func (a *API) backups(c echo.Context) error {
	if a.opt.BackupDir == "" {
		return c.JSON(http.StatusOK, map[string]any{"configured": false})
	}
	opt := backup.Options{Dir: a.opt.BackupDir}
	s, err := backup.ReadStatus(opt)
	if err != nil {
		return err
	}
	s.Offsite.Configured = a.opt.BackupOffsite
	all, err := backup.List(opt)
	if err != nil {
		return err
	}
	list := make([]backupItem, 0, len(all))
	for _, m := range slices.Backward(all) {
		list = append(list, backupItem{Name: m.Name, CreatedAt: m.CreatedAt, Size: m.Size, Encrypted: m.Encrypted})
	}
	stale := backup.Stale(s, a.now())
	if stale && s.LastVerified == nil {
		// A new appliance has had no night to back up in yet: stale only
		// once it has been set up for as long as a backup may be old.
		installed, err := a.st.InstalledAt(c.Request().Context())
		if err != nil {
			return err
		}
		stale = !installed.IsZero() && a.now().Sub(installed) > backup.StaleAfter
	}
	return c.JSON(http.StatusOK, map[string]any{"configured": true, "status": s, "list": list,
		"stale": stale, "binlogs_stale": backup.ShipStale(s, a.now())})
}

// backupItem is one backup in the console's list (the manifest without
// its checksums).
type backupItem struct {
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
	Size      int64     `json:"size"`
	Encrypted bool      `json:"encrypted"`
}

func (a *API) updates(c echo.Context) error {
	history := []update.Entry{}
	if a.opt.UpdateHistory != "" {
		list, err := update.FileHistory{Path: a.opt.UpdateHistory}.List()
		if err != nil {
			return err
		}
		if list != nil {
			history = list
		}
	}
	return c.JSON(http.StatusOK, map[string]any{"version": a.opt.Version, "history": history})
}
