// Package fiscalcode validates and decodes the Italian fiscal code (codice
// fiscale) of a natural person, the identifier a citizen gives the appliance
// by swiping a health card (Tessera Sanitaria) or typing it at the kiosk.
//
// It checks the structure, the month and day fields, omocodia substitutions
// and the check character. It cannot tell whether the code was actually
// issued: only the Agenzia delle Entrate knows that.
package fiscalcode

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Reasons are stable machine-readable causes, safe to log and to branch on.
const (
	ReasonLength         = "length"
	ReasonFormat         = "format"
	ReasonMonth          = "month"
	ReasonDay            = "day"
	ReasonCheckCharacter = "check_character"
)

// Length is the number of characters of a fiscal code of a natural person.
const Length = 16

// Error says why a fiscal code was rejected. Message is English text meant
// for the citizen or the operator; Reason is one of the Reason constants.
type Error struct {
	Reason  string
	Message string
}

func (e *Error) Error() string { return e.Message }

// Code is a decoded, valid fiscal code.
type Code struct {
	Value      string    // normalized, omocodia letters kept as issued
	BirthDate  time.Time // UTC midnight
	Female     bool
	Birthplace string // cadastral (Belfiore) code, e.g. "D142"; "Z..." is a foreign state
}

// Normalize upper-cases ASCII letters and removes spaces and dashes, which
// people type and scanners add; it also drops tabs, CR and LF because
// keyboard-wedge barcode readers end a scan with Enter. Other characters are
// left alone so that Validate can reject them: a Unicode-aware upper-casing
// would turn look-alikes such as "ſ" or "ı" into valid ASCII letters.
func Normalize(s string) string {
	if isNormal(s) {
		return s // already clean, as stored codes usually are: no allocation
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '-' || c == '\t' || c == '\r' || c == '\n':
			continue
		case 'a' <= c && c <= 'z':
			c -= 'a' - 'A'
		}
		b.WriteByte(c)
	}
	return b.String()
}

func isNormal(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == ' ' || c == '-' || c == '\t' || c == '\r' || c == '\n', 'a' <= c && c <= 'z':
			return false
		}
	}
	return true
}

// Validate checks s, normalized or not, and returns nil or an *Error.
func Validate(s string) error {
	_, err := decode(Normalize(s))
	return err
}

// Parse validates s and decodes it. The two-digit year is read as the latest
// year not after now's year, so a code must be re-parsed, not cached, to stay
// right across a century boundary.
func Parse(s string, now time.Time) (Code, error) {
	v := Normalize(s)
	f, err := decode(v)
	if err != nil {
		return Code{}, err
	}
	ny := now.Year()
	year := ny - mod(ny-f.yy, 100)
	if f.month == time.February && f.day == 29 && !isLeap(year) {
		// Validate could not know the century; here we do.
		return Code{}, &Error{ReasonDay, fmt.Sprintf("fiscal code gives 29 February %d, which is not a leap year", year)}
	}
	return Code{
		Value:      v,
		BirthDate:  time.Date(year, f.month, f.day, 0, 0, 0, 0, time.UTC),
		Female:     f.female,
		Birthplace: string(f.birthplace[:]),
	}, nil
}

// fields are the decoded parts of a structurally valid code.
type fields struct {
	yy         int
	month      time.Month
	day        int // day of month, 1-31, female offset removed
	female     bool
	birthplace [4]byte
}

// months maps the month letter to its month (zero: not a month letter).
var months = [26]time.Month{
	'A' - 'A': time.January, 'B' - 'A': time.February, 'C' - 'A': time.March,
	'D' - 'A': time.April, 'E' - 'A': time.May, 'H' - 'A': time.June,
	'L' - 'A': time.July, 'M' - 'A': time.August, 'P' - 'A': time.September,
	'R' - 'A': time.October, 'S' - 'A': time.November, 'T' - 'A': time.December,
}

// omocodia holds, per letter, the digit it stands for plus one (0: not a
// substitute). The tax office swaps digits for these letters, right to left,
// when two people would otherwise get the same code; we accept a swap at any
// digit position rather than enforce that order.
var omocodia = [26]byte{
	'L' - 'A': 1, 'M' - 'A': 2, 'N' - 'A': 3, 'P' - 'A': 4, 'Q' - 'A': 5,
	'R' - 'A': 6, 'S' - 'A': 7, 'T' - 'A': 8, 'U' - 'A': 9, 'V' - 'A': 10,
}

// oddValues are the official values of characters at odd (1-based) positions,
// indexed by digit or letter offset; digits share the value of A..J.
var oddValues = [26]int{
	1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18,
	20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24, 23,
}

// positions describes what each of the first 15 characters must be.
const (
	letter = iota
	digit  // a digit or its omocodia letter
	month
)

var layout = [Length - 1]int{
	letter, letter, letter, letter, letter, letter, // surname, name
	digit, digit, month, digit, digit, // year, month, day
	letter, digit, digit, digit, // birthplace
}

func decode(v string) (fields, error) {
	if n := utf8.RuneCountInString(v); n != Length {
		return fields{}, &Error{ReasonLength, fmt.Sprintf("fiscal code must be %d characters, got %d", Length, n)}
	}
	if len(v) != Length {
		// 16 characters but not all ASCII: point at the first foreign one.
		pos := 0
		for i, r := range v {
			if r >= utf8.RuneSelf {
				return fields{}, &Error{ReasonFormat, fmt.Sprintf("fiscal code character %d must be a letter A-Z or a digit, got %s", pos+1, quote(v, i))}
			}
			pos++
		}
	}
	// digits holds each digit position with omocodia undone.
	var digits [Length]byte
	for i, kind := range layout {
		c := v[i]
		switch kind {
		case letter:
			if !isLetter(c) {
				return fields{}, formatError(v, i, "a letter")
			}
		case month:
			if !isLetter(c) || months[c-'A'] == 0 {
				return fields{}, &Error{ReasonMonth, fmt.Sprintf("fiscal code character %d must be a month letter (one of ABCDEHLMPRST), got %s", i+1, quote(v, i))}
			}
		case digit:
			switch {
			case isDigit(c):
				digits[i] = c
			case isLetter(c) && omocodia[c-'A'] != 0:
				digits[i] = '0' + omocodia[c-'A'] - 1
			default:
				return fields{}, formatError(v, i, "a digit")
			}
		}
	}
	if !isLetter(v[Length-1]) {
		return fields{}, formatError(v, Length-1, "a letter (the check character)")
	}

	f := fields{
		yy:         num(digits[6], digits[7]),
		month:      months[v[8]-'A'],
		birthplace: [4]byte{v[11], digits[12], digits[13], digits[14]},
	}
	d := num(digits[9], digits[10])
	switch {
	case 1 <= d && d <= 31:
		f.day = d
	case 41 <= d && d <= 71:
		f.day, f.female = d-40, true
	default:
		return fields{}, &Error{ReasonDay, fmt.Sprintf("fiscal code day must be 01-31, or 41-71 for women, got %02d", d)}
	}
	// Without a reference date the century is unknown: accept 29 February
	// when either 19yy or 20yy is a leap year (only yy=00 differs: 2000 is).
	if f.day > daysIn(f.month, 2000+f.yy) {
		return fields{}, &Error{ReasonDay, fmt.Sprintf("fiscal code gives day %d of %s, which does not exist", f.day, f.month)}
	}

	if want := checkChar(v); v[Length-1] != want {
		return fields{}, &Error{ReasonCheckCharacter, "fiscal code check character does not match: the code was probably mistyped"}
	}
	return f, nil
}

// checkChar computes the check character of the first 15 characters of v,
// which must already be known to be ASCII digits and upper-case letters.
func checkChar(v string) byte {
	sum := 0
	for i := 0; i < Length-1; i++ {
		c := v[i]
		var k int
		if isDigit(c) {
			k = int(c - '0')
		} else {
			k = int(c - 'A')
		}
		if i%2 == 0 { // 1-based odd position
			sum += oddValues[k]
		} else {
			sum += k
		}
	}
	return byte('A' + sum%26)
}

func formatError(v string, i int, want string) *Error {
	return &Error{ReasonFormat, fmt.Sprintf("fiscal code character %d must be %s, got %s", i+1, want, quote(v, i))}
}

// quote shows the offending character, whole even when it is not ASCII.
func quote(v string, i int) string {
	r, _ := utf8.DecodeRuneInString(v[i:])
	return fmt.Sprintf("%q", r)
}

func daysIn(m time.Month, year int) int {
	// Day 0 of the next month is the last day of m.
	return time.Date(year, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

func isLeap(y int) bool { return y%4 == 0 && (y%100 != 0 || y%400 == 0) }

func isLetter(c byte) bool { return 'A' <= c && c <= 'Z' }
func isDigit(c byte) bool  { return '0' <= c && c <= '9' }
func num(a, b byte) int    { return int(a-'0')*10 + int(b-'0') }
func mod(a, b int) int     { return (a%b + b) % b }
