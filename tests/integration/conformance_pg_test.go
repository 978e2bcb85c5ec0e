//go:build integration

package integration

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/mana/mana/internal/randid"
	"github.com/mana/mana/internal/store/pg"
	"github.com/mana/mana/internal/store/storetest"
)

// TestConformancePostgres runs the persistence conformance suite on
// PostgreSQL (the SQLite run is internal/store/sqlite's TestConformance), on
// one fresh database of the stack's server for the whole suite: no worker
// runs on it, so the jobs the suite records stay where the inspector sees
// them and the suite decides account requests itself, as on SQLite.
func TestConformancePostgres(t *testing.T) {
	pool := connectTo(t, freshDatabase(t))
	if _, err := pg.Migrate(context.Background(), pool, pg.Auth, pg.Notify); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	// An insert-only client: no queues, no workers of its own.
	jobs, err := river.NewClient(riverpgxv5.New(pool), &river.Config{Schema: pg.RiverSchema})
	if err != nil {
		t.Fatal(err)
	}
	store := pg.NewAuthStore(pool, jobs)
	storetest.RunAuth(t, func(*testing.T) storetest.Backend {
		return storetest.Backend{Store: store, Keys: store, Vaults: pg.NewVaultStore(pool), Inspect: pgInspector{pool: pool}}
	})
}

// TestCutoverConformancePostgres runs the rollback-window suite on a fresh
// database per test: finalization converts every row of its database.
func TestCutoverConformancePostgres(t *testing.T) {
	ring := stackRing(t)
	storetest.RunCutover(t, func(t *testing.T) storetest.Backend {
		database := freshDatabase(t)
		pool := connectTo(t, database)
		if _, err := pg.Migrate(context.Background(), pool, pg.Auth); err != nil {
			t.Fatalf("migrate: %v", err)
		}
		jobs, err := river.NewClient(riverpgxv5.New(pool), &river.Config{Schema: pg.RiverSchema})
		if err != nil {
			t.Fatal(err)
		}
		store, vaults := pg.NewAuthStore(pool, jobs), pg.NewVaultStore(pool)
		return storetest.Backend{Store: store, Keys: store, Vaults: vaults, Inspect: pgInspector{pool: pool}, Ring: ring,
			Cutover: store, Rotation: vaults}
	})
}

// pgInspector reads the auth and river schemas of its database directly
// (as the test's superuser role, so row-level security does not hide vault
// rows). Each suite runs on a database of its own.
type pgInspector struct {
	pool *pgxpool.Pool
}

func (i pgInspector) one(ctx context.Context, q string, args ...any) (int, error) {
	var n int
	if err := i.pool.QueryRow(ctx, q, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("%s: %w", q, err)
	}
	return n, nil
}

func (i pgInspector) FailedAttempts(ctx context.Context, email string) (int, error) {
	return i.one(ctx, `SELECT count(*) FROM auth.login_attempts WHERE email = $1 AND successful = false`, email)
}

func (i pgInspector) Events(ctx context.Context, userID, email, eventType string) (int, error) {
	return i.one(ctx, `SELECT count(*) FROM auth.security_events
		WHERE event_type = $3 AND (user_id = $1 OR metadata->>'email' = $2)`, userID, email, eventType)
}

func (i pgInspector) EventsOfType(ctx context.Context, eventType string) (int, error) {
	return i.one(ctx, `SELECT count(*) FROM auth.security_events WHERE event_type = $1`, eventType)
}

func (i pgInspector) Requests(ctx context.Context, email string) ([]storetest.RecordedRequest, error) {
	rows, err := i.pool.Query(ctx, `SELECT id, args::text::bytea FROM `+pg.RiverSchema+`.river_job
		WHERE kind = 'auth_request' AND args->>'email' = $1 ORDER BY id`, email)
	if err != nil {
		return nil, fmt.Errorf("read request jobs: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[storetest.RecordedRequest])
	if err != nil {
		return nil, fmt.Errorf("read request jobs: %w", err)
	}
	return out, nil
}

func (i pgInspector) NotifyErasures(ctx context.Context, userID string) (int, error) {
	return i.one(ctx, `SELECT count(*) FROM `+pg.RiverSchema+`.river_job WHERE kind = 'auth_notify_erase' AND args->>'user_id' = $1`, userID)
}

func (i pgInspector) Mail(ctx context.Context, to string) ([]string, error) {
	rows, err := i.pool.Query(ctx, `SELECT args->>'html' FROM `+pg.RiverSchema+`.river_job
		WHERE kind = 'auth_mail' AND args->>'to' = $1 ORDER BY id`, to)
	if err != nil {
		return nil, fmt.Errorf("read mail jobs: %w", err)
	}
	html, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("read mail jobs: %w", err)
	}
	return html, nil
}

func (i pgInspector) Sessions(ctx context.Context, userID string) (int, error) {
	return i.one(ctx, `SELECT count(*) FROM auth.sessions WHERE user_id = $1`, userID)
}

func (i pgInspector) Users(ctx context.Context, email string) (int, error) {
	return i.one(ctx, `SELECT count(*) FROM auth.users WHERE email = $1`, email)
}

func (i pgInspector) SeedLegacyReset(ctx context.Context, token, userID string, expires time.Time) error {
	_, err := i.pool.Exec(ctx, `INSERT INTO auth.verification (id, identifier, value, expires_at) VALUES ($1, $2, $3, $4)`,
		randid.UserID(), "reset-password:"+token, userID, expires)
	if err != nil {
		return fmt.Errorf("seed legacy reset: %w", err)
	}
	return nil
}

func (i pgInspector) SetCutoverState(ctx context.Context, state string) error {
	if _, err := i.pool.Exec(ctx, `UPDATE auth.mana_cutover SET state = $1 WHERE id = 1`, state); err != nil {
		return fmt.Errorf("set cut-over state: %w", err)
	}
	return nil
}

func (i pgInspector) SwapServerWraps(ctx context.Context, a, b string) error {
	tag, err := i.pool.Exec(ctx, `UPDATE auth.encryption_vaults v SET wrapped_mk = o.wrapped_mk, wrap_iv = o.wrap_iv
		FROM auth.encryption_vaults o
		WHERE (v.user_id = $1 AND o.user_id = $2) OR (v.user_id = $2 AND o.user_id = $1)`, a, b)
	if err != nil {
		return fmt.Errorf("swap wraps: %w", err)
	}
	if tag.RowsAffected() != 2 {
		return fmt.Errorf("swap wraps: %d rows, want 2", tag.RowsAffected())
	}
	return nil
}
