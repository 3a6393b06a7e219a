package scan

import (
	"errors"
	"fmt"
	"image"
	"image/draw"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/oned"
	"github.com/makiuchi-d/gozxing/qrcode"
)

// Decode finds a ticket QR code or a health-card Code 39 in a camera frame.
// It tries the cheap passes first and stops at the first recognised code:
// the frame as it is (QR codes are found at any angle by gozxing itself,
// and a Code 39 along the rows or columns, either way round); then 1D
// barcodes located at any angle and read along their bars (see locate.go);
// then the other binarizer for QR codes, then the frame with its contrast
// stretched. Each QR pass that gozxing's reader fails is given a second,
// more thorough look at finder and alignment patterns (qrdetect.go).
func Decode(img image.Image) (res Result, err error) {
	if img == nil || img.Bounds().Empty() {
		return Result{}, &Error{Code: CodeNoCodeFound, Message: "image is empty"}
	}
	// gozxing is a port of Java code that signals some malformed inputs by
	// indexing out of range; a camera frame must not take the server down.
	defer func() {
		if r := recover(); r != nil {
			res, err = Result{}, &Error{Code: CodeNoCodeFound, Message: "barcode decoder failed", Err: fmt.Errorf("panic: %v", r)}
		}
	}()

	gray := toGray(img)
	var first *Error // the first code read but not recognised, reported if nothing better turns up
	var found Result
	take := func(text string) bool {
		r, err := classify(text)
		if err == nil {
			found = r
			return true
		}
		var se *Error
		if errors.As(err, &se) && (first == nil || se.Code == CodeInvalidFiscalCode && first.Code != CodeInvalidFiscalCode) {
			first = se // a misread fiscal code says more than an unknown code
		}
		return false
	}
	try := func(g *image.Gray, readers []reader, global bool) bool {
		src := gozxing.NewLuminanceSourceFromImage(g)
		var bin gozxing.Binarizer = gozxing.NewHybridBinarizer(src)
		if global {
			bin = gozxing.NewGlobalHistgramBinarizer(src)
		}
		bmp, err := gozxing.NewBinaryBitmap(bin)
		if err != nil {
			return false
		}
		for _, rd := range readers {
			if text, ok := rd.read(bmp); ok && take(text) {
				return true
			}
		}
		return false
	}

	// Both binarizers give the 1D reader the same rows (only the 2D
	// matrix differs), so Code 39 is read once per image.
	if try(gray, []reader{qrReader, code39Reader}, false) ||
		readCode39Anywhere(gray, take) ||
		try(gray, []reader{qrReader}, true) {
		return found, nil
	}
	if stretched, changed := stretchContrast(gray); changed && try(stretched, []reader{qrReader, code39Reader}, false) {
		return found, nil
	}
	if first != nil {
		return Result{}, first
	}
	return Result{}, &Error{Code: CodeNoCodeFound, Message: "no QR code or barcode found in the image"}
}

// reader is one symbology. A gozxing reader keeps state between calls, so
// each read makes its own. If it reads nothing, fallback (if any) has a go
// at the same bitmap.
type reader struct {
	name     string
	make     func() gozxing.Reader
	fallback func(*gozxing.BinaryBitmap) (string, bool)
}

var (
	// gozxing's QR detector is misled by the data modules of some codes
	// (about 1 ticket in 150 as rendered, more when tilted): see
	// qrdetect.go.
	qrReader     = reader{"QR", qrcode.NewQRCodeReader, readQRThoroughly}
	code39Reader = reader{"Code 39", oned.NewCode39Reader, nil} // no check digit: the health card has none
)

var hints = map[gozxing.DecodeHintType]any{gozxing.DecodeHintType_TRY_HARDER: true}

func (r reader) read(bmp *gozxing.BinaryBitmap) (string, bool) {
	res, err := r.make().Decode(bmp, hints)
	if err == nil && res.GetText() != "" {
		return res.GetText(), true
	}
	if r.fallback != nil {
		return r.fallback(bmp)
	}
	return "", false
}

// toGray converts once; every pass works on luminance only, and relies on
// the result being compact: origin at (0,0), no padding at row ends (a
// grayscale JPEG decodes with a padded stride).
func toGray(img image.Image) *image.Gray {
	if g, ok := img.(*image.Gray); ok && g.Rect.Min == (image.Point{}) && g.Stride == g.Rect.Dx() && len(g.Pix) == g.Stride*g.Rect.Dy() {
		return g
	}
	b := img.Bounds()
	g := image.NewGray(image.Rect(0, 0, b.Dx(), b.Dy()))
	draw.Draw(g, g.Rect, img, b.Min, draw.Src)
	return g
}

// stretchContrast maps the 1st–99th percentile of luminance onto the full
// range, for washed-out frames (a glossy card under a ceiling light).
func stretchContrast(g *image.Gray) (*image.Gray, bool) {
	var hist [256]int
	for _, v := range g.Pix {
		hist[v]++
	}
	cut := len(g.Pix) / 100
	lo, hi := 0, 255
	for n := 0; lo < 255 && n+hist[lo] <= cut; lo++ {
		n += hist[lo]
	}
	for n := 0; hi > 0 && n+hist[hi] <= cut; hi-- {
		n += hist[hi]
	}
	if hi-lo < 8 || lo == 0 && hi == 255 {
		return g, false // flat (nothing to find) or already full range
	}
	var lut [256]byte
	for v := range lut {
		lut[v] = byte(min(255, max(0, (v-lo)*255/(hi-lo))))
	}
	out := image.NewGray(g.Rect)
	for i, v := range g.Pix {
		out.Pix[i] = lut[v]
	}
	return out, true
}
