package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"

	"github.com/mana/mana/internal/config"
	"github.com/mana/mana/internal/migrate"
	"github.com/mana/mana/internal/notify/delivery"
	"github.com/mana/mana/internal/notify/store"
	"github.com/mana/mana/internal/notify/store/sqlitestore"
)

// notifyCmd runs the operator commands of mana-notify:
//
//	mana notify retry <id>   re-drive one failed notification
func notifyCmd(ctx context.Context, out io.Writer, look config.Lookup, args []string) error {
	if len(args) != 2 || args[0] != "retry" {
		return usageError("usage: mana notify retry <notification-id>")
	}
	id := args[1]
	cfg, err := config.LoadNotify(look)
	if err != nil {
		return fmt.Errorf("mana-notify configuration: %w", err)
	}
	policies, err := notifyPolicies(look, cfg)
	if err != nil {
		return fmt.Errorf("mana-notify configuration: %w", err)
	}
	err = redrive(ctx, look, cfg, policies, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("notification %s not found", id)
	case errors.Is(err, store.ErrNotFailed):
		return fmt.Errorf("notification %s has not failed; only failed notifications can be retried", id)
	case err != nil:
		return fmt.Errorf("retry notification %s: %w", id, err)
	}
	fmt.Fprintf(out, "notification %s queued for delivery again\n", id)
	return nil
}

// redrive re-drives id on PostgreSQL, or on the SQLite file of `mana serve`
// (commandSQLite), with an insert-only job client (no queues, no workers):
// the running service, or the next start, picks the job up.
func redrive(ctx context.Context, look config.Lookup, cfg config.Notify, policies delivery.Policies, id string) error {
	db, closeDB, ok, err := commandSQLite(ctx, look)
	if err != nil {
		return err
	}
	if ok {
		jobs, err := river.NewClient(riversqlite.New(db), &river.Config{})
		if err != nil {
			return errors.Join(fmt.Errorf("create job client: %w", err), closeDB())
		}
		return errors.Join(sqlitestore.New(db, delivery.Enqueuer(jobs, policies)).Redrive(ctx, id), closeDB())
	}
	pool, err := openPool(ctx, cfg.DatabaseURL, 2)
	if err != nil {
		return err
	}
	defer pool.Close()
	jobs, err := river.NewClient(riverpgxv5.New(pool), &river.Config{Schema: migrate.RiverSchema})
	if err != nil {
		return fmt.Errorf("create job client: %w", err)
	}
	return store.New(pool, delivery.Enqueuer(jobs, policies)).Redrive(ctx, id)
}
