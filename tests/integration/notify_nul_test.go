//go:build integration

package integration

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"
)

// TestNotifyNULIsRefused: PostgreSQL can store a NUL neither in text nor in
// jsonb (a JSON "\u0000" escape is refused by the jsonb parser), while SQLite
// stores both. Every request field that reaches a column or a query must
// therefore be refused with a 400 before the database sees it, never answered
// 500. A JSON body carrying a "\u0000" escape is refused whole by
// httpx.DecodeJSON (400 INVALID_BODY, batch included); NUL arriving another
// way (path, query, the in-process notify.Service.Accept of `mana serve`, a template
// that prints one) meets the field checks (400 VALIDATION, 422 at render).
// Negative control: without the check in httpx.DecodeJSON the body cases
// reach the field checks of request.go/templates.go/users.go (unit-tested in
// request_test.go), and without those too each case answers 500 INTERNAL.
func TestNotifyNULIsRefused(t *testing.T) {
	base := map[string]any{"channel": "email", "appId": "it", "recipient": uniqueEmail("nul"), "body": "<p>hi</p>"}
	with := func(k string, v any) map[string]any {
		m := map[string]any{}
		for bk, bv := range base {
			m[bk] = bv
		}
		m[k] = v
		return m
	}
	sends := map[string]map[string]any{
		"data value":   with("data", map[string]any{"name": "a\x00b"}),
		"data key":     with("data", map[string]any{"a\x00b": "x"}),
		"nested data":  with("data", map[string]any{"list": []any{map[string]any{"x": "\x00"}}}),
		"locale":       {"channel": "email", "appId": "it", "recipient": uniqueEmail("nul"), "template": "auth-welcome", "locale": "de\x00"},
		"push options": {"channel": "push", "appId": "it", "recipient": "ExponentPushToken[x]", "body": "b", "pushOptions": map[string]any{"sound": "a\x00"}},
	}
	for name, body := range sends {
		t.Run("send "+name, func(t *testing.T) {
			r := postJSON(t, notifyURL+"/api/v1/notifications/send", body, svcKey()...)
			expectError(t, r, http.StatusBadRequest, "INVALID_BODY", "")
		})
	}
	t.Run("batch item", func(t *testing.T) {
		r := postJSON(t, notifyURL+"/api/v1/notifications/batch",
			map[string]any{"notifications": []any{with("data", map[string]any{"k": "\x00"})}}, svcKey()...)
		expectError(t, r, http.StatusBadRequest, "INVALID_BODY", "")
	})

	tpl := notifyURL + "/api/v1/templates"
	t.Run("template variables", func(t *testing.T) {
		r := postJSON(t, tpl, map[string]any{"slug": "it-nul-vars", "channel": "push", "bodyTemplate": "x",
			"variables": []any{"a\x00"}}, svcKey()...)
		expectError(t, r, http.StatusBadRequest, "INVALID_BODY", "")
	})
	for name, c := range map[string]struct{ path, query string }{
		"slug in path":    {"/" + url.PathEscape("a\x00b"), ""},
		"locale in query": {"/auth-welcome", "?locale=" + url.QueryEscape("de\x00")},
	} {
		t.Run("template "+name, func(t *testing.T) {
			u := tpl + c.path + c.query
			expectError(t, getJSON(t, u, svcKey()...), http.StatusBadRequest, "VALIDATION", "")
			if c.query == "" { // DELETE takes no locale: it removes every locale of the slug
				expectError(t, do(t, http.MethodDelete, u, nil, svcKey()...), http.StatusBadRequest, "VALIDATION", "")
			}
			expectError(t, do(t, http.MethodPut, u, map[string]any{"isActive": false}, svcKey()...),
				http.StatusBadRequest, "VALIDATION", "")
			expectError(t, postJSON(t, tpl+c.path+"/preview"+c.query, map[string]any{}, svcKey()...),
				http.StatusBadRequest, "VALIDATION", "")
		})
	}

	// A template can print a NUL itself; the send answers 422, not 500.
	// Negative control: without the NUL checks of notify.Render the send
	// answers 500 INTERNAL.
	t.Run("template that prints a NUL", func(t *testing.T) {
		slug := fmt.Sprintf("it-nul-print-%d", time.Now().UnixNano())
		expectStatus(t, postJSON(t, tpl, map[string]any{"slug": slug, "channel": "push",
			"bodyTemplate": `x{{printf "%c" 0}}`}, svcKey()...), http.StatusCreated)
		r := postJSON(t, notifyURL+"/api/v1/notifications/send", map[string]any{"channel": "push", "appId": "it",
			"recipient": "ExponentPushToken[x]", "template": slug}, svcKey()...)
		expectError(t, r, http.StatusUnprocessableEntity, "TEMPLATE_RENDER_FAILED", "")
	})

	t.Run("category preferences", func(t *testing.T) {
		s := loginOK(t, authURL, verifiedUser(t, "nulprefs"))
		r := do(t, http.MethodPut, notifyURL+"/api/v1/preferences",
			map[string]any{"categoryPreferences": map[string]any{"news\x00": false}}, bearer(s.AccessToken)...)
		expectError(t, r, http.StatusBadRequest, "INVALID_BODY", "")
	})
}
