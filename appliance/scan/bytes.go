package scan

import (
	"bytes"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
)

// Limits used when DecodeImageBytes is given none: a 1080p JPEG frame is
// well under both, and decoding a bigger one would only cost time.
const (
	DefaultMaxBytes  = 8 << 20
	DefaultMaxPixels = 4 << 20
)

// DecodeImageBytes decodes a PNG or JPEG frame sent by the totem's page and
// then Decode's it. Limits of zero or less mean the defaults. The pixel
// limit is checked from the header before any pixel is decoded, so a small
// file declaring a huge image (a decompression bomb) costs nothing.
func DecodeImageBytes(b []byte, maxBytes, maxPixels int) (Result, error) {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBytes
	}
	if maxPixels <= 0 {
		maxPixels = DefaultMaxPixels
	}
	if len(b) > maxBytes {
		return Result{}, &Error{Code: CodeImageTooLarge, Message: fmt.Sprintf("image is %d bytes, the limit is %d", len(b), maxBytes)}
	}
	// Sniff the format ourselves rather than through image.Decode: that one
	// would accept any format some other package registered.
	var decodeConfig func(*bytes.Reader) (image.Config, error)
	var decode func(*bytes.Reader) (image.Image, error)
	switch {
	case bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")):
		decodeConfig = func(r *bytes.Reader) (image.Config, error) { return png.DecodeConfig(r) }
		decode = func(r *bytes.Reader) (image.Image, error) { return png.Decode(r) }
	case bytes.HasPrefix(b, []byte{0xFF, 0xD8}):
		decodeConfig = func(r *bytes.Reader) (image.Config, error) { return jpeg.DecodeConfig(r) }
		decode = func(r *bytes.Reader) (image.Image, error) { return jpeg.Decode(r) }
	default:
		return Result{}, &Error{Code: CodeInvalidImage, Message: "image is neither PNG nor JPEG"}
	}

	cfg, err := decodeConfig(bytes.NewReader(b))
	if err != nil {
		return Result{}, &Error{Code: CodeInvalidImage, Message: "cannot read the image header", Err: err}
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return Result{}, &Error{Code: CodeInvalidImage, Message: fmt.Sprintf("image is %d×%d pixels", cfg.Width, cfg.Height)}
	}
	if px := int64(cfg.Width) * int64(cfg.Height); px > int64(maxPixels) {
		return Result{}, &Error{Code: CodeImageTooLarge, Message: fmt.Sprintf("image is %d×%d pixels, the limit is %d pixels", cfg.Width, cfg.Height, maxPixels)}
	}
	img, err := decode(bytes.NewReader(b))
	if err != nil {
		return Result{}, &Error{Code: CodeInvalidImage, Message: "cannot decode the image", Err: err}
	}
	return Decode(img)
}
