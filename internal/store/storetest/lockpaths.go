package storetest

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/mana/mana/internal/auth"
)

// beforeTx runs hook before the n-th transaction (1-based) of the store: a
// way to let "another request" change the database between two steps of one.
type beforeTx struct {
	auth.Store
	n    int32
	seen atomic.Int32
	hook func(ctx context.Context) error
}

func (b *beforeTx) InTx(ctx context.Context, fn func(auth.Tx) error) error {
	if b.seen.Add(1) == b.n {
		if err := b.hook(ctx); err != nil {
			return err
		}
	}
	return b.Store.InTx(ctx, fn)
}

// failures records n failed attempts for email, as parallel wrong guesses would.
func failures(st auth.Store, email string, n int) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		return st.InTx(ctx, func(tx auth.Tx) error {
			for range n {
				if err := tx.InsertFailedAttempt(ctx, email, "192.0.2.66"); err != nil {
					return err
				}
			}
			return nil
		})
	}
}

// testRightPasswordAfterLock (audit F4): a right password of an unverified
// account, whose account locks between the first check and the answer (a
// parallel burst of wrong guesses), answers the lock, not EMAIL_NOT_VERIFIED
// — which would tell the burst which guess was right.
// Negative control: refuseRightPassword without its checkLock answers
// ErrEmailNotVerified here.
func testRightPasswordAfterLock(t *testing.T, b Backend) {
	ctx, cancel := background()
	defer cancel()
	email, pw := newEmail("f4"), strongPassword()
	plain := newEnv(t, b, b.Store, policy)
	if _, err := plain.svc.Register(ctx, auth.RegisterInput{Email: email, Password: pw}, auth.Client{}); err != nil {
		t.Fatal(err)
	}
	// Login: transaction 1 checks the lock and reads the hash; the burst
	// lands before transaction 2, the decision.
	hooked := &beforeTx{Store: b.Store, n: 2, hook: failures(b.Store, email, policy.Threshold)}
	e := newEnv(t, b, hooked, policy)
	var locked *auth.LockedError
	if _, err := e.svc.Login(ctx, email, pw, auth.Client{}); !errors.As(err, &locked) {
		t.Fatalf("right password of an unverified account locked meanwhile: %v, want the lock", err)
	}
}

// testChangePasswordCountsTowardLockout (audit F8): wrong current passwords
// on change-password count as failed logins; once locked, neither the right
// current password nor a login gets through.
// Negative control: not recording the attempt in ChangePassword lets the
// right password change it after five failures.
func testChangePasswordCountsTowardLockout(t *testing.T, b Backend) {
	e := newEnv(t, b, b.Store, policy)
	u, pw := e.verifiedUser(t, "f8")
	ctx, cancel := background()
	defer cancel()
	login, err := e.svc.Login(ctx, u.Email, pw, auth.Client{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := e.svc.Authenticate(ctx, login.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	for i := range policy.Threshold {
		err := e.svc.ChangePassword(ctx, p, auth.ChangePasswordInput{CurrentPassword: "Wrong-Passw0rd-" + string(rune('a'+i)),
			NewPassword: strongPassword()}, auth.Client{})
		if !errors.Is(err, auth.ErrWrongPassword) {
			t.Fatalf("wrong current password %d: %v", i+1, err)
		}
	}
	if n := must(t, "failed attempts")(b.Inspect.FailedAttempts(ctx, u.Email)); n != policy.Threshold {
		t.Fatalf("failed attempts = %d, want %d", n, policy.Threshold)
	}
	var locked *auth.LockedError
	if err := e.svc.ChangePassword(ctx, p, auth.ChangePasswordInput{CurrentPassword: pw, NewPassword: strongPassword()},
		auth.Client{}); !errors.As(err, &locked) {
		t.Fatalf("change-password with the right password while locked: %v, want the lock", err)
	}
	if _, err := e.svc.Login(ctx, u.Email, pw, auth.Client{}); !errors.As(err, &locked) {
		t.Fatalf("login after five wrong change-passwords: %v, want the lock", err)
	}
}
