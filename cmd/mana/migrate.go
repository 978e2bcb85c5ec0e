package main

import (
	"context"
	"fmt"
	"io"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mana/mana/internal/config"
	"github.com/mana/mana/internal/migrate"
)

func migrateCmd(ctx context.Context, out io.Writer, look config.Lookup, args []string) error {
	dsn, ok := look("DATABASE_URL")
	if !ok || dsn == "" {
		return fmt.Errorf("DATABASE_URL: is required for mana migrate")
	}
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		return fmt.Errorf("DATABASE_URL: %w", err)
	}
	defer pool.Close()
	sub := "up"
	if len(args) > 0 {
		sub = args[0]
	}
	switch sub {
	case "up":
		done, err := migrate.Up(ctx, pool, migrate.Auth, migrate.Notify)
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
	case "status":
		st, err := migrate.Pending(ctx, pool, migrate.Auth, migrate.Notify)
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
	return usageError("unknown migrate subcommand " + sub)
}
