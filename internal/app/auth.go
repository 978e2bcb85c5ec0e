package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/mana/mana/internal/audit"
	"github.com/mana/mana/internal/auth"
	"github.com/mana/mana/internal/authapi"
	"github.com/mana/mana/internal/config"
	"github.com/mana/mana/internal/httpx"
	"github.com/mana/mana/internal/kek"
	"github.com/mana/mana/internal/kekrotate"
	"github.com/mana/mana/internal/notify/jwtauth"
	"github.com/mana/mana/internal/password"
	"github.com/mana/mana/internal/password/policy"
	"github.com/mana/mana/internal/ratelimit"
	"github.com/mana/mana/internal/revocation"
	"github.com/mana/mana/internal/store/pg"
	"github.com/mana/mana/internal/token"
	"github.com/mana/mana/internal/vault"
)

// authCORSHeaders are the request headers browsers may send to auth.
const authCORSHeaders = "Content-Type, Authorization, X-Service-Key, X-App-Id"

// authPart is mana-auth built on its stores.
type authPart struct {
	api     *authapi.API
	service *auth.Service
	// hasher's slots report the memory they keep (the memory limit).
	hasher *password.Hasher
	// ring seals the outbox's mail bodies; the outbox worker opens them.
	ring    *kek.Ring
	limiter ratelimit.Limiter
	rules   ratelimit.Rules
	close   func()
}

// handler is auth's routes on mux behind the per-client rate limits.
func (a authPart) handler(mux *http.ServeMux) http.Handler {
	return a.api.RateLimited(mux, a.limiter, a.rules)
}

// newAuthPart builds mana-auth on its stores: KEK ring (refusing to start
// while a retired KEK still wraps rows), tokens, service, rate limiter, API.
func newAuthPart(ctx context.Context, log *slog.Logger, cfg config.Auth, st authStores,
	reg *prometheus.Registry, omitHealth bool) (authPart, error) {
	if cfg.KEKIsDevDefault {
		log.Warn("mana-auth: USING DEV KEK (32 zero bytes). Secrets at rest are NOT protected. Set MANA_AUTH_KEK (base64 of 32 random bytes) before storing real data.")
	}
	ring, err := kek.NewRing(cfg.KEK, cfg.PreviousKEKs...)
	if err != nil {
		return authPart{}, fmt.Errorf("MANA_AUTH_KEK / MANA_AUTH_KEK_PREVIOUS: %w", err)
	}
	// A KEK still wrapping rows must not leave the ring: refuse to start,
	// saying how many rows need it and how to rotate them away.
	if err := kekrotate.CheckRing(ctx, st.vaults, ring); err != nil {
		return authPart{}, fmt.Errorf("KEK ring: %w", err)
	}
	log.Info("KEK ring ready", "active_kek_id", ring.ActiveID(), "kek_ids", ring.IDs())

	secret, err := betterAuthSecret(log, cfg)
	if err != nil {
		return authPart{}, err
	}
	window, err := rollbackWindow(ctx, st.store)
	if err != nil {
		return authPart{}, err
	}
	if window {
		log.Warn("cut-over: the rollback window is open: mana writes only formats the old service reads (scrypt passwords, old vault wraps, session tokens as they are); `mana cutover status` tells whether going back is safe, `mana cutover finalize` ends the window")
	}
	tokens, err := token.NewIssuer(ctx, token.Config{Store: st.store, Ring: ring, Issuer: cfg.BaseURL, Audience: cfg.JWTAudience,
		BetterAuthSecret: secret, LegacyKeys: window, Log: log})
	if err != nil {
		return authPart{}, err
	}
	pwPolicy, err := policy.New(cfg.PasswordMinLength)
	if err != nil {
		return authPart{}, fmt.Errorf("MANA_PASSWORD_MIN_LENGTH: %w", err)
	}
	revocations, stopFeed := startRevocationFeed(ctx, log, st, cfg.RevocationMaxLag)
	hasher := password.NewHasher(password.OWASP, cfg.MaxConcurrentHashes)
	svc := auth.NewService(auth.Config{
		Store: st.store, Hasher: hasher, Tokens: tokens,
		BaseURL: cfg.BaseURL, Callbacks: auth.NewCallbackPolicy(append([]string{cfg.BaseURL}, cfg.CORSOrigins...)...),
		Lockout: auth.DefaultLockout, Policy: pwPolicy, MaxDailySignups: cfg.MaxDailySignups, LegacySecret: secret,
		MailSealer: ring, Revocations: revocations, Log: log,
	})
	if err := svc.RefreshTimingPadding(ctx); err != nil {
		stopFeed()
		return authPart{}, err
	}
	limiter, rules, closeLimiter, err := rateLimiter(ctx, log, cfg)
	if err != nil {
		stopFeed()
		return authPart{}, err
	}
	api := authapi.New(authapi.Config{Service: svc, Tokens: tokens, Vault: vault.NewService(st.vaults, ring), Log: log,
		TrustedProxies: cfg.TrustedProxies, BaseURL: cfg.BaseURL, BetterAuthSecret: secret, CookieDomain: cfg.CookieDomain,
		Production: cfg.Production, ReauthMaxAge: cfg.ReauthMaxAge, TrustedOrigins: append(append([]string{}, cfg.CORSOrigins...), cfg.TrustedOrigins...),
		Registry: reg, OmitHealth: omitHealth})
	stopSealer := startSealer(ctx, log, st.store, cfg.AuditSealInterval)
	return authPart{api: api, service: svc, hasher: hasher, ring: ring, limiter: limiter, rules: rules,
		close: func() { stopSealer(); stopFeed(); closeLimiter() }}, nil
}

// startRevocationFeed keeps a revocation set current on PostgreSQL, so token
// checks need no database read (issue 14); stop waits for the feed. On
// SQLite (one process, reads in-process) there is none: every check reads
// its session, and the view is nil.
func startRevocationFeed(ctx context.Context, log *slog.Logger, st authStores, maxLag time.Duration) (auth.RevocationView, func()) {
	if st.pool == nil {
		return nil, func() {}
	}
	set := revocation.NewSet(maxLag, nil)
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		pg.NewRevocationFeed(st.pool, set, maxLag, log.With("component", "revocation-feed")).Run(ctx)
	}()
	return set, func() { cancel(); <-done }
}

// startSealer runs the audit chain's sealer (audit F19) until ctx ends or the
// returned stop is called; stop waits for it, so the store outlives it. It
// writes only seals, in transactions of its own: a failure is logged and
// retried, never seen by a request.
func startSealer(ctx context.Context, log *slog.Logger, st audit.ChainStore, every time.Duration) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		audit.Sealer{Store: st, Interval: every, Log: log}.Run(ctx)
	}()
	return func() { cancel(); <-done }
}

// rollbackWindow reads the cut-over state at start (each write reads it
// again in its own transaction).
func rollbackWindow(ctx context.Context, st auth.Store) (bool, error) {
	var window bool
	err := st.InTx(ctx, func(tx auth.Tx) error {
		var err error
		window, err = tx.RollbackWindow(ctx)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("read the cut-over state: %w", err)
	}
	return window, nil
}

// betterAuthSecretFile keeps the generated development BETTER_AUTH_SECRET.
const betterAuthSecretFile = "better-auth-secret"

// betterAuthSecret is BETTER_AUTH_SECRET, or in development (where it may
// be unset) one generated once and kept in the data directory, so sessions
// survive a restart.
func betterAuthSecret(log *slog.Logger, cfg config.Auth) (string, error) {
	if cfg.BetterAuthSecret != "" {
		return cfg.BetterAuthSecret, nil
	}
	if cfg.Production {
		return "", errors.New("BETTER_AUTH_SECRET is required in production")
	}
	return devSecret(log, cfg.DataDir, betterAuthSecretFile, "BETTER_AUTH_SECRET")
}

// serviceKeyFile keeps the generated development service key.
const serviceKeyFile = "service-key"

// serviceKey is the configured service key, or in development, instead of
// the documented default, one generated per data directory (audit F7): a
// development instance reachable from elsewhere must not accept a key
// printed in the docs.
func serviceKey(log *slog.Logger, key, dataDir string, production bool) (string, error) {
	if key != config.DefaultServiceKey || production {
		return key, nil
	}
	return devSecret(log, dataDir, serviceKeyFile, "the service key (MANA_SERVICE_KEY / SERVICE_KEY)")
}

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

// inProcessUsers authenticates notify's JWT routes through the auth service
// of the same process (`mana serve`): the same verification and session
// check as /validate, without the HTTP hop to itself.
type inProcessUsers struct{ auth *auth.Service }

// Authenticate implements notifyapi.Authenticator.
func (u inProcessUsers) Authenticate(ctx context.Context, tok string) (jwtauth.User, error) {
	p, err := u.auth.Authenticate(ctx, tok)
	switch {
	case errors.Is(err, auth.ErrSessionInvalid):
		return jwtauth.User{}, jwtauth.ErrInvalid
	case err != nil:
		return jwtauth.User{}, fmt.Errorf("%w: %w", jwtauth.ErrUnavailable, err)
	}
	return jwtauth.User{ID: p.Claims.Sub, Email: p.Claims.Email, Role: p.Claims.Role, SessionID: p.Claims.Sid}, nil
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
		requests.WithLabelValues(pattern, httpx.MethodLabel(r.Method), fmt.Sprint(status)).Inc()
		latency.WithLabelValues(pattern).Observe(d.Seconds())
	}
}
