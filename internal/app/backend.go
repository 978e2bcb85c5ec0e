package app

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"

	"github.com/mana/mana/internal/audit"
	"github.com/mana/mana/internal/auth"
	"github.com/mana/mana/internal/kekrotate"
	"github.com/mana/mana/internal/notify"
	"github.com/mana/mana/internal/notify/delivery"
	"github.com/mana/mana/internal/store/pg"
	"github.com/mana/mana/internal/store/sqlite"
	"github.com/mana/mana/internal/token"
	"github.com/mana/mana/internal/vault"
)

const (
	// sqliteFile is the database of `mana serve` without DATABASE_URL.
	sqliteFile = "mana.db"
	// sqlitePollInterval: SQLite has no LISTEN/NOTIFY; jobs inserted by this
	// process wake the workers at once, the poll finds jobs that became due
	// (scheduled sends, retries).
	sqlitePollInterval = 200 * time.Millisecond
	// fetchCooldown: River fetches at most MaxWorkers jobs per fetch and
	// waits FetchCooldown (default 100 ms) between fetches, which capped
	// email at 5 per 100 ms = 50 mails/s in the load run. 10 ms lifts that
	// cap; the extra fetches happen only while jobs keep arriving.
	fetchCooldown = 10 * time.Millisecond
	// pgPollInterval backs up PostgreSQL's insert notifications (LISTEN/
	// NOTIFY wakes the workers at once): River sends at most one per queue
	// per fetchCooldown, so a job committed just after a fetch it did not
	// make would wait for the poll, by default a second. 200 ms bounds that
	// wait on the mail path (register → mail p95 ≤ 200 ms, issue 14) at a
	// few small queries per queue and second.
	pgPollInterval = 200 * time.Millisecond
	// riverStopTimeout lets in-flight jobs finish on shutdown before their
	// contexts are cancelled; a cancelled job is retried by the next process.
	riverStopTimeout = 15 * time.Second
)

// jobRunner is the River client of either backend, as far as starting and
// stopping go.
type jobRunner interface {
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
	StopAndCancel(ctx context.Context) error
}

// authStores is mana-auth's persistence, on PostgreSQL or SQLite (the
// conformance suite in internal/store/storetest holds both to one contract).
type authStores struct {
	store interface {
		auth.Store
		token.KeyStore
		audit.ChainStore
	}
	vaults interface {
		vault.Store
		kekrotate.Store
	}
	// pool is the PostgreSQL pool (nil on SQLite): the revocation feed
	// listens on a connection of its own.
	pool *pgxpool.Pool
}

// backend is the persistence of every serve mode: both services' stores and
// one job client working the given queues, on PostgreSQL or on the embedded
// SQLite file. The stores insert their jobs through that client in their own
// transactions.
type backend struct {
	auth   authStores
	notify notify.Store
	jobs   jobRunner
	// where says, for people, where the data lives (no password).
	where string
	// sqlite is true for the embedded database (production checklist).
	sqlite bool
	close  func()
}

// backendOptions say what a serve mode needs of its backend.
type backendOptions struct {
	// databaseURL is PostgreSQL; "" is the SQLite file in dataDir.
	databaseURL string
	dataDir     string
	// maxConns sizes the PostgreSQL pool.
	maxConns int32
	// migrate names the schemas this mode owns on PostgreSQL (SQLite holds
	// both services and migrates both).
	migrate []pg.Component
	// queues are worked with workers (filled by the caller before Start).
	queues   map[string]river.QueueConfig
	workers  *river.Workers
	policies delivery.Policies
}

// openBackend opens and migrates the database and builds the job client
// and the stores.
func openBackend(ctx context.Context, log *slog.Logger, o backendOptions) (backend, error) {
	if o.databaseURL != "" {
		return openPostgres(ctx, log, o)
	}
	return openSQLite(ctx, log, o)
}

func openPostgres(ctx context.Context, log *slog.Logger, o backendOptions) (backend, error) {
	pool, err := openPool(ctx, o.databaseURL, o.maxConns)
	if err != nil {
		return backend{}, err
	}
	applied, err := pg.Migrate(ctx, pool, o.migrate...)
	if err != nil {
		pool.Close()
		return backend{}, err
	}
	if len(applied) > 0 {
		log.Info("applied migrations", "migrations", applied)
	}
	jobs, err := river.NewClient(riverpgxv5.New(pool), &river.Config{
		Schema: pg.RiverSchema, Queues: o.queues, Workers: o.workers, Logger: log.With("component", "river"),
		FetchCooldown: fetchCooldown, FetchPollInterval: pgPollInterval,
	})
	if err != nil {
		pool.Close()
		return backend{}, fmt.Errorf("create job client: %w", err)
	}
	return backend{
		auth:   authStores{store: pg.NewAuthStore(pool, jobs), vaults: pg.NewVaultStore(pool), pool: pool},
		notify: pg.NewNotifyStore(pool, jobs, o.policies),
		jobs:   jobs,
		where:  "PostgreSQL " + redactURL(o.databaseURL),
		close:  pool.Close,
	}, nil
}

// openSQLite opens dataDir/mana.db, holding dataDir's lock for the life of
// the process: SQLite gives none of Postgres's cross-process guarantees, so
// a second process on the same data is refused rather than allowed to race.
func openSQLite(ctx context.Context, log *slog.Logger, o backendOptions) (be backend, err error) {
	db, file, closeDB, err := openDataDir(ctx, o.dataDir, true)
	if err != nil {
		return backend{}, err
	}
	defer func() {
		if err != nil {
			if closeErr := closeDB(); closeErr != nil {
				log.Error("close sqlite database", "file", file, "err", closeErr)
			}
		}
	}()
	applied, err := sqlite.Migrate(ctx, db, sqlite.Auth, sqlite.Notify)
	if err != nil {
		return backend{}, err
	}
	if len(applied) > 0 {
		log.Info("applied migrations", "migrations", applied, "file", file)
	}
	jobs, err := river.NewClient(riversqlite.New(db), &river.Config{
		Queues: o.queues, Workers: o.workers, Logger: log.With("component", "river"),
		FetchCooldown: fetchCooldown, FetchPollInterval: sqlitePollInterval,
	})
	if err != nil {
		return backend{}, fmt.Errorf("create job client on sqlite: %w", err)
	}
	return backend{
		auth:   authStores{store: sqlite.NewAuthStore(db, jobs), vaults: sqlite.NewVaultStore(db)},
		notify: sqlite.NewNotifyStore(db, jobs, o.policies),
		jobs:   jobs,
		where:  "SQLite " + file,
		sqlite: true,
		close: func() {
			if err := closeDB(); err != nil {
				log.Error("close sqlite database", "file", file, "err", err)
			}
		},
	}, nil
}

// openDataDir opens dataDir/mana.db holding the directory's lock (one
// process per SQLite data directory). With create it makes the directory
// and the file when missing; without, a missing file is an error that
// wraps fs.ErrNotExist.
func openDataDir(ctx context.Context, dataDir string, create bool) (db *sql.DB, file string, closeDB func() error, err error) {
	file = filepath.Join(dataDir, sqliteFile)
	if create {
		if err := os.MkdirAll(dataDir, 0o700); err != nil {
			return nil, "", nil, fmt.Errorf("MANA_DATA_DIR: %w", err)
		}
	} else if _, err := os.Stat(file); err != nil {
		return nil, "", nil, fmt.Errorf("MANA_DATA_DIR: %w", err)
	}
	unlock, err := lockDataDir(dataDir)
	if err != nil {
		return nil, "", nil, err
	}
	db, err = sqlite.Open(ctx, file)
	if err != nil {
		return nil, "", nil, errors.Join(err, unlock())
	}
	return db, file, func() error { return errors.Join(db.Close(), unlock()) }, nil
}

// poolConfig is the pool's configuration from DATABASE_URL. Statements run
// in pgx's default mode, prepared once per connection and cached, so that
// PostgreSQL parses and plans a hot statement once rather than on every
// request (two thirds of /me/data's PostgreSQL CPU in the benchmark).
// Behind a pooler in transaction mode (PgBouncer), which cannot keep a
// connection's prepared statements, DATABASE_URL names another mode with
// default_query_exec_mode (cache_describe, simple_protocol, …), and pgx
// parses it here.
func poolConfig(dsn string, maxConns int32) (*pgxpool.Config, error) {
	pc, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL: %w", err)
	}
	pc.MaxConns = maxConns
	pc.ConnConfig.ConnectTimeout = 5 * time.Second
	return pc, nil
}

// openPool connects and proves the connection with a real query, so a wrong
// DATABASE_URL stops the process at start with the cause.
func openPool(ctx context.Context, dsn string, maxConns int32) (*pgxpool.Pool, error) {
	pc, err := poolConfig(dsn, maxConns)
	if err != nil {
		return nil, err
	}
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

// redactURL hides the password of a database URL.
func redactURL(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "(unparsable DATABASE_URL)"
	}
	return u.Redacted()
}
