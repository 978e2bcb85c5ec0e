//go:build integration

package integration

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// sendRaw sends body exactly as given (malformed JSON, any method).
func sendRaw(t testing.TB, method, u, body string, headers ...string) *response {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	out := &response{Method: method, URL: u, Status: resp.StatusCode, Header: resp.Header, Body: raw}
	_ = json.Unmarshal(raw, &out.JSON) // JSON stays nil when the body is not an object
	return out
}

// TestNULInTextIsBadInput: a NUL character ("\u0000" in JSON, %00 in a
// path) is valid JSON and valid UTF-8 for Go, but PostgreSQL refuses it in
// text ("invalid byte sequence for encoding UTF8: 0x00"), while SQLite
// stores it. Without a guard the same request is a 503 "dependency
// unavailable" (login, profile, session revoke) or a 500 (register, vault)
// on Postgres, and a success on SQLite. It must be a 4xx with a machine code
// on both, before any work is done.
// Negative control: removing the NUL check from httpx.DecodeJSON turns the
// login case into 503 SERVICE_UNAVAILABLE and this test fails; removing it
// from auth.Service.RevokeSession turns the %00 session id into a 503.
func TestNULInTextIsBadInput(t *testing.T) {
	u := verifiedUser(t, "nulinput")
	s := loginOK(t, authURL, u)
	// With a vault, the recovery-wrap case reaches the store (without one it
	// is refused as VAULT_NOT_INITIALISED before the NUL matters).
	expectStatus(t, postJSON(t, authURL+"/api/v1/me/encryption-vault/init", map[string]any{}, bearer(s.AccessToken)...), http.StatusOK)
	cases := []struct {
		name, method, url string
		body              string
		auth              bool
		status            int
		code              string
	}{
		{"login: NUL in email", "POST", "/api/v1/auth/login", `{"email":"nul\u0000` + u.Email + `","password":"x"}`, false, 400, "VALIDATION"},
		{"register: NUL in name", "POST", "/api/v1/auth/register",
			`{"email":"` + uniqueEmail("nulreg") + `","password":"Another-Secret-Passphrase-7","name":"a\u0000b"}`, false, 400, "VALIDATION"},
		{"me/profile: NUL in name", "PATCH", "/api/v1/me/profile", `{"name":"a\u0000b"}`, true, 400, "VALIDATION"},
		{"auth/profile: NUL in image", "POST", "/api/v1/auth/profile", `{"image":"https://x.example/\u0000.png"}`, true, 400, "VALIDATION"},
		{"vault: NUL in recovery wrap", "POST", "/api/v1/me/encryption-vault/recovery-wrap",
			`{"recoveryWrappedMk":"abc\u0000","recoveryIv":"def"}`, true, 400, "BAD_REQUEST"},
	}
	for _, c := range cases {
		var hdr []string
		if c.auth {
			hdr = bearer(s.AccessToken)
		}
		r := sendRaw(t, c.method, authURL+c.url, c.body, hdr...)
		if r.Status != c.status || jstr(r.JSON, "code") != c.code {
			t.Errorf("%s: want %d %s, got %s", c.name, c.status, c.code, r)
		}
	}
	r := sendRaw(t, http.MethodDelete, authURL+"/api/v1/me/sessions/a%00b", "", bearer(s.AccessToken)...)
	if r.Status != http.StatusNotFound || jstr(r.JSON, "code") != "NOT_FOUND" {
		t.Errorf("DELETE /me/sessions/a%%00b: want 404 NOT_FOUND, got %s", r)
	}

	// The guard refuses the NUL character only, not the six characters
	// backslash-u-0-0-0-0 written as text ("\\u0000" in JSON).
	r = sendRaw(t, http.MethodPatch, authURL+"/api/v1/me/profile", `{"name":"a\\u0000b"}`, bearer(s.AccessToken)...)
	if r.Status != http.StatusOK || jstr(r.JSON, "name") != `a\u0000b` {
		t.Errorf(`PATCH /me/profile name "a\\u0000b": want 200 with the literal text, got %s`, r)
	}
	requireSessionLive(t, "after NUL input", s)
	loginOK(t, authURL, u)
}
