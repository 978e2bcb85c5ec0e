package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/mana/mana/internal/auth"
)

// testRotateRefresh: one rotation marks the old token rotated, issues the
// next one for the same session and expiry, records the session's activity
// and returns its user; with an unknown user it fails whole.
// Negative controls: the Postgres statement without its UPDATE of the old
// token leaves it unrotated; without the touch the session keeps its
// hour-old activity.
func testRotateRefresh(t *testing.T, b Backend) {
	e := newEnv(t, b, b.Store, policy)
	ctx, cancel := background()
	defer cancel()
	u, _ := e.verifiedUser(t, "rotate")
	hourAgo := time.Now().UTC().Add(-time.Hour).Truncate(time.Millisecond)
	sess := auth.Session{ID: "rotate-" + u.ID, Token: "rotate-token-" + u.ID, UserID: u.ID,
		ExpiresAt: hourAgo.Add(48 * time.Hour), CreatedAt: hourAgo, UpdatedAt: hourAgo}
	old, next, never := []byte("old-"+u.ID), []byte("next-"+u.ID), []byte("never-"+u.ID)
	if err := b.Store.InTx(ctx, func(tx auth.Tx) error {
		if err := tx.InsertSession(ctx, sess); err != nil {
			return err
		}
		return tx.InsertRefreshToken(ctx, old, sess.ID, sess.ExpiresAt)
	}); err != nil {
		t.Fatal(err)
	}

	var got auth.User
	if err := b.Store.InTx(ctx, func(tx auth.Tx) error {
		var err error
		got, err = tx.RotateRefresh(ctx, old, next, sess.ID, sess.ExpiresAt, u.ID)
		return err
	}); err != nil {
		t.Fatalf("rotate: %v", err)
	}
	if got.ID != u.ID || got.Email != u.Email {
		t.Fatalf("rotation returned user %s <%s>, want %s <%s>", got.ID, got.Email, u.ID, u.Email)
	}
	checkRows := func(when string) {
		t.Helper()
		if err := b.Store.InTx(ctx, func(tx auth.Tx) error {
			oldRow, err := tx.RefreshTokenForUpdate(ctx, old)
			if err != nil || oldRow.RotatedAt == nil {
				t.Errorf("%s: old token %+v, %v; want rotated", when, oldRow, err)
			}
			nextRow, err := tx.RefreshTokenForUpdate(ctx, next)
			if err != nil || nextRow.RotatedAt != nil || nextRow.SessionID != sess.ID || nextRow.ExpiresAt.Sub(sess.ExpiresAt).Abs() > time.Millisecond {
				t.Errorf("%s: next token %+v, %v; want unrotated, session %s, expiry %s", when, nextRow, err, sess.ID, sess.ExpiresAt)
			}
			s, err := tx.SessionByID(ctx, sess.ID)
			if err != nil || s.LastActive == nil || s.LastActive.Before(hourAgo.Add(30*time.Minute)) {
				t.Errorf("%s: session activity %v, %v; want now, not the hour-old creation", when, s.LastActive, err)
			}
			if _, err := tx.RefreshTokenForUpdate(ctx, never); !errors.Is(err, auth.ErrNotFound) {
				t.Errorf("%s: token of the failed rotation: %v, want not found", when, err)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	checkRows("after the rotation")

	err := b.Store.InTx(ctx, func(tx auth.Tx) error {
		_, err := tx.RotateRefresh(ctx, next, never, sess.ID, sess.ExpiresAt, "no-such-user")
		return err
	})
	if !errors.Is(err, auth.ErrNotFound) {
		t.Fatalf("rotation for an unknown user: %v, want not found", err)
	}
	checkRows("after a failed rotation") // next is still unrotated: it rolled back
}
