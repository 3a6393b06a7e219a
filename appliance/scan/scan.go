// Package scan tells what a totem's barcode reader or camera saw: a ticket
// QR code (which carries the ticket's token) or the Code 39 barcode on the
// back of a Tessera Sanitaria (which carries the citizen's fiscal code).
//
// It is pure: it classifies text and decodes images, and looks nothing up.
// Whether the token belongs to a ticket is the store's question.
package scan

import (
	"encoding/base64"
	"net/url"
	"path"
	"strings"

	"avanti/appliance/fiscalcode"
)

// Kinds of Result.
const (
	KindTicket     = "ticket"
	KindFiscalCode = "fiscal_code"
)

// Result is a recognised code. Exactly one of Token and FiscalCode is set,
// as Kind says.
type Result struct {
	Kind       string `json:"kind"`
	Token      string `json:"token,omitempty"`
	FiscalCode string `json:"fiscal_code,omitempty"` // normalized: upper case, no spaces
}

// Error codes, stable and machine-readable.
const (
	CodeNoCodeFound       = "no_code_found"       // nothing readable in the image or input
	CodeUnrecognized      = "unrecognized_code"   // a code was read, but it is neither a ticket nor a fiscal code
	CodeInvalidFiscalCode = "invalid_fiscal_code" // looks like a fiscal code but fails validation (misread, damaged card)
	CodeImageTooLarge     = "image_too_large"     // over the byte or pixel limit
	CodeInvalidImage      = "invalid_image"       // not a PNG or JPEG, or corrupt
)

// Error says why nothing usable came out of a scan. Message is English,
// for logs and for the page to map Code to its own wording; it never
// repeats what was scanned, which may be personal data.
type Error struct {
	Code    string
	Message string
	Err     error // the underlying cause, if any (a *fiscalcode.Error for invalid_fiscal_code)
}

func (e *Error) Error() string {
	if e.Err != nil {
		return "scan: " + e.Message + ": " + e.Err.Error()
	}
	return "scan: " + e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// TokenLength is the length of a ticket token: 256 random bits in
// unpadded base64url, as the store issues them.
const TokenLength = 43

// maxInput bounds what classify looks at: a ticket URL is well under it,
// and anything longer is not ours.
const maxInput = 2048

// classify decides what a decoded or typed text is.
func classify(text string) (Result, error) {
	if len(text) > maxInput {
		return Result{}, &Error{Code: CodeUnrecognized, Message: "code is too long to be a ticket or a fiscal code"}
	}
	if isToken(text) {
		return Result{Kind: KindTicket, Token: text}, nil
	}
	if tok, ok := tokenFromURL(text); ok {
		return Result{Kind: KindTicket, Token: tok}, nil
	}
	fc := fiscalcode.Normalize(text)
	if !looksLikeFiscalCode(fc) {
		return Result{}, &Error{Code: CodeUnrecognized, Message: "code is neither a ticket nor a fiscal code"}
	}
	if err := fiscalcode.Validate(fc); err != nil {
		return Result{}, &Error{Code: CodeInvalidFiscalCode, Message: "code is not a valid fiscal code", Err: err}
	}
	return Result{Kind: KindFiscalCode, FiscalCode: fc}, nil
}

// isToken checks the shape strictly (canonical encoding of exactly 32
// bytes) so that a random 43-character string is not sent to the store.
func isToken(s string) bool {
	if len(s) != TokenLength {
		return false
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	return err == nil && len(b) == 32
}

// tokenFromURL accepts "…/t/<token>" as the ticket QR carries it: any host
// (the appliance's name differs per site), an optional trailing slash, and
// a query or fragment ignored.
func tokenFromURL(s string) (string, bool) {
	u, err := url.Parse(s)
	if err != nil {
		return "", false
	}
	switch strings.ToLower(u.Scheme) {
	case "http", "https", "":
	default:
		return "", false
	}
	dir, tok := path.Split(strings.TrimSuffix(u.Path, "/"))
	if !strings.HasSuffix(dir, "/t/") || !isToken(tok) {
		return "", false
	}
	return tok, true
}

// looksLikeFiscalCode is true for 16 ASCII letters and digits: such a text
// was meant as a fiscal code, so a failed check is reported as a misread
// fiscal code rather than as an unknown code.
func looksLikeFiscalCode(s string) bool {
	if len(s) != fiscalcode.Length {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// ParseScannerInput classifies what a keyboard-wedge scanner typed: a
// ticket URL or bare token from the QR, or a fiscal code from the health
// card (in any case, with the Enter the scanner ends it with).
func ParseScannerInput(s string) (Result, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Result{}, &Error{Code: CodeNoCodeFound, Message: "scanner input is empty"}
	}
	return classify(s)
}
