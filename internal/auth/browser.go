package auth

import (
	"context"
	"encoding/hex"
	"errors"
	"strings"
	"time"

	"github.com/mana/mana/internal/audit"
	"github.com/mana/mana/internal/randid"
	"github.com/mana/mana/internal/token"
)

// Session tokens are what a browser's session cookie carries. This service
// stores only their SHA-256; rows the old service wrote hold the token itself
// and stay valid until they expire (docs/compatibility.md).
const (
	// ShortSessionTTL is a session signed in without "remember me".
	ShortSessionTTL = 24 * time.Hour
	// sessionRefreshAge is how old a session's last extension must be before
	// reading it extends it again (sliding expiry, as the old service).
	sessionRefreshAge = 24 * time.Hour
	storedTokenPrefix = "sha256:"
	maxSessionToken   = 256
)

// sessionTokenToStore is what a new session's row holds: the token itself
// in the rollback window (the old service compares it as it is), else only
// its hash.
func sessionTokenToStore(raw string, window bool) string {
	if window {
		return raw
	}
	return StoredSessionToken(raw)
}

// RollbackWindow reads the cut-over state in its own transaction, for a
// decision taken before the writing one (which password format to hash).
func (s *Service) RollbackWindow(ctx context.Context) (bool, error) {
	var window bool
	err := s.store.InTx(ctx, func(tx Tx) error {
		var err error
		window, err = tx.RollbackWindow(ctx)
		return err
	})
	if err != nil {
		return false, unavailable("cut-over state", err)
	}
	return window, nil
}

// StoredSessionToken is the form a new session's token is stored in.
func StoredSessionToken(raw string) string {
	return storedTokenPrefix + hex.EncodeToString(hashToken(raw))
}

// sessionTokenForms are the stored forms a presented token may match: the
// hash, and the token itself for the old service's rows. A value that looks
// like a stored hash is never matched as itself, so a leaked database row
// is no session.
func sessionTokenForms(raw string) []string {
	forms := []string{StoredSessionToken(raw)}
	if !strings.Contains(raw, ":") {
		forms = append(forms, raw)
	}
	return forms
}

// BrowserSession is a live session found by its session token.
type BrowserSession struct {
	SessionView
	// Extended is true when this read moved the expiry (the cookie is re-sent).
	Extended bool
}

// SessionByToken returns the live session of a session token. slide extends
// a session last extended more than a day ago (not for "don't remember me"
// sessions). ErrSessionInvalid for an unknown, revoked or expired session.
func (s *Service) SessionByToken(ctx context.Context, raw string, slide bool) (BrowserSession, error) {
	if raw == "" || len(raw) > maxSessionToken {
		return BrowserSession{}, ErrSessionInvalid
	}
	now := s.now().UTC()
	var b BrowserSession
	found := false
	err := s.store.InTx(ctx, func(tx Tx) error {
		sess, err := tx.SessionByToken(ctx, sessionTokenForms(raw)...)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if sess.RevokedAt != nil || !now.Before(sess.ExpiresAt) {
			return nil
		}
		user, err := tx.UserByID(ctx, sess.UserID)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if slide && !sess.ExpiresAt.Add(-SessionTTL+sessionRefreshAge).After(now) {
			sess.ExpiresAt = now.Add(SessionTTL)
			if err := tx.ExtendSession(ctx, sess.ID, sess.ExpiresAt); err != nil {
				return err
			}
			b.Extended = true
		}
		b.Session, b.User, found = sess, user, true
		return nil
	})
	if err != nil {
		return BrowserSession{}, unavailable("session by token", err)
	}
	if !found {
		return BrowserSession{}, ErrSessionInvalid
	}
	return b, nil
}

// AccessToken mints an access token for a live session.
func (s *Service) AccessToken(ctx context.Context, v SessionView) (string, token.Claims, error) {
	return s.mint(ctx, v.User, v.Session.ID, v.Session.CreatedAt, v.Session.ExpiresAt)
}

// IssueRefreshToken adds a refresh token to a live session's family (a
// browser that asks for tokens, /session-to-token).
func (s *Service) IssueRefreshToken(ctx context.Context, v SessionView) (string, error) {
	refresh := randid.Secret()
	err := s.store.InTx(ctx, func(tx Tx) error {
		return tx.InsertRefreshToken(ctx, hashToken(refresh), v.Session.ID, v.Session.ExpiresAt)
	})
	if err != nil {
		return "", unavailable("issue refresh token", err)
	}
	return refresh, nil
}

// EndSession revokes a session (sign-out by cookie) with its LOGOUT event.
// Ending a session that is already over is not an error.
func (s *Service) EndSession(ctx context.Context, v SessionView, c Client) error {
	err := s.store.InTx(ctx, func(tx Tx) error {
		revoked, err := tx.RevokeSession(ctx, v.Session.ID)
		if err != nil || !revoked {
			return err
		}
		return tx.InsertEvent(ctx, audit.Event{UserID: v.User.ID, Type: audit.Logout, IP: c.IP, UserAgent: c.UserAgent,
			Metadata: map[string]any{"sessionId": v.Session.ID}})
	})
	if err != nil {
		return unavailable("end session", err)
	}
	return nil
}

// Principal is the caller a browser session authenticates, in the shape of
// an access token's claims.
func (v SessionView) Principal() Principal {
	return Principal{Claims: token.Claims{Sub: v.User.ID, Email: v.User.Email, Role: v.User.Role, Sid: v.Session.ID, Tier: v.User.AccessTier}}
}
