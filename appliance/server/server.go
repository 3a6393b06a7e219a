// Package server runs the appliance: the HTTP API and the background jobs
// that keep slots, expiries and personal-data retention up to date.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"avanti/appliance/api"
	"avanti/appliance/auth"
	"avanti/appliance/clock"
	"avanti/appliance/config"
	"avanti/appliance/metrics"
	"avanti/appliance/store"
)

// Version is set at build time.
var Version = "dev"

// Server is a running appliance.
type Server struct {
	Store   *store.Store
	Clock   clock.Clock
	Config  config.Config
	Handler http.Handler
	log     *slog.Logger
}

// New wires the appliance from its configuration and an open store.
func New(cfg config.Config, st *store.Store, clk clock.Clock, log *slog.Logger) *Server {
	if clk == nil {
		clk = clock.Real{}
	}
	e := api.New(nil, api.Options{
		Store: st, Clock: clk, Metrics: metrics.New(), Logger: log, Version: Version,
		Auth: auth.Settings{MaxFailures: cfg.LoginFailures, LockFor: cfg.LoginLockout,
			SessionIdle: cfg.SessionIdle, SessionAbsolute: cfg.SessionMax},
		CookieSecure: cfg.CookieSecure, MetricsToken: cfg.MetricsToken, HorizonDays: cfg.HorizonDays,
	})
	return &Server{Store: st, Clock: clk, Config: cfg, Handler: e, log: log}
}

// Serve listens and serves until ctx ends, then shuts down gracefully.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: s.Handler, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 60 * time.Second, IdleTimeout: 120 * time.Second}
	go s.jobs(ctx)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
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
	run("slots", regen)
	run("expire", expire)
	run("purge", purge)
	fast, slow, slots := time.NewTicker(30*time.Second), time.NewTicker(time.Hour), time.NewTicker(6*time.Hour)
	defer fast.Stop()
	defer slow.Stop()
	defer slots.Stop()
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
		}
	}
}
