//go:build integration

package integration

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/mana/mana/internal/ratelimit"
)

// auth3 enforces the default rate limits in Redis and trusts X-Forwarded-For
// from loopback, so each test acts as its own client address.
var (
	auth3URL = envOr("AUTH3_URL", "http://localhost:3096")
	redisURL = envOr("REDIS_URL", "redis://127.0.0.1:6390/0")
)

// loginLimit is the default "login" rule (authapi.DefaultRateLimits).
const loginLimit = 20

// testClientIP returns a random address of the benchmarking range
// 198.18.0.0/15, so reruns against a kept stack start with fresh counters.
func testClientIP(t testing.TB) string {
	t.Helper()
	b := make([]byte, 3)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("198.%d.%d.%d", 18+int(b[0]&1), b[1], 1+int(b[2])%254)
}

func loginFrom(t testing.TB, ip, email, password string) *response {
	t.Helper()
	return postJSON(t, auth3URL+"/api/v1/auth/login", map[string]any{"email": email, "password": password},
		"X-Forwarded-For", ip)
}

// One client sprays one password over many accounts (ASVS LK-09): after the
// limit it gets 429 RATE_LIMITED with Retry-After, one audit row records it,
// and other clients are unaffected.
// Negative control: serving mux without api.RateLimited (internal/app/auth.go, authPart.handler)
// makes every attempt answer 401 and this test fails at attempt 21.
func TestRateLimitStopsPasswordSpraying(t *testing.T) {
	ip := testClientIP(t)
	for i := 1; i <= loginLimit+5; i++ {
		r := loginFrom(t, ip, uniqueEmail("spray"), "Spray-password-1")
		if i <= loginLimit {
			expectStatus(t, r, http.StatusUnauthorized)
			continue
		}
		expectStatus(t, r, http.StatusTooManyRequests)
		if jstr(r.JSON, "code") != "RATE_LIMITED" {
			t.Fatalf("attempt %d: want code RATE_LIMITED: %s", i, r)
		}
		secs, err := strconv.Atoi(r.Header.Get("Retry-After"))
		if err != nil || secs < 1 || secs > 60 || jnum(r.JSON, "retryAfterSec") != float64(secs) {
			t.Fatalf("attempt %d: Retry-After %q / retryAfterSec %v, want the same 1..60: %s", i, r.Header.Get("Retry-After"), jget(r.JSON, "retryAfterSec"), r)
		}
	}
	// Blocked requests do no work: no attempt row was written for them.
	if n := queryInt(t, `SELECT count(*) FROM auth.login_attempts WHERE ip_address = $1`, ip); n != loginLimit {
		t.Errorf("login_attempts from %s = %d, want %d (blocked requests must not reach the login)", ip, n, loginLimit)
	}
	// Negative control for the one-row audit: flagging every blocked request gives 5 rows here.
	if n := queryInt(t, `SELECT count(*) FROM auth.security_events WHERE event_type = 'RATE_LIMIT_EXCEEDED' AND ip_address = $1
		AND metadata->>'rule' = 'login'`, ip); n != 1 {
		t.Errorf("RATE_LIMIT_EXCEEDED events for %s = %d, want exactly 1 per blocked window", ip, n)
	}
	// Another client still gets an answer on its merits.
	expectStatus(t, loginFrom(t, testClientIP(t), uniqueEmail("other"), "Spray-password-1"), http.StatusUnauthorized)
}

// The Redis limiter lets exactly Limit requests through under concurrency.
// Negative control: replacing the Lua script with a GET then SET lets more
// than 25 through.
func TestRedisLimiterExactUnderConcurrency(t *testing.T) {
	opts, err := redis.ParseURL(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	client := redis.NewClient(opts)
	defer client.Close()
	l := ratelimit.NewRedis(client, "it:"+strconv.FormatInt(time.Now().UnixNano(), 36)+":")
	rule := ratelimit.Rule{Limit: 25, Window: time.Minute}
	var mu sync.Mutex
	allowed, firstBlocked := 0, 0
	var wg sync.WaitGroup
	for range 200 {
		wg.Go(func() {
			r, err := l.Take(context.Background(), "k", rule)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if r.Allowed {
				allowed++
			}
			if r.FirstBlocked {
				firstBlocked++
			}
		})
	}
	wg.Wait()
	if allowed != 25 || firstBlocked != 1 {
		t.Fatalf("allowed %d, first-blocked %d; want 25 and 1", allowed, firstBlocked)
	}
}

// With Redis down the limited routes fail closed (503) and do no work; they
// recover when Redis returns.
// Negative control: letting requests through when Take fails (authapi
// RateLimited) makes the login answer 401 while Redis is down.
func TestRateLimitFailsClosedWithoutRedis(t *testing.T) {
	requireStackCtl(t)
	ip := testClientIP(t)
	email := uniqueEmail("noredis")
	stack(t, "stop", "redis")
	restarted := false
	defer func() {
		if !restarted {
			if err := tryStack("start", "redis"); err != nil {
				t.Errorf("restart redis: %v", err)
			}
		}
	}()
	r := loginFrom(t, ip, email, "Whatever-password-1")
	expectStatus(t, r, http.StatusServiceUnavailable)
	if n := countFailedAttempts(t, email); n != 0 {
		t.Errorf("a refused request wrote %d login attempts", n)
	}
	stack(t, "start", "redis")
	restarted = true
	eventually(t, 15*time.Second, "auth3 to count in Redis again", func() bool {
		r, err := tryDo(http.MethodPost, auth3URL+"/api/v1/auth/login", map[string]any{"email": email, "password": "Whatever-password-1"},
			"X-Forwarded-For", ip)
		return err == nil && r.Status == http.StatusUnauthorized
	})
}
