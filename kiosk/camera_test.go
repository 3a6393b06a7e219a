package kiosk_test

import (
	"avanti/appliance/browsertest"
	"bytes"
	"fmt"
	"image/color"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/skip2/go-qrcode"
)

// cameraFile writes a Y4M video (what Chromium's fake camera plays, in a
// loop) of one frame: a ticket's QR code held in front of the camera.
func cameraFile(t *testing.T, text string) string {
	t.Helper()
	qr, err := qrcode.New(text, qrcode.Medium)
	if err != nil {
		t.Fatal(err)
	}
	const w, h, side = 640, 480, 320
	code := qr.Image(side)
	var b bytes.Buffer
	fmt.Fprintf(&b, "YUV4MPEG2 W%d H%d F30:1 Ip A1:1 C420jpeg\nFRAME\n", w, h)
	x0, y0 := (w-side)/2, (h-side)/2
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			luma := byte(235) // a sheet of white paper
			if x >= x0 && x < x0+side && y >= y0 && y < y0+side {
				luma = color.GrayModel.Convert(code.At(x-x0+code.Bounds().Min.X, y-y0+code.Bounds().Min.Y)).(color.Gray).Y
				if luma < 128 {
					luma = 16
				} else {
					luma = 235
				}
			}
			b.WriteByte(luma)
		}
	}
	b.Write(bytes.Repeat([]byte{128}, 2*(w/2)*(h/2))) // no colour
	path := filepath.Join(t.TempDir(), "ticket.y4m")
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// A totem with a camera: "Inquadra il codice" sends frames to the
// appliance, which reads the ticket's QR code; the totem then asks the
// citizen to confirm they are here.
func TestCameraReadsATicketQRCode(t *testing.T) {
	env := newAppliance(t)
	appt := book(t, env, env.Demo.Services["I"], at(9, 25), nil)
	video := cameraFile(t, env.URL+"/t/"+appt.Token)

	// A browser of its own, whose fake camera films the ticket.
	cam := browsertest.Start(t, tabs, append(totemFlags,
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.Flag("use-file-for-fake-video-capture", video),
	)...)
	totem := cam.NewTab(t, screenW, screenH)
	totem.Open(kioskURL(env))
	totem.WaitFor("the standby screen", `window.avantiKiosk && avantiKiosk.view === "standby" && avantiKiosk.state === "online" && avantiKiosk.camera`, 15*time.Second)
	totem.Click("#start")
	totem.Click("#to-scan")
	totem.WaitFor("the scan page", shows("scan"), 5*time.Second)
	if got := totem.Text("#scan-camera"); got != "Inquadra il codice" {
		t.Errorf("camera button %q", got)
	}
	totem.Screenshot("kiosk-scan")
	totem.Axe("scan")
	totem.Click("#scan-camera")
	totem.WaitFor("the check-in question", shows("checkin"), 20*time.Second)
	if got := totem.Text("#v-checkin"); !strings.Contains(got, appt.Code) {
		t.Errorf("check-in page %q, want %s", got, appt.Code)
	}
	if live := browsertest.Eval[int](totem, `document.querySelectorAll("video").length && document.getElementById("camera-video").srcObject ? 1 : 0`); live != 0 {
		t.Error("the camera is still on after the code was read")
	}
}
