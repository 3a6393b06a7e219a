package api

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"avanti/appliance/auth"
	"avanti/appliance/fault"
	"avanti/appliance/store"
)

const (
	sessionCookie = "avanti_session"
	deviceCookie  = "avanti_device"
	principalKey  = "principal"
	roleAnonymous = auth.KindAnonymous
	roleKiosk     = "kiosk"
	roleDisplay   = "display"
)

var staff = []string{store.RoleAdmin, store.RoleBackoffice, store.RoleOperator}

func principal(c echo.Context) auth.Principal {
	p, _ := c.Get(principalKey).(auth.Principal)
	if p.Kind == "" {
		p.Kind = auth.KindAnonymous
	}
	return p
}

// identify resolves who is calling: a device bearer token, or a session
// cookie. A credential that is presented but wrong is an error, not
// silently anonymous.
func (a *API) identify(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		ctx, now := c.Request().Context(), a.now()
		if h := c.Request().Header.Get("Authorization"); h != "" && c.Path() != "/metrics" {
			token, ok := strings.CutPrefix(h, "Bearer ")
			if !ok {
				return fault.New(fault.Unauthorized, "invalid_token", "use Authorization: Bearer <device token>")
			}
			p, ok, err := auth.FromToken(ctx, a.st, strings.TrimSpace(token), now)
			if err != nil {
				return err
			}
			if !ok {
				return fault.New(fault.Unauthorized, "invalid_token", "this device token is not valid")
			}
			c.Set(principalKey, p)
			return next(c)
		}
		if ck, err := c.Cookie(sessionCookie); err == nil && ck.Value != "" {
			p, ok, err := auth.FromSession(ctx, a.st, a.opt.Auth, ck.Value, now)
			if err != nil {
				return err
			}
			if ok {
				c.Set(principalKey, p)
				return next(c)
			}
			clearSessionCookie(c, a.secure(c))
		}
		// A browser cannot put a header on a WebSocket handshake: devices
		// use the cookie set at pairing, scripted clients ?token=.
		if token := c.QueryParam("token"); token != "" && strings.HasPrefix(c.Request().URL.Path, "/ws/") {
			p, ok, err := auth.FromToken(ctx, a.st, token, now)
			if err != nil {
				return err
			}
			if !ok {
				return fault.New(fault.Unauthorized, "invalid_token", "this device token is not valid")
			}
			c.Set(principalKey, p)
			return next(c)
		}
		if ck, err := c.Cookie(deviceCookie); err == nil && ck.Value != "" {
			p, ok, err := auth.FromToken(ctx, a.st, ck.Value, now)
			if err != nil {
				return err
			}
			if ok {
				c.Set(principalKey, p)
			} else {
				// Unpaired or revoked: the page falls back to pairing.
				setDeviceCookie(c, "", a.secure(c))
			}
		}
		return next(c)
	}
}

// allow lets only the given roles through: 401 for an anonymous caller who
// could sign in, 403 for a principal of another role.
func (a *API) allow(roles ...string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			role := principal(c).Role()
			if slices.Contains(roles, role) {
				return next(c)
			}
			if role == roleAnonymous {
				return errUnauthenticated
			}
			return errForbidden
		}
	}
}

// csrf requires, for every state-changing request made with a session
// cookie, the session's token in X-CSRF-Token. Bearer-token devices and
// anonymous callers carry no ambient credential and need none.
func (a *API) csrf(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		p := principal(c)
		m := c.Request().Method
		if p.Kind != auth.KindUser || m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions {
			return next(c)
		}
		got := c.Request().Header.Get("X-CSRF-Token")
		if subtle.ConstantTimeCompare([]byte(got), []byte(p.CSRF)) != 1 {
			return fault.New(fault.Forbidden, "csrf_token_invalid", "missing or wrong X-CSRF-Token header: reload the page")
		}
		return next(c)
	}
}

// idempotent replays the first answer to a retried POST that carries the
// same Idempotency-Key (per caller), and refuses the key's reuse for a
// different request.
func (a *API) idempotent(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		key := c.Request().Header.Get("Idempotency-Key")
		// Sign-in answers carry a session: never stored, never replayed.
		// Uploads are not kept for replay (and not read into memory twice).
		if key == "" || c.Request().Method != http.MethodPost || strings.HasPrefix(c.Path(), "/api/v1/auth/") || rawUpload(c) {
			return next(c)
		}
		if len(key) > 200 || strings.ContainsFunc(key, func(r rune) bool { return r < ' ' || r > '~' }) {
			return fault.New(fault.BadRequest, "invalid_idempotency_key", "Idempotency-Key is at most 200 printable ASCII characters")
		}
		// Keys are exact, but the column compares text without regard to
		// case: store the key's digest.
		sum := sha256.Sum256([]byte(key))
		key = hex.EncodeToString(sum[:])
		body, err := io.ReadAll(c.Request().Body)
		if err != nil {
			return decode(c, new(struct{}))
		}
		c.Request().Body = io.NopCloser(bytes.NewReader(body))
		h := sha256.New()
		h.Write([]byte(c.Request().Method + " " + c.Request().URL.Path + "\n"))
		h.Write(body)
		who := principal(c).Name()
		if principal(c).Kind == auth.KindAnonymous {
			// Citizens have no identity of their own: keep one citizen's
			// keys apart from another's at least by address.
			who += ":" + c.RealIP()
		}
		ctx := c.Request().Context()
		deadline := time.Now().Add(15 * time.Second)
		for {
			rec, err := a.st.IdemBegin(ctx, who, key, h.Sum(nil), a.now())
			if err != nil {
				return err
			}
			switch rec.State {
			case store.IdemDone:
				c.Response().Header().Set("Idempotent-Replayed", "true")
				if rec.Status == http.StatusNoContent {
					return c.NoContent(rec.Status)
				}
				return c.JSONBlob(rec.Status, rec.Body)
			case store.IdemMismatch:
				return fault.New(fault.Invalid, "idempotency_key_reused", "this Idempotency-Key was already used for a different request")
			case store.IdemPending:
				// A double click: wait for the first request's answer.
				if time.Now().After(deadline) {
					return fault.New(fault.Conflict, "request_in_progress", "the same request is still being processed")
				}
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(25 * time.Millisecond):
				}
				continue
			}
			break
		}
		rec := &recorder{ResponseWriter: c.Response().Writer}
		c.Response().Writer = rec
		err = next(c)
		if err != nil {
			c.Error(err) // render now so the answer can be stored
		}
		st := c.Response().Status
		if st >= 500 {
			a.st.IdemRelease(ctx, who, key)
		} else if ferr := a.st.IdemFinish(ctx, who, key, st, rec.body.Bytes()); ferr != nil {
			a.log.Error("store idempotent response", "err", ferr)
		}
		return nil
	}
}

type recorder struct {
	http.ResponseWriter
	body bytes.Buffer
}

func (r *recorder) Write(b []byte) (int, error) {
	r.body.Write(b)
	return r.ResponseWriter.Write(b)
}

func (a *API) secure(c echo.Context) bool {
	switch a.opt.CookieSecure {
	case "always":
		return true
	case "never":
		return false
	}
	return c.IsTLS() || c.Request().Header.Get("X-Forwarded-Proto") == "https"
}

func clearSessionCookie(c echo.Context, secure bool) {
	c.SetCookie(&http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: secure, SameSite: http.SameSiteStrictMode})
}

// setDeviceCookie keeps a paired device's credential (empty: forget it). It
// lasts for years: a screen is paired once.
func setDeviceCookie(c echo.Context, token string, secure bool) {
	ck := &http.Cookie{Name: deviceCookie, Value: token, Path: "/", MaxAge: 10 * 365 * 24 * 3600, HttpOnly: true,
		Secure: secure, SameSite: http.SameSiteStrictMode}
	if token == "" {
		ck.MaxAge = -1
	}
	c.SetCookie(ck)
}

// rawUpload reports whether the request is a file upload with its own size
// limit (media, a camera frame) rather than a JSON body.
func rawUpload(c echo.Context) bool {
	if c.Request().Method != http.MethodPost {
		return false
	}
	switch c.Path() {
	case "/api/v1/media":
		return true
	case "/api/v1/scan":
		return strings.HasPrefix(c.Request().Header.Get("Content-Type"), "image/")
	}
	return false
}
