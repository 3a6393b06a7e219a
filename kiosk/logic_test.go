package kiosk_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"avanti/appliance/browsertest"
	"avanti/appliance/fiscalcode"
	"avanti/kiosk"
)

// moduleTab is a tab on the assets alone (no appliance), where a test can
// import the pages' modules and call them.
func moduleTab(t *testing.T) *tab {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("/kiosk/", http.StripPrefix("/kiosk/", kiosk.Handler()))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	b := newTab(t, 800, 600)
	b.Open(srv.URL + "/kiosk/a/" + kiosk.Version() + "/kiosk.css")
	return b
}

func module[T any](b *tab, name, body string) T {
	b.T.Helper()
	return browsertest.EvalAwait[T](b, fmt.Sprintf(`import("./%s").then(m => { %s })`, name, body))
}

// A reader types a whole code with less than 50 ms between keys and ends
// with Enter; a person is slower. Only the reader's burst is a scan.
func TestScannerTellsAReaderFromAPerson(t *testing.T) {
	b := moduleTab(t)
	cases := []struct {
		name string
		keys string // JS array of [key, time]
		want string
	}{
		{"reader", `[..."RSSMRA85T10A562S"].map((k, i) => [k, 1000 + i * 8]).concat([["Enter", 1130]])`, "scan RSSMRA85T10A562S"},
		{"reader with shift keys", `[["Shift", 0], ["R", 5], ["Shift", 10], ["S", 15], ["S", 20], ["M", 25], ["R", 30], ["A", 35], ["8", 40], ["5", 45], ["Enter", 50]]`, "scan RSSMRA85"},
		{"person typing", `[..."RSSMRA85T10A562S"].map((k, i) => [k, 1000 + i * 180]).concat([["Enter", 5000]])`, "enter"},
		{"reader then a slow Enter", `[..."RSSMRA85T10A562S"].map((k, i) => [k, 1000 + i * 8]).concat([["Enter", 1400]])`, "enter"},
		{"fast but short", `[["1", 0], ["2", 5], ["Enter", 10]]`, "enter"},
		{"a person's key, then a reader", `[["x", 0], ...[..."ABCDEFGHIJ"].map((k, i) => [k, 500 + i * 10]), ["Enter", 600]]`, "scan ABCDEFGHIJ"},
		{"one slow gap breaks a burst", `[..."ABCDEFGH"].map((k, i) => [k, i * 10]).concat([["I", 200], ["J", 210], ["Enter", 215]])`, "enter"},
	}
	for _, c := range cases {
		got := module[string](b, "scanner.js", `
			const s = new m.Scanner();
			let out = "";
			for (const [k, at] of `+c.keys+`) {
				const r = s.key(k, at);
				if (r.scan) out = "scan " + r.scan;
				else if (r.enter) out = "enter";
			}
			return out;`)
		if got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}

// What the reader typed is read as the appliance's /api/v1/scan reads it;
// fiscal codes are validated as appliance/fiscalcode validates them.
func TestClassifyScannedText(t *testing.T) {
	b := moduleTab(t)
	token := strings.Repeat("aB3_-", 8) + "xyz"
	cases := []struct{ text, want string }{
		{token, "ticket " + token},
		{"http://avanti.comune.local/t/" + token, "ticket " + token},
		{"https://10.0.0.5/t/" + token + "?x=1", "ticket " + token},
		{"RSSMRA85T10A562S", "fiscal_code RSSMRA85T10A562S"},
		{"rssmra85t10a562s", "fiscal_code RSSMRA85T10A562S"},
		{" RSSMRA85T10A562S ", "fiscal_code RSSMRA85T10A562S"},
		{"RSSMRA85T10A562T", "error invalid_fiscal_code"},
		{"RSSMRA85T10A56XS", "error invalid_fiscal_code"},
		{"hello", "error unrecognized_code"},
		{"", "error no_code_found"},
	}
	for _, c := range cases {
		got := module[string](b, "scanner.js", `const r = m.classify(`+browsertest.JS(c.text)+`);
			return r.error ? "error " + r.error : r.kind + " " + (r.token || r.fiscal_code);`)
		if got != c.want {
			t.Errorf("classify(%q) = %q, want %q", c.text, got, c.want)
		}
	}
	// The page's check letter agrees with the appliance's on every
	// fiscal code of this table, valid or not.
	codes := []string{"RSSMRA85T10A562S", "BNCLRA90A41F205X", "VRDGPP80A01H501U", "MRTMTT25D09F205Z", "RSSMRA85T10A562T",
		"BNCLRA90A41F205Y", "LNEGLI70C20L219F", "FRNCST65S05D969K"}
	for _, fc := range codes {
		goOK := fiscalcode.Validate(fc) == nil
		jsOK := module[bool](b, "scanner.js", `return m.classify(`+browsertest.JS(fc)+`).kind === "fiscal_code";`)
		if goOK != jsOK {
			t.Errorf("%s: appliance says valid=%v, page says %v", fc, goOK, jsOK)
		}
	}
}

func TestPaging(t *testing.T) {
	b := moduleTab(t)
	cases := []struct {
		items, size, index int
		want               string
	}{
		{13, 6, 0, "0-5 1/3 first"},
		{13, 6, 1, "6-11 2/3"},
		{13, 6, 2, "12-12 3/3 last"},
		{13, 6, 9, "12-12 3/3 last"},
		{13, 6, -1, "0-5 1/3 first"},
		{6, 6, 0, "0-5 1/1 first last"},
		{0, 6, 0, "- 1/1 first last"},
	}
	for _, c := range cases {
		got := module[string](b, "paging.js", fmt.Sprintf(`
			const p = m.page([...Array(%d).keys()], %d, %d);
			const r = p.items.length ? p.items[0] + "-" + p.items[p.items.length - 1] : "-";
			return r + " " + (p.index + 1) + "/" + p.count + (p.first ? " first" : "") + (p.last ? " last" : "");`, c.items, c.size, c.index))
		if got != c.want {
			t.Errorf("page(%d items, %d, %d) = %q, want %q", c.items, c.size, c.index, got, c.want)
		}
	}
}

// Times are read as the site's clock says, whatever the browser's zone.
func TestWallTimes(t *testing.T) {
	b := moduleTab(t)
	cases := []struct{ expr, want string }{
		{`m.wall("2026-11-23T09:05:00+01:00").time`, "09:05"},
		{`m.wall("2026-11-23T09:05:00.123456+01:00").date`, "2026-11-23"},
		{`m.wall("2026-11-23T08:05:00Z").time`, "09:05"},
		{`m.wall("2026-07-01T22:30:00Z").date + " " + m.wall("2026-07-01T22:30:00Z").time`, "2026-07-02 00:30"},
		{`String(m.wall("nonsense"))`, "null"},
		{`m.addDays("2026-12-31", 1)`, "2027-01-01"},
		{`m.addDays("2026-03-01", -1)`, "2026-02-28"},
		{`m.whenLabel("2026-11-23T14:00:00+01:00", "it", "2026-11-23")`, "oggi alle 14:00"},
		{`m.whenLabel("2026-11-24T09:00:00+01:00", "it", "2026-11-23")`, "domani alle 09:00"},
		{`m.whenLabel("2026-11-24T09:00:00+01:00", "en", "2026-11-23")`, "tomorrow at 09:00"},
		{`m.whenLabel("2026-11-25T09:00:00+01:00", "it", "2026-11-23")`, "mercoledì 25 novembre alle 09:00"},
		{`m.whenLabel("2026-11-25T09:00:00+01:00", "en", "2026-11-23")`, "Wednesday 25 November at 09:00"},
	}
	for _, c := range cases {
		if got := module[string](b, "wall.js", "return "+c.expr); got != c.want {
			t.Errorf("%s = %q, want %q", c.expr, got, c.want)
		}
	}
}

// Every word has its English, and every error the contract names has its
// own sentence (never the generic one, never the API's message).
func TestCatalogueAndErrorTexts(t *testing.T) {
	b := moduleTab(t)
	missing := module[[]string](b, "i18n.js", `
		const it = Object.keys(m.CATALOGUE.it), en = m.CATALOGUE.en;
		return it.filter(k => !(k in en)).concat(Object.keys(en).filter(k => !(k in m.CATALOGUE.it)));`)
	if len(missing) > 0 {
		t.Errorf("keys in one language only: %v", missing)
	}
	codes := []string{"network", "no_availability", "service_closed", "slot_full", "slot_closed", "already_booked",
		"too_soon", "too_far", "invalid_fiscal_code", "phone_required", "name_required", "identification_not_allowed",
		"too_early", "ticket_expired", "already_checked_in", "already_served", "ticket_revoked", "ticket_not_found",
		"no_appointment_today", "unrecognized_code", "no_code_found", "image_too_large", "unsupported_media_type",
		"invalid_image", "printer_offline", "printer_paper_out", "printer_cover_open", "printer_error", "printer_not_network",
		"unauthenticated", "not_found"}
	for _, lang := range []string{"it", "en"} {
		generic := module[string](b, "i18n.js", `return m.errorText(`+browsertest.JS(lang)+`, {code: "what_is_this"});`)
		for _, code := range codes {
			got := module[string](b, "i18n.js", `return m.errorText(`+browsertest.JS(lang)+`, {code: `+browsertest.JS(code)+`, message: "RAW API MESSAGE"});`)
			if got == generic || got == "" || strings.Contains(got, "RAW") || strings.Contains(got, "err.") {
				t.Errorf("%s %s: %q", lang, code, got)
			}
		}
	}
	got := module[[]string](b, "i18n.js", `
		const when = (iso, what) => what === "time" ? iso.slice(11, 16) : "domani alle " + iso.slice(11, 16);
		return [
			m.errorText("it", {code: "too_early", details: {come_back_at: "2026-11-23T10:30:00+01:00"}}, when),
			m.errorText("en", {code: "too_early", details: {come_back_at: "2026-11-23T10:30:00+01:00"}}, when),
			m.errorText("it", {code: "no_availability", details: {next: "2026-11-24T09:00:00+01:00"}}, when),
			m.errorText("it", {code: "printer_paper_out"}),
		];`)
	want := []string{
		"È ancora presto per confermare la presenza. Torna alle 10:30.",
		"It is still too early to confirm you are here. Please come back at 10:30.",
		"Oggi non ci sono più posti per questo servizio. Il prossimo posto libero è domani alle 09:00.",
		"La stampante ha finito la carta. Il tuo biglietto è valido lo stesso: fotografa lo schermo o ricorda il numero, e avvisa il personale.",
	}
	if !slices.Equal(got, want) {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

func TestOnScreenKeyboardKeys(t *testing.T) {
	b := moduleTab(t)
	got := module[[]string](b, "keyboard.js", `
		let v = "";
		const out = [];
		for (const k of [m.SPACE, "M", "A", m.SPACE, m.SPACE, "'", m.DELETE, "X"]) { v = m.applyKey(v, k, 60); out.push(v); }
		out.push(m.applyKey("1234", "5", 4));
		out.push(m.applyKey("", m.DELETE));
		out.push(m.applyKey("NICOLÒ", m.DELETE));
		return out;`)
	want := []string{"", "M", "MA", "MA ", "MA ", "MA '", "MA ", "MA X", "1234", "", "NICOL"}
	if !slices.Equal(got, want) {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

// The live client is signage's, copied: it still keeps one seq per channel.
func TestLiveClientSeqPerChannel(t *testing.T) {
	b := moduleTab(t)
	got := module[[]string](b, "live.js", `
		const log = [];
		const l = new m.Live({url: () => "", onSnapshot: () => log.push("snapshot"), onEvent: (e, {gap}) => log.push(e.channel + ":" + e.seq + (gap ? " gap" : ""))});
		l.send = e => { log.push("send " + e.type); return true; };
		l.receive({type: "snapshot", channel: "kiosk:1", epoch: "e1", seq: 3, seqs: {"kiosk:1": 3, "owner:1:services": 10}});
		l.receive({type: "queue", channel: "owner:1:services", epoch: "e1", seq: 11});
		l.receive({type: "queue", channel: "owner:1:services", epoch: "e1", seq: 11});
		l.receive({type: "config", channel: "kiosk:1", epoch: "e1", seq: 4});
		l.receive({type: "queue", channel: "owner:1:services", epoch: "e1", seq: 13});
		log.push("seq " + l.seq);
		return log;`)
	want := []string{"snapshot", "owner:1:services:11", "kiosk:1:4", "send snapshot", "owner:1:services:13 gap", "seq 4"}
	if !slices.Equal(got, want) {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}
