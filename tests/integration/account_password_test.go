//go:build integration

package integration

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestPasswordResetFlow: forgot → mail with the contract's link → the link
// redirects to the client with ?token= → a weak password is refused and
// leaves the link usable → reset succeeds, revokes every session (old
// access and refresh tokens refused on both replicas), lifts a lockout, and
// the link is single-use.
//
// Negative controls: dropping RevokeUserSessions from ResetPassword fails at
// "after reset: access token still valid"; dropping ClearAttempts fails at
// the login with the new password (429); making UseLinkToken reusable fails
// at "second use".
func TestPasswordResetFlow(t *testing.T) {
	u := verifiedUser(t, "reset")
	s1 := loginAs(t, authURL, u, "it-reset-device-1")
	s2 := loginAs(t, auth2URL, u, "it-reset-device-2")
	for i := 0; i < 5; i++ {
		expectStatus(t, login(t, authURL, u.Email, "wrong-password-"+u.Email), http.StatusUnauthorized)
	}
	expectStatus(t, login(t, authURL, u.Email, u.Password), http.StatusTooManyRequests)

	link := requestReset(t, u.Email, "http://localhost:5173/reset")
	if !strings.HasPrefix(link, authURL+"/api/auth/reset-password/") || !strings.HasSuffix(link, "?callbackURL=http%3A%2F%2Flocalhost%3A5173%2Freset") {
		t.Fatalf("reset link %q does not have the contract's shape {BASE_URL}/api/auth/reset-password/<token>?callbackURL=<redirectTo>", link)
	}
	if n := countEvents(t, u.ID, "PASSWORD_RESET_REQUESTED"); n != 1 {
		t.Fatalf("PASSWORD_RESET_REQUESTED events = %d, want 1", n)
	}
	tok := tokenOf(t, link)
	// Only a hash of the token is stored.
	if n := queryInt(t, `SELECT count(*) FROM auth.link_tokens WHERE user_id = $1 AND purpose = 'reset-password' AND token_hash = $2`, u.ID, sha256Of(tok)); n != 1 {
		t.Fatalf("reset link rows stored by SHA-256 = %d, want 1", n)
	}
	if n := queryInt(t, `SELECT count(*) FROM auth.link_tokens t WHERE t::text LIKE '%' || $1 || '%'`, tok); n != 0 {
		t.Fatalf("the plaintext reset token is stored in %d link_tokens rows", n)
	}

	loc := followReset(t, link)
	if loc.Host != "localhost:5173" || loc.Path != "/reset" || loc.Query().Get("token") != tok {
		t.Fatalf("reset link redirected to %s, want http://localhost:5173/reset?token=<token>", loc)
	}

	r := resetPassword(t, tok, "password123")
	expectStatus(t, r, http.StatusBadRequest)
	if jstr(r.JSON, "code") != "WEAK_PASSWORD" || !strings.Contains(jstr(r.JSON, "message"), "common") {
		t.Fatalf("common password at reset: want WEAK_PASSWORD saying it is common, got %s", r)
	}
	requireSessionLive(t, "after a refused reset", s1)

	r = resetPassword(t, tok, newPassword)
	expectSuccess(t, "reset", r)
	requireSessionDead(t, "after reset (session 1)", s1)
	requireSessionDead(t, "after reset (session 2)", s2)
	if n := countEvents(t, u.ID, "PASSWORD_RESET_COMPLETED"); n != 1 {
		t.Fatalf("PASSWORD_RESET_COMPLETED events = %d, want 1", n)
	}
	if n := countFailedAttempts(t, u.Email); n != 0 {
		t.Fatalf("failed login attempts after reset = %d, want 0 (reset lifts the lockout)", n)
	}
	expectStatus(t, login(t, authURL, u.Email, u.Password), http.StatusUnauthorized)
	u.Password = newPassword
	loginOK(t, authURL, u)

	r = resetPassword(t, tok, "Yet-Another-Passphrase-9")
	expectStatus(t, r, http.StatusBadRequest)
	if jstr(r.JSON, "code") != "TOKEN_INVALID" {
		t.Fatalf("second use of a reset token: want 400 TOKEN_INVALID, got %s", r)
	}
	if loc := followReset(t, link); loc.Query().Get("error") != "INVALID_TOKEN" || loc.Query().Get("token") != "" {
		t.Fatalf("used reset link redirected to %s, want ?error=INVALID_TOKEN", loc)
	}
	loginOK(t, authURL, u)
}

// TestPasswordResetExpiry: a link older than its hour is refused, both by
// the redirect and by the reset, and the password stays what it was.
// Negative control: removing the expires_at check in ResetPassword/resetToken
// makes the reset answer 200 and this test fail.
func TestPasswordResetExpiry(t *testing.T) {
	u := verifiedUser(t, "resetexp")
	link := requestReset(t, u.Email, "/reset")
	tok := tokenOf(t, link)
	if n := queryInt(t, `SELECT count(*) FROM auth.link_tokens WHERE token_hash = $1
		AND expires_at BETWEEN created_at + interval '59 minutes' AND created_at + interval '61 minutes'`, sha256Of(tok)); n != 1 {
		t.Fatalf("reset link lifetime is not one hour")
	}
	execSQL(t, `UPDATE auth.link_tokens SET expires_at = now() - interval '1 second' WHERE token_hash = $1`, sha256Of(tok))
	if loc := followReset(t, link); loc.Path != "/reset" || loc.Query().Get("error") != "INVALID_TOKEN" {
		t.Fatalf("expired link redirected to %s, want /reset?error=INVALID_TOKEN", loc)
	}
	r := resetPassword(t, tok, newPassword)
	expectStatus(t, r, http.StatusBadRequest)
	if jstr(r.JSON, "code") != "TOKEN_INVALID" || jstr(r.JSON, "message") != "Link expired" {
		t.Fatalf("expired token: want 400 TOKEN_INVALID \"Link expired\", got %s", r)
	}
	loginOK(t, authURL, u)
	if n := countEvents(t, u.ID, "PASSWORD_RESET_COMPLETED"); n != 0 {
		t.Fatalf("PASSWORD_RESET_COMPLETED after an expired token = %d", n)
	}
}

// TestForgotPasswordNoEnumeration: unknown addresses, bad bodies and a second
// request within a minute all answer the same 200 and send nothing more; a
// redirectTo outside the allowed origins is dropped from the link, and the
// link refuses such a callbackURL.
// Negative control: removing the one-per-minute check in ForgotPassword
// makes "reset jobs after two requests" 2.
func TestForgotPasswordNoEnumeration(t *testing.T) {
	unknown := uniqueEmail("forgot-unknown")
	for _, body := range []any{map[string]any{"email": unknown}, map[string]any{"email": "not an email"}, "garbage"} {
		r := postJSON(t, authURL+"/api/v1/auth/forgot-password", body)
		expectStatus(t, r, http.StatusOK)
		if r.JSON["success"] != true {
			t.Fatalf("forgot-password %v: want {success:true}, got %s", body, r)
		}
	}
	requestsSettled(t, unknown)
	if n := countMailJobs(t, unknown); n != 0 {
		t.Fatalf("mail jobs to an unknown address = %d, want 0", n)
	}

	u := verifiedUser(t, "forgot")
	link := requestReset(t, u.Email, "https://evil.example/steal")
	if !strings.HasSuffix(link, "?callbackURL=") {
		t.Fatalf("a redirectTo outside the allowed origins reached the link: %s", link)
	}
	r := postJSON(t, authURL+"/api/v1/auth/forgot-password", map[string]any{"email": strings.ToUpper(u.Email)})
	expectStatus(t, r, http.StatusOK)
	requestsSettled(t, u.Email)
	if n := countSubjectJobs(t, u.Email, resetSubject); n != 1 {
		t.Fatalf("reset jobs after two requests within a minute = %d, want 1", n)
	}
	if n := countEvents(t, u.ID, "PASSWORD_RESET_REQUESTED"); n != 1 {
		t.Fatalf("PASSWORD_RESET_REQUESTED events = %d, want 1", n)
	}
	r = getJSON(t, link+"https%3A%2F%2Fevil.example%2F")
	expectStatus(t, r, http.StatusForbidden)
	if jstr(r.JSON, "code") != "INVALID_CALLBACK_URL" {
		t.Fatalf("evil callbackURL on the reset link: want 403 INVALID_CALLBACK_URL, got %s", r)
	}
	// Without a callback the link goes to "/" on this host.
	if loc := followReset(t, link); loc.Path != "/" || loc.Query().Get("token") != tokenOf(t, link) {
		t.Fatalf("reset link without callback redirected to %s", loc)
	}
}

// TestChangePassword: the current password is required; the new one must
// pass the policy; success keeps the caller's session, revokes the others
// (access and refresh tokens refused), writes PASSWORD_CHANGED and mails a
// notice.
// Negative controls: dropping the Verify of the current password makes the
// wrong-password case answer 200; dropping RevokeUserSessions fails at
// "other session: access token still valid".
func TestChangePassword(t *testing.T) {
	u := verifiedUser(t, "change")
	me := loginAs(t, authURL, u, "it-change-me")
	other := loginAs(t, authURL, u, "it-change-other")
	url := authURL + "/api/v1/auth/change-password"

	r := postJSON(t, url, map[string]any{"currentPassword": u.Password, "newPassword": newPassword})
	expectStatus(t, r, http.StatusUnauthorized)

	r = postJSON(t, url, map[string]any{"currentPassword": "not-the-password", "newPassword": newPassword}, bearer(me.AccessToken)...)
	expectStatus(t, r, http.StatusUnauthorized)
	if jstr(r.JSON, "code") != "INVALID_CREDENTIALS" {
		t.Fatalf("wrong current password: want 401 INVALID_CREDENTIALS, got %s", r)
	}
	if n := countEvents(t, u.ID, "LOGIN_FAILURE"); n != 1 {
		t.Fatalf("LOGIN_FAILURE events after a wrong current password = %d, want 1", n)
	}
	for _, weak := range []string{"qwertyuiop", u.Email, "short"} {
		r = postJSON(t, url, map[string]any{"currentPassword": u.Password, "newPassword": weak}, bearer(me.AccessToken)...)
		expectStatus(t, r, http.StatusBadRequest)
		if jstr(r.JSON, "code") != "WEAK_PASSWORD" {
			t.Fatalf("new password %q: want WEAK_PASSWORD, got %s", weak, r)
		}
	}
	requireSessionLive(t, "after refused changes", other)

	r = postJSON(t, url, map[string]any{"currentPassword": u.Password, "newPassword": newPassword}, bearer(me.AccessToken)...)
	expectSuccess(t, "change-password", r)
	requireSessionLive(t, "caller's session", me)
	requireSessionDead(t, "other session", other)
	if n := countEvents(t, u.ID, "PASSWORD_CHANGED"); n != 1 {
		t.Fatalf("PASSWORD_CHANGED events = %d, want 1", n)
	}
	if n := countSubjectJobs(t, u.Email, changedSubject); n != 1 {
		t.Fatalf("password-changed notice jobs = %d, want 1", n)
	}
	waitForSubject(t, u.Email, changedSubject, 30*time.Second)
	expectStatus(t, login(t, authURL, u.Email, u.Password), http.StatusUnauthorized)
	u.Password = newPassword
	loginOK(t, authURL, u)
}

// TestPasswordPolicyAtRegister: length in code points (no truncation),
// blocklist and the email's local part, each a 400 WEAK_PASSWORD that says
// why; nothing is written for a refused registration.
// Negative control: calling the old length-only check instead of the policy
// in Register lets "iloveyou123" through.
func TestPasswordPolicyAtRegister(t *testing.T) {
	cases := []struct{ pw, why string }{
		{"seven77", "too short"},
		{strings.Repeat("x", 129), "too long"},
		{"iloveyou123", "common"},
		{"Password1", "common"},
	}
	for _, c := range cases {
		email := uniqueEmail("policy")
		r := postJSON(t, authURL+"/api/v1/auth/register", map[string]any{"email": email, "password": c.pw})
		expectStatus(t, r, http.StatusBadRequest)
		if jstr(r.JSON, "code") != "WEAK_PASSWORD" || !strings.Contains(jstr(r.JSON, "message"), c.why) {
			t.Fatalf("register with %q: want WEAK_PASSWORD mentioning %q, got %s", c.pw, c.why, r)
		}
		if n := queryInt(t, `SELECT count(*) FROM auth.users WHERE email = $1`, email); n != 0 {
			t.Fatalf("a refused registration wrote a user")
		}
	}
	email := uniqueEmail("policy-local")
	local, _, _ := strings.Cut(email, "@")
	r := postJSON(t, authURL+"/api/v1/auth/register", map[string]any{"email": email, "password": local})
	expectStatus(t, r, http.StatusBadRequest)
	if jstr(r.JSON, "code") != "WEAK_PASSWORD" || !strings.Contains(jstr(r.JSON, "message"), "email") {
		t.Fatalf("password = local part: want WEAK_PASSWORD about the email, got %s", r)
	}

	// 128 code points (255 bytes): allowed and not truncated (the first 127 do not log in).
	long := strings.Repeat("ü", 127) + "x"
	email = uniqueEmail("policy-long")
	r = postJSON(t, authURL+"/api/v1/auth/register", map[string]any{"email": email, "password": long})
	expectStatus(t, r, http.StatusOK)
	id := jstr(r.JSON, "user", "id")
	execSQL(t, `UPDATE auth.users SET email_verified = true WHERE id = $1`, id)
	loginOK(t, authURL, user{ID: id, Email: email, Password: long})
	expectStatus(t, login(t, authURL, email, strings.Repeat("ü", 127)), http.StatusUnauthorized)
}
