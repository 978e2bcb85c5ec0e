package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/mana/mana/internal/config"
	"github.com/mana/mana/internal/kek"
	"github.com/mana/mana/internal/kekrotate"
	"github.com/mana/mana/internal/migrate"
	"github.com/mana/mana/internal/store/pg"
	"github.com/mana/mana/internal/store/sqlite"
)

// kekCmd runs `mana kek rotate [-batch N]` with mana-auth's configuration:
// MANA_AUTH_KEK is the KEK to move to, MANA_AUTH_KEK_PREVIOUS the retired
// ones still in use, DATABASE_URL the database (without it, the SQLite file
// of `mana serve` in MANA_DATA_DIR, while the service is stopped).
func kekCmd(ctx context.Context, out io.Writer, look config.Lookup, args []string) error {
	if len(args) == 0 || args[0] != "rotate" {
		return usageError("kek needs a subcommand: rotate")
	}
	fs := flag.NewFlagSet("kek rotate", flag.ContinueOnError)
	fs.SetOutput(out)
	batch := fs.Int("batch", 500, "users per transaction")
	if err := fs.Parse(args[1:]); err != nil {
		return usageError(err.Error())
	}
	if *batch < 1 || *batch > 10000 {
		return usageError("-batch must be between 1 and 10000")
	}
	cfg, err := config.LoadAuth(look)
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	ring, err := kek.NewRing(cfg.KEK, cfg.PreviousKEKs...)
	if err != nil {
		return fmt.Errorf("MANA_AUTH_KEK / MANA_AUTH_KEK_PREVIOUS: %w", err)
	}
	if db, closeDB, ok, err := commandSQLite(ctx, look); err != nil {
		return err
	} else if ok {
		_, err := kekrotate.Rotate(ctx, sqlite.NewVaultStore(db), ring, kekrotate.Options{BatchSize: *batch, Progress: out})
		return errors.Join(err, closeDB())
	}
	pool, err := openPool(ctx, cfg.DatabaseURL, 4)
	if err != nil {
		return err
	}
	defer pool.Close()
	// The schema is the service's to migrate (rotate may run as a role
	// without DDL rights); refuse to work on an older one.
	st, err := migrate.Pending(ctx, pool, migrate.Auth)
	if err != nil {
		return err
	}
	for _, s := range st {
		if !s.Applied {
			return fmt.Errorf("migration %s/%s is not applied: run `mana migrate` (or start mana-auth) first", s.Component, s.Name)
		}
	}
	_, err = kekrotate.Rotate(ctx, pg.NewVaultStore(pool), ring, kekrotate.Options{BatchSize: *batch, Progress: out})
	return err
}
