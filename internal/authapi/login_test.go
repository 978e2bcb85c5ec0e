package authapi_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestLoginErrors maps each login outcome to its status and code: unknown
// user and wrong password 401 INVALID_CREDENTIALS (counted, no session),
// right password of an unverified account 403 EMAIL_NOT_VERIFIED (not
// counted), and after five failures 429 ACCOUNT_LOCKED with Retry-After
// equal to remainingSeconds, even for the right password.
//
// Negative control (tried): drop the Retry-After header in fail's
// LockedError branch and the locked row fails.
func TestLoginErrors(t *testing.T) {
	s := newTestServer(t, testOptions{})
	login := func(email, pw string) resp {
		return s.do(t, req{method: "POST", path: "/api/v1/auth/login", body: map[string]string{"email": email, "password": pw}})
	}

	unknown := newEmail("nobody")
	wantError(t, "unknown user", login(unknown, strongPassword), http.StatusUnauthorized, "INVALID_CREDENTIALS")

	unverified := newEmail("unverified")
	s.register(t, unverified, nil)
	wantError(t, "unverified, right password", login(unverified, strongPassword), http.StatusForbidden, "EMAIL_NOT_VERIFIED")
	// Password before the verified flag: a wrong one is a plain 401.
	wantError(t, "unverified, wrong password", login(unverified, "Wrong-Passw0rd-0"), http.StatusUnauthorized, "INVALID_CREDENTIALS")

	id, email := s.verifiedUser(t, "lockout")
	for i := range 5 {
		// Mixed case: the lockout counts the canonical email.
		r := login(strings.ToUpper(email), "Wrong-Passw0rd-"+strconv.Itoa(i))
		wantError(t, "wrong password #"+strconv.Itoa(i+1), r, http.StatusUnauthorized, "INVALID_CREDENTIALS")
		if r.Header.Get("Retry-After") != "" {
			t.Fatalf("wrong password #%d carries Retry-After: %s", i+1, r)
		}
	}
	if n := s.count(t, `SELECT count(*) FROM auth_sessions WHERE user_id = ?`, id); n != verifySessions {
		t.Fatalf("sessions after wrong passwords = %d, want only the verification's", n)
	}
	r := login(email, strongPassword)
	wantError(t, "locked, right password", r, http.StatusTooManyRequests, "ACCOUNT_LOCKED")
	if r.str("error") != "Account locked" {
		t.Fatalf("locked: error %q, want the legacy %q: %s", r.str("error"), "Account locked", r)
	}
	secs, _ := r.obj()["remainingSeconds"].(float64)
	if secs < 1 || secs > 30*60 {
		t.Fatalf("locked: remainingSeconds %v, want 1..1800: %s", secs, r)
	}
	if got := r.Header.Get("Retry-After"); got != strconv.Itoa(int(secs)) {
		t.Fatalf("locked: Retry-After %q, want remainingSeconds %v", got, secs)
	}
	if r.obj()["retryAfterSec"] != r.obj()["remainingSeconds"] {
		t.Fatalf("locked: retryAfterSec differs from remainingSeconds: %s", r)
	}
	if n := s.count(t, `SELECT count(*) FROM auth_sessions WHERE user_id = ?`, id); n != verifySessions {
		t.Fatalf("a locked login created %d sessions", n-verifySessions)
	}
	// Another account is not affected.
	other := s.loggedIn(t, "not-locked")
	if other.access == "" {
		t.Fatal("no access token for an unrelated account")
	}
}

// TestRegisterAnswers covers the successful and the generic answers of
// register: the user shape, and a taken email answering 200 with a fresh id
// and no second account (no enumeration); the owner is told (audit F14):
// an unverified account takes the latest registration's password with a
// fresh verification link (older ones retired), a verified one gets a
// notice with a reset link; both throttled like the resend.
//
// Negative control: registerExisting returning nil at once sends no mail
// and fails "second registration".
func TestRegisterAnswers(t *testing.T) {
	s := newTestServer(t, testOptions{})
	email := newEmail("taken")
	id, firstLink := s.register(t, email, map[string]any{"name": "  Ada  "})
	var n int
	if err := s.db.QueryRow(`SELECT count(*) FROM auth_users WHERE id = ? AND name = 'Ada'`, id).Scan(&n); err != nil || n != 1 {
		t.Fatalf("registered user %s with the trimmed name: %d rows, %v", id, n, err)
	}
	again := func(pw string) resp {
		return s.do(t, req{method: "POST", path: "/api/v1/auth/register", body: map[string]string{"email": strings.ToUpper(email), "password": pw}})
	}
	r := again("Other-Passw0rd-7")
	wantJSON(t, "register a taken email", r, http.StatusOK)
	user, _ := r.obj()["user"].(map[string]any)
	if user["id"] == id || user["id"] == "" || r.obj()["token"] != nil {
		t.Fatalf("taken email: want a fresh id and token null: %s", r)
	}
	if got := len(s.mail.to(t, email)); got != 1 {
		t.Fatalf("mails right after the first = %d, want 1 (throttled)", got)
	}
	if n := s.count(t, `SELECT count(*) FROM auth_users`); n != 1 {
		t.Fatalf("users after registering a taken email = %d, want 1", n)
	}

	// Unverified: the latest registration's password, a fresh link.
	s.clock.skip(time.Minute)
	defer s.clock.skip(-time.Minute)
	wantJSON(t, "second registration", again("Latest-Passw0rd-8"), http.StatusOK)
	mails := s.mail.to(t, email)
	if len(mails) != 2 {
		t.Fatalf("mails after a second registration a minute later = %d, want 2", len(mails))
	}
	if r := s.do(t, req{method: "GET", path: firstLink}); !strings.Contains(r.Header.Get("Location"), "error=INVALID_TOKEN") {
		t.Fatalf("the first link after a later registration: %s %q, want it retired", r, r.Header.Get("Location"))
	}
	if r := s.do(t, req{method: "GET", path: mailLink(t, mails[1])}); r.Status != http.StatusFound || strings.Contains(r.Header.Get("Location"), "error=") {
		t.Fatalf("the latest link: %s %q", r, r.Header.Get("Location"))
	}
	wantError(t, "the first password", s.do(t, req{method: "POST", path: "/api/v1/auth/login",
		body: map[string]string{"email": email, "password": strongPassword}}), http.StatusUnauthorized, "INVALID_CREDENTIALS")
	wantJSON(t, "the latest password", s.do(t, req{method: "POST", path: "/api/v1/auth/login",
		body: map[string]string{"email": email, "password": "Latest-Passw0rd-8"}}), http.StatusOK)

	// Verified: a notice with a reset link; the password stays.
	s.clock.skip(time.Minute)
	defer s.clock.skip(-time.Minute)
	wantJSON(t, "registration for a verified account", again("Intruder-Passw0rd-9"), http.StatusOK)
	mails = s.mail.to(t, email)
	if len(mails) != 3 || !strings.Contains(mails[2], "/api/auth/reset-password/") {
		t.Fatalf("notice to the verified owner: %d mails, last %q", len(mails), mails[len(mails)-1])
	}
	wantJSON(t, "the owner's password after the notice", s.do(t, req{method: "POST", path: "/api/v1/auth/login",
		body: map[string]string{"email": email, "password": "Latest-Passw0rd-8"}}), http.StatusOK)
	if n := s.count(t, `SELECT count(*) FROM auth_security_events WHERE event_type = 'REGISTER_EXISTING'`); n != 2 {
		t.Fatalf("REGISTER_EXISTING events = %d, want 2", n)
	}
}

// TestSignupLimit: with MAX_DAILY_SIGNUPS=1, signup-status reports the free
// spot, the second registration answers 429 SIGNUP_LIMIT_REACHED and the
// status then reports it closed; with a limit the status reads the database
// and answers 503 when it cannot. Without a limit the status is the
// contract's "unlimited" shape.
func TestSignupLimit(t *testing.T) {
	open := newTestServer(t, testOptions{})
	r := open.do(t, req{method: "GET", path: "/api/v1/auth/signup-status"})
	wantJSON(t, "unlimited status", r, http.StatusOK)
	if r.obj()["registrationOpen"] != true || r.obj()["spotsRemaining"] != nil || r.obj()["limit"] != 0.0 {
		t.Fatalf("unlimited status: %s", r)
	}

	s := newTestServer(t, testOptions{MaxDailySignups: 1})
	r = s.do(t, req{method: "GET", path: "/api/v1/auth/signup-status"})
	wantJSON(t, "status before", r, http.StatusOK)
	if r.obj()["registrationOpen"] != true || r.obj()["spotsRemaining"] != 1.0 || r.obj()["limit"] != 1.0 {
		t.Fatalf("status before any signup: %s", r)
	}
	s.register(t, newEmail("first"), nil)
	second := newEmail("second")
	r = s.do(t, req{method: "POST", path: "/api/v1/auth/register", body: map[string]string{"email": second, "password": strongPassword}})
	wantError(t, "second signup", r, http.StatusTooManyRequests, "SIGNUP_LIMIT_REACHED")
	if len(s.mail.to(t, second)) != 0 {
		t.Fatal("a refused signup sent mail")
	}
	r = s.do(t, req{method: "GET", path: "/api/v1/auth/signup-status"})
	if r.obj()["registrationOpen"] != false || r.obj()["spotsRemaining"] != 0.0 || r.obj()["totalToday"] != 1.0 {
		t.Fatalf("status after the limit: %s", r)
	}
	// With a limit the status counts in the database: fails closed.
	s.store.failAfter(0)
	wantError(t, "status, store down", s.do(t, req{method: "GET", path: "/api/v1/auth/signup-status"}),
		http.StatusServiceUnavailable, "SERVICE_UNAVAILABLE")
}

// TestValidate: /validate answers 200 {"valid":false} for no, garbage and
// logged-out tokens and 200 {"valid":true,"payload":...} for a live one.
func TestValidate(t *testing.T) {
	s := newTestServer(t, testOptions{})
	u := s.loggedIn(t, "validate")
	validate := func(tok any) resp {
		return s.do(t, req{method: "POST", path: "/api/v1/auth/validate", body: map[string]any{"token": tok}})
	}
	for name, tok := range map[string]any{"empty": "", "garbage": "not-a-real-jwt.totally-garbage.signature", "refresh token": u.refresh} {
		r := validate(tok)
		wantJSON(t, name, r, http.StatusOK)
		if r.obj()["valid"] != false || r.obj()["payload"] != nil {
			t.Fatalf("%s token: want valid:false: %s", name, r)
		}
	}
	r := validate(u.access)
	wantJSON(t, "live token", r, http.StatusOK)
	payload, _ := r.obj()["payload"].(map[string]any)
	if r.obj()["valid"] != true || payload["sub"] != u.userID || payload["email"] != u.email || payload["role"] != "user" {
		t.Fatalf("live token: %s", r)
	}
	wantJSON(t, "logout", s.do(t, req{method: "POST", path: "/api/v1/auth/logout", bearer: u.access}), http.StatusOK)
	r = validate(u.access)
	if r.obj()["valid"] != false {
		t.Fatalf("logged-out session's token: want valid:false: %s", r)
	}
}

// TestPublicReads: the three JWKS paths and the health routes answer JSON.
func TestPublicReads(t *testing.T) {
	s := newTestServer(t, testOptions{})
	for _, p := range []string{"/api/auth/jwks", "/api/v1/auth/jwks", "/.well-known/jwks.json"} {
		r := s.do(t, req{method: "GET", path: p})
		wantJSON(t, p, r, http.StatusOK)
		keys, _ := r.obj()["keys"].([]any)
		if len(keys) == 0 {
			t.Fatalf("%s: no keys: %s", p, r)
		}
	}
	for _, p := range []string{"/health", "/health/ready"} {
		r := s.do(t, req{method: "GET", path: p})
		wantJSON(t, p, r, http.StatusOK)
		if checks, _ := r.obj()["checks"].(map[string]any); checks["database"] != true {
			t.Fatalf("%s: %s", p, r)
		}
	}
	wantJSON(t, "/health/live", s.do(t, req{method: "GET", path: "/health/live"}), http.StatusOK)
	// Outside /api/v1/me/ an unknown route is the mux's plain 404.
	if r := s.do(t, req{method: "GET", path: "/api/v1/auth/nope"}); r.Status != http.StatusNotFound {
		t.Fatalf("unknown route: %s", r)
	}
}
