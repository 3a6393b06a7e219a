package api_test

// These tests keep openapi.yaml honest without a database: the document must
// be valid OpenAPI 3, describe exactly the routes the router registers, admit
// anonymous callers exactly where the router does, and name every error code
// the API can answer with.

import (
	"context"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/labstack/echo/v4"

	"avanti/appliance/api"
	"avanti/appliance/calling"
	"avanti/appliance/store"
)

// oapiDoc loads the document the binary embeds and serves.
func oapiDoc(t *testing.T) *openapi3.T {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(api.OpenAPI)
	if err != nil {
		t.Fatalf("load openapi.yaml: %v", err)
	}
	return doc
}

// oapiRouter builds the API without a store: New only registers routes.
func oapiRouter() *echo.Echo {
	return api.New(nil, api.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
}

var oapiEchoParam = regexp.MustCompile(`:([A-Za-z0-9_]+)`)

// oapiPath turns an echo route path (/desks/:id) into an OpenAPI one (/desks/{id}).
func oapiPath(p string) string { return oapiEchoParam.ReplaceAllString(p, "{$1}") }

// oapiOperations lists the documented operations as "METHOD /path".
func oapiOperations(doc *openapi3.T) map[string]*openapi3.Operation {
	out := map[string]*openapi3.Operation{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			out[method+" "+path] = op
		}
	}
	return out
}

func TestOpenAPIDocumentIsValid(t *testing.T) {
	doc := oapiDoc(t)
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("openapi.yaml is not a valid OpenAPI document: %v", err)
	}
	if doc.OpenAPI != "3.0.3" {
		t.Errorf("openapi = %q, want 3.0.3", doc.OpenAPI)
	}
	if doc.Info.Title != "Avanti API" || doc.Info.Version != "1" {
		t.Errorf("info = %q version %q, want Avanti API version 1", doc.Info.Title, doc.Info.Version)
	}
	seen := map[string]string{}
	for key, op := range oapiOperations(doc) {
		if op.Summary == "" || op.Description == "" {
			t.Errorf("%s: needs a summary and a description", key)
		}
		if op.OperationID == "" {
			t.Errorf("%s: needs an operationId", key)
		} else if other, dup := seen[op.OperationID]; dup {
			t.Errorf("%s: operationId %q is also used by %s", key, op.OperationID, other)
		}
		seen[op.OperationID] = key
	}
}

func TestEveryRouteIsDocumented(t *testing.T) {
	doc := oapiDoc(t)
	documented := oapiOperations(doc)

	registered := map[string]bool{}
	for _, r := range oapiRouter().Routes() {
		if r.Method == echo.RouteNotFound {
			continue // the group's catch-all 404, not an endpoint
		}
		registered[r.Method+" "+oapiPath(r.Path)] = true
	}
	if len(registered) == 0 {
		t.Fatal("the router registered no routes")
	}
	for _, must := range []string{"GET /healthz", "GET /metrics", "GET /api/v1/openapi.yaml"} {
		if !registered[must] {
			t.Errorf("route %s is not registered", must)
		}
	}

	var missing, phantom []string
	for key := range registered {
		if documented[key] == nil {
			missing = append(missing, key)
		}
	}
	for key := range documented {
		if !registered[key] {
			phantom = append(phantom, key)
		}
	}
	sort.Strings(missing)
	sort.Strings(phantom)
	for _, key := range missing {
		t.Errorf("route %s is registered but not in openapi.yaml", key)
	}
	for _, key := range phantom {
		t.Errorf("openapi.yaml documents %s, which is not a route", key)
	}
}

// oapiRoles reads an operation's x-roles.
func oapiRoles(t *testing.T, key string, op *openapi3.Operation) []string {
	t.Helper()
	raw, ok := op.Extensions["x-roles"]
	if !ok {
		t.Errorf("%s: no x-roles", key)
		return nil
	}
	b, _ := json.Marshal(raw)
	var roles []string
	if err := json.Unmarshal(b, &roles); err != nil {
		t.Errorf("%s: x-roles is not a list of strings: %v", key, err)
	}
	known := []string{"anonymous", "kiosk", "display", "admin", "backoffice", "operator"}
	for _, r := range roles {
		if !slices.Contains(known, r) {
			t.Errorf("%s: unknown role %q in x-roles", key, r)
		}
	}
	return roles
}

// TestOpenAPISecurityMatchesRoles checks that the security requirements,
// the documented roles and the conventions (Idempotency-Key on POST,
// X-CSRF-Token on state changes) agree, operation by operation.
func TestOpenAPISecurityMatchesRoles(t *testing.T) {
	doc := oapiDoc(t)
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			key := method + " " + path
			roles := oapiRoles(t, key, op)
			if op.Security == nil || len(*op.Security) == 0 {
				t.Errorf("%s: no security requirements", key)
				continue
			}
			optional, device, session := false, false, false
			for _, req := range *op.Security {
				if len(req) == 0 {
					optional = true
				}
				if _, ok := req["deviceToken"]; ok {
					device = true
				}
				if _, ok := req["sessionCookie"]; ok {
					session = true
					if _, csrf := req["csrfToken"]; method != http.MethodGet && !csrf {
						t.Errorf("%s: a session cookie on a %s needs csrfToken in the same requirement", key, method)
					}
				}
			}
			if path == "/metrics" || path == "/healthz" || path == "/ca.crt" {
				continue // outside the API: no sessions or devices
			}
			if want := slices.Contains(roles, "anonymous"); optional != want {
				t.Errorf("%s: anonymous in x-roles is %v but an empty security requirement is %v", key, want, optional)
			}
			if want := slices.Contains(roles, "kiosk") || slices.Contains(roles, "display"); device != want {
				t.Errorf("%s: device roles in x-roles is %v but deviceToken is %v", key, want, device)
			}
			if want := slices.ContainsFunc(roles, func(r string) bool { return r == "admin" || r == "backoffice" || r == "operator" }); session != want {
				t.Errorf("%s: staff roles in x-roles is %v but sessionCookie is %v", key, want, session)
			}
			if !strings.HasPrefix(path, "/api/v1/") || method == http.MethodGet {
				continue
			}
			params := append(slices.Clone(item.Parameters), op.Parameters...)
			if params.GetByInAndName("header", "X-CSRF-Token") == nil {
				t.Errorf("%s: no X-CSRF-Token header parameter", key)
			}
			if method == http.MethodPost && params.GetByInAndName("header", "Idempotency-Key") == nil {
				t.Errorf("%s: no Idempotency-Key header parameter", key)
			}
		}
	}
}

// TestOpenAPIErrorResponsesFollowConventions wants every operation to
// document the errors the shared middleware and decoding can give it.
func TestOpenAPIErrorResponsesFollowConventions(t *testing.T) {
	doc := oapiDoc(t)
	for key, op := range oapiOperations(doc) {
		method, path, _ := strings.Cut(key, " ")
		want := []int{}
		if op.RequestBody != nil {
			want = append(want, 400, 413, 415, 422)
		}
		if method == http.MethodPost && path != "/metrics" && path != "/healthz" {
			want = append(want, 400, 409, 422) // Idempotency-Key
		}
		if method != http.MethodGet && strings.HasPrefix(path, "/api/v1/") {
			want = append(want, 403) // X-CSRF-Token
		}
		if strings.Contains(path, "{") {
			want = append(want, 404)
		}
		if roles := oapiRoles(t, key, op); len(roles) < 6 {
			want = append(want, 401, 403)
		}
		for _, code := range want {
			if op.Responses.Status(code) == nil {
				t.Errorf("%s: no %d response", key, code)
			}
		}
		for code, resp := range op.Responses.Map() {
			if !strings.HasPrefix(code, "4") {
				continue
			}
			mt := resp.Value.Content.Get("application/json")
			if mt == nil || mt.Schema == nil || mt.Schema.Ref != "#/components/schemas/Error" {
				t.Errorf("%s: the %s response is not the shared Error schema", key, code)
			}
		}
	}
}

// TestOpenAPIRolesMatchAnonymousAccess calls every operation without
// credentials: where x-roles leaves anonymous out, the router must answer
// 401 unauthenticated before anything else; where it lets anonymous in, it
// must not. Without a store, the handlers that reach the database fail with
// 500, which is fine here: they were let through.
func TestOpenAPIRolesMatchAnonymousAccess(t *testing.T) {
	doc := oapiDoc(t)
	e := oapiRouter()
	token := strings.Repeat("A", 43)
	for key, op := range oapiOperations(doc) {
		method, path, _ := strings.Cut(key, " ")
		roles := oapiRoles(t, key, op)
		url := strings.NewReplacer("{id}", "1", "{agenda_id}", "1", "{token}", token).Replace(path)
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, httptest.NewRequest(method, url, nil))
		var body struct {
			Error struct{ Code string } `json:"error"`
		}
		_ = json.Unmarshal(rec.Body.Bytes(), &body)
		if slices.Contains(roles, "anonymous") {
			if rec.Code == http.StatusUnauthorized || rec.Code == http.StatusForbidden {
				t.Errorf("%s: documented as open to anonymous callers, got %d %s", key, rec.Code, body.Error.Code)
			}
			continue
		}
		if rec.Code != http.StatusUnauthorized || body.Error.Code != "unauthenticated" {
			t.Errorf("%s: documented as closed to anonymous callers (x-roles %v), got %d %q", key, roles, rec.Code, body.Error.Code)
		}
	}
}

func TestOpenAPIIsServed(t *testing.T) {
	rec := httptest.NewRecorder()
	oapiRouter().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/v1/openapi.yaml", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /api/v1/openapi.yaml: %d", rec.Code)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/yaml") {
		t.Errorf("Content-Type = %q, want application/yaml", ct)
	}
	if rec.Body.String() != string(api.OpenAPI) {
		t.Error("the served document is not the embedded one")
	}
}

// oapiCLIOnlyCodes are error codes of store and auth functions the API does
// not call (users, devices, sites are managed with the avanti command).
var oapiCLIOnlyCodes = []string{
	"weak_password", "invalid_role", "invalid_username", "username_taken", "user_not_found",
	"no_owner", "invalid_timezone",
}

// TestOpenAPIListsEveryErrorCode finds every code given to fault.New and
// fault.Field in the API, store and auth packages and wants each named
// (as `code`) in openapi.yaml, so a new error cannot go undocumented.
func TestOpenAPIListsEveryErrorCode(t *testing.T) {
	codes := map[string]string{} // code -> where
	for _, dir := range []string{".", "../store", "../auth"} {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		fset := token.NewFileSet()
		for _, name := range files {
			if strings.HasSuffix(name, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(fset, name, nil, 0)
			if err != nil {
				t.Fatalf("parse %s: %v", name, err)
			}
			ast.Inspect(f, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok {
					return true
				}
				sel, ok := call.Fun.(*ast.SelectorExpr)
				if !ok || len(call.Args) != 3 {
					return true
				}
				if pkg, ok := sel.X.(*ast.Ident); !ok || pkg.Name != "fault" || (sel.Sel.Name != "New" && sel.Sel.Name != "Field") {
					return true
				}
				lit, ok := call.Args[1].(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					t.Errorf("%s: the code of a fault.%s is not a string literal", fset.Position(call.Pos()), sel.Sel.Name)
					return true
				}
				code, _ := strconv.Unquote(lit.Value)
				codes[code] = fset.Position(call.Pos()).String()
				return true
			})
		}
	}
	if len(codes) < 20 {
		t.Fatalf("found only %d error codes: is the source scan broken?", len(codes))
	}
	text := string(api.OpenAPI)
	for code, where := range codes {
		if slices.Contains(oapiCLIOnlyCodes, code) {
			continue
		}
		if !strings.Contains(text, "`"+code+"`") {
			t.Errorf("error code %q (%s) is not documented in openapi.yaml", code, where)
		}
	}
}

// oapiProperties collects the properties a schema documents, through allOf.
func oapiProperties(s *openapi3.Schema, into map[string]bool) {
	for name := range s.Properties {
		into[name] = true
	}
	for _, sub := range s.AllOf {
		oapiProperties(sub.Value, into)
	}
}

// TestOpenAPISchemasMatchStoreTypes encodes the store's and the calling
// engine's types, every field set, and wants each to fit its schema with no
// undocumented field, and the enums to be the store's.
func TestOpenAPISchemasMatchStoreTypes(t *testing.T) {
	doc := oapiDoc(t)
	now := time.Date(2026, 3, 2, 9, 30, 0, 0, time.FixedZone("CET", 3600))
	samples := map[string]any{
		"Service": store.Service{ID: 1, OwnerID: 1, SiteID: 1, Name: "Anagrafe", Description: "d", Notes: "n", Prefix: "A",
			TargetWaitMin: 15, AllowedLatenessMin: 10, CheckinEarlyMin: 30, CheckinRequired: true, SecondCheckin: true,
			OnlineBookable: true, OverbookingPct: 10, AutoRegulation: true, MinNoticeMin: 60, MaxDaysAhead: 60, AvgServiceMin: 10,
			IDRequiredFuture: true, WalkInQuotaPerHour: 2, OneActiveBooking: true, PriorityWeight: 2, EarlyCalls: true,
			Active: true, Timezone: "Europe/Rome"},
		"Desk": store.Desk{ID: 1, RoomID: 1, Name: "Sportello 1", Number: "1", State: store.DeskPaused, PauseReason: "break",
			OperatorID: 2, CurrentTicketID: 3, StateSince: now, ServiceIDs: []int64{1, 2}, OwnerID: 1},
		"Punctuality": store.Punctuality{ServiceID: 1, DelayMinutes: -3, Status: "on_time", Calls: 4, Waiting: 2},
		"DayAvailability": store.DayAvailability{Date: "2026-03-02",
			Slots: []store.FreeSlot{{Start: now, End: now.Add(15 * time.Minute), Free: 2}}},
		"Citizen": store.Citizen{FiscalCode: "RSSMRA85T10A562S", FirstName: "Mario", LastName: "Rossi",
			Phone: "+393331234567", Email: "mario.rossi@example.it"},
		"UserInfo": store.UserInfo{User: store.User{ID: 1, OwnerID: 1, Username: "mrossi", DisplayName: "Maria Rossi",
			Email: "maria.rossi@comune.example.it", Role: store.RoleAdmin, Active: true}, Source: store.SourceLocal, ServiceIDs: []int64{1}},
		"CallReason": calling.Reason{Rule: calling.RuleUrgency, Urgency: 1.25, WaitSeconds: 1200, TargetSeconds: 900,
			Priority: true, PriorityWeight: 2, Position: 0, Waiting: 5, Text: "waited longest against its target"},
	}
	for name, v := range samples {
		ref := doc.Components.Schemas[name]
		if ref == nil || ref.Value == nil {
			t.Errorf("no schema %s", name)
			continue
		}
		raw, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		var generic map[string]any
		if err := json.Unmarshal(raw, &generic); err != nil {
			t.Fatal(err)
		}
		if err := ref.Value.VisitJSON(generic); err != nil {
			t.Errorf("a %T does not fit schema %s: %v", v, name, err)
		}
		props := map[string]bool{}
		oapiProperties(ref.Value, props)
		for field := range generic {
			if !props[field] {
				t.Errorf("schema %s does not document field %q of %T", name, field, v)
			}
		}
	}

	var reasons []string
	for _, e := range doc.Components.Schemas["PauseReason"].Value.Enum {
		reasons = append(reasons, e.(string))
	}
	if !slices.Equal(reasons, store.PauseReasons) {
		t.Errorf("PauseReason enum = %v, store.PauseReasons = %v", reasons, store.PauseReasons)
	}
}
