package api

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"avanti/appliance/fault"
	"avanti/appliance/scan"
	"avanti/appliance/store"
	"avanti/appliance/ticketprint"
)

// The totem's routes (docs/kiosk.md): what it offers, identification,
// moving a booking, the printed ticket, network printing and scanning.

func (a *API) getKiosk(c echo.Context) error {
	d, err := a.thisDevice(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	owner, site, err := a.st.SiteOf(ctx, d.Owner.ID)
	if err != nil {
		return err
	}
	var order []int64
	if d.KioskSettings != nil {
		order = d.KioskSettings.Services
	}
	services, err := a.st.KioskServices(ctx, d.Owner.ID, order, a.now())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{
		"kiosk": d, "owner": owner,
		"site":     map[string]any{"name": site.Name, "address": site.Address, "timezone": site.Timezone},
		"services": services,
	})
}

// publicURL is where citizens and devices reach the appliance: the
// configured base URL, or the address this request came to.
func (a *API) publicURL(c echo.Context) string {
	if a.opt.BaseURL != "" {
		return strings.TrimRight(a.opt.BaseURL, "/")
	}
	return c.Scheme() + "://" + c.Request().Host
}

// ticketText is the text a totem prints under its tickets, if the caller
// is a totem.
func (a *API) ticketText(c echo.Context) string {
	if d, err := a.thisDevice(c); err == nil && d.KioskSettings != nil {
		return d.KioskSettings.TicketText
	}
	return ""
}

func (a *API) printData(c echo.Context) (store.TicketPrint, ticketprint.Ticket, error) {
	p, err := a.st.TicketForPrint(c.Request().Context(), c.Param("token"))
	if err != nil {
		return p, ticketprint.Ticket{}, err
	}
	t := ticketprint.Ticket{Owner: p.Owner, Address: p.Address, Service: p.Service.Name,
		Start: p.Ticket.Start.In(p.Service.Location()), WalkIn: p.Ticket.WalkIn, Code: p.Ticket.Code,
		URL: a.publicURL(c) + "/t/" + p.Ticket.Token, Info: a.ticketText(c)}
	return p, t, nil
}

func (a *API) ticketPrint(c echo.Context) error {
	p, t, err := a.printData(c)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, map[string]any{
		"owner": t.Owner, "address": t.Address, "service": t.Service,
		"date": t.DateText(), "date_iso": t.Start.Format(time.DateOnly), "time": t.Start.Format("15:04"),
		"time_text": t.TimeText(), "code": t.Code, "walk_in": t.WalkIn,
		"qr_url": t.URL, "qr_png": "/api/v1/tickets/" + url.PathEscape(p.Ticket.Token) + "/qr.png",
		"text": t.Info, "status": p.Ticket.Status,
	})
}

func (a *API) ticketQR(c echo.Context) error {
	_, t, err := a.printData(c)
	if err != nil {
		return err
	}
	png, err := ticketprint.QRPNG(t.URL, 384)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "private, max-age=86400")
	return c.Blob(http.StatusOK, "image/png", png)
}

// printTicket sends the ticket to the totem's network printer.
func (a *API) printTicket(c echo.Context) error {
	d, err := a.thisDevice(c)
	if err != nil {
		return err
	}
	if d.KioskSettings == nil || d.KioskSettings.Printer.Mode != "network" {
		return fault.New(fault.Conflict, "printer_not_network", "this totem prints from the browser")
	}
	if err := emptyBody(c); err != nil {
		return err
	}
	_, t, err := a.printData(c)
	if err != nil {
		return err
	}
	job, err := ticketprint.ESCPOS(t, ticketprint.Options{})
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	st, perr := ticketprint.Print(ctx, d.KioskSettings.Printer.Address, job, 0)
	state := printerState(st, perr)
	if err := a.st.RecordPrinter(ctx, d.ID, state); err != nil {
		a.log.Warn("record printer state", "device", d.ID, "err", err)
	}
	if perr != nil {
		a.log.Warn("ticket printer", "device", d.ID, "state", state, "err", perr)
		var pe *ticketprint.Error
		if errors.As(perr, &pe) {
			switch pe.Code {
			case "printer_paper_out":
				return fault.New(fault.Unavailable, "printer_paper_out", "the ticket printer is out of paper")
			case "printer_cover_open":
				return fault.New(fault.Unavailable, "printer_cover_open", "the ticket printer's cover is open")
			case "printer_offline":
				return fault.New(fault.Unavailable, "printer_offline", "the ticket printer is offline")
			case "printer_unreachable":
				return fault.New(fault.Unavailable, "printer_offline", "the ticket printer cannot be reached")
			}
		}
		return fault.New(fault.Unavailable, "printer_error", "the ticket could not be printed")
	}
	return c.JSON(http.StatusOK, map[string]any{"printer": state})
}

func printerState(st ticketprint.PrinterStatus, err error) string {
	var pe *ticketprint.Error
	switch {
	case errors.As(err, &pe) && pe.Code == "printer_paper_out":
		return "paper_out"
	case errors.As(err, &pe) && pe.Code == "printer_cover_open":
		return "cover_open"
	case errors.As(err, &pe) && (pe.Code == "printer_offline" || pe.Code == "printer_unreachable"):
		return "offline"
	case err != nil:
		return "error"
	case st.PaperNearEnd:
		return "paper_low"
	}
	return "ok"
}

// kioskPrinter asks the totem's network printer how it is.
func (a *API) kioskPrinter(c echo.Context) error {
	d, err := a.thisDevice(c)
	if err != nil {
		return err
	}
	if d.KioskSettings == nil || d.KioskSettings.Printer.Mode != "network" {
		return c.JSON(http.StatusOK, map[string]any{"printer": "browser"})
	}
	// An empty job: Print asks for the status first and sends nothing more.
	st, perr := ticketprint.Print(c.Request().Context(), d.KioskSettings.Printer.Address, nil, 5*time.Second)
	state := printerState(st, perr)
	if err := a.st.RecordPrinter(c.Request().Context(), d.ID, state); err != nil {
		a.log.Warn("record printer state", "device", d.ID, "err", err)
	}
	return c.JSON(http.StatusOK, map[string]any{"printer": state})
}

type identifyRequest struct {
	FiscalCode string `json:"fiscal_code"`
	Phone      string `json:"phone"`
	FirstName  string `json:"first_name"`
	LastName   string `json:"last_name"`
}

func (a *API) kioskIdentify(c echo.Context) error {
	d, err := a.thisDevice(c)
	if err != nil {
		return err
	}
	var req identifyRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	mode := "any"
	if d.KioskSettings != nil {
		mode = d.KioskSettings.Identification
	}
	health := req.FiscalCode != ""
	if mode == "none" || (health && mode == "weak") || (!health && mode == "health_card") {
		return fault.New(fault.Forbidden, "identification_not_allowed", "this totem does not identify citizens this way")
	}
	now := a.now()
	cit, err := store.CheckCitizen(store.Citizen{FiscalCode: req.FiscalCode, Phone: req.Phone, FirstName: req.FirstName, LastName: req.LastName}, now)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	list, err := a.st.CitizenTickets(ctx, d.Owner.ID, cit, now)
	if err != nil {
		return err
	}
	views := make([]ticketView, 0, len(list))
	for _, t := range list {
		v, err := a.view(ctx, t, true)
		if err != nil {
			return err
		}
		views = append(views, v)
	}
	masked := maskPhone(cit.Phone)
	if cit.FiscalCode != "" {
		masked = maskFiscalCode(cit.FiscalCode)
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, map[string]any{
		"citizen":      map[string]any{"first_name": cit.FirstName, "last_name": cit.LastName, "masked": masked},
		"appointments": views,
	})
}

// maskFiscalCode and maskPhone show enough for a citizen to recognise
// their own data and not enough for a passer-by to read it.
func maskFiscalCode(fc string) string {
	if len(fc) != 16 {
		return "****"
	}
	return fc[:3] + "***" + fc[6:11] + "***" + fc[14:]
}

func maskPhone(p string) string {
	if len(p) < 6 {
		return "****"
	}
	return p[:3] + strings.Repeat("*", len(p)-6) + p[len(p)-3:]
}

type kioskCheckinRequest struct {
	FiscalCode string `json:"fiscal_code"`
}

// kioskCheckin checks in the appointment of today of the citizen whose
// health card was swiped.
func (a *API) kioskCheckin(c echo.Context) error {
	d, err := a.thisDevice(c)
	if err != nil {
		return err
	}
	var req kioskCheckinRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	if strings.TrimSpace(req.FiscalCode) == "" {
		return fault.Field("fiscal_code", "required", "fiscal_code is required")
	}
	now := a.now()
	cit, err := store.CheckCitizen(store.Citizen{FiscalCode: req.FiscalCode}, now)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	_, site, err := a.st.SiteOf(ctx, d.Owner.ID)
	if err != nil {
		return err
	}
	loc, err := time.LoadLocation(site.Timezone)
	if err != nil {
		loc = time.UTC
	}
	t, err := a.st.TodaysAppointment(ctx, d.Owner.ID, cit.FiscalCode, now, loc)
	if err != nil {
		return err
	}
	t, err = a.st.CheckIn(ctx, t.Token, now, principal(c).Name())
	if err != nil {
		return err
	}
	a.notifyQueue(ctx, t.ServiceID)
	v, err := a.view(ctx, t, true)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, v)
}

type moveRequest struct {
	Start *time.Time `json:"start"`
}

func (a *API) moveTicket(c echo.Context) error {
	if _, err := a.ticketOfCaller(c); err != nil {
		return err
	}
	var req moveRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	if req.Start == nil {
		return fault.Field("start", "start_required", "choose the new time")
	}
	p := principal(c)
	channel := channels[p.Role()][0]
	ctx := c.Request().Context()
	t, err := a.st.Move(ctx, c.Param("token"), *req.Start, channel, p.Name(), a.now())
	if err != nil {
		return err
	}
	a.notifyQueue(ctx, t.ServiceID)
	v, err := a.view(ctx, t, true)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, v)
}

// maxScanImage bounds a camera frame: a 1080p JPEG is well under it.
const (
	maxScanImage  = 4 << 20
	maxScanPixels = 4 << 20 // 2048×2048: a camera frame, and a bound on decoding time
)

type scanRequest struct {
	Text string `json:"text"`
}

// scanCode tells what a scanner typed or a camera saw.
func (a *API) scanCode(c echo.Context) error {
	mt, _, _ := mime.ParseMediaType(c.Request().Header.Get("Content-Type"))
	var res scan.Result
	var err error
	switch mt {
	case "image/jpeg", "image/png":
		body, rerr := io.ReadAll(io.LimitReader(c.Request().Body, maxScanImage+1))
		if rerr != nil {
			return fault.New(fault.BadRequest, "upload_failed", "the image was interrupted: try again")
		}
		if len(body) > maxScanImage {
			return fault.New(fault.TooLarge, "image_too_large", "a camera frame is at most 4 MB")
		}
		res, err = scan.DecodeImageBytes(body, maxScanImage, maxScanPixels)
	case "application/json", "":
		var req scanRequest
		if err := decode(c, &req); err != nil {
			return err
		}
		res, err = scan.ParseScannerInput(req.Text)
	default:
		return fault.New(fault.UnsupportedMedia, "unsupported_media_type", "send {\"text\"} as JSON, or a camera frame as image/jpeg or image/png")
	}
	var se *scan.Error
	if errors.As(err, &se) {
		switch se.Code {
		case scan.CodeImageTooLarge:
			return fault.New(fault.TooLarge, "image_too_large", "the camera frame is too large")
		case scan.CodeInvalidImage:
			return fault.New(fault.Invalid, "invalid_image", "the camera frame is not a readable JPEG or PNG image")
		case scan.CodeInvalidFiscalCode:
			return fault.Field("fiscal_code", "invalid_fiscal_code", "the health card's code did not read right: try again")
		case scan.CodeUnrecognized:
			return fault.New(fault.Invalid, "unrecognized_code", "this code is neither a ticket nor a health card")
		default:
			return fault.New(fault.Invalid, "no_code_found", "no code could be read: try again, holding it still")
		}
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, res)
}

// ticketLink is where the ticket's QR code leads: the public ticket page.
func (a *API) ticketLink(c echo.Context) error {
	return c.Redirect(http.StatusFound, "/kiosk/t/"+url.PathEscape(c.Param("token")))
}
