package api_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"avanti/appliance/testenv"
)

func TestANewApplianceIsSetUpOnlyWithTheCodeOnItsConsole(t *testing.T) {
	env := testenv.NewServer(t, testenv.Options{Empty: true})
	anon := env.Anonymous(t)
	var state struct{ Pending bool }
	if anon.JSON("GET", "/api/v1/setup", nil, &state); !state.Pending {
		t.Fatal("a new appliance is not pending setup")
	}
	code := env.Server.Setup.Code()
	shown, err := os.ReadFile(filepath.Join(env.Server.Config.DataDir, "setup-code"))
	if err != nil || !strings.Contains(string(shown), code) {
		t.Fatalf("the code is not where the console shows it: %q %v", shown, err)
	}
	// No default password works: nobody exists.
	st, raw := anon.Do("POST", "/api/v1/auth/login", map[string]string{"username": "admin", "password": "admin"})
	wantError(t, st, raw, 401, "invalid_credentials", "")

	body := map[string]any{"code": "0000-0000-0000", "owner_name": "COMUNE DI OFFANENGO", "site_name": "Municipio",
		"address": "Piazza Patrini 1", "timezone": "Europe/Rome", "admin_username": "admin", "admin_password": "Offanengo-2026!",
		"ntp_servers": []string{"ntp.comune.local"}, "network": map[string]any{"mode": "static", "address": "10.20.0.5/24", "gateway": "10.20.0.1", "dns": []string{"10.20.0.2"}}}
	st, raw = anon.Do("POST", "/api/v1/setup", body)
	wantError(t, st, raw, 422, "wrong_setup_code", "code")
	body["code"] = code
	body["admin_password"] = "corta"
	st, raw = anon.Do("POST", "/api/v1/setup", body)
	wantError(t, st, raw, 422, "weak_password", "admin_password")
	body["admin_password"] = "Offanengo-2026!"
	body["network"] = map[string]any{"mode": "static", "address": "10.20.0.5", "gateway": "10.20.0.1"}
	st, raw = anon.Do("POST", "/api/v1/setup", body)
	wantError(t, st, raw, 422, "invalid_address", "network.address")
	body["network"] = map[string]any{"mode": "static", "address": "10.20.0.5/24", "gateway": "10.20.0.1", "dns": []string{"10.20.0.2"}}
	body["admin_email"] = "Sindaco <sindaco@comune.offanengo.example>"
	st, raw = anon.Do("POST", "/api/v1/setup", body)
	wantError(t, st, raw, 422, "invalid_email", "admin_email")
	body["admin_email"] = "ced@comune.offanengo.example"
	if st, raw := anon.Do("POST", "/api/v1/setup", body); st != 201 {
		t.Fatalf("setup: %d %s", st, raw)
	}
	admin := env.Login(t, "admin", "Offanengo-2026!")
	var org struct{ Owner struct{ Name string } }
	admin.JSON("GET", "/api/v1/org", nil, &org)
	if org.Owner.Name != "COMUNE DI OFFANENGO" {
		t.Errorf("after setup the organisation is %q", org.Owner.Name)
	}
	var me struct{ Email string }
	if admin.JSON("GET", "/api/v1/auth/me", nil, &me); me.Email != "ced@comune.offanengo.example" {
		t.Errorf("the administrator's e-mail after setup: %q", me.Email)
	}
	sys, err := os.ReadFile(filepath.Join(env.Server.Config.DataDir, "system", "system.json"))
	if err != nil || !strings.Contains(string(sys), "10.20.0.5/24") || !strings.Contains(string(sys), "ntp.comune.local") {
		t.Errorf("system settings for root to apply: %s %v", sys, err)
	}
	if _, err := os.Stat(filepath.Join(env.Server.Config.DataDir, "setup-code")); err == nil {
		t.Errorf("the setup code is still shown after setup")
	}
	// Once only.
	st, raw = anon.Do("POST", "/api/v1/setup", body)
	wantError(t, st, raw, 409, "setup_done", "")
	if anon.JSON("GET", "/api/v1/setup", nil, &state); state.Pending {
		t.Errorf("still pending after setup")
	}
}

func TestGuessingTheSetupCodeMakesANewOne(t *testing.T) {
	env := testenv.NewServer(t, testenv.Options{Empty: true})
	first := env.Server.Setup.Code()
	var st int
	var raw []byte
	for range 10 {
		st, raw = env.Anonymous(t).Do("POST", "/api/v1/setup", map[string]any{"code": "1111-1111-1111", "owner_name": "x",
			"site_name": "x", "admin_password": "Abbastanza-lunga-1"})
	}
	wantError(t, st, raw, 429, "setup_code_renewed", "")
	if env.Server.Setup.Code() == first {
		t.Error("the code did not change after ten wrong guesses")
	}
}
