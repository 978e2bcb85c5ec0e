package ratelimit

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// takeScript counts one request and starts the window on the first: INCR and
// PEXPIRE in one atomic step, so a crash between them cannot leave a counter
// without expiry (which would block its key forever).
var takeScript = redis.NewScript(`
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {n, ttl}
`)

// Redis is a Limiter shared by every process using the same Redis.
type Redis struct {
	client redis.Scripter
	prefix string
}

// NewRedis counts in client under keys starting with prefix.
func NewRedis(client redis.Scripter, prefix string) *Redis {
	return &Redis{client: client, prefix: prefix}
}

// Take implements Limiter.
func (r *Redis) Take(ctx context.Context, key string, rule Rule) (Result, error) {
	vals, err := takeScript.Run(ctx, r.client, []string{r.prefix + key}, rule.Window.Milliseconds()).Int64Slice()
	if err != nil {
		return Result{}, fmt.Errorf("rate limit %s: redis: %w", key, err)
	}
	if len(vals) != 2 {
		return Result{}, fmt.Errorf("rate limit %s: redis answered %d values, want 2", key, len(vals))
	}
	return result(int(vals[0]), rule, time.Duration(vals[1])*time.Millisecond), nil
}
