package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riversqlite"

	"github.com/mana/mana/internal/config"
	"github.com/mana/mana/internal/migrate"
	"github.com/mana/mana/internal/notify/delivery"
	"github.com/mana/mana/internal/notify/metrics"
	"github.com/mana/mana/internal/notify/store"
	"github.com/mana/mana/internal/notify/store/sqlitestore"
	"github.com/mana/mana/internal/outbox"
	"github.com/mana/mana/internal/store/pg"
	"github.com/mana/mana/internal/store/sqlite"
	"github.com/mana/mana/internal/store/sqlitedb"
)

const (
	// serveMaxConns: auth's API, notify's API and one River client for both.
	serveMaxConns = 30
	// sqliteFile is the database of `mana serve` without DATABASE_URL.
	sqliteFile = "mana.db"
	// sqlitePollInterval: SQLite has no LISTEN/NOTIFY; jobs inserted by this
	// process wake the workers at once, the poll finds jobs that became due
	// (scheduled sends, retries).
	sqlitePollInterval = 200 * time.Millisecond
)

// jobRunner is the River client of either backend, as far as starting and
// stopping go.
type jobRunner interface {
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
	StopAndCancel(ctx context.Context) error
}

// backend is the persistence of `mana serve`: both services' stores and the
// one job client working every queue, on PostgreSQL (DATABASE_URL) or on an
// embedded SQLite file under MANA_DATA_DIR.
type backend struct {
	auth   authStores
	notify notifyStores
	jobs   jobRunner
	// where says, for people, where the data lives (no password).
	where string
	// sqlite is true for the embedded database (production checklist).
	sqlite bool
	close  func()
}

// openBackend opens and migrates the database and builds the job client
// (working queues with workers, which the caller fills before Start) and
// the stores, which insert their jobs through it in their own transactions.
func openBackend(ctx context.Context, log *slog.Logger, look config.Lookup, dataDir string,
	queues map[string]river.QueueConfig, workers *river.Workers, policies delivery.Policies) (backend, error) {
	if dsn, _ := look("DATABASE_URL"); strings.TrimSpace(dsn) != "" {
		return openPostgres(ctx, log, dsn, queues, workers, policies)
	}
	return openSQLite(ctx, log, dataDir, queues, workers, policies)
}

func openPostgres(ctx context.Context, log *slog.Logger, dsn string,
	queues map[string]river.QueueConfig, workers *river.Workers, policies delivery.Policies) (backend, error) {
	pool, err := openPool(ctx, dsn, serveMaxConns)
	if err != nil {
		return backend{}, err
	}
	if err := migrateUp(ctx, log, pool, migrate.Auth, migrate.Notify); err != nil {
		pool.Close()
		return backend{}, err
	}
	jobs, err := newJobClient(pool, log.With("component", "river"), queues, workers)
	if err != nil {
		pool.Close()
		return backend{}, err
	}
	notifyStore := store.New(pool, delivery.Enqueuer(jobs, policies))
	return backend{
		auth:   authStores{store: pg.New(pool, outbox.NewEnqueuer(jobs).Enqueue), vaults: pg.NewVaultStore(pool)},
		notify: notifyStores{store: notifyStore, stats: pgQueueStats(notifyStore)},
		jobs:   jobs,
		where:  "PostgreSQL " + redactURL(dsn),
		close:  pool.Close,
	}, nil
}

// openSQLite opens dataDir/mana.db, holding dataDir's lock for the life of
// the process: SQLite gives none of Postgres's cross-process guarantees, so
// a second process on the same data is refused rather than allowed to race.
func openSQLite(ctx context.Context, log *slog.Logger, dataDir string,
	queues map[string]river.QueueConfig, workers *river.Workers, policies delivery.Policies) (be backend, err error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return backend{}, fmt.Errorf("MANA_DATA_DIR: %w", err)
	}
	unlock, err := lockDataDir(dataDir)
	if err != nil {
		return backend{}, err
	}
	file := filepath.Join(dataDir, sqliteFile)
	db, err := sqlitedb.Open(ctx, file)
	if err != nil {
		return backend{}, errors.Join(err, unlock())
	}
	closeAll := func() {
		if err := errors.Join(db.Close(), unlock()); err != nil {
			log.Error("close sqlite database", "file", file, "err", err)
		}
	}
	defer func() {
		if err != nil {
			closeAll()
		}
	}()
	applied, err := sqlitedb.Migrate(ctx, db, sqlitedb.Auth, sqlitedb.Notify)
	if err != nil {
		return backend{}, err
	}
	if len(applied) > 0 {
		log.Info("applied migrations", "migrations", applied, "file", file)
	}
	jobs, err := newSQLiteJobClient(db, log.With("component", "river"), queues, workers)
	if err != nil {
		return backend{}, err
	}
	notifyStore := sqlitestore.New(db, delivery.Enqueuer(jobs, policies))
	return backend{
		auth: authStores{store: sqlite.New(db, outbox.NewEnqueuer(jobs).Enqueue), vaults: sqlite.NewVaultStore(db)},
		notify: notifyStores{store: notifyStore, stats: func(ctx context.Context) (metrics.QueueStats, error) {
			s, err := notifyStore.Stats(ctx, delivery.Queues())
			return metrics.QueueStats(s), err
		}},
		jobs:   jobs,
		where:  "SQLite " + file,
		sqlite: true,
		close:  closeAll,
	}, nil
}

// newSQLiteJobClient is River on the SQLite file (no schema there).
func newSQLiteJobClient(db *sql.DB, log *slog.Logger, queues map[string]river.QueueConfig, workers *river.Workers) (*river.Client[*sql.Tx], error) {
	jobs, err := river.NewClient(riversqlite.New(db), &river.Config{
		Queues:            queues,
		Workers:           workers,
		Logger:            log,
		FetchCooldown:     notifyFetchCooldown,
		FetchPollInterval: sqlitePollInterval,
	})
	if err != nil {
		return nil, fmt.Errorf("create job client on sqlite: %w", err)
	}
	return jobs, nil
}

// commandSQLite opens the SQLite data of `mana serve` for an operator
// command (`kek rotate`, `notify retry`) when DATABASE_URL is not set and
// MANA_DATA_DIR (default ./mana-data) holds a database; ok is false
// otherwise, and the command uses PostgreSQL as before. It takes the data
// directory's lock, so it refuses to run while `mana serve` is running
// there: SQLite is one process at a time.
func commandSQLite(ctx context.Context, look config.Lookup) (db *sql.DB, closeDB func() error, ok bool, err error) {
	if dsn, _ := look("DATABASE_URL"); strings.TrimSpace(dsn) != "" {
		return nil, nil, false, nil
	}
	dataDir, err := filepath.Abs(setting(look, "MANA_DATA_DIR", defaultDataDir))
	if err != nil {
		return nil, nil, false, fmt.Errorf("MANA_DATA_DIR: %w", err)
	}
	file := filepath.Join(dataDir, sqliteFile)
	if _, err := os.Stat(file); errors.Is(err, os.ErrNotExist) {
		return nil, nil, false, nil
	} else if err != nil {
		return nil, nil, false, fmt.Errorf("MANA_DATA_DIR: %w", err)
	}
	unlock, err := lockDataDir(dataDir)
	if err != nil {
		return nil, nil, false, fmt.Errorf("%w (stop `mana serve` first)", err)
	}
	db, err = sqlitedb.Open(ctx, file)
	if err != nil {
		return nil, nil, false, errors.Join(err, unlock())
	}
	// The service migrates at start; a command on an older file brings it
	// up to date first (nothing else can be using it: we hold the lock).
	if _, err := sqlitedb.Migrate(ctx, db, sqlitedb.Auth, sqlitedb.Notify); err != nil {
		return nil, nil, false, errors.Join(err, db.Close(), unlock())
	}
	return db, func() error { return errors.Join(db.Close(), unlock()) }, true, nil
}
