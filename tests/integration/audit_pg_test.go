//go:build integration

package integration

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/mana/mana/internal/audit"
	"github.com/mana/mana/internal/store/pg"
	"github.com/mana/mana/internal/store/storetest"
)

// TestAuditConformancePostgres runs the audit log's suite (append-only
// guards, hash chain, erasure, tampering) on a fresh database per test: the
// tampering cases break the chain for good, and the stack's own sealers must
// not share it. The SQLite run is internal/store/sqlite's TestAuditConformance.
func TestAuditConformancePostgres(t *testing.T) {
	storetest.RunAudit(t, func(t *testing.T) storetest.Backend {
		pool := connectTo(t, freshDatabase(t))
		if _, err := pg.Migrate(context.Background(), pool, pg.Auth); err != nil {
			t.Fatalf("migrate: %v", err)
		}
		jobs, err := river.NewClient(riverpgxv5.New(pool), &river.Config{Schema: pg.RiverSchema})
		if err != nil {
			t.Fatal(err)
		}
		store := pg.NewAuthStore(pool, jobs)
		return storetest.Backend{Store: store, Keys: store, Vaults: pg.NewVaultStore(pool), Inspect: pgInspector{pool: pool},
			Cutover: store, Chain: store, Audit: pgAuditInspector{pool: pool}}
	})
}

var pgMetaField = regexp.MustCompile(`\{metadata\.(\w+)\}`)

// pgAuditInspector is storetest.AuditInspector on PostgreSQL, as the test's
// superuser.
type pgAuditInspector struct{ pool *pgxpool.Pool }

func (pgAuditInspector) sql(q string) string {
	q = strings.NewReplacer("{events}", "auth.security_events", "{seals}", "auth.security_event_seals", "{users}", "auth.users").Replace(q)
	return pgMetaField.ReplaceAllString(q, `(metadata->>'$1')`)
}

func (i pgAuditInspector) Exec(ctx context.Context, q string, args ...any) error {
	_, err := i.pool.Exec(ctx, i.sql(q), args...)
	return err
}

// Bypass turns ordinary triggers off for its own transaction only, as a
// superuser can (session_replication_role = replica).
func (i pgAuditInspector) Bypass(ctx context.Context, q string, args ...any) error {
	tx, err := i.pool.Begin(ctx)
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `SET LOCAL session_replication_role = replica`); err != nil {
		return errors.Join(err, tx.Rollback(ctx))
	}
	if _, err := tx.Exec(ctx, i.sql(q), args...); err != nil {
		return errors.Join(err, tx.Rollback(ctx))
	}
	return tx.Commit(ctx)
}

func (i pgAuditInspector) Value(ctx context.Context, q string, args ...any) (string, error) {
	var v *string
	if err := i.pool.QueryRow(ctx, `SELECT sub.x::text FROM (`+i.sql(q)+`) AS sub(x) LIMIT 1`, args...).Scan(&v); err != nil {
		return "", err
	}
	if v == nil {
		return "", nil
	}
	return *v, nil
}

// TestAuditPrivilegeRecipe is the operator's recipe of docs/security.md
// (F19): the service connects as a role with SELECT and INSERT only on the
// audit tables (and EXECUTE on the definer function). As that role an
// UPDATE or DELETE of an event is refused by the privileges before any
// trigger, sealing works, and the definer function still pseudonymises the
// user's events and shreds their salts.
// Negative control (run): granting the role UPDATE on the audit tables lets
// the erasure-shaped UPDATE through (the trigger allows erasures; only the
// privilege keeps the service from doing one itself) and has_table_privilege
// reports UPDATE: the test fails at both.
func TestAuditPrivilegeRecipe(t *testing.T) {
	ctx := context.Background()
	database := freshDatabase(t)
	owner := connectTo(t, database)
	if _, err := pg.Migrate(ctx, owner, pg.Auth); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	role := fmt.Sprintf("it_audit_%d", time.Now().UnixNano())
	for _, q := range []string{
		`CREATE ROLE ` + role + ` LOGIN NOSUPERUSER NOBYPASSRLS`,
		`GRANT USAGE ON SCHEMA auth TO ` + role,
		`GRANT SELECT, INSERT ON auth.security_events, auth.security_event_seals TO ` + role,
		`GRANT SELECT ON auth.users TO ` + role,
		`GRANT EXECUTE ON FUNCTION auth.pseudonymise_security_events(text, text) TO ` + role,
	} {
		if _, err := owner.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	t.Cleanup(func() {
		// The grants live in the throwaway database, the role in the cluster.
		if _, err := owner.Exec(context.Background(), `DROP OWNED BY `+role); err != nil {
			t.Errorf("drop grants of %s: %v", role, err)
		}
		if _, err := db.Exec(context.Background(), `DROP ROLE IF EXISTS `+role); err != nil {
			t.Errorf("drop role %s: %v", role, err)
		}
	})
	cfg, err := pgxpool.ParseConfig(database)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.User = role
	svc, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	// Closed before the database is dropped (cleanups run last-in first-out).
	t.Cleanup(svc.Close)
	var id string
	if err := svc.QueryRow(ctx, `INSERT INTO auth.security_events (user_id, event_type, ip_address, user_agent, metadata)
		VALUES ('recipe-user', 'LOGIN_SUCCESS', '192.0.2.1', 'recipe-ua', '{"k": 1}') RETURNING id::text`).Scan(&id); err != nil {
		t.Fatalf("insert as the service role: %v", err)
	}
	for _, q := range []string{
		`UPDATE auth.security_events SET event_type = 'LOGOUT' WHERE id = $1`,
		`UPDATE auth.security_events SET ip_address = NULL, user_agent = NULL, metadata = '{}' WHERE id = $1`,
		`DELETE FROM auth.security_events WHERE id = $1`,
	} {
		_, err := svc.Exec(ctx, q, id)
		if err == nil || !strings.Contains(err.Error(), "permission denied") {
			t.Errorf("as the service role, %s: %v; want permission denied", q, err)
		}
	}
	for _, p := range []string{"UPDATE", "DELETE", "TRUNCATE"} {
		var has bool
		if err := owner.QueryRow(ctx, `SELECT has_table_privilege($1, 'auth.security_events', $2)`, role, p).Scan(&has); err != nil || has {
			t.Errorf("has_table_privilege(%s, security_events, %s) = %v, %v; want false", role, p, has, err)
		}
	}
	// The sealer works with SELECT and INSERT (advisory locks need no grant).
	store := pg.NewAuthStore(svc, nil)
	if n, busy, err := audit.SealPending(ctx, store, 100, rand.Reader); err != nil || busy || n != 1 {
		t.Fatalf("seal as the service role: %d, busy %v, %v; want 1", n, busy, err)
	}
	var erased int
	if err := svc.QueryRow(ctx, `SELECT auth.pseudonymise_security_events('recipe-user', '')`).Scan(&erased); err != nil || erased != 1 {
		t.Fatalf("definer function as the service role: %d, %v; want 1 event erased", erased, err)
	}
	var ip, ua *string
	var salt []byte
	if err := owner.QueryRow(ctx, `SELECT e.ip_address, e.user_agent, s.pii_salt FROM auth.security_events e
		JOIN auth.security_event_seals s ON s.event_id = e.id WHERE e.id = $1`, id).Scan(&ip, &ua, &salt); err != nil {
		t.Fatal(err)
	}
	if ip != nil || ua != nil || salt != nil {
		t.Fatalf("after the definer function: ip %v, ua %v, salt %x; want all NULL", ip, ua, salt)
	}
	if r, err := audit.Verify(ctx, store); err != nil || r.Break != nil || r.Erased != 1 {
		t.Fatalf("verify as the service role: %+v, %v; want intact with 1 erased", r, err)
	}
}

// TestAuditSealerLock: one sealer at a time, and never beside an erasure.
// While another transaction holds the chain's advisory lock a SealBatch
// skips (busy, nothing sealed, no wait), and auth.pseudonymise_security_events
// waits for the lock, so no seal is computed from a row it is erasing.
// Negative controls (run): without the try-lock in pg.SealBatch the batch
// seals under the held lock ("busy"); without PERFORM pg_advisory_xact_lock
// in the function it is never seen waiting ("waiting for the chain lock").
func TestAuditSealerLock(t *testing.T) {
	ctx := context.Background()
	pool := connectTo(t, freshDatabase(t))
	if _, err := pg.Migrate(ctx, pool, pg.Auth); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	store := pg.NewAuthStore(pool, nil)
	if _, err := pool.Exec(ctx, `INSERT INTO auth.security_events (user_id, event_type, ip_address) VALUES ('lock-user', 'LOGIN_SUCCESS', '192.0.2.1')`); err != nil {
		t.Fatal(err)
	}
	holder, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Rollback(ctx) //nolint:errcheck // committed below; a rollback after that is a no-op
	if _, err := holder.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, pg.AuditSealLockKey); err != nil {
		t.Fatal(err)
	}
	if n, busy, err := store.SealBatch(ctx, 10, func(h audit.Head, r []audit.Record) ([]audit.Seal, error) {
		return audit.NewSeals(h, r, rand.Reader)
	}); err != nil || !busy || n != 0 {
		t.Fatalf("SealBatch under a held chain lock: %d sealed, busy %v, %v; want busy and nothing sealed", n, busy, err)
	}

	erased := make(chan error, 1)
	go func() {
		_, err := pool.Exec(ctx, `SELECT auth.pseudonymise_security_events('lock-user', '')`)
		erased <- err
	}()
	deadline := time.Now().Add(5 * time.Second)
	for {
		var waiting int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted
			AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting > 0 {
			break
		}
		select {
		case err := <-erased:
			t.Fatalf("the erasure ran beside a sealer holding the chain lock (%v); want it waiting for the chain lock", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the erasure is not waiting for the chain lock")
		}
		time.Sleep(5 * time.Millisecond) // polling interval; the deadline decides
	}
	if err := holder.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-erased:
		if err != nil {
			t.Fatalf("erasure after the lock was released: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the erasure did not finish once the lock was released")
	}
	if n, busy, err := audit.SealPending(ctx, store, 10, rand.Reader); err != nil || busy || n != 1 {
		t.Fatalf("seal after the lock was released: %d, busy %v, %v; want 1", n, busy, err)
	}
}
