//go:build integration

package integration

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/mana/mana/internal/revocation"
	"github.com/mana/mana/internal/store/pg"
)

// TestRevocationFeed (issue 14): the in-memory set of revoked sessions
// learns a revocation committed anywhere within the lag (LISTEN/NOTIFY),
// vouches for nothing while its connection is gone, and after reconnecting
// knows a revocation committed while it was away (the catch-up).
// Negative control: a catch-up that loads nothing fails at s3.
func TestRevocationFeed(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pool := connectTo(t, freshDatabase(t))
	if _, err := pg.Migrate(ctx, pool, pg.Auth); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := pool.Exec(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec(`INSERT INTO auth.users (id, name, email) VALUES ('u1', 'U', 'u1@example.com')`)
	exec(`INSERT INTO auth.sessions (id, expires_at, token, user_id) SELECT 's' || g, now() + interval '1 day', 't' || g, 'u1'
		FROM generate_series(1, 4) g`)

	const lag = 400 * time.Millisecond
	set := revocation.NewSet(lag, nil)
	done := make(chan struct{})
	go func() {
		defer close(done)
		pg.NewRevocationFeed(pool, set, lag, slog.New(slog.NewTextHandler(io.Discard, nil))).Run(ctx)
	}()
	defer func() { cancel(); <-done }()
	state := func(id string) (bool, bool) { return set.Revoked(id) }
	eventually(t, 10*time.Second, "the feed vouching for its set", func() bool { _, known := state("s1"); return known })
	if revoked, _ := state("s1"); revoked {
		t.Fatal("s1 reported revoked before anything happened")
	}

	start := time.Now()
	exec(`UPDATE auth.sessions SET revoked_at = now() WHERE id = 's1'`)
	eventually(t, 10*time.Second, "s1's revocation in the set", func() bool { r, k := state("s1"); return r && k })
	t.Logf("revocation seen by the feed after %s (allowed lag %s)", time.Since(start).Round(time.Millisecond), lag)
	exec(`DELETE FROM auth.sessions WHERE id = 's2'`)
	eventually(t, 10*time.Second, "the deleted session s2 in the set", func() bool { r, k := state("s2"); return r && k })

	// Revoke s3 in the transaction that kills the listener: its
	// notification has no one to reach; only the catch-up can find it.
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `UPDATE auth.sessions SET revoked_at = now() WHERE id = 's3'`); err != nil {
		t.Fatal(err)
	}
	var killed int
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid() AND query LIKE 'SELECT pg_notify%') k`).Scan(&killed); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if killed != 1 {
		t.Fatalf("terminated %d listener connections, want 1", killed)
	}
	eventually(t, 10*time.Second, "s3's revocation, caught up after the reconnect", func() bool { r, k := state("s3"); return r && k })
	if revoked, known := state("s4"); revoked || !known {
		t.Fatalf("s4: revoked=%v known=%v, want live and known", revoked, known)
	}
}

// TestSessionRevocationTrigger: a session's touch (every refresh) fires no
// trigger; revoking, shortening and deleting a session each record it once.
// After the old service's deploy step drops the revocations table, migrate
// re-creates it with the trigger in its filtered form, not the first one.
// Negative controls: without migration 0011 the update trigger has no WHEN
// condition; without 0011 in recreatedTable the re-run leaves the
// unfiltered trigger and a second delete trigger.
func TestSessionRevocationTrigger(t *testing.T) {
	ctx := context.Background()
	pool := connectTo(t, freshDatabase(t))
	if _, err := pg.Migrate(ctx, pool, pg.Auth); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	exec := func(q string) {
		t.Helper()
		if _, err := pool.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	recorded := func(id string) int {
		t.Helper()
		var n int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM auth.session_revocations WHERE session_id = $1`, id).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	triggers := func() map[string]bool {
		t.Helper()
		rows, err := pool.Query(ctx, `SELECT tgname, tgqual IS NOT NULL FROM pg_trigger
			WHERE tgrelid = 'auth.sessions'::regclass AND NOT tgisinternal`)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]bool{}
		for rows.Next() {
			var name string
			var filtered bool
			if err := rows.Scan(&name, &filtered); err != nil {
				t.Fatal(err)
			}
			got[name] = filtered
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return got
	}
	check := func(when, prefix string) {
		t.Helper()
		if got := triggers(); len(got) != 2 || !got["sessions_revoked"] || got["sessions_revoked_delete"] {
			t.Fatalf("%s: triggers on auth.sessions (name: has WHEN) %v; want sessions_revoked filtered and sessions_revoked_delete", when, got)
		}
		exec(`INSERT INTO auth.sessions (id, expires_at, token, user_id) SELECT '` + prefix + `' || g, now() + interval '1 day', '` + prefix + `t' || g, 'u1'
			FROM generate_series(1, 4) g`)
		exec(`UPDATE auth.sessions SET last_activity_at = now(), updated_at = now() WHERE id = '` + prefix + `1'`)
		exec(`UPDATE auth.sessions SET revoked_at = now() WHERE id = '` + prefix + `2'`)
		exec(`UPDATE auth.sessions SET expires_at = now() WHERE id = '` + prefix + `3'`)
		exec(`DELETE FROM auth.sessions WHERE id = '` + prefix + `4'`)
		for i, want := range []int{0, 1, 1, 1} {
			id := prefix + string(rune('1'+i))
			if n := recorded(id); n != want {
				t.Errorf("%s: %s recorded %d times, want %d", when, id, n, want)
			}
		}
	}
	exec(`INSERT INTO auth.users (id, name, email) VALUES ('u1', 'U', 'u1@example.com')`)
	check("after migrate", "a")
	exec(`DROP TABLE auth.session_revocations`) // what the old service's deploy step does
	if _, err := pg.Migrate(ctx, pool, pg.Auth); err != nil {
		t.Fatalf("migrate after the table was dropped: %v", err)
	}
	check("after the table was re-created", "b")
}
