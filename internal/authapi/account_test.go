package authapi_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestPasswordReset covers forgot-password (always 200, mail only for a
// known address), the reset link's redirects (403 for a foreign callback,
// ?error=INVALID_TOKEN for a bad or expired token, ?token= for a good one)
// and reset-password (400 WEAK_PASSWORD keeps the link, 400 TOKEN_INVALID
// for expired and used links, success revokes every session).
func TestPasswordReset(t *testing.T) {
	s := newTestServer(t, testOptions{})
	u := s.loggedIn(t, "reset")
	forgot := func(email, redirect string) {
		t.Helper()
		r := s.do(t, req{method: "POST", path: "/api/v1/auth/forgot-password", body: map[string]string{"email": email, "redirectTo": redirect}})
		wantJSON(t, "forgot "+email, r, http.StatusOK)
		if r.obj()["success"] != true {
			t.Fatalf("forgot %s: %s", email, r)
		}
		s.decideRequests(t)
	}
	unknown := newEmail("reset-unknown")
	forgot(unknown, "")
	forgot("not-an-email", "")
	if len(s.mail.to(t, unknown)) != 0 {
		t.Fatal("forgot-password mailed an unknown address")
	}
	before := len(s.mail.to(t, u.email))
	forgot(u.email, allowedOrigin+"/reset")
	mails := s.mail.to(t, u.email)
	if len(mails) != before+1 {
		t.Fatalf("forgot-password for a known address: %d new mails, want 1", len(mails)-before)
	}
	link := mailLink(t, mails[len(mails)-1])
	secret := strings.TrimPrefix(strings.SplitN(link, "?", 2)[0], "/api/auth/reset-password/")
	if secret == "" || secret == link {
		t.Fatalf("unexpected reset link %q", link)
	}
	secret, _ = url.PathUnescape(secret)

	// The link's redirects.
	r := s.do(t, req{method: "GET", path: withQuery(t, link, "callbackURL", "https://evil.example/")})
	wantError(t, "reset link, foreign callback", r, http.StatusForbidden, "INVALID_CALLBACK_URL")
	wantRedirect(t, "reset link, bad token", s.do(t, req{method: "GET", path: "/api/auth/reset-password/nope?callbackURL=%2Freset"}),
		"/reset?error=INVALID_TOKEN")
	wantRedirect(t, "reset link", s.do(t, req{method: "GET", path: link}), allowedOrigin+"/reset?token="+url.QueryEscape(secret))

	reset := func(pw string) resp {
		return s.do(t, req{method: "POST", path: "/api/v1/auth/reset-password", body: map[string]string{"token": secret, "newPassword": pw}})
	}
	wantError(t, "weak new password", reset("short"), http.StatusBadRequest, "WEAK_PASSWORD")

	s.clock.skip(2 * time.Hour)
	wantRedirect(t, "expired reset link", s.do(t, req{method: "GET", path: link}), allowedOrigin+"/reset?error=INVALID_TOKEN")
	r = reset("Brand-New-Passw0rd-1")
	s.clock.skip(-2 * time.Hour)
	wantError(t, "expired token", r, http.StatusBadRequest, "TOKEN_INVALID")
	if r.str("message") != "Link expired" {
		t.Fatalf("expired token: message %q, want %q", r.str("message"), "Link expired")
	}

	// The weak password and the expired attempt left the link usable (an
	// expired attempt is refused before the token is used).
	wantJSON(t, "reset", reset("Brand-New-Passw0rd-1"), http.StatusOK)
	wantError(t, "used token", reset("Brand-New-Passw0rd-2"), http.StatusBadRequest, "TOKEN_INVALID")
	wantUnauthorized(t, "old session after reset", s.do(t, req{method: "GET", path: "/api/v1/me/data", bearer: u.access}))
	r = s.do(t, req{method: "POST", path: "/api/v1/auth/login", body: map[string]string{"email": u.email, "password": "Brand-New-Passw0rd-1"}})
	wantJSON(t, "login with the new password", r, http.StatusOK)
}

// TestAccountRoutes drives the signed-in account routes to their success
// answers and the refusals that need state: change-password keeps only the
// caller's session, a session of another user cannot be revoked (404),
// logout-all ends every session, and after DELETE /me/data the token is
// refused and the password no longer signs in.
func TestAccountRoutes(t *testing.T) {
	s := newTestServer(t, testOptions{})
	u := s.loggedIn(t, "account")
	second := s.login(t, u.userID, u.email)
	stranger := s.loggedIn(t, "stranger")
	do := func(method, path string, body any, bearer string) resp {
		return s.do(t, req{method: method, path: path, body: body, bearer: bearer})
	}

	r := do("GET", "/api/v1/me/sessions", nil, u.access)
	wantJSON(t, "sessions", r, http.StatusOK)
	list, _ := r.obj()["sessions"].([]any)
	current := 0
	for _, x := range list {
		if m, _ := x.(map[string]any); m["current"] == true {
			current++
		}
	}
	if len(list) != 2+verifySessions || current != 1 {
		t.Fatalf("sessions: want 2 and the verification's with one current: %s", r)
	}
	var strangerSession string
	if err := s.db.QueryRow(`SELECT id FROM auth_sessions WHERE user_id = ?`, stranger.userID).Scan(&strangerSession); err != nil {
		t.Fatal(err)
	}
	wantError(t, "revoke another user's session", do("DELETE", "/api/v1/me/sessions/"+strangerSession, nil, u.access), http.StatusNotFound, "NOT_FOUND")
	wantJSON(t, "stranger still signed in", do("GET", "/api/v1/me/data", nil, stranger.access), http.StatusOK)

	wantJSON(t, "auth/profile", do("POST", "/api/v1/auth/profile", map[string]any{"name": "Neu"}, u.access), http.StatusOK)
	r = do("PATCH", "/api/v1/me/profile", map[string]any{"name": " Ada ", "feedbackShowRealName": true}, u.access)
	wantJSON(t, "me/profile", r, http.StatusOK)
	if r.str("name") != "Ada" || r.obj()["feedbackShowRealName"] != true {
		t.Fatalf("me/profile: %s", r)
	}
	r = do("GET", "/api/v1/auth/security-events", nil, u.access)
	wantJSON(t, "security-events", r, http.StatusOK)
	// A bare array (the settings page's shape), newest first, ?limit honoured.
	if events, _ := r.JSON.([]any); len(events) < 3 {
		t.Fatalf("security-events: want an array of at least REGISTER, EMAIL_VERIFIED, LOGIN_SUCCESS: %s", r)
	}
	r = do("GET", "/api/v1/auth/security-events?limit=2", nil, u.access)
	if events, _ := r.JSON.([]any); len(events) != 2 {
		t.Fatalf("security-events?limit=2: %s", r)
	}
	r = do("GET", "/api/v1/auth/sessions", nil, u.access)
	wantJSON(t, "auth/sessions", r, http.StatusOK)
	if list, _ := r.JSON.([]any); len(list) != 2+verifySessions {
		t.Fatalf("auth/sessions: want a bare array of the live sessions: %s", r)
	} else if m, _ := list[0].(map[string]any); m["id"] == nil || m["lastActivityAt"] == nil || m["expiresAt"] == nil {
		t.Fatalf("auth/sessions: fields: %s", r)
	}

	r = do("POST", "/api/v1/auth/change-password", map[string]string{"currentPassword": strongPassword, "newPassword": "Changed-Passw0rd-3"}, u.access)
	wantJSON(t, "change-password", r, http.StatusOK)
	wantUnauthorized(t, "the other session after change-password", do("GET", "/api/v1/me/data", nil, second.access))
	wantJSON(t, "the caller's session after change-password", do("GET", "/api/v1/me/data", nil, u.access), http.StatusOK)

	third := s.do(t, req{method: "POST", path: "/api/v1/auth/login", body: map[string]string{"email": u.email, "password": "Changed-Passw0rd-3"}})
	wantJSON(t, "login with the changed password", third, http.StatusOK)
	r = do("POST", "/api/v1/auth/logout-all", nil, u.access)
	wantJSON(t, "logout-all", r, http.StatusOK)
	if r.obj()["revokedSessions"] != 2.0 {
		t.Fatalf("logout-all: want 2 revoked sessions: %s", r)
	}
	wantUnauthorized(t, "caller after logout-all", do("GET", "/api/v1/me/data", nil, u.access))
	wantUnauthorized(t, "third session after logout-all", do("GET", "/api/v1/me/data", nil, third.str("accessToken")))

	fresh := s.do(t, req{method: "POST", path: "/api/v1/auth/login", body: map[string]string{"email": u.email, "password": "Changed-Passw0rd-3"}})
	wantJSON(t, "login again", fresh, http.StatusOK)
	tok := fresh.str("accessToken")
	r = do("GET", "/api/v1/me/data/export", nil, tok)
	wantJSON(t, "export", r, http.StatusOK)
	if cd := r.Header.Get("Content-Disposition"); !strings.HasPrefix(cd, `attachment; filename="meine-daten-`) {
		t.Fatalf("export: Content-Disposition %q", cd)
	}
	r = do("DELETE", "/api/v1/me/data", nil, tok)
	wantJSON(t, "delete", r, http.StatusOK)
	if auth, _ := r.obj()["deletedFromAuth"].(map[string]any); r.obj()["success"] != true || auth["user"] != true {
		t.Fatalf("delete: %s", r)
	}
	wantUnauthorized(t, "token after deletion", do("GET", "/api/v1/me/data", nil, tok))
	r = s.do(t, req{method: "POST", path: "/api/v1/auth/login", body: map[string]string{"email": u.email, "password": "Changed-Passw0rd-3"}})
	wantError(t, "login after deletion", r, http.StatusUnauthorized, "INVALID_CREDENTIALS")
	wantJSON(t, "stranger unaffected", do("GET", "/api/v1/me/data", nil, stranger.access), http.StatusOK)
}

// TestVaultRoutes drives the vault to each of its refusals: 404 before
// init, 400 RECOVERY_WRAP_MISSING, and in zero-knowledge mode 409
// ZK_ROTATE_FORBIDDEN / ZK_ACTIVE, each with the old human text in "error".
func TestVaultRoutes(t *testing.T) {
	s := newTestServer(t, testOptions{})
	u := s.loggedIn(t, "vault")
	v := func(method, path string, body any) resp {
		return s.do(t, req{method: method, path: "/api/v1/me/encryption-vault" + path, body: body, bearer: u.access})
	}
	r := v("GET", "/status", nil)
	wantJSON(t, "status", r, http.StatusOK)
	if r.obj()["vaultExists"] != false {
		t.Fatalf("status before init: %s", r)
	}
	r = v("POST", "/init", map[string]any{"ignored": true})
	wantJSON(t, "init", r, http.StatusOK)
	mk := r.str("masterKey")
	if mk == "" || r.obj()["formatVersion"] != 1.0 {
		t.Fatalf("init: %s", r)
	}
	if r = v("GET", "/key", nil); r.str("masterKey") != mk {
		t.Fatalf("key: want the init key: %s", r)
	}
	wantError(t, "zero-knowledge without recovery wrap", v("POST", "/zero-knowledge", map[string]any{"enable": true}),
		http.StatusBadRequest, "RECOVERY_WRAP_MISSING")
	wantJSON(t, "recovery-wrap", v("POST", "/recovery-wrap", map[string]any{"recoveryWrappedMk": "d3JhcHBlZA==", "recoveryIv": "aXY="}), http.StatusOK)
	wantJSON(t, "enable zero-knowledge", v("POST", "/zero-knowledge", map[string]any{"enable": true}), http.StatusOK)
	r = v("GET", "/key", nil)
	wantJSON(t, "key in zero-knowledge", r, http.StatusOK)
	if r.obj()["requiresRecoveryCode"] != true || r.str("masterKey") != "" {
		t.Fatalf("key in zero-knowledge mode: %s", r)
	}
	for _, c := range []struct {
		method, path, code, text string
	}{
		{"POST", "/rotate", "ZK_ROTATE_FORBIDDEN", "cannot rotate in zero-knowledge mode"},
		{"DELETE", "/recovery-wrap", "ZK_ACTIVE", "cannot clear recovery wrap while zero-knowledge is active"},
	} {
		r := v(c.method, c.path, nil)
		wantError(t, c.method+" "+c.path+" in zero-knowledge", r, http.StatusConflict, c.code)
		if r.str("error") != c.text {
			t.Fatalf("%s %s: error %q, want %q", c.method, c.path, r.str("error"), c.text)
		}
	}
	wantJSON(t, "disable zero-knowledge", v("POST", "/zero-knowledge", map[string]any{"enable": false, "masterKey": mk}), http.StatusOK)
	if r = v("POST", "/rotate", nil); r.Status != http.StatusOK || r.str("masterKey") == "" || r.str("masterKey") == mk {
		t.Fatalf("rotate after disabling: %s", r)
	}
}
