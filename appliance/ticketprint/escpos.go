package ticketprint

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/unicode/norm"
)

// Paper geometry of the common 80 mm printers (Epson TM-T20/T88, their
// clones): 72 mm printable at 203 dpi, Font A 12×24 dots.
const (
	DefaultDotsWidth    = 576
	DefaultQRModuleDots = 8 // 1 mm modules: phones and totem scanners read them from afar
	fontAWidth          = 12
)

// Options describe the printer. The zero value means an 80 mm printer.
type Options struct {
	DotsWidth    int // printable width in dots; 0 means 576 (80 mm); 384 is 58 mm paper
	Columns      int // Font A characters per line; 0 means DotsWidth/12
	QRModuleDots int // dots per QR module; 0 means 8, reduced until the symbol fits
}

func (o Options) withDefaults() Options {
	if o.DotsWidth <= 0 {
		o.DotsWidth = DefaultDotsWidth
	}
	o.DotsWidth -= o.DotsWidth % 8 // raster rows are whole bytes
	if o.Columns <= 0 {
		o.Columns = o.DotsWidth / fontAWidth
	}
	if o.QRModuleDots <= 0 {
		o.QRModuleDots = DefaultQRModuleDots
	}
	return o
}

// ESC/POS commands, named as in Epson's reference.
var (
	cmdInit        = []byte{0x1B, '@'}
	cmdCodePage858 = []byte{0x1B, 't', 19} // PC858: PC850 (Western Europe) with €
	cmdAlignLeft   = []byte{0x1B, 'a', 0}
	cmdAlignCenter = []byte{0x1B, 'a', 1}
	cmdBoldOn      = []byte{0x1B, 'E', 1}
	cmdBoldOff     = []byte{0x1B, 'E', 0}
	cmdSizeNormal  = []byte{0x1D, '!', 0x00}
	cmdTallText    = []byte{0x1D, '!', 0x01}  // double height, normal width: no fewer columns
	cmdFeedCut     = []byte{0x1D, 'V', 66, 0} // feed to the cutter, then partial cut
)

// cmdSize is GS ! with the same magnification (1-8) in width and height.
func cmdSize(m int) []byte { return []byte{0x1D, '!', byte((m-1)<<4 | (m - 1))} }

// maxCodeMagnification caps the ticket code at quadruple size: 96 dots (12 mm)
// tall is readable across a waiting room and still leaves room for the QR.
const maxCodeMagnification = 4

// ESCPOS renders t as one print job: header, date and time, the code in big
// letters, the QR as a raster image (not the printer's own QR command, which
// many clones lack or render differently), the information text, and a cut.
func ESCPOS(t Ticket, opt Options) ([]byte, error) {
	opt = opt.withDefaults()
	if strings.TrimSpace(t.Code) == "" {
		return nil, errors.New("ticketprint: ticket has no code")
	}
	if t.Start.IsZero() {
		return nil, errors.New("ticketprint: ticket has no start time")
	}
	bitmap, err := qrBitmap(t.URL)
	if err != nil {
		return nil, err
	}
	raster, err := qrRaster(bitmap, opt.DotsWidth, opt.QRModuleDots)
	if err != nil {
		return nil, err
	}

	var b bytes.Buffer
	b.Write(cmdInit)
	b.Write(cmdCodePage858)
	b.Write(cmdAlignCenter)

	b.Write(cmdBoldOn)
	b.Write(cmdTallText)
	writeText(&b, t.Owner, opt.Columns)
	b.Write(cmdSizeNormal)
	b.Write(cmdBoldOff)
	writeText(&b, t.Address, opt.Columns)
	b.WriteByte('\n')

	b.Write(cmdBoldOn)
	writeText(&b, t.Service, opt.Columns)
	b.Write(cmdBoldOff)
	writeText(&b, t.DateText(), opt.Columns)
	writeText(&b, t.TimeText(), opt.Columns)
	b.WriteByte('\n')

	code := strings.TrimSpace(t.Code)
	m := min(maxCodeMagnification, max(1, opt.Columns/max(1, len(encodeText(code)))))
	b.Write(cmdBoldOn)
	b.Write(cmdSize(m))
	writeText(&b, code, opt.Columns/m)
	b.Write(cmdSizeNormal)
	b.Write(cmdBoldOff)
	b.WriteByte('\n')

	b.Write(raster)
	b.WriteByte('\n')

	if strings.TrimSpace(t.Info) != "" {
		b.Write(cmdAlignLeft)
		writeText(&b, t.Info, opt.Columns)
	}
	b.Write(cmdFeedCut)
	return b.Bytes(), nil
}

// qrRaster is GS v 0 for the QR bitmap scaled to moduleDots per module,
// padded with white to the full paper width. Centering in the image itself,
// rather than with ESC a, works on printers that ignore justification for
// raster images.
func qrRaster(bitmap [][]bool, widthDots, moduleDots int) ([]byte, error) {
	n := len(bitmap)
	for moduleDots > 1 && n*moduleDots > widthDots {
		moduleDots--
	}
	size := n * moduleDots
	if n == 0 || size > widthDots {
		return nil, fmt.Errorf("ticketprint: QR code of %d modules does not fit %d dots", n, widthDots)
	}
	rowBytes := widthDots / 8
	left := (widthDots - size) / 2

	out := make([]byte, 0, 8+rowBytes*size)
	out = append(out, 0x1D, 'v', '0', 0,
		byte(rowBytes), byte(rowBytes>>8), byte(size), byte(size>>8))
	row := make([]byte, rowBytes)
	for y := range size {
		clear(row)
		modules := bitmap[y/moduleDots]
		for x := range size {
			if modules[x/moduleDots] {
				dot := left + x
				row[dot/8] |= 0x80 >> (dot % 8) // most significant bit is the leftmost dot
			}
		}
		out = append(out, row...)
	}
	return out, nil
}

// writeText prints s centered or left as currently set, one printer line per
// wrapped line, so the printer never breaks a word itself.
func writeText(b *bytes.Buffer, s string, columns int) {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	for _, para := range strings.Split(strings.TrimRight(s, "\n "), "\n") {
		for _, line := range wrap(encodeText(para), columns) {
			b.Write(line)
			b.WriteByte('\n')
		}
	}
}

// wrap breaks text, one byte per column, at spaces into lines of at most
// columns bytes; a word longer than a line is cut. An empty paragraph stays
// as one empty line, so blank lines in the info text survive.
func wrap(text []byte, columns int) [][]byte {
	columns = max(columns, 1)
	var lines [][]byte
	var line []byte
	// Split on the space byte only: bytes.Fields would read the PC858 bytes
	// as UTF-8, and some byte pairs decode to Unicode spaces.
	for _, word := range bytes.Split(text, []byte{' '}) {
		if len(word) == 0 {
			continue
		}
		for len(word) > columns {
			if len(line) > 0 {
				lines = append(lines, line)
				line = nil
			}
			lines = append(lines, word[:columns])
			word = word[columns:]
		}
		switch {
		case len(line) == 0:
			line = append(line, word...)
		case len(line)+1+len(word) <= columns:
			line = append(append(line, ' '), word...)
		default:
			lines = append(lines, line)
			line = append([]byte(nil), word...)
		}
	}
	if len(line) > 0 || len(lines) == 0 {
		lines = append(lines, line)
	}
	return lines
}

// replacements are typographic characters PC858 lacks but Italian texts
// pasted from a word processor are full of.
var replacements = map[rune]string{
	'‐': "-", '‑': "-", '‒': "-", '–': "-", '—': "-", '―': "-", '−': "-",
	'‘': "'", '’': "'", '‚': "'", '′': "'", '`': "'",
	'“': `"`, '”': `"`, '„': `"`, '″': `"`,
	'…': "...", '•': "-", '·': "-",
	'\u00A0': " ", '\u202F': " ", '\u2009': " ", '\t': " ",
}

// encodeText converts s to PC858, one byte per character. Control
// characters are dropped so that text an administrator typed can never
// become a printer command; what PC858 cannot show is transliterated
// (accents stripped, dashes and quotes simplified) or printed as '?'.
func encodeText(s string) []byte {
	out := make([]byte, 0, len(s))
	for _, r := range s {
		if rep, ok := replacements[r]; ok {
			out = append(out, rep...)
			continue
		}
		if unicode.IsControl(r) || r == unicode.ReplacementChar {
			continue
		}
		if r < 0x80 {
			out = append(out, byte(r))
			continue
		}
		if c, ok := charmap.CodePage858.EncodeRune(r); ok {
			out = append(out, c)
			continue
		}
		out = append(out, transliterate(r))
	}
	return out
}

// transliterate keeps the base letter of an accented character PC858 lacks
// ("ő" → 'o', "Ș" → 'S').
func transliterate(r rune) byte {
	base, _ := utf8.DecodeRuneInString(norm.NFD.String(string(r)))
	if c, ok := charmap.CodePage858.EncodeRune(base); ok && !unicode.IsControl(base) {
		return c
	}
	return '?'
}
