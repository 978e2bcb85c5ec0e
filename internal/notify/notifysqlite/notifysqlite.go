// Package notifysqlite assembles mana-notify's persistence and durable job
// queue on the embedded SQLite backend: the SQLite store, River on the same
// file (riversqlite), and the delivery worker, wired so the store inserts
// each delivery job in its own transaction.
//
// Limits of the backend: one process per data file. The handle has one
// connection and every transaction takes the write lock at BEGIN
// (sqlitedb.Open), which serialises everything inside this process; a second
// process on the same file gets none of the Postgres guarantees (advisory
// locks, row locks, LISTEN/NOTIFY).
package notifysqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riversqlite"

	"github.com/mana/mana/internal/notify/delivery"
	"github.com/mana/mana/internal/notify/metrics"
	"github.com/mana/mana/internal/notify/render"
	"github.com/mana/mana/internal/notify/store/sqlitestore"
)

// Workers per channel, as the Postgres service (contract §7.4). Sending holds
// no database connection, so they do not compete for SQLite's one.
const (
	emailWorkers   = 5
	pushWorkers    = 10
	webhookWorkers = 10
	// fetchPollInterval: SQLite has no LISTEN/NOTIFY, so jobs inserted by
	// this process wake the worker at once (River's local trigger) and the
	// poll only finds jobs that became due (scheduled, retries).
	fetchPollInterval = 200 * time.Millisecond
	fetchCooldown     = 10 * time.Millisecond
)

// Config is what New needs besides the database.
type Config struct {
	Channels delivery.Channels
	Metrics  *metrics.Notify
	Log      *slog.Logger
	// Policies are the retry rules; nil is delivery.DefaultPolicies().
	Policies delivery.Policies
}

// Backend is mana-notify's persistence on SQLite. Store goes to
// notify.Config.Store; Jobs must be started (Start) for delivery to run and
// stopped (Stop) before the database is closed.
type Backend struct {
	Store *sqlitestore.Store
	Jobs  *river.Client[*sql.Tx]
}

// New builds the backend on db, which must be opened with sqlitedb.Open and
// migrated with sqlitedb.Migrate(ctx, db, sqlitedb.Notify) (that also creates
// River's tables). It seeds the system templates, as the Postgres service
// does at start. Nothing runs until Jobs.Start.
func New(ctx context.Context, db *sql.DB, cfg Config) (*Backend, error) {
	if cfg.Policies == nil {
		cfg.Policies = delivery.DefaultPolicies()
	}
	if cfg.Metrics == nil || cfg.Log == nil {
		return nil, errors.New("notifysqlite: Metrics and Log are required")
	}
	// The worker is added after the client exists: the store needs the
	// client to insert jobs and the worker needs the store. River reads the
	// bundle when it starts.
	workers := river.NewWorkers()
	jobs, err := river.NewClient(riversqlite.New(db), &river.Config{
		Queues: map[string]river.QueueConfig{
			delivery.Queue:        {MaxWorkers: emailWorkers},
			delivery.PushQueue:    {MaxWorkers: pushWorkers},
			delivery.WebhookQueue: {MaxWorkers: webhookWorkers},
		},
		Workers:           workers,
		Logger:            cfg.Log,
		FetchCooldown:     fetchCooldown,
		FetchPollInterval: fetchPollInterval,
	})
	if err != nil {
		return nil, fmt.Errorf("notify job client on sqlite: %w", err)
	}
	st := sqlitestore.New(db, delivery.Enqueuer(jobs, cfg.Policies))
	if err := river.AddWorkerSafely(workers, delivery.NewWorker(st, cfg.Channels, cfg.Metrics, cfg.Log, cfg.Policies)); err != nil {
		return nil, fmt.Errorf("register delivery worker: %w", err)
	}
	if err := st.SeedSystemTemplates(ctx, render.SystemTemplates()); err != nil {
		return nil, fmt.Errorf("seed system templates: %w", err)
	}
	return &Backend{Store: st, Jobs: jobs}, nil
}

// QueueStats reads the backlog for metrics.Notify.WatchQueue.
func (b *Backend) QueueStats(ctx context.Context) (metrics.QueueStats, error) {
	s, err := b.Store.Stats(ctx, delivery.Queues())
	return metrics.QueueStats(s), err
}
