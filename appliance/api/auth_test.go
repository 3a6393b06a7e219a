package api_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"avanti/appliance/auth"
	"avanti/appliance/store"
	"avanti/appliance/testenv"
)

func TestSignInSessionsAndCSRF(t *testing.T) {
	t.Parallel()
	env := testenv.NewServer(t, testenv.Options{})
	cr := env.Demo.Credentials
	login := map[string]string{"username": cr.Operator.Username, "password": cr.Operator.Password}

	sessionCookie := func(t *testing.T, resp *http.Response) *http.Cookie {
		t.Helper()
		for _, c := range resp.Cookies() {
			if c.Name == "avanti_session" {
				return c
			}
		}
		t.Fatalf("no session cookie in %v", resp.Header.Values("Set-Cookie"))
		return nil
	}

	t.Run("the session cookie is HttpOnly and SameSite=Strict", func(t *testing.T) {
		resp, raw := env.Anonymous(t).Send("POST", "/api/v1/auth/login", login)
		if resp.StatusCode != 200 {
			t.Fatalf("login: %d: %s", resp.StatusCode, raw)
		}
		c := sessionCookie(t, resp)
		if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Secure || c.Path != "/" || len(c.Value) < 40 {
			t.Errorf("cookie %+v: want HttpOnly, SameSite=Strict, not Secure over plain HTTP, path /", c)
		}
		if !strings.Contains(string(raw), `"csrf_token":"`) || strings.Contains(string(raw), c.Value) {
			t.Errorf("login answer must carry the CSRF token and never the session id: %s", raw)
		}
	})

	t.Run("behind a TLS proxy the cookie is Secure", func(t *testing.T) {
		resp, raw := env.Anonymous(t).Send("POST", "/api/v1/auth/login", login, "X-Forwarded-Proto", "https")
		if resp.StatusCode != 200 {
			t.Fatalf("login: %d: %s", resp.StatusCode, raw)
		}
		if c := sessionCookie(t, resp); !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode {
			t.Errorf("cookie %+v: want Secure, HttpOnly, SameSite=Strict", c)
		}
	})

	t.Run("a wrong password or an unknown user reads the same", func(t *testing.T) {
		for _, body := range []map[string]string{
			{"username": cr.Backoffice.Username, "password": "not-the-password"},
			{"username": "nessuno", "password": "not-the-password"},
		} {
			st, raw := env.Anonymous(t).Do("POST", "/api/v1/auth/login", body)
			wantError(t, st, raw, 401, "invalid_credentials", "")
		}
	})

	t.Run("five wrong passwords lock the account, even against the right one", func(t *testing.T) {
		pw := "la-password-giusta"
		hash, err := auth.HashPassword(pw)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := env.Store.CreateUser(t.Context(), store.User{OwnerID: env.Demo.OwnerID, Username: "sportellista", DisplayName: "Sara Neri",
			Role: store.RoleOperator, PasswordHash: hash}, env.Clock.Now()); err != nil {
			t.Fatal(err)
		}
		c := env.Anonymous(t)
		for i := 1; i <= 5; i++ {
			st, raw := c.Do("POST", "/api/v1/auth/login", map[string]string{"username": "sportellista", "password": fmt.Sprintf("tentativo-%d", i)})
			if st != 401 {
				t.Fatalf("failure %d: %d, want 401 (locked only after five): %s", i, st, raw)
			}
		}
		st, raw := c.Do("POST", "/api/v1/auth/login", map[string]string{"username": "sportellista", "password": pw})
		wantError(t, st, raw, 429, "account_locked", "")
		// The lock lasts a while, then the right password works again.
		env.Clock.Advance(16 * time.Minute)
		if st, raw := c.Do("POST", "/api/v1/auth/login", map[string]string{"username": "sportellista", "password": pw}); st != 200 {
			t.Errorf("after the lockout: %d: %s", st, raw)
		}
	})

	t.Run("logout ends the session", func(t *testing.T) {
		c := env.Anonymous(t)
		resp, raw := c.Send("POST", "/api/v1/auth/login", login)
		if resp.StatusCode != 200 {
			t.Fatalf("login: %d: %s", resp.StatusCode, raw)
		}
		old := sessionCookie(t, resp)
		var me struct {
			CSRFToken string `json:"csrf_token"`
			Username  string `json:"username"`
		}
		if st := c.JSON("GET", "/api/v1/auth/me", nil, &me); st != 200 || me.Username != cr.Operator.Username {
			t.Fatalf("me: %d %+v", st, me)
		}
		c.CSRF = me.CSRFToken
		resp, raw = c.Send("POST", "/api/v1/auth/logout", nil)
		if resp.StatusCode != 204 {
			t.Fatalf("logout: %d: %s", resp.StatusCode, raw)
		}
		if cleared := sessionCookie(t, resp); cleared.MaxAge >= 0 || cleared.Value != "" {
			t.Errorf("logout must clear the cookie: %+v", cleared)
		}
		// Even a client that keeps the old cookie is no longer signed in.
		st, raw := env.Anonymous(t).Do("GET", "/api/v1/auth/me", nil, "Cookie", "avanti_session="+old.Value)
		wantError(t, st, raw, 401, "unauthenticated", "")
	})

	t.Run("a state change with the cookie needs the CSRF token", func(t *testing.T) {
		c := env.Login(t, cr.Operator.Username, cr.Operator.Password)
		good := c.CSRF
		closeDesk := fmt.Sprintf("/api/v1/desks/%d/close", env.Demo.DeskIDs[0])
		for _, token := range []string{"", "wrong", good[:len(good)-1] + "x"} {
			c.CSRF = token
			st, raw := c.Do("POST", closeDesk, nil)
			wantError(t, st, raw, 403, "csrf_token_invalid", "")
		}
		// Reading needs no token; changing with it works.
		c.CSRF = ""
		if st, raw := c.Do("GET", "/api/v1/desks", nil); st != 200 {
			t.Errorf("GET without CSRF token: %d: %s", st, raw)
		}
		c.CSRF = good
		if st, raw := c.Do("POST", closeDesk, nil); st != 200 {
			t.Errorf("POST with the CSRF token: %d: %s", st, raw)
		}
	})

	t.Run("a device token that is not valid is refused, not ignored", func(t *testing.T) {
		for _, h := range []string{"Bearer " + strings.Repeat("z", 43), "Bearer short", "Basic YWRtaW46YWRtaW4=", "Bearer"} {
			st, raw := env.Anonymous(t).Do("GET", "/api/v1/services", nil, "Authorization", h)
			wantError(t, st, raw, 401, "invalid_token", "")
		}
		st, raw := env.Device(t, cr.KioskToken+"x").Do("POST", "/api/v1/tickets", map[string]any{"service_id": env.Demo.Services["I"]})
		wantError(t, st, raw, 401, "invalid_token", "")
	})

	t.Run("a stale session cookie makes the caller anonymous", func(t *testing.T) {
		st, raw := env.Anonymous(t).Do("GET", "/api/v1/auth/me", nil, "Cookie", "avanti_session="+strings.Repeat("q", 43))
		wantError(t, st, raw, 401, "unauthenticated", "")
	})
}
