package authapi_test

// This file is the one place that builds the API for the handler tests: the
// real auth.Service, vault.Service and token.Issuer over a temporary SQLite
// file, wired as the service wires them (newAuthAPI). When packages move, only
// this file should need to change.

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riversqlite"

	"github.com/mana/mana/internal/auth"
	"github.com/mana/mana/internal/auth/outbox"
	"github.com/mana/mana/internal/authapi"
	"github.com/mana/mana/internal/kek"
	"github.com/mana/mana/internal/password"
	"github.com/mana/mana/internal/password/policy"
	"github.com/mana/mana/internal/ratelimit"
	"github.com/mana/mana/internal/store/sqlite"
	"github.com/mana/mana/internal/token"
	"github.com/mana/mana/internal/vault"
)

// cheapHashes is the cheapest argon2id cost the password package accepts
// (internal/store/storetest uses the same): the handlers are under test, not
// the hash strength, and it keeps a login at well under a millisecond.
var cheapHashes = password.Params{MemoryKiB: 64, Time: 1, Threads: 1}

// testOptions varies the server per test; the zero value is the default.
type testOptions struct {
	// BaseURL is BASE_URL (default http://localhost). An https:// one makes
	// the __Secure- cookie the preferred one.
	BaseURL string
	// Limiter, when set, wraps the mux with api.RateLimited (nil: no rate
	// limiting at all, as RateLimited itself does with a nil limiter).
	Limiter ratelimit.Limiter
	// Rules are the rate-limit rules (default authapi.DefaultRateLimits()).
	Rules ratelimit.Rules
	// MaxDailySignups is MAX_DAILY_SIGNUPS (0 = unlimited).
	MaxDailySignups int
	// LogTo receives the server's log (default: discarded).
	LogTo io.Writer
	// ReauthMaxAge is MANA_REAUTH_MAX_AGE (0 = off).
	ReauthMaxAge time.Duration
}

// allowedOrigin is an app origin besides BaseURL that callbacks may name
// and cookie-authenticated requests may come from.
const allowedOrigin = "https://app.example"

// testSecret is BETTER_AUTH_SECRET: it signs the session cookies.
const testSecret = "test-better-auth-secret"

// testServer is the API under test plus what the tests inspect or break.
type testServer struct {
	handler http.Handler
	// db is the SQLite handle every store uses (for inspection, or Close to
	// make the database really unavailable).
	db *sql.DB
	// store and vaults wrap the real stores and fail on demand.
	store  *faultyStore
	vaults *faultyVaultStore
	// clock is the clock of the auth service and the token issuer (the
	// stores keep real time).
	clock *testClock
	// mail reads the outbox.
	mail mailbox
	// svc decides the recorded account requests (decideRequests).
	svc *auth.Service
}

// newTestServer builds the API on a fresh SQLite file in t.TempDir().
func newTestServer(t *testing.T, opts testOptions) *testServer {
	t.Helper()
	if opts.BaseURL == "" {
		opts.BaseURL = "http://localhost"
	}
	if opts.Rules == nil {
		opts.Rules = authapi.DefaultRateLimits()
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if opts.LogTo == nil {
		opts.LogTo = io.Discard
	}
	log := slog.New(slog.NewTextHandler(opts.LogTo, nil))

	file := filepath.Join(t.TempDir(), "mana.db")
	if err := copyFile(migratedTemplate(t), file); err != nil {
		t.Fatalf("copy the migrated database: %v", err)
	}
	db, err := sqlite.Open(ctx, file)
	if err != nil {
		t.Fatalf("open sqlite: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() }) // some tests close it themselves
	// A no-op on the copy of a migrated file, kept so that a schema change
	// can never leave the copy behind.
	if _, err := sqlite.Migrate(ctx, db, sqlite.Auth, sqlite.Notify); err != nil {
		t.Fatalf("migrate sqlite: %v", err)
	}

	// An insert-only job client (no queues, no workers): the stores insert
	// the outbox mail as auth_mail jobs in their own transactions, and the
	// jobs stay in river_job where mailbox reads them.
	jobs, err := river.NewClient(riversqlite.New(db), &river.Config{})
	if err != nil {
		t.Fatalf("job client: %v", err)
	}
	base := sqlite.NewAuthStore(db, jobs)
	store := &faultyStore{Store: base}
	vaults := &faultyVaultStore{Store: sqlite.NewVaultStore(db)}

	ring, err := kek.NewRing(make([]byte, kek.KeySize))
	if err != nil {
		t.Fatalf("kek ring: %v", err)
	}
	clock := &testClock{}
	tokens, err := token.NewIssuer(ctx, token.Config{Store: base, Ring: ring, Issuer: opts.BaseURL, Audience: "mana",
		Log: log, Now: clock.now})
	if err != nil {
		t.Fatalf("token issuer: %v", err)
	}
	pwPolicy, err := policy.New(policy.DefaultMinLength)
	if err != nil {
		t.Fatalf("password policy: %v", err)
	}
	svc := auth.NewService(auth.Config{
		Store: store, Hasher: password.NewHasher(cheapHashes, 4), Tokens: tokens,
		BaseURL: opts.BaseURL, Callbacks: auth.NewCallbackPolicy(opts.BaseURL, allowedOrigin),
		Lockout: auth.DefaultLockout, Policy: pwPolicy, MaxDailySignups: opts.MaxDailySignups,
		LegacySecret: testSecret, Now: clock.now, Log: log,
	})
	api := authapi.New(authapi.Config{Service: svc, Tokens: tokens, Vault: vault.NewService(vaults, ring), Log: log,
		BaseURL: opts.BaseURL, BetterAuthSecret: testSecret, TrustedOrigins: []string{allowedOrigin}, ReauthMaxAge: opts.ReauthMaxAge,
		Registry: prometheus.NewRegistry()})
	mux := http.NewServeMux()
	api.Routes(mux)
	return &testServer{handler: api.RateLimited(mux, opts.Limiter, opts.Rules), db: db, store: store, vaults: vaults,
		clock: clock, mail: mailbox{db}, svc: svc}
}

// Migrating takes most of a server's start-up (about a second with -race),
// so the package migrates one file once and every server starts on a copy.
var dbTemplate struct {
	once sync.Once
	dir  string
	file string
	err  error
}

// TestMain removes the migrated template when the tests end.
func TestMain(m *testing.M) {
	code := m.Run()
	if dbTemplate.dir != "" {
		_ = os.RemoveAll(dbTemplate.dir)
	}
	os.Exit(code)
}

// migratedTemplate returns the path of a closed, fully migrated database.
func migratedTemplate(t *testing.T) string {
	t.Helper()
	dbTemplate.once.Do(func() {
		dbTemplate.dir, dbTemplate.err = os.MkdirTemp("", "authapi-test-")
		if dbTemplate.err != nil {
			return
		}
		dbTemplate.file = filepath.Join(dbTemplate.dir, "template.db")
		dbTemplate.err = func() error {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			db, err := sqlite.Open(ctx, dbTemplate.file)
			if err != nil {
				return err
			}
			if _, err := sqlite.Migrate(ctx, db, sqlite.Auth, sqlite.Notify); err != nil {
				_ = db.Close()
				return err
			}
			// Fold the WAL into the main file, so the file alone is the database.
			if _, err := db.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
				_ = db.Close()
				return err
			}
			return db.Close()
		}()
	})
	if dbTemplate.err != nil {
		t.Fatalf("migrated template database: %v", dbTemplate.err)
	}
	return dbTemplate.file
}

func copyFile(from, to string) error {
	data, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return os.WriteFile(to, data, 0o600)
}

// errStoreDown is what a broken store answers.
var errStoreDown = errors.New("test: store is down")

// faultyStore is the real auth store until failAfter arms it: then it lets
// n more transactions through and fails every later one (and Ping).
type faultyStore struct {
	auth.Store
	armed  atomic.Bool
	budget atomic.Int64
}

// failAfter makes every transaction after the next n fail (0: fail now).
func (f *faultyStore) failAfter(n int) {
	f.budget.Store(int64(n))
	f.armed.Store(true)
}

// heal makes the store work again.
func (f *faultyStore) heal() { f.armed.Store(false) }

func (f *faultyStore) fail() bool { return f.armed.Load() && f.budget.Add(-1) < 0 }

func (f *faultyStore) InTx(ctx context.Context, fn func(auth.Tx) error) error {
	if f.fail() {
		return errStoreDown
	}
	return f.Store.InTx(ctx, fn)
}

func (f *faultyStore) SessionState(ctx context.Context, id string) (auth.SessionState, error) {
	if f.fail() {
		return auth.SessionState{}, errStoreDown
	}
	return f.Store.SessionState(ctx, id)
}

func (f *faultyStore) AccountData(ctx context.Context, userID string) (auth.User, auth.AccountSummary, error) {
	if f.fail() {
		return auth.User{}, auth.AccountSummary{}, errStoreDown
	}
	return f.Store.AccountData(ctx, userID)
}

func (f *faultyStore) Ping(ctx context.Context) error {
	if f.armed.Load() && f.budget.Load() <= 0 {
		return errStoreDown
	}
	return f.Store.Ping(ctx)
}

// faultyVaultStore is the real vault store until down is set.
type faultyVaultStore struct {
	vault.Store
	down atomic.Bool
}

func (f *faultyVaultStore) InUserTx(ctx context.Context, userID string, fn func(vault.Tx) error) error {
	if f.down.Load() {
		return errStoreDown
	}
	return f.Store.InUserTx(ctx, userID, fn)
}

// testClock is real time plus a settable offset (the stores stamp rows with
// real time, so the service clock may only move ahead).
type testClock struct{ offset atomic.Int64 }

func (c *testClock) now() time.Time       { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *testClock) skip(d time.Duration) { c.offset.Add(int64(d)) }

// mailbox reads the mail the stores enqueued: the auth_mail River jobs in
// river_job (committed with the transaction that recorded them).
type mailbox struct{ db *sql.DB }

// to returns the HTML of the mails addressed to addr, oldest first.
func (m mailbox) to(t *testing.T, addr string) []string {
	t.Helper()
	rows, err := m.db.Query(`SELECT json_extract(args, '$.html') FROM river_job
		WHERE kind = 'auth_mail' AND json_extract(args, '$.to') = ? ORDER BY id`, addr)
	if err != nil {
		t.Fatalf("read the outbox: %v", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var html string
		if err := rows.Scan(&html); err != nil {
			t.Fatalf("read the outbox: %v", err)
		}
		out = append(out, html)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("read the outbox: %v", err)
	}
	return out
}

// decideRequests works the recorded account requests (forgot password,
// resend verification) as the request worker does, and removes their jobs.
func (s *testServer) decideRequests(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rows, err := s.db.QueryContext(ctx, `SELECT id, json(args) FROM river_job WHERE kind = 'auth_request' ORDER BY id`)
	if err != nil {
		t.Fatalf("read the requests: %v", err)
	}
	type job struct {
		id   int64
		args outbox.RequestArgs
	}
	var jobs []job
	for rows.Next() {
		var j job
		var raw []byte
		if err := rows.Scan(&j.id, &raw); err != nil {
			t.Fatalf("read the requests: %v", err)
		}
		if err := json.Unmarshal(raw, &j.args); err != nil {
			t.Fatalf("request job %d: %v", j.id, err)
		}
		jobs = append(jobs, j)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		t.Fatalf("read the requests: %v", err)
	}
	for _, j := range jobs {
		if err := s.svc.HandleAccountRequest(ctx, j.args.Request()); err != nil {
			t.Fatalf("decide request job %d: %v", j.id, err)
		}
		if _, err := s.db.ExecContext(ctx, `DELETE FROM river_job WHERE id = ?`, j.id); err != nil {
			t.Fatalf("remove request job %d: %v", j.id, err)
		}
	}
}

// count is how many mails were enqueued in all.
func (m mailbox) count(t *testing.T) int {
	t.Helper()
	var n int
	if err := m.db.QueryRow(`SELECT count(*) FROM river_job WHERE kind = 'auth_mail'`).Scan(&n); err != nil {
		t.Fatalf("count the outbox: %v", err)
	}
	return n
}
