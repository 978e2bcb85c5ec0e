//go:build integration

package integration

import (
	"net/http"
	"strings"
	"testing"
)

// TestRefreshRotationAndReuse guards refresh-token rotation with reuse
// detection (design §5.4). A refresh returns a new pair; presenting the old
// refresh token again is theft: 401 TOKEN_EXPIRED, one TOKEN_REUSE_DETECTED
// event, and the whole session family is revoked — the rotated token and every
// access token of the session are refused, on both replicas.
// Negative controls: without rotation r2 == r; without reuse detection the
// replay of r answers 200 (or 401 without the event); without family
// revocation r2 still refreshes and the access tokens stay valid.
func TestRefreshRotationAndReuse(t *testing.T) {
	u := verifiedUser(t, "refresh")
	s := loginOK(t, authURL, u)

	rr := postJSON(t, authURL+"/api/v1/auth/refresh", map[string]any{"refreshToken": s.RefreshToken})
	expectStatus(t, rr, http.StatusOK)
	a2, r2 := jstr(rr.JSON, "accessToken"), jstr(rr.JSON, "refreshToken")
	if len(strings.Split(a2, ".")) != 3 {
		t.Fatalf("refresh: accessToken is not a JWT: %s", rr)
	}
	if r2 == "" || r2 == s.RefreshToken {
		t.Fatalf("refresh: want a new refreshToken, got %q (old %q)", r2, s.RefreshToken)
	}
	if v := validate(t, authURL, a2); !isValid(v) || jstr(v.JSON, "payload", "sub") != u.ID {
		t.Fatalf("refreshed access token: want valid for %s, got %s", u.ID, v)
	}
	// Warm both replicas: whatever they cache must still learn about the revocation.
	if v := validate(t, auth2URL, s.AccessToken); !isValid(v) {
		t.Fatalf("original access token on auth2 before reuse: want valid, got %s", v)
	}

	reuse := postJSON(t, authURL+"/api/v1/auth/refresh", map[string]any{"refreshToken": s.RefreshToken})
	expectStatus(t, reuse, http.StatusUnauthorized)
	if jstr(reuse.JSON, "code") != "TOKEN_EXPIRED" {
		t.Fatalf("reused refresh token: want code TOKEN_EXPIRED: %s", reuse)
	}
	if jstr(reuse.JSON, "accessToken") != "" {
		t.Fatalf("reused refresh token answer carries an accessToken: %s", reuse)
	}
	if n := countEvents(t, u.ID, "TOKEN_REUSE_DETECTED"); n != 1 {
		t.Fatalf("TOKEN_REUSE_DETECTED events = %d, want 1", n)
	}

	for _, base := range []string{authURL, auth2URL} {
		r := postJSON(t, base+"/api/v1/auth/refresh", map[string]any{"refreshToken": r2})
		if r.Status != http.StatusUnauthorized {
			t.Errorf("rotated refresh token after reuse on %s: want 401, got %s", base, r)
		}
	}
	// The replica that saw the reuse refuses the family's access tokens at
	// once, the other within the revocation lag.
	for name, tok := range map[string]string{"original": s.AccessToken, "refreshed": a2} {
		if v := validate(t, authURL, tok); isValid(v) {
			t.Errorf("%s access token after family revocation: want valid:false, got %s", name, v)
		}
		refusedOnOtherReplica(t, name+" access token after family revocation", tok)
	}
}
