//go:build integration

package integration

import (
	"net/http"
	"testing"
	"time"
)

// TestZZDatabaseOutage runs last (file and test name sort last): it stops the
// throwaway Postgres. While the database is down, login must fail closed with
// 503 SERVICE_UNAVAILABLE — for the right and the wrong password alike — and
// /health must report 503; once Postgres is back, login works again without
// restarting mana-auth.
// Guards: the lockout check fails closed (design §5.2; the seed failed open,
// §3.6.2) and infrastructure errors never count as credential failures (seed
// §3.6.4). Negative controls: map the DB error to 401 (the seed's old /login
// wrapper) or answer from a cache without the lockout check, and the 503
// assertions fail; a /health without a DB query answers 200 during the
// outage; a pool that never reconnects fails the recovery loop.
func TestZZDatabaseOutage(t *testing.T) {
	requireStackCtl(t)
	u := verifiedUser(t, "outage")
	loginOK(t, authURL, u) // connections are warm before the outage

	stack(t, "stop", "postgres")
	pgDown := true
	t.Cleanup(func() {
		if pgDown {
			if err := tryStack("start", "postgres"); err != nil {
				t.Errorf("restart postgres in cleanup: %v", err)
			}
		}
	})

	for _, base := range []string{authURL, auth2URL} {
		for i, pw := range []string{u.Password, wrongPassword, wrongPassword, wrongPassword, wrongPassword, wrongPassword} {
			r := login(t, base, u.Email, pw)
			if r.Status != http.StatusServiceUnavailable || jstr(r.JSON, "code") != "SERVICE_UNAVAILABLE" {
				t.Errorf("login #%d on %s with the database down: want 503 SERVICE_UNAVAILABLE, got %s", i+1, base, r)
			}
			if _, has := r.JSON["accessToken"]; has {
				t.Errorf("login on %s with the database down carries an accessToken: %s", base, r)
			}
		}
		if h := getJSON(t, base+"/health"); h.Status != http.StatusServiceUnavailable {
			t.Errorf("/health on %s with the database down: want 503, got %s", base, h)
		}
	}

	stack(t, "start", "postgres")
	pgDown = false

	for _, base := range []string{authURL, auth2URL} {
		var last *response
		deadline := time.Now().Add(60 * time.Second)
		for {
			r, err := tryDo(http.MethodPost, base+"/api/v1/auth/login", map[string]any{"email": u.Email, "password": u.Password})
			if err == nil && r.Status == http.StatusOK {
				break
			}
			if err == nil {
				last = r
				if r.Status != http.StatusServiceUnavailable {
					t.Fatalf("login on %s after Postgres came back: want 200 (or 503 while reconnecting), got %s", base, r)
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("login on %s did not recover within 60s after Postgres came back; last %v err %v", base, last, err)
			}
			time.Sleep(500 * time.Millisecond)
		}
		if h := getJSON(t, base+"/health"); h.Status != http.StatusOK {
			t.Errorf("/health on %s after recovery: want 200, got %s", base, h)
		}
	}
}
