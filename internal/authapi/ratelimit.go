package authapi

import (
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"github.com/mana/mana/internal/auth"
	"github.com/mana/mana/internal/ratelimit"
)

// DefaultRateLimits are the per-client limits (DESIGN §5.9). They are abuse
// brakes in front of the exact per-account lockout: generous enough for a
// household or office behind one address, tight enough that spraying one
// password over many accounts stalls (ASVS LK-09). Override them with
// MANA_RATE_LIMITS.
func DefaultRateLimits() ratelimit.Rules {
	return ratelimit.Rules{
		"login":    {Limit: 20, Window: time.Minute},
		"register": {Limit: 20, Window: time.Hour},
		"email":    {Limit: 10, Window: time.Hour},
		"refresh":  {Limit: 120, Window: time.Minute},
		"password": {Limit: 10, Window: 15 * time.Minute},
		"export":   {Limit: 10, Window: time.Hour},
	}
}

// rateLimitedRoutes names the rule each route pattern counts against. Routes
// sharing a rule share a bucket: every mail-sending route draws on "email".
func rateLimitedRoutes() map[string]string {
	return map[string]string{
		"POST /api/v1/auth/login":               "login",
		"POST /api/auth/sign-in/email":          "login",
		"POST /api/v1/auth/register":            "register",
		"POST /api/auth/sign-up/email":          "register",
		"POST /api/v1/auth/resend-verification": "email",
		"POST /api/v1/auth/forgot-password":     "email",
		"POST /api/v1/auth/refresh":             "refresh",
		"POST /api/v1/auth/session-to-token":    "refresh",
		"POST /api/v1/auth/reset-password":      "password",
		"POST /api/v1/auth/change-password":     "password",
		"GET /api/v1/me/data/export":            "export",
	}
}

// RateLimited wraps mux so that routes with a rule are counted per client
// before they do any work. With a nil limiter it returns mux unchanged.
// It fails closed: when the count cannot be taken (Redis down) the request
// is refused with 503 rather than let through uncounted.
func (a *API) RateLimited(mux *http.ServeMux, limiter ratelimit.Limiter, rules ratelimit.Rules) http.Handler {
	if limiter == nil {
		return mux
	}
	routes := rateLimitedRoutes()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, pattern := mux.Handler(r)
		name, limited := routes[pattern]
		rule, ok := rules[name]
		if !limited || !ok {
			mux.ServeHTTP(w, r)
			return
		}
		c := a.client(r)
		res, err := limiter.Take(r.Context(), name+":"+clientBucket(c.IP), rule)
		if err != nil {
			a.fail(w, r, pattern, fmt.Errorf("%w: %w", auth.ErrUnavailable, err))
			return
		}
		if res.FirstBlocked {
			if err := a.svc.RecordRateLimited(r.Context(), c, name, rule.Limit, rule.Window); err != nil {
				a.fail(w, r, pattern, err)
				return
			}
		}
		if !res.Allowed {
			secs := int((res.RetryAfter + time.Second - 1) / time.Second)
			w.Header().Set("Retry-After", strconv.Itoa(secs))
			w.Header().Set("X-Retry-After", strconv.Itoa(secs))
			apiError{status: http.StatusTooManyRequests, code: "RATE_LIMITED", message: "Too many requests. Please try again later.",
				extra: map[string]any{"retryAfterSec": secs}}.write(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// clientBucket is the counting key of a client address: the address itself
// for IPv4, its /64 for IPv6 (one subscriber usually holds a whole /64, so
// per-address counting would be trivially evaded).
func clientBucket(ip string) string {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	addr = addr.Unmap()
	if addr.Is4() {
		return addr.String()
	}
	p, err := addr.Prefix(64)
	if err != nil {
		return addr.String()
	}
	return p.String()
}
