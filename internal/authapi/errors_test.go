package authapi_test

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
)

// tooLarge is a JSON body above the API's 64 KiB bound.
var tooLarge = `{"email":"` + strings.Repeat("a", 70<<10) + `"}`

// TestBadBodies sends every body-reading route a body that is not JSON, no
// body, a body above the bound and a JSON string holding NUL, and checks the
// status and envelope code of each (contract §2.2: invalid JSON is 400
// VALIDATION; forgot-password answers success to anything; the vault
// answers its own BAD_REQUEST).
func TestBadBodies(t *testing.T) {
	s := newTestServer(t, testOptions{})
	user := s.loggedIn(t, "bad-bodies")

	type answer struct {
		status int
		code   string // "" = a success body, checked by ok
	}
	routes := []struct {
		method, path string
		bearer       bool
		notJSON      answer
		empty        answer
		nul          answer
	}{
		{"POST", "/api/v1/auth/register", false, answer{400, "VALIDATION"}, answer{400, "VALIDATION"}, answer{400, "VALIDATION"}},
		{"POST", "/api/v1/auth/resend-verification", false, answer{400, "VALIDATION"}, answer{400, "VALIDATION"}, answer{400, "VALIDATION"}},
		{"POST", "/api/v1/auth/login", false, answer{400, "VALIDATION"}, answer{400, "VALIDATION"}, answer{400, "VALIDATION"}},
		{"POST", "/api/v1/auth/validate", false, answer{400, "VALIDATION"}, answer{400, "VALIDATION"}, answer{400, "VALIDATION"}},
		// An empty body is allowed (the token may come from the cookie): with
		// no token at all the session is expired.
		{"POST", "/api/v1/auth/refresh", false, answer{400, "VALIDATION"}, answer{401, "TOKEN_EXPIRED"}, answer{400, "VALIDATION"}},
		// Logout with nothing to identify is 401, never a success that did nothing.
		{"POST", "/api/v1/auth/logout", false, answer{400, "VALIDATION"}, answer{401, "INVALID_TOKEN"}, answer{400, "VALIDATION"}},
		// No enumeration: any readable body answers success.
		{"POST", "/api/v1/auth/forgot-password", false, answer{200, ""}, answer{200, ""}, answer{200, ""}},
		{"POST", "/api/v1/auth/reset-password", false, answer{400, "VALIDATION"}, answer{400, "VALIDATION"}, answer{400, "VALIDATION"}},
		{"POST", "/api/v1/auth/change-password", true, answer{400, "VALIDATION"}, answer{400, "VALIDATION"}, answer{400, "VALIDATION"}},
		{"POST", "/api/v1/auth/profile", true, answer{400, "VALIDATION"}, answer{400, "VALIDATION"}, answer{400, "VALIDATION"}},
		{"PATCH", "/api/v1/me/profile", true, answer{400, "VALIDATION"}, answer{400, "VALIDATION"}, answer{400, "VALIDATION"}},
		{"POST", "/api/v1/me/encryption-vault/recovery-wrap", true, answer{400, "BAD_REQUEST"}, answer{400, "BAD_REQUEST"}, answer{400, "BAD_REQUEST"}},
		{"POST", "/api/v1/me/encryption-vault/zero-knowledge", true, answer{400, "BAD_REQUEST"}, answer{400, "BAD_REQUEST"}, answer{400, "BAD_REQUEST"}},
	}
	for _, rt := range routes {
		t.Run(rt.method+" "+rt.path, func(t *testing.T) {
			bearer := ""
			if rt.bearer {
				bearer = user.access
			}
			for _, c := range []struct {
				name string
				body any
				want answer
			}{
				{"not JSON", `{"email":`, rt.notJSON},
				{"empty", "", rt.empty},
				{"NUL", `{"email":"a\u0000@example.com","password":"x\u0000","token":"\u0000","recoveryWrappedMk":"\u0000","recoveryIv":"x","enable":true,"name":"\u0000"}`, rt.nul},
				{"too large", tooLarge, answer{413, "PAYLOAD_TOO_LARGE"}},
			} {
				r := s.do(t, req{method: rt.method, path: rt.path, body: c.body, bearer: bearer})
				if c.want.code == "" {
					wantJSON(t, c.name, r, c.want.status)
					if r.obj()["success"] != true {
						t.Fatalf("%s: want success:true: %s", c.name, r)
					}
					continue
				}
				wantError(t, c.name, r, c.want.status, c.want.code)
			}
		})
	}
	// None of it changed the account.
	if n := s.count(t, `SELECT count(*) FROM auth_sessions WHERE user_id = ? AND revoked_at IS NULL`, user.userID); n != 1+verifySessions {
		t.Fatalf("live sessions after the bad bodies = %d, want 1 and the verification's", n)
	}
}

// TestValidationErrors checks the 4xx answer of each route to well-formed
// input that the rules refuse.
func TestValidationErrors(t *testing.T) {
	s := newTestServer(t, testOptions{})
	user := s.loggedIn(t, "validation")
	long := func(n int) string { return strings.Repeat("x", n) }
	b64 := func(n int) string { return base64.StdEncoding.EncodeToString(make([]byte, n)) }
	vault := "/api/v1/me/encryption-vault"

	cases := []struct {
		name         string
		method, path string
		bearer       bool
		body         any
		status       int
		code         string
		legacy       string // the "error" field when it is not the code
	}{
		{"register: malformed email", "POST", "/api/v1/auth/register", false, map[string]any{"email": "no-at-sign", "password": strongPassword}, 400, "VALIDATION", ""},
		{"register: display-name email", "POST", "/api/v1/auth/register", false, map[string]any{"email": "A <a@example.com>", "password": strongPassword}, 400, "VALIDATION", ""},
		{"register: no email", "POST", "/api/v1/auth/register", false, map[string]any{"password": strongPassword}, 400, "VALIDATION", ""},
		{"register: email too long", "POST", "/api/v1/auth/register", false, map[string]any{"email": long(250) + "@example.com", "password": strongPassword}, 400, "VALIDATION", ""},
		{"register: no password", "POST", "/api/v1/auth/register", false, map[string]any{"email": newEmail("v")}, 400, "VALIDATION", ""},
		{"register: short password", "POST", "/api/v1/auth/register", false, map[string]any{"email": newEmail("v"), "password": "Ab1!x"}, 400, "WEAK_PASSWORD", ""},
		{"register: long password", "POST", "/api/v1/auth/register", false, map[string]any{"email": newEmail("v"), "password": long(129)}, 400, "WEAK_PASSWORD", ""},
		{"register: common password", "POST", "/api/v1/auth/register", false, map[string]any{"email": newEmail("v"), "password": "password123"}, 400, "WEAK_PASSWORD", ""},
		{"register: password is the email", "POST", "/api/v1/auth/register", false, map[string]any{"email": "someone-long@example.com", "password": "someone-long@example.com"}, 400, "WEAK_PASSWORD", ""},
		{"register: name too long", "POST", "/api/v1/auth/register", false, map[string]any{"email": newEmail("v"), "password": strongPassword, "name": long(256)}, 400, "VALIDATION", ""},
		{"register: wrong JSON type", "POST", "/api/v1/auth/register", false, map[string]any{"email": 42, "password": strongPassword}, 400, "VALIDATION", ""},
		{"resend: malformed email", "POST", "/api/v1/auth/resend-verification", false, map[string]any{"email": "nope"}, 400, "VALIDATION", ""},
		{"resend: no email", "POST", "/api/v1/auth/resend-verification", false, map[string]any{}, 400, "VALIDATION", ""},
		{"login: no password", "POST", "/api/v1/auth/login", false, map[string]any{"email": user.email}, 400, "VALIDATION", ""},
		{"login: no email", "POST", "/api/v1/auth/login", false, map[string]any{"password": strongPassword}, 400, "VALIDATION", ""},
		{"login: email too long", "POST", "/api/v1/auth/login", false, map[string]any{"email": long(250) + "@example.com", "password": "x"}, 400, "VALIDATION", ""},
		{"login: password too long", "POST", "/api/v1/auth/login", false, map[string]any{"email": user.email, "password": long(129)}, 400, "VALIDATION", ""},
		{"reset: unknown token", "POST", "/api/v1/auth/reset-password", false, map[string]any{"token": "no-such-token", "newPassword": strongPassword}, 400, "TOKEN_INVALID", ""},
		{"reset: no token", "POST", "/api/v1/auth/reset-password", false, map[string]any{"newPassword": strongPassword}, 400, "TOKEN_INVALID", ""},
		{"reset: token too long", "POST", "/api/v1/auth/reset-password", false, map[string]any{"token": long(257), "newPassword": strongPassword}, 400, "TOKEN_INVALID", ""},
		{"change-password: no current", "POST", "/api/v1/auth/change-password", true, map[string]any{"newPassword": "Another-Passw0rd-2"}, 400, "VALIDATION", ""},
		{"change-password: weak new", "POST", "/api/v1/auth/change-password", true, map[string]any{"currentPassword": strongPassword, "newPassword": "short"}, 400, "WEAK_PASSWORD", ""},
		{"change-password: wrong current", "POST", "/api/v1/auth/change-password", true, map[string]any{"currentPassword": "Wrong-Passw0rd-9", "newPassword": "Another-Passw0rd-2"}, 401, "INVALID_CREDENTIALS", ""},
		{"change-password: overlong current", "POST", "/api/v1/auth/change-password", true, map[string]any{"currentPassword": long(129), "newPassword": "Another-Passw0rd-2"}, 401, "INVALID_CREDENTIALS", ""},
		{"auth/profile: email", "POST", "/api/v1/auth/profile", true, map[string]any{"email": "new@example.com"}, 400, "EMAIL_CAN_NOT_BE_UPDATED", ""},
		{"auth/profile: no fields", "POST", "/api/v1/auth/profile", true, map[string]any{}, 400, "VALIDATION", ""},
		{"auth/profile: blank name", "POST", "/api/v1/auth/profile", true, map[string]any{"name": "   "}, 400, "VALIDATION", ""},
		{"auth/profile: image too long", "POST", "/api/v1/auth/profile", true, map[string]any{"image": long(2049)}, 400, "VALIDATION", ""},
		{"me/profile: no fields", "PATCH", "/api/v1/me/profile", true, map[string]any{}, 400, "VALIDATION", "no fields to update"},
		{"me/profile: name too long", "PATCH", "/api/v1/me/profile", true, map[string]any{"name": long(81)}, 400, "VALIDATION", "name must be 1–80 characters"},
		{"me/sessions: unknown id", "DELETE", "/api/v1/me/sessions/no-such-session", true, nil, 404, "NOT_FOUND", ""},
		{"me/sessions: NUL id", "DELETE", "/api/v1/me/sessions/a%00b", true, nil, 404, "NOT_FOUND", ""},
		{"vault: key before init", "GET", vault + "/key", true, nil, 404, "VAULT_NOT_INITIALISED", "vault not initialised"},
		{"vault: recovery-wrap before init", "POST", vault + "/recovery-wrap", true, map[string]any{"recoveryWrappedMk": "d3JhcA==", "recoveryIv": "aXY="}, 404, "VAULT_NOT_INITIALISED", "vault not initialised"},
		{"vault: clear recovery before init", "DELETE", vault + "/recovery-wrap", true, nil, 404, "VAULT_NOT_INITIALISED", "vault not initialised"},
		{"vault: zero-knowledge before init", "POST", vault + "/zero-knowledge", true, map[string]any{"enable": true}, 404, "VAULT_NOT_INITIALISED", "vault not initialised"},
		{"vault: recovery-wrap empty", "POST", vault + "/recovery-wrap", true, map[string]any{"recoveryWrappedMk": "", "recoveryIv": "aXY="}, 400, "BAD_REQUEST", ""},
		{"vault: recovery-wrap not a string", "POST", vault + "/recovery-wrap", true, map[string]any{"recoveryWrappedMk": 7, "recoveryIv": "aXY="}, 400, "BAD_REQUEST", ""},
		{"vault: recovery-wrap too long", "POST", vault + "/recovery-wrap", true, map[string]any{"recoveryWrappedMk": long(4097), "recoveryIv": "aXY="}, 400, "BAD_REQUEST", ""},
		{"vault: zero-knowledge without enable", "POST", vault + "/zero-knowledge", true, map[string]any{}, 400, "BAD_REQUEST", ""},
		{"vault: zero-knowledge enable not boolean", "POST", vault + "/zero-knowledge", true, map[string]any{"enable": "yes"}, 400, "BAD_REQUEST", ""},
		{"vault: disable without master key", "POST", vault + "/zero-knowledge", true, map[string]any{"enable": false}, 400, "BAD_REQUEST", ""},
		{"vault: disable with non-base64 key", "POST", vault + "/zero-knowledge", true, map[string]any{"enable": false, "masterKey": "!!!"}, 400, "BAD_REQUEST", ""},
		{"vault: disable with a 16-byte key", "POST", vault + "/zero-knowledge", true, map[string]any{"enable": false, "masterKey": b64(16)}, 400, "BAD_REQUEST", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			bearer := ""
			if c.bearer {
				bearer = user.access
			}
			r := s.do(t, req{method: c.method, path: c.path, body: c.body, bearer: bearer})
			wantError(t, c.name, r, c.status, c.code)
			if c.legacy != "" && r.str("error") != c.legacy {
				t.Fatalf("error %q, want %q: %s", r.str("error"), c.legacy, r)
			}
		})
	}
	// No refused registration created a user or sent mail; the one session
	// is still live.
	if n := s.count(t, `SELECT count(*) FROM auth_users`); n != 1 {
		t.Fatalf("users after refused registrations = %d, want 1", n)
	}
	if n := s.mail.count(t); n != 1 {
		t.Fatalf("mails after refused requests = %d, want only the first verification", n)
	}
	if r := s.do(t, req{method: "GET", path: "/api/v1/me/data", bearer: user.access}); r.Status != http.StatusOK {
		t.Fatalf("the session after the refused requests: %s", r)
	}
}
