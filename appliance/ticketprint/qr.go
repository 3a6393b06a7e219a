package ticketprint

import (
	"errors"
	"fmt"

	qrcode "github.com/skip2/go-qrcode"
)

// Medium error correction (15%) keeps the symbol small enough for 1 mm
// modules on 80 mm paper while surviving a crease or a smudge of thermal ink.
const qrLevel = qrcode.Medium

// QRPNG renders url as a black-on-white PNG QR code, size pixels square (a
// negative size means -size pixels per module), quiet zone included.
func QRPNG(url string, size int) ([]byte, error) {
	q, err := newQR(url)
	if err != nil {
		return nil, err
	}
	b, err := q.PNG(size)
	if err != nil {
		return nil, fmt.Errorf("ticketprint: encode QR PNG: %w", err)
	}
	return b, nil
}

// qrBitmap is the QR code's modules, [y][x] true for black, with the
// standard four-module quiet zone around the symbol.
func qrBitmap(url string) ([][]bool, error) {
	q, err := newQR(url)
	if err != nil {
		return nil, err
	}
	return q.Bitmap(), nil
}

func newQR(url string) (*qrcode.QRCode, error) {
	if url == "" {
		return nil, errors.New("ticketprint: QR payload is empty")
	}
	q, err := qrcode.New(url, qrLevel)
	if err != nil {
		return nil, fmt.Errorf("ticketprint: build QR code for a %d-byte payload: %w", len(url), err)
	}
	return q, nil
}
