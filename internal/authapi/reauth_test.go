package authapi_test

import (
	"net/http"
	"testing"
	"time"
)

// TestRecentSignInRequired (audit F18): with MANA_REAUTH_MAX_AGE set, the
// master key, export, deletion and change-password need a sign-in at most
// that old; a refreshed token keeps its session's sign-in time (auth_time),
// so only a new sign-in opens them again.
// Negative control: recent() calling next without the age check answers
// 200 for the refreshed token.
func TestRecentSignInRequired(t *testing.T) {
	s := newTestServer(t, testOptions{ReauthMaxAge: 15 * time.Minute})
	u := s.loggedIn(t, "reauth")
	wantJSON(t, "fresh sign-in: init", s.do(t, req{method: "POST", path: "/api/v1/me/encryption-vault/init", bearer: u.access}), http.StatusOK)

	s.clock.skip(20 * time.Minute)
	defer s.clock.skip(-20 * time.Minute)
	r := s.do(t, req{method: "POST", path: "/api/v1/auth/refresh", body: map[string]string{"refreshToken": u.refresh}})
	wantJSON(t, "refresh", r, http.StatusOK)
	stale := r.str("accessToken")
	for _, q := range []req{
		{method: "GET", path: "/api/v1/me/encryption-vault/key"},
		{method: "POST", path: "/api/v1/me/encryption-vault/rotate"},
		{method: "GET", path: "/api/v1/me/data/export"},
		{method: "DELETE", path: "/api/v1/me/data"},
		{method: "POST", path: "/api/v1/auth/change-password", body: map[string]string{"currentPassword": strongPassword, "newPassword": "Another-Passw0rd-9"}},
	} {
		q.bearer = stale
		wantError(t, q.method+" "+q.path+" with a 20-minute-old sign-in", s.do(t, q), http.StatusUnauthorized, "REAUTH_REQUIRED")
	}
	// Other routes are not gated.
	wantJSON(t, "me/data", s.do(t, req{method: "GET", path: "/api/v1/me/data", bearer: stale}), http.StatusOK)

	again := s.login(t, u.userID, u.email)
	wantJSON(t, "key after a new sign-in", s.do(t, req{method: "GET", path: "/api/v1/me/encryption-vault/key", bearer: again.access}), http.StatusOK)
}
