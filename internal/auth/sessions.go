package auth

import (
	"context"
	"errors"
	"strings"

	"github.com/mana/mana/internal/audit"
)

// UserSession is one of the caller's live sessions, as listed to them.
type UserSession struct {
	Session
	Current bool
}

// ListSessions returns the caller's live sessions, newest first, marking the
// one the request came from.
func (s *Service) ListSessions(ctx context.Context, p Principal) ([]UserSession, error) {
	var rows []Session
	err := s.store.InTx(ctx, func(tx Tx) error {
		var err error
		rows, err = tx.UserSessions(ctx, p.Claims.Sub, false)
		return err
	})
	if err != nil {
		return nil, unavailable("list sessions", err)
	}
	out := make([]UserSession, 0, len(rows))
	for _, r := range rows {
		out = append(out, UserSession{Session: r, Current: r.ID == p.Claims.Sid})
	}
	return out, nil
}

// RevokeSession ends one of the caller's own sessions (it may be the current
// one). ErrSessionNotFound when the id is not a live session of the caller:
// another user's session id is indistinguishable from an unknown one.
func (s *Service) RevokeSession(ctx context.Context, p Principal, sessionID string, c Client) error {
	// A NUL (%00 in the path) is no session id, and PostgreSQL would refuse
	// it in a text parameter: answer 404 here, not 503 from the store.
	if sessionID == "" || len(sessionID) > 64 || strings.ContainsRune(sessionID, 0) {
		return ErrSessionNotFound
	}
	found := false
	err := s.store.InTx(ctx, func(tx Tx) error {
		sess, err := tx.SessionByID(ctx, sessionID)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if sess.UserID != p.Claims.Sub {
			return nil
		}
		revoked, err := tx.RevokeSession(ctx, sessionID)
		if err != nil || !revoked {
			return err
		}
		found = true
		return tx.InsertEvent(ctx, audit.Event{UserID: p.Claims.Sub, Type: audit.SessionRevoked, IP: c.IP, UserAgent: c.UserAgent,
			Metadata: map[string]any{"sessionId": sessionID, "current": sessionID == p.Claims.Sid}})
	})
	if err != nil {
		return unavailable("revoke session", err)
	}
	if !found {
		return ErrSessionNotFound
	}
	return nil
}

// LogoutAll revokes every session of the caller, the current one included,
// and returns how many were revoked.
func (s *Service) LogoutAll(ctx context.Context, p Principal, c Client) (int, error) {
	var n int
	err := s.store.InTx(ctx, func(tx Tx) error {
		var err error
		if n, err = tx.RevokeUserSessions(ctx, p.Claims.Sub, ""); err != nil {
			return err
		}
		return tx.InsertEvent(ctx, audit.Event{UserID: p.Claims.Sub, Type: audit.LogoutAll, IP: c.IP, UserAgent: c.UserAgent,
			Metadata: map[string]any{"revokedSessions": n}})
	})
	if err != nil {
		return 0, unavailable("logout all", err)
	}
	return n, nil
}
