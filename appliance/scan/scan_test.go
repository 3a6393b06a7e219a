package scan

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"avanti/appliance/fiscalcode"
)

// newToken makes a token the way the store does: 32 random bytes, base64url.
func newToken(t testing.TB) string {
	t.Helper()
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func ticketURL(token string) string { return "https://avanti.comune.crema.cr.it/t/" + token }

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	var se *Error
	if !errors.As(err, &se) {
		t.Fatalf("error %v (%T), want a *scan.Error with code %q", err, err, code)
	}
	if se.Code != code {
		t.Fatalf("error code %q (%v), want %q", se.Code, err, code)
	}
}

func TestScannerInputOfATicketQRYieldsItsToken(t *testing.T) {
	tok := newToken(t)
	for _, in := range []string{
		tok,
		tok + "\r\n",
		ticketURL(tok),
		ticketURL(tok) + "\r",
		"  " + ticketURL(tok) + "/\n",
		ticketURL(tok) + "?lang=en#top",
		"http://10.0.0.5:8080/kiosk/t/" + tok,
		"HTTPS://avanti.local/t/" + tok,
		"/t/" + tok,
	} {
		r, err := ParseScannerInput(in)
		if err != nil {
			t.Errorf("ParseScannerInput(%q): %v", in, err)
			continue
		}
		if r.Kind != KindTicket || r.Token != tok || r.FiscalCode != "" {
			t.Errorf("ParseScannerInput(%q) = %+v, want ticket %s", in, r, tok)
		}
	}
}

func TestScannerInputOfAHealthCardYieldsTheFiscalCode(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"RSSMRA85T10A562S", "RSSMRA85T10A562S"},
		{"RSSMRA85T10A562S\r\n", "RSSMRA85T10A562S"},
		{"rssmra85t10a562s\n", "RSSMRA85T10A562S"}, // scanner with Caps Lock confusion
		{"\tVRDGLI92E55F205V ", "VRDGLI92E55F205V"},
		{"RSSMRAURTMLARSNL", "RSSMRAURTMLARSNL"}, // omocodia
	} {
		r, err := ParseScannerInput(tc.in)
		if err != nil {
			t.Errorf("ParseScannerInput(%q): %v", tc.in, err)
			continue
		}
		if r.Kind != KindFiscalCode || r.FiscalCode != tc.want || r.Token != "" {
			t.Errorf("ParseScannerInput(%q) = %+v, want fiscal code %s", tc.in, r, tc.want)
		}
	}
}

func TestScannerInputThatIsNeitherIsRejectedWithACode(t *testing.T) {
	tok := newToken(t)
	for _, tc := range []struct{ in, code string }{
		{"", CodeNoCodeFound},
		{" \r\n", CodeNoCodeFound},
		{"RSSMRA85T10A562X", CodeInvalidFiscalCode}, // wrong check character
		{"RSSMRA85T10A562S0", CodeUnrecognized},     // 17 characters
		{"RSSMRA85X10A562S", CodeInvalidFiscalCode}, // X is no month
		{"8001234567890", CodeUnrecognized},         // an EAN from a product
		{tok[:42], CodeUnrecognized},
		{tok + "A", CodeUnrecognized},
		{strings.Repeat("_", 43), CodeUnrecognized},
		{tok[:42] + "B", CodeUnrecognized},                 // non-canonical last character
		{"https://example.com/x/" + tok, CodeUnrecognized}, // not a /t/ path
		{"ftp://avanti/t/" + tok, CodeUnrecognized},
		{"https://avanti/t/" + tok + "/extra", CodeUnrecognized},
		{"javascript:alert(1)//t/" + tok, CodeUnrecognized},
		{strings.Repeat("A", 5000), CodeUnrecognized},
		{"RSSMRÀ85T10A562S", CodeUnrecognized},
	} {
		r, err := ParseScannerInput(tc.in)
		if err == nil {
			t.Errorf("ParseScannerInput(%.60q) = %+v, want error %s", tc.in, r, tc.code)
			continue
		}
		var se *Error
		if !errors.As(err, &se) || se.Code != tc.code {
			t.Errorf("ParseScannerInput(%.60q): %v, want code %s", tc.in, err, tc.code)
		}
	}
}

func TestInvalidFiscalCodeKeepsTheReason(t *testing.T) {
	_, err := ParseScannerInput("RSSMRA85T10A562X")
	var fe *fiscalcode.Error
	if !errors.As(err, &fe) || fe.Reason != fiscalcode.ReasonCheckCharacter {
		t.Fatalf("error %v, want it to wrap a fiscalcode.Error with reason %s", err, fiscalcode.ReasonCheckCharacter)
	}
	if strings.Contains(err.Error(), "RSSMRA") {
		t.Errorf("error %q repeats the scanned code", err)
	}
}

func FuzzParseScannerInput(f *testing.F) {
	tok := newToken(f)
	for _, s := range []string{
		"", tok, ticketURL(tok) + "\r\n", "RSSMRA85T10A562S\r\n", "rssmra85t10a562x",
		"https://a/t/" + tok + "/", "/t/", "%zz/t/" + tok, "\x00\xff", "ſſſſſſſſſſſſſſſſ",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseScannerInput(s)
		if err != nil {
			var se *Error
			if !errors.As(err, &se) {
				t.Fatalf("error %v is not a *scan.Error", err)
			}
			switch se.Code {
			case CodeNoCodeFound, CodeUnrecognized, CodeInvalidFiscalCode:
			default:
				t.Fatalf("unexpected code %q", se.Code)
			}
			if r != (Result{}) {
				t.Fatalf("error with a result %+v", r)
			}
			return
		}
		switch r.Kind {
		case KindTicket:
			if !isToken(r.Token) || !strings.Contains(s, r.Token) || r.FiscalCode != "" {
				t.Fatalf("ticket result %+v from %q", r, s)
			}
		case KindFiscalCode:
			if fiscalcode.Validate(r.FiscalCode) != nil || fiscalcode.Normalize(r.FiscalCode) != r.FiscalCode || r.Token != "" {
				t.Fatalf("fiscal code result %+v from %q", r, s)
			}
		default:
			t.Fatalf("result of kind %q", r.Kind)
		}
	})
}
