package auth

import (
	"context"
	"errors"
	"testing"
)

type fakeView struct{ local int }

func (v *fakeView) Revoked(string) (bool, bool) { return false, false }
func (v *fakeView) LocalRevocation()            { v.local++ }

// fakeTxStore runs fn on a Tx whose revoking statements succeed; commit
// fails when fail is set.
type fakeTxStore struct {
	Store
	fail bool
}

type fakeTx struct{ Tx }

func (fakeTx) RevokeSession(context.Context, string) (bool, error)             { return true, nil }
func (fakeTx) RevokeUserSessions(context.Context, string, string) (int, error) { return 2, nil }
func (fakeTx) DeleteAccount(context.Context, string, string) (DeletedCounts, error) {
	return DeletedCounts{}, nil
}

func (s fakeTxStore) InTx(_ context.Context, fn func(Tx) error) error {
	if err := fn(fakeTx{}); err != nil {
		return err
	}
	if s.fail {
		return errors.New("commit failed")
	}
	return nil
}

// TestLocalRevocationAfterCommit: the view hears of every committed
// transaction that revoked or deleted sessions, and of no other.
// Negative control: revokingTx not marking DeleteAccount misses the third
// case.
func TestLocalRevocationAfterCommit(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name string
		fail bool
		fn   func(Tx) error
		want int
	}{
		{"logout", false, func(tx Tx) error { _, err := tx.RevokeSession(ctx, "s"); return err }, 1},
		{"logout-all", false, func(tx Tx) error { _, err := tx.RevokeUserSessions(ctx, "u", ""); return err }, 1},
		{"deletion", false, func(tx Tx) error { _, err := tx.DeleteAccount(ctx, "u", "e"); return err }, 1},
		{"nothing revoked", false, func(Tx) error { return nil }, 0},
		{"rolled back", false, func(tx Tx) error { _, _ = tx.RevokeSession(ctx, "s"); return errors.New("no") }, 0},
		{"commit failed", true, func(tx Tx) error { _, err := tx.RevokeSession(ctx, "s"); return err }, 0},
	} {
		v := &fakeView{}
		st := revocationAwareStore{Store: fakeTxStore{fail: c.fail}, view: v}
		_ = st.InTx(ctx, c.fn)
		if v.local != c.want {
			t.Errorf("%s: %d local revocations, want %d", c.name, v.local, c.want)
		}
	}
}
