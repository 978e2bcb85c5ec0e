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
