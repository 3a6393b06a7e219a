package console_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"avanti/appliance/backup"
	"avanti/appliance/browsertest"
	"avanti/appliance/demo"
	"avanti/appliance/server"
	"avanti/appliance/store"
	"avanti/appliance/testenv"
	"avanti/appliance/update"
	"avanti/console"
	"avanti/signage"
)

// takeBackup runs a real backup of env's database and data directory into
// the appliance's backup directory at env's time, and verifies it when
// asked (a restore into a scratch database, table by table).
func takeBackup(t *testing.T, env *testenv.Env, verify bool) backup.Manifest {
	t.Helper()
	var name string
	if err := env.Store.DB().QueryRow("SELECT DATABASE()").Scan(&name); err != nil {
		t.Fatal(err)
	}
	cfg, err := store.Config(testenv.ServerDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg.DBName = name
	opt := backup.Options{DSN: cfg.FormatDSN(), DataDir: env.Server.Config.DataDir, Dir: env.Server.Config.BackupDir(),
		AppVersion: "test", Now: env.Clock.Now}
	ctx := context.Background()
	m, err := backup.Run(ctx, opt)
	if err != nil {
		t.Fatalf("backup: %v", err)
	}
	if verify {
		if v, err := backup.Verify(ctx, opt, m.Name); err != nil || !v.OK {
			t.Fatalf("verify %s: %+v %v", m.Name, v, err)
		}
	}
	return m
}

// requested tells whether the page asked the API for path (the browser's
// resource timing lists every fetch).
func requested(b *tab, path string) bool {
	return browsertest.Eval[bool](b, fmt.Sprintf(`performance.getEntriesByType("resource").some(e => new URL(e.name).pathname === %s)`, browsertest.JS(path)))
}

// The admin sees the last backup and the last verified one with how its
// verification went, the sizes and the list; once the last verified backup
// is more than 26 hours old, every admin page carries a banner to the
// backups page. An operator sees no banner (the console does not even ask)
// and cannot open the operations pages.
func TestAdminSeesBackupsAndTheStaleBackupBanner(t *testing.T) {
	t.Parallel()
	env := newAppliance(t)
	cr := env.Demo.Credentials
	first := takeBackup(t, env, true)
	env.Clock.Advance(time.Hour)
	second := takeBackup(t, env, false)

	b := signIn(t, env, cr.Admin, "backups")
	b.WaitFor("the backups", `!document.getElementById("bk-body").hidden`, 5*time.Second)
	if browsertest.Eval[bool](b, `!document.getElementById("backup-banner").hidden`) {
		t.Errorf("a backup verified an hour ago shows the stale banner: %q", b.Text("#backup-banner"))
	}
	verified := b.Text("#bk-verified")
	if !strings.Contains(verified, "verificato il") || !strings.Contains(verified, "23/11/2026") {
		t.Errorf("last verified backup: %q", verified)
	}
	if got := b.Text("#bk-verification"); !strings.Contains(got, "riuscita") || !strings.Contains(got, first.Name) {
		t.Errorf("last verification: %q", got)
	}
	if got := b.Text("#bk-last"); !strings.Contains(got, "10:00") {
		t.Errorf("last backup (taken at 10:00 in Crema): %q", got)
	}
	rows := browsertest.Eval[[]string](b, `[...document.querySelectorAll("#bk-table tbody tr")].map(r => r.dataset.name + " " + r.cells[4].innerText)`)
	if len(rows) != 2 || !strings.HasPrefix(rows[0], second.Name+" ") || !strings.HasPrefix(rows[1], first.Name+" Verificato il") {
		t.Errorf("list, newest first: %q", rows)
	}
	if n := browsertest.Eval[int](b, `document.querySelectorAll("#bk-trend svg rect").length`); n != 2 {
		t.Errorf("size trend: %d bars, want 2", n)
	}
	if got := b.Text("#bk-trend figcaption"); !strings.Contains(got, "Gli ultimi 2 backup") {
		t.Errorf("the trend in words: %q", got)
	}
	if got := b.Text("#bk-offsite"); !strings.Contains(got, "Non configurata") {
		t.Errorf("off-site copy with none configured: %q", got)
	}
	if got := b.Text("#bk-body"); !strings.Contains(got, "avanti backup run") {
		t.Errorf("the page does not say how to take a backup now")
	}
	b.Axe("backups")
	b.Screenshot("console-backups-verified")

	// A day and more without a verified backup (the session is long over).
	env.Clock.Advance(27 * time.Hour)
	b = signIn(t, env, cr.Admin, "")
	b.WaitFor("the stale-backup banner", `!document.getElementById("backup-banner").hidden`, 5*time.Second)
	if got := b.Text("#backup-banner"); !strings.Contains(got, "più di 26 ore fa") || !strings.Contains(got, "23/11/2026") {
		t.Errorf("banner: %q", got)
	}
	b.Axe("home with the stale-backup banner")
	b.Screenshot("console-backup-banner")
	b.Click("#backup-banner a")
	b.WaitFor("the backups page", `location.pathname === "/console/backups" && document.body.dataset.state === "ready"`, 5*time.Second)
	if got := b.Text("#bk-stale"); !strings.Contains(got, "più di 26 ore fa") {
		t.Errorf("the backups page's warning: %q", got)
	}

	// The operator: no banner, no call to the admins' endpoint, no
	// operations pages (the API refuses them too).
	op := signIn(t, env, cr.Operator, "")
	if browsertest.Eval[bool](op, `!document.getElementById("backup-banner").hidden`) || requested(op, "/api/v1/backups") {
		t.Errorf("the operator's console asked for the backups or shows the banner")
	}
	for _, p := range []string{"backups", "maintenance", "updates"} {
		op.Open(env.URL + "/console/" + p)
		if got := ready(op); got != "forbidden" {
			t.Errorf("/console/%s as operator: %s", p, got)
		}
		if requested(op, "/api/v1/backups") {
			t.Errorf("/console/%s as operator asked for the backups", p)
		}
	}
	api := staff(t, env, cr.Operator)
	for _, p := range []string{"/api/v1/backups", "/api/v1/maintenance", "/api/v1/updates"} {
		if st, raw := api.Do("GET", p, nil); st != 403 {
			t.Errorf("GET %s as operator: %d %s", p, st, raw)
		}
	}
}

// The admin lets the vendor in for an hour with a reason, sees the window
// open with its remaining time, then closes it at once after confirming.
func TestAdminOpensAndClosesAMaintenanceWindow(t *testing.T) {
	t.Parallel()
	env := newAppliance(t)
	cr := env.Demo.Credentials
	b := signIn(t, env, cr.Admin, "maintenance")
	b.WaitFor("the maintenance page", `document.body.dataset.maint === "closed"`, 5*time.Second)
	if got := b.Text("#mt-closed"); !strings.Contains(got, "Nessuna finestra aperta") {
		t.Errorf("before: %q", got)
	}
	// No reason: said next to the field, nothing opened.
	b.Click("#mt-form button[type=submit]")
	b.WaitFor("the reason's error", `document.getElementById("mt-reason").getAttribute("aria-invalid") === "true"`, 5*time.Second)

	b.Fill("#mt-minutes", "60")
	b.Fill("#mt-reason", "Ticket 4711: stampante del totem")
	b.Click("#mt-form button[type=submit]")
	b.WaitFor("the open window", `document.body.dataset.maint === "open"`, 5*time.Second)
	if got := b.Text("#mt-open"); !strings.Contains(got, "Finestra aperta.") || !strings.Contains(got, "Si chiude tra") ||
		!strings.Contains(got, "Ticket 4711: stampante del totem") || !strings.Contains(got, cr.Admin.Username) {
		t.Errorf("open window: %q", got)
	}
	if got := b.Text("#mt-remaining"); !strings.Contains(got, "min") {
		t.Errorf("remaining time: %q", got)
	}
	if got := browsertest.Eval[string](b, `document.querySelector("#mt-windows tbody tr").dataset.state`); got != "open" {
		t.Errorf("the window in the list: %s", got)
	}
	b.Axe("maintenance with a window open")
	b.Screenshot("console-maintenance-open")

	// "Close now" asks first; cancelling leaves the window open.
	b.Click("#mt-close")
	b.WaitFor("the confirmation", `document.getElementById("mt-confirm").open`, 5*time.Second)
	b.Click("#mt-confirm-no")
	b.WaitFor("the confirmation gone", `!document.getElementById("mt-confirm").open`, 5*time.Second)
	if w, err := env.Store.CurrentMaintWindow(t.Context(), env.Clock.Now()); err != nil || w == nil {
		t.Fatalf("cancelling closed the window: %+v %v", w, err)
	}
	env.Clock.Advance(10 * time.Minute)
	b.Click("#mt-close")
	b.WaitFor("the confirmation", `document.getElementById("mt-confirm").open`, 5*time.Second)
	b.Click("#mt-confirm-yes")
	b.WaitFor("the window closed", `document.body.dataset.maint === "closed"`, 5*time.Second)
	if got := b.Text("#mt-windows tbody tr"); got != "23/11/2026, 09:00:00\t23/11/2026, 09:10:00\t"+cr.Admin.Username+"\tTicket 4711: stampante del totem\tChiusa da "+cr.Admin.Username {
		t.Errorf("the closed window in the list: %q", got)
	}
	if w, err := env.Store.CurrentMaintWindow(t.Context(), env.Clock.Now()); err != nil || w != nil {
		t.Errorf("the agent still sees a window: %+v %v", w, err)
	}
}

// The updates page shows the version and every attempt, with a rollback
// said as such, and that updates are applied on the appliance.
func TestUpdatesPageShowsTheHistory(t *testing.T) {
	t.Parallel()
	env := newAppliance(t)
	h := update.FileHistory{Path: env.Server.Config.UpdateHistoryPath()}
	at := testenv.Monday.Add(-48 * time.Hour)
	for _, e := range []update.Entry{
		{Version: "1.4.0", From: "1.3.2", At: at, FinishedAt: at.Add(3 * time.Minute), Result: update.Installed, SignedBy: "vendor-2026"},
		{Version: "1.5.0", From: "1.4.0", At: at.Add(24 * time.Hour), FinishedAt: at.Add(24*time.Hour + 5*time.Minute), Result: update.RolledBack, Reason: "health check failed: /healthz 503"},
	} {
		if err := h.Record(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
	b := signIn(t, env, env.Demo.Credentials.Admin, "updates")
	b.WaitFor("the history", `document.querySelectorAll("#up-table tbody tr[data-result]").length === 2`, 5*time.Second)
	rows := browsertest.Eval[[]string](b, `[...document.querySelectorAll("#up-table tbody tr")].map(r => r.innerText.replace(/\s+/g, " "))`)
	if !strings.Contains(rows[0], "1.4.0 1.5.0 Annullato: tornati alla versione precedente health check failed") {
		t.Errorf("newest attempt: %q", rows[0])
	}
	if !strings.Contains(rows[1], "1.3.2 1.4.0 Installato") {
		t.Errorf("older attempt: %q", rows[1])
	}
	if got := b.Text("#up-version"); got == "" {
		t.Errorf("no running version")
	}
	if got := b.Text("#content"); !strings.Contains(got, "avanti update apply BUNDLE") {
		t.Errorf("the page does not say how updates are applied")
	}
	b.Screenshot("console-updates-history")
}

// A new appliance: the sign-in page leads to the setup page; a wrong code
// is said next to its field; the right one sets the appliance up and the
// sign-in page opens with the administrator's name filled in, where the
// new password works. Afterwards the setup page says it is done.
func TestFirstBootSetupFromTheBrowser(t *testing.T) {
	t.Parallel()
	env := testenv.NewServer(t, testenv.Options{Empty: true, Mounts: server.Mounts{"/console/": console.Handler(), "/display/": signage.Handler()}})
	b := newTab(t, 1280, 900)
	b.Open(env.URL + "/console/login")
	b.WaitFor("the setup page", `location.pathname === "/console/setup" && document.body.dataset.setup === "pending"`, 10*time.Second)
	if got := b.Text("#setup-code-hint"); !strings.Contains(got, "console della macchina virtuale") {
		t.Errorf("where the code is: %q", got)
	}
	if got := browsertest.Eval[string](b, `document.getElementById("setup-timezone").value`); got != "Europe/Rome" {
		t.Errorf("time zone by default: %q", got)
	}
	if browsertest.Eval[bool](b, `!document.getElementById("setup-static-fields").hidden`) {
		t.Errorf("static address fields shown with DHCP")
	}
	b.Axe("setup")

	b.Fill("#setup-code", "0000-0000-0000")
	b.Fill("#setup-owner", "COMUNE DI OFFANENGO")
	b.Fill("#setup-site", "Municipio")
	b.Fill("#setup-address", "Piazza Patrini 1")
	b.Fill("#setup-admin-name", "Anna Bianchi")
	b.Fill("#setup-admin-email", "anna.bianchi@comune.offanengo.example")
	b.Fill("#setup-password", "Offanengo-2026!")
	b.Fill("#setup-password2", "Offanengo-2026!")
	b.Fill("#setup-ntp", "ntp.comune.local")
	b.Click("#setup-static")
	b.WaitFor("the static address fields", `!document.getElementById("setup-static-fields").hidden`, 5*time.Second)
	b.Fill("#setup-net-address", "10.20.0.5/24")
	b.Fill("#setup-gateway", "10.20.0.1")
	b.Fill("#setup-dns", "10.20.0.2, 10.20.0.3")
	b.Click("#setup-form button[type=submit]")
	b.WaitFor("the code's error", `document.getElementById("setup-code").getAttribute("aria-invalid") === "true"`, 5*time.Second)
	if got := b.Text("#setup-code-hint ~ .field-error"); got != "Non è il codice mostrato sulla console dell'appliance." {
		t.Errorf("wrong code: %q; page: %s", got, b.State())
	}
	b.Screenshot("console-setup-wrong-code")

	// A gateway that is not an address: the API's field error, at its field.
	b.Fill("#setup-code", env.Server.Setup.Code())
	b.Fill("#setup-gateway", "router")
	b.Click("#setup-form button[type=submit]")
	b.WaitFor("the gateway's error", `document.getElementById("setup-gateway").getAttribute("aria-invalid") === "true"`, 5*time.Second)
	if got := browsertest.Eval[string](b, `document.querySelector("#setup-gateway ~ .field-error").textContent`); got != "Il gateway è un indirizzo IP." {
		t.Errorf("gateway: %q", got)
	}

	b.Fill("#setup-gateway", "10.20.0.1")
	b.Click("#setup-form button[type=submit]")
	b.WaitFor("the sign-in page", `location.pathname === "/console/login" && document.body.dataset.state === "ready"`, 10*time.Second)
	if got := browsertest.Eval[string](b, `document.getElementById("signin-username").value`); got != "admin" {
		t.Errorf("the administrator's name is not filled in: %q", got)
	}
	b.Fill("#signin-password", "Offanengo-2026!")
	b.Click("#signin-form button[type=submit]")
	b.WaitFor("the home page", `location.pathname === "/console/" && document.body.dataset.state === "ready"`, 10*time.Second)
	if got := b.Text("#who"); !strings.Contains(got, "Anna Bianchi") {
		t.Errorf("signed in as %q", got)
	}
	var me struct{ Email string }
	if staff(t, env, demo.Login{Username: "admin", Password: "Offanengo-2026!"}).JSON("GET", "/api/v1/auth/me", nil, &me); me.Email != "anna.bianchi@comune.offanengo.example" {
		t.Errorf("the administrator's e-mail (for the alerts): %q", me.Email)
	}

	// Done once: the page says so and leads to sign in.
	other := newTab(t, 1280, 900)
	other.Open(env.URL + "/console/setup")
	other.WaitFor("the page", `document.body.dataset.setup === "done"`, 10*time.Second)
	if got := other.Text("#setup-done"); !strings.Contains(got, "La prima configurazione è già stata fatta.") || !strings.Contains(got, "Vai all'accesso") {
		t.Errorf("setup after it was done: %q", got)
	}
	if browsertest.Eval[bool](other, `!document.getElementById("setup-form").hidden`) {
		t.Errorf("the setup form is still shown")
	}
}
