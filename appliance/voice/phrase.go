package voice

import (
	"strings"
	"unicode"
)

// Phrase is the Italian sentence a display speaks for a call:
//
//	Phrase("A023", "3")                 = "Numero A 23, sportello 3"
//	Phrase("AB105", "12")               = "Numero A B 105, sportello 12"
//	Phrase("C001", "Ufficio Tributi 2") = "Numero C 1, Ufficio Tributi 2"
//
// The code's letters are separated so that espeak-ng's Italian voice names
// each letter ("A B" → "a bi", "H" → "acca") instead of reading a word, and
// the leading zeros of its number are dropped ("023" → "ventitré"). A desk
// that is a number (or starts with one: "3", "03", "12 bis") is spoken as
// "sportello N"; a desk with a name of its own ("Sportello 3", "Ufficio
// Tributi 2") is spoken as it is. Dashes in a desk name become spaces
// (espeak-ng otherwise runs the two words together). An empty desk leaves
// only "Numero …".
func Phrase(code, desk string) string {
	return phrase(spokenCode(code, " "), spokenDesk(desk), "Numero", "sportello")
}

// PhraseEN is the English fallback of Phrase, for an "en" voice:
//
//	PhraseEN("A023", "3")  = "Number A-23, desk 3"
//	PhraseEN("AB105", "3") = "Number A-B-105, desk 3"
//
// The code's parts are joined by dashes rather than spaces: espeak-ng's
// English voice reads a lone "A" before a number as the article ("a
// twenty-three"), but "A-23" as the letter ("ay, twenty-three").
func PhraseEN(code, desk string) string {
	return phrase(spokenCode(code, "-"), spokenDesk(desk), "Number", "desk")
}

func phrase(code, desk, number, deskWord string) string {
	var b strings.Builder
	if code != "" {
		b.WriteString(number)
		b.WriteByte(' ')
		b.WriteString(code)
	}
	if desk != "" {
		if startsWithDigit(desk) {
			desk = deskWord + " " + desk
		}
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		b.WriteString(desk)
	}
	return b.String()
}

// spokenCode turns a ticket code into the words espeak-ng reads well: each
// letter on its own, each run of digits without its leading zeros, anything
// else a separator. Letters are upper-cased.
func spokenCode(code, sep string) string {
	var parts []string
	var digits []rune
	flush := func() {
		if len(digits) > 0 {
			parts = append(parts, trimZeros(string(digits)))
			digits = digits[:0]
		}
	}
	for _, r := range code {
		switch {
		case isDigit(r):
			digits = append(digits, r)
		case unicode.IsLetter(r):
			flush()
			parts = append(parts, string(unicode.ToUpper(r)))
		default:
			flush()
		}
	}
	flush()
	return strings.Join(parts, sep)
}

// spokenDesk collapses white space, turns dashes into spaces, and drops the
// leading zeros of a desk that starts with a number ("03" → "3").
func spokenDesk(desk string) string {
	desk = strings.Map(func(r rune) rune {
		switch r {
		case '-', '‐', '‑', '–', '—':
			return ' '
		}
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			return ' '
		}
		return r
	}, desk)
	desk = strings.Join(strings.Fields(desk), " ")
	if startsWithDigit(desk) {
		i := strings.IndexFunc(desk, func(r rune) bool { return !isDigit(r) })
		if i < 0 {
			i = len(desk)
		}
		desk = trimZeros(desk[:i]) + desk[i:]
	}
	return desk
}

func trimZeros(s string) string {
	t := strings.TrimLeft(s, "0")
	if t == "" && s != "" {
		return "0"
	}
	return t
}

func isDigit(r rune) bool { return r >= '0' && r <= '9' }

func startsWithDigit(s string) bool { return s != "" && isDigit(rune(s[0])) }
