// Package api is the appliance's JSON API under /api/v1: thin handlers that
// decode, call the store, and encode. Errors are always
// {"error":{"code","message","field"}} with a stable code.
package api

import (
	_ "embed"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"avanti/appliance/agenda"
	"avanti/appliance/auth"
	"avanti/appliance/clock"
	"avanti/appliance/fault"
	"avanti/appliance/live"
	"avanti/appliance/metrics"
	"avanti/appliance/store"
)

// OpenAPI is the API's description, served at /api/v1/openapi.yaml.
//
//go:embed openapi.yaml
var OpenAPI []byte

// Options configure the API.
type Options struct {
	Store        *store.Store
	Clock        clock.Clock
	Metrics      *metrics.Metrics
	Auth         auth.Settings
	CookieSecure string // "auto" (when the request came over TLS), "always", "never"
	MetricsToken string // if set, /metrics needs "Authorization: Bearer <token>"
	Version      string
	Logger       *slog.Logger
	HorizonDays  int // days of slots kept ahead when an agenda changes
	// Live publishes to the screens and consoles and serves /ws/*; nil
	// leaves the appliance without live updates (some tests).
	Live     *live.Live
	MediaDir string // where uploaded images and videos are kept
	BaseURL  string // the appliance's public URL (ticket QR codes); empty: the request's host
	TLSDir   string // with tls_cert_file auto: the own CA (tlsca) for /ca.crt, and where an uploaded certificate goes
	// Setup guards the first-boot setup of an empty appliance; nil: none.
	Setup     *SetupCode
	SystemDir string // where setup writes time servers and network for root to apply
	// MaintKeyDir holds the maintenance agent's key pair (its public key is
	// shown to the admin); UpdateHistory is the update log (a file: a
	// rollback restores the database).
	MaintKeyDir   string
	UpdateHistory string
	BackupDir     string // where backups are (status only: no database access)
	BackupOffsite bool   // an off-site copy is configured (backup.offsite)
}

// API holds the handlers' dependencies.
type API struct {
	st   *store.Store
	clk  clock.Clock
	m    *metrics.Metrics
	opt  Options
	log  *slog.Logger
	live *live.Live
}

// maxBody bounds every request body: nothing the API takes is larger.
const maxBody = "64K"

// New builds the HTTP handler of the API and the appliance's health and
// metrics endpoints onto e (a new echo when e is nil).
func New(e *echo.Echo, opt Options) *echo.Echo {
	if e == nil {
		e = echo.New()
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.Clock == nil {
		opt.Clock = clock.Real{}
	}
	if opt.HorizonDays == 0 {
		opt.HorizonDays = agenda.DefaultHorizonDays
	}
	if opt.Metrics == nil {
		opt.Metrics = metrics.New()
	}
	a := &API{st: opt.Store, clk: opt.Clock, m: opt.Metrics, opt: opt, log: opt.Logger, live: opt.Live}
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = a.handleError
	// csrf and idempotent are no-ops for GET and for callers without a
	// session or key, so they run for every route: as middleware of the
	// /api/v1 group they would make echo answer a known path with a wrong
	// method 404 instead of 405 (labstack/echo#1981).
	e.Use(a.recoverJSON, hsts, a.observe, middleware.BodyLimitWithConfig(middleware.BodyLimitConfig{
		Limit: maxBody,
		// Uploads have their own, larger, limit.
		Skipper: rawUpload,
	}), a.identify, a.csrf, a.idempotent)

	e.GET("/healthz", a.health)
	e.GET("/ca.crt", a.caCert)
	e.GET("/metrics", a.metrics)

	v1 := e.Group("/api/v1")
	v1.GET("/openapi.yaml", func(c echo.Context) error { return c.Blob(http.StatusOK, "application/yaml", OpenAPI) })

	v1.GET("/setup", a.setupState)
	v1.POST("/setup", a.runSetup)
	v1.POST("/auth/login", a.login)
	v1.POST("/auth/logout", a.logout)
	v1.GET("/auth/me", a.me, a.allow(staff...))
	v1.POST("/auth/password", a.changePassword, a.allow(staff...))

	admin := a.allow(store.RoleAdmin)
	planners := a.allow(store.RoleAdmin, store.RoleBackoffice)
	v1.GET("/org", a.getOrg, admin)
	v1.PUT("/owner", a.putOwner, admin)
	v1.POST("/sites", a.saveSite, admin)
	v1.PUT("/sites/:id", a.saveSite, admin)
	v1.POST("/rooms", a.saveRoom, admin)
	v1.PUT("/rooms/:id", a.saveRoom, admin)
	v1.POST("/desks", a.saveDesk, admin)
	v1.PUT("/desks/:id", a.saveDesk, admin)
	v1.GET("/users", a.listUsers, admin)
	v1.POST("/users", a.saveUser, admin)
	v1.PUT("/users/:id", a.saveUser, admin)
	v1.PUT("/devices/:id", a.updateDevice, admin)
	v1.GET("/audit", a.auditLog, admin)
	v1.GET("/maintenance", a.maintenance, admin)
	v1.POST("/maintenance/windows", a.openWindow, admin)
	v1.POST("/maintenance/windows/:id/close", a.closeWindow, admin)
	v1.GET("/updates", a.updates, admin)
	v1.GET("/backups", a.backups, admin)
	v1.GET("/tls", a.getTLS, admin)
	v1.PUT("/tls", a.putTLS, admin)
	v1.GET("/stats", a.stats, planners)
	v1.PATCH("/slots/:id", a.patchSlot, planners)
	v1.GET("/pause-reasons", a.pauseReasons, a.allow(staff...))

	v1.GET("/services", a.listServices)
	v1.POST("/services", a.createService, a.allow(store.RoleAdmin))
	v1.GET("/services/:id", a.getService)
	v1.GET("/services/:id/availability", a.availability)
	v1.GET("/services/:id/punctuality", a.punctuality)
	v1.GET("/services/:id/agendas", a.listAgendas, a.allow(store.RoleAdmin, store.RoleBackoffice))
	v1.POST("/services/:id/agendas", a.saveAgenda, a.allow(store.RoleAdmin, store.RoleBackoffice))
	v1.PUT("/services/:id/agendas/:agenda_id", a.saveAgenda, a.allow(store.RoleAdmin, store.RoleBackoffice))
	v1.POST("/services/:id/agendas/preview", a.previewAgenda, a.allow(store.RoleAdmin, store.RoleBackoffice))
	v1.PUT("/services/:id", a.updateService, a.allow(store.RoleAdmin))
	v1.GET("/services/:id/workplan", a.getWorkPlan, a.allow(store.RoleAdmin, store.RoleBackoffice))
	v1.GET("/services/:id/workplan.csv", a.workPlanCSV, a.allow(store.RoleAdmin, store.RoleBackoffice))
	v1.GET("/services/:id/workplan.xlsx", a.workPlanXLSX, a.allow(store.RoleAdmin, store.RoleBackoffice))

	v1.POST("/tickets", a.book, a.allow(roleAnonymous, roleKiosk, store.RoleAdmin, store.RoleBackoffice, store.RoleOperator))
	v1.GET("/tickets/:token", a.getTicket)
	v1.POST("/tickets/:token/checkin", a.checkIn, a.allow(roleKiosk, store.RoleAdmin, store.RoleBackoffice, store.RoleOperator))
	v1.POST("/tickets/:token/revoke", a.revoke, a.allow(roleAnonymous, roleKiosk, store.RoleAdmin, store.RoleBackoffice, store.RoleOperator))
	v1.POST("/tickets/:token/move", a.moveTicket, a.allow(roleAnonymous, roleKiosk, store.RoleAdmin, store.RoleBackoffice, store.RoleOperator))
	v1.GET("/tickets/:token/print", a.ticketPrint)
	v1.GET("/tickets/:token/qr.png", a.ticketQR)
	v1.POST("/tickets/:token/print", a.printTicket, a.allow(roleKiosk))
	e.GET("/t/:token", a.ticketLink)

	kiosk := a.allow(roleKiosk)
	v1.GET("/kiosk", a.getKiosk, kiosk)
	v1.GET("/kiosk/printer", a.kioskPrinter, kiosk)
	v1.POST("/kiosk/identify", a.kioskIdentify, kiosk)
	v1.POST("/kiosk/checkin", a.kioskCheckin, kiosk)
	v1.POST("/scan", a.scanCode, kiosk)

	v1.GET("/desks", a.listDesks, a.allow(staff...))
	v1.GET("/desks/:id", a.getDesk, a.allow(staff...))
	v1.GET("/desks/:id/upcoming", a.upcoming, a.allow(staff...))
	desk := a.allow(store.RoleAdmin, store.RoleOperator)
	v1.POST("/desks/:id/open", a.openDesk, desk)
	v1.POST("/desks/:id/call-next", a.callNext, desk)
	v1.POST("/desks/:id/recall", a.deskTicketAction("recall"), desk)
	v1.POST("/desks/:id/start", a.deskTicketAction("start"), desk)
	v1.POST("/desks/:id/finish", a.deskTicketAction("finish"), desk)
	v1.POST("/desks/:id/no-show", a.deskTicketAction("no_show"), desk)
	v1.POST("/desks/:id/transfer", a.transfer, desk)
	v1.POST("/desks/:id/pause", a.pause, desk)
	v1.POST("/desks/:id/resume", a.deskStateAction("resume"), desk)
	v1.POST("/desks/:id/close", a.deskStateAction("close"), desk)

	devices := a.allow(roleDisplay, roleKiosk)
	v1.GET("/device", a.getDevice, devices)
	v1.POST("/pairing", a.startPairing)
	v1.GET("/pairing/:secret", a.pollPairing)
	v1.POST("/devices/pair", a.pairDevice, a.allow(store.RoleAdmin))
	v1.GET("/devices", a.listDevices, a.allow(store.RoleAdmin, store.RoleBackoffice))
	v1.PUT("/devices/:id/settings", a.putDeviceSettings, a.allow(store.RoleAdmin))
	v1.GET("/playlists", a.listPlaylists, a.allow(store.RoleAdmin))
	v1.POST("/playlists", a.savePlaylist, a.allow(store.RoleAdmin))
	v1.GET("/playlists/:id", a.getPlaylist, a.allow(store.RoleAdmin))
	v1.PUT("/playlists/:id", a.savePlaylist, a.allow(store.RoleAdmin))
	v1.POST("/media", a.uploadMedia, a.allow(store.RoleAdmin))
	e.GET("/media/:name", a.serveMedia)

	e.GET("/ws/display", a.wsDisplay, a.allow(roleDisplay))
	e.GET("/ws/kiosk", a.wsKiosk, a.allow(roleKiosk))
	e.GET("/ws/desk", a.wsDesk, a.allow(staff...))
	if opt.Live != nil {
		opt.Live.SetDeskViews(a.deskViews)
	}
	return e
}

func (a *API) now() time.Time { return a.clk.Now() }

func (a *API) health(c echo.Context) error {
	if err := a.st.Ping(c.Request().Context()); err != nil {
		a.log.Error("health check: database unreachable", "err", err)
		return c.JSON(http.StatusServiceUnavailable, map[string]any{"status": "unavailable", "database": "unreachable"})
	}
	return c.JSON(http.StatusOK, map[string]any{"status": "ok", "database": "ok", "version": a.opt.Version})
}

func (a *API) metrics(c echo.Context) error {
	if a.opt.MetricsToken != "" && c.Request().Header.Get("Authorization") != "Bearer "+a.opt.MetricsToken {
		return errUnauthenticated
	}
	promhttp.HandlerFor(a.m.Registry, promhttp.HandlerOpts{}).ServeHTTP(c.Response(), c.Request())
	return nil
}

// observe counts requests by route pattern (never by raw path: tokens are
// in some paths and must not become label values).
func (a *API) observe(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		route := c.Path()
		if route == "" {
			route = "unmatched"
		}
		status := c.Response().Status
		a.m.Requests.WithLabelValues(route, http.StatusText(status)).Inc()
		a.m.RequestDuration.WithLabelValues(route).Observe(time.Since(start).Seconds())
		return nil
	}
}

// hsts tells browsers that reached the appliance over HTTPS to never use
// plain HTTP for it again.
func hsts(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if c.IsTLS() {
			c.Response().Header().Set("Strict-Transport-Security", "max-age=31536000")
		}
		return next(c)
	}
}

// caCert offers the appliance's own certificate authority for download:
// installed once on the municipality's PCs, browsers trust the appliance.
func (a *API) caCert(c echo.Context) error {
	if a.opt.TLSDir == "" {
		return fault.New(fault.NotFound, "not_found", "this appliance has no certificate authority of its own")
	}
	b, err := os.ReadFile(filepath.Join(a.opt.TLSDir, "ca.crt"))
	if err != nil {
		return fault.New(fault.NotFound, "not_found", "this appliance has no certificate authority of its own")
	}
	c.Response().Header().Set("Content-Disposition", `attachment; filename="avanti-ca.crt"`)
	return c.Blob(http.StatusOK, "application/x-x509-ca-cert", b)
}
