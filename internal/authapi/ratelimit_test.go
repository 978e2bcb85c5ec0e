package authapi_test

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mana/mana/internal/authapi"
	"github.com/mana/mana/internal/ratelimit"
)

// fakeLimiter records every Take and answers what the test set: an error
// when fail is set, else result (Allowed by default).
type fakeLimiter struct {
	mu     sync.Mutex
	keys   []string
	fail   atomic.Bool
	result *ratelimit.Result
}

func (l *fakeLimiter) Take(_ context.Context, key string, _ ratelimit.Rule) (ratelimit.Result, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.keys = append(l.keys, key)
	if l.fail.Load() {
		return ratelimit.Result{}, errors.New("test: redis unreachable")
	}
	if l.result != nil {
		return *l.result, nil
	}
	return ratelimit.Result{Allowed: true, Count: 1}, nil
}

func (l *fakeLimiter) taken() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.keys...)
}

func (l *fakeLimiter) reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.keys = nil
}

// stateCounts is a fingerprint of everything a request could change.
func (s *testServer) stateCounts(t *testing.T) [6]int {
	t.Helper()
	return [6]int{
		s.count(t, `SELECT count(*) FROM auth_users`),
		s.count(t, `SELECT count(*) FROM auth_sessions WHERE revoked_at IS NULL`),
		s.count(t, `SELECT count(*) FROM auth_refresh_tokens`),
		s.count(t, `SELECT count(*) FROM auth_login_attempts`),
		s.count(t, `SELECT count(*) FROM auth_security_events`),
		s.mail.count(t),
	}
}

// TestRateLimitFailsClosed: when the limiter cannot count (Redis down),
// every rate-limited route answers 503 SERVICE_UNAVAILABLE before doing any
// work — even with bodies and tokens that would succeed, and before the
// bearer check — while routes without a rule keep working.
//
// Negative control (the fail-closed guard, tried): in RateLimited, replace
// `a.fail(...); return` after a Take error by `mux.ServeHTTP(w, r); return`
// (fail open) and every row answers its route's own status instead of 503,
// and the state fingerprint changes.
func TestRateLimitFailsClosed(t *testing.T) {
	lim := &fakeLimiter{}
	s := newTestServer(t, testOptions{Limiter: lim})
	u := s.loggedIn(t, "failclosed")
	unverified := newEmail("failclosed-unverified")
	s.register(t, unverified, nil)

	lim.reset()
	lim.fail.Store(true)
	before := s.stateCounts(t)
	// Every route of rateLimitedRoutes, each with input that would do work.
	for _, c := range []struct {
		method, path string
		body         any
		bearer       string
	}{
		{"POST", "/api/v1/auth/login", map[string]string{"email": u.email, "password": strongPassword}, ""},
		{"POST", "/api/v1/auth/register", map[string]string{"email": newEmail("failclosed-new"), "password": strongPassword}, ""},
		{"POST", "/api/v1/auth/resend-verification", map[string]string{"email": unverified}, ""},
		{"POST", "/api/v1/auth/forgot-password", map[string]string{"email": u.email}, ""},
		{"POST", "/api/v1/auth/refresh", map[string]string{"refreshToken": u.refresh}, ""},
		{"POST", "/api/v1/auth/reset-password", map[string]string{"token": "x", "newPassword": strongPassword}, ""},
		{"POST", "/api/v1/auth/change-password", map[string]string{"currentPassword": strongPassword, "newPassword": "Other-Passw0rd-4"}, u.access},
		{"GET", "/api/v1/me/data/export", nil, u.access},
		// Before the bearer check: no token, still 503.
		{"GET", "/api/v1/me/data/export", nil, ""},
	} {
		r := s.do(t, req{method: c.method, path: c.path, body: c.body, bearer: c.bearer})
		wantError(t, c.method+" "+c.path, r, http.StatusServiceUnavailable, "SERVICE_UNAVAILABLE")
	}
	if after := s.stateCounts(t); after != before {
		t.Fatalf("state changed while the limiter was down: %v -> %v", before, after)
	}
	if n := len(lim.taken()); n != 9 {
		t.Fatalf("Take calls = %d, want one per request (9)", n)
	}
	// Routes without a rule do not ask the limiter and keep working.
	wantJSON(t, "validate", s.do(t, req{method: "POST", path: "/api/v1/auth/validate", body: map[string]string{"token": u.access}}), http.StatusOK)
	wantJSON(t, "me/data", s.do(t, req{method: "GET", path: "/api/v1/me/data", bearer: u.access}), http.StatusOK)
}

// TestRateLimitBlocks uses the in-memory limiter with login=2/1m: the third
// login of a client is 429 RATE_LIMITED with Retry-After (= X-Retry-After =
// retryAfterSec) and does no work even with the right password; the first
// blocked request writes one RATE_LIMIT_EXCEEDED event; other clients are
// counted apart (IPv6 per /64); the next window admits again. Routes sharing
// a rule share a bucket.
//
// Negative controls (tried): in RateLimited, drop the `if !res.Allowed {
// ... return }` block and the third login answers 200; skip the
// `if res.FirstBlocked` audit and no RATE_LIMIT_EXCEEDED event is written.
func TestRateLimitBlocks(t *testing.T) {
	clock := &testClock{}
	rules := authapi.DefaultRateLimits()
	rules["login"] = ratelimit.Rule{Limit: 2, Window: time.Minute}
	rules["email"] = ratelimit.Rule{Limit: 1, Window: time.Hour}
	s := newTestServer(t, testOptions{Limiter: ratelimit.NewMemory(clock.now), Rules: rules})
	id, email := s.verifiedUser(t, "ratelimit")
	login := func(addr, pw string) resp {
		return s.do(t, req{method: "POST", path: "/api/v1/auth/login", remoteAddr: addr,
			body: map[string]string{"email": email, "password": pw}})
	}
	sessions := func() int { return s.count(t, `SELECT count(*) FROM auth_sessions WHERE user_id = ?`, id) }

	wantError(t, "login 1", login(clientAddr, "Wrong-Passw0rd-1"), http.StatusUnauthorized, "INVALID_CREDENTIALS")
	wantError(t, "login 2", login(clientAddr, "Wrong-Passw0rd-2"), http.StatusUnauthorized, "INVALID_CREDENTIALS")
	for i := 3; i <= 4; i++ {
		r := login(clientAddr, strongPassword)
		wantError(t, "login "+strconv.Itoa(i), r, http.StatusTooManyRequests, "RATE_LIMITED")
		secs, err := strconv.Atoi(r.Header.Get("Retry-After"))
		if err != nil || secs < 1 || secs > 60 {
			t.Fatalf("login %d: Retry-After %q, want 1..60 seconds", i, r.Header.Get("Retry-After"))
		}
		if r.Header.Get("X-Retry-After") != r.Header.Get("Retry-After") || r.obj()["retryAfterSec"] != float64(secs) {
			t.Fatalf("login %d: X-Retry-After %q / retryAfterSec %v differ from Retry-After %d", i,
				r.Header.Get("X-Retry-After"), r.obj()["retryAfterSec"], secs)
		}
	}
	if n := sessions(); n != verifySessions {
		t.Fatalf("a blocked login with the right password created %d sessions", n-verifySessions)
	}
	if n := s.count(t, `SELECT count(*) FROM auth_login_attempts`); n != 2 {
		t.Fatalf("login attempts = %d, want the 2 admitted failures only", n)
	}
	if n := s.count(t, `SELECT count(*) FROM auth_security_events WHERE event_type = 'RATE_LIMIT_EXCEEDED'`); n != 1 {
		t.Fatalf("RATE_LIMIT_EXCEEDED events = %d, want 1 per blocked window", n)
	}

	// Another IPv4 client is counted apart; IPv6 clients by /64.
	wantJSON(t, "other IPv4 client", login("198.51.100.7:1", strongPassword), http.StatusOK)
	wantJSON(t, "IPv6 a", login("[2001:db8:0:1::1]:1", strongPassword), http.StatusOK)
	wantJSON(t, "IPv6 b, same /64", login("[2001:db8:0:1::2]:1", strongPassword), http.StatusOK)
	wantError(t, "IPv6 c, same /64", login("[2001:db8:0:1:ffff::3]:1", strongPassword), http.StatusTooManyRequests, "RATE_LIMITED")
	wantJSON(t, "IPv6, another /64", login("[2001:db8:0:2::1]:1", strongPassword), http.StatusOK)

	// The next window admits the first client again.
	clock.skip(time.Minute)
	wantJSON(t, "next window", login(clientAddr, strongPassword), http.StatusOK)

	// resend-verification and forgot-password share "email" (limit 1).
	wantJSON(t, "resend", s.do(t, req{method: "POST", path: "/api/v1/auth/resend-verification", body: map[string]string{"email": email}}), http.StatusOK)
	wantError(t, "forgot after resend", s.do(t, req{method: "POST", path: "/api/v1/auth/forgot-password", body: map[string]string{"email": email}}),
		http.StatusTooManyRequests, "RATE_LIMITED")
}

// TestRateLimitOnlyRuledRoutes: the limiter is asked once per request of a
// route with a rule, under "<rule>:<client>", and never for any other route;
// a rule missing from the rules is not counted.
//
// Negative control (tried): in RateLimited, ignore `!limited || !ok` (count
// every route) and the unruled requests show up in the limiter's keys.
func TestRateLimitOnlyRuledRoutes(t *testing.T) {
	lim := &fakeLimiter{}
	rules := authapi.DefaultRateLimits()
	delete(rules, "export")
	s := newTestServer(t, testOptions{Limiter: lim, Rules: rules})
	u := s.loggedIn(t, "counted") // register + login: counted below after reset
	lim.reset()

	unruled := []req{
		{method: "POST", path: "/api/v1/auth/validate", body: map[string]string{"token": u.access}},
		{method: "POST", path: "/api/v1/auth/logout", body: map[string]string{}},
		{method: "GET", path: "/api/v1/auth/session", bearer: u.access},
		{method: "GET", path: "/api/v1/auth/profile", bearer: u.access},
		{method: "GET", path: "/api/v1/auth/signup-status"},
		{method: "GET", path: "/api/auth/verify-email?token=x"},
		{method: "GET", path: "/api/auth/reset-password/x"},
		{method: "GET", path: "/api/v1/auth/jwks"},
		{method: "GET", path: "/health"},
		{method: "GET", path: "/api/v1/me/data", bearer: u.access},
		{method: "GET", path: "/api/v1/me/sessions", bearer: u.access},
		{method: "GET", path: "/api/v1/me/encryption-vault/status", bearer: u.access},
		{method: "POST", path: "/api/v1/auth/logout-all", bearer: "garbage"},
		{method: "GET", path: "/api/v1/me/unknown"},
		{method: "GET", path: "/no/such/route"},
		// "export" has a route but no rule here.
		{method: "GET", path: "/api/v1/me/data/export", bearer: u.access},
	}
	for _, q := range unruled {
		s.do(t, q)
	}
	if keys := lim.taken(); len(keys) != 0 {
		t.Fatalf("routes without a rule were counted: %v", keys)
	}

	ruled := []struct {
		q   req
		key string
	}{
		{req{method: "POST", path: "/api/v1/auth/login", body: map[string]string{}}, "login"},
		{req{method: "POST", path: "/api/v1/auth/register", body: map[string]string{}}, "register"},
		{req{method: "POST", path: "/api/v1/auth/resend-verification", body: map[string]string{}}, "email"},
		{req{method: "POST", path: "/api/v1/auth/forgot-password", body: map[string]string{}}, "email"},
		{req{method: "POST", path: "/api/v1/auth/refresh", body: map[string]string{}}, "refresh"},
		{req{method: "POST", path: "/api/v1/auth/reset-password", body: map[string]string{}}, "password"},
		{req{method: "POST", path: "/api/v1/auth/change-password", body: map[string]string{}}, "password"},
	}
	for _, c := range ruled {
		lim.reset()
		s.do(t, c.q)
		want := c.key + ":192.0.2.10"
		if keys := lim.taken(); len(keys) != 1 || keys[0] != want {
			t.Fatalf("%s %s: limiter keys %v, want [%s]", c.q.method, c.q.path, keys, want)
		}
	}
}

// TestRateLimitAuditFailsClosed: the first blocked request of a window must
// write its RATE_LIMIT_EXCEEDED event; when that write fails the answer is
// 503, not 429 (and never the route's own answer). Later blocked requests of
// the window need no write and stay 429 with the store down.
//
// Negative control (tried): skip the `if res.FirstBlocked` audit in
// RateLimited and the first request answers 429 instead of 503.
func TestRateLimitAuditFailsClosed(t *testing.T) {
	lim := &fakeLimiter{}
	s := newTestServer(t, testOptions{Limiter: lim})
	s.store.failAfter(0)
	login := req{method: "POST", path: "/api/v1/auth/login", body: map[string]string{"email": "a@example.com", "password": "x"}}

	lim.result = &ratelimit.Result{Allowed: false, Count: 21, RetryAfter: 30 * time.Second, FirstBlocked: true}
	wantError(t, "first blocked, audit down", s.do(t, login), http.StatusServiceUnavailable, "SERVICE_UNAVAILABLE")

	lim.result = &ratelimit.Result{Allowed: false, Count: 22, RetryAfter: 29500 * time.Millisecond}
	r := s.do(t, login)
	wantError(t, "later blocked, store down", r, http.StatusTooManyRequests, "RATE_LIMITED")
	if r.Header.Get("Retry-After") != "30" {
		t.Fatalf("Retry-After %q, want 29.5 s rounded up to 30", r.Header.Get("Retry-After"))
	}
}

// TestUntrustedForwardedForWarnsOnce (audit I9): X-Forwarded-For from a peer
// that is not a trusted proxy is ignored, and the operator is told once.
// Negative control: without the warning in client() the log stays silent.
func TestUntrustedForwardedForWarnsOnce(t *testing.T) {
	var logs lockedLog
	s := newTestServer(t, testOptions{LogTo: &logs})
	for range 3 {
		s.do(t, req{method: "POST", path: "/api/v1/auth/login", header: http.Header{"X-Forwarded-For": {"198.51.100.7"}},
			body: map[string]string{"email": "nobody@example.com", "password": "Wrong-Passw0rd-1"}})
	}
	if n := strings.Count(logs.String(), "not a trusted proxy"); n != 1 {
		t.Fatalf("warnings = %d, want 1:\n%s", n, logs.String())
	}
}

type lockedLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
