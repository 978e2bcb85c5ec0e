package auth

import "context"

// RevocationView answers from memory whether a session was revoked (the
// revocation set of every replica, fed from the database). known is false
// when it cannot vouch for being current: then the token check reads the
// session, so the check never fails open.
type RevocationView interface {
	Revoked(sessionID string) (revoked, known bool)
	// LocalRevocation is told after this process committed a revocation:
	// its answers wait for the feed to confirm it, so this replica refuses
	// the revoked session at once.
	LocalRevocation()
}

// revocationAwareStore tells the view about every committed transaction
// that revoked or deleted sessions, whichever flow ran it.
type revocationAwareStore struct {
	Store
	view RevocationView
}

func (s revocationAwareStore) InTx(ctx context.Context, fn func(Tx) error) error {
	var revoked bool
	err := s.Store.InTx(ctx, func(tx Tx) error {
		return fn(revokingTx{Tx: tx, revoked: &revoked})
	})
	if err == nil && revoked {
		s.view.LocalRevocation()
	}
	return err
}

// revokingTx notes the statements that end sessions.
type revokingTx struct {
	Tx
	revoked *bool
}

func (t revokingTx) RevokeSession(ctx context.Context, id string) (bool, error) {
	*t.revoked = true
	return t.Tx.RevokeSession(ctx, id)
}

func (t revokingTx) RevokeUserSessions(ctx context.Context, userID, exceptID string) (int, error) {
	*t.revoked = true
	return t.Tx.RevokeUserSessions(ctx, userID, exceptID)
}

func (t revokingTx) DeleteAccount(ctx context.Context, userID, email string) (DeletedCounts, error) {
	*t.revoked = true
	return t.Tx.DeleteAccount(ctx, userID, email)
}
