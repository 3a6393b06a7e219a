package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"avanti/appliance/fault"
)

// errorBody is the one shape of every API error.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string         `json:"code"`
	Message string         `json:"message"`
	Field   string         `json:"field,omitempty"`
	Details map[string]any `json:"details,omitempty"`
}

var (
	errUnauthenticated = fault.New(fault.Unauthorized, "unauthenticated", "sign in first (or present the device token)")
	errForbidden       = fault.New(fault.Forbidden, "forbidden", "your role may not do this")
)

// status is the one place that maps a fault's kind to an HTTP status.
func status(k fault.Kind) int {
	switch k {
	case fault.Invalid:
		return http.StatusUnprocessableEntity
	case fault.BadRequest:
		return http.StatusBadRequest
	case fault.NotFound:
		return http.StatusNotFound
	case fault.Conflict:
		return http.StatusConflict
	case fault.Forbidden:
		return http.StatusForbidden
	case fault.Unauthorized:
		return http.StatusUnauthorized
	case fault.TooMany:
		return http.StatusTooManyRequests
	case fault.TooLarge:
		return http.StatusRequestEntityTooLarge
	case fault.UnsupportedMedia:
		return http.StatusUnsupportedMediaType
	case fault.Gone:
		return http.StatusGone
	case fault.Unavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

func (a *API) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	code, body := a.errorResponse(err, c)
	if c.Request().Method == http.MethodHead {
		c.NoContent(code)
		return
	}
	c.JSON(code, body)
}

func (a *API) errorResponse(err error, c echo.Context) (int, errorBody) {
	if f, ok := fault.As(err); ok {
		return status(f.Kind), errorBody{errorDetail{Code: f.Code, Message: f.Message, Field: f.Field, Details: f.Details}}
	}
	var he *echo.HTTPError
	if errors.As(err, &he) {
		switch he.Code {
		case http.StatusNotFound:
			return he.Code, errorBody{errorDetail{Code: "not_found", Message: "no such resource"}}
		case http.StatusMethodNotAllowed:
			return he.Code, errorBody{errorDetail{Code: "method_not_allowed", Message: "this method is not allowed here"}}
		case http.StatusRequestEntityTooLarge:
			return he.Code, errorBody{errorDetail{Code: "body_too_large", Message: "the request body is too large (at most " + maxBody + "B)"}}
		}
		if he.Code < 500 {
			return he.Code, errorBody{errorDetail{Code: strings.ReplaceAll(strings.ToLower(http.StatusText(he.Code)), " ", "_"), Message: fmt.Sprint(he.Message)}}
		}
	}
	a.log.Error("request failed", "method", c.Request().Method, "route", c.Path(), "err", err)
	return http.StatusInternalServerError, errorBody{errorDetail{Code: "internal_error", Message: "something went wrong on the appliance; please try again"}}
}

// recoverJSON turns a panic into a logged 500 with the usual error body.
func (a *API) recoverJSON(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			if r := recover(); r != nil {
				if r == http.ErrAbortHandler {
					panic(r)
				}
				a.log.Error("panic in handler", "route", c.Path(), "panic", r, "stack", string(debug.Stack()))
				err = fmt.Errorf("panic: %v", r)
			}
		}()
		return next(c)
	}
}

// decode reads a JSON body strictly: unknown fields, wrong types, trailing
// data and a missing body are the caller's mistakes, named precisely.
func decode(c echo.Context, v any) error {
	req := c.Request()
	if ct := req.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return fault.New(fault.UnsupportedMedia, "unsupported_media_type", "send the body as application/json")
		}
	}
	dec := json.NewDecoder(req.Body)
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		// Only white space may follow the value. dec.More() is not enough:
		// it reports false for a stray "}" or "]".
		switch err := dec.Decode(new(json.RawMessage)); {
		case err == io.EOF:
			return nil
		case tooLarge(err):
			return errBodyTooLarge
		}
		return fault.New(fault.BadRequest, "malformed_json", "the body has data after the JSON value")
	}
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.Is(err, io.EOF):
		return fault.New(fault.BadRequest, "empty_body", "the request needs a JSON body")
	case tooLarge(err):
		return errBodyTooLarge
	case errors.As(err, &syn), errors.Is(err, io.ErrUnexpectedEOF):
		return fault.New(fault.BadRequest, "malformed_json", "the body is not valid JSON")
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "body"
		}
		return fault.Field(field, "invalid_type", fmt.Sprintf("%s must be %s", field, describeType(typ.Type.Kind().String())))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return fault.Field(name, "unknown_field", "unknown field "+strconv.Quote(name))
	}
	var fe *fault.Error
	if errors.As(err, &fe) {
		return fe
	}
	// A date or time that does not parse is a well-formed body with a bad
	// value: the caller's mistake, 422 like any other invalid value.
	var pe *time.ParseError
	if errors.As(err, &pe) || strings.Contains(err.Error(), "want YYYY-MM-DD") {
		return fault.New(fault.Invalid, "invalid_date", "a date or time in the body is not valid: use YYYY-MM-DD for dates and RFC 3339 (e.g. 2026-11-23T09:00:00+01:00) for times")
	}
	return fault.New(fault.BadRequest, "malformed_json", "the body could not be read: "+err.Error())
}

var errBodyTooLarge = fault.New(fault.TooLarge, "body_too_large", "the request body is too large (at most "+maxBody+"B)")

// tooLarge reports whether reading the body stopped at the body limit.
func tooLarge(err error) bool {
	var he *echo.HTTPError
	return err != nil && ((errors.As(err, &he) && he.Code == http.StatusRequestEntityTooLarge) ||
		strings.Contains(err.Error(), "request body too large"))
}

func describeType(kind string) string {
	switch kind {
	case "int", "int64", "int32", "uint", "uint64", "float64":
		return "a number"
	case "bool":
		return "true or false"
	case "string":
		return "a string"
	case "slice":
		return "a list"
	case "struct", "map":
		return "an object"
	}
	return "of another type"
}

// pathID reads a positive integer path parameter.
func pathID(c echo.Context, name string) (int64, error) {
	id, err := strconv.ParseInt(c.Param(name), 10, 64)
	if err != nil || id <= 0 {
		return 0, fault.New(fault.NotFound, "not_found", fmt.Sprintf("%s must be a positive whole number", name))
	}
	return id, nil
}
