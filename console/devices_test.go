package console_test

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"avanti/appliance/browsertest"
	"avanti/appliance/demo"
)

// A new display shows a code; the admin pairs it from the console and sets
// what it shows; a display that went quiet is red in the list.
func TestAdminPairsADisplayAndSeesSilentDevicesInRed(t *testing.T) {
	t.Parallel()
	env := newAppliance(t)
	cr := env.Demo.Credentials

	// The demo's display was on and then went quiet for more than 30 s.
	screen := newTab(t, 1280, 720)
	screen.Open(env.URL + "/display/?token=" + cr.DisplayToken)
	screen.WaitFor("the display", `window.avantiDisplay && avantiDisplay.state === "online"`, 10*time.Second)
	time.Sleep(300 * time.Millisecond)
	screen.Close()
	for deadline := time.Now().Add(5 * time.Second); env.Server.Live.Connected(env.Demo.DisplayID) > 0; {
		if time.Now().After(deadline) {
			t.Fatal("the display's connection stays open after it left")
		}
		time.Sleep(20 * time.Millisecond)
	}
	env.Clock.Advance(31 * time.Second)

	// A new screen asks for a code.
	var pairing struct {
		Code string `json:"code"`
	}
	if st := env.Anonymous(t).JSON("POST", "/api/v1/pairing", map[string]any{"kind": "display", "screen": "1920x1080", "version": "test"}, &pairing); st != 201 {
		t.Fatalf("pairing: %d", st)
	}

	b := signIn(t, env, cr.Admin, "devices")
	b.WaitFor("the devices", `document.querySelectorAll("#devices-table tbody tr").length >= 2`, 5*time.Second)
	silent := browsertest.Eval[[]string](b, `[...document.querySelectorAll('#devices-table tr[data-health="silent"] th')].map(th => th.textContent)`)
	if len(silent) != 1 || silent[0] != "Monitor sala piano terra" {
		t.Errorf("silent devices: %v", silent)
	}
	if bg := browsertest.Eval[string](b, `getComputedStyle(document.querySelector('#devices-table tr[data-health="silent"] .health')).backgroundColor`); bg != "rgb(165, 14, 14)" {
		t.Errorf("a silent device's mark is %s, not red", bg)
	}

	// A wrong code is said next to the field; the right one pairs.
	b.Fill("#pair-code", "12")
	b.Fill("#pair-name", "Monitor primo piano")
	b.Fill("#pair-room", fmt.Sprint(env.Demo.RoomIDs[1]))
	b.Click("#pair-form button[type=submit]")
	b.WaitFor("the code error", `document.getElementById("pair-code").getAttribute("aria-invalid") === "true"`, 5*time.Second)
	b.Fill("#pair-code", pairing.Code)
	b.Click("#pair-form button[type=submit]")
	b.WaitFor("the new display, open for editing", `!document.getElementById("device-edit").hidden && document.getElementById("dev-name").value === "Monitor primo piano" && !document.getElementById("display-settings").hidden`, 10*time.Second)

	// Its settings: the services page, voice quiet at lunch.
	b.Fill("#ds-mode", "alternating")
	b.Fill("#ds-quiet", "12:30-14:00 pranzo")
	b.Click("#display-settings button[type=submit]")
	b.WaitFor("the quiet hours error", `document.getElementById("ds-quiet").getAttribute("aria-invalid") === "true"`, 5*time.Second)
	b.Fill("#ds-quiet", "12:30-14:00")
	b.Fill("#ds-alternate", "15")
	b.Click("#display-settings button[type=submit]")
	b.WaitFor("the settings saved", `document.getElementById("notice").textContent.startsWith("Impostazioni di")`, 5*time.Second)
	b.Screenshot("console-devices-settings")

	admin := staff(t, env, cr.Admin)
	var list struct {
		Devices []struct {
			Name     string `json:"name"`
			Settings *struct {
				Mode         string `json:"mode"`
				AlternateSec int    `json:"alternate_sec"`
				Voice        struct {
					QuietHours []struct{ From, To string } `json:"quiet_hours"`
				} `json:"voice"`
			} `json:"settings"`
		} `json:"devices"`
	}
	admin.JSON("GET", "/api/v1/devices", nil, &list)
	found := false
	for _, d := range list.Devices {
		if d.Name == "Monitor primo piano" {
			found = true
			if d.Settings == nil || d.Settings.Mode != "alternating" || d.Settings.AlternateSec != 15 || len(d.Settings.Voice.QuietHours) != 1 || d.Settings.Voice.QuietHours[0].From != "12:30" {
				t.Errorf("settings saved: %+v", d.Settings)
			}
		}
	}
	if !found {
		t.Errorf("the paired display is not in the list: %+v", list.Devices)
	}

	// The totem's settings: services in the page's order.
	b.Click(`#devices-table tr:has(th) td button`) // the first device is the demo's totem
	b.WaitFor("the totem's settings", `!document.getElementById("kiosk-settings").hidden`, 5*time.Second)
	b.Click(`#ks-services li:nth-child(2) button:first-of-type`) // the second service up
	b.Fill("#ks-idle", "60")
	b.Fill("#ks-printer", "network")
	b.Fill("#ks-address", "192.168.1.50:9100")
	b.Click("#kiosk-settings button[type=submit]")
	b.WaitFor("the totem's settings saved", `document.getElementById("notice").textContent === "Impostazioni di Totem ingresso salvate."`, 5*time.Second)
	var kiosk struct {
		Kiosk struct {
			Settings struct {
				Services []int64 `json:"services"`
				IdleSec  int     `json:"idle_sec"`
				Printer  struct {
					Mode, Address string
				} `json:"printer"`
			} `json:"kiosk_settings"`
		} `json:"kiosk"`
	}
	env.Device(t, cr.KioskToken).JSON("GET", "/api/v1/kiosk", nil, &kiosk)
	ks := kiosk.Kiosk.Settings
	if ks.IdleSec != 60 || ks.Printer.Mode != "network" || ks.Printer.Address != "192.168.1.50:9100" || len(ks.Services) != 5 {
		t.Errorf("totem settings: %+v", ks)
	}
}

// Users: an operator created without a password gets one, shown once; the
// services assigned are what their desk opens with.
func TestAdminCreatesAnOperatorWhoseDeskOpensWithTheirServices(t *testing.T) {
	t.Parallel()
	env := newAppliance(t)
	cr := env.Demo.Credentials
	info, tax := env.Demo.Services["I"], env.Demo.Services["T"]
	b := signIn(t, env, cr.Admin, "users")
	b.Click("#user-new")
	b.Fill("#user-username", "operatore3")
	b.Fill("#user-display", "Luca Esposito")
	b.Fill("#user-role", "operator")
	b.Click(fmt.Sprintf("#user-services-%d", info))
	b.Click(fmt.Sprintf("#user-services-%d", tax))
	b.Click("#user-form button[type=submit]")
	b.WaitFor("the generated password", `!document.getElementById("user-password-once").hidden`, 5*time.Second)
	password := b.Text("#user-password-value")
	if len(password) < 10 {
		t.Fatalf("generated password %q", password)
	}
	b.Screenshot("console-users-created")

	op := newTab(t, 1280, 800)
	signInTab(op, env, demo.Login{Username: "operatore3", Password: password}, "desk")
	op.WaitFor("the desk chooser", `document.body.dataset.desk === "choose"`, 5*time.Second)
	checked := browsertest.Eval[[]float64](op, `[...document.querySelectorAll("#service-choices input:checked")].map(c => Number(c.value))`)
	if len(checked) != 2 || !(int64(checked[0]) == info && int64(checked[1]) == tax || int64(checked[0]) == tax && int64(checked[1]) == info) {
		t.Errorf("the desk opens with %v, want the assigned %d and %d", checked, info, tax)
	}

	// The audit log has the new account, by whom.
	b.Open(env.URL + "/console/audit")
	ready(b)
	b.Fill("#audit-entity", "user")
	b.Click("#audit-form button[type=submit]")
	b.WaitFor("the entry", `[...document.querySelectorAll("#audit-table tbody tr")].some(tr => tr.textContent.includes("create") && tr.textContent.includes("admin"))`, 5*time.Second)
	b.Screenshot("console-audit-user")
}

// A playlist with a text and an uploaded image.
func TestAdminMakesAPlaylistWithAnUploadedImage(t *testing.T) {
	t.Parallel()
	env := newAppliance(t)
	cr := env.Demo.Credentials
	img := image.NewRGBA(image.Rect(0, 0, 64, 32))
	for x := range 64 {
		for y := range 32 {
			img.Set(x, y, color.RGBA{0, 80, 160, 255})
		}
	}
	var buf bytes.Buffer
	png.Encode(&buf, img)
	file := filepath.Join(t.TempDir(), "orari-natale.png")
	if err := os.WriteFile(file, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}

	b := signIn(t, env, cr.Admin, "playlists")
	b.Click("#playlist-new")
	b.Fill("#pl-name", "Avvisi di Natale")
	b.Click("#pl-add-text")
	b.Fill(`[name="items[0].text"]`, "Il 24 dicembre gli uffici chiudono alle 12.")
	if _, err := chromedp.Run(b.Ctx, chromedp.SetUploadFiles("#pl-upload", []string{file})); err != nil {
		t.Fatal(err)
	}
	b.WaitFor("the uploaded image", `document.querySelectorAll("#pl-items li[data-kind=image] img").length === 1`, 10*time.Second)
	b.Click("#pl-item-1-day1")
	b.Fill(`[name="items[1].from"]`, "8.00")
	b.Click("#playlist-form button[type=submit]")
	b.WaitFor("the time error", `document.querySelector('[name="items[1].from"]').getAttribute("aria-invalid") === "true"`, 5*time.Second)
	b.Fill(`[name="items[1].from"]`, "08:00")
	b.Click("#playlist-form button[type=submit]")
	b.WaitFor("the missing end", `document.querySelector('[name="items[1].to"]').getAttribute("aria-invalid") === "true"`, 5*time.Second)
	b.Fill(`[name="items[1].to"]`, "13:00")
	b.Click("#playlist-form button[type=submit]")
	b.WaitFor("the playlist saved", `[...document.querySelectorAll("#playlists-table th")].some(th => th.textContent === "Avvisi di Natale")`, 5*time.Second)
	b.Screenshot("console-playlists-edit")

	var list struct {
		Playlists []struct {
			Name  string `json:"name"`
			Items []struct {
				Kind, URL, Text, From string
				Days                  []int `json:"days"`
			} `json:"items"`
		} `json:"playlists"`
	}
	staff(t, env, cr.Admin).JSON("GET", "/api/v1/playlists", nil, &list)
	for _, p := range list.Playlists {
		if p.Name != "Avvisi di Natale" {
			continue
		}
		if len(p.Items) != 2 || p.Items[0].Kind != "text" || p.Items[1].Kind != "image" || !strings.HasPrefix(p.Items[1].URL, "/media/") ||
			p.Items[1].From != "08:00" || len(p.Items[1].Days) != 1 || p.Items[1].Days[0] != 1 {
			t.Errorf("saved playlist: %+v", p.Items)
		}
		return
	}
	t.Errorf("the playlist was not saved: %+v", list.Playlists)
}

// The console speaks English on request, and stays so; keyboard users
// start at "skip to content" and move through the sign-in form in order.
func TestEnglishAndKeyboard(t *testing.T) {
	t.Parallel()
	env := newAppliance(t)
	cr := env.Demo.Credentials
	b := newTab(t, 1280, 800)
	b.Open(env.URL + "/console/login")
	ready(b)
	// The skip link comes first; from the username, Tab goes to the password
	// and then to the button.
	if first := browsertest.Eval[string](b, `document.querySelector("a[href], button, input, select, textarea").className`); first != "skip" {
		t.Errorf("the first thing to focus is %q, want the skip link", first)
	}
	b.WaitFor("the username focused", `document.activeElement.id === "signin-username"`, 5*time.Second)
	var order []string
	for range 2 {
		b.Key("Tab", "Tab", 9)
		order = append(order, browsertest.Eval[string](b, `document.activeElement.id || document.activeElement.type`))
	}
	if strings.Join(order, " ") != "signin-password submit" {
		t.Errorf("tab order from the username: %v", order)
	}
	if browsertest.Eval[string](b, `getComputedStyle(document.activeElement).outlineStyle`) == "none" {
		t.Error("the focused button shows no focus ring")
	}
	b.Click("#lang-switch")
	b.WaitFor("the English page", `document.documentElement.lang === "en" && document.body.dataset.state === "ready"`, 5*time.Second)
	if got := b.Text("#signin-title"); got != "Sign in to the console" {
		t.Errorf("English title: %q", got)
	}
	signInTab(b, env, cr.Operator, "desk")
	b.WaitFor("the desk in English", `document.documentElement.lang === "en" && document.getElementById("call-next").textContent.trim() === "Call next"`, 5*time.Second)
	b.Screenshot("console-desk-english")
	b.Axe("desk in English")
}
