package config

import (
	"strings"
	"testing"
)

func TestAuthRedis(t *testing.T) {
	cases := []struct {
		name string
		env  Lookup
		want string
	}{
		{"none", env(), ""},
		{"url", env("REDIS_URL", "redis://:pw@cache:6380/2"), "redis://:pw@cache:6380/2"},
		{"seed names", env("REDIS_HOST", "cache", "REDIS_PORT", "6380", "REDIS_PASSWORD", "p w"), "redis://:p%20w@cache:6380"},
		{"host only", env("REDIS_HOST", "::1"), "redis://[::1]:6379"},
	}
	for _, c := range cases {
		cfg, err := LoadAuth(c.env)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if cfg.Redis.URL != c.want || cfg.Redis.Enabled() != (c.want != "") {
			t.Errorf("%s: Redis = %+v, want URL %q", c.name, cfg.Redis, c.want)
		}
	}
	for _, bad := range []Lookup{env("REDIS_URL", "cache:6379"), env("REDIS_URL", "http://cache"), env("REDIS_HOST", "c", "REDIS_PORT", "x")} {
		if _, err := LoadAuth(bad); err == nil || !strings.Contains(err.Error(), "REDIS_") {
			t.Errorf("want a REDIS_ error, got %v", err)
		}
	}
}

// Negative control: without the production check, rate limiting could be
// switched off in production by one variable.
func TestRateLimitsOffRefusedInProduction(t *testing.T) {
	_, err := LoadAuth(env("NODE_ENV", "production", "DATABASE_URL", "postgres://x/y", "MANA_SERVICE_KEY", "s",
		"MANA_AUTH_KEK", testKEK, "MANA_RATE_LIMITS", "off"))
	if err == nil || !strings.Contains(err.Error(), "MANA_RATE_LIMITS") {
		t.Fatalf("want a MANA_RATE_LIMITS error, got %v", err)
	}
	c, err := LoadAuth(env("MANA_RATE_LIMITS", "off"))
	if err != nil || c.RateLimits != "off" {
		t.Fatalf("development: %+v, %v", c.RateLimits, err)
	}
}
