package app

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"

	"github.com/mana/mana/internal/config"
	"github.com/mana/mana/internal/kekrotate"
	"github.com/mana/mana/internal/notify"
	"github.com/mana/mana/internal/store/pg"
	"github.com/mana/mana/internal/store/sqlite"
)

// Migrate is `mana migrate [up|status]` on DATABASE_URL (PostgreSQL; `mana
// serve` migrates its SQLite file at start). ErrUnknownSubcommand for
// anything else.
func Migrate(ctx context.Context, out io.Writer, look config.Lookup, sub string) error {
	cmd, err := config.LoadCommand(look)
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	if cmd.DatabaseURL == "" {
		return errors.New("DATABASE_URL: is required for mana migrate")
	}
	if sub != "up" && sub != "status" {
		return fmt.Errorf("%w: migrate %s", ErrUnknownSubcommand, sub)
	}
	pool, err := openPool(ctx, cmd.DatabaseURL, 2)
	if err != nil {
		return err
	}
	defer pool.Close()
	if sub == "up" {
		done, err := pg.Migrate(ctx, pool, pg.Auth, pg.Notify)
		if err != nil {
			return err
		}
		if len(done) == 0 {
			fmt.Fprintln(out, "database is up to date")
		}
		for _, name := range done {
			fmt.Fprintln(out, "applied", name)
		}
		return nil
	}
	st, err := pg.MigrationStates(ctx, pool, pg.Auth, pg.Notify)
	if err != nil {
		return err
	}
	for _, s := range st {
		state := "pending"
		if s.Applied {
			state = "applied"
		}
		fmt.Fprintf(out, "%-8s %s/%s\n", state, s.Component, s.Name)
	}
	return nil
}

// ErrUnknownSubcommand is a command line the operator commands do not know.
var ErrUnknownSubcommand = errors.New("unknown subcommand")

// RotateKEK is `mana kek rotate`: MANA_AUTH_KEK is the KEK to move to,
// MANA_AUTH_KEK_PREVIOUS the retired ones still in use, DATABASE_URL the
// database (without it, the SQLite file of `mana serve` in MANA_DATA_DIR,
// while the service is stopped).
func RotateKEK(ctx context.Context, out io.Writer, look config.Lookup, batch int) error {
	_, ring, st, err := openAuthCommand(ctx, look)
	if err != nil {
		return err
	}
	opts := kekrotate.Options{BatchSize: batch, Progress: out}
	if err := refuseInWindow(ctx, st.state, "mana kek rotate"); err != nil {
		return errors.Join(err, st.close())
	}
	_, err = kekrotate.Rotate(ctx, st.vaults, ring, opts)
	return errors.Join(err, st.close())
}

// RetryNotification is `mana notify retry ID`: it re-drives one failed
// notification on PostgreSQL, or on the SQLite file of `mana serve`, with an
// insert-only job client (no queues, no workers): the running service, or
// the next start, picks the job up.
func RetryNotification(ctx context.Context, out io.Writer, look config.Lookup, id string) error {
	cfg, err := config.LoadNotify(look)
	if err != nil {
		return fmt.Errorf("mana-notify configuration: %w", err)
	}
	err = redrive(ctx, look, cfg, id)
	switch {
	case errors.Is(err, notify.ErrNotFound):
		return fmt.Errorf("notification %s not found", id)
	case errors.Is(err, notify.ErrNotFailed):
		return fmt.Errorf("notification %s has not failed; only failed notifications can be retried", id)
	case err != nil:
		return fmt.Errorf("retry notification %s: %w", id, err)
	}
	fmt.Fprintf(out, "notification %s queued for delivery again\n", id)
	return nil
}

func redrive(ctx context.Context, look config.Lookup, cfg config.Notify, id string) error {
	policies := notifyPolicies(cfg)
	db, closeDB, ok, err := commandSQLite(ctx, look)
	if err != nil {
		return err
	}
	if ok {
		jobs, err := river.NewClient(riversqlite.New(db), &river.Config{})
		if err != nil {
			return errors.Join(fmt.Errorf("create job client: %w", err), closeDB())
		}
		return errors.Join(sqlite.NewNotifyStore(db, jobs, policies).Redrive(ctx, id), closeDB())
	}
	pool, err := openPool(ctx, cfg.DatabaseURL, 2)
	if err != nil {
		return err
	}
	defer pool.Close()
	jobs, err := river.NewClient(riverpgxv5.New(pool), &river.Config{Schema: pg.RiverSchema})
	if err != nil {
		return fmt.Errorf("create job client: %w", err)
	}
	return pg.NewNotifyStore(pool, jobs, policies).Redrive(ctx, id)
}

// commandSQLite opens the SQLite data of `mana serve` for an operator
// command when DATABASE_URL is not set and MANA_DATA_DIR (default
// ./mana-data) holds a database; ok is false otherwise, and the command
// uses PostgreSQL. It takes the data directory's lock, so it refuses to run
// while `mana serve` is running there: SQLite is one process at a time.
func commandSQLite(ctx context.Context, look config.Lookup) (db *sql.DB, closeDB func() error, ok bool, err error) {
	cmd, err := config.LoadCommand(look)
	if err != nil {
		return nil, nil, false, fmt.Errorf("configuration: %w", err)
	}
	if cmd.DatabaseURL != "" {
		return nil, nil, false, nil
	}
	db, _, closeDB, err = openDataDir(ctx, cmd.DataDir, false)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, false, nil
	}
	if err != nil {
		return nil, nil, false, fmt.Errorf("%w (stop `mana serve` first)", err)
	}
	// The service migrates at start; a command on an older file brings it
	// up to date first (nothing else can be using it: we hold the lock).
	if _, err := sqlite.Migrate(ctx, db, sqlite.Auth, sqlite.Notify); err != nil {
		return nil, nil, false, errors.Join(err, closeDB())
	}
	return db, closeDB, true, nil
}
