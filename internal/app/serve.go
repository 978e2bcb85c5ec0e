// Package app assembles Mana's parts into the running services: one set of
// constructors (the backend, the auth part, the notify part) composed three
// ways, for `mana serve` (both services, one process, one port), `mana serve
// auth` and `mana serve notify`; the in-process adapters between the two
// services; and the operator commands' work. Nothing here is a rule of
// either service: those live in internal/auth and internal/notify.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/riverqueue/river"

	"github.com/mana/mana/internal/auth/outbox"
	"github.com/mana/mana/internal/config"
	"github.com/mana/mana/internal/httpx"
	"github.com/mana/mana/internal/notify"
	"github.com/mana/mana/internal/notify/delivery"
	"github.com/mana/mana/internal/notify/mailcapture"
	"github.com/mana/mana/internal/notify/metrics"
	"github.com/mana/mana/internal/store/pg"
)

const (
	// serveMaxConns: auth's API, notify's API and one River client for both.
	serveMaxConns = 30
	// authMaxConns, notifyMaxConns: the pools of the split services; notify's
	// River producer, notifier and five email workers need their share.
	authMaxConns   = 20
	notifyMaxConns = 20
	// outboxWorkers hand auth's mail to notify.
	outboxWorkers = 4
	// requestWorkers decide forgot-password and resend requests.
	requestWorkers = 2
	// outboxTimeout bounds one hand-off to notify over HTTP.
	outboxTimeout = 15 * time.Second
)

// ServeAll is `mana serve`: auth and notify in one process on one port, one
// /health, one /metrics; auth's mail is handed to notify and notify's tokens
// are checked by auth in-process. stderr gets the start-up block.
func ServeAll(ctx context.Context, log *slog.Logger, look config.Lookup, stderr func(string)) (err error) {
	started := time.Now()
	log = log.With("service", "mana")
	limit := memoryLimit(log, look)
	cfg, err := config.LoadServe(look)
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	if cfg.Notify.ServiceKey, err = serviceKey(log, cfg.Notify.ServiceKey, cfg.DataDir, cfg.Auth.Production); err != nil {
		return err
	}
	if cfg.Auth.ServiceKey, err = serviceKey(log, cfg.Auth.ServiceKey, cfg.DataDir, cfg.Auth.Production); err != nil {
		return err
	}
	// One River client works every queue. Workers are registered once the
	// client exists (the stores insert their jobs through it); River reads
	// the bundle when it starts.
	workers := river.NewWorkers()
	queues := allQueues()
	dsn := ""
	if cfg.DatabaseSet {
		dsn = cfg.Auth.DatabaseURL
	}
	be, err := openBackend(ctx, log, backendOptions{databaseURL: dsn, dataDir: cfg.DataDir, maxConns: serveMaxConns,
		migrate: []pg.Component{pg.Auth, pg.Notify}, queues: queues, workers: workers, policies: notifyPolicies(cfg.Notify)})
	if err != nil {
		return err
	}
	defer be.close()
	mail, mailWhere, capture, err := serveMailer(cfg, log)
	if err != nil {
		return err
	}

	// One registry: notify's (with the Go and process collectors) takes
	// auth's collectors too, so nothing is registered twice.
	a, n, err := buildBoth(ctx, log, cfg, be, mail, started)
	if err != nil {
		return err
	}
	defer a.close()
	followHashing(a, limit)
	if err := allWorkers(workers, log, a, n); err != nil {
		return err
	}
	handler := allRoutes(log, cfg, a, n, capture)

	if err := be.jobs.Start(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("start job client: %w", err)
	}
	defer func() {
		if stopErr := stopJobs(ctx, log, be.jobs); stopErr != nil {
			err = errors.Join(err, stopErr)
		}
	}()
	block := startupBlock{
		URL: cfg.LocalURL, Data: be.where, Mail: mailWhere,
		Unmet: productionChecklist(checklistFacts{
			DevKEK: cfg.Auth.KEKIsDevDefault, NoSMTP: capture != nil, SQLite: be.sqlite,
			DefaultServiceKey: cfg.Notify.ServiceKey == config.DefaultServiceKey,
			Production:        cfg.Auth.Production, HTTPSBaseURL: strings.HasPrefix(cfg.Auth.BaseURL, "https://"),
			RateLimitsOff: cfg.Auth.RateLimits == "off",
		}),
	}
	return httpx.ServeWithAdmin(ctx, log, config.ListenAddr(cfg.Auth.Host, cfg.Auth.Port, cfg.Auth.Production), handler,
		cfg.Auth.MetricsAddr, adminRoutes(n.metrics.Handler()), func() {
			log.Info("mana ready", "startup_ms", time.Since(started).Milliseconds())
			stderr(block.String())
		})
}

// buildBoth builds the two parts of `mana serve` on one backend: notify's
// registry takes auth's collectors, and notify's JWT routes ask auth
// in-process.
func buildBoth(ctx context.Context, log *slog.Logger, cfg config.Serve, be backend, mail delivery.Mailer,
	started time.Time) (authPart, notifyPart, error) {
	met := metrics.New()
	a, err := newAuthPart(ctx, log.With("part", "auth"), cfg.Auth, be.auth, met.Registry(), true)
	if err != nil {
		return authPart{}, notifyPart{}, err
	}
	n, err := newNotifyPart(ctx, log.With("part", "notify"), cfg.Notify, be.notify, met, mail,
		inProcessUsers{auth: a.service}, a.ring, started)
	if err != nil {
		a.close()
		return authPart{}, notifyPart{}, err
	}
	return a, n, nil
}

// memoryBeyondHashing is the Go runtime's soft memory limit when GOMEMLIMIT
// is not set, beyond the working memory the hashing slots keep for good
// (19 MiB each for argon2id, 32 MiB once a slot has verified a Better Auth
// scrypt hash; password.Hasher reports it). Under a flood of logins the
// waiting requests' connections and buffers come on top, and by default the
// collector lets the heap double before it runs: 1,000 concurrent logins
// peaked at 150 MiB resident without a limit, 114 MiB with 58 MiB + two
// argon2id slots. A fixed limit below the slots' memory plus the flood's
// would keep the collector running without end (the rollback window's
// scrypt slots did: a login's CPU tripled), hence the limit follows the
// slots. A soft limit: the collector works harder near it, it never kills
// the process.
const memoryBeyondHashing = 58 << 20

// memoryLimit sets the soft memory limit to memoryBeyondHashing unless
// GOMEMLIMIT is set, and returns the function that raises it by the
// hashing slots' memory as it grows (nil when GOMEMLIMIT rules).
func memoryLimit(log *slog.Logger, look config.Lookup) func(hashingBytes int) {
	if config.MemoryLimitSet(look) {
		return nil
	}
	set := func(hashingBytes int) {
		limit := int64(memoryBeyondHashing) + int64(hashingBytes)
		debug.SetMemoryLimit(limit)
		log.Info("Go memory limit", "bytes", limit, "hashing_bytes", hashingBytes, "from", "default (GOMEMLIMIT unset)")
	}
	set(0)
	return set
}

// followHashing lets the memory limit follow the hashing slots' memory.
func followHashing(a authPart, limit func(int)) {
	if limit != nil {
		a.hasher.OnMemoryGrowth(limit)
	}
}

// allQueues are the queues of `mana serve`'s one job client: notify's and auth's.
func allQueues() map[string]river.QueueConfig {
	queues := notifyQueues()
	for name, q := range authQueues() {
		queues[name] = q
	}
	return queues
}

// authQueues are auth's queues: mail hand-offs and account requests.
func authQueues() map[string]river.QueueConfig {
	return map[string]river.QueueConfig{outbox.Queue: {MaxWorkers: outboxWorkers}, outbox.RequestQueue: {MaxWorkers: requestWorkers}}
}

// allWorkers registers `mana serve`'s workers on its one job client:
// notify's delivery, the in-process hand-off of auth's mail and auth's
// account requests.
func allWorkers(workers *river.Workers, log *slog.Logger, a authPart, n notifyPart) error {
	if err := errors.Join(
		river.AddWorkerSafely(workers, n.worker),
		river.AddWorkerSafely(workers, &outbox.Worker{Via: handOff{notify: n.service}, Opener: a.ring, Log: log}),
		river.AddWorkerSafely(workers, &outbox.RequestWorker{Handler: a.service, Log: log}),
	); err != nil {
		return fmt.Errorf("register workers: %w", err)
	}
	return nil
}

// allRoutes is `mana serve`'s one handler: both route sets on one mux with
// one /health, /metrics and (capture on, not in production) /dev/mail,
// behind request ids, the access log, CORS and auth's rate limits.
func allRoutes(log *slog.Logger, cfg config.Serve, a authPart, n notifyPart, capture *mailcapture.Capture) http.Handler {
	mux := http.NewServeMux()
	a.api.Routes(mux)
	n.api.Mount(mux)
	if cfg.Auth.MetricsAddr == "" {
		mux.Handle("GET /metrics", httpx.MetricsGuard(cfg.Auth.MetricsToken, n.metrics.Handler()))
	}
	health := healthHandler(log, checksOf(a.api, n))
	mux.Handle("GET /health", health)
	mux.Handle("GET /health/ready", health)
	mux.HandleFunc("GET /health/live", func(w http.ResponseWriter, r *http.Request) {
		httpx.WriteJSON(w, r, http.StatusOK, map[string]any{"status": "ok", "service": "mana"})
	})
	if capture != nil && !cfg.Auth.Production {
		// Captured mail holds every verification and reset link: loopback only.
		mux.Handle("GET /dev/mail", httpx.LoopbackOnly(capture.Handler(log)))
	}
	origins := unionOrigins(cfg.Auth.CORSOrigins, cfg.Auth.TrustedOrigins, cfg.Notify.CORSOrigins)
	return httpx.RequestID(httpx.Logging(log, observeHTTP(n.metrics.Registry(), "mana"),
		httpx.KnownMethods(httpx.CORS(origins, authCORSHeaders, a.handler(mux)))))
}

// ServeAuth runs mana-auth on its own (`mana serve auth`) until ctx is
// cancelled; mail goes to mana-notify over HTTP.
func ServeAuth(ctx context.Context, log *slog.Logger, look config.Lookup) (err error) {
	log = log.With("service", "mana-auth")
	limit := memoryLimit(log, look)
	cfg, err := config.LoadAuth(look)
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	if cfg.ServiceKey, err = serviceKey(log, cfg.ServiceKey, cfg.DataDir, cfg.Production); err != nil {
		return err
	}
	workers := river.NewWorkers()
	// Its Opener (the KEK ring) is set once the auth part is built, before
	// the job client starts.
	mailWorker := &outbox.Worker{NotifyURL: cfg.NotifyURL, ServiceKey: cfg.ServiceKey,
		HTTP: &http.Client{Timeout: outboxTimeout}, Log: log}
	river.AddWorker(workers, mailWorker)
	requestWorker := &outbox.RequestWorker{Log: log}
	river.AddWorker(workers, requestWorker)
	// notify in its own database: a deletion's erasure goes through its API.
	river.AddWorker(workers, &outbox.EraseWorker{NotifyURL: cfg.NotifyURL, ServiceKey: cfg.ServiceKey,
		HTTP: &http.Client{Timeout: outboxTimeout}, Log: log})
	be, err := openBackend(ctx, log, backendOptions{databaseURL: cfg.DatabaseURL, maxConns: authMaxConns,
		migrate: []pg.Component{pg.Auth}, queues: authQueues(), workers: workers})
	if err != nil {
		return err
	}
	defer be.close()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	a, err := newAuthPart(ctx, log, cfg, be.auth, reg, false)
	if err != nil {
		return err
	}
	defer a.close()
	followHashing(a, limit)
	mailWorker.Opener = a.ring
	requestWorker.Handler = a.service
	mux := http.NewServeMux()
	a.api.Routes(mux)
	metricsHandler := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	if cfg.MetricsAddr == "" {
		mux.Handle("GET /metrics", httpx.MetricsGuard(cfg.MetricsToken, metricsHandler))
	}
	handler := httpx.RequestID(httpx.Logging(log, observeHTTP(reg, "mana_auth"),
		httpx.KnownMethods(httpx.CORS(unionOrigins(cfg.CORSOrigins, cfg.TrustedOrigins), authCORSHeaders, a.handler(mux)))))

	// Started without ctx's cancellation: cancelling Start's context is a hard
	// stop; stopJobs first lets in-flight hand-offs to notify finish.
	if err := be.jobs.Start(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("start job client: %w", err)
	}
	serveErr := httpx.ServeWithAdmin(ctx, log, config.ListenAddr(cfg.Host, cfg.Port, cfg.Production), handler,
		cfg.MetricsAddr, adminRoutes(metricsHandler), nil)
	return errors.Join(serveErr, stopJobs(ctx, log, be.jobs))
}

// ServeNotify runs mana-notify on its own (`mana serve notify`) until ctx is
// cancelled; it checks end users' tokens against mana-auth over HTTP.
func ServeNotify(ctx context.Context, log *slog.Logger, look config.Lookup) (err error) {
	started := time.Now()
	log = log.With("service", "mana-notify")
	memoryLimit(log, look) // no hashing slots
	cfg, err := config.LoadNotify(look)
	if err != nil {
		return fmt.Errorf("mana-notify configuration: %w", err)
	}
	if cfg.ServiceKey, err = serviceKey(log, cfg.ServiceKey, cfg.DataDir, cfg.Production); err != nil {
		return err
	}
	smtp, err := newSMTP(cfg)
	if err != nil {
		return err
	}
	// Only our queues: mana-auth's queue lives in the same schema and its
	// jobs must never be fetched here.
	workers := river.NewWorkers()
	be, err := openBackend(ctx, log, backendOptions{databaseURL: cfg.DatabaseURL, maxConns: notifyMaxConns,
		migrate: []pg.Component{pg.Notify}, queues: notifyQueues(), workers: workers, policies: notifyPolicies(cfg)})
	if err != nil {
		return err
	}
	defer be.close()
	keys, err := notifyKeys(cfg)
	if err != nil {
		return err
	}
	n, err := newNotifyPart(ctx, log, cfg, be.notify, metrics.New(), smtp, remoteUsers(cfg), keys, started)
	if err != nil {
		return err
	}
	if err := river.AddWorkerSafely(workers, n.worker); err != nil {
		return fmt.Errorf("register delivery worker: %w", err)
	}
	// Started without ctx's cancellation: cancelling Start's context is a
	// hard stop, while shutdown below first lets in-flight sends finish.
	if err := be.jobs.Start(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("start job client: %w", err)
	}
	defer func() {
		if stopErr := stopJobs(ctx, log, be.jobs); stopErr != nil {
			err = errors.Join(err, stopErr)
		}
	}()
	log.Info("mana-notify starting", "port", cfg.Port, "smtp_host", cfg.SMTPHost, "smtp_port", cfg.SMTPPort,
		"smtp_tls", smtp.TLSMode().String(), "smtp_auth", cfg.SMTPUser != "", "email_retry_base", cfg.EmailRetryBase.String(),
		"expo_push_url", cfg.ExpoPushURL)
	return httpx.ServeWithAdmin(ctx, log, config.ListenAddr(cfg.Host, cfg.Port, cfg.Production), n.api.Handler(),
		cfg.MetricsAddr, adminRoutes(n.metrics.Handler()), func() {
			log.Info("mana-notify ready", "startup_ms", time.Since(started).Milliseconds())
		})
}

// serveMailer is SMTP when SMTP_HOST is set, else the local capture under
// the data directory (config refuses that in production).
func serveMailer(cfg config.Serve, log *slog.Logger) (delivery.Mailer, string, *mailcapture.Capture, error) {
	if cfg.SMTPSet {
		smtp, err := newSMTP(cfg.Notify)
		if err != nil {
			return nil, "", nil, err
		}
		return smtp, fmt.Sprintf("sent by SMTP via %s:%d (%s)", cfg.Notify.SMTPHost, cfg.Notify.SMTPPort, smtp.TLSMode()), nil, nil
	}
	capture, err := mailcapture.New(filepath.Join(cfg.DataDir, "mail"), cfg.Notify.SMTPFrom, log)
	if err != nil {
		return nil, "", nil, err
	}
	return capture, "captured locally in " + capture.Dir() + ", shown at " + cfg.LocalURL + "/dev/mail", capture, nil
}

// handOff delivers auth's outbox mail through notify's Service in the same
// process: the same acceptance as POST /notifications/send (idempotent by
// externalId, stored with its delivery job in one transaction), without
// HTTP. The outbox job completes only after that transaction committed; a
// mail notify refuses for what it is cancels the job instead of retrying.
type handOff struct {
	notify *notify.Service
}

// Deliver implements outbox.Deliverer.
func (h handOff) Deliver(ctx context.Context, m outbox.MailArgs) error {
	_, err := h.notify.Accept(ctx, m.Message())
	if notify.Rejected(err) {
		return outbox.Permanent(err)
	}
	return err
}

// healthChecks are the checks of `mana serve`'s /health, one per part.
type healthChecks struct {
	AuthDatabase, NotifyDatabase, NotifyQueue func(context.Context) error
	// Cutover is the cut-over state ("window" or "finalized"); nil: not reported.
	Cutover func(context.Context) (string, error)
}

// checksOf are the real checks: a query on each part's store and on the queue.
func checksOf(authPart interface {
	Ping(context.Context) error
	CutoverState(context.Context) (string, error)
}, n notifyPart) healthChecks {
	return healthChecks{
		AuthDatabase:   authPart.Ping,
		Cutover:        authPart.CutoverState,
		NotifyDatabase: n.store.Ping,
		NotifyQueue: func(ctx context.Context) error {
			_, err := n.store.Stats(ctx, delivery.Queues())
			return err
		},
	}
}

// healthHandler answers for both parts: 200 only when every check passes.
func healthHandler(log *slog.Logger, c healthChecks) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		authErr, notifyErr, queueErr := c.AuthDatabase(ctx), c.NotifyDatabase(ctx), c.NotifyQueue(ctx)
		state, stateErr := "", error(nil)
		if c.Cutover != nil {
			state, stateErr = c.Cutover(ctx)
		}
		status, code := "ok", http.StatusOK
		if err := errors.Join(authErr, notifyErr, queueErr, stateErr); err != nil {
			log.ErrorContext(r.Context(), "health check failed", "err", err)
			status, code = "unhealthy", http.StatusServiceUnavailable
		}
		body := map[string]any{"status": status, "service": "mana", "timestamp": time.Now().UTC(),
			"checks": map[string]any{
				"auth":   map[string]bool{"database": authErr == nil},
				"notify": map[string]bool{"database": notifyErr == nil, "queue": queueErr == nil},
			}}
		if state != "" {
			body["cutover"] = state
		}
		httpx.WriteJSON(w, r, code, body)
	})
}

func unionOrigins(lists ...[]string) []string {
	seen := map[string]bool{}
	var out []string
	for _, l := range lists {
		for _, o := range l {
			if !seen[o] {
				seen[o] = true
				out = append(out, o)
			}
		}
	}
	return out
}

// adminRoutes are the operator's routes of METRICS_ADDR: /metrics and Go's
// profiler. That listener has no guard of its own: its address is the
// operator's to keep private.
func adminRoutes(metrics http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics)
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}
