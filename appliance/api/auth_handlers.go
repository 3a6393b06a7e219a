package api

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"avanti/appliance/auth"
	"avanti/appliance/fault"
)

type loginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

type meResponse struct {
	ID          int64   `json:"id"`
	Username    string  `json:"username"`
	DisplayName string  `json:"display_name"`
	Email       string  `json:"email,omitempty"`
	Role        string  `json:"role"`
	OwnerID     int64   `json:"owner_id"`
	Source      string  `json:"source"`
	ServiceIDs  []int64 `json:"service_ids"`
	CSRFToken   string  `json:"csrf_token"`
	ServerTime  string  `json:"server_time"`
	TimeZone    string  `json:"time_zone"`
}

// meOf is the signed-in user as the console needs it: with where the
// password is checked and the services assigned to an operator.
func (a *API) meOf(ctx context.Context, p auth.Principal) (meResponse, error) {
	info, err := a.st.UserInfo(ctx, p.User.ID)
	if err != nil {
		return meResponse{}, err
	}
	tz := "Europe/Rome"
	if _, site, err := a.st.SiteOf(ctx, p.User.OwnerID); err == nil && site.Timezone != "" {
		tz = site.Timezone
	}
	return meResponse{ID: p.User.ID, Username: p.User.Username, DisplayName: p.User.DisplayName, Email: info.Email, Role: p.User.Role,
		OwnerID: p.User.OwnerID, Source: info.Source, ServiceIDs: info.ServiceIDs, CSRFToken: p.CSRF,
		ServerTime: a.now().UTC().Format(time.RFC3339), TimeZone: tz}, nil
}

func (a *API) login(c echo.Context) error {
	var req loginRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	if req.Username == "" {
		return fault.Field("username", "required", "username is required")
	}
	if req.Password == "" {
		return fault.Field("password", "required", "password is required")
	}
	p, err := auth.Login(c.Request().Context(), a.st, a.opt.Auth, req.Username, req.Password, a.now())
	if err != nil {
		if f, ok := fault.As(err); ok {
			if f.Code == "directory_unavailable" {
				a.log.Warn("login: directory unavailable", "username", req.Username, "err", err)
			} else {
				a.log.Info("login refused", "username", req.Username, "code", f.Code, "ip", c.RealIP())
			}
		}
		return err
	}
	a.log.Info("login", "username", req.Username, "role", p.User.Role, "ip", c.RealIP())
	c.SetCookie(&http.Cookie{Name: sessionCookie, Value: p.Session, Path: "/", HttpOnly: true,
		Secure: a.secure(c), SameSite: http.SameSiteStrictMode, MaxAge: int(a.opt.Auth.SessionAbsolute.Seconds())})
	me, err := a.meOf(c.Request().Context(), p)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, me)
}

func (a *API) logout(c echo.Context) error {
	p := principal(c)
	if p.Kind == auth.KindUser {
		if err := a.st.DeleteSession(c.Request().Context(), p.Session); err != nil {
			return err
		}
	}
	clearSessionCookie(c, a.secure(c))
	return c.NoContent(http.StatusNoContent)
}

func (a *API) me(c echo.Context) error {
	me, err := a.meOf(c.Request().Context(), principal(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, me)
}
