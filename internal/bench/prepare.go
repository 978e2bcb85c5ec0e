package bench

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// poolEmail is the address of pool user i (1-based). Seeded users follow
// the same pattern, so a login pool can be drawn from them too.
func poolEmail(prefix string, i int) string { return fmt.Sprintf("%s%d@bench.test", prefix, i) }

// prepare builds one op per worker for the load modes.
func prepare(ctx context.Context, cfg Config, c *client, log *slog.Logger) ([]op, error) {
	ops := make([]op, cfg.Concurrency)
	if cfg.Mode == ModeSignup {
		run := time.Now().UnixNano()
		for i := range ops {
			n := 0
			ops[i] = func(ctx context.Context) error {
				n++
				return c.register(ctx, fmt.Sprintf("bench-su-%d-%d-%d@bench.test", run, i, n), cfg.Password)
			}
		}
		return ops, nil
	}
	if err := EnsurePool(ctx, cfg, c, log); err != nil {
		return nil, err
	}
	if cfg.Mode == ModeLogin {
		for i := range ops {
			rng := rand.New(rand.NewPCG(uint64(i), uint64(time.Now().UnixNano())))
			ops[i] = func(ctx context.Context) error {
				_, err := c.login(ctx, poolEmail(cfg.PoolPrefix, 1+rng.IntN(cfg.PoolSize)), cfg.Password)
				return err
			}
		}
		return ops, nil
	}
	// validate, me, refresh: each worker signs in as its own pool user once,
	// before the warm-up, and then uses that session.
	for i := range ops {
		email := poolEmail(cfg.PoolPrefix, 1+i%cfg.PoolSize)
		t, err := c.login(ctx, email, cfg.Password)
		if err != nil {
			return nil, fmt.Errorf("bench: sign in %s for %s: %w", email, cfg.Mode, err)
		}
		switch cfg.Mode {
		case ModeValidate:
			ops[i] = func(ctx context.Context) error { return c.validate(ctx, t.AccessToken) }
		case ModeMe:
			ops[i] = func(ctx context.Context) error { return c.me(ctx, t.AccessToken) }
		case ModeRefresh:
			ops[i] = func(ctx context.Context) error {
				next, err := c.refresh(ctx, t.RefreshToken)
				if err != nil {
					// The chain is broken (or the answer lost): start a new
					// session so the worker goes on measuring refreshes. The
					// failure itself is counted by the caller.
					if again, lerr := c.login(ctx, email, cfg.Password); lerr == nil {
						t = again
					}
					return err
				}
				t = next
				return nil
			}
		}
	}
	return ops, nil
}

// EnsurePool makes sure PoolSize users named by PoolPrefix exist and are
// verified: the missing ones are registered through the API (so their
// credentials are real argon2id hashes) and then marked verified by SQL
// instead of following the mailed links.
func EnsurePool(ctx context.Context, cfg Config, c *client, log *slog.Logger) error {
	if cfg.DatabaseURL == "" {
		return fmt.Errorf("bench: mode %s needs -database-url to verify its pool users", cfg.Mode)
	}
	if cfg.PoolSize < 1 {
		return fmt.Errorf("bench: pool size %d, want >= 1", cfg.PoolSize)
	}
	conn, err := pgx.Connect(ctx, cfg.DatabaseURL)
	if err != nil {
		return fmt.Errorf("bench: connect to database: %w", err)
	}
	defer func() { _ = conn.Close(context.WithoutCancel(ctx)) }()
	want := make([]string, cfg.PoolSize)
	for i := range want {
		want[i] = poolEmail(cfg.PoolPrefix, i+1)
	}
	rows, err := conn.Query(ctx, `SELECT email FROM auth.users WHERE email = ANY($1)`, want)
	if err != nil {
		return fmt.Errorf("bench: list pool users: %w", err)
	}
	have, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("bench: list pool users: %w", err)
	}
	exists := make(map[string]bool, len(have))
	for _, e := range have {
		exists[e] = true
	}
	var missing []string
	for _, e := range want {
		if !exists[e] {
			missing = append(missing, e)
		}
	}
	if len(missing) > 0 {
		log.Info("registering pool users", "count", len(missing), "prefix", cfg.PoolPrefix)
		if err := registerAll(ctx, c, missing, cfg.Password); err != nil {
			return err
		}
	}
	if _, err := conn.Exec(ctx, `UPDATE auth.users SET email_verified = true WHERE email LIKE 'bench-%' AND NOT email_verified`); err != nil {
		return fmt.Errorf("bench: verify pool users: %w", err)
	}
	return nil
}

// registerAll registers emails with a few requests in flight: the server
// hashes at most one password per CPU anyway.
func registerAll(ctx context.Context, c *client, emails []string, pw string) error {
	ch := make(chan string)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	for range 4 {
		wg.Go(func() {
			for e := range ch {
				if err := c.register(ctx, e, pw); err != nil {
					mu.Lock()
					if first == nil {
						first = fmt.Errorf("bench: register %s: %w", e, err)
					}
					mu.Unlock()
				}
			}
		})
	}
	for _, e := range emails {
		select {
		case ch <- e:
		case <-ctx.Done():
		}
	}
	close(ch)
	wg.Wait()
	if first == nil && ctx.Err() != nil {
		first = fmt.Errorf("bench: registering pool: %w", ctx.Err())
	}
	return first
}
