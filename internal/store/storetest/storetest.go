// Package storetest is the one conformance suite of the persistence of both
// services, run against every backend in the manner of River's
// riverdrivertest: internal/store/sqlite runs it in its unit tests,
// tests/integration on PostgreSQL.
//
// RunAuth drives the auth domain services (auth.Service, vault.Service,
// token.Issuer) over a backend and checks the stored outcome through a small
// inspection interface; RunNotify holds a notify.Store to its contract.
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mana/mana/internal/audit"
	"github.com/mana/mana/internal/auth"
	"github.com/mana/mana/internal/auth/outbox"
	"github.com/mana/mana/internal/cutover"
	"github.com/mana/mana/internal/kek"
	"github.com/mana/mana/internal/kekrotate"
	"github.com/mana/mana/internal/password"
	"github.com/mana/mana/internal/randid"
	"github.com/mana/mana/internal/token"
	"github.com/mana/mana/internal/vault"
)

// Inspector reads (and, for the vault test, tampers with) what a backend
// stored, bypassing the domain services.
type Inspector interface {
	// FailedAttempts counts failed login attempts recorded for email.
	FailedAttempts(ctx context.Context, email string) (int, error)
	// Events counts security events of eventType that belong to the account:
	// by user id, or by metadata email for events written before the user
	// was known.
	Events(ctx context.Context, userID, email, eventType string) (int, error)
	// Mail returns the HTML of every auth_mail outbox job addressed to to.
	Mail(ctx context.Context, to string) ([]string, error)
	// Sessions counts the user's sessions (any state).
	Sessions(ctx context.Context, userID string) (int, error)
	// Users counts users with the email.
	Users(ctx context.Context, email string) (int, error)
	// SwapServerWraps exchanges the server wraps (wrapped_mk, wrap_iv) of two
	// users' vaults.
	SwapServerWraps(ctx context.Context, userA, userB string) error
	// SeedLegacyReset writes a reset row as the old service did: identifier
	// "reset-password:<token>", value the user id.
	SeedLegacyReset(ctx context.Context, token, userID string, expires time.Time) error
	// SetCutoverState sets the rollback window's state ("window" or "finalized").
	SetCutoverState(ctx context.Context, state string) error
	// EventsOfType counts every security event of the type.
	EventsOfType(ctx context.Context, eventType string) (int, error)
	// Requests returns the auth_request jobs recorded for email, oldest
	// first: their ids and JSON args.
	Requests(ctx context.Context, email string) ([]RecordedRequest, error)
	// NotifyErasures counts the auth_notify_erase jobs of the user.
	NotifyErasures(ctx context.Context, userID string) (int, error)
}

// RecordedRequest is one auth_request job.
type RecordedRequest struct {
	ID   int64
	Args []byte
}

// Backend is one persistence implementation under test. Stores must be
// migrated; Store's mail must go to the real outbox (River) so Inspector.Mail
// sees it.
type Backend struct {
	Store   auth.Store
	Keys    token.KeyStore
	Vaults  vault.Store
	Inspect Inspector
	// Cutover and Rotation are the cut-over's status/finalization store and
	// the vault store's rotation side (RunCutover needs them).
	Cutover  cutover.Store
	Rotation kekrotate.Store
	// Ring opens the signing keys and vaults already stored (a shared
	// database); nil means a ring with a fixed test KEK.
	Ring *kek.Ring
	// Chain is the store's audit chain and Audit reads and tampers with
	// the audit tables (RunAudit needs them).
	Chain audit.ChainStore
	Audit AuditInspector
}

// cheapHashes keeps the suite fast: argon2id at a tiny cost. Only the
// stores are under test here, not the hash strength.
var cheapHashes = password.Params{MemoryKiB: 64, Time: 1, Threads: 1}

// policy is the lockout the suite checks (the production default).
var policy = auth.DefaultLockout

// clock is a settable offset on the real time: the stores stamp rows with
// real time (Postgres now()), so the service clock may only move ahead of it.
type clock struct{ offset atomic.Int64 }

func (c *clock) now() time.Time       { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *clock) skip(d time.Duration) { c.offset.Add(int64(d)) }
func discardLog() *slog.Logger        { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
func newEmail(name string) string {
	return strings.ToLower("conf-" + name + "-" + randid.ID(10) + "@example.com")
}
func strongPassword() string { return "Conformance-" + randid.Secret() }
func background() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 2*time.Minute)
}

// env is one backend with the services built over it.
type env struct {
	b      Backend
	svc    *auth.Service
	vaults *vault.Service
	clock  *clock
	hasher *password.Hasher
	tokens *token.Issuer
	// decided holds the ids of the recorded requests decideRequests worked.
	decided map[int64]bool
}

func newEnv(t *testing.T, b Backend, store auth.Store, lockout auth.LockoutPolicy) *env {
	t.Helper()
	ctx, cancel := background()
	defer cancel()
	ring := b.Ring
	if ring == nil {
		var err error
		if ring, err = kek.NewRing(make([]byte, kek.KeySize)); err != nil {
			t.Fatal(err)
		}
	}
	issuer, err := token.NewIssuer(ctx, token.Config{Store: b.Keys, Ring: ring, Issuer: "http://localhost", Audience: "mana", Log: discardLog()})
	if err != nil {
		t.Fatalf("token issuer: %v", err)
	}
	c := &clock{}
	hasher := password.NewHasher(cheapHashes, 8)
	svc := auth.NewService(auth.Config{Store: store, Hasher: hasher, Tokens: issuer,
		BaseURL: "http://localhost", Callbacks: auth.NewCallbackPolicy("http://localhost"), Lockout: lockout, LegacySecret: legacySecret, Now: c.now, Log: discardLog()})
	return &env{b: b, svc: svc, vaults: vault.NewService(b.Vaults, ring), clock: c, hasher: hasher, tokens: issuer, decided: map[int64]bool{}}
}

// decideRequests works the account requests recorded for email that it has
// not worked yet, as the request worker does, and returns how many.
func (e *env) decideRequests(t *testing.T, email string) int {
	t.Helper()
	ctx, cancel := background()
	defer cancel()
	recorded, err := e.b.Inspect.Requests(ctx, email)
	if err != nil {
		t.Fatalf("recorded requests of %s: %v", email, err)
	}
	n := 0
	for _, r := range recorded {
		if e.decided[r.ID] {
			continue
		}
		var args outbox.RequestArgs
		if err := json.Unmarshal(r.Args, &args); err != nil {
			t.Fatalf("request job %d: %v", r.ID, err)
		}
		if err := e.svc.HandleAccountRequest(ctx, args.Request()); err != nil {
			t.Fatalf("decide request job %d: %v", r.ID, err)
		}
		e.decided[r.ID] = true
		n++
	}
	return n
}

// RunAuth runs the auth suite; newBackend is called once per test and may return a
// fresh database (SQLite) or a shared one (Postgres: the tests use unique
// emails).
func RunAuth(t *testing.T, newBackend func(t *testing.T) Backend) {
	tests := []struct {
		name string
		fn   func(*testing.T, Backend)
	}{
		{"LockoutThreshold", testLockoutThreshold},
		{"LockoutCanonicalEmail", testLockoutCanonicalEmail},
		{"LockoutClearedBySuccess", testLockoutClearedBySuccess},
		{"LockoutDurationAndWindow", testLockoutDurationAndWindow},
		{"LockoutConcurrent", testLockoutConcurrent},
		{"AuditInTransaction", testAuditInTransaction},
		{"RefreshRotationAndReuse", testRefreshRotationAndReuse},
		{"RefreshConcurrent", testRefreshConcurrent},
		{"Vault", testVault},
		{"VaultWrapsBoundToUser", testVaultWrapsBoundToUser},
		{"Outbox", testOutbox},
		{"DeleteAccount", testDeleteAccount},
		{"AccountLifecycle", testAccountLifecycle},
		{"PanicRollsBack", testPanicRollsBack},
		{"BrowserSessions", testBrowserSessions},
		{"LegacyRefresh", testLegacyRefresh},
		{"LegacyLinks", testLegacyLinks},
		{"PersonalSpace", testPersonalSpace},
		{"RightPasswordAfterLock", testRightPasswordAfterLock},
		{"ChangePasswordCountsTowardLockout", testChangePasswordCountsTowardLockout},
		{"AccountRequestsDecidedLater", testAccountRequestsDecidedLater},
		{"SessionState", testSessionState},
		{"AccountData", testAccountData},
		{"RotateRefresh", testRotateRefresh},
		{"RevocationView", testRevocationView},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newBackend(t)) })
	}
}

var tokenParam = regexp.MustCompile(`token=([^&"]+)`)

// verifiedUser registers a user, reads the verification link from the
// outbox and follows it, as a user would.
func (e *env) verifiedUser(t *testing.T, name string) (auth.User, string) {
	t.Helper()
	ctx, cancel := background()
	defer cancel()
	email, pw := newEmail(name), strongPassword()
	u, err := e.svc.Register(ctx, auth.RegisterInput{Email: email, Password: pw}, auth.Client{IP: "192.0.2.1"})
	if err != nil {
		t.Fatalf("register %s: %v", email, err)
	}
	mails, err := e.b.Inspect.Mail(ctx, email)
	if err != nil || len(mails) != 1 {
		t.Fatalf("verification mail of %s: %d jobs, %v; want 1", email, len(mails), err)
	}
	m := tokenParam.FindStringSubmatch(mails[0])
	if m == nil {
		t.Fatalf("no token link in the verification mail: %s", mails[0])
	}
	secret, err := url.QueryUnescape(m[1])
	if err != nil {
		t.Fatal(err)
	}
	v, err := e.svc.VerifyEmail(ctx, secret, auth.Client{})
	if err != nil {
		t.Fatalf("verify %s: %v", email, err)
	}
	if v.Session == nil || v.SessionToken == "" {
		t.Fatalf("verifying %s signed nobody in: %+v", email, v)
	}
	return u, pw
}

// verifySessions is the session verifying an address signs the user in with.
const verifySessions = 1

// loggedIn is a verified user with a fresh session.
func (e *env) loggedIn(t *testing.T, name string) (auth.User, auth.LoginResult) {
	t.Helper()
	u, pw := e.verifiedUser(t, name)
	ctx, cancel := background()
	defer cancel()
	login, err := e.svc.Login(ctx, u.Email, pw, auth.Client{})
	if err != nil {
		t.Fatalf("login %s: %v", u.Email, err)
	}
	return u, login
}

// must returns the count of an Inspector call, failing the test on its error.
func must(t *testing.T, what string) func(int, error) int {
	return func(n int, err error) int {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return n
	}
}

func isLocked(err error) bool {
	var l *auth.LockedError
	return errors.As(err, &l)
}

func wrongLogin(t *testing.T, e *env, email string) error {
	t.Helper()
	ctx, cancel := background()
	defer cancel()
	_, err := e.svc.Login(ctx, email, "Wrong-"+randid.ID(12), auth.Client{IP: "192.0.2.9", UserAgent: "storetest"})
	return err
}

// wantWrong fails unless err is a plain wrong-password answer.
func wantWrong(t *testing.T, err error, i int) {
	t.Helper()
	if !errors.Is(err, auth.ErrInvalidCredentials) {
		t.Fatalf("wrong password #%d: %v, want invalid credentials", i, err)
	}
}

// parallel runs fn n times at once and waits for all.
func parallel(n int, fn func(i int)) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			fn(i)
		}()
	}
	close(start)
	wg.Wait()
}

// Services builds the auth and vault services the suite uses over b (cheap
// password hashes, the production lockout), for backend-specific tests.
func Services(t *testing.T, b Backend) (*auth.Service, *vault.Service) {
	t.Helper()
	e := newEnv(t, b, b.Store, policy)
	return e.svc, e.vaults
}
