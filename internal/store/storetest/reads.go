package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/mana/mana/internal/auth"
)

// testSessionState: the token check's one-statement read gives a live
// session's owner and expiry, shows its revocation, and ErrNotFound for an
// unknown id.
// Negative control: SessionState leaving out revoked_at lets a logged-out
// session's access token through (Authenticate succeeds after Logout).
func testSessionState(t *testing.T, b Backend) {
	e := newEnv(t, b, b.Store, policy)
	ctx, cancel := background()
	defer cancel()
	u, pw := e.verifiedUser(t, "state")
	login, err := e.svc.Login(ctx, u.Email, pw, auth.Client{})
	if err != nil {
		t.Fatal(err)
	}
	st, err := b.Store.SessionState(ctx, login.Session.ID)
	if err != nil || st.UserID != u.ID || st.RevokedAt != nil || st.ExpiresAt.Sub(login.Session.ExpiresAt).Abs() > time.Millisecond {
		t.Fatalf("live session: %+v, %v; want owner %s, expiry %s, not revoked", st, err, u.ID, login.Session.ExpiresAt)
	}
	if err := e.svc.Logout(ctx, auth.LogoutInput{RefreshToken: login.RefreshToken}, auth.Client{}); err != nil {
		t.Fatal(err)
	}
	if st, err := b.Store.SessionState(ctx, login.Session.ID); err != nil || st.RevokedAt == nil {
		t.Fatalf("after logout: %+v, %v; want revoked", st, err)
	}
	if _, err := e.svc.Authenticate(ctx, login.AccessToken); !errors.Is(err, auth.ErrSessionInvalid) {
		t.Fatalf("access token of a logged-out session: %v, want session invalid", err)
	}
	if _, err := b.Store.SessionState(ctx, "no-such-session"); !errors.Is(err, auth.ErrNotFound) {
		t.Fatalf("unknown session: %v, want not found", err)
	}
}

// testAccountData: /me/data's one-statement read gives the user and the
// same summary the transaction's reads give, and ErrNotFound for a user
// that does not exist.
// Negative control: AccountData counting revoked sessions too gives 2
// live sessions after a logout, where the summary says 1.
func testAccountData(t *testing.T, b Backend) {
	e := newEnv(t, b, b.Store, policy)
	ctx, cancel := background()
	defer cancel()
	u, pw := e.verifiedUser(t, "data")
	first, err := e.svc.Login(ctx, u.Email, pw, auth.Client{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Login(ctx, u.Email, pw, auth.Client{}); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Logout(ctx, auth.LogoutInput{RefreshToken: first.RefreshToken}, auth.Client{}); err != nil {
		t.Fatal(err)
	}
	var want auth.AccountSummary
	var wantUser auth.User
	if err := b.Store.InTx(ctx, func(tx auth.Tx) error {
		var err error
		if wantUser, err = tx.UserByID(ctx, u.ID); err != nil {
			return err
		}
		want, err = tx.AccountSummary(ctx, u.ID)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	gotUser, got, err := b.Store.AccountData(ctx, u.ID)
	if err != nil || gotUser.ID != wantUser.ID || gotUser.Email != wantUser.Email || !gotUser.EmailVerified ||
		got.SessionsCount != want.SessionsCount || got.AccountsCount != want.AccountsCount || got.Has2FA != want.Has2FA ||
		(got.LastLoginAt == nil) != (want.LastLoginAt == nil) {
		t.Fatalf("account data: %+v %+v, %v; want %+v %+v", gotUser, got, err, wantUser, want)
	}
	if got.AccountsCount != 1 || got.SessionsCount < 1 {
		t.Fatalf("summary %+v: want 1 account and the live sessions only", got)
	}
	if _, _, err := b.Store.AccountData(ctx, "no-such-user"); !errors.Is(err, auth.ErrNotFound) {
		t.Fatalf("unknown user: %v, want not found", err)
	}
}

// stubView answers every session the same.
type stubView struct{ revoked, known bool }

func (v stubView) Revoked(string) (bool, bool) { return v.revoked, v.known }
func (stubView) LocalRevocation()              {}

// testRevocationView: a current view decides the token check (a session it
// calls revoked is refused though its row is live; one it calls live is
// admitted though its row is revoked: no read); a view that cannot vouch
// hands the check to the database.
// Negative control: Authenticate ignoring the view admits the first case.
func testRevocationView(t *testing.T, b Backend) {
	e := newEnv(t, b, b.Store, policy)
	ctx, cancel := background()
	defer cancel()
	u, pw := e.verifiedUser(t, "view")
	live, err := e.svc.Login(ctx, u.Email, pw, auth.Client{})
	if err != nil {
		t.Fatal(err)
	}
	gone, err := e.svc.Login(ctx, u.Email, pw, auth.Client{})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Logout(ctx, auth.LogoutInput{RefreshToken: gone.RefreshToken}, auth.Client{}); err != nil {
		t.Fatal(err)
	}
	with := func(v stubView) *auth.Service {
		return auth.NewService(auth.Config{Store: b.Store, Hasher: e.hasher, Tokens: e.tokens, BaseURL: "http://localhost",
			Callbacks: auth.NewCallbackPolicy("http://localhost"), Lockout: policy, Now: e.clock.now, Log: discardLog(), Revocations: v})
	}
	if _, err := with(stubView{revoked: true, known: true}).Authenticate(ctx, live.AccessToken); !errors.Is(err, auth.ErrSessionInvalid) {
		t.Fatalf("a session the current view calls revoked: %v, want refused", err)
	}
	if _, err := with(stubView{known: true}).Authenticate(ctx, gone.AccessToken); err != nil {
		t.Fatalf("a session the current view calls live: %v, want admitted without a read", err)
	}
	if _, err := with(stubView{}).Authenticate(ctx, gone.AccessToken); !errors.Is(err, auth.ErrSessionInvalid) {
		t.Fatalf("view not current, revoked row: %v, want refused (the database decides)", err)
	}
	if _, err := with(stubView{}).Authenticate(ctx, live.AccessToken); err != nil {
		t.Fatalf("view not current, live row: %v", err)
	}
}
