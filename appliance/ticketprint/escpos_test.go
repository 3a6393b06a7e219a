package ticketprint

import (
	"bytes"
	"image"
	"image/color"
	"strings"
	"testing"
	"time"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/qrcode"
)

var rome = time.FixedZone("CET", 3600)

const testURL = "https://avanti.comune.crema.cr.it/t/3q2-7wAAAAAB_xVZCTKx5x9lQm0vR0aSfrlQyzJPd2k"

func sampleTicket() Ticket {
	return Ticket{
		Owner:   "COMUNE DI CREMA",
		Address: "Piazza del Duomo 25, 26013 Crema (CR)",
		Service: "Servizi sociali — Carta d'identità",
		Start:   time.Date(2026, time.November, 23, 9, 20, 0, 0, rome),
		Code:    "A023",
		URL:     testURL,
		Info: "Portare un documento di riconoscimento valido e la fototessera. " +
			"Il pagamento si effettua allo sportello con carta o bancomat.\n\n" +
			"Informazioni: www.comune.crema.cr.it — tel. 0373 8941",
	}
}

// printed is what a test reads back from an ESC/POS stream.
type printed struct {
	lines    []printedLine
	raster   *raster
	rasterAt int // index in lines of the first line after the raster
	codePage int // -1 when never selected
	cuts     int
	cutLast  bool
}

type printedLine struct {
	text string // raw printer bytes
	// Attributes in force when the line was fed: ESCPOS sets them before
	// the text and resets them after the line feed.
	bold  bool
	size  byte // GS ! argument
	align byte // ESC a argument
}

type raster struct {
	widthBytes, height int
	data               []byte
}

func (r *raster) black(x, y int) bool {
	return r.data[y*r.widthBytes+x/8]&(0x80>>(x%8)) != 0
}

func (r *raster) image() image.Image {
	img := image.NewGray(image.Rect(0, 0, r.widthBytes*8, r.height))
	for y := range r.height {
		for x := range r.widthBytes * 8 {
			c := color.Gray{255}
			if r.black(x, y) {
				c = color.Gray{0}
			}
			img.SetGray(x, y, c)
		}
	}
	return img
}

// parseESCPOS understands exactly the commands ESCPOS emits and fails the
// test on any other control byte, so an unexpected command cannot slip in.
func parseESCPOS(t *testing.T, b []byte) printed {
	t.Helper()
	if !bytes.HasPrefix(b, cmdInit) {
		t.Fatalf("stream does not start with ESC @: % x", b[:min(len(b), 8)])
	}
	p := printed{codePage: -1}
	var cur printedLine
	var text []byte
	need := func(i, n int) {
		if i+n > len(b) {
			t.Fatalf("command at %d truncated: need %d bytes, stream has %d", i, n, len(b)-i)
		}
	}
	for i := 0; i < len(b); {
		c := b[i]
		p.cutLast = false
		switch {
		case c == 0x1B:
			need(i, 2)
			switch b[i+1] {
			case '@':
				if i != 0 {
					t.Fatalf("ESC @ in the middle of the stream at %d", i)
				}
				i += 2
				continue
			case 't':
				need(i, 3)
				p.codePage = int(b[i+2])
			case 'a':
				need(i, 3)
				cur.align = b[i+2]
			case 'E':
				need(i, 3)
				cur.bold = b[i+2] == 1
			default:
				t.Fatalf("unexpected ESC %q at %d", b[i+1], i)
			}
			i += 3
		case c == 0x1D:
			need(i, 2)
			switch b[i+1] {
			case '!':
				need(i, 3)
				cur.size = b[i+2]
				i += 3
			case 'V':
				need(i, 4)
				if b[i+2] != 66 {
					t.Fatalf("cut mode %d, want 66 (feed and partial cut)", b[i+2])
				}
				p.cuts++
				i += 4
				p.cutLast = true
			case 'v':
				need(i, 8)
				if b[i+2] != '0' || b[i+3] != 0 {
					t.Fatalf("GS v %q %d, want GS v 0 normal mode", b[i+2], b[i+3])
				}
				r := &raster{widthBytes: int(b[i+4]) | int(b[i+5])<<8, height: int(b[i+6]) | int(b[i+7])<<8}
				n := r.widthBytes * r.height
				need(i, 8+n)
				r.data = b[i+8 : i+8+n]
				if p.raster != nil {
					t.Fatal("more than one raster image")
				}
				p.raster, p.rasterAt = r, len(p.lines)
				i += 8 + n
			default:
				t.Fatalf("unexpected GS %q at %d", b[i+1], i)
			}
		case c == '\n':
			cur.text = string(text)
			p.lines = append(p.lines, cur)
			text = nil
			i++
		case c < 0x20 || c == 0x7F:
			t.Fatalf("unexpected control byte %#x at %d", c, i)
		default:
			text = append(text, c)
			i++
		}
	}
	if len(text) > 0 {
		t.Fatalf("stream ends with unterminated text %q", text)
	}
	return p
}

func mustESCPOS(t *testing.T, tk Ticket, opt Options) printed {
	t.Helper()
	b, err := ESCPOS(tk, opt)
	if err != nil {
		t.Fatalf("ESCPOS: %v", err)
	}
	return parseESCPOS(t, b)
}

func TestTicketStartsWithInitAndEndsWithOnePartialCut(t *testing.T) {
	b, err := ESCPOS(sampleTicket(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte{0x1B, '@', 0x1B, 't', 19}) {
		t.Errorf("stream starts % x, want ESC @ then ESC t 19 (PC858)", b[:5])
	}
	if !bytes.HasSuffix(b, []byte{0x1D, 'V', 66, 0}) {
		t.Errorf("stream ends % x, want GS V 66 0", b[len(b)-4:])
	}
	p := parseESCPOS(t, b)
	if p.cuts != 1 || !p.cutLast {
		t.Errorf("cuts = %d, cut last = %v; want exactly one cut, at the end", p.cuts, p.cutLast)
	}
	if p.codePage != 19 {
		t.Errorf("code page = %d, want 19 (PC858)", p.codePage)
	}
}

func TestTicketPrintsItalianTextInPC858(t *testing.T) {
	p := mustESCPOS(t, sampleTicket(), Options{})
	want := "Servizi sociali - Carta d'identit\x85" // à is 0x85 in PC850/858
	for _, l := range p.lines {
		if l.text == want {
			if !l.bold {
				t.Error("service line is not bold")
			}
			return
		}
	}
	t.Errorf("no line % x among %q", want, texts(p.lines))
}

func TestEncodeTextTransliteratesWhatPC858Lacks(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"Servizi sociali — Carta d'identità", "Servizi sociali - Carta d'identit\x85"},
		{"àèéìòù", "\x85\x8a\x82\x8d\x95\x97"},
		{"ÀÈÉÌÒÙ", "\xb7\xd4\x90\xde\xe3\xeb"},
		{"€ 16,79", "\xd5 16,79"},
		{"l’ufficio “Tributi”…", `l'ufficio "Tributi"...`},
		{"Łódź", "?\xa2dz"}, // Ł has no decomposition; ź loses its accent
		{"Ștefan", "Stefan"},
		{"A\x1b@B\x1dV\x00C", "A@BVC"}, // control bytes never reach the printer
		{"a\u00a0b\tc", "a b c"},
		{"日本", "??"},
	} {
		if got := string(encodeText(tc.in)); got != tc.want {
			t.Errorf("encodeText(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestTicketLinesComeInTheIssueOrder(t *testing.T) {
	p := mustESCPOS(t, sampleTicket(), Options{})
	got := texts(p.lines)
	want := []string{
		"COMUNE DI CREMA",
		"Piazza del Duomo 25, 26013 Crema (CR)",
		"",
		"Servizi sociali - Carta d'identit\x85",
		"Luned\x8d 23 novembre 2026",
		"Ore 09:20",
		"",
		"A023",
		"",
		"", // the line feed after the raster image
		"Portare un documento di riconoscimento valido e",
		"la fototessera. Il pagamento si effettua allo",
		"sportello con carta o bancomat.",
		"",
		"Informazioni: www.comune.crema.cr.it - tel. 0373",
		"8941",
	}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("lines:\n got %q\nwant %q", got, want)
	}
	if p.raster == nil || p.rasterAt != 9 {
		t.Errorf("raster before line %d, want 9 (after the code and a blank line)", p.rasterAt)
	}
	owner := p.lines[0]
	if !owner.bold || owner.size != 0x01 || owner.align != 1 {
		t.Errorf("owner line bold=%v size=%#x align=%d; want bold, double height, centered", owner.bold, owner.size, owner.align)
	}
	if info := p.lines[10]; info.align != 0 || info.bold || info.size != 0 {
		t.Errorf("info line bold=%v size=%#x align=%d; want plain, left-aligned", info.bold, info.size, info.align)
	}
}

func TestWalkInTicketSaysTodayAndExpectedTime(t *testing.T) {
	tk := sampleTicket()
	tk.WalkIn = true
	p := mustESCPOS(t, tk, Options{})
	got := strings.Join(texts(p.lines), "|")
	for _, want := range []string{"Oggi, luned\x8d 23 novembre 2026", "Orario previsto: 09:20"} {
		if !strings.Contains(got, want) {
			t.Errorf("walk-in ticket lacks %q: %q", want, got)
		}
	}
}

func TestDateAndTimeTextInItalian(t *testing.T) {
	for _, tc := range []struct {
		start      time.Time
		walkIn     bool
		date, hour string
	}{
		{time.Date(2026, 11, 23, 9, 20, 0, 0, rome), false, "Lunedì 23 novembre 2026", "Ore 09:20"},
		{time.Date(2026, 11, 23, 9, 20, 0, 0, rome), true, "Oggi, lunedì 23 novembre 2026", "Orario previsto: 09:20"},
		{time.Date(2027, 1, 1, 14, 5, 0, 0, rome), false, "Venerdì 1 gennaio 2027", "Ore 14:05"},
		{time.Date(2026, 8, 16, 8, 0, 0, 0, rome), false, "Domenica 16 agosto 2026", "Ore 08:00"},
		{time.Date(2026, 3, 4, 11, 30, 0, 0, rome), false, "Mercoledì 4 marzo 2026", "Ore 11:30"},
		// The ticket shows the time where it was booked, not UTC.
		{time.Date(2026, 12, 31, 23, 30, 0, 0, time.UTC).In(rome), false, "Venerdì 1 gennaio 2027", "Ore 00:30"},
	} {
		tk := Ticket{Start: tc.start, WalkIn: tc.walkIn}
		if got := tk.DateText(); got != tc.date {
			t.Errorf("DateText(%v, walk-in %v) = %q, want %q", tc.start, tc.walkIn, got, tc.date)
		}
		if got := tk.TimeText(); got != tc.hour {
			t.Errorf("TimeText(%v, walk-in %v) = %q, want %q", tc.start, tc.walkIn, got, tc.hour)
		}
	}
}

func TestTicketCodeIsQuadrupleSizeBold(t *testing.T) {
	p := mustESCPOS(t, sampleTicket(), Options{})
	for _, l := range p.lines {
		if l.text == "A023" {
			if l.size != 0x33 || !l.bold {
				t.Errorf("code line size=%#x bold=%v, want 0x33 (4×4) bold", l.size, l.bold)
			}
			return
		}
	}
	t.Fatal("code line not found")
}

func TestLongTicketCodeIsMagnifiedOnlyAsFarAsItFits(t *testing.T) {
	for _, tc := range []struct {
		code string
		opt  Options
		size byte
	}{
		{"A023", Options{DotsWidth: 384}, 0x33},          // 58 mm: 32 columns, 4 × 4 = 16 ≤ 32
		{"SOCIALI-0123", Options{}, 0x33},                // 12 × 4 = 48 columns: fits exactly
		{"SERVIZIO-0123", Options{}, 0x22},               // 13 characters: triple size
		{"CARTA-IDENTITA-0001", Options{}, 0x11},         // 19: double
		{"CARTA-IDENTITA-0001-MATTINA", Options{}, 0x00}, // 27: normal
	} {
		tk := sampleTicket()
		tk.Code = tc.code
		p := mustESCPOS(t, tk, tc.opt)
		found := false
		for _, l := range p.lines {
			if l.text == tc.code {
				found = true
				if l.size != tc.size {
					t.Errorf("code %q on %d dots: size %#x, want %#x", tc.code, tc.opt.DotsWidth, l.size, tc.size)
				}
			}
		}
		if !found {
			t.Errorf("code %q not printed on one line: %q", tc.code, texts(p.lines))
		}
	}
}

func TestRasterIsTheQRBitmapScaledAndCentered(t *testing.T) {
	bitmap, err := qrBitmap(testURL)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		opt        Options
		widthBytes int
		scale      int
	}{
		{Options{}, 72, 8},
		{Options{QRModuleDots: 4}, 72, 4},
		{Options{DotsWidth: 384}, 48, 8},
		{Options{DotsWidth: 200}, 25, 4}, // 45 modules × 8 do not fit 200 dots: shrink to 4
	} {
		p := mustESCPOS(t, sampleTicket(), tc.opt)
		r := p.raster
		n := len(bitmap)
		if r.widthBytes != tc.widthBytes || r.height != n*tc.scale {
			t.Errorf("%+v: raster %d bytes × %d rows, want %d × %d (%d modules × %d dots)",
				tc.opt, r.widthBytes, r.height, tc.widthBytes, n*tc.scale, n, tc.scale)
			continue
		}
		left := (r.widthBytes*8 - n*tc.scale) / 2
		for y := range r.height {
			for x := range r.widthBytes * 8 {
				want := false
				if mx := x - left; mx >= 0 && mx < n*tc.scale {
					want = bitmap[y/tc.scale][mx/tc.scale]
				}
				if r.black(x, y) != want {
					t.Fatalf("%+v: dot (%d,%d) black=%v, want %v", tc.opt, x, y, !want, want)
				}
			}
		}
	}
}

func TestRasterQRDecodesToTheTicketURL(t *testing.T) {
	for _, opt := range []Options{{}, {DotsWidth: 384}, {QRModuleDots: 3}} {
		p := mustESCPOS(t, sampleTicket(), opt)
		if got := decodeQR(t, p.raster.image()); got != testURL {
			t.Errorf("%+v: raster QR decodes to %q, want %q", opt, got, testURL)
		}
	}
}

func TestQRPNGDecodesToTheURL(t *testing.T) {
	b, err := QRPNG(testURL, 300)
	if err != nil {
		t.Fatal(err)
	}
	img, _, err := image.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("QRPNG is not a PNG: %v", err)
	}
	if img.Bounds().Dx() != 300 {
		t.Errorf("width %d, want 300", img.Bounds().Dx())
	}
	if got := decodeQR(t, img); got != testURL {
		t.Errorf("QR decodes to %q, want %q", got, testURL)
	}
}

func decodeQR(t *testing.T, img image.Image) string {
	t.Helper()
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		t.Fatal(err)
	}
	res, err := qrcode.NewQRCodeReader().Decode(bmp, map[gozxing.DecodeHintType]any{gozxing.DecodeHintType_TRY_HARDER: true})
	if err != nil {
		t.Fatalf("decode QR: %v", err)
	}
	return res.GetText()
}

func TestInfoTextIsWrappedToThePaperWidth(t *testing.T) {
	tk := sampleTicket()
	tk.Info = "Si ricorda che l'accesso agli sportelli è consentito solo con il biglietto. " +
		"Precipitevolissimevolmente-senza-spazi-e-più-lungo-di-una-riga-intera-di-carta.\r\n" +
		"\n  Grazie.  "
	for _, opt := range []Options{{}, {DotsWidth: 384}, {Columns: 42}} {
		cols := opt.withDefaults().Columns
		p := mustESCPOS(t, tk, opt)
		info := p.lines[p.rasterAt+1:]
		var words []string
		blank := 0
		for _, l := range info {
			if len(l.text) > cols {
				t.Errorf("%d columns: line %q is %d long", cols, l.text, len(l.text))
			}
			if l.text == "" {
				blank++
			}
			words = append(words, strings.Fields(l.text)...)
		}
		if blank != 1 {
			t.Errorf("%d columns: %d blank lines in the info text, want the 1 it has", cols, blank)
		}
		joined := strings.Join(words, " ")
		want := string(encodeText("Si ricorda che l'accesso agli sportelli è consentito solo con il biglietto."))
		if !strings.HasPrefix(joined, want) || !strings.HasSuffix(joined, "Grazie.") {
			t.Errorf("%d columns: info words %q", cols, joined)
		}
	}
}

func TestWrap(t *testing.T) {
	for _, tc := range []struct {
		in   string
		cols int
		want []string
	}{
		{"", 10, []string{""}},
		{"   ", 10, []string{""}},
		{"uno due tre", 7, []string{"uno due", "tre"}},
		{"uno  due", 20, []string{"uno due"}},
		{"abcdefghij", 4, []string{"abcd", "efgh", "ij"}},
		{"ab abcdefghij cd", 4, []string{"ab", "abcd", "efgh", "ij", "cd"}},
		{"x", 0, []string{"x"}},
		{"\xc2\x85 \xff", 2, []string{"\xc2\x85", "\xff"}}, // PC858 bytes, not UTF-8 spaces
	} {
		var got []string
		for _, l := range wrap([]byte(tc.in), tc.cols) {
			got = append(got, string(l))
		}
		if strings.Join(got, "|") != strings.Join(tc.want, "|") {
			t.Errorf("wrap(%q, %d) = %q, want %q", tc.in, tc.cols, got, tc.want)
		}
	}
}

func TestTicketWithoutWhatItNeedsIsRefused(t *testing.T) {
	for name, mutate := range map[string]func(*Ticket){
		"no code":      func(t *Ticket) { t.Code = "  " },
		"no start":     func(t *Ticket) { t.Start = time.Time{} },
		"no URL":       func(t *Ticket) { t.URL = "" },
		"URL too long": func(t *Ticket) { t.URL = "https://x/" + strings.Repeat("é", 3000) },
	} {
		tk := sampleTicket()
		mutate(&tk)
		if b, err := ESCPOS(tk, Options{}); err == nil {
			t.Errorf("%s: got %d bytes, want an error", name, len(b))
		}
	}
	if _, err := ESCPOS(sampleTicket(), Options{DotsWidth: 40}); err == nil {
		t.Error("QR on 40 dots: want an error, it cannot fit")
	}
	if _, err := QRPNG("", 100); err == nil {
		t.Error("QRPNG of an empty payload: want an error")
	}
}

func texts(lines []printedLine) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = l.text
	}
	return out
}
