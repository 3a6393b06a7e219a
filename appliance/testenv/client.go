package testenv

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"testing"
)

// Client calls the API as one principal: anonymous, a device or a signed-in
// staff member (cookie plus CSRF token, as the console does).
type Client struct {
	t      testing.TB
	base   string
	http   *http.Client
	bearer string
	CSRF   string
}

// Anonymous is a caller with no credential (a citizen at home).
func (e *Env) Anonymous(t testing.TB) *Client {
	jar, _ := cookiejar.New(nil)
	return &Client{t: t, base: e.URL, http: &http.Client{Jar: jar}}
}

// Device is a totem or display presenting its token.
func (e *Env) Device(t testing.TB, token string) *Client {
	c := e.Anonymous(t)
	c.bearer = token
	return c
}

// Login signs in and fails the test if that does not work.
func (e *Env) Login(t testing.TB, username, password string) *Client {
	t.Helper()
	c := e.Anonymous(t)
	var me struct {
		CSRFToken string `json:"csrf_token"`
	}
	if st := c.JSON("POST", "/api/v1/auth/login", map[string]string{"username": username, "password": password}, &me); st != 200 {
		t.Fatalf("login %s: status %d", username, st)
	}
	c.CSRF = me.CSRFToken
	return c
}

// Do sends a request (body marshalled as JSON unless it is []byte or nil)
// and returns the status and raw body. Extra headers come as name, value.
func (c *Client) Do(method, path string, body any, headers ...string) (int, []byte) {
	c.t.Helper()
	resp, raw := c.Send(method, path, body, headers...)
	return resp.StatusCode, raw
}

// Send is Do for tests that look at the response's headers and cookies: it
// returns the response (its body already read and closed) and the raw body.
func (c *Client) Send(method, path string, body any, headers ...string) (*http.Response, []byte) {
	c.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		r = bytes.NewReader(b)
	case string:
		r = bytes.NewReader([]byte(b))
	default:
		j, err := json.Marshal(b)
		if err != nil {
			c.t.Fatal(err)
		}
		r = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, c.base+path, r)
	if err != nil {
		c.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+c.bearer)
	}
	if c.CSRF != "" {
		req.Header.Set("X-CSRF-Token", c.CSRF)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp, raw
}

// JSON is Do that decodes the answer into out (when out is not nil).
func (c *Client) JSON(method, path string, body, out any, headers ...string) int {
	c.t.Helper()
	st, raw := c.Do(method, path, body, headers...)
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			c.t.Fatalf("%s %s: status %d, body not JSON: %s", method, path, st, raw)
		}
	}
	return st
}

// APIError is the error body of the API.
type APIError struct {
	Error struct {
		Code    string         `json:"code"`
		Message string         `json:"message"`
		Field   string         `json:"field"`
		Details map[string]any `json:"details"`
	} `json:"error"`
}
