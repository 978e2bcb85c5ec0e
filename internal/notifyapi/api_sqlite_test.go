package notifyapi_test

// The routes of mana-notify's API on a real store (a temporary SQLite file,
// built in sqlite_test.go): the error mapping of each route (status and the
// envelope's error.code), the guards of both route groups, and the answers
// of send, schedule, batch, cancel, list and get. What handler_test.go and
// users_test.go already check on their fakes (the service-key 401 of send
// and get, INVALID_BODY/VALIDATION/413/500 of send, get's JSON, the JWT
// guard of GET /preferences) is not repeated here.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mana/mana/internal/notify"
	"github.com/mana/mana/internal/notify/delivery"
	"github.com/mana/mana/internal/notifyapi"
)

const (
	email      = `{"channel":"email","appId":"mana-auth","recipient":"u@example.com","subject":"S","body":"<p>B</p>"}`
	uuidAbsent = "5d0d6c56-8a37-4c0e-9f4a-8f9b5d7d2e11"
)

// emailTo is a send body to u@example.com with extra fields (`"k":v,…`).
func emailTo(extra string) string {
	if extra == "" {
		return email
	}
	return strings.TrimSuffix(email, "}") + "," + extra + "}"
}

// future is an RFC3339 time an hour ahead.
func future() string { return time.Now().Add(time.Hour).UTC().Format(time.RFC3339) }

// created is the id of a 202 answer of send or schedule.
func created(t *testing.T, rec *httptest.ResponseRecorder) string {
	t.Helper()
	if rec.Code != http.StatusAccepted {
		t.Fatalf("status %d, want 202: %s", rec.Code, rec.Body)
	}
	id, _ := obj(jsonOf(t, rec), "notification")["id"].(string)
	if !notify.IsUUID(id) {
		t.Fatalf("id %q: %s", id, rec.Body)
	}
	return id
}

// jobsOf counts the delivery jobs of notification id in state ("" any).
func (e *env) jobsOf(id, state string) int {
	e.t.Helper()
	return e.count(`SELECT count(*) FROM river_job WHERE kind = ? AND json_extract(args, '$.notification_id') = ?
		AND (? = '' OR state = ?)`, delivery.Kind, id, state, state)
}

// Every route under /api/v1/notifications and /api/v1/templates, unknown
// paths included, answers the contract's plain-text 401 without the right
// key and does nothing: the requests below would each change or reveal data.
// Guard: handler.go Mount's `mux.Handle("/api/v1/templates/", withKey)` and
// its three siblings. Negative control: mounting `internal` instead of
// `withKey` for "/api/v1/templates/" lets PUT and DELETE of the custom
// template through (200) and fails here.
func TestServiceKeyGuardsEveryRoute(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	pending := created(t, e.svc("POST", "/api/v1/notifications/send", email))
	if rec := e.svc("POST", "/api/v1/templates", `{"slug":"custom","channel":"email","bodyTemplate":"<p>x</p>"}`); rec.Code != http.StatusCreated {
		t.Fatalf("create template: %d %s", rec.Code, rec.Body)
	}
	routes := []struct{ method, path, body string }{
		{"POST", "/api/v1/notifications/schedule", emailTo(`"scheduledFor":"` + future() + `"`)},
		{"POST", "/api/v1/notifications/batch", `{"notifications":[` + email + `]}`},
		{"GET", "/api/v1/notifications?status=pending", ""},
		{"DELETE", "/api/v1/notifications/" + pending, ""},
		{"GET", "/api/v1/templates", ""},
		{"POST", "/api/v1/templates", `{"slug":"other","channel":"email","bodyTemplate":"<p>x</p>"}`},
		{"POST", "/api/v1/templates/preview", `{"bodyTemplate":"x"}`},
		{"GET", "/api/v1/templates/auth-verification", ""},
		{"PUT", "/api/v1/templates/custom", `{"isActive":false}`},
		{"DELETE", "/api/v1/templates/custom", ""},
		{"POST", "/api/v1/templates/custom/preview", `{}`},
		{"GET", "/api/v1/templates/custom/unknown/deeper", ""},
		{"GET", "/api/v1/notifications/unknown/deeper/still", ""},
		{"POST", "/api/v1/users/erase", `{"userId":"u1"}`},
		{"GET", "/api/v1/users/unknown", ""},
	}
	for _, r := range routes {
		for _, key := range []string{"", "wrong-key"} {
			rec := e.serve(request{method: r.method, path: r.path, body: r.body, key: key})
			if rec.Code != http.StatusUnauthorized || rec.Header().Get("Content-Type") != "text/plain; charset=utf-8" ||
				rec.Body.String() != `{"error":"unauthorized: invalid service key"}`+"\n" {
				t.Errorf("%s %s key %q: %d %q %q, want the 401 text", r.method, r.path, key, rec.Code,
					rec.Header().Get("Content-Type"), rec.Body)
			}
		}
	}
	if n, err := e.store.Get(context.Background(), pending); err != nil || n.Status != notify.StatusPending {
		t.Errorf("the notification changed without a key: %+v %v", n, err)
	}
	if got := e.count(`SELECT count(*) FROM notify_notifications`); got != 1 {
		t.Errorf("%d notifications, want the one sent with the key", got)
	}
	if got := e.count(`SELECT count(*) FROM notify_templates WHERE slug IN ('custom', 'other') AND is_active = 1`); got != 1 {
		t.Errorf("%d active custom templates, want 1", got)
	}
	// The right key reaches each handler.
	for _, r := range routes {
		if rec := e.svc(r.method, r.path, r.body); rec.Code == http.StatusUnauthorized {
			t.Errorf("%s %s with the key: 401", r.method, r.path)
		}
	}
}

// The JWT routes answer 401 without a bearer token and with one the
// authenticator refuses, 503 (fail closed) when it cannot check, and change
// nothing then. GET /preferences is in users_test.go.
// Guard: users.go requireUser `case err != nil:` (503). Negative control:
// deleting that case lets "down" through as the empty user: PUT
// /preferences answers 200 and stores a row.
func TestUserGuardsEveryRoute(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	rec := e.as("u1", "POST", "/api/v1/devices/register", `{"pushToken":"ExponentPushToken[u1]"}`)
	if rec.Code != http.StatusCreated {
		t.Fatalf("register: %d %s", rec.Code, rec.Body)
	}
	device, _ := obj(jsonOf(t, rec), "device")["id"].(string)
	routes := []struct{ method, path, body string }{
		{"POST", "/api/v1/devices/register", `{"pushToken":"ExponentPushToken[new]"}`},
		{"GET", "/api/v1/devices", ""},
		{"DELETE", "/api/v1/devices/" + device, ""},
		{"PUT", "/api/v1/preferences", `{"emailEnabled":true}`},
		{"GET", "/api/v1/devices/unknown/deeper", ""},
	}
	for _, r := range routes {
		for _, c := range []struct {
			name, bearer string
			status       int
			body         string
		}{
			{"no token", "", http.StatusUnauthorized, `{"error":"unauthorized: missing token"}` + "\n"},
			{"refused token", badToken, http.StatusUnauthorized, `{"error":"unauthorized: invalid token"}` + "\n"},
			{"check unavailable", downToken, http.StatusServiceUnavailable, ""},
		} {
			rec := e.serve(request{method: r.method, path: r.path, body: r.body, bearer: c.bearer})
			if rec.Code != c.status {
				t.Errorf("%s %s, %s: %d %s, want %d", r.method, r.path, c.name, rec.Code, rec.Body, c.status)
				continue
			}
			if c.body != "" {
				if rec.Body.String() != c.body || rec.Header().Get("Content-Type") != "text/plain; charset=utf-8" {
					t.Errorf("%s %s, %s: %q %q", r.method, r.path, c.name, rec.Header().Get("Content-Type"), rec.Body)
				}
			} else if code, _ := errorOf(t, rec); code != notifyapi.CodeUnavailable {
				t.Errorf("%s %s, %s: code %s, want %s", r.method, r.path, c.name, code, notifyapi.CodeUnavailable)
			}
		}
	}
	if got := e.count(`SELECT count(*) FROM notify_devices WHERE is_active = 1`); got != 1 {
		t.Errorf("%d active devices, want u1's one", got)
	}
	if got := e.count(`SELECT count(*) FROM notify_preferences`); got != 0 {
		t.Errorf("%d preference rows stored without a user", got)
	}
	for _, r := range routes {
		if rec := e.as("u1", r.method, r.path, r.body); rec.Code == http.StatusUnauthorized || rec.Code == http.StatusServiceUnavailable {
			t.Errorf("%s %s as u1: %d", r.method, r.path, rec.Code)
		}
	}
}

// Refused requests of the notification routes: each answer's status and
// code, and nothing stored or enqueued.
// Guards: send.go acceptError `case errors.Is(err, notify.ErrTemplateNotFound):`
// and `case errors.As(err, &re):` (422), schedule's two scheduledFor checks,
// batch's two size checks, list's status and limit checks, cancel's 404.
// Negative control: deleting acceptError's `case errors.As(err, &re):`
// makes the render failures 500 INTERNAL.
func TestNotificationRouteErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	const verify = `"template":"auth-verification"` // needs userName and verificationUrl
	items := make([]string, 101)
	for i := range items {
		items[i] = email
	}
	checkErrors(t, []errorCase{
		{"send unknown template", "POST", "/api/v1/notifications/send", emailTo(`"template":"nope"`),
			400, notifyapi.CodeTemplateNotFound, "template not found: nope"},
		{"send template without its data", "POST", "/api/v1/notifications/send", emailTo(verify),
			422, notifyapi.CodeTemplateRender, ""},
		{"send template with part of its data", "POST", "/api/v1/notifications/send", emailTo(verify + `,"data":{"userName":"Ada"}`),
			422, notifyapi.CodeTemplateRender, ""},

		{"schedule bad json", "POST", "/api/v1/notifications/schedule", `{"channel":`, 400, notifyapi.CodeInvalidBody, "invalid request body"},
		{"schedule empty", "POST", "/api/v1/notifications/schedule", ``, 400, notifyapi.CodeInvalidBody, "invalid request body"},
		{"schedule too large", "POST", "/api/v1/notifications/schedule",
			emailTo(`"data":{"x":"` + strings.Repeat("x", notify.MaxBodyBytes) + `"}`), 413, notifyapi.CodePayloadTooLarge, "request body too large"},
		{"schedule without time", "POST", "/api/v1/notifications/schedule", email,
			400, notifyapi.CodeValidation, "scheduledFor must be a valid RFC3339 timestamp"},
		{"schedule unparsable time", "POST", "/api/v1/notifications/schedule", emailTo(`"scheduledFor":"tomorrow"`),
			400, notifyapi.CodeValidation, "scheduledFor must be a valid RFC3339 timestamp"},
		{"schedule past", "POST", "/api/v1/notifications/schedule", emailTo(`"scheduledFor":"2000-01-01T00:00:00Z"`),
			400, notifyapi.CodeValidation, "scheduledFor must be in the future"},
		{"schedule invalid message", "POST", "/api/v1/notifications/schedule", `{"scheduledFor":"` + future() + `"}`,
			400, notifyapi.CodeValidation, "channel is required"},
		{"schedule unknown template", "POST", "/api/v1/notifications/schedule", emailTo(`"template":"nope","scheduledFor":"` + future() + `"`),
			400, notifyapi.CodeTemplateNotFound, "template not found: nope"},
		{"schedule template without its data", "POST", "/api/v1/notifications/schedule", emailTo(verify + `,"scheduledFor":"` + future() + `"`),
			422, notifyapi.CodeTemplateRender, ""},

		{"batch bad json", "POST", "/api/v1/notifications/batch", `{"notifications":[`, 400, notifyapi.CodeInvalidBody, "invalid request body"},
		{"batch empty body", "POST", "/api/v1/notifications/batch", ``, 400, notifyapi.CodeInvalidBody, "invalid request body"},
		{"batch not an array", "POST", "/api/v1/notifications/batch", `{"notifications":{}}`, 400, notifyapi.CodeInvalidBody, "invalid request body"},
		{"batch without items", "POST", "/api/v1/notifications/batch", `{}`, 400, notifyapi.CodeValidation, "notifications array is required"},
		{"batch empty array", "POST", "/api/v1/notifications/batch", `{"notifications":[]}`, 400, notifyapi.CodeValidation, "notifications array is required"},
		{"batch of 101", "POST", "/api/v1/notifications/batch", `{"notifications":[` + strings.Join(items, ",") + `]}`,
			400, notifyapi.CodeValidation, "maximum 100 notifications per batch"},
		{"batch over 5 MiB", "POST", "/api/v1/notifications/batch",
			`{"notifications":[` + emailTo(`"data":{"x":"`+strings.Repeat("x", 5<<20)+`"}`) + `]}`, 413, notifyapi.CodePayloadTooLarge, "request body too large"},

		{"list without status", "GET", "/api/v1/notifications", "", 400, notifyapi.CodeValidation,
			"status must be pending, processing, delivered, failed, or cancelled"},
		{"list unknown status", "GET", "/api/v1/notifications?status=sent", "", 400, notifyapi.CodeValidation,
			"status must be pending, processing, delivered, failed, or cancelled"},
		{"list limit 0", "GET", "/api/v1/notifications?status=pending&limit=0", "", 400, notifyapi.CodeValidation,
			fmt.Sprintf("limit must be between 1 and %d", notify.MaxListLimit)},
		{"list limit too high", "GET", fmt.Sprintf("/api/v1/notifications?status=pending&limit=%d", notify.MaxListLimit+1), "",
			400, notifyapi.CodeValidation, fmt.Sprintf("limit must be between 1 and %d", notify.MaxListLimit)},
		{"list limit not a number", "GET", "/api/v1/notifications?status=pending&limit=ten", "", 400, notifyapi.CodeValidation,
			fmt.Sprintf("limit must be between 1 and %d", notify.MaxListLimit)},

		{"cancel unknown", "DELETE", "/api/v1/notifications/" + uuidAbsent, "", 404, notifyapi.CodeNotFound,
			"notification not found or already processed"},
		{"cancel malformed id", "DELETE", "/api/v1/notifications/not-a-uuid", "", 404, notifyapi.CodeNotFound,
			"notification not found or already processed"},
	}, e.svc)
	if n, j := e.count(`SELECT count(*) FROM notify_notifications`), e.count(`SELECT count(*) FROM river_job`); n != 0 || j != 0 {
		t.Errorf("refused requests stored %d notifications and %d jobs", n, j)
	}
}

// Refused requests of the template routes, and the templates unchanged.
// Guards: templates.go createTemplate's checks and `errors.Is(err,
// notify.ErrTemplateExists)` (409), templateOr404, the system-template 404s
// of update and delete, renderFailed (400 at preview, unlike send's 422).
// Negative control: deleting createTemplate's ErrTemplateExists branch
// makes both duplicates 500 INTERNAL.
func TestTemplateRouteErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	if rec := e.svc("POST", "/api/v1/templates",
		`{"slug":"custom","channel":"email","subject":"Hallo {{.name}}","bodyTemplate":"<p>{{.name}}</p>"}`); rec.Code != http.StatusCreated {
		t.Fatalf("create: %d %s", rec.Code, rec.Body)
	}
	const notFoundOrSystem = "template not found or is a system template"
	checkErrors(t, []errorCase{
		{"create bad json", "POST", "/api/v1/templates", `{"slug":`, 400, notifyapi.CodeInvalidBody, "invalid request body"},
		{"create empty", "POST", "/api/v1/templates", ``, 400, notifyapi.CodeInvalidBody, "invalid request body"},
		{"create too large", "POST", "/api/v1/templates",
			`{"slug":"big","channel":"email","bodyTemplate":"` + strings.Repeat("x", notify.MaxBodyBytes) + `"}`,
			413, notifyapi.CodePayloadTooLarge, "request body too large"},
		{"create without body", "POST", "/api/v1/templates", `{"slug":"x","channel":"email"}`,
			400, notifyapi.CodeValidation, "slug, channel, and bodyTemplate are required"},
		{"create unknown channel", "POST", "/api/v1/templates", `{"slug":"x","channel":"sms","bodyTemplate":"b"}`,
			400, notifyapi.CodeValidation, "channel must be email, push, or webhook"},
		{"create slug with slash", "POST", "/api/v1/templates", `{"slug":"a/b","channel":"email","bodyTemplate":"b"}`,
			400, notifyapi.CodeValidation, "slug must be at most 100 characters without '/'"},
		{"create body that does not parse", "POST", "/api/v1/templates", `{"slug":"x","channel":"email","bodyTemplate":"{{.x"}`,
			400, notifyapi.CodeValidation, ""},
		{"create subject that does not parse", "POST", "/api/v1/templates", `{"slug":"x","channel":"email","subject":"{{","bodyTemplate":"b"}`,
			400, notifyapi.CodeValidation, ""},
		{"create existing", "POST", "/api/v1/templates", `{"slug":"custom","channel":"push","bodyTemplate":"b","locale":"de-DE"}`,
			409, notifyapi.CodeTemplateExists, "template already exists for this slug+locale"},
		{"create over a system template", "POST", "/api/v1/templates", `{"slug":"auth-verification","channel":"email","bodyTemplate":"b"}`,
			409, notifyapi.CodeTemplateExists, "template already exists for this slug+locale"},

		{"get unknown", "GET", "/api/v1/templates/nope", "", 404, notifyapi.CodeNotFound, "template not found"},
		{"get other locale", "GET", "/api/v1/templates/custom?locale=en-US", "", 404, notifyapi.CodeNotFound, "template not found"},
		{"get locale too long", "GET", "/api/v1/templates/custom?locale=de-DE-x-long", "", 400, notifyapi.CodeValidation,
			"locale must be at most 10 characters"},

		{"update system", "PUT", "/api/v1/templates/auth-verification", `{"isActive":false}`, 404, notifyapi.CodeNotFound, notFoundOrSystem},
		{"update system body", "PUT", "/api/v1/templates/auth-verification", `{"bodyTemplate":"x"}`, 404, notifyapi.CodeNotFound, notFoundOrSystem},
		{"update unknown", "PUT", "/api/v1/templates/nope", `{"isActive":false}`, 404, notifyapi.CodeNotFound, notFoundOrSystem},
		{"update unknown body", "PUT", "/api/v1/templates/nope", `{"subject":"x"}`, 404, notifyapi.CodeNotFound, notFoundOrSystem},
		{"update bad json", "PUT", "/api/v1/templates/custom", `{"isActive":`, 400, notifyapi.CodeInvalidBody, "invalid request body"},
		{"update empty body", "PUT", "/api/v1/templates/custom", `{"bodyTemplate":""}`, 400, notifyapi.CodeValidation,
			"bodyTemplate must not be empty"},
		{"update body that does not parse", "PUT", "/api/v1/templates/custom", `{"bodyTemplate":"{{end}}"}`, 400, notifyapi.CodeValidation, ""},

		{"delete system", "DELETE", "/api/v1/templates/auth-verification", "", 404, notifyapi.CodeNotFound, notFoundOrSystem},
		{"delete unknown", "DELETE", "/api/v1/templates/nope", "", 404, notifyapi.CodeNotFound, notFoundOrSystem},

		{"preview unknown", "POST", "/api/v1/templates/nope/preview", `{}`, 404, notifyapi.CodeNotFound, "template not found"},
		{"preview bad json", "POST", "/api/v1/templates/custom/preview", `{"data":`, 400, notifyapi.CodeInvalidBody, "invalid request body"},
		{"preview without data", "POST", "/api/v1/templates/custom/preview", ``, 400, notifyapi.CodeTemplateRender, ""},
		{"preview missing variable", "POST", "/api/v1/templates/custom/preview", `{"data":{"other":1}}`, 400, notifyapi.CodeTemplateRender, ""},

		{"custom preview bad json", "POST", "/api/v1/templates/preview", `{`, 400, notifyapi.CodeInvalidBody, "invalid request body"},
		{"custom preview without body", "POST", "/api/v1/templates/preview", `{"subject":"s"}`, 400, notifyapi.CodeValidation,
			"bodyTemplate is required"},
		{"custom preview that does not parse", "POST", "/api/v1/templates/preview", `{"bodyTemplate":"{{if}}"}`, 400, notifyapi.CodeValidation, ""},
		{"custom preview missing variable", "POST", "/api/v1/templates/preview", `{"bodyTemplate":"{{.missing}}","data":{}}`,
			400, notifyapi.CodeTemplateRender, ""},
	}, e.svc)

	ctx := context.Background()
	sys, err := e.store.GetTemplate(ctx, "auth-verification", notify.DefaultLocale)
	if err != nil || !sys.IsSystem || !sys.IsActive {
		t.Errorf("system template after refused changes: %+v %v", sys, err)
	}
	custom, err := e.store.GetTemplate(ctx, "custom", notify.DefaultLocale)
	if err != nil || custom.Channel != notify.ChannelEmail || custom.BodyTemplate != "<p>{{.name}}</p>" || !custom.IsActive {
		t.Errorf("custom template after refused changes: %+v %v", custom, err)
	}
	if got := e.count(`SELECT count(*) FROM notify_templates`); got != len(notify.SystemTemplates())+1 {
		t.Errorf("%d templates, want the system ones and custom", got)
	}
}

// A template's life over the API: created, read (variables as base64 of
// the JSON), previewed (email bodies HTML-escaped, push bodies not),
// updated, deactivated (a send then finds no template), deleted in every
// locale.
// Guard: FindActiveTemplate's `is_active = 1`, reached through send.
// Negative control: dropping `AND is_active = 1` from FindActiveTemplate
// (internal/store/sqlite/notify_templates.go) makes the send after
// deactivation 202.
func TestTemplateLifecycle(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	rec := e.svc("GET", "/api/v1/templates", "")
	var list struct {
		Templates []struct {
			Slug     string `json:"slug"`
			IsSystem bool   `json:"isSystem"`
		} `json:"templates"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &list); err != nil || rec.Code != 200 || len(list.Templates) != len(notify.SystemTemplates()) {
		t.Fatalf("list: %d %s %v", rec.Code, rec.Body, err)
	}
	for _, tpl := range list.Templates {
		if !tpl.IsSystem {
			t.Errorf("seeded %s is not a system template", tpl.Slug)
		}
	}

	rec = e.svc("POST", "/api/v1/templates", `{"slug":"custom","channel":"email","appId":"app","subject":"Hallo {{.name}}",
		"bodyTemplate":"<p>{{.name}}</p>","variables":["name"]}`)
	if id, _ := jsonOf(t, rec)["id"].(string); rec.Code != http.StatusCreated || !notify.IsUUID(id) {
		t.Fatalf("create: %d %s", rec.Code, rec.Body)
	}
	if rec := e.svc("POST", "/api/v1/templates", `{"slug":"custom","channel":"email","locale":"en-US","bodyTemplate":"<p>Hi</p>"}`); rec.Code != http.StatusCreated {
		t.Fatalf("create en-US: %d %s", rec.Code, rec.Body)
	}
	tpl := obj(jsonOf(t, e.svc("GET", "/api/v1/templates/custom", "")), "template")
	// variables as JSON (the old service served base64 of its bytes).
	if vars, _ := json.Marshal(tpl["variables"]); tpl["slug"] != "custom" || tpl["appId"] != "app" || tpl["channel"] != "email" ||
		tpl["locale"] != "de-DE" || tpl["isActive"] != true || tpl["isSystem"] != false || string(vars) != `["name"]` {
		t.Fatalf("template %v (variables %s)", tpl, vars)
	}
	// ?appId= lists the app's own templates and the shared ones only.
	if rec := e.svc("POST", "/api/v1/templates", `{"slug":"other","channel":"email","appId":"other-app","bodyTemplate":"<p>x</p>"}`); rec.Code != http.StatusCreated {
		t.Fatalf("create other: %d %s", rec.Code, rec.Body)
	}
	for query, want := range map[string][]string{"": {"custom", "other"}, "?appId=app": {"custom"}, "?appId=other-app": {"other"}} {
		var got struct {
			Templates []struct {
				Slug  string  `json:"slug"`
				AppID *string `json:"appId"`
			} `json:"templates"`
		}
		if err := json.Unmarshal(e.svc("GET", "/api/v1/templates"+query, "").Body.Bytes(), &got); err != nil {
			t.Fatal(err)
		}
		var own []string
		shared := 0
		for _, x := range got.Templates {
			if x.AppID == nil {
				shared++
			} else if !slices.Contains(own, x.Slug) {
				own = append(own, x.Slug)
			}
		}
		// Shared: the system templates and the app-less en-US "custom".
		if slices.Sort(own); !slices.Equal(own, want) || shared != len(notify.SystemTemplates())+1 {
			t.Fatalf("templates%s: own %v, %d shared; want %v and every shared one", query, own, shared, want)
		}
	}
	if rec := e.svc("DELETE", "/api/v1/templates/other", ""); rec.Code != 200 {
		t.Fatalf("delete other: %d %s", rec.Code, rec.Body)
	}

	for _, c := range []struct{ path, body, subject, html string }{
		{"/api/v1/templates/custom/preview", `{"data":{"name":"<b>Ada</b>"}}`, "Hallo <b>Ada</b>", "<p>&lt;b&gt;Ada&lt;/b&gt;</p>"},
		{"/api/v1/templates/custom/preview?locale=en-US", ``, "", "<p>Hi</p>"},
		{"/api/v1/templates/preview", `{"subject":"S {{.x}}","bodyTemplate":"<p>{{.x}}</p>","data":{"x":"<i>"}}`,
			"S <i>", "<p>&lt;i&gt;</p>"},
		{"/api/v1/templates/preview", `{"bodyTemplate":"<p>{{.x}}</p>","channel":"push","data":{"x":"<i>"}}`, "", "<p><i></p>"},
	} {
		rec := e.svc("POST", c.path, c.body)
		var out struct {
			notify.Rendered
			Preview *notify.Rendered `json:"preview"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || rec.Code != 200 || out.Subject != c.subject || out.Body != c.html {
			t.Errorf("preview %s %s: %d %+v, want %q %q", c.path, c.body, rec.Code, out, c.subject, c.html)
		}
		// A stored template's preview also answers notify-client's {preview:{…}}.
		if strings.HasPrefix(c.path, "/api/v1/templates/custom") && (out.Preview == nil || *out.Preview != out.Rendered) {
			t.Errorf("preview %s: no {preview} shape: %s", c.path, rec.Body)
		}
	}

	if rec := e.svc("PUT", "/api/v1/templates/custom", `{"subject":"Hi {{.name}}"}`); rec.Code != 200 || jsonOf(t, rec)["updated"] != true {
		t.Fatalf("update: %d %s", rec.Code, rec.Body)
	}
	send := emailTo(`"template":"custom","data":{"name":"Ada"}`)
	id := created(t, e.svc("POST", "/api/v1/notifications/send", send))
	if n, err := e.store.Get(context.Background(), id); err != nil || n.Subject == nil || *n.Subject != "Hi Ada" ||
		n.TemplateID == nil || *n.TemplateID != "custom" {
		t.Fatalf("sent with the updated template: %+v %v", n, err)
	}
	if rec := e.svc("PUT", "/api/v1/templates/custom", `{"isActive":false}`); rec.Code != 200 {
		t.Fatalf("deactivate: %d %s", rec.Code, rec.Body)
	}
	// Only the en-US translation is active now: the send falls back to it.
	if rec := e.svc("PUT", "/api/v1/templates/custom?locale=en-US", `{"isActive":false}`); rec.Code != 200 {
		t.Fatalf("deactivate en-US: %d %s", rec.Code, rec.Body)
	}
	rec = e.svc("POST", "/api/v1/notifications/send", send)
	if code, _ := errorOf(t, rec); rec.Code != 400 || code != notifyapi.CodeTemplateNotFound {
		t.Fatalf("send with an inactive template: %d %s", rec.Code, rec.Body)
	}

	if rec := e.svc("DELETE", "/api/v1/templates/custom", ""); rec.Code != 200 || jsonOf(t, rec)["deleted"] != true {
		t.Fatalf("delete: %d %s", rec.Code, rec.Body)
	}
	for _, path := range []string{"/api/v1/templates/custom", "/api/v1/templates/custom?locale=en-US"} {
		if rec := e.svc("GET", path, ""); rec.Code != 404 {
			t.Errorf("GET %s after delete: %d", path, rec.Code)
		}
	}
}

// Refused device and preference requests of a signed-in user: status,
// code, and nothing stored; another user's device cannot be deleted.
// Guards: users.go registerDevice's and putPreferences' checks, deleteDevice's
// 404, the store's `AND user_id = ?` of DeactivateDevice.
// Negative control: dropping `AND user_id = ?` (and its argument) from
// DeactivateDevice (internal/store/sqlite/notify_users.go) lets u1 delete
// u2's device: 200 instead of 404.
func TestUserRouteErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	rec := e.as("u2", "POST", "/api/v1/devices/register", `{"pushToken":"ExponentPushToken[u2]"}`)
	if rec.Code != http.StatusCreated {
		t.Fatalf("register: %d %s", rec.Code, rec.Body)
	}
	other, _ := obj(jsonOf(t, rec), "device")["id"].(string)
	big := `{"pushToken":"` + strings.Repeat("x", 64<<10) + `"}`
	u1 := func(method, path, body string) *httptest.ResponseRecorder {
		t.Helper()
		return e.as("u1", method, path, body)
	}
	checkErrors(t, []errorCase{
		{"register bad json", "POST", "/api/v1/devices/register", `{"pushToken":`, 400, notifyapi.CodeInvalidBody, "invalid request body"},
		{"register empty", "POST", "/api/v1/devices/register", ``, 400, notifyapi.CodeInvalidBody, "invalid request body"},
		{"register too large", "POST", "/api/v1/devices/register", big, 413, notifyapi.CodePayloadTooLarge, "request body too large"},
		{"register without token", "POST", "/api/v1/devices/register", `{"platform":"ios"}`, 400, notifyapi.CodeValidation,
			"pushToken is required"},
		{"register token too long", "POST", "/api/v1/devices/register", `{"pushToken":"` + strings.Repeat("x", 513) + `"}`,
			400, notifyapi.CodeValidation, "pushToken must be at most 512 characters"},
		{"register platform too long", "POST", "/api/v1/devices/register", `{"pushToken":"t","platform":"` + strings.Repeat("p", 21) + `"}`,
			400, notifyapi.CodeValidation, "platform must be at most 20 characters"},

		{"delete unknown device", "DELETE", "/api/v1/devices/" + uuidAbsent, "", 404, notifyapi.CodeNotFound, "device not found"},
		{"delete malformed id", "DELETE", "/api/v1/devices/not-a-uuid", "", 404, notifyapi.CodeNotFound, "device not found"},
		{"delete another user's device", "DELETE", "/api/v1/devices/" + other, "", 404, notifyapi.CodeNotFound, "device not found"},

		{"preferences bad json", "PUT", "/api/v1/preferences", `{"emailEnabled":`, 400, notifyapi.CodeInvalidBody, "invalid request body"},
		{"preferences empty", "PUT", "/api/v1/preferences", ``, 400, notifyapi.CodeInvalidBody, "invalid request body"},
		{"preferences wrong type", "PUT", "/api/v1/preferences", `{"emailEnabled":"yes"}`, 400, notifyapi.CodeInvalidBody, "invalid request body"},
		{"preferences too large", "PUT", "/api/v1/preferences", `{"timezone":"` + strings.Repeat("x", 64<<10) + `"}`,
			413, notifyapi.CodePayloadTooLarge, "request body too large"},
		{"preferences bad start", "PUT", "/api/v1/preferences", `{"quietHoursStart":"25:00"}`, 400, notifyapi.CodeValidation,
			"quietHoursStart must be HH:MM"},
		{"preferences bad end", "PUT", "/api/v1/preferences", `{"quietHoursEnd":"7:00"}`, 400, notifyapi.CodeValidation,
			"quietHoursEnd must be HH:MM"},
		{"preferences unknown zone", "PUT", "/api/v1/preferences", `{"timezone":"Mars/Olympus_Mons"}`, 400, notifyapi.CodeValidation,
			"timezone must be an IANA time zone name"},
		{"preferences empty zone", "PUT", "/api/v1/preferences", `{"timezone":""}`, 400, notifyapi.CodeValidation,
			"timezone must be an IANA time zone name"},
		{"preferences categories not an object", "PUT", "/api/v1/preferences", `{"categoryPreferences":[1]}`, 400, notifyapi.CodeValidation,
			"categoryPreferences must be an object"},
	}, u1)

	if got := e.count(`SELECT count(*) FROM notify_devices`); got != 1 {
		t.Errorf("%d devices, want u2's only", got)
	}
	if got := e.count(`SELECT count(*) FROM notify_devices WHERE id = ? AND is_active = 1`, other); got != 1 {
		t.Errorf("u2's device was deactivated by u1")
	}
	if got := e.count(`SELECT count(*) FROM notify_preferences`); got != 0 {
		t.Errorf("refused preferences stored %d rows", got)
	}
}

// Devices and preferences are the signed-in user's own: register, list,
// delete; preferences default, then stored, then partly updated.
// Guards: ListDevices' `WHERE user_id = ?` and PutPreferences' COALESCE
// with the stored value. Negative control: `email_enabled = COALESCE(?3,
// 0)` in PutPreferences' ON CONFLICT branch (internal/store/sqlite/
// notify_users.go) resets emailEnabled on the second, partial PUT.
func TestDevicesAndPreferences(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	rec := e.as("u1", "POST", "/api/v1/devices/register", `{"pushToken":"ExponentPushToken[a]","platform":"ios","deviceName":"Ada's"}`)
	id, _ := obj(jsonOf(t, rec), "device")["id"].(string)
	if rec.Code != http.StatusCreated || !notify.IsUUID(id) {
		t.Fatalf("register: %d %s", rec.Code, rec.Body)
	}
	devices := func(user string) []any {
		t.Helper()
		rec := e.as(user, "GET", "/api/v1/devices", "")
		if rec.Code != 200 {
			t.Fatalf("list: %d %s", rec.Code, rec.Body)
		}
		ds, _ := jsonOf(t, rec)["devices"].([]any)
		return ds
	}
	if ds := devices("u1"); len(ds) != 1 || ds[0].(map[string]any)["id"] != id || ds[0].(map[string]any)["platform"] != "ios" {
		t.Fatalf("u1's devices %v", ds)
	}
	if ds := devices("u2"); len(ds) != 0 {
		t.Fatalf("u2 sees %v", ds)
	}
	if rec := e.as("u1", "DELETE", "/api/v1/devices/"+id, ""); rec.Code != 200 || jsonOf(t, rec)["deleted"] != true {
		t.Fatalf("delete: %d %s", rec.Code, rec.Body)
	}
	if ds := devices("u1"); len(ds) != 0 {
		t.Fatalf("devices after delete %v", ds)
	}
	if rec := e.as("u1", "DELETE", "/api/v1/devices/"+id, ""); rec.Code != 404 {
		t.Fatalf("second delete: %d", rec.Code)
	}

	prefs := func() map[string]any {
		t.Helper()
		rec := e.as("u1", "GET", "/api/v1/preferences", "")
		if rec.Code != 200 {
			t.Fatalf("get preferences: %d %s", rec.Code, rec.Body)
		}
		return obj(jsonOf(t, rec), "preferences")
	}
	if p := prefs(); p["emailEnabled"] != false || p["pushEnabled"] != true || p["quietHoursEnabled"] != false || p["timezone"] != "Europe/Berlin" {
		t.Fatalf("defaults %v", p)
	}
	for _, body := range []string{
		`{"emailEnabled":true,"quietHoursEnabled":true,"quietHoursStart":"22:00","quietHoursEnd":"07:00","timezone":"America/New_York","categoryPreferences":{"news":false}}`,
		`{"pushEnabled":false}`, // the others keep their values
	} {
		if rec := e.as("u1", "PUT", "/api/v1/preferences", body); rec.Code != 200 || jsonOf(t, rec)["updated"] != true {
			t.Fatalf("put %s: %d %s", body, rec.Code, rec.Body)
		}
	}
	p := prefs()
	cats, _ := json.Marshal(p["categoryPreferences"])
	if p["emailEnabled"] != true || p["pushEnabled"] != false || p["quietHoursEnabled"] != true || p["quietHoursStart"] != "22:00" ||
		p["quietHoursEnd"] != "07:00" || p["timezone"] != "America/New_York" || string(cats) != `{"news":false}` || p["userId"] != "u1" {
		t.Fatalf("stored %v", p)
	}
}

// The answers of send (contract §7.1): 202 pending with its job, 200 for a
// repeated externalId, 200 cancelled with the preferences' reason (nothing
// stored), and a repeat answered as the duplicate before preferences.
// Guards: send.go `m.CheckPreferences = true`; Service.Accept answering a
// repeated externalId before asking the preferences. Negative controls:
// deleting that line answers 202 for the users who switched mail off;
// skipping the externalId lookup when m.CheckPreferences (service.go)
// answers the repeat 200 cancelled.
func TestSendAnswers(t *testing.T) {
	t.Parallel()
	// 23:30 in Berlin: inside 22:00–07:00, outside 08:00–09:00.
	now := time.Date(2026, 3, 2, 22, 30, 0, 0, time.UTC)
	e := newEnv(t, envOptions{now: func() time.Time { return now }})
	for user, p := range map[string]string{
		"mail-off": `{"emailEnabled":false}`,
		"push-off": `{"emailEnabled":true,"pushEnabled":false}`,
		"quiet":    `{"emailEnabled":true,"quietHoursEnabled":true,"quietHoursStart":"22:00","quietHoursEnd":"07:00"}`,
		"awake":    `{"emailEnabled":true,"quietHoursEnabled":true,"quietHoursStart":"08:00","quietHoursEnd":"09:00"}`,
	} {
		if rec := e.as(user, "PUT", "/api/v1/preferences", p); rec.Code != 200 {
			t.Fatalf("preferences of %s: %d %s", user, rec.Code, rec.Body)
		}
	}
	const push = `{"channel":"push","appId":"a","recipient":"ExponentPushToken[p]","body":"b"`
	var accepted []string
	for _, c := range []struct {
		name, body string
		reason     string // "": accepted (202)
	}{
		{"plain", email, ""},
		{"user without preferences", emailTo(`"userId":"nobody"`), ""},
		{"email off", emailTo(`"userId":"mail-off"`), notify.ReasonEmailDisabled},
		{"email off, push", push + `,"userId":"mail-off"}`, ""},
		{"push off", push + `,"userId":"push-off"}`, notify.ReasonPushDisabled},
		{"push off, email", emailTo(`"userId":"push-off"`), ""},
		{"quiet hours", emailTo(`"userId":"quiet"`), notify.ReasonQuietHours},
		{"outside quiet hours", emailTo(`"userId":"awake"`), ""},
	} {
		rec := e.svc("POST", "/api/v1/notifications/send", c.body)
		if c.reason == "" {
			id := created(t, rec)
			if got := strings.TrimSpace(rec.Body.String()); got != `{"notification":{"id":"`+id+`","status":"pending"}}` {
				t.Errorf("%s: %s", c.name, got)
			}
			if n, err := e.store.Get(context.Background(), id); err != nil || n.Status != notify.StatusPending {
				t.Errorf("%s: stored %+v %v", c.name, n, err)
			}
			if got := e.jobsOf(id, "available"); got != 1 {
				t.Errorf("%s: %d available jobs, want 1", c.name, got)
			}
			accepted = append(accepted, id)
			continue
		}
		want := `{"notification":{"reason":"` + c.reason + `","status":"cancelled"}}`
		if got := strings.TrimSpace(rec.Body.String()); rec.Code != 200 || got != want {
			t.Errorf("%s: %d %s, want 200 %s", c.name, rec.Code, got, want)
		}
	}
	if n, j := e.count(`SELECT count(*) FROM notify_notifications`), e.count(`SELECT count(*) FROM river_job`); n != len(accepted) || j != len(accepted) {
		t.Errorf("%d notifications and %d jobs stored, want %d of each (blocked sends store nothing)", n, j, len(accepted))
	}

	// A repeat is the duplicate, also after the user switched mail off.
	repeat := emailTo(`"userId":"turns-off","externalId":"welcome-1"`)
	id := created(t, e.svc("POST", "/api/v1/notifications/send", repeat))
	if rec := e.as("turns-off", "PUT", "/api/v1/preferences", `{"emailEnabled":false}`); rec.Code != 200 {
		t.Fatalf("preferences: %d", rec.Code)
	}
	want := `{"deduplicated":true,"notification":{"id":"` + id + `","status":"existing"}}`
	for range 2 {
		rec := e.svc("POST", "/api/v1/notifications/send", repeat)
		if got := strings.TrimSpace(rec.Body.String()); rec.Code != 200 || got != want {
			t.Fatalf("repeat: %d %s, want 200 %s", rec.Code, got, want)
		}
	}
	if got := e.jobsOf(id, ""); got != 1 {
		t.Errorf("%d jobs for the repeated send, want 1", got)
	}
}

// schedule answers 202 with the time (UTC) and a job due then; the user's
// preferences are not asked (they are at delivery); a repeat is 200.
// Guard: schedule does not set CheckPreferences. Negative control: setting
// `m.CheckPreferences = true` in schedule answers the mail-off user 200
// cancelled.
func TestScheduleAnswers(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	if rec := e.as("mail-off", "PUT", "/api/v1/preferences", `{"emailEnabled":false}`); rec.Code != 200 {
		t.Fatalf("preferences: %d", rec.Code)
	}
	at := time.Now().Add(2 * time.Hour).Truncate(time.Second)
	local := at.In(time.FixedZone("", 2*3600)).Format(time.RFC3339) // an offset, answered in UTC
	body := emailTo(`"userId":"mail-off","externalId":"later-1","scheduledFor":"` + local + `"`)
	rec := e.svc("POST", "/api/v1/notifications/schedule", body)
	id := created(t, rec)
	want := `{"notification":{"id":"` + id + `","scheduledFor":"` + at.UTC().Format(time.RFC3339) + `","status":"pending"}}`
	if got := strings.TrimSpace(rec.Body.String()); got != want {
		t.Fatalf("schedule: %s, want %s", got, want)
	}
	n, err := e.store.Get(context.Background(), id)
	if err != nil || n.Status != notify.StatusPending || n.ScheduledFor == nil || !n.ScheduledFor.Equal(at) {
		t.Fatalf("stored %+v %v", n, err)
	}
	if got := e.count(`SELECT count(*) FROM river_job WHERE json_extract(args, '$.notification_id') = ? AND state = 'scheduled'
		AND abs(julianday(scheduled_at) - julianday(?)) * 86400 < 1`, id, at.UTC().Format(time.RFC3339)); got != 1 {
		t.Fatalf("%d jobs scheduled at %s, want 1", got, at)
	}
	want = `{"deduplicated":true,"notification":{"id":"` + id + `","status":"existing"}}`
	if rec := e.svc("POST", "/api/v1/notifications/schedule", body); rec.Code != 200 || strings.TrimSpace(rec.Body.String()) != want {
		t.Fatalf("repeat: %d %s, want %s", rec.Code, rec.Body, want)
	}
	if got := e.jobsOf(id, ""); got != 1 {
		t.Errorf("%d jobs, want 1", got)
	}
}

// batch accepts each item on its own: refused items fail with their reason,
// repeats (also within the batch) are "existing", preferences are not asked.
// Guard: batch's per-item acceptError. Negative control: deleting the
// `case refused:` branch of batch reports refused items as "failed to
// create notification" (the branch for our errors).
func TestBatchAnswers(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	if rec := e.as("mail-off", "PUT", "/api/v1/preferences", `{"emailEnabled":false}`); rec.Code != 200 {
		t.Fatalf("preferences: %d", rec.Code)
	}
	earlier := created(t, e.svc("POST", "/api/v1/notifications/send", emailTo(`"externalId":"old"`)))
	items := []string{
		email,
		`{}`,
		emailTo(`"template":"nope"`),
		emailTo(`"template":"auth-verification"`),
		emailTo(`"externalId":"old"`),
		emailTo(`"userId":"mail-off"`),
		emailTo(`"externalId":"new"`),
		emailTo(`"externalId":"new"`),
	}
	rec := e.svc("POST", "/api/v1/notifications/batch", `{"notifications":[`+strings.Join(items, ",")+`]}`)
	var got struct {
		Results []struct {
			ID     string `json:"id"`
			Status string `json:"status"`
			Error  string `json:"error"`
		} `json:"results"`
		Succeeded int `json:"succeeded"`
		Failed    int `json:"failed"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || rec.Code != http.StatusAccepted || len(got.Results) != len(items) {
		t.Fatalf("batch: %d %s %v", rec.Code, rec.Body, err)
	}
	if got.Succeeded != 5 || got.Failed != 3 {
		t.Errorf("succeeded %d failed %d, want 5 and 3", got.Succeeded, got.Failed)
	}
	r := got.Results
	for _, i := range []int{0, 5, 6} {
		if r[i].Status != "pending" || !notify.IsUUID(r[i].ID) || r[i].Error != "" {
			t.Errorf("item %d: %+v, want pending", i, r[i])
		} else if n, err := e.store.Get(context.Background(), r[i].ID); err != nil || n.Status != notify.StatusPending || e.jobsOf(r[i].ID, "available") != 1 {
			t.Errorf("item %d stored %+v %v", i, n, err)
		}
	}
	for i, want := range map[int]string{1: "channel is required", 2: "template not found: nope", 3: "invalid body template: "} {
		if r[i].Status != "failed" || r[i].ID != "" || !strings.HasPrefix(r[i].Error, want) {
			t.Errorf("item %d: %+v, want failed %q", i, r[i], want)
		}
	}
	if r[4].Status != "existing" || r[4].ID != earlier {
		t.Errorf("item 4: %+v, want existing %s", r[4], earlier)
	}
	if r[7].Status != "existing" || r[7].ID != r[6].ID {
		t.Errorf("item 7: %+v, want existing %s", r[7], r[6].ID)
	}
	if n := e.count(`SELECT count(*) FROM notify_notifications`); n != 4 {
		t.Errorf("%d notifications, want 4", n)
	}
}

// cancel, list and get on stored rows: a pending notification is cancelled
// once; one past pending is a 404 (ErrNotPending); list filters by status
// and honours limit; get reads the row without its data.
// Guard: cancel's `errors.Is(err, notify.ErrNotPending)`. Negative control:
// deleting it answers the processing notification 500 INTERNAL.
func TestCancelListGet(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	var ids []string
	for i := range 4 {
		ids = append(ids, created(t, e.svc("POST", "/api/v1/notifications/send",
			emailTo(fmt.Sprintf(`"externalId":"n-%d","data":{"secret":"s"}`, i)))))
	}
	pendingA, cancelled, processing, pendingB := ids[0], ids[1], ids[2], ids[3]
	if _, claimed, err := e.store.Claim(ctx, processing); err != nil || !claimed {
		t.Fatalf("claim: %v %v", claimed, err)
	}

	// Both shapes: the contract's flag and notify-client's {notification}.
	rec := e.svc("DELETE", "/api/v1/notifications/"+cancelled, "")
	if body := jsonOf(t, rec); rec.Code != 200 || body["cancelled"] != true || obj(body, "notification")["id"] != cancelled ||
		obj(body, "notification")["status"] != "cancelled" {
		t.Fatalf("cancel: %d %s", rec.Code, rec.Body)
	}
	checkErrors(t, []errorCase{
		{"cancel twice", "DELETE", "/api/v1/notifications/" + cancelled, "", 404, notifyapi.CodeNotFound,
			"notification not found or already processed"},
		{"cancel processing", "DELETE", "/api/v1/notifications/" + processing, "", 404, notifyapi.CodeNotFound,
			"notification not found or already processed"},
		{"get unknown", "GET", "/api/v1/notifications/" + uuidAbsent, "", 404, notifyapi.CodeNotFound, "notification not found"},
	}, e.svc)
	if n, err := e.store.Get(ctx, processing); err != nil || n.Status != notify.StatusProcessing {
		t.Errorf("the processing notification: %+v %v", n, err)
	}

	list := func(query string) []string {
		t.Helper()
		rec := e.svc("GET", "/api/v1/notifications?"+query, "")
		var body struct {
			Notifications []struct {
				ID string `json:"id"`
			} `json:"notifications"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || rec.Code != 200 || body.Notifications == nil {
			t.Fatalf("list %s: %d %s %v", query, rec.Code, rec.Body, err)
		}
		var out []string
		for _, n := range body.Notifications {
			out = append(out, n.ID)
		}
		return out
	}
	same := func(got, want []string) bool {
		return slices.Equal(slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(want)))
	}
	for _, c := range []struct {
		query string
		want  []string
	}{
		{"status=pending", []string{pendingA, pendingB}},
		{"status=cancelled", []string{cancelled}},
		{"status=processing", []string{processing}},
		{"status=failed", nil}, // [] in the answer, not null
		{"status=delivered", nil},
	} {
		if got := list(c.query); !same(got, c.want) {
			t.Errorf("list %s: %v, want %v", c.query, got, c.want)
		}
	}
	if got := list("status=pending&limit=1"); len(got) != 1 || (got[0] != pendingA && got[0] != pendingB) {
		t.Errorf("list with limit 1: %v", got)
	}

	rec = e.svc("GET", "/api/v1/notifications/"+strings.ToUpper(cancelled), "")
	n := obj(jsonOf(t, rec), "notification")
	if rec.Code != 200 || n["id"] != cancelled || n["status"] != "cancelled" || n["appId"] != "mana-auth" || n["channel"] != "email" ||
		n["subject"] != "S" || n["body"] != "<p>B</p>" || n["recipient"] != "u@example.com" || n["externalId"] != "n-1" ||
		n["priority"] != "normal" || n["attempts"] != float64(0) {
		t.Fatalf("get: %d %s", rec.Code, rec.Body)
	}
	if _, ok := n["data"]; ok {
		t.Errorf("get returns data: %s", rec.Body)
	}
	for _, absent := range []string{"deliveredAt", "scheduledFor", "userId", "templateId", "errorMessage"} {
		if _, ok := n[absent]; ok {
			t.Errorf("get returns %s: %s", absent, rec.Body)
		}
	}
	if n := obj(jsonOf(t, e.svc("GET", "/api/v1/notifications/"+processing, "")), "notification"); n["status"] != "processing" || n["attempts"] != float64(1) {
		t.Errorf("processing: %v", n)
	}
}

// TestEraseUserRoute (audit F6, notify in its own database): mana-auth's
// erasure of a deleted account removes its devices, preferences and
// notifications (to the user id or the address) and answers the counts;
// a body without userId is a 400 (the outbox then cancels loudly).
// Negative control: the handler skipping EraseUser leaves the device
// listed and fails here.
func TestEraseUserRoute(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	if rec := e.as("u1", "POST", "/api/v1/devices/register", `{"pushToken":"ExponentPushToken[erase]"}`); rec.Code != http.StatusCreated {
		t.Fatalf("register device: %d %s", rec.Code, rec.Body)
	}
	if rec := e.as("u1", "PUT", "/api/v1/preferences", `{"emailEnabled":true}`); rec.Code != http.StatusOK {
		t.Fatalf("preferences: %d %s", rec.Code, rec.Body)
	}
	created(t, e.svc("POST", "/api/v1/notifications/send", `{"channel":"email","appId":"mana-auth","recipient":"U1@Example.com","subject":"S","body":"<p>B</p>"}`))
	created(t, e.svc("POST", "/api/v1/notifications/send", email))

	for _, bad := range []string{`{}`, `{"userId":""}`, `{"userId":"` + strings.Repeat("x", 300) + `"}`, `not json`} {
		if rec := e.svc("POST", "/api/v1/users/erase", bad); rec.Code != http.StatusBadRequest {
			t.Errorf("erase %s: %d %s, want 400", bad, rec.Code, rec.Body)
		}
	}
	rec := e.svc("POST", "/api/v1/users/erase", `{"userId":"u1","email":"u1@example.com"}`)
	erased := obj(jsonOf(t, rec), "erased")
	if rec.Code != http.StatusOK || erased["devices"] != 1.0 || erased["preferences"] != 1.0 || erased["notifications"] != 1.0 {
		t.Fatalf("erase: %d %s", rec.Code, rec.Body)
	}
	rec = e.as("u1", "GET", "/api/v1/devices", "")
	if ds, _ := jsonOf(t, rec)["devices"].([]any); rec.Code != http.StatusOK || len(ds) != 0 {
		t.Fatalf("devices after erasure: %d %s", rec.Code, rec.Body)
	}
	if got := e.count(`SELECT count(*) FROM notify_notifications`); got != 1 {
		t.Fatalf("%d notifications after erasure, want the one to someone else", got)
	}
}
