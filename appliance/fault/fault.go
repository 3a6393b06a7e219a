// Package fault is the one error type the appliance shows its callers: a
// stable code a program can switch on, a message a person can read, and the
// field it is about. The API maps a Kind to an HTTP status in one place.
package fault

import (
	"errors"
	"fmt"
)

// Kind says whose mistake an error is and so which status it gets.
type Kind int

const (
	Invalid          Kind = iota + 1 // the request breaks a rule: 422
	BadRequest                       // the request cannot be read: 400
	NotFound                         // 404
	Conflict                         // the state of things forbids it now: 409
	Forbidden                        // the caller may not: 403
	Unauthorized                     // the caller is unknown: 401
	TooMany                          // slow down, or locked out: 429
	TooLarge                         // 413
	UnsupportedMedia                 // the body is not in a format we read: 415
	Gone                             // it existed and has expired: 410
	Unavailable                      // the appliance cannot do it right now: 503
)

// Error is a domain error with a stable code.
type Error struct {
	Kind    Kind
	Code    string
	Message string
	Field   string
	// Details carries figures a client can use (e.g. "come_back_at").
	Details map[string]any
}

func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%s: %s (%s)", e.Code, e.Message, e.Field)
	}
	return e.Code + ": " + e.Message
}

// New makes an Error.
func New(kind Kind, code, message string) *Error {
	return &Error{Kind: kind, Code: code, Message: message}
}

// Field makes an Invalid error about one field of the request.
func Field(field, code, message string) *Error {
	return &Error{Kind: Invalid, Code: code, Message: message, Field: field}
}

// With returns a copy of e carrying one more detail.
func (e *Error) With(key string, value any) *Error {
	c := *e
	c.Details = make(map[string]any, len(e.Details)+1)
	for k, v := range e.Details {
		c.Details[k] = v
	}
	c.Details[key] = value
	return &c
}

// As finds an *Error in err's chain.
func As(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// Is reports whether err carries an *Error with this code.
func Is(err error, code string) bool {
	e, ok := As(err)
	return ok && e.Code == code
}
