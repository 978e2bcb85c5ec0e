// Package migrate applies the embedded SQL migrations and River's own schema,
// in one transaction under an advisory lock, so that any number of processes
// may start at once against one database.
package migrate

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/mana/mana/migrations"
)

// RiverSchema is where River keeps its job tables, apart from auth and notify.
const RiverSchema = "river"

// lockKey is an arbitrary constant shared by every mana process: whoever holds
// it is the only one migrating.
const lockKey int64 = 0x6d616e615f6d6967 // "mana_mig"

// Component names one directory of migrations.
type Component string

const (
	Auth   Component = "auth"
	Notify Component = "notify"
)

// Migration is one SQL file of a component.
type Migration struct {
	Component Component
	Name      string
	SQL       string
}

// Status is a migration and whether it has been applied.
type Status struct {
	Migration
	Applied bool
}

func load(components []Component) ([]Migration, error) {
	var out []Migration
	for _, c := range components {
		entries, err := fs.ReadDir(migrations.FS, string(c))
		if err != nil {
			return nil, fmt.Errorf("read migrations of %s: %w", c, err)
		}
		names := make([]string, 0, len(entries))
		for _, e := range entries {
			if strings.HasSuffix(e.Name(), ".sql") {
				names = append(names, e.Name())
			}
		}
		sort.Strings(names)
		for _, n := range names {
			b, err := fs.ReadFile(migrations.FS, path.Join(string(c), n))
			if err != nil {
				return nil, fmt.Errorf("read migration %s/%s: %w", c, n, err)
			}
			out = append(out, Migration{Component: c, Name: n, SQL: string(b)})
		}
	}
	return out, nil
}

const ledgerDDL = `CREATE TABLE IF NOT EXISTS public.mana_schema_migrations (
  component  text NOT NULL,
  name       text NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (component, name))`

// Up applies every pending migration of the given components and then
// River's schema. A session advisory lock held on one connection for the whole
// run makes concurrent starts safe; our files apply in one transaction, River's
// in its own (some of its steps cannot share a transaction). It returns the
// names applied, empty when the database was current.
func Up(ctx context.Context, pool *pgxpool.Pool, components ...Component) (done []string, err error) {
	all, err := load(components)
	if err != nil {
		return nil, err
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate: connect: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, lockKey); err != nil {
		return nil, fmt.Errorf("migrate: take lock: %w", err)
	}
	defer func() {
		if _, unlockErr := conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, lockKey); unlockErr != nil {
			// The lock dies with the connection; make sure it is not reused holding it.
			conn.Conn().Close(context.WithoutCancel(ctx)) //nolint:errcheck // closing is the remedy; the unlock error is reported
			err = errors.Join(err, fmt.Errorf("migrate: release lock: %w", unlockErr))
		}
	}()

	tx, err := conn.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate: begin: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit; the commit error is what matters
	if _, err := tx.Exec(ctx, ledgerDDL); err != nil {
		return nil, fmt.Errorf("migrate: create ledger: %w", err)
	}
	applied, err := appliedSet(ctx, tx)
	if err != nil {
		return nil, err
	}
	for _, m := range all {
		key := string(m.Component) + "/" + m.Name
		if applied[key] {
			continue
		}
		if _, err := tx.Exec(ctx, m.SQL); err != nil {
			return nil, fmt.Errorf("migrate: apply %s: %w", key, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO public.mana_schema_migrations (component, name) VALUES ($1, $2)`, string(m.Component), m.Name); err != nil {
			return nil, fmt.Errorf("migrate: record %s: %w", key, err)
		}
		done = append(done, key)
	}
	if _, err := tx.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+RiverSchema); err != nil {
		return nil, fmt.Errorf("migrate: create river schema: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("migrate: commit: %w", err)
	}

	migrator, err := rivermigrate.New(riverpgxv5.New(pool), &rivermigrate.Config{Schema: RiverSchema})
	if err != nil {
		return nil, fmt.Errorf("migrate: river migrator: %w", err)
	}
	res, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil)
	if err != nil {
		return nil, fmt.Errorf("migrate: river schema: %w", err)
	}
	for _, v := range res.Versions {
		done = append(done, fmt.Sprintf("river/%03d", v.Version))
	}
	return done, nil
}

// Pending lists every migration of the given components with its state.
func Pending(ctx context.Context, pool *pgxpool.Pool, components ...Component) ([]Status, error) {
	all, err := load(components)
	if err != nil {
		return nil, err
	}
	tx, err := pool.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate status: begin: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // read-only transaction

	var exists bool
	if err := tx.QueryRow(ctx, `SELECT to_regclass('public.mana_schema_migrations') IS NOT NULL`).Scan(&exists); err != nil {
		return nil, fmt.Errorf("migrate status: %w", err)
	}
	applied := map[string]bool{}
	if exists {
		if applied, err = appliedSet(ctx, tx); err != nil {
			return nil, err
		}
	}
	out := make([]Status, 0, len(all))
	for _, m := range all {
		out = append(out, Status{Migration: m, Applied: applied[string(m.Component)+"/"+m.Name]})
	}
	return out, nil
}

func appliedSet(ctx context.Context, tx pgx.Tx) (map[string]bool, error) {
	rows, err := tx.Query(ctx, `SELECT component || '/' || name FROM public.mana_schema_migrations`)
	if err != nil {
		return nil, fmt.Errorf("migrate: read ledger: %w", err)
	}
	keys, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("migrate: read ledger: %w", err)
	}
	set := make(map[string]bool, len(keys))
	for _, k := range keys {
		set[k] = true
	}
	return set, nil
}
