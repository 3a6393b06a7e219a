// Package server runs the appliance: the HTTP API and the background jobs
// that keep slots, expiries and personal-data retention up to date.
package server

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"avanti/appliance/api"
	"avanti/appliance/auth"
	"avanti/appliance/backup"
	"avanti/appliance/clock"
	"avanti/appliance/config"
	"avanti/appliance/live"
	"avanti/appliance/metrics"
	"avanti/appliance/realtime"
	"avanti/appliance/store"
	"avanti/appliance/tlsca"
	"avanti/appliance/voice"
)

// Version is set at build time.
var Version = "dev"

// Server is a running appliance.
type Server struct {
	Store   *store.Store
	Clock   clock.Clock
	Config  config.Config
	Handler http.Handler
	Live    *live.Live
	Hub     *realtime.Hub
	Setup   *api.SetupCode // first-boot setup, when the database was empty
	log     *slog.Logger
}

// Mounts are the browser faces (signage, kiosk, console) served beside the
// API, by path prefix ("/display/"). The core never imports them: the
// command that builds the binary hands them in.
type Mounts map[string]http.Handler

// New wires the appliance from its configuration and an open store.
func New(cfg config.Config, st *store.Store, clk clock.Clock, log *slog.Logger, mounts Mounts) (*Server, error) {
	if clk == nil {
		clk = clock.Real{}
	}
	if log == nil {
		log = slog.Default()
	}
	hub, err := realtime.New(realtime.Options{Logger: log, Clock: clk.Now})
	if err != nil {
		return nil, fmt.Errorf("realtime hub: %w", err)
	}
	m := metrics.New()
	lv := live.New(live.Options{Store: st, Hub: hub, Clock: clk, Version: RunVersion(), Logger: log})
	m.Registry.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "avanti_devices_silent",
			Help: "Active displays with no contact for more than 30 seconds."}, func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			n, err := st.SilentDisplays(ctx, clk.Now())
			if err != nil {
				return -1
			}
			return float64(n)
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "avanti_websocket_connections",
			Help: "Open WebSocket connections (screens, totems, consoles)."}, func() float64 { return float64(hub.Stats().Connections) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "avanti_backup_verified_age_seconds",
			Help: "Age of the newest verified backup (-1: none); alert above 26 hours."}, func() float64 {
			s, err := backup.ReadStatus(backup.Options{Dir: cfg.BackupDir()})
			if err != nil || s.LastVerified == nil {
				return -1
			}
			return clk.Now().Sub(s.LastVerified.CreatedAt).Seconds()
		}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "avanti_websocket_slow_drops_total",
			Help: "WebSocket clients dropped because they could not keep up."}, func() float64 { return float64(hub.Stats().SlowDrops) }),
	)
	// An empty database is a new appliance: first-boot setup, guarded by a
	// code shown on the VM's console (agetty shows /etc/issue.d/*.issue;
	// provisioning links avanti.issue to the service's runtime directory).
	var setup *api.SetupCode
	if empty, err := st.Empty(context.Background()); err != nil {
		return nil, err
	} else if empty {
		files := []string{filepath.Join(cfg.DataDir, "setup-code")}
		if rt := os.Getenv("RUNTIME_DIRECTORY"); rt != "" {
			files = append(files, filepath.Join(rt, "setup.issue"))
		}
		if setup, err = api.NewSetupCode(files...); err != nil {
			return nil, err
		}
		log.Warn("first-boot setup: open /console/setup with the code shown on the console", "code_file", files[0])
	}
	// The appliance's own CA (and a certificate an admin uploads in place of
	// its own) live in data_dir/tls only with tls_cert_file: auto.
	tlsDir := ""
	if cfg.TLSCertFile == "auto" {
		tlsDir = filepath.Join(cfg.DataDir, "tls")
	}
	e := api.New(nil, api.Options{
		Store: st, Clock: clk, Metrics: m, Logger: log, Version: Version,
		Auth: auth.Settings{MaxFailures: cfg.LoginFailures, LockFor: cfg.LoginLockout,
			SessionIdle: cfg.SessionIdle, SessionAbsolute: cfg.SessionMax, Directory: &cfg.Directory},
		CookieSecure: cfg.CookieSecure, MetricsToken: cfg.MetricsToken, HorizonDays: cfg.HorizonDays,
		Live: lv, MediaDir: filepath.Join(cfg.DataDir, "media"), BaseURL: cfg.BaseURL, TLSDir: tlsDir,
		Setup: setup, SystemDir: filepath.Join(cfg.DataDir, "system"),
		MaintKeyDir: cfg.MaintKeyDir(), UpdateHistory: cfg.UpdateHistoryPath(), BackupDir: cfg.BackupDir(),
		BackupOffsite: cfg.Backup.Offsite != nil && cfg.Backup.Offsite.Addr != "",
	})
	synth, err := voice.New(voice.Options{CacheDir: filepath.Join(cfg.DataDir, "voice")})
	if err != nil {
		return nil, fmt.Errorf("voice: %w", err)
	}
	vh := voice.Handler(synth)
	e.GET("/voice/announcement", echo.WrapHandler(vh))
	e.HEAD("/voice/announcement", echo.WrapHandler(vh))
	for prefix, h := range mounts {
		prefix = strings.TrimSuffix(prefix, "/")
		e.GET(prefix, func(c echo.Context) error { return c.Redirect(http.StatusMovedPermanently, prefix+"/") })
		e.Any(prefix+"/*", echo.WrapHandler(http.StripPrefix(prefix+"/", h)))
	}
	return &Server{Store: st, Clock: clk, Config: cfg, Handler: e, Live: lv, Hub: hub, Setup: setup, log: log}, nil
}

var (
	runVersion string
	runOnce    sync.Once
)

// RunVersion is the version the screens compare to reload themselves after
// an update: Version, or for a development build a digest of the binary.
func RunVersion() string {
	runOnce.Do(func() {
		runVersion = Version
		if Version != "dev" {
			return
		}
		exe, err := os.Executable()
		if err != nil {
			return
		}
		f, err := os.Open(exe)
		if err != nil {
			return
		}
		defer f.Close()
		h := sha256.New()
		if _, err := io.Copy(h, f); err == nil {
			runVersion = "dev+" + hex.EncodeToString(h.Sum(nil))[:12]
		}
	})
	return runVersion
}

// Close stops the live updates: every screen is told the appliance is going
// away (it reconnects to the next one).
func (s *Server) Close() {
	s.Hub.Close()
	s.Live.Close()
}

// Serve listens and serves until ctx ends, then shuts down gracefully.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: s.Handler, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 60 * time.Second, IdleTimeout: 120 * time.Second}
	go s.jobs(ctx)
	go s.alerts(ctx)
	errc := make(chan error, 1)
	if s.Config.TLSCertFile != "" {
		// Staff passwords and session cookies cross the municipal LAN.
		certFile, keyFile := s.Config.TLSCertFile, s.Config.TLSKeyFile
		if certFile == "auto" {
			var err error
			if certFile, keyFile, err = tlsca.Ensure(filepath.Join(s.Config.DataDir, "tls"), tlsca.Names(), time.Now()); err != nil {
				return err
			}
		}
		rl, err := tlsca.NewReloader(certFile, keyFile)
		if err != nil {
			return err
		}
		srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: rl.GetCertificate}
		go func() { errc <- srv.ServeTLS(ln, "", "") }()
		if s.Config.RedirectHTTP != "" {
			redirect := &http.Server{Addr: s.Config.RedirectHTTP, ReadHeaderTimeout: 5 * time.Second,
				Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					// The CA certificate is public and checked by its
					// fingerprint (on the VM's console): offered over plain
					// HTTP too, so a PC can fetch it before it trusts HTTPS.
					if r.URL.Path == "/ca.crt" && s.Config.TLSCertFile == "auto" && r.Method == http.MethodGet {
						if b, err := os.ReadFile(filepath.Join(s.Config.DataDir, "tls", "ca.crt")); err == nil {
							w.Header().Set("Content-Type", "application/x-x509-ca-cert")
							w.Header().Set("Content-Disposition", `attachment; filename="avanti-ca.crt"`)
							w.Write(b)
							return
						}
					}
					host, _, err := net.SplitHostPort(r.Host)
					if err != nil {
						host = r.Host
					}
					if _, port, _ := net.SplitHostPort(ln.Addr().String()); port != "443" {
						host = net.JoinHostPort(host, port)
					}
					http.Redirect(w, r, "https://"+host+r.URL.RequestURI(), http.StatusMovedPermanently)
				})}
			go func() {
				if err := redirect.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
					s.log.Error("HTTP redirect", "listen", s.Config.RedirectHTTP, "err", err)
				}
			}()
			defer redirect.Close()
		}
	} else {
		go func() { errc <- srv.Serve(ln) }()
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	// WebSockets are hijacked connections that Shutdown does not wait for:
	// close them first, with a "going away" the screens understand.
	s.Close()
	shut, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shut); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// RegenerateAll extends every service's slots to the horizon.
func (s *Server) RegenerateAll(ctx context.Context) error {
	list, err := s.Store.Services(ctx, 0)
	if err != nil {
		return err
	}
	for _, svc := range list {
		r, err := s.Store.RegenerateSlots(ctx, svc.ID, s.Clock.Now(), s.Config.HorizonDays)
		if err != nil {
			return fmt.Errorf("slots of %s: %w", svc.Name, err)
		}
		if r.Added+r.Removed+r.Closed > 0 {
			s.log.Info("slots regenerated", "service", svc.Name, "added", r.Added, "removed", r.Removed, "closed", r.Closed)
		}
	}
	return nil
}

// jobs runs the periodic housekeeping: slot horizon (at start, then every
// 6 hours), expiry of bookings nobody checked in for (every 30 s), and the
// erasure of personal data past retention with old sessions and keys (hourly).
func (s *Server) jobs(ctx context.Context) {
	run := func(name string, fn func(context.Context) error) {
		if err := fn(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("background job failed", "job", name, "err", err)
		}
	}
	regen := func(ctx context.Context) error { return s.RegenerateAll(ctx) }
	expire := func(ctx context.Context) error {
		_, err := s.Store.ExpireOverdue(ctx, s.Clock.Now())
		return err
	}
	purge := func(ctx context.Context) error {
		now := s.Clock.Now()
		n, err := s.Store.PurgePersonalData(ctx, now, time.Duration(s.Config.RetentionDays)*24*time.Hour)
		if err != nil {
			return err
		}
		if n > 0 {
			s.log.Info("personal data erased past retention", "tickets", n)
		}
		if err := s.Store.DeleteExpiredSessions(ctx, now); err != nil {
			return err
		}
		return s.Store.IdemPurge(ctx, now, 48*time.Hour)
	}
	renew := func(context.Context) error { return s.RenewCertificate() }
	run("slots", regen)
	run("expire", expire)
	run("purge", purge)
	fast, slow, slots := time.NewTicker(30*time.Second), time.NewTicker(time.Hour), time.NewTicker(6*time.Hour)
	certs := time.NewTicker(5 * time.Minute)
	defer fast.Stop()
	defer slow.Stop()
	defer slots.Stop()
	defer certs.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-fast.C:
			run("expire", expire)
		case <-slow.C:
			run("purge", purge)
		case <-slots.C:
			run("slots", regen)
		case <-certs.C:
			run("certificate", renew)
		}
	}
}

// RenewCertificate keeps the appliance's own server certificate (with
// tls_cert_file auto) valid for its names and addresses while it runs: a
// new address from DHCP, or a month before it expires, makes a new one,
// which the server picks up at the next connection. One from the municipal
// CA is left alone. Without auto it does nothing.
func (s *Server) RenewCertificate() error {
	if s.Config.TLSCertFile != "auto" {
		return nil
	}
	_, _, err := tlsca.Ensure(filepath.Join(s.Config.DataDir, "tls"), tlsca.Names(), s.Clock.Now())
	return err
}
