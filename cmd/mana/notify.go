package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/mana/mana/internal/config"
	"github.com/mana/mana/internal/httpx"
	"github.com/mana/mana/internal/migrate"
	"github.com/mana/mana/internal/notify"
	"github.com/mana/mana/internal/notify/delivery"
	"github.com/mana/mana/internal/notify/jwtauth"
	"github.com/mana/mana/internal/notify/mailer"
	"github.com/mana/mana/internal/notify/metrics"
	"github.com/mana/mana/internal/notify/push"
	"github.com/mana/mana/internal/notify/render"
	"github.com/mana/mana/internal/notify/store"
	"github.com/mana/mana/internal/notify/webhook"
)

const (
	// notifyMaxConns: the API needs a few connections, River's producer,
	// notifier and five email workers the rest.
	notifyMaxConns = 20
	// Workers per channel (contract §7.4): email 5, push 10, webhook 10.
	emailWorkers   = 5
	pushWorkers    = 10
	webhookWorkers = 10
	// riverStopTimeout lets in-flight sends finish on shutdown before their
	// contexts are cancelled; a cancelled job is retried by the next process.
	riverStopTimeout = 15 * time.Second
	// notifyFetchCooldown: see the River config below.
	notifyFetchCooldown = 10 * time.Millisecond
	// First retry delays per channel (our addition); each retry doubles.
	retryBaseEnv        = "NOTIFY_EMAIL_RETRY_BASE"
	pushRetryBaseEnv    = "NOTIFY_PUSH_RETRY_BASE"
	webhookRetryBaseEnv = "NOTIFY_WEBHOOK_RETRY_BASE"
	// jwksRefetchEnv bounds JWKS refetches caused by unknown kids.
	jwksRefetchEnv = "NOTIFY_JWKS_REFETCH_INTERVAL"
)

// notifyPolicies reads the retry policy of every channel.
func notifyPolicies(look config.Lookup, cfg config.Notify) (delivery.Policies, error) {
	def := delivery.DefaultPolicies()
	email, err1 := durationSetting(look, retryBaseEnv, def[store.ChannelEmail].RetryBase)
	pushBase, err2 := durationSetting(look, pushRetryBaseEnv, def[store.ChannelPush].RetryBase)
	hookBase, err3 := durationSetting(look, webhookRetryBaseEnv, def[store.ChannelWebhook].RetryBase)
	if err := errors.Join(err1, err2, err3); err != nil {
		return nil, err
	}
	return delivery.Policies{
		store.ChannelEmail:   {MaxAttempts: cfg.EmailMaxAttempts, RetryBase: email},
		store.ChannelPush:    {MaxAttempts: cfg.PushMaxAttempts, RetryBase: pushBase},
		store.ChannelWebhook: {MaxAttempts: cfg.WebhookMaxAttempts, RetryBase: hookBase},
	}, nil
}

// serveNotify runs mana-notify until ctx is cancelled.
func serveNotify(ctx context.Context, log *slog.Logger, look config.Lookup) (err error) {
	started := time.Now()
	log = log.With("service", "mana-notify")

	cfg, err := config.LoadNotify(look)
	if err != nil {
		return fmt.Errorf("mana-notify configuration: %w", err)
	}
	smtp, err := newSMTP(cfg)
	if err != nil {
		return err
	}
	pool, err := openPool(ctx, cfg.DatabaseURL, notifyMaxConns)
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := migrateUp(ctx, log, pool, migrate.Notify); err != nil {
		return fmt.Errorf("migrate notify schema: %w", err)
	}
	// The worker is registered after the client exists: the store needs the
	// client to insert jobs in its transactions and the worker needs the
	// store. River reads the bundle when it starts.
	workers := river.NewWorkers()
	// Only our queues: mana-auth's queue lives in the same schema and its
	// jobs must never be fetched here.
	jobs, err := newJobClient(pool, log, notifyQueues(), workers)
	if err != nil {
		return err
	}
	policies, err := notifyPolicies(look, cfg)
	if err != nil {
		return fmt.Errorf("mana-notify configuration: %w", err)
	}
	st := store.New(pool, delivery.Enqueuer(jobs, policies))
	n, err := newNotifyParts(ctx, log, look, cfg, notifyStores{store: st, stats: pgQueueStats(st)}, policies, smtp)
	if err != nil {
		return err
	}
	if err := river.AddWorkerSafely(workers, n.worker); err != nil {
		return fmt.Errorf("register delivery worker: %w", err)
	}
	// Started without ctx's cancellation: cancelling Start's context is a
	// hard stop, while shutdown below first lets in-flight sends finish.
	if err := jobs.Start(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("start job client: %w", err)
	}
	defer func() {
		if stopErr := stopJobs(ctx, log, jobs); stopErr != nil {
			err = errors.Join(err, stopErr)
		}
	}()

	log.Info("mana-notify starting", "port", cfg.Port, "smtp_host", cfg.SMTPHost, "smtp_port", cfg.SMTPPort,
		"smtp_tls", smtp.TLSMode().String(), "smtp_auth", cfg.SMTPUser != "", "email_retry_base", n.policies[store.ChannelEmail].RetryBase.String(),
		"expo_push_url", cfg.ExpoPushURL)
	hc := n.handlerConfig(started)
	hc.CORSOrigins = cfg.CORSOrigins
	return httpx.Serve(ctx, log, fmt.Sprintf(":%d", cfg.Port), notify.NewHandler(hc), func() {
		log.Info("mana-notify ready", "startup_ms", time.Since(started).Milliseconds())
	})
}

// newSMTP is the mailer of SMTP_HOST/SMTP_PORT/SMTP_FROM.
func newSMTP(cfg config.Notify) (*mailer.SMTP, error) {
	smtp, err := mailer.New(mailer.Config{
		Host: cfg.SMTPHost, Port: cfg.SMTPPort, User: cfg.SMTPUser, Password: cfg.SMTPPassword,
		From: cfg.SMTPFrom, InsecureTLS: cfg.SMTPInsecureTLS,
	})
	if err != nil {
		return nil, fmt.Errorf("mana-notify configuration: SMTP_HOST/SMTP_PORT/SMTP_FROM: %w", err)
	}
	return smtp, nil
}

// notifyQueues are mana-notify's River queues with their worker counts.
func notifyQueues() map[string]river.QueueConfig {
	return map[string]river.QueueConfig{
		delivery.Queue:        {MaxWorkers: emailWorkers},
		delivery.PushQueue:    {MaxWorkers: pushWorkers},
		delivery.WebhookQueue: {MaxWorkers: webhookWorkers},
	}
}

// newJobClient is a River client on pool working queues with workers.
func newJobClient(pool *pgxpool.Pool, log *slog.Logger, queues map[string]river.QueueConfig, workers *river.Workers) (*river.Client[pgx.Tx], error) {
	jobs, err := river.NewClient(riverpgxv5.New(pool), &river.Config{
		Schema:  migrate.RiverSchema,
		Queues:  queues,
		Workers: workers,
		Logger:  log,
		// River fetches at most MaxWorkers jobs per fetch and waits
		// FetchCooldown (default 100 ms) between fetches, which capped email
		// at 5 per 100 ms = 50 mails/s in the load run. 10 ms lifts that cap;
		// the extra fetches happen only while jobs keep arriving.
		FetchCooldown: notifyFetchCooldown,
	})
	if err != nil {
		return nil, fmt.Errorf("create job client: %w", err)
	}
	return jobs, nil
}

// notifyStores is mana-notify's persistence, on Postgres or SQLite (both
// pass internal/notify/store/storetest): the store, which inserts delivery
// jobs in its own transactions, and the backlog reader for metrics.
type notifyStores struct {
	store interface {
		notify.Store
		delivery.Store
		SeedSystemTemplates(ctx context.Context, ts []store.NewTemplate) error
	}
	stats func(context.Context) (metrics.QueueStats, error)
}

// pgQueueStats reads the backlog of notify's queues in River's Postgres schema.
func pgQueueStats(st *store.Store) func(context.Context) (metrics.QueueStats, error) {
	return func(ctx context.Context) (metrics.QueueStats, error) {
		s, err := st.Stats(ctx, migrate.RiverSchema, delivery.Queues())
		return metrics.QueueStats(s), err
	}
}

// notifyParts is mana-notify built on its stores: metrics, retry policies
// and the delivery worker.
type notifyParts struct {
	log         *slog.Logger
	cfg         config.Notify
	stores      notifyStores
	metrics     *metrics.Notify
	policies    delivery.Policies
	worker      *delivery.Worker
	jwksRefetch time.Duration
	outbound    *http.Client
}

// newNotifyParts builds mana-notify on its stores (built with the same
// policies); mail is what email goes through (the SMTP mailer, or the local
// capture of `mana serve`). The caller registers n.worker with the job
// client's bundle.
func newNotifyParts(ctx context.Context, log *slog.Logger, look config.Lookup, cfg config.Notify, ns notifyStores,
	policies delivery.Policies, mail delivery.Mailer) (notifyParts, error) {
	jwksRefetch, err := durationSetting(look, jwksRefetchEnv, 10*time.Second)
	if err != nil {
		return notifyParts{}, fmt.Errorf("mana-notify configuration: %w", err)
	}
	met := metrics.New()
	st := ns.store
	if err := st.SeedSystemTemplates(ctx, render.SystemTemplates()); err != nil {
		return notifyParts{}, fmt.Errorf("seed system templates: %w", err)
	}
	if err := met.WatchQueue(ns.stats); err != nil {
		return notifyParts{}, err
	}
	if cfg.WebhookSecret == "" {
		log.Warn("NOTIFY_WEBHOOK_SECRET is not set: webhook notifications will fail instead of going out unsigned")
	}
	outbound := &http.Client{Timeout: 30 * time.Second}
	channels := delivery.Channels{
		Mail:    mail,
		Push:    &push.Client{URL: cfg.ExpoPushURL, AccessToken: cfg.ExpoAccessToken, HTTP: outbound},
		Webhook: &webhook.Sender{Client: webhook.NewClient(cfg.WebhookAllowPrivate), Secret: []byte(cfg.WebhookSecret)},
	}
	return notifyParts{log: log, cfg: cfg, stores: ns, metrics: met, policies: policies,
		worker: delivery.NewWorker(st, channels, met, log, policies), jwksRefetch: jwksRefetch, outbound: outbound}, nil
}

// handlerConfig is the API's configuration once the job client exists.
func (n notifyParts) handlerConfig(started time.Time) notify.Config {
	return notify.Config{
		Store: n.stores.store, Metrics: n.metrics, Log: n.log,
		Users:      jwtauth.New(n.cfg.AuthURL, n.outbound, n.jwksRefetch),
		ServiceKey: n.cfg.ServiceKey, Started: started,
	}
}

// stopJobs stops River gracefully, then cancels what is still running when
// that takes longer than riverStopTimeout.
func stopJobs(ctx context.Context, log *slog.Logger, jobs jobRunner) error {
	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), riverStopTimeout)
	defer cancel()
	err := jobs.Stop(stopCtx)
	if err == nil {
		log.Info("job client stopped")
		return nil
	}
	log.Warn("job client did not stop in time; cancelling running jobs", "err", err, "timeout", riverStopTimeout.String())
	hardCtx, hardCancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer hardCancel()
	if hardErr := jobs.StopAndCancel(hardCtx); hardErr != nil {
		return fmt.Errorf("stop job client: %w", errors.Join(err, hardErr))
	}
	return nil
}

// durationSetting reads a positive Go duration (e.g. "5s") from name.
func durationSetting(look config.Lookup, name string, def time.Duration) (time.Duration, error) {
	v, _ := look(name)
	v = strings.TrimSpace(v)
	if v == "" { // empty counts as unset, as for every other variable
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%s: must be a positive Go duration such as 5s or 500ms, got %q", name, v)
	}
	return d, nil
}
