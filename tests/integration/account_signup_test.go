//go:build integration

package integration

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// restartAuth2With restarts the replica auth2 with extra environment lines
// and restores its configuration (and restarts it) when the test ends.
func restartAuth2With(t *testing.T, lines ...string) {
	t.Helper()
	requireStackCtl(t)
	dir := os.Getenv("MANA_STACK_DIR")
	if dir == "" {
		t.Fatal("MANA_STACK_DIR is not set; run via scripts/run-integration-tests.sh")
	}
	envFile := filepath.Join(dir, "auth2.env")
	orig, err := os.ReadFile(envFile)
	if err != nil {
		t.Fatal(err)
	}
	extra := ""
	for _, l := range lines {
		extra += l + "\n"
	}
	if err := os.WriteFile(envFile, append(append([]byte{}, orig...), extra...), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := os.WriteFile(envFile, orig, 0o644); err != nil {
			t.Errorf("restore %s: %v", envFile, err)
		}
		stack(t, "stop", "auth2")
		stack(t, "start", "auth2")
	})
	stack(t, "stop", "auth2")
	stack(t, "start", "auth2")
}

// TestSignupLimit: with MAX_DAILY_SIGNUPS set, /signup-status reports the
// day's count, and N parallel registrations against k free spots admit
// exactly k; the rest get 429 SIGNUP_LIMIT_REACHED and write nothing. The
// limit is set on the replica auth2 only (restarted for this test), at
// today's count + 3, so other tests are unaffected.
// Negative control: removing tx.LockSignups from admitSignup lets parallel
// registrations read the same count: all 8 are admitted.
func TestSignupLimit(t *testing.T) {
	r := getJSON(t, authURL+"/api/v1/auth/signup-status")
	expectStatus(t, r, http.StatusOK)
	if r.JSON["registrationOpen"] != true || r.JSON["spotsRemaining"] != nil || jnum(r.JSON, "limit") != 0 || jstr(r.JSON, "resetsAt") != "" {
		t.Fatalf("unlimited signup-status: got %s", r)
	}

	today := queryInt(t, `SELECT count(*) FROM auth.security_events WHERE event_type = 'REGISTER' AND created_at >= date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'`)
	limit := today + 3
	restartAuth2With(t, fmt.Sprintf("MAX_DAILY_SIGNUPS=%d", limit))

	r = getJSON(t, auth2URL+"/api/v1/auth/signup-status")
	expectStatus(t, r, http.StatusOK)
	midnight := time.Now().UTC().Truncate(24 * time.Hour).Add(24 * time.Hour).Format(time.RFC3339)
	if r.JSON["registrationOpen"] != true || jnum(r.JSON, "spotsRemaining") != 3 || int(jnum(r.JSON, "totalToday")) != today ||
		int(jnum(r.JSON, "limit")) != limit || jstr(r.JSON, "resetsAt") != midnight {
		t.Fatalf("signup-status with limit %d (today %d): got %s", limit, today, r)
	}

	// Hold back every registration inside its transaction, after it has
	// counted today's signups but before it commits: the test locks
	// auth.accounts, which each registration writes right after the count.
	// Without the signup lock all of them count the same number and all
	// are admitted; with it they queue and exactly the free spots pass.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	gate, err := db.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer gate.Rollback(context.Background()) //nolint:errcheck // released below; this only covers a failure path
	if _, err := gate.Exec(ctx, `LOCK TABLE auth.accounts IN EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}

	const n = 8
	emails := make([]string, n)
	statuses := make([]int, n)
	codes := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		emails[i] = uniqueEmail("signuplimit")
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := tryDo(http.MethodPost, auth2URL+"/api/v1/auth/register", map[string]any{"email": emails[i], "password": testPassword})
			if err != nil {
				statuses[i] = -1
				codes[i] = err.Error()
				return
			}
			statuses[i] = resp.Status
			codes[i] = jstr(resp.JSON, "code")
		}()
	}
	eventually(t, 30*time.Second, "all registrations waiting inside their transactions", func() bool {
		return queryInt(t, `SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND pid <> pg_backend_pid()`) >= n
	})
	if err := gate.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	ok, limited := 0, 0
	for i := range n {
		switch {
		case statuses[i] == http.StatusOK:
			ok++
		case statuses[i] == http.StatusTooManyRequests && codes[i] == "SIGNUP_LIMIT_REACHED":
			limited++
			if u := queryInt(t, `SELECT count(*) FROM auth.users WHERE email = $1`, emails[i]); u != 0 {
				t.Errorf("a refused registration wrote its user %s", emails[i])
			}
		default:
			t.Errorf("registration %d: unexpected %d %s", i, statuses[i], codes[i])
		}
	}
	if ok != 3 || limited != n-3 {
		t.Fatalf("%d parallel registrations against 3 free spots: %d admitted, %d refused; want 3 and %d", n, ok, limited, n-3)
	}
	r = getJSON(t, auth2URL+"/api/v1/auth/signup-status")
	if r.JSON["registrationOpen"] != false || jnum(r.JSON, "spotsRemaining") != 0 || int(jnum(r.JSON, "totalToday")) != limit {
		t.Fatalf("signup-status when full: got %s", r)
	}
}
