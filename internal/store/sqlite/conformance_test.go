package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riversqlite"

	"github.com/mana/mana/internal/randid"
	"github.com/mana/mana/internal/store/sqlite"
	"github.com/mana/mana/internal/store/storetest"
)

// TestConformance runs the persistence conformance suite on a fresh SQLite
// file per test (the Postgres run is tests/integration/conformance_pg_test.go).
func TestConformance(t *testing.T) {
	storetest.RunAuth(t, newBackend)
}

// TestCutoverConformance runs the rollback-window suite (a fresh file per test).
func TestCutoverConformance(t *testing.T) {
	storetest.RunCutover(t, newBackend)
}

func newBackend(t *testing.T) storetest.Backend {
	t.Helper()
	return openBackend(t, filepath.Join(t.TempDir(), "mana.db"))
}

// openBackend opens (creating and migrating if needed) the database file;
// it is closed when the test ends.
func openBackend(t testing.TB, file string) storetest.Backend {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, file)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("close database: %v", err)
		}
	})
	if _, err := sqlite.Migrate(ctx, db, sqlite.Auth); err != nil {
		t.Fatal(err)
	}
	// An insert-only client: no queues, no workers; the jobs stay queued
	// where the inspector reads them.
	jobs, err := river.NewClient(riversqlite.New(db), &river.Config{})
	if err != nil {
		t.Fatal(err)
	}
	store, vaults := sqlite.NewAuthStore(db, jobs), sqlite.NewVaultStore(db)
	return storetest.Backend{Store: store, Keys: store, Vaults: vaults, Inspect: inspector{db}, Cutover: store, Rotation: vaults,
		Chain: store, Audit: auditInspector{db}}
}

// inspector reads the SQLite tables directly.
type inspector struct{ db *sql.DB }

func (i inspector) one(ctx context.Context, q string, args ...any) (int, error) {
	var n int
	if err := i.db.QueryRowContext(ctx, q, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("%s: %w", q, err)
	}
	return n, nil
}

func (i inspector) FailedAttempts(ctx context.Context, email string) (int, error) {
	return i.one(ctx, `SELECT count(*) FROM auth_login_attempts WHERE email = ? AND successful = 0`, email)
}

func (i inspector) Events(ctx context.Context, userID, email, eventType string) (int, error) {
	return i.one(ctx, `SELECT count(*) FROM auth_security_events
		WHERE event_type = ?3 AND (user_id = ?1 OR json_extract(metadata, '$.email') = ?2)`, userID, email, eventType)
}

func (i inspector) Mail(ctx context.Context, to string) ([]string, error) {
	rows, err := i.db.QueryContext(ctx, `SELECT json_extract(args, '$.html') FROM river_job
		WHERE kind = 'auth_mail' AND json_extract(args, '$.to') = ? ORDER BY id`, to)
	if err != nil {
		return nil, fmt.Errorf("read mail jobs: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var html string
		if err := rows.Scan(&html); err != nil {
			return nil, err
		}
		out = append(out, html)
	}
	return out, rows.Err()
}

func (i inspector) Sessions(ctx context.Context, userID string) (int, error) {
	return i.one(ctx, `SELECT count(*) FROM auth_sessions WHERE user_id = ?`, userID)
}

func (i inspector) Users(ctx context.Context, email string) (int, error) {
	return i.one(ctx, `SELECT count(*) FROM auth_users WHERE email = ?`, email)
}

func (i inspector) SeedLegacyReset(ctx context.Context, token, userID string, expires time.Time) error {
	now := sqlite.FormatTime(time.Now())
	_, err := i.db.ExecContext(ctx, `INSERT INTO auth_verification (id, identifier, value, expires_at, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?)`, randid.UserID(), "reset-password:"+token, userID, sqlite.FormatTime(expires), now, now)
	if err != nil {
		return fmt.Errorf("seed legacy reset: %w", err)
	}
	return nil
}

func (i inspector) SetCutoverState(ctx context.Context, state string) error {
	if _, err := i.db.ExecContext(ctx, `UPDATE auth_mana_cutover SET state = ? WHERE id = 1`, state); err != nil {
		return fmt.Errorf("set cut-over state: %w", err)
	}
	return nil
}

func (i inspector) EventsOfType(ctx context.Context, eventType string) (int, error) {
	return i.one(ctx, `SELECT count(*) FROM auth_security_events WHERE event_type = ?`, eventType)
}

func (i inspector) Requests(ctx context.Context, email string) ([]storetest.RecordedRequest, error) {
	rows, err := i.db.QueryContext(ctx, `SELECT id, json(args) FROM river_job
		WHERE kind = 'auth_request' AND json_extract(args, '$.email') = ? ORDER BY id`, email)
	if err != nil {
		return nil, fmt.Errorf("read request jobs: %w", err)
	}
	defer rows.Close()
	var out []storetest.RecordedRequest
	for rows.Next() {
		var r storetest.RecordedRequest
		if err := rows.Scan(&r.ID, &r.Args); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func (i inspector) NotifyErasures(ctx context.Context, userID string) (int, error) {
	return i.one(ctx, `SELECT count(*) FROM river_job WHERE kind = 'auth_notify_erase' AND json_extract(args, '$.user_id') = ?`, userID)
}

func (i inspector) SwapServerWraps(ctx context.Context, a, b string) error {
	res, err := i.db.ExecContext(ctx, `UPDATE auth_encryption_vaults AS v SET
			wrapped_mk = o.wrapped_mk, wrap_iv = o.wrap_iv
		FROM auth_encryption_vaults AS o
		WHERE (v.user_id = ?1 AND o.user_id = ?2) OR (v.user_id = ?2 AND o.user_id = ?1)`, a, b)
	if err != nil {
		return fmt.Errorf("swap wraps: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 2 {
		return fmt.Errorf("swap wraps: %d rows, %v; want 2", n, err)
	}
	return nil
}
