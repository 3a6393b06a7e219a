package api

import (
	"crypto/rand"
	"crypto/subtle"
	"fmt"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/labstack/echo/v4"

	"avanti/appliance/auth"
	"avanti/appliance/fault"
	"avanti/appliance/store"
	"avanti/appliance/sysconf"
)

// First-boot setup: a new appliance has no account at all, so no default
// password can work. It shows a one-time setup code on the VM's console
// screen (only someone with the hypervisor's console sees it); the setup
// page asks for it with the organisation, the administrator's password,
// time zone, time servers and network.

// SetupCode guards the first-boot setup.
type SetupCode struct {
	mu       sync.Mutex
	code     string
	failures int
	files    []string // where the code is shown (the VM console's banner)
}

// maxSetupFailures wrong codes make a new code: guessing 12 digits ten at a
// time is hopeless.
const maxSetupFailures = 10

// NewSetupCode makes a code and writes it to files (each created 0600:
// a console banner, the data directory).
func NewSetupCode(files ...string) (*SetupCode, error) {
	s := &SetupCode{files: files}
	return s, s.renew()
}

func (s *SetupCode) renew() error {
	var b strings.Builder
	for i := range 12 {
		if i > 0 && i%4 == 0 {
			b.WriteByte('-')
		}
		n, err := rand.Int(rand.Reader, big.NewInt(10))
		if err != nil {
			return err
		}
		b.WriteByte(byte('0' + n.Int64()))
	}
	s.code, s.failures = b.String(), 0
	for _, f := range s.files {
		if err := os.MkdirAll(filepath.Dir(f), 0o750); err != nil {
			return fmt.Errorf("setup code: %w", err)
		}
		text := "\nAvanti: first-boot setup code " + s.code + "\nOpen https://<this address>/console/setup in a browser.\n\n"
		if err := os.WriteFile(f, []byte(text), 0o600); err != nil {
			return fmt.Errorf("setup code: %w", err)
		}
	}
	return nil
}

// Code is the current code (tests and the CLI read it).
func (s *SetupCode) Code() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.code
}

func (s *SetupCode) check(code string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	code = strings.ReplaceAll(strings.ReplaceAll(strings.TrimSpace(code), " ", ""), "-", "")
	want := strings.ReplaceAll(s.code, "-", "")
	if subtle.ConstantTimeCompare([]byte(code), []byte(want)) == 1 {
		return nil
	}
	s.failures++
	if s.failures >= maxSetupFailures {
		_ = s.renew()
		return fault.New(fault.TooMany, "setup_code_renewed", "too many wrong codes: the console screen shows a new one")
	}
	return fault.Field("code", "wrong_setup_code", "this is not the code shown on the appliance's console screen")
}

// done removes the code from where it was shown.
func (s *SetupCode) done() {
	for _, f := range s.files {
		os.Remove(f)
	}
}

type setupRequest struct {
	Code          string           `json:"code"`
	OwnerName     string           `json:"owner_name"`
	SiteName      string           `json:"site_name"`
	Address       string           `json:"address"`
	Timezone      string           `json:"timezone"`
	AdminUsername string           `json:"admin_username"`
	AdminName     string           `json:"admin_name"`
	AdminEmail    string           `json:"admin_email"`
	AdminPassword string           `json:"admin_password"`
	NTPServers    []string         `json:"ntp_servers"`
	Network       *sysconf.Network `json:"network"`
}

func (a *API) setupState(c echo.Context) error {
	empty, err := a.st.Empty(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"pending": empty && a.opt.Setup != nil})
}

func (a *API) runSetup(c echo.Context) error {
	if a.opt.Setup == nil {
		return store.ErrSetupDone
	}
	var req setupRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	ctx := c.Request().Context()
	if empty, err := a.st.Empty(ctx); err != nil {
		return err
	} else if !empty {
		return store.ErrSetupDone
	}
	if err := a.opt.Setup.check(req.Code); err != nil {
		a.log.Warn("first-boot setup: wrong code", "ip", c.RealIP())
		return err
	}
	if err := auth.CheckPasswordRules(req.AdminPassword); err != nil {
		if f, ok := fault.As(err); ok {
			return fault.Field("admin_password", "weak_password", f.Message)
		}
		return err
	}
	// Root applies these (avanti system apply): the same checks as there.
	for i := range req.NTPServers {
		req.NTPServers[i] = strings.TrimSpace(req.NTPServers[i])
	}
	sys := sysconf.Settings{Timezone: strings.TrimSpace(req.Timezone), NTPServers: req.NTPServers, Network: req.Network}
	if err := sys.Validate(); err != nil {
		return err
	}
	hash, err := auth.HashPassword(req.AdminPassword)
	if err != nil {
		return err
	}
	if req.AdminUsername == "" {
		req.AdminUsername = "admin"
	}
	u, err := a.st.Initialise(ctx, store.Initial{OwnerName: req.OwnerName, SiteName: req.SiteName, Address: req.Address,
		Timezone: req.Timezone, AdminUsername: req.AdminUsername, AdminName: req.AdminName, AdminEmail: req.AdminEmail, PasswordHash: hash}, a.now())
	if err != nil {
		return err
	}
	// Time servers and network are the system's: written for the
	// root-side unit that applies them (provisioning/).
	if a.opt.SystemDir != "" {
		if _, err := sysconf.Update(filepath.Join(a.opt.SystemDir, "system.json"), func(s *sysconf.Settings) error {
			*s = sys
			return nil
		}); err != nil {
			a.log.Error("first-boot setup: system settings", "err", err)
		}
	}
	a.opt.Setup.done()
	a.log.Info("first-boot setup done", "owner", req.OwnerName, "admin", req.AdminUsername, "ip", c.RealIP())
	if err := a.st.Audit(ctx, u.OwnerID, req.AdminUsername, "setup", "owner", u.OwnerID, nil,
		map[string]any{"owner": req.OwnerName, "site": req.SiteName, "admin": req.AdminUsername}, a.now()); err != nil {
		a.log.Error("audit log", "err", err)
	}
	return c.JSON(http.StatusCreated, map[string]any{"owner_id": u.OwnerID, "admin": u.Username})
}
