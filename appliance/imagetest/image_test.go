package imagetest

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// The environment scripts/image/image-test sets once the VM answers.
const (
	envURL     = "AVANTI_IMAGE_URL"        // https://127.0.0.1:PORT, the VM's 443
	envCode    = "AVANTI_IMAGE_SETUP_CODE" // read off the VM's console
	envHTTPURL = "AVANTI_IMAGE_HTTP_URL"   // http://127.0.0.1:PORT, the VM's 80 (optional)
)

// client is a browser-like caller: its own cookies, the CSRF token of its
// session, and TLS that trusts only the appliance's CA.
type client struct {
	t    *testing.T
	base string
	http *http.Client
	csrf string
	auth string // bearer token of a device
}

func newClient(t *testing.T, base string, roots *x509.CertPool) *client {
	jar, _ := cookiejar.New(nil)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}, ForceAttemptHTTP2: true}
	return &client{t: t, base: base, http: &http.Client{Jar: jar, Transport: tr, Timeout: 60 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (c *client) do(method, path string, body any) (*http.Response, []byte) {
	c.t.Helper()
	resp, raw, err := c.send(method, path, body)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	return resp, raw
}

// send is do for a server that may be restarting: errors are returned.
func (c *client) send(method, path string, body any) (*http.Response, []byte, error) {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			c.t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+path, r)
	if err != nil {
		c.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.csrf != "" {
		req.Header.Set("X-CSRF-Token", c.csrf)
	}
	if c.auth != "" {
		req.Header.Set("Authorization", "Bearer "+c.auth)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	return resp, raw, err
}

// must sends a request, fails unless the status is want, and decodes the
// answer into out.
func (c *client) must(want int, method, path string, body, out any) {
	c.t.Helper()
	resp, raw := c.do(method, path, body)
	if resp.StatusCode != want {
		c.t.Fatalf("%s %s: status %d, want %d: %s", method, path, resp.StatusCode, want, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			c.t.Fatalf("%s %s: %v: %s", method, path, err, raw)
		}
	}
}

// wantError checks an API error's status and stable code.
func (c *client) wantError(status int, code, method, path string, body any) {
	c.t.Helper()
	resp, raw := c.do(method, path, body)
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if resp.StatusCode != status || json.Unmarshal(raw, &e) != nil || e.Error.Code != code || e.Error.Message == "" {
		c.t.Fatalf("%s %s: got %d %s, want %d with code %s and a message", method, path, resp.StatusCode, raw, status, code)
	}
}

// TestImage walks an appliance booted from the image from first boot to
// the first ticket called: what the README's "Install the appliance" tells
// an IT person to do, through the VM's ports only.
func TestImage(t *testing.T) {
	base := os.Getenv(envURL)
	if base == "" {
		t.Skipf("%s is not set: run make image-test, which boots the image and sets it", envURL)
	}
	code := os.Getenv(envCode)
	if code == "" {
		t.Fatalf("%s is not set: no setup code was read off the VM's console", envCode)
	}

	// The CA certificate is downloaded once, unverified (that is what the
	// admin installs on the municipality's PCs); from then on every call
	// verifies the appliance's certificate against it.
	insecure := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	resp, err := insecure.Get(base + "/ca.crt")
	if err != nil {
		t.Fatalf("GET /ca.crt: %v", err)
	}
	caPEM, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	roots := x509.NewCertPool()
	if resp.StatusCode != 200 || !roots.AppendCertsFromPEM(caPEM) {
		t.Fatalf("GET /ca.crt: %d, not a PEM certificate: %.200s", resp.StatusCode, caPEM)
	}

	admin := newClient(t, base, roots)
	resp, _ = admin.do("GET", "/healthz", nil)
	if resp.TLS == nil || resp.TLS.Version < tls.VersionTLS12 {
		t.Fatalf("/healthz not over modern TLS: %+v", resp.TLS)
	}
	if resp.ProtoMajor != 2 {
		t.Errorf("/healthz over %s, want HTTP/2", resp.Proto)
	}
	if hsts := resp.Header.Get("Strict-Transport-Security"); !strings.Contains(hsts, "max-age=") {
		t.Errorf("no HSTS header: %q", hsts)
	}
	if httpURL := os.Getenv(envHTTPURL); httpURL != "" {
		plain := &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := plain.Get(httpURL + "/console/")
		if err != nil {
			t.Errorf("port 80: %v", err)
		} else {
			resp.Body.Close()
			if loc := resp.Header.Get("Location"); resp.StatusCode/100 != 3 || !strings.HasPrefix(loc, "https://") {
				t.Errorf("port 80 answers %d Location %q, want a redirect to HTTPS", resp.StatusCode, loc)
			}
		}
	}

	// First boot: no account exists; only the console's code opens setup.
	var state struct {
		Pending bool `json:"pending"`
	}
	admin.must(200, "GET", "/api/v1/setup", nil, &state)
	if !state.Pending {
		t.Fatal("a new appliance does not ask for first-boot setup")
	}
	resp, raw := admin.do("GET", "/console/setup", nil)
	if resp.StatusCode != 200 || !bytes.Contains(bytes.ToLower(raw), []byte("<html")) {
		t.Errorf("the console's setup page: %d %.200s", resp.StatusCode, raw)
	}
	setup := map[string]any{"code": "0000-0000-0000", "owner_name": "Comune di Crema", "site_name": "Palazzo comunale",
		"address": "Piazza Duomo 25, Crema", "timezone": "Europe/Rome", "admin_username": "admin", "admin_name": "Giulia Ferrari",
		"admin_password": "Crema-sportelli-2026!", "ntp_servers": []string{"ntp1.inrim.it"}, "network": map[string]any{"mode": "dhcp"}}
	admin.wantError(422, "wrong_setup_code", "POST", "/api/v1/setup", setup)
	setup["code"] = code
	admin.must(201, "POST", "/api/v1/setup", setup, nil)
	admin.must(200, "GET", "/api/v1/setup", nil, &state)
	if state.Pending {
		t.Error("setup is still pending after it was done")
	}
	admin.wantError(409, "setup_done", "POST", "/api/v1/setup", setup)

	var me struct {
		CSRF string `json:"csrf_token"`
	}
	admin.wantError(401, "invalid_credentials", "POST", "/api/v1/auth/login", map[string]string{"username": "admin", "password": "admin"})
	admin.must(200, "POST", "/api/v1/auth/login", map[string]string{"username": "admin", "password": setup["admin_password"].(string)}, &me)
	admin.csrf = me.CSRF

	// The office: a room with a desk, a service open all day every day (the
	// test may run at any hour), a display and a totem paired from the
	// console.
	var org struct {
		Sites []struct {
			ID int64 `json:"id"`
		} `json:"sites"`
	}
	admin.must(200, "GET", "/api/v1/org", nil, &org)
	if len(org.Sites) != 1 {
		t.Fatalf("after setup the organisation has %d sites, want the one named in setup", len(org.Sites))
	}
	site := org.Sites[0].ID
	var room, desk, svc struct {
		ID int64 `json:"id"`
	}
	admin.must(201, "POST", "/api/v1/rooms", map[string]any{"site_id": site, "name": "Sala d'attesa"}, &room)
	admin.must(201, "POST", "/api/v1/desks", map[string]any{"room_id": room.ID, "name": "Sportello 1", "number": "1"}, &desk)
	admin.must(201, "POST", "/api/v1/services", map[string]any{"site_id": site, "name": "Anagrafe", "prefix": "A"}, &svc)
	rome, err := time.LoadLocation("Europe/Rome")
	if err != nil {
		t.Fatal(err)
	}
	var ranges []map[string]any
	for wd := range 7 {
		ranges = append(ranges, map[string]any{"weekday": wd, "start": "00:00", "end": "24:00", "slot_minutes": 15, "places": 20})
	}
	admin.must(201, "POST", fmt.Sprintf("/api/v1/services/%d/agendas", svc.ID), map[string]any{"name": "Sempre aperto",
		"valid_from": time.Now().In(rome).AddDate(0, 0, -1).Format(time.DateOnly), "open_on_holidays": true, "ranges": ranges}, nil)

	display := pair(t, admin, base, roots, "display", "Monitor sala d'attesa", room.ID)
	totem := pair(t, admin, base, roots, "kiosk", "Totem ingresso", room.ID)

	wsURL := "wss" + strings.TrimPrefix(base, "https") + "/ws/display?token=" + url.QueryEscape(display.auth)
	dialer := websocket.Dialer{TLSClientConfig: &tls.Config{RootCAs: roots}, HandshakeTimeout: 30 * time.Second}
	ws, resp, err := dialer.Dial(wsURL, nil)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("display WebSocket: %v (HTTP %d)", err, status)
	}
	defer ws.Close()
	msgs := make(chan map[string]any, 64)
	go func() {
		defer close(msgs)
		for {
			var m map[string]any
			if err := ws.ReadJSON(&m); err != nil {
				return
			}
			msgs <- m
		}
	}()
	waitFor := func(typ string, within time.Duration) map[string]any {
		t.Helper()
		deadline := time.After(within)
		for {
			select {
			case m, ok := <-msgs:
				if !ok {
					t.Fatalf("the display's WebSocket closed before a %q message", typ)
				}
				if m["type"] == typ {
					return m
				}
			case <-deadline:
				t.Fatalf("no %q message on the display within %v", typ, within)
			}
		}
	}
	waitFor("snapshot", 30*time.Second)

	// A citizen takes a ticket at the totem.
	var ticket struct {
		Code   string `json:"code"`
		Status string `json:"status"`
	}
	totem.must(201, "POST", "/api/v1/tickets", map[string]any{"service_id": svc.ID}, &ticket)
	if ticket.Code != "A001" || ticket.Status != "waiting" {
		t.Fatalf("the first walk-in got %s %s, want A001 waiting", ticket.Code, ticket.Status)
	}

	// The operator (the admin here) opens the desk and calls the next.
	admin.must(200, "POST", fmt.Sprintf("/api/v1/desks/%d/open", desk.ID), map[string]any{"service_ids": []int64{svc.ID}}, nil)
	var called struct {
		Ticket struct {
			Code string `json:"code"`
		} `json:"ticket"`
	}
	admin.must(200, "POST", fmt.Sprintf("/api/v1/desks/%d/call-next", desk.ID), nil, &called)
	if called.Ticket.Code != ticket.Code {
		t.Fatalf("the desk called %q, want %s", called.Ticket.Code, ticket.Code)
	}

	// And the waiting room's screen shows it.
	ev := waitFor("call", 30*time.Second)
	call, _ := ev["call"].(map[string]any)
	tk, _ := call["ticket"].(map[string]any)
	dk, _ := call["desk"].(map[string]any)
	if tk["code"] != ticket.Code || dk["name"] != "Sportello 1" {
		t.Errorf("the display got call %v, want %s at Sportello 1", call, ticket.Code)
	}
	t.Logf("first ticket %s taken at the totem, called at Sportello 1, shown on the display", ticket.Code)
}

// pair pairs a device the way the console does: the device shows a code,
// the admin types it in, the device collects its credential.
func pair(t *testing.T, admin *client, base string, roots *x509.CertPool, kind, name string, room int64) *client {
	t.Helper()
	dev := newClient(t, base, roots)
	var p struct {
		Code   string `json:"code"`
		Secret string `json:"secret"`
	}
	dev.must(201, "POST", "/api/v1/pairing", map[string]any{"kind": kind, "screen": "1920x1080", "version": "image-test"}, &p)
	admin.must(201, "POST", "/api/v1/devices/pair", map[string]any{"code": p.Code, "kind": kind, "name": name, "room_id": room}, nil)
	var got struct {
		Token string `json:"token"`
	}
	dev.must(200, "GET", "/api/v1/pairing/"+p.Secret, nil, &got)
	if got.Token == "" {
		t.Fatalf("pairing a %s gave no credential", kind)
	}
	dev.auth = got.Token
	return dev
}

// Environment of the second boot: the image with a cloud-init NoCloud seed
// that runs seed-setup (provisioning/README.md, "Automated installs").
const (
	envSeedOwner    = "AVANTI_IMAGE_SEED_OWNER"
	envSeedPassword = "AVANTI_IMAGE_SEED_PASSWORD"
)

// TestImageSeeded checks an automated install: no one types a setup code;
// the seed's owner and administrator exist once cloud-init has run.
func TestImageSeeded(t *testing.T) {
	base, owner, password := os.Getenv(envURL), os.Getenv(envSeedOwner), os.Getenv(envSeedPassword)
	if base == "" || owner == "" {
		t.Skipf("%s and %s are not set: run make image-test, which boots the image with a NoCloud seed", envURL, envSeedOwner)
	}
	c := newClient(t, base, nil)
	c.http.Transport.(*http.Transport).TLSClientConfig.InsecureSkipVerify = true // the first test checks the certificate
	// cloud-init's runcmd comes late in the boot, after /healthz answers,
	// and seed-setup restarts the service once done: each call is retried
	// while the service does not answer.
	deadline := time.Now().Add(5 * time.Minute)
	call := func(method, path string, body, out any) int {
		t.Helper()
		for {
			resp, raw, err := c.send(method, path, body)
			if err == nil && resp.StatusCode < 500 {
				if out != nil && resp.StatusCode < 300 {
					if err := json.Unmarshal(raw, out); err != nil {
						t.Fatalf("%s %s: %v", method, path, err)
					}
				}
				return resp.StatusCode
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s %s: no answer 5 minutes after the appliance was first ready: %v", method, path, err)
			}
			time.Sleep(3 * time.Second)
		}
	}
	var state struct {
		Pending bool `json:"pending"`
	}
	for call("GET", "/api/v1/setup", nil, &state); state.Pending; call("GET", "/api/v1/setup", nil, &state) {
		if time.Now().After(deadline) {
			t.Fatal("setup is still pending 5 minutes after the appliance answered: the seed's runcmd did not set it up")
		}
		time.Sleep(3 * time.Second)
	}
	var me struct {
		CSRF string `json:"csrf_token"`
	}
	if st := call("POST", "/api/v1/auth/login", map[string]string{"username": "admin", "password": password}, &me); st != 200 {
		t.Fatalf("the seed's administrator cannot sign in: %d", st)
	}
	c.csrf = me.CSRF
	var org struct {
		Owner struct {
			Name string `json:"name"`
		} `json:"owner"`
	}
	if st := call("GET", "/api/v1/org", nil, &org); st != 200 {
		t.Fatalf("GET /org: %d", st)
	}
	if org.Owner.Name != owner {
		t.Errorf("the organisation is %q, want the seed's %q", org.Owner.Name, owner)
	}
}

// envQGA is the QEMU guest agent's socket of the booted VM.
const envQGA = "AVANTI_IMAGE_QGA"

// TestImageSystem looks inside the VM after first-boot setup (run after
// TestImage): the operations units are installed and on or off as the
// operations issue says, the settings made on the setup page reached the
// system, SSH is closed.
func TestImageSystem(t *testing.T) {
	socket := os.Getenv(envQGA)
	if socket == "" {
		t.Skipf("%s is not set: run make image-test", envQGA)
	}
	g := dialGuest(t, socket)
	sh := func(script string) (int, string) { return g.run(t, "/bin/sh", "-c", script) }

	for _, u := range []struct{ unit, state string }{
		{"avanti.service", "active"},
		{"mariadb.service", "active"},
		{"nftables.service", "active"},
		{"chrony.service", "active"},
		{"avanti-backup.timer", "active"},        // nightly backup + verify
		{"avanti-binlog-ship.service", "active"}, // point-in-time recovery, RPO ≤ 5 min
		{"avanti-system.path", "active"},         // applies the setup page's system settings
		{"avanti-console-ui.service", "active"},  // the VM console's text UI
	} {
		if code, out := g.run(t, "/bin/systemctl", "is-active", u.unit); code != 0 || strings.TrimSpace(out) != u.state {
			_, status := g.run(t, "/bin/systemctl", "status", "--no-pager", "-n", "20", u.unit)
			t.Errorf("%s is %q, want %s:\n%s", u.unit, strings.TrimSpace(out), u.state, status)
		}
	}
	// The maintenance agent is enabled; with no bastion configured (a new
	// appliance) it says so and exits cleanly, so it never dials out.
	if code, out := sh(`systemctl is-enabled avanti-maint.service; systemctl show -p Result --value avanti-maint.service`); code != 0 ||
		strings.Fields(out)[0] != "enabled" || !strings.Contains(out, "success") {
		t.Errorf("avanti-maint.service: %q, want enabled and not failed", out)
	}
	// The binary log is on for point-in-time recovery.
	if code, out := sh(`mariadb -Nse 'SELECT @@log_bin, @@binlog_format, @@sync_binlog'`); code != 0 || strings.Fields(out)[0] != "1" ||
		!strings.Contains(out, "ROW") {
		t.Errorf("MariaDB binary log: %d %q, want on, ROW", code, out)
	}
	// No maintenance window is open: the agent has no connection out and
	// SSH is closed to the LAN.
	if code, out := sh(`ss -Htnp state established '( dport = :22 or sport = :22 )'`); code != 0 || strings.TrimSpace(out) != "" {
		t.Errorf("SSH connections without a maintenance window: %q", out)
	}
	if code, out := sh(`nft list ruleset | grep -E 'dport 22 accept' || true`); code != 0 || strings.Contains(out, "image build") {
		t.Errorf("the image build's SSH opening is still in the firewall: %q", out)
	}
	// The setup page's time zone and time servers reached the system
	// (avanti-system.path applies them as soon as the setup writes them).
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(2 * time.Second) {
		_, out := sh(`readlink /etc/localtime; cat /etc/chrony/sources.d/*.sources 2>/dev/null`)
		if strings.Contains(out, "Europe/Rome") && strings.Contains(out, "ntp1.inrim.it") {
			break
		}
		if time.Now().After(deadline) {
			_, log := sh(`journalctl -b -u avanti-system.service --no-pager | tail -20`)
			t.Errorf("system settings from the setup page not applied a minute later: %q\n%s", out, log)
			break
		}
	}
	// The sealed image carries nothing of the build.
	if code, out := sh(`id packer 2>&1; ls /etc/sudoers.d/`); code == 0 && strings.Contains(out, "uid=") {
		t.Errorf("the build user is still there: %q", out)
	}
	_, out := sh(`journalctl -b -p err --no-pager -q | grep -v -e 'regulatory' -e 'firmware' | tail -20`)
	if strings.TrimSpace(out) != "" {
		t.Logf("errors in this boot's journal (not failing the test):\n%s", out)
	}
}
