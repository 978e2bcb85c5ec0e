package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/mana/mana/internal/auth"
	"github.com/mana/mana/internal/authapi"
	"github.com/mana/mana/internal/config"
	"github.com/mana/mana/internal/httpx"
	"github.com/mana/mana/internal/kek"
	"github.com/mana/mana/internal/kekrotate"
	"github.com/mana/mana/internal/migrate"
	"github.com/mana/mana/internal/outbox"
	"github.com/mana/mana/internal/password"
	"github.com/mana/mana/internal/password/policy"
	"github.com/mana/mana/internal/ratelimit"
	"github.com/mana/mana/internal/store/pg"
	"github.com/mana/mana/internal/token"
	"github.com/mana/mana/internal/vault"
)

func serveAuth(ctx context.Context, log *slog.Logger, look config.Lookup) error {
	log = log.With("service", "mana-auth")
	cfg, err := config.LoadAuth(look)
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	pool, err := openPool(ctx, cfg.DatabaseURL, 20)
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := migrateUp(ctx, log, pool, migrate.Auth); err != nil {
		return err
	}

	workers := river.NewWorkers()
	river.AddWorker(workers, &outbox.Worker{NotifyURL: cfg.NotifyURL, ServiceKey: cfg.ServiceKey,
		HTTP: &http.Client{Timeout: 15 * time.Second}, Log: log})
	jobs, err := river.NewClient(riverpgxv5.New(pool), &river.Config{
		Schema:  migrate.RiverSchema,
		Queues:  map[string]river.QueueConfig{outbox.Queue: {MaxWorkers: 4}},
		Workers: workers,
		Logger:  log.With("component", "river"),
	})
	if err != nil {
		return fmt.Errorf("job client: %w", err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	a, err := newAuthAPI(ctx, log, look, cfg, authStores{
		store: pg.New(pool, outbox.NewEnqueuer(jobs).Enqueue), vaults: pg.NewVaultStore(pool)}, reg, false)
	if err != nil {
		return err
	}
	defer a.close()
	mux := http.NewServeMux()
	a.api.Routes(mux)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	handler := httpx.RequestID(httpx.Logging(log, observeHTTP(reg, "mana_auth"),
		httpx.CORS(cfg.CORSOrigins, authCORSHeaders, a.api.RateLimited(mux, a.limiter, a.rules))))

	// Started without ctx's cancellation: cancelling Start's context is a hard
	// stop; stopJobs first lets in-flight hand-offs to notify finish.
	if err := jobs.Start(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("start job client: %w", err)
	}
	serveErr := httpx.Serve(ctx, log, fmt.Sprintf(":%d", cfg.Port), handler, nil)
	return errors.Join(serveErr, stopJobs(ctx, log, jobs))
}

// authCORSHeaders are the request headers browsers may send to auth.
const authCORSHeaders = "Content-Type, Authorization, X-Service-Key, X-App-Id"

// authStores is mana-auth's persistence, on Postgres or SQLite (the
// conformance suite in internal/store/storetest holds both to one contract).
type authStores struct {
	store interface {
		auth.Store
		token.KeyStore
	}
	vaults interface {
		vault.Store
		kekrotate.Store
	}
}

// authParts is mana-auth built on its stores.
type authParts struct {
	api     *authapi.API
	limiter ratelimit.Limiter
	rules   ratelimit.Rules
	close   func()
}

// newAuthAPI builds mana-auth's API on its stores: KEK ring (refusing to
// start while a retired KEK still wraps rows), tokens, service, rate limiter.
// The stores enqueue outbox mail in their own transactions.
func newAuthAPI(ctx context.Context, log *slog.Logger, look config.Lookup, cfg config.Auth, st authStores,
	reg *prometheus.Registry, omitHealth bool) (authParts, error) {
	if cfg.KEKIsDevDefault {
		log.Warn("mana-auth: USING DEV KEK (32 zero bytes). Secrets at rest are NOT protected. Set MANA_AUTH_KEK (base64 of 32 random bytes) before storing real data.")
	}
	ring, err := kek.NewRing(cfg.KEK, cfg.PreviousKEKs...)
	if err != nil {
		return authParts{}, fmt.Errorf("MANA_AUTH_KEK / MANA_AUTH_KEK_PREVIOUS: %w", err)
	}
	store, vaults := st.store, st.vaults
	// A KEK still wrapping rows must not leave the ring: refuse to start,
	// saying how many rows need it and how to rotate them away.
	if err := kekrotate.CheckRing(ctx, vaults, ring); err != nil {
		return authParts{}, fmt.Errorf("KEK ring: %w", err)
	}
	log.Info("KEK ring ready", "active_kek_id", ring.ActiveID(), "kek_ids", ring.IDs())

	var betterAuthSecret string
	if v, ok := look("BETTER_AUTH_SECRET"); ok {
		betterAuthSecret = v
	}
	tokens, err := token.NewIssuer(ctx, token.Config{Store: store, Ring: ring, Issuer: cfg.BaseURL, Audience: cfg.JWTAudience,
		BetterAuthSecret: betterAuthSecret, Log: log})
	if err != nil {
		return authParts{}, err
	}
	pwPolicy, err := policy.New(cfg.PasswordMinLength)
	if err != nil {
		return authParts{}, fmt.Errorf("MANA_PASSWORD_MIN_LENGTH: %w", err)
	}
	svc := auth.NewService(auth.Config{
		Store: store, Hasher: password.NewHasher(password.OWASP, cfg.MaxConcurrentHashes), Tokens: tokens,
		BaseURL: cfg.BaseURL, Callbacks: auth.NewCallbackPolicy(append([]string{cfg.BaseURL}, cfg.CORSOrigins...)...),
		Lockout: auth.DefaultLockout, Policy: pwPolicy, MaxDailySignups: cfg.MaxDailySignups, Log: log,
	})
	limiter, rules, closeLimiter, err := rateLimiter(ctx, log, cfg)
	if err != nil {
		return authParts{}, err
	}
	api := authapi.New(authapi.Config{Service: svc, Tokens: tokens, Vault: vault.NewService(vaults, ring), Log: log,
		TrustedProxies: cfg.TrustedProxies, BaseURL: cfg.BaseURL, Registry: reg, OmitHealth: omitHealth})
	return authParts{api: api, limiter: limiter, rules: rules, close: closeLimiter}, nil
}

// migrateUp applies the components' pending migrations and logs what it applied.
func migrateUp(ctx context.Context, log *slog.Logger, pool *pgxpool.Pool, components ...migrate.Component) error {
	applied, err := migrate.Up(ctx, pool, components...)
	if err != nil {
		return err
	}
	if len(applied) > 0 {
		log.Info("applied migrations", "migrations", applied)
	}
	return nil
}

// openPool connects and proves the connection with a real query, so a wrong
// DATABASE_URL stops the process at start with the cause.
func openPool(ctx context.Context, dsn string, maxConns int32) (*pgxpool.Pool, error) {
	pc, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL: %w", err)
	}
	pc.MaxConns = maxConns
	pc.ConnConfig.ConnectTimeout = 5 * time.Second
	pc.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeCacheDescribe
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL: %w", err)
	}
	pingCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := pool.Ping(pingCtx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("DATABASE_URL: cannot reach the database: %w", err)
	}
	return pool, nil
}

// observeHTTP records request counts and latencies by route pattern (never
// by raw path, which would let clients create unbounded label values).
func observeHTTP(reg *prometheus.Registry, prefix string) httpx.Observe {
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{Name: prefix + "_http_requests_total", Help: "HTTP requests."},
		[]string{"route", "method", "status"})
	latency := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: prefix + "_http_request_duration_seconds",
		Help: "HTTP request latency.", Buckets: prometheus.DefBuckets}, []string{"route"})
	reg.MustRegister(requests, latency)
	return func(r *http.Request, pattern string, status int, d time.Duration) {
		if pattern == "" {
			pattern = "unmatched"
		}
		requests.WithLabelValues(pattern, r.Method, fmt.Sprint(status)).Inc()
		latency.WithLabelValues(pattern).Observe(d.Seconds())
	}
}
