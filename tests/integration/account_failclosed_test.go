//go:build integration

package integration

import (
	"context"
	"net/http"
	"testing"
)

// TestAccountAuditFailureFailsClosed: when the security event of an account
// change cannot be written (a test-scoped trigger refuses the user's events),
// the change does not happen either: reset, change-password, logout-all and
// profile answer 503 and leave the password hash, the link, the sessions and
// the profile as they were. Once events can be written again the same reset
// link works.
// Negative control: writing PASSWORD_RESET_COMPLETED in its own transaction
// after the reset commits (failure only logged — the old service's pattern)
// turns the first 503 into a 200 with a changed password and no audit row.
// (Merely ignoring the InsertEvent error inside the transaction is still
// caught: Postgres aborts the transaction and the commit fails.)
func TestAccountAuditFailureFailsClosed(t *testing.T) {
	u := verifiedUser(t, "acct-failclosed")
	s := loginOK(t, authURL, u)
	link := requestReset(t, u.Email, "/reset")
	tok := tokenOf(t, link)
	hash := queryString(t, `SELECT password FROM auth.accounts WHERE user_id = $1 AND provider_id = 'credential'`, u.ID)

	sabotage(t, u.Email, "events")
	unavailable := func(what string, r *response) {
		t.Helper()
		expectStatus(t, r, http.StatusServiceUnavailable)
		if jstr(r.JSON, "code") != "SERVICE_UNAVAILABLE" {
			t.Fatalf("%s with a failing audit write: want 503 SERVICE_UNAVAILABLE, got %s", what, r)
		}
	}
	unavailable("reset-password", resetPassword(t, tok, newPassword))
	unavailable("change-password", postJSON(t, authURL+"/api/v1/auth/change-password",
		map[string]any{"currentPassword": u.Password, "newPassword": newPassword}, bearer(s.AccessToken)...))
	unavailable("logout-all", postJSON(t, authURL+"/api/v1/auth/logout-all", nil, bearer(s.AccessToken)...))
	unavailable("profile", do(t, http.MethodPatch, authURL+"/api/v1/me/profile", map[string]any{"name": "Changed"}, bearer(s.AccessToken)...))

	if got := queryString(t, `SELECT password FROM auth.accounts WHERE user_id = $1 AND provider_id = 'credential'`, u.ID); got != hash {
		t.Fatal("the password hash changed although its audit write failed")
	}
	if n := queryInt(t, `SELECT count(*) FROM auth.link_tokens WHERE token_hash = $1 AND used_at IS NULL`, sha256Of(tok)); n != 1 {
		t.Fatal("the reset link was used up although the reset failed")
	}
	if n := countSubjectJobs(t, u.Email, changedSubject); n != 0 {
		t.Fatalf("password-changed mail queued although the change failed (%d)", n)
	}
	if name := queryString(t, `SELECT name FROM auth.users WHERE id = $1`, u.ID); name != "Integration Test" {
		t.Fatalf("profile name changed to %q although its audit write failed", name)
	}
	requireSessionLive(t, "session after failed changes", s)

	if _, err := db.Exec(context.Background(), `DELETE FROM public.it_sabotage WHERE email = $1`, u.Email); err != nil {
		t.Fatal(err)
	}
	expectSuccess(t, "reset-password once events can be written", resetPassword(t, tok, newPassword))
	requireSessionDead(t, "session after the reset", s)
}
