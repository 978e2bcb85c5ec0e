package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/mana/mana/internal/config"
	"github.com/mana/mana/internal/httpx"
	"github.com/mana/mana/internal/migrate"
	"github.com/mana/mana/internal/notify"
	"github.com/mana/mana/internal/notify/delivery"
	"github.com/mana/mana/internal/notify/mailer"
	"github.com/mana/mana/internal/notify/metrics"
	"github.com/mana/mana/internal/notify/store"
)

const (
	// notifyMaxConns: the API needs a few connections, River's producer,
	// notifier and five email workers the rest.
	notifyMaxConns = 10
	// emailWorkers is how many emails are sent at once (contract §7.4).
	emailWorkers = 5
	// riverStopTimeout lets in-flight sends finish on shutdown before their
	// contexts are cancelled; a cancelled job is retried by the next process.
	riverStopTimeout = 15 * time.Second
	// retryBaseEnv configures delivery.Worker.RetryBase (our addition).
	retryBaseEnv = "NOTIFY_EMAIL_RETRY_BASE"
)

// serveNotify runs mana-notify until ctx is cancelled.
func serveNotify(ctx context.Context, log *slog.Logger, look config.Lookup) (err error) {
	started := time.Now()
	log = log.With("service", "mana-notify")

	cfg, err := config.LoadNotify(look)
	if err != nil {
		return fmt.Errorf("mana-notify configuration: %w", err)
	}
	retryBase, err := durationSetting(look, retryBaseEnv, delivery.DefaultRetryBase)
	if err != nil {
		return fmt.Errorf("mana-notify configuration: %w", err)
	}
	smtp, err := mailer.New(mailer.Config{
		Host: cfg.SMTPHost, Port: cfg.SMTPPort, User: cfg.SMTPUser, Password: cfg.SMTPPassword,
		From: cfg.SMTPFrom, InsecureTLS: cfg.SMTPInsecureTLS,
	})
	if err != nil {
		return fmt.Errorf("mana-notify configuration: SMTP_HOST/SMTP_PORT/SMTP_FROM: %w", err)
	}

	pool, err := openPool(ctx, cfg.DatabaseURL, notifyMaxConns)
	if err != nil {
		return err
	}
	defer pool.Close()

	applied, err := migrate.Up(ctx, pool, migrate.Notify)
	if err != nil {
		return fmt.Errorf("migrate notify schema: %w", err)
	}
	if len(applied) > 0 {
		log.Info("applied migrations", "migrations", applied)
	}

	met := metrics.New()
	st := store.New(pool)
	workers := river.NewWorkers()
	if err := river.AddWorkerSafely(workers, delivery.NewWorker(st, smtp, met, log, retryBase)); err != nil {
		return fmt.Errorf("register delivery worker: %w", err)
	}
	jobs, err := river.NewClient(riverpgxv5.New(pool), &river.Config{
		Schema: migrate.RiverSchema,
		// Only our queue: mana-auth's queue lives in the same schema and
		// its jobs must never be fetched here.
		Queues:  map[string]river.QueueConfig{delivery.Queue: {MaxWorkers: emailWorkers}},
		Workers: workers,
		Logger:  log,
	})
	if err != nil {
		return fmt.Errorf("create job client: %w", err)
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
		"smtp_tls", smtp.TLSMode().String(), "smtp_auth", cfg.SMTPUser != "", "email_retry_base", retryBase.String())
	handler := notify.NewHandler(notify.Config{
		Store: st, Jobs: jobs, Metrics: met, Log: log,
		ServiceKey: cfg.ServiceKey, CORSOrigins: cfg.CORSOrigins, Started: started,
	})
	return httpx.Serve(ctx, log, fmt.Sprintf(":%d", cfg.Port), handler, func() {
		log.Info("mana-notify ready", "startup_ms", time.Since(started).Milliseconds())
	})
}

// stopJobs stops River gracefully, then cancels what is still running when
// that takes longer than riverStopTimeout.
func stopJobs(ctx context.Context, log *slog.Logger, jobs *river.Client[pgx.Tx]) error {
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
