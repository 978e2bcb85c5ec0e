//go:build integration

package integration

import (
	"context"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/mana/mana/internal/auth"
	"github.com/mana/mana/internal/store/pg"
	"github.com/mana/mana/internal/store/storetest"
)

// planSeedUsers is the number of users (each with an account, two
// sessions, a refresh token and an event) seeded before the plans are read.
const planSeedUsers = 50_000

// queryRecorder records the statements a pool runs while on.
type queryRecorder struct {
	mu      sync.Mutex
	on      bool
	queries []recordedQuery
}

type recordedQuery struct {
	sql  string
	args []any
}

func (r *queryRecorder) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.on {
		r.queries = append(r.queries, recordedQuery{sql: d.SQL, args: d.Args})
	}
	return ctx
}

func (r *queryRecorder) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (r *queryRecorder) record(on bool) []recordedQuery {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.on = on
	if on {
		r.queries = nil
	}
	return r.queries
}

// seqScanOfBigTable names a sequential scan of a table that grows with the
// users.
var seqScanOfBigTable = regexp.MustCompile(`Seq Scan on (users|accounts|sessions|refresh_tokens|security_events|login_attempts|link_tokens|two_factor_auth|members)\b`)

// TestHotQueriesUseIndexes (issue 14): with 50k users, their accounts, 100k
// sessions, refresh tokens and events seeded by SQL and ANALYZEd, every
// statement that sign-in, the token check, the session list, /me/data and
// refresh actually run (recorded by a pgx tracer, so the test follows the
// code) is planned with indexes: EXPLAIN shows no sequential scan of a
// table that grows with the users.
// Negative control: dropping sessions_user_id_idx (migration 0009) gives
// "Seq Scan on sessions" for the session list and /me/data.
func TestHotQueriesUseIndexes(t *testing.T) {
	ctx := context.Background()
	dsn := freshDatabase(t)
	rec := &queryRecorder{}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.Tracer = rec
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if _, err := pg.Migrate(ctx, pool, pg.Auth); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	jobs, err := river.NewClient(riverpgxv5.New(pool), &river.Config{Schema: pg.RiverSchema})
	if err != nil {
		t.Fatal(err)
	}
	store := pg.NewAuthStore(pool, jobs)
	svc, _ := storetest.Services(t, storetest.Backend{Store: store, Keys: store, Vaults: pg.NewVaultStore(pool), Inspect: pgInspector{pool: pool}})

	email, pw := uniqueEmail("plans"), "Plans-"+testPassword
	u, err := svc.Register(ctx, auth.RegisterInput{Email: email, Password: pw}, auth.Client{})
	if err != nil {
		t.Fatal(err)
	}
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := pool.Exec(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", strings.SplitN(q, "\n", 2)[0], err)
		}
	}
	exec(`UPDATE auth.users SET email_verified = true WHERE id = $1`, u.ID)
	exec(`INSERT INTO auth.users (id, name, email, email_verified) SELECT 'seed-' || g, 'Seed', 'seed-' || g || '@example.com', true
		FROM generate_series(1, $1::int) g`, planSeedUsers)
	exec(`INSERT INTO auth.accounts (id, account_id, provider_id, user_id, password)
		SELECT 'acc-' || g, 'seed-' || g, 'credential', 'seed-' || g, (SELECT password FROM auth.accounts WHERE user_id = $2)
		FROM generate_series(1, $1::int) g`, planSeedUsers, u.ID)
	exec(`INSERT INTO auth.sessions (id, expires_at, token, user_id)
		SELECT 'ses-' || g || '-' || k, now() + interval '7 days', 'tok-' || g || '-' || k, 'seed-' || g
		FROM generate_series(1, $1::int) g, generate_series(1, 2) k`, planSeedUsers)
	exec(`INSERT INTO auth.refresh_tokens (token_hash, session_id, expires_at)
		SELECT sha256(('rt-' || g)::bytea), 'ses-' || g || '-1', now() + interval '7 days' FROM generate_series(1, $1::int) g`, planSeedUsers)
	exec(`INSERT INTO auth.security_events (user_id, event_type, metadata)
		SELECT 'seed-' || g, 'LOGIN_SUCCESS', '{}'::jsonb FROM generate_series(1, $1::int) g`, planSeedUsers)
	exec(`INSERT INTO auth.login_attempts (email, successful, attempted_at)
		SELECT 'seed-' || g || '@example.com', g % 2 = 0, now() - (g % 1000) * interval '1 minute' FROM generate_series(1, $1::int) g`, planSeedUsers)
	exec(`INSERT INTO auth.two_factor_auth (id, user_id, enabled) SELECT '2fa-' || g, 'seed-' || g, true
		FROM generate_series(1, $1::int, 10) g`, planSeedUsers)
	exec(`ANALYZE`)

	rec.record(true)
	login, err := svc.Login(ctx, email, pw, auth.Client{IP: "192.0.2.9"})
	if err != nil {
		t.Fatalf("login: %v", err)
	}
	p, err := svc.Authenticate(ctx, login.AccessToken)
	if err != nil {
		t.Fatalf("authenticate: %v", err)
	}
	if _, err := svc.ListSessions(ctx, p); err != nil {
		t.Fatalf("sessions: %v", err)
	}
	if _, err := svc.MeData(ctx, p); err != nil {
		t.Fatalf("/me/data: %v", err)
	}
	if _, err := svc.Refresh(ctx, login.RefreshToken, auth.Client{}); err != nil {
		t.Fatalf("refresh: %v", err)
	}
	queries := rec.record(false)

	plain := connectTo(t, dsn) // not traced
	explained := 0
	for _, q := range queries {
		head := strings.ToUpper(strings.TrimSpace(q.sql))
		if !(strings.HasPrefix(head, "SELECT") || strings.HasPrefix(head, "UPDATE") || strings.HasPrefix(head, "DELETE") ||
			strings.HasPrefix(head, "WITH")) || strings.Contains(head, "RIVER_") {
			continue
		}
		rows, err := plain.Query(ctx, "EXPLAIN "+q.sql, q.args...)
		if err != nil {
			t.Fatalf("EXPLAIN %s: %v", q.sql, err)
		}
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatalf("EXPLAIN %s: %v", q.sql, err)
		}
		explained++
		plan := strings.Join(lines, "\n")
		if m := seqScanOfBigTable.FindString(plan); m != "" {
			t.Errorf("%s with %d users:\n%s\n%s", m, planSeedUsers, q.sql, plan)
		}
	}
	if explained < 5 {
		t.Fatalf("only %d statements explained; the recorder saw %d", explained, len(queries))
	}
	t.Logf("%d statements of sign-in, token check, session list, /me/data and refresh planned with indexes", explained)
}
