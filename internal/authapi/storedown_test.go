package authapi_test

import (
	"net/http"
	"testing"
)

// TestStoreDownIs503 breaks the auth store (every transaction fails) and
// checks that each route that needs it answers 503 SERVICE_UNAVAILABLE —
// never a 500, never a success, never a 401/redirect as if the credential
// or link were bad — while the routes that need no database still answer.
//
// Negative control (the store-down mapping, tried): in errors.go, disable the
// `case errors.Is(err, auth.ErrUnavailable):` branch of fail and every row
// answers 500 INTERNAL instead (this and the next two tests fail).
func TestStoreDownIs503(t *testing.T) {
	s := newTestServer(t, testOptions{})
	u := s.loggedIn(t, "down")
	b := s.signIn(t, u.userID, u.email)
	_, unverified := s.verifiedUser(t, "down-other")
	_, verifyLink := s.register(t, newEmail("down-link"), nil)

	s.store.failAfter(0)
	t.Cleanup(s.store.heal)
	for _, q := range []req{
		{method: "POST", path: "/api/v1/auth/register", body: map[string]string{"email": newEmail("down-new"), "password": strongPassword}},
		{method: "POST", path: "/api/v1/auth/resend-verification", body: map[string]string{"email": unverified}},
		{method: "POST", path: "/api/v1/auth/login", body: map[string]string{"email": u.email, "password": strongPassword}},
		{method: "POST", path: "/api/v1/auth/login", body: map[string]string{"email": u.email, "password": "Wrong-Passw0rd-5"}},
		{method: "POST", path: "/api/v1/auth/validate", body: map[string]string{"token": u.access}},
		{method: "POST", path: "/api/v1/auth/refresh", body: map[string]string{"refreshToken": u.refresh}},
		{method: "POST", path: "/api/v1/auth/logout", body: map[string]string{"refreshToken": u.refresh}},
		{method: "POST", path: "/api/v1/auth/logout", bearer: u.access},
		{method: "GET", path: "/api/v1/auth/session", bearer: u.access},
		{method: "GET", path: "/api/v1/auth/session", cookies: []*http.Cookie{b.cookie}},
		{method: "GET", path: "/api/auth/get-session", cookies: []*http.Cookie{b.cookie}},
		{method: "GET", path: "/api/auth/token", cookies: []*http.Cookie{b.cookie}},
		{method: "POST", path: "/api/v1/auth/session-to-token", header: fromApp(), cookies: []*http.Cookie{b.cookie}},
		{method: "POST", path: "/api/auth/sign-out", header: fromApp(), cookies: []*http.Cookie{b.cookie}},
		{method: "POST", path: "/api/auth/sign-in/email", body: map[string]string{"email": u.email, "password": strongPassword}},
		{method: "POST", path: "/api/v1/auth/forgot-password", body: map[string]string{"email": u.email}},
		{method: "GET", path: "/api/auth/reset-password/some-token"},
		{method: "POST", path: "/api/v1/auth/reset-password", body: map[string]string{"token": "some-token", "newPassword": strongPassword}},
		{method: "GET", path: verifyLink},
	} {
		r := s.do(t, q)
		wantError(t, q.method+" "+q.path, r, http.StatusServiceUnavailable, "SERVICE_UNAVAILABLE")
	}
	// Every bearer route: the session check itself cannot run.
	for _, rt := range bearerRoutes {
		r := s.do(t, req{method: rt.method, path: rt.path, bearer: u.access, body: map[string]any{}})
		wantError(t, rt.method+" "+rt.path, r, http.StatusServiceUnavailable, "SERVICE_UNAVAILABLE")
	}
	r := s.do(t, req{method: "GET", path: "/health"})
	wantJSON(t, "/health", r, http.StatusServiceUnavailable)
	if checks, _ := r.obj()["checks"].(map[string]any); r.str("status") != "unhealthy" || checks["database"] != false {
		t.Fatalf("/health with the store down: %s", r)
	}
	wantJSON(t, "/health/live", s.do(t, req{method: "GET", path: "/health/live"}), http.StatusOK)
	wantJSON(t, "jwks", s.do(t, req{method: "GET", path: "/api/v1/auth/jwks"}), http.StatusOK)

	// Back up: nothing was lost or half-done.
	s.store.heal()
	wantJSON(t, "me/data after recovery", s.do(t, req{method: "GET", path: "/api/v1/me/data", bearer: u.access}), http.StatusOK)
	if n := s.count(t, `SELECT count(*) FROM auth_login_attempts`); n != 0 {
		t.Fatalf("login attempts recorded while down = %d", n)
	}
}

// TestStoreFailsAfterAuthentication: the bearer check passes and the
// route's own transaction fails. Each route must answer 503, not 500 and
// not success. Also the login steps after the lockout check (recording a
// failure, completing a success) fail closed.
func TestStoreFailsAfterAuthentication(t *testing.T) {
	s := newTestServer(t, testOptions{})
	u := s.loggedIn(t, "after-auth")
	for _, c := range []struct {
		method, path string
		body         any
	}{
		{"GET", "/api/v1/me/data", nil},
		{"GET", "/api/v1/me/data/export", nil},
		{"DELETE", "/api/v1/me/data", nil},
		{"GET", "/api/v1/me/sessions", nil},
		{"DELETE", "/api/v1/me/sessions/some-id", nil},
		{"PATCH", "/api/v1/me/profile", map[string]any{"name": "New"}},
		{"POST", "/api/v1/auth/profile", map[string]any{"name": "New"}},
		{"GET", "/api/v1/auth/security-events", nil},
		{"POST", "/api/v1/auth/logout-all", nil},
		{"POST", "/api/v1/auth/change-password", map[string]string{"currentPassword": strongPassword, "newPassword": "Other-Passw0rd-6"}},
		{"GET", "/api/v1/auth/session", nil},
	} {
		s.store.failAfter(1) // Authenticate's transaction succeeds
		r := s.do(t, req{method: c.method, path: c.path, body: c.body, bearer: u.access})
		s.store.heal()
		wantError(t, c.method+" "+c.path, r, http.StatusServiceUnavailable, "SERVICE_UNAVAILABLE")
	}
	// The account is intact.
	wantJSON(t, "me/data", s.do(t, req{method: "GET", path: "/api/v1/me/data", bearer: u.access}), http.StatusOK)

	for _, c := range []struct {
		name, pw string
		after    int
	}{
		{"wrong password, failure not recorded", "Wrong-Passw0rd-7", 1},
		{"right password, session not created", strongPassword, 1},
	} {
		s.store.failAfter(c.after)
		r := s.do(t, req{method: "POST", path: "/api/v1/auth/login", body: map[string]string{"email": u.email, "password": c.pw}})
		s.store.heal()
		wantError(t, c.name, r, http.StatusServiceUnavailable, "SERVICE_UNAVAILABLE")
	}
	if n := s.count(t, `SELECT count(*) FROM auth_sessions WHERE user_id = ?`, u.userID); n != 1+verifySessions {
		t.Fatalf("sessions = %d, want the first one (and the verification's) only", n)
	}
}

// TestDatabaseClosed closes the real SQLite handle (not a wrapper): the
// service's store errors are still 503, /health is 503.
func TestDatabaseClosed(t *testing.T) {
	s := newTestServer(t, testOptions{})
	u := s.loggedIn(t, "closed")
	_, link := s.register(t, newEmail("closed-link"), nil)
	if err := s.db.Close(); err != nil {
		t.Fatal(err)
	}
	for _, q := range []req{
		{method: "POST", path: "/api/v1/auth/register", body: map[string]string{"email": newEmail("closed-new"), "password": strongPassword}},
		{method: "POST", path: "/api/v1/auth/login", body: map[string]string{"email": u.email, "password": strongPassword}},
		{method: "POST", path: "/api/v1/auth/refresh", body: map[string]string{"refreshToken": u.refresh}},
		{method: "GET", path: "/api/v1/me/data", bearer: u.access},
		{method: "GET", path: link},
	} {
		wantError(t, q.method+" "+q.path, s.do(t, q), http.StatusServiceUnavailable, "SERVICE_UNAVAILABLE")
	}
	wantJSON(t, "/health", s.do(t, req{method: "GET", path: "/health"}), http.StatusServiceUnavailable)
}

// TestVaultStoreDown: with the vault's store failing (the auth store up,
// so the bearer check passes) no vault route answers a key or a success.
//
// Today the vault answers a store failure 500 INTERNAL (vaultFail's default
// reaches fail's default branch: the vault does not wrap store errors in
// auth.ErrUnavailable), unlike the auth routes' 503. Whether it should be
// 503 is open, so the test accepts 503 SERVICE_UNAVAILABLE or 500 INTERNAL
// and fails on anything else (a success, a 4xx, a key).
func TestVaultStoreDown(t *testing.T) {
	s := newTestServer(t, testOptions{})
	u := s.loggedIn(t, "vault-down")
	s.vaults.down.Store(true)
	for _, c := range []struct {
		method, path string
		body         any
	}{
		{"GET", "/status", nil},
		{"POST", "/init", nil},
		{"GET", "/key", nil},
		{"POST", "/rotate", nil},
		{"POST", "/recovery-wrap", map[string]string{"recoveryWrappedMk": "d3JhcA==", "recoveryIv": "aXY="}},
		{"DELETE", "/recovery-wrap", nil},
		{"POST", "/zero-knowledge", map[string]any{"enable": true}},
	} {
		r := s.do(t, req{method: c.method, path: "/api/v1/me/encryption-vault" + c.path, body: c.body, bearer: u.access})
		switch r.Status {
		case http.StatusServiceUnavailable:
			wantError(t, c.method+" "+c.path, r, http.StatusServiceUnavailable, "SERVICE_UNAVAILABLE")
		default:
			wantError(t, c.method+" "+c.path, r, http.StatusInternalServerError, "INTERNAL")
		}
		if r.str("masterKey") != "" {
			t.Fatalf("%s %s: a key with the store down: %s", c.method, c.path, r)
		}
	}
}
