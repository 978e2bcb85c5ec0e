package storetest

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mana/mana/internal/audit"
	"github.com/mana/mana/internal/auth"
	"github.com/mana/mana/internal/vault"
)

// testLockoutThreshold: Threshold wrong passwords lock; the next attempt,
// even with the right password, is refused without being counted, and the
// lock is audited.
// Negative control: InsertFailedAttempt doing nothing (or RecentFailures
// returning nothing) lets the sixth attempt through as a wrong password.
func testLockoutThreshold(t *testing.T, b Backend) {
	e := newEnv(t, b, b.Store, policy)
	u, pw := e.verifiedUser(t, "threshold")
	for i := 1; i <= policy.Threshold; i++ {
		wantWrong(t, wrongLogin(t, e, u.Email), i)
	}
	if err := wrongLogin(t, e, u.Email); !isLocked(err) {
		t.Fatalf("attempt %d after %d failures: %v, want locked", policy.Threshold+1, policy.Threshold, err)
	}
	ctx, cancel := background()
	defer cancel()
	if _, err := e.svc.Login(ctx, u.Email, pw, auth.Client{}); !isLocked(err) {
		t.Fatalf("right password while locked: %v, want locked", err)
	}
	if n := must(t, "failed attempts")(e.b.Inspect.FailedAttempts(ctx, u.Email)); n != policy.Threshold {
		t.Fatalf("failed attempts = %d, want %d (locked attempts must not count)", n, policy.Threshold)
	}
	if n := must(t, "LOGIN_FAILURE events")(e.b.Inspect.Events(ctx, u.ID, u.Email, audit.LoginFailure)); n != policy.Threshold {
		t.Fatalf("LOGIN_FAILURE events = %d, want %d", n, policy.Threshold)
	}
	if n := must(t, "ACCOUNT_LOCKED events")(e.b.Inspect.Events(ctx, u.ID, u.Email, audit.AccountLocked)); n != 2 {
		t.Fatalf("ACCOUNT_LOCKED events = %d, want 2", n)
	}
	if n := must(t, "sessions")(e.b.Inspect.Sessions(ctx, u.ID)); n != verifySessions {
		t.Fatalf("sessions = %d after refused logins, want only the verification's %d", n, verifySessions)
	}
}

// testLockoutCanonicalEmail: spellings of one address share one counter.
// Negative control: counting by the raw email lets the sixth spelling in.
func testLockoutCanonicalEmail(t *testing.T, b Backend) {
	e := newEnv(t, b, b.Store, policy)
	u, _ := e.verifiedUser(t, "canonical")
	spellings := []string{strings.ToUpper(u.Email), " " + u.Email + " ", u.Email, strings.ToUpper(u.Email[:1]) + u.Email[1:], "\t" + strings.ToUpper(u.Email)}
	for i, s := range spellings[:policy.Threshold] {
		wantWrong(t, wrongLogin(t, e, s), i+1)
	}
	if err := wrongLogin(t, e, strings.ToUpper(u.Email)); !isLocked(err) {
		t.Fatalf("after %d failures under different spellings: %v, want locked", policy.Threshold, err)
	}
	ctx, cancel := background()
	defer cancel()
	if n := must(t, "failed attempts")(e.b.Inspect.FailedAttempts(ctx, u.Email)); n != policy.Threshold {
		t.Fatalf("failed attempts under the canonical email = %d, want %d", n, policy.Threshold)
	}
}

// testLockoutClearedBySuccess: a successful login clears the failures, so
// the count starts again.
// Negative control: ClearAttempts doing nothing locks at the next failure.
func testLockoutClearedBySuccess(t *testing.T, b Backend) {
	e := newEnv(t, b, b.Store, policy)
	u, pw := e.verifiedUser(t, "clear")
	ctx, cancel := background()
	defer cancel()
	for i := 1; i < policy.Threshold; i++ {
		wantWrong(t, wrongLogin(t, e, u.Email), i)
	}
	if _, err := e.svc.Login(ctx, u.Email, pw, auth.Client{}); err != nil {
		t.Fatalf("right password after %d failures: %v", policy.Threshold-1, err)
	}
	if n := must(t, "failed attempts")(e.b.Inspect.FailedAttempts(ctx, u.Email)); n != 0 {
		t.Fatalf("failed attempts after a success = %d, want 0", n)
	}
	for i := 1; i < policy.Threshold; i++ {
		wantWrong(t, wrongLogin(t, e, u.Email), i)
	}
	if n := must(t, "sessions")(e.b.Inspect.Sessions(ctx, u.ID)); n != verifySessions+1 {
		t.Fatalf("sessions = %d, want %d", n, verifySessions+1)
	}
}

// testLockoutDurationAndWindow: the lock lasts Lock after the last failure,
// then lifts; failures further apart than Window never lock.
// Negative control: RecentFailures returning oldest first locks under the
// narrow Window ("wrong password #6: account locked"). Its since bound is
// only a cost bound (Evaluate's window check gives the same answer without
// it), so no test can see it go.
func testLockoutDurationAndWindow(t *testing.T, b Backend) {
	e := newEnv(t, b, b.Store, policy)
	u, pw := e.verifiedUser(t, "duration")
	for i := 1; i <= policy.Threshold; i++ {
		wantWrong(t, wrongLogin(t, e, u.Email), i)
	}
	e.clock.skip(policy.Lock - time.Minute)
	if err := wrongLogin(t, e, u.Email); !isLocked(err) {
		t.Fatalf("a minute before the lock ends: %v, want locked", err)
	}
	e.clock.skip(2 * time.Minute)
	ctx, cancel := background()
	defer cancel()
	if _, err := e.svc.Login(ctx, u.Email, pw, auth.Client{}); err != nil {
		t.Fatalf("a minute after the lock ended: %v, want a session", err)
	}

	// Window: rows are stamped with the store's real clock (Postgres now()),
	// so failures cannot be spread over 15 minutes here; the policy's Window
	// is narrowed instead, shorter than the time between two calls, so no
	// burst ever fits in it.
	narrow := newEnv(t, b, b.Store, auth.LockoutPolicy{Threshold: policy.Threshold, Window: time.Microsecond, Lock: policy.Lock})
	v, _ := e.verifiedUser(t, "window")
	for i := 1; i <= policy.Threshold+2; i++ {
		wantWrong(t, wrongLogin(t, narrow, v.Email), i)
	}
}

// testLockoutConcurrent: 50 wrong passwords at once for one account record
// exactly Threshold failures; every other answer is the lock.
// Negative controls: the service without the re-check inside
// recordFailure's transaction (19 rows on SQLite, 50 on Postgres); on
// Postgres, LockLogin as a no-op (6 rows); on SQLite, deferred transactions
// on four connections (SQLITE_BUSY answers). SQLite's single connection and
// its BEGIN IMMEDIATE each suffice alone: removing only one still passes.
func testLockoutConcurrent(t *testing.T, b Backend) {
	e := newEnv(t, b, b.Store, policy)
	u, _ := e.verifiedUser(t, "concurrent")
	const n = 50
	var wrong, locked, other atomic.Int32
	var firstOther atomic.Value
	parallel(n, func(int) {
		err := wrongLogin(t, e, u.Email)
		switch {
		case errors.Is(err, auth.ErrInvalidCredentials):
			wrong.Add(1)
		case isLocked(err):
			locked.Add(1)
		default:
			other.Add(1)
			firstOther.CompareAndSwap(nil, err)
		}
	})
	if other.Load() != 0 {
		t.Fatalf("%d of %d parallel logins failed otherwise, first: %v", other.Load(), n, firstOther.Load())
	}
	ctx, cancel := background()
	defer cancel()
	attempts := must(t, "failed attempts")(e.b.Inspect.FailedAttempts(ctx, u.Email))
	t.Logf("%d parallel wrong passwords: %d invalid, %d locked, %d attempt rows", n, wrong.Load(), locked.Load(), attempts)
	if attempts != policy.Threshold || int(wrong.Load()) != policy.Threshold || int(locked.Load()) != n-policy.Threshold {
		t.Fatalf("attempt rows %d, invalid answers %d, locked answers %d; want %d, %d, %d",
			attempts, wrong.Load(), locked.Load(), policy.Threshold, policy.Threshold, n-policy.Threshold)
	}
}

// failingEvents makes every InsertEvent fail, as a full disk or a broken
// audit table would.
type failingEvents struct{ auth.Store }

var errInjected = errors.New("storetest: injected audit failure")

func (s failingEvents) InTx(ctx context.Context, fn func(auth.Tx) error) error {
	return s.Store.InTx(ctx, func(tx auth.Tx) error { return fn(failingEventsTx{tx}) })
}

type failingEventsTx struct{ auth.Tx }

func (failingEventsTx) InsertEvent(context.Context, audit.Event) error { return errInjected }

// testAuditInTransaction: when the audit row cannot be written, the state
// change it describes is not committed either (no user, no mail job, no
// attempt row, no session), and the caller gets an error.
// Negative control: a store whose InTx commits despite fn's error (or a
// service ignoring InsertEvent's error) leaves the rows behind.
func testAuditInTransaction(t *testing.T, b Backend) {
	good := newEnv(t, b, b.Store, policy)
	bad := newEnv(t, b, failingEvents{b.Store}, policy)
	ctx, cancel := background()
	defer cancel()

	email := newEmail("audit-register")
	if _, err := bad.svc.Register(ctx, auth.RegisterInput{Email: email, Password: strongPassword()}, auth.Client{}); !errors.Is(err, errInjected) {
		t.Fatalf("register with a failing audit: %v, want the injected error", err)
	}
	if n := must(t, "users")(b.Inspect.Users(ctx, email)); n != 0 {
		t.Fatalf("users with %s = %d after a failed audit, want 0", email, n)
	}
	if mails, err := b.Inspect.Mail(ctx, email); err != nil || len(mails) != 0 {
		t.Fatalf("mail jobs to %s = %d (%v) after a failed audit, want 0", email, len(mails), err)
	}

	u, pw := good.verifiedUser(t, "audit-login")
	if _, err := bad.svc.Login(ctx, u.Email, "Wrong-password-1", auth.Client{}); err == nil || errors.Is(err, auth.ErrInvalidCredentials) {
		t.Fatalf("wrong password with a failing audit: %v, want a failure (not an answer)", err)
	}
	if n := must(t, "failed attempts")(b.Inspect.FailedAttempts(ctx, u.Email)); n != 0 {
		t.Fatalf("failed attempts = %d after a failed audit, want 0", n)
	}
	if _, err := bad.svc.Login(ctx, u.Email, pw, auth.Client{}); !errors.Is(err, errInjected) {
		t.Fatalf("right password with a failing audit: %v, want the injected error", err)
	}
	if n := must(t, "sessions")(b.Inspect.Sessions(ctx, u.ID)); n != verifySessions {
		t.Fatalf("sessions = %d after a failed audit, want only the verification's %d", n, verifySessions)
	}
	// The same calls with a working audit do commit: the checks above can fail.
	if _, err := good.svc.Login(ctx, u.Email, pw, auth.Client{}); err != nil {
		t.Fatalf("login with a working audit: %v", err)
	}
	if n := must(t, "sessions")(b.Inspect.Sessions(ctx, u.ID)); n != verifySessions+1 {
		t.Fatalf("sessions = %d, want %d", n, verifySessions+1)
	}
}

// testRefreshRotationAndReuse: a refresh token works once; presenting it
// again revokes the whole family (the newer token too) and is audited.
// Negative control: RotateRefresh not marking the old token rotated lets
// it rotate again.
func testRefreshRotationAndReuse(t *testing.T, b Backend) {
	e := newEnv(t, b, b.Store, policy)
	u, login := e.loggedIn(t, "refresh")
	ctx, cancel := background()
	defer cancel()
	second, err := e.svc.Refresh(ctx, login.RefreshToken, auth.Client{})
	if err != nil {
		t.Fatalf("first rotation: %v", err)
	}
	third, err := e.svc.Refresh(ctx, second.RefreshToken, auth.Client{})
	if err != nil {
		t.Fatalf("second rotation: %v", err)
	}
	if _, err := e.svc.Refresh(ctx, login.RefreshToken, auth.Client{}); !errors.Is(err, auth.ErrSessionInvalid) {
		t.Fatalf("reused refresh token: %v, want session invalid", err)
	}
	if _, err := e.svc.Refresh(ctx, third.RefreshToken, auth.Client{}); !errors.Is(err, auth.ErrSessionInvalid) {
		t.Fatalf("newest token after a reuse: %v, want session invalid (family revoked)", err)
	}
	if n := must(t, "reuse events")(b.Inspect.Events(ctx, u.ID, u.Email, audit.TokenReuseDetected)); n != 1 {
		t.Fatalf("TOKEN_REUSE_DETECTED events = %d, want 1", n)
	}
}

// testRefreshConcurrent: one refresh token presented 10 times at once
// rotates exactly once.
// Negative control: RefreshTokenForUpdate without its lock (Postgres FOR
// UPDATE; SQLite's write lock at BEGIN) lets several rotations succeed.
func testRefreshConcurrent(t *testing.T, b Backend) {
	e := newEnv(t, b, b.Store, policy)
	_, login := e.loggedIn(t, "refresh-race")
	ctx, cancel := background()
	defer cancel()
	ok, refused, other := refreshRace(10, func() error {
		_, err := e.svc.Refresh(ctx, login.RefreshToken, auth.Client{})
		return err
	})
	if ok != 1 || refused != 9 {
		t.Fatalf("10 parallel refreshes: %d rotated, %d refused, %d failed; want 1, 9, 0", ok, refused, other)
	}
}

// refreshRace runs refresh n times at once and counts the outcomes:
// accepted, refused as an invalid session, failed otherwise.
func refreshRace(n int, refresh func() error) (ok, refused, other int32) {
	var a, b, c atomic.Int32
	parallel(n, func(int) {
		switch err := refresh(); {
		case err == nil:
			a.Add(1)
		case errors.Is(err, auth.ErrSessionInvalid):
			b.Add(1)
		default:
			c.Add(1)
		}
	})
	return a.Load(), b.Load(), c.Load()
}

// testVault: init creates a key, key returns it, rotate replaces it, and
// every operation is audited in the vault's own audit table.
// Negative control: UpdateVault not writing wrapped_mk makes Key return the
// pre-rotation key.
func testVault(t *testing.T, b Backend) {
	e := newEnv(t, b, b.Store, policy)
	u, _ := e.verifiedUser(t, "vault")
	ctx, cancel := background()
	defer cancel()
	first, err := e.vaults.Init(ctx, u.ID, vault.Client{})
	if err != nil {
		t.Fatalf("init: %v", err)
	}
	again, err := e.vaults.Init(ctx, u.ID, vault.Client{})
	if err != nil || !bytes.Equal(again.MasterKey, first.MasterKey) {
		t.Fatalf("second init: %v; same key %v, want the existing key", err, bytes.Equal(again.MasterKey, first.MasterKey))
	}
	got, err := e.vaults.Key(ctx, u.ID, vault.Client{})
	if err != nil || !bytes.Equal(got.MasterKey, first.MasterKey) {
		t.Fatalf("key: %v; same as init %v", err, bytes.Equal(got.MasterKey, first.MasterKey))
	}
	rotated, err := e.vaults.Rotate(ctx, u.ID, vault.Client{})
	if err != nil || bytes.Equal(rotated.MasterKey, first.MasterKey) {
		t.Fatalf("rotate: %v; unchanged %v", err, bytes.Equal(rotated.MasterKey, first.MasterKey))
	}
	got, err = e.vaults.Key(ctx, u.ID, vault.Client{})
	if err != nil || !bytes.Equal(got.MasterKey, rotated.MasterKey) {
		t.Fatalf("key after rotate: %v; equals the rotated key %v", err, bytes.Equal(got.MasterKey, rotated.MasterKey))
	}
}

// testVaultWrapsBoundToUser: the user id is the wrap's associated data, so
// a wrap moved to another user's row does not open.
// Negative control: wrapping without associated data (scheme 1) opens the
// swapped wraps and hands each user the other's key.
func testVaultWrapsBoundToUser(t *testing.T, b Backend) {
	e := newEnv(t, b, b.Store, policy)
	a, _ := e.verifiedUser(t, "vault-a")
	c, _ := e.verifiedUser(t, "vault-b")
	ctx, cancel := background()
	defer cancel()
	for _, id := range []string{a.ID, c.ID} {
		if _, err := e.vaults.Init(ctx, id, vault.Client{}); err != nil {
			t.Fatalf("init %s: %v", id, err)
		}
	}
	if err := b.Inspect.SwapServerWraps(ctx, a.ID, c.ID); err != nil {
		t.Fatalf("swap wraps: %v", err)
	}
	for _, id := range []string{a.ID, c.ID} {
		if got, err := e.vaults.Key(ctx, id, vault.Client{}); err == nil {
			t.Fatalf("key of %s with another user's wrap: opened (%d bytes), want a refusal", id, len(got.MasterKey))
		}
	}
}

// testOutbox: a mail enqueued in a transaction that then fails leaves no
// job; one whose transaction commits leaves exactly one.
// Negative control: an enqueue that inserts outside the transaction (River's
// Insert instead of InsertTx) leaves a job behind the rollback.
func testOutbox(t *testing.T, b Backend) {
	ctx, cancel := background()
	defer cancel()
	rolledBack, committed := newEmail("outbox-rollback"), newEmail("outbox-commit")
	fail := errors.New("storetest: fail after enqueue")
	err := b.Store.InTx(ctx, func(tx auth.Tx) error {
		if err := tx.EnqueueMail(ctx, auth.Mail{To: rolledBack, Subject: "s", HTML: "<p>h</p>", ExternalID: "conf-" + rolledBack}); err != nil {
			return err
		}
		return fail
	})
	if !errors.Is(err, fail) {
		t.Fatalf("failing transaction: %v, want its error", err)
	}
	err = b.Store.InTx(ctx, func(tx auth.Tx) error {
		return tx.EnqueueMail(ctx, auth.Mail{To: committed, Subject: "s", HTML: "<p>h</p>", ExternalID: "conf-" + committed})
	})
	if err != nil {
		t.Fatalf("committing transaction: %v", err)
	}
	if mails, err := b.Inspect.Mail(ctx, rolledBack); err != nil || len(mails) != 0 {
		t.Fatalf("jobs after a rollback: %d (%v), want 0", len(mails), err)
	}
	if mails, err := b.Inspect.Mail(ctx, committed); err != nil || len(mails) != 1 {
		t.Fatalf("jobs after a commit: %d (%v), want 1", len(mails), err)
	}
}

// testDeleteAccount: deleting an account leaves none of the user's personal
// data: no user, session or attempt row, no event carrying the email, and no
// queued mail to the address except the "account deleted" notice itself.
// Negative control: DeleteAccount without its "queued mail" step leaves the
// verification mail (two jobs instead of one).
func testDeleteAccount(t *testing.T, b Backend) {
	e := newEnv(t, b, b.Store, policy)
	u, login := e.loggedIn(t, "delete")
	ctx, cancel := background()
	defer cancel()
	wantWrong(t, wrongLogin(t, e, u.Email), 1)
	if _, err := e.vaults.Init(ctx, u.ID, vault.Client{}); err != nil {
		t.Fatalf("vault init: %v", err)
	}
	p, err := e.svc.Authenticate(ctx, login.AccessToken)
	if err != nil {
		t.Fatalf("authenticate: %v", err)
	}
	d, err := e.svc.DeleteAccount(ctx, p)
	if err != nil || !d.UserDeleted || d.Sessions != verifySessions+1 {
		t.Fatalf("delete: %+v, %v; want the user and %d sessions deleted", d, err, verifySessions+1)
	}
	// notify's rows: deleted in the transaction when its tables are here,
	// else one erasure job for notify's API commits with the deletion.
	// Negative control: DeleteAccount not enqueueing the erasure fails on
	// the backend without notify's tables (SQLite's suite).
	if n := must(t, "notify erasure jobs")(b.Inspect.NotifyErasures(ctx, u.ID)); n != map[bool]int{true: 1, false: 0}[d.NotifyElsewhere] {
		t.Fatalf("notify erasure jobs = %d with notify elsewhere = %v", n, d.NotifyElsewhere)
	}
	for _, c := range []struct {
		what string
		n    func() (int, error)
	}{
		{"users", func() (int, error) { return b.Inspect.Users(ctx, u.Email) }},
		{"sessions", func() (int, error) { return b.Inspect.Sessions(ctx, u.ID) }},
		{"failed attempts", func() (int, error) { return b.Inspect.FailedAttempts(ctx, u.Email) }},
		{"LOGIN_FAILURE events with the email", func() (int, error) { return b.Inspect.Events(ctx, u.ID, u.Email, audit.LoginFailure) }},
	} {
		if n := must(t, c.what)(c.n()); n != 0 {
			t.Errorf("%s after deletion = %d, want 0", c.what, n)
		}
	}
	mails, err := b.Inspect.Mail(ctx, u.Email)
	if err != nil || len(mails) != 1 || tokenParam.MatchString(mails[0]) {
		t.Fatalf("mail jobs to the deleted address: %d (%v), want only the deletion notice", len(mails), err)
	}
}

// testPanicRollsBack: a panic inside a transaction (recovered further up by
// the HTTP layer, which keeps serving) rolls it back and releases what it
// held: its rows are not committed, its connection goes back, and the
// per-email login lock it took is free, so the next login of that email is
// decided instead of waiting for ever.
// Negative control: without the recover-and-rollback in the store's inTx
// (internal/store/{pg,sqlite}/tx.go) the second
// transaction waits until its deadline: "context deadline exceeded".
func testPanicRollsBack(t *testing.T, b Backend) {
	email := newEmail("panic")
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("the panic did not propagate")
			}
		}()
		ctx, cancel := background()
		defer cancel()
		err := b.Store.InTx(ctx, func(tx auth.Tx) error {
			if err := tx.LockLogin(ctx, email); err != nil {
				return err
			}
			if err := tx.InsertFailedAttempt(ctx, email, ""); err != nil {
				return err
			}
			panic("storetest: panic inside a transaction")
		})
		t.Errorf("InTx returned %v instead of panicking", err)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var recent []time.Time
	err := b.Store.InTx(ctx, func(tx auth.Tx) error {
		if err := tx.LockLogin(ctx, email); err != nil {
			return err
		}
		var err error
		recent, err = tx.RecentFailures(ctx, email, time.Now().Add(-time.Hour), 10)
		return err
	})
	if err != nil {
		t.Fatalf("transaction after a panic: %v", err)
	}
	if len(recent) != 0 {
		t.Fatalf("the panicking transaction's attempt row was committed: %d rows", len(recent))
	}
	if n := must(t, "failed attempts")(b.Inspect.FailedAttempts(ctx, email)); n != 0 {
		t.Fatalf("failed attempts = %d after a panic, want 0", n)
	}
}
