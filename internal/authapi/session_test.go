package authapi_test

import (
	"net/http"
	"testing"
)

const (
	plainCookie  = "mana.session_token"
	secureCookie = "__Secure-mana.session_token"
)

func cookie(name, value string) *http.Cookie { return &http.Cookie{Name: name, Value: value} }

// TestRefresh: the refresh token is read from the body, else from either
// session cookie; it rotates, and presenting a rotated one answers 401
// TOKEN_EXPIRED and revokes the session family.
//
// Negative controls (tried): drop "__Secure-mana.session_token" from the
// API's cookie names, or stop refreshFrom reading cookies, and the cookie
// rows answer 401 (and TestSessionRoute's answer null).
func TestRefresh(t *testing.T) {
	s := newTestServer(t, testOptions{})
	refresh := func(body any, cookies ...*http.Cookie) resp {
		return s.do(t, req{method: "POST", path: "/api/v1/auth/refresh", body: body, cookies: cookies})
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
	next := rotated("body", refresh(map[string]string{"refreshToken": u.refresh}))
	next = rotated("plain cookie", refresh(nil, cookie(plainCookie, next)))
	next = rotated("__Secure- cookie", refresh(nil, cookie(secureCookie, next)))
	// The body wins over a cookie.
	next = rotated("body over cookie", refresh(map[string]string{"refreshToken": next}, cookie(plainCookie, "garbage")))

	for name, r := range map[string]resp{
		"no token":       refresh(nil),
		"empty object":   refresh(map[string]string{}),
		"unknown token":  refresh(map[string]string{"refreshToken": "unknown"}),
		"unknown cookie": refresh(nil, cookie(plainCookie, "unknown")),
		"access token":   refresh(map[string]string{"refreshToken": u.access}),
	} {
		wantError(t, name, r, http.StatusUnauthorized, "TOKEN_EXPIRED")
	}

	// Reuse of a rotated token: 401, and the family (the current token
	// included) is revoked.
	wantError(t, "rotated token", refresh(map[string]string{"refreshToken": u.refresh}), http.StatusUnauthorized, "TOKEN_EXPIRED")
	wantError(t, "current token after reuse", refresh(map[string]string{"refreshToken": next}), http.StatusUnauthorized, "TOKEN_EXPIRED")
	if n := s.count(t, `SELECT count(*) FROM auth_security_events WHERE user_id = ? AND event_type = 'TOKEN_REUSE_DETECTED'`, u.userID); n != 1 {
		t.Fatalf("TOKEN_REUSE_DETECTED events = %d, want 1", n)
	}
}

// TestSessionRoute: /session and /profile answer the live session for a
// bearer token or either cookie, and 200 null for none, a bad one or a
// logged-out one (the old service's answer).
func TestSessionRoute(t *testing.T) {
	s := newTestServer(t, testOptions{})
	u := s.loggedIn(t, "session")
	for _, path := range []string{"/api/v1/auth/session", "/api/v1/auth/profile"} {
		live := map[string]req{
			"bearer":           {bearer: u.access},
			"plain cookie":     {cookies: []*http.Cookie{cookie(plainCookie, u.refresh)}},
			"__Secure- cookie": {cookies: []*http.Cookie{cookie(secureCookie, u.refresh)}},
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
			"nothing":        {},
			"garbage bearer": {bearer: "garbage"},
			"garbage cookie": {cookies: []*http.Cookie{cookie(plainCookie, "garbage")}},
			// The access token is no refresh token.
			"access token as cookie": {cookies: []*http.Cookie{cookie(plainCookie, u.access)}},
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

// TestCookiePreference: on an https BASE_URL the __Secure- cookie is read
// first, on http the plain one; either way a stale cookie of the other name
// does not hide the preferred, valid one.
//
// Negative control (tried): give the https base the http order and the
// https row answers null.
func TestCookiePreference(t *testing.T) {
	for _, c := range []struct {
		baseURL, preferred, other string
	}{
		{"http://localhost", plainCookie, secureCookie},
		{"https://auth.example", secureCookie, plainCookie},
	} {
		t.Run(c.baseURL, func(t *testing.T) {
			s := newTestServer(t, testOptions{BaseURL: c.baseURL})
			u := s.loggedIn(t, "cookies")
			r := s.do(t, req{method: "GET", path: "/api/v1/auth/session",
				cookies: []*http.Cookie{cookie(c.other, "stale"), cookie(c.preferred, u.refresh)}})
			wantJSON(t, "session", r, http.StatusOK)
			if sess, _ := r.obj()["session"].(map[string]any); sess["userId"] != u.userID {
				t.Fatalf("%s preferred with a stale %s: %s", c.preferred, c.other, r)
			}
		})
	}
}

// TestLogout: logout is 200 {"success":true} with nothing, garbage or a real
// credential; a real one (bearer, body or either cookie) revokes its session
// at once: /validate, /session, /refresh and /api/v1/me/* refuse it.
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
	logout(req{})
	logout(req{bearer: "garbage"})
	logout(req{body: map[string]string{"refreshToken": "garbage"}})

	for name, by := range map[string]func(session) req{
		"bearer":           func(u session) req { return req{bearer: u.access} },
		"body":             func(u session) req { return req{body: map[string]string{"refreshToken": u.refresh}} },
		"plain cookie":     func(u session) req { return req{cookies: []*http.Cookie{cookie(plainCookie, u.refresh)}} },
		"__Secure- cookie": func(u session) req { return req{cookies: []*http.Cookie{cookie(secureCookie, u.refresh)}} },
	} {
		t.Run(name, func(t *testing.T) {
			u := s.loggedIn(t, "logout")
			other := s.login(t, u.userID, u.email) // a second session must survive
			logout(by(u))
			if r := s.do(t, req{method: "POST", path: "/api/v1/auth/validate", body: map[string]string{"token": u.access}}); r.obj()["valid"] != false {
				t.Fatalf("validate after logout: %s", r)
			}
			if r := s.do(t, req{method: "GET", path: "/api/v1/auth/session", cookies: []*http.Cookie{cookie(plainCookie, u.refresh)}}); r.JSON != nil {
				t.Fatalf("session after logout: %s", r)
			}
			wantError(t, "refresh after logout", s.do(t, req{method: "POST", path: "/api/v1/auth/refresh",
				body: map[string]string{"refreshToken": u.refresh}}), http.StatusUnauthorized, "TOKEN_EXPIRED")
			wantUnauthorized(t, "me/data after logout", s.do(t, req{method: "GET", path: "/api/v1/me/data", bearer: u.access}))
			wantJSON(t, "other session", s.do(t, req{method: "GET", path: "/api/v1/me/data", bearer: other.access}), http.StatusOK)
			if n := s.count(t, `SELECT count(*) FROM auth_security_events WHERE user_id = ? AND event_type = 'LOGOUT'`, u.userID); n != 1 {
				t.Fatalf("LOGOUT events = %d, want 1", n)
			}
		})
	}
}
