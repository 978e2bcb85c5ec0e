package authapi_test

import (
	"net/http"
	"testing"
	"time"
)

const (
	plainCookie  = "mana.session_token"
	secureCookie = "__Secure-mana.session_token"
)

func cookie(name, value string) *http.Cookie { return &http.Cookie{Name: name, Value: value} }

// TestRefresh: the refresh token is read from the body; it rotates, and
// presenting a rotated one answers 401 TOKEN_EXPIRED and revokes the
// session family. Without one, a signed session cookie from a trusted
// origin gets a fresh pair; an unsigned or forged cookie gets nothing.
//
// Negative controls (tried): make cookies.verify accept any value and the
// "unsigned cookie" row answers 200; drop the origin check in refresh and
// the "cookie without Origin" row answers 200.
func TestRefresh(t *testing.T) {
	s := newTestServer(t, testOptions{})
	refresh := func(body any, h http.Header, cookies ...*http.Cookie) resp {
		return s.do(t, req{method: "POST", path: "/api/v1/auth/refresh", body: body, header: h, cookies: cookies})
	}
	rotated := func(what string, r resp) string {
		t.Helper()
		wantJSON(t, what, r, http.StatusOK)
		if r.str("accessToken") == "" || r.str("refreshToken") == "" {
			t.Fatalf("%s: no tokens: %s", what, r)
		}
		return r.str("refreshToken")
	}

	u := s.loggedIn(t, "refresh")
	next := rotated("body", refresh(map[string]string{"refreshToken": u.refresh}, nil))
	b := s.signIn(t, u.userID, u.email)
	fromCookie := rotated("cookie", refresh(nil, fromApp(), b.cookie))
	rotated("token from the cookie's pair", refresh(map[string]string{"refreshToken": fromCookie}, nil))
	// The body wins over a cookie.
	next = rotated("body over cookie", refresh(map[string]string{"refreshToken": next}, nil, cookie(plainCookie, "garbage")))

	for name, r := range map[string]resp{
		"no token":        refresh(nil, nil),
		"empty object":    refresh(map[string]string{}, nil),
		"unknown token":   refresh(map[string]string{"refreshToken": "unknown"}, nil),
		"unsigned cookie": refresh(nil, fromApp(), cookie(plainCookie, b.token)),
		"forged cookie":   refresh(nil, fromApp(), cookie(plainCookie, signCookie("not-a-session"))),
		"access token":    refresh(map[string]string{"refreshToken": u.access}, nil),
	} {
		wantError(t, name, r, http.StatusUnauthorized, "TOKEN_EXPIRED")
	}
	wantError(t, "cookie without Origin", refresh(nil, nil, b.cookie), http.StatusForbidden, "MISSING_OR_NULL_ORIGIN")
	wantError(t, "cookie from elsewhere", refresh(nil, http.Header{"Origin": {"https://evil.example"}}, b.cookie),
		http.StatusForbidden, "INVALID_ORIGIN")

	// Reuse of a rotated token: 401, and the family (the current token
	// included) is revoked.
	wantError(t, "rotated token", refresh(map[string]string{"refreshToken": u.refresh}, nil), http.StatusUnauthorized, "TOKEN_EXPIRED")
	wantError(t, "current token after reuse", refresh(map[string]string{"refreshToken": next}, nil), http.StatusUnauthorized, "TOKEN_EXPIRED")
	if n := s.count(t, `SELECT count(*) FROM auth_security_events WHERE user_id = ? AND event_type = 'TOKEN_REUSE_DETECTED'`, u.userID); n != 1 {
		t.Fatalf("TOKEN_REUSE_DETECTED events = %d, want 1", n)
	}
}

// TestSessionRoute: /session and /profile answer the live session for a
// bearer token or the signed cookie (also behind a stale Bearer), and 200
// null for none, a bad one or a logged-out one (the old service's answer).
func TestSessionRoute(t *testing.T) {
	s := newTestServer(t, testOptions{})
	u := s.loggedIn(t, "session")
	b := s.signIn(t, u.userID, u.email)
	for _, path := range []string{"/api/v1/auth/session", "/api/v1/auth/profile", "/api/auth/get-session"} {
		live := map[string]req{
			"cookie":                {cookies: []*http.Cookie{b.cookie}},
			"cookie behind a stale": {bearer: "stale", cookies: []*http.Cookie{b.cookie}},
		}
		if path != "/api/auth/get-session" {
			live["bearer"] = req{bearer: u.access}
		}
		for name, q := range live {
			q.method, q.path = "GET", path
			r := s.do(t, q)
			wantJSON(t, path+" "+name, r, http.StatusOK)
			sess, _ := r.obj()["session"].(map[string]any)
			user, _ := r.obj()["user"].(map[string]any)
			if sess["userId"] != u.userID || user["id"] != u.userID || user["email"] != u.email {
				t.Fatalf("%s %s: %s", path, name, r)
			}
		}
		none := map[string]req{
			"nothing":         {},
			"garbage bearer":  {bearer: "garbage"},
			"garbage cookie":  {cookies: []*http.Cookie{cookie(plainCookie, "garbage")}},
			"unsigned cookie": {cookies: []*http.Cookie{cookie(plainCookie, b.token)}},
			// The refresh token is no session token.
			"refresh token as cookie": {cookies: []*http.Cookie{cookie(plainCookie, signCookie(u.refresh))}},
		}
		for name, q := range none {
			q.method, q.path = "GET", path
			r := s.do(t, q)
			wantJSON(t, path+" "+name, r, http.StatusOK)
			if r.JSON != nil {
				t.Fatalf("%s %s: want null: %s", path, name, r)
			}
		}
	}
}

// TestCookieName: on an https BASE_URL the session cookie is
// __Secure-mana.session_token, on http mana.session_token; the other name
// is not read.
//
// Negative control (tried): give newCookies the plain prefix on https and
// the https row fails at sign-in (no __Secure- cookie set).
func TestCookieName(t *testing.T) {
	for _, c := range []struct {
		baseURL, name, other string
	}{
		{"http://localhost", plainCookie, secureCookie},
		{"https://auth.example", secureCookie, plainCookie},
	} {
		t.Run(c.baseURL, func(t *testing.T) {
			s := newTestServer(t, testOptions{BaseURL: c.baseURL})
			id, email := s.verifiedUser(t, "cookies")
			b := s.signIn(t, id, email)
			if b.cookie.Name != c.name {
				t.Fatalf("sign-in set %s, want %s", b.cookie.Name, c.name)
			}
			r := s.do(t, req{method: "GET", path: "/api/v1/auth/session", cookies: []*http.Cookie{b.cookie}})
			if sess, _ := r.obj()["session"].(map[string]any); sess["userId"] != id {
				t.Fatalf("%s: %s", c.name, r)
			}
			r = s.do(t, req{method: "GET", path: "/api/v1/auth/session", cookies: []*http.Cookie{cookie(c.other, b.cookie.Value)}})
			if r.JSON != nil {
				t.Fatalf("the value under %s was read: %s", c.other, r)
			}
		})
	}
}

// TestLogout: a real credential (bearer — also past its expiry —, body or
// the cookie from a trusted origin) revokes its session at once: /validate,
// /session, /refresh and /api/v1/me/* refuse it, and a second logout with it
// succeeds (idempotent). Nothing or garbage is 401 INVALID_TOKEN (audit F5:
// never a success that did nothing).
//
// Negative control: Logout verifying with Verify instead of
// VerifyIgnoringExpiry fails "expired bearer" (401, session still live).
func TestLogout(t *testing.T) {
	s := newTestServer(t, testOptions{})
	logout := func(q req) {
		t.Helper()
		q.method, q.path = "POST", "/api/v1/auth/logout"
		r := s.do(t, q)
		wantJSON(t, "logout", r, http.StatusOK)
		if r.obj()["success"] != true {
			t.Fatalf("logout: %s", r)
		}
	}
	for name, q := range map[string]req{"nothing": {}, "garbage bearer": {bearer: "garbage"},
		"garbage refresh token": {body: map[string]string{"refreshToken": "garbage"}}} {
		q.method, q.path = "POST", "/api/v1/auth/logout"
		wantError(t, name, s.do(t, q), http.StatusUnauthorized, "INVALID_TOKEN")
	}

	// An access token past its expiry still logs its session out.
	old := s.loggedIn(t, "logout-expired")
	s.clock.skip(2 * time.Hour)
	logout(req{bearer: old.access})
	s.clock.skip(-2 * time.Hour)
	wantError(t, "refresh after an expired-bearer logout", s.do(t, req{method: "POST", path: "/api/v1/auth/refresh",
		body: map[string]string{"refreshToken": old.refresh}}), http.StatusUnauthorized, "TOKEN_EXPIRED")
	logout(req{bearer: old.access}) // idempotent

	for name, by := range map[string]func(session, browser) req{
		"bearer": func(u session, _ browser) req { return req{bearer: u.access} },
		"body":   func(u session, _ browser) req { return req{body: map[string]string{"refreshToken": u.refresh}} },
		"cookie": func(_ session, b browser) req { return req{header: fromApp(), cookies: []*http.Cookie{b.cookie}} },
	} {
		t.Run(name, func(t *testing.T) {
			u := s.loggedIn(t, "logout")
			b := s.signIn(t, u.userID, u.email)
			other := s.login(t, u.userID, u.email) // a second session must survive
			logout(by(u, b))
			ended := []string{"session"}
			if name == "cookie" {
				if r := s.do(t, req{method: "GET", path: "/api/v1/auth/session", cookies: []*http.Cookie{b.cookie}}); r.JSON != nil {
					t.Fatalf("session after logout: %s", r)
				}
				ended = append(ended, "cookie")
			} else {
				if r := s.do(t, req{method: "POST", path: "/api/v1/auth/validate", body: map[string]string{"token": u.access}}); r.obj()["valid"] != false {
					t.Fatalf("validate after logout: %s", r)
				}
				wantError(t, "refresh after logout", s.do(t, req{method: "POST", path: "/api/v1/auth/refresh",
					body: map[string]string{"refreshToken": u.refresh}}), http.StatusUnauthorized, "TOKEN_EXPIRED")
				wantUnauthorized(t, "me/data after logout", s.do(t, req{method: "GET", path: "/api/v1/me/data", bearer: u.access}))
			}
			wantJSON(t, "other session", s.do(t, req{method: "GET", path: "/api/v1/me/data", bearer: other.access}), http.StatusOK)
			if n := s.count(t, `SELECT count(*) FROM auth_security_events WHERE user_id = ? AND event_type = 'LOGOUT'`, u.userID); n != 1 {
				t.Fatalf("LOGOUT events = %d, want 1 (%v)", n, ended)
			}
		})
	}
	// A cookie logout without a trusted origin is refused and ends nothing.
	u := s.loggedIn(t, "logout-csrf")
	b := s.signIn(t, u.userID, u.email)
	wantError(t, "cookie logout without Origin", s.do(t, req{method: "POST", path: "/api/v1/auth/logout", cookies: []*http.Cookie{b.cookie}}),
		http.StatusForbidden, "MISSING_OR_NULL_ORIGIN")
	if r := s.do(t, req{method: "GET", path: "/api/v1/auth/session", cookies: []*http.Cookie{b.cookie}}); r.JSON == nil {
		t.Fatalf("a refused logout ended the session: %s", r)
	}
}
