package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/mana/mana/internal/authapi"
	"github.com/mana/mana/internal/config"
	"github.com/mana/mana/internal/ratelimit"
)

// rateLimiter builds the per-client limiter of mana-auth: shared counters in
// Redis when it is configured (and reachable at start), per-process counters
// otherwise, none when MANA_RATE_LIMITS=off. close releases the Redis client.
func rateLimiter(ctx context.Context, log *slog.Logger, cfg config.Auth) (l ratelimit.Limiter, rules ratelimit.Rules, close func(), err error) {
	close = func() {}
	if cfg.RateLimits == "off" {
		log.Warn("rate limiting is OFF (MANA_RATE_LIMITS=off): use this for load tests only")
		return nil, nil, close, nil
	}
	rules, err = ratelimit.ParseRules(authapi.DefaultRateLimits(), cfg.RateLimits)
	if err != nil {
		return nil, nil, close, fmt.Errorf("MANA_RATE_LIMITS: %w", err)
	}
	if !cfg.Redis.Enabled() {
		log.Info("rate limits counted per process (set REDIS_URL or REDIS_HOST to share them across replicas)", "rules", rules.String())
		return ratelimit.NewMemory(nil), rules, close, nil
	}
	opts, err := redis.ParseURL(cfg.Redis.URL)
	if err != nil {
		return nil, nil, close, fmt.Errorf("REDIS_URL: %w", err)
	}
	// Short timeouts: a request waits on Redis before it does any work, and
	// a stalled Redis must turn into a fast 503, not a pile of hung logins.
	opts.DialTimeout, opts.ReadTimeout, opts.WriteTimeout = 2*time.Second, time.Second, time.Second
	client := redis.NewClient(opts)
	pingCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := client.Ping(pingCtx).Err(); err != nil {
		client.Close() //nolint:errcheck // the ping error is the one reported
		return nil, nil, close, fmt.Errorf("redis (rate limits) at %s: %w", opts.Addr, err)
	}
	log.Info("rate limits shared in redis", "addr", opts.Addr, "rules", rules.String())
	return ratelimit.NewRedis(client, "mana:rl:"), rules, func() {
		if err := client.Close(); err != nil {
			log.Error("close redis client", "err", err)
		}
	}, nil
}
