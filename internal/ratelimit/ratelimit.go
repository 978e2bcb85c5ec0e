// Package ratelimit counts requests per client in fixed windows, in Redis when
// configured (shared by every replica) or in process memory otherwise.
//
// A fixed window is enough here: the limits are coarse abuse brakes in front
// of the exact, per-account lockout, which lives in the database. Blocked
// requests are counted too, so a client that keeps hammering stays blocked
// until the window ends instead of being let through in bursts.
package ratelimit

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Rule allows Limit requests per Window.
type Rule struct {
	Limit  int
	Window time.Duration
}

func (r Rule) String() string { return fmt.Sprintf("%d/%s", r.Limit, r.Window) }

// Result is the outcome of taking one request from a bucket.
type Result struct {
	Allowed bool
	// Count is the number of requests in the current window, this one included.
	Count int
	// RetryAfter is how long until the window ends.
	RetryAfter time.Duration
	// FirstBlocked is true for exactly one request per blocked window: the
	// one that crossed the limit. Callers audit that one, not every request
	// of a flood (which would turn the audit table into the attack's target).
	FirstBlocked bool
}

// Limiter takes one request from the bucket key under rule. An error means
// the count could not be taken; callers fail closed.
type Limiter interface {
	Take(ctx context.Context, key string, rule Rule) (Result, error)
}

func result(count int, rule Rule, retryAfter time.Duration) Result {
	if retryAfter <= 0 {
		retryAfter = rule.Window
	}
	return Result{Allowed: count <= rule.Limit, Count: count, RetryAfter: retryAfter, FirstBlocked: count == rule.Limit+1}
}

// Rules maps rule names (login, register, ...) to their limits.
type Rules map[string]Rule

// String lists the rules in a stable order, in the syntax ParseRules reads.
func (rs Rules) String() string {
	names := make([]string, 0, len(rs))
	for n := range rs {
		names = append(names, n)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, n := range names {
		r := rs[n]
		parts[i] = n + "=" + strconv.Itoa(r.Limit) + "/" + r.Window.String()
	}
	return strings.Join(parts, ",")
}

// ParseRules applies overrides written as "name=N/duration,..." (for example
// "login=20/1m,register=20/1h") to a copy of defaults. Only names present in
// defaults are accepted, so a typo cannot silently leave a limit unchanged.
func ParseRules(defaults Rules, overrides string) (Rules, error) {
	out := make(Rules, len(defaults))
	for k, v := range defaults {
		out[k] = v
	}
	for _, item := range strings.Split(overrides, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		name, spec, ok := strings.Cut(item, "=")
		if !ok {
			return nil, fmt.Errorf("%q: want name=N/duration", item)
		}
		name = strings.TrimSpace(name)
		if _, known := defaults[name]; !known {
			return nil, fmt.Errorf("%q: unknown rule %q (known: %s)", item, name, defaults)
		}
		n, window, ok := strings.Cut(strings.TrimSpace(spec), "/")
		if !ok {
			return nil, fmt.Errorf("%q: want name=N/duration", item)
		}
		limit, err := strconv.Atoi(n)
		if err != nil || limit < 1 {
			return nil, fmt.Errorf("%q: limit must be a positive integer", item)
		}
		d, err := time.ParseDuration(window)
		if err != nil || d < time.Second {
			return nil, fmt.Errorf("%q: window must be a Go duration of at least 1s (like 10s, 1m, 1h)", item)
		}
		out[name] = Rule{Limit: limit, Window: d}
	}
	return out, nil
}
