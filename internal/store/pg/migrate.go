package pg

// Migrations: the embedded SQL files and River's own schema, applied in one
// transaction under an advisory lock, so that any number of processes may
// start at once against one database.

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
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

// migrationLockKey is an arbitrary constant shared by every mana process: whoever holds
// it is the only one migrating.
const migrationLockKey int64 = 0x6d616e615f6d6967 // "mana_mig"

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

// MigrationState is a migration and whether it has been applied.
type MigrationState struct {
	Migration
	Applied bool
}

func loadMigrations(components []Component) ([]Migration, error) {
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

// cutoverMigration creates the cut-over state.
const cutoverMigration = "auth/0006_cutover_window.sql"

// recreatedTable names the table of a migration that is run again when the
// table is gone. The old service's deploy step (drizzle-kit push --force)
// drops tables it does not know (docs/cutover.md); these migrations are
// idempotent: the cut-over state is decided again from the formats the
// database holds, and the audit chain (F19) starts afresh from its genesis,
// its guards and the dropped foreign key put back.
func recreatedTable(key string) (string, bool) {
	switch key {
	case cutoverMigration:
		return "auth.mana_cutover", true
	case "auth/0008_audit_append_only.sql":
		return "auth.security_event_seals", true
	case "auth/0010_session_revocations.sql":
		// Without its table the trigger would fail every logout.
		return "auth.session_revocations", true
	case "auth/0011_session_revocation_trigger_filter.sql":
		// 0010 re-creates the trigger in its first form; this gives it its
		// filter again.
		return "auth.session_revocations", true
	}
	return "", false
}

// dropped lists the applied migrations whose table is gone, decided before
// any of them runs again (a re-run re-creates the table that the next
// migration of the same table looks for).
func dropped(ctx context.Context, tx pgx.Tx, all []Migration, applied map[string]bool) map[string]bool {
	gone := map[string]bool{}
	for _, m := range all {
		key := string(m.Component) + "/" + m.Name
		if table, ok := recreatedTable(key); ok && applied[key] && tableMissing(ctx, tx, table) {
			gone[key] = true
		}
	}
	return gone
}

// tableMissing reports whether table is gone (a failed check counts as
// missing: recreating is idempotent).
func tableMissing(ctx context.Context, tx pgx.Tx, table string) bool {
	var missing bool
	if err := tx.QueryRow(ctx, `SELECT to_regclass($1) IS NULL`, table).Scan(&missing); err != nil {
		return true
	}
	return missing
}

// markPreexistingAuth tells the cut-over migration (auth/0006) that the
// auth schema was there before mana's first migration: the old service made
// it, so the database starts in the rollback window.
func markPreexistingAuth(ctx context.Context, tx pgx.Tx, components []Component, applied map[string]bool) error {
	if !slices.Contains(components, Auth) || applied[string(Auth)+"/0001_contract_schema.sql"] {
		return nil
	}
	var pre bool
	if err := tx.QueryRow(ctx, `SELECT to_regclass('auth.users') IS NOT NULL`).Scan(&pre); err != nil {
		return fmt.Errorf("migrate: look for an existing auth schema: %w", err)
	}
	if !pre {
		return nil
	}
	if _, err := tx.Exec(ctx, `SELECT set_config('mana.auth_preexisting', 'on', true)`); err != nil {
		return fmt.Errorf("migrate: mark the existing auth schema: %w", err)
	}
	return nil
}

// Migrate applies every pending migration of the given components and then
// River's schema. A session advisory lock held on one connection for the whole
// run makes concurrent starts safe; our files apply in one transaction, River's
// in its own (some of its steps cannot share a transaction). It returns the
// names applied, empty when the database was current.
func Migrate(ctx context.Context, pool *pgxpool.Pool, components ...Component) (done []string, err error) {
	all, err := loadMigrations(components)
	if err != nil {
		return nil, err
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate: connect: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, migrationLockKey); err != nil {
		return nil, fmt.Errorf("migrate: take lock: %w", err)
	}
	defer func() {
		if _, unlockErr := conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, migrationLockKey); unlockErr != nil {
			// The lock dies with the connection; make sure it is not reused holding it.
			conn.Conn().Close(context.WithoutCancel(ctx)) //nolint:errcheck // closing is the remedy; the unlock error is reported
			err = errors.Join(err, fmt.Errorf("migrate: release lock: %w", unlockErr))
		}
	}()

	err = inTx(ctx, conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, ledgerDDL); err != nil {
			return fmt.Errorf("migrate: create ledger: %w", err)
		}
		applied, err := appliedSet(ctx, tx)
		if err != nil {
			return err
		}
		if err := markPreexistingAuth(ctx, tx, components, applied); err != nil {
			return err
		}
		gone := dropped(ctx, tx, all, applied)
		for _, m := range all {
			key := string(m.Component) + "/" + m.Name
			if applied[key] && !gone[key] {
				continue
			}
			if applied[key] { // dropped since (the old deploy step): recreate it, not record it again
				if _, err := tx.Exec(ctx, m.SQL); err != nil {
					return fmt.Errorf("migrate: recreate %s: %w", key, err)
				}
				continue
			}
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return fmt.Errorf("migrate: apply %s: %w", key, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO public.mana_schema_migrations (component, name) VALUES ($1, $2)`, string(m.Component), m.Name); err != nil {
				return fmt.Errorf("migrate: record %s: %w", key, err)
			}
			done = append(done, key)
		}
		if _, err := tx.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+RiverSchema); err != nil {
			return fmt.Errorf("migrate: create river schema: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
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

// MigrationStates lists every migration of the given components with its state.
func MigrationStates(ctx context.Context, pool *pgxpool.Pool, components ...Component) ([]MigrationState, error) {
	all, err := loadMigrations(components)
	if err != nil {
		return nil, err
	}
	var out []MigrationState
	err = inTx(ctx, pool, func(tx pgx.Tx) error {
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT to_regclass('public.mana_schema_migrations') IS NOT NULL`).Scan(&exists); err != nil {
			return fmt.Errorf("migrate status: %w", err)
		}
		applied := map[string]bool{}
		if exists {
			var err error
			if applied, err = appliedSet(ctx, tx); err != nil {
				return err
			}
		}
		out = make([]MigrationState, 0, len(all))
		for _, m := range all {
			out = append(out, MigrationState{Migration: m, Applied: applied[string(m.Component)+"/"+m.Name]})
		}
		return nil
	})
	return out, err
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
