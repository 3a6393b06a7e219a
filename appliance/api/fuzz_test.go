package api

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"avanti/appliance/fault"
)

// FuzzDecodeBooking feeds arbitrary bodies to the booking decoder behind the
// API's body limit, without a database: it must never panic, never accept
// what is not one JSON value, and refuse with a client error in the one
// error shape.
func FuzzDecodeBooking(f *testing.F) {
	for _, s := range []string{
		`{"service_id":1}`,
		`{"service_id":5,"channel":"kiosk","priority":true}`,
		`{"service_id":1,"start":"2026-11-24T10:00:00+01:00","channel":"web","citizen":{"fiscal_code":"RSSMRA85T10A562S"}}`,
		`{"service_id":1,"citizen":{"phone":"+39 0373 1234567","first_name":"Anna","last_name":"Verdi","email":"a@b.it"}}`,
		`{"service_id":"x"}`,
		`{"service_id":1.5}`,
		`{"service_id":1e400}`,
		`{"service_id":1,"colour":"red"}`,
		`{"citizen":{"fiscal_code":5}}`,
		`{"start":"yesterday"}`,
		`{"start":5}`,
		`{"service_id":1}}`,
		`{"service_id":1}]`,
		`{"service_id":1} x`,
		`{"service_id":1}{}`,
		`{"service_id":`,
		`[]`,
		`null`,
		`"\ud800"`,
		"\xef\xbb\xbf{}",
		"",
		"   ",
	} {
		f.Add([]byte(s), "application/json")
	}
	f.Add([]byte(`{"service_id":1}`), "text/plain")
	f.Add([]byte(`{"service_id":1}`), "application/json; charset=utf-8")
	f.Add(bytes.Repeat([]byte(" "), 70<<10), "application/json")

	e := echo.New()
	limit := middleware.BodyLimit(maxBody)
	a := &API{log: slog.New(slog.DiscardHandler)}
	f.Fuzz(func(t *testing.T, body []byte, contentType string) {
		req := httptest.NewRequest(http.MethodPost, "/api/v1/tickets", bytes.NewReader(body))
		req.Header.Set("Content-Type", contentType)
		req.ContentLength = -1 // as if chunked: the limit is met while decoding
		c := e.NewContext(req, httptest.NewRecorder())
		var br bookRequest
		err := limit(func(c echo.Context) error { return decode(c, &br) })(c)
		if err == nil {
			if !json.Valid(body) {
				t.Fatalf("accepted a body that is not one JSON value: %q", body)
			}
			return
		}
		fe, ok := fault.As(err)
		if !ok {
			t.Fatalf("%q: error %T %v is not a *fault.Error", body, err, err)
		}
		st, out := a.errorResponse(err, c)
		if st < 400 || st > 499 {
			t.Fatalf("%q: %s gives status %d, want a client error", body, fe.Code, st)
		}
		if out.Error.Code == "" || out.Error.Message == "" {
			t.Fatalf("%q: error without code or message: %+v", body, out)
		}
	})
}
