package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/mana/mana/internal/config"
	"github.com/mana/mana/internal/migrate"
	"github.com/mana/mana/internal/notify/delivery"
	"github.com/mana/mana/internal/notify/store"
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
	pool, err := openPool(ctx, cfg.DatabaseURL, 2)
	if err != nil {
		return err
	}
	defer pool.Close()
	// An insert-only client (no queues, no workers): the running services
	// pick the job up.
	jobs, err := river.NewClient(riverpgxv5.New(pool), &river.Config{Schema: migrate.RiverSchema})
	if err != nil {
		return fmt.Errorf("create job client: %w", err)
	}
	err = store.New(pool, delivery.Enqueuer(jobs, policies)).Redrive(ctx, id)
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
