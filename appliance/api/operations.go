package api

import (
	"net/http"
	"os"
	"time"

	"github.com/labstack/echo/v4"

	"avanti/appliance/backup"
	"avanti/appliance/maint"
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
	out := map[string]any{"windows": list, "open": open}
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
	s, err := backup.ReadStatus(backup.Options{Dir: a.opt.BackupDir})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"configured": true, "status": s,
		"stale": backup.Stale(s, a.now()), "binlogs_stale": backup.ShipStale(s, a.now())})
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
