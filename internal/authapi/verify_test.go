package authapi_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// withQuery returns path with the query parameter set to value.
func withQuery(t *testing.T, path, key, value string) string {
	t.Helper()
	u, err := url.Parse(path)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set(key, value)
	u.RawQuery = q.Encode()
	return u.RequestURI()
}

// wantRedirect fails unless r is a 302 to exactly location.
func wantRedirect(t *testing.T, what string, r resp, location string) {
	t.Helper()
	if r.Status != http.StatusFound || r.Header.Get("Location") != location {
		t.Fatalf("%s: want 302 to %q, got %s (Location %q)", what, location, r, r.Header.Get("Location"))
	}
}

func emailVerified(t *testing.T, s *testServer, userID string) bool {
	t.Helper()
	return s.count(t, `SELECT count(*) FROM auth_users WHERE id = ? AND email_verified = 1`, userID) == 1
}

// TestVerifyEmail covers GET /api/auth/verify-email: a valid link redirects
// to its callback and verifies; a used, unknown, missing or expired token
// redirects to the callback with ?error=INVALID_TOKEN / TOKEN_EXPIRED; a
// callbackURL outside the allowed origins is 403 INVALID_CALLBACK_URL and
// burns nothing.
//
// Negative control (the callback guard, tried): make verifyEmail ignore
// CheckCallback's error (`if false && err != nil`) and "disallowed callback"
// answers 302 instead of 403 (and verifies the account).
func TestVerifyEmail(t *testing.T) {
	s := newTestServer(t, testOptions{})
	callback := allowedOrigin + "/welcome?from=mail"

	t.Run("valid link, then replayed", func(t *testing.T) {
		email := newEmail("verify")
		id, link := s.register(t, email, map[string]any{"sourceAppUrl": callback})
		if got, _ := url.Parse(link); got.Query().Get("callbackURL") != callback {
			t.Fatalf("the link does not carry the sourceAppUrl: %s", link)
		}
		wantRedirect(t, "valid link", s.do(t, req{method: "GET", path: link}), callback)
		if !emailVerified(t, s, id) {
			t.Fatal("not verified after following the link")
		}
		wantRedirect(t, "replayed link", s.do(t, req{method: "GET", path: link}), allowedOrigin+"/welcome?error=INVALID_TOKEN&from=mail")
		s.login(t, id, email)
	})

	t.Run("bad tokens", func(t *testing.T) {
		for name, path := range map[string]string{
			"unknown":  "/api/auth/verify-email?token=nope&callbackURL=%2Fdone",
			"missing":  "/api/auth/verify-email?callbackURL=%2Fdone",
			"too long": "/api/auth/verify-email?callbackURL=%2Fdone&token=" + strings.Repeat("a", 300),
		} {
			wantRedirect(t, name, s.do(t, req{method: "GET", path: path}), "/done?error=INVALID_TOKEN")
		}
		// No callbackURL: back to "/".
		wantRedirect(t, "no callback", s.do(t, req{method: "GET", path: "/api/auth/verify-email?token=nope"}), "/?error=INVALID_TOKEN")
	})

	t.Run("expired", func(t *testing.T) {
		id, link := s.register(t, newEmail("expired"), nil)
		s.clock.skip(time.Hour + time.Minute)
		defer s.clock.skip(-(time.Hour + time.Minute))
		wantRedirect(t, "expired link", s.do(t, req{method: "GET", path: link}), "/?error=TOKEN_EXPIRED")
		if emailVerified(t, s, id) {
			t.Fatal("an expired link verified the account")
		}
	})

	t.Run("disallowed callback", func(t *testing.T) {
		id, link := s.register(t, newEmail("evil"), nil)
		for _, evil := range []string{"https://evil.example/", "//evil.example/x", "javascript:alert(1)",
			"https://user@app.example/", "http://app.example/", "/ok\\evil"} {
			r := s.do(t, req{method: "GET", path: withQuery(t, link, "callbackURL", evil)})
			wantError(t, evil, r, http.StatusForbidden, "INVALID_CALLBACK_URL")
			if loc := r.Header.Get("Location"); loc != "" {
				t.Fatalf("%s: refused, but Location %q", evil, loc)
			}
		}
		if emailVerified(t, s, id) {
			t.Fatal("a refused request verified the account")
		}
		// The refused requests did not use up the link.
		wantRedirect(t, "genuine link afterwards", s.do(t, req{method: "GET", path: link}), "/")
	})

	// Negative control (tried): in verifyEmail's switch, send the default
	// (store failure) case to the INVALID_TOKEN redirect and this answers 302.
	t.Run("store failure is 503, not a redirect", func(t *testing.T) {
		id, link := s.register(t, newEmail("store-down"), nil)
		s.store.failAfter(0)
		r := s.do(t, req{method: "GET", path: link})
		s.store.heal()
		wantError(t, "store down", r, http.StatusServiceUnavailable, "SERVICE_UNAVAILABLE")
		if loc := r.Header.Get("Location"); loc != "" {
			t.Fatalf("store down: Location %q", loc)
		}
		// Nothing was used up: the link works once the store is back.
		wantRedirect(t, "after recovery", s.do(t, req{method: "GET", path: link}), "/")
		if !emailVerified(t, s, id) {
			t.Fatal("not verified after recovery")
		}
	})
}

// TestResendVerification: a known unverified address gets a fresh link, an
// unknown or verified one gets the same 200 and no mail.
func TestResendVerification(t *testing.T) {
	s := newTestServer(t, testOptions{})
	resend := func(email string) {
		t.Helper()
		r := s.do(t, req{method: "POST", path: "/api/v1/auth/resend-verification", body: map[string]string{"email": email}})
		wantJSON(t, "resend "+email, r, http.StatusOK)
		if r.obj()["success"] != true {
			t.Fatalf("resend %s: %s", email, r)
		}
		s.decideRequests(t)
	}
	unverified := newEmail("resend")
	s.register(t, unverified, nil)
	resend(strings.ToUpper(unverified))
	if n := len(s.mail.to(t, unverified)); n != 2 {
		t.Fatalf("mails after a resend = %d, want 2", n)
	}
	_, verified := s.verifiedUser(t, "resend-verified")
	unknown := newEmail("resend-unknown")
	resend(verified)
	resend(unknown)
	if len(s.mail.to(t, verified)) != 1 || len(s.mail.to(t, unknown)) != 0 {
		t.Fatal("a resend to a verified or unknown address sent mail")
	}
}
