//go:build integration

package integration

import (
	"net/http"
	"strings"
	"testing"
)

// rawPost sends a body as-is (possibly not JSON, possibly huge).
func rawPost(t *testing.T, u string, body []byte, headers ...string) (int, string) {
	t.Helper()
	r := sendRaw(t, http.MethodPost, u, string(body), headers...)
	return r.Status, string(r.Body)
}

// TestAccountBadInput: malformed, oversized and out-of-range input to the
// account endpoints gets a 4xx with a machine code, never a 500, and limits
// are enforced before work is done.
// Negative control: removing the length checks of policy.Check (raw bytes
// and code points) makes the 10,000-character password a 200 — the password
// is hashed and set — and this test fails.
func TestAccountBadInput(t *testing.T) {
	u := verifiedUser(t, "badinput")
	s := loginOK(t, authURL, u)
	cases := []struct {
		name, url string
		body      []byte
		auth      bool
		status    int
		code      string
	}{
		{"reset: not JSON", "/api/v1/auth/reset-password", []byte("{token:"), false, 400, "VALIDATION"},
		{"reset: oversized body", "/api/v1/auth/reset-password", []byte(`{"token":"` + strings.Repeat("a", 70<<10) + `"}`), false, 413, "PAYLOAD_TOO_LARGE"},
		{"reset: no token", "/api/v1/auth/reset-password", []byte(`{"newPassword":"Another-Secret-Passphrase-7"}`), false, 400, "TOKEN_INVALID"},
		{"reset: huge token", "/api/v1/auth/reset-password", []byte(`{"token":"` + strings.Repeat("a", 300) + `","newPassword":"x"}`), false, 400, "TOKEN_INVALID"},
		{"forgot: oversized body", "/api/v1/auth/forgot-password", []byte(`{"email":"` + strings.Repeat("a", 70<<10) + `"}`), false, 413, "PAYLOAD_TOO_LARGE"},
		{"change: not JSON", "/api/v1/auth/change-password", []byte("nope"), true, 400, "VALIDATION"},
		{"change: no current password", "/api/v1/auth/change-password", []byte(`{"newPassword":"Another-Secret-Passphrase-7"}`), true, 400, "VALIDATION"},
		{"change: 10,000-character new password", "/api/v1/auth/change-password",
			[]byte(`{"currentPassword":"` + testPassword + `","newPassword":"` + strings.Repeat("z", 10000) + `"}`), true, 400, "WEAK_PASSWORD"},
		{"profile: image too long", "/api/v1/auth/profile", []byte(`{"image":"` + strings.Repeat("i", 3000) + `"}`), true, 400, "VALIDATION"},
	}
	for _, c := range cases {
		var hdr []string
		if c.auth {
			hdr = bearer(s.AccessToken)
		}
		status, body := rawPost(t, authURL+c.url, c.body, hdr...)
		if status != c.status || !strings.Contains(body, `"code":"`+c.code+`"`) {
			t.Errorf("%s: want %d %s, got %d %.200s", c.name, c.status, c.code, status, body)
		}
	}
	r := do(t, http.MethodDelete, authURL+"/api/v1/me/sessions/"+strings.Repeat("s", 200), nil, bearer(s.AccessToken)...)
	expectStatus(t, r, http.StatusNotFound)
	requireSessionLive(t, "after bad input", s)
	loginOK(t, authURL, u) // the password did not change
}
