package auth

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/mana/mana/internal/audit"
	"github.com/mana/mana/internal/randid"
	"github.com/mana/mana/internal/token"
)

// ---- refresh, logout, authentication -----------------------------------------

// Refreshed is the outcome of a refresh-token rotation.
type Refreshed struct {
	AccessToken  string
	RefreshToken string
	Claims       token.Claims
}

// Refresh rotates a refresh token. Presenting a token that was already
// rotated is treated as theft: the whole session (token family) is revoked
// and TOKEN_REUSE_DETECTED is written; the caller gets ErrSessionInvalid.
func (s *Service) Refresh(ctx context.Context, refresh string, c Client) (Refreshed, error) {
	if refresh == "" || len(refresh) > 256 {
		return Refreshed{}, ErrSessionInvalid
	}
	now := s.now().UTC()
	next := randid.Secret()
	var user User
	var sessionID string
	var signedInAt, sessionExpires time.Time
	outcome := error(nil)
	err := s.store.InTx(ctx, func(tx Tx) error {
		row, err := tx.RefreshTokenForUpdate(ctx, hashToken(refresh))
		if errors.Is(err, ErrNotFound) {
			row, err = s.claimLegacyRefresh(ctx, tx, refresh, now)
		}
		if errors.Is(err, ErrNotFound) {
			outcome = ErrSessionInvalid
			return nil
		}
		if err != nil {
			return err
		}
		if row.RotatedAt != nil {
			outcome = ErrSessionInvalid
			if _, err := tx.RevokeSession(ctx, row.SessionID); err != nil {
				return err
			}
			return tx.InsertEvent(ctx, audit.Event{UserID: row.UserID, Type: audit.TokenReuseDetected, IP: c.IP, UserAgent: c.UserAgent,
				Metadata: map[string]any{"sessionId": row.SessionID, "endpoint": "/refresh"}})
		}
		if row.SessionRevokedAt != nil || !now.Before(row.ExpiresAt) || !now.Before(row.SessionExpiresAt) {
			outcome = ErrSessionInvalid
			return nil
		}
		user, err = tx.RotateRefresh(ctx, hashToken(refresh), hashToken(next), row.SessionID, row.SessionExpiresAt, row.UserID)
		sessionID, signedInAt, sessionExpires = row.SessionID, row.SessionCreatedAt, row.SessionExpiresAt
		return err
	})
	if err != nil {
		return Refreshed{}, unavailable("refresh", err)
	}
	if outcome != nil {
		return Refreshed{}, outcome
	}
	access, claims, err := s.mint(ctx, user, sessionID, signedInAt, sessionExpires)
	if err != nil {
		return Refreshed{}, err
	}
	return Refreshed{AccessToken: access, RefreshToken: next, Claims: claims}, nil
}

// claimLegacyRefresh accepts, once, the refresh token a client of the old
// service holds: that service's session token, stored as itself in the
// session row. It joins the session's token family as a rotated member, so
// presenting it a second time is reuse. ErrNotFound when it is no such token.
func (s *Service) claimLegacyRefresh(ctx context.Context, tx Tx, refresh string, now time.Time) (RefreshRow, error) {
	if strings.Contains(refresh, ":") {
		return RefreshRow{}, ErrNotFound // a stored hash is never a token
	}
	sess, err := tx.SessionByToken(ctx, refresh)
	if err != nil {
		return RefreshRow{}, err
	}
	row := RefreshRow{SessionID: sess.ID, UserID: sess.UserID, ExpiresAt: sess.ExpiresAt,
		SessionRevokedAt: sess.RevokedAt, SessionExpiresAt: sess.ExpiresAt, SessionCreatedAt: sess.CreatedAt}
	if sess.RevokedAt != nil || !now.Before(sess.ExpiresAt) {
		return row, nil // refused below; nothing to record
	}
	claimed, err := tx.ClaimRefreshToken(ctx, hashToken(refresh), sess.ID, sess.ExpiresAt)
	if err != nil {
		return RefreshRow{}, err
	}
	if !claimed {
		// Recorded meanwhile by a concurrent presentation: this one is the reuse.
		row.RotatedAt = &now
	}
	return row, nil
}

// Principal is an authenticated caller: valid token of a live session.
type Principal struct {
	Claims token.Claims
	// Payload is the token's claims as signed (JSON), for /validate.
	Payload json.RawMessage
}

// Authenticate verifies an access token and that its session is still live.
// ErrSessionInvalid for any bad token; ErrUnavailable when the session
// cannot be checked (fail closed).
func (s *Service) Authenticate(ctx context.Context, access string) (Principal, error) {
	if access == "" || len(access) > 8192 {
		return Principal{}, ErrSessionInvalid
	}
	claims, payload, err := s.tokens.Verify(ctx, access)
	if err != nil {
		if errors.Is(err, token.ErrExpired) {
			return Principal{}, errors.Join(ErrSessionInvalid, ErrAccessExpired)
		}
		if token.IsRejection(err) {
			return Principal{}, ErrSessionInvalid
		}
		return Principal{}, unavailable("authenticate: keys", err)
	}
	if s.revocations != nil {
		// Tokens expire with their session (mint), so a current view of
		// the revocations is all a check needs.
		if revoked, known := s.revocations.Revoked(claims.Sid); known {
			if revoked {
				return Principal{}, ErrSessionInvalid
			}
			return Principal{Claims: claims, Payload: payload}, nil
		}
	}
	sess, err := s.store.SessionState(ctx, claims.Sid)
	if errors.Is(err, ErrNotFound) {
		return Principal{}, ErrSessionInvalid
	}
	if err != nil {
		return Principal{}, unavailable("authenticate: session", err)
	}
	if sess.RevokedAt != nil || sess.UserID != claims.Sub || !s.now().Before(sess.ExpiresAt) {
		return Principal{}, ErrSessionInvalid
	}
	return Principal{Claims: claims, Payload: payload}, nil
}

// LogoutInput names the session to end by any credential the client holds.
type LogoutInput struct {
	AccessToken  string
	RefreshToken string
}

// Logout revokes the session identified by an access or refresh token. An
// access token past its expiry still names its session (its signature,
// issuer and audience are checked), so a client logging out long after its
// last refresh really logs out. Ending a session that has ended already
// succeeds (logout is idempotent); a credential that identifies no session
// is ErrSessionInvalid, never a success that did nothing, and a store
// failure is an error.
func (s *Service) Logout(ctx context.Context, in LogoutInput, c Client) error {
	sessionID, userID := "", ""
	if in.AccessToken != "" && len(in.AccessToken) <= 8192 {
		claims, err := s.tokens.VerifyIgnoringExpiry(ctx, in.AccessToken)
		switch {
		case err == nil:
			sessionID, userID = claims.Sid, claims.Sub
		case !token.IsRejection(err):
			// The keys could not be read: a logout that did not happen must not look done.
			return unavailable("logout: verify token", err)
		}
	}
	found := false
	err := s.store.InTx(ctx, func(tx Tx) error {
		if sessionID == "" && in.RefreshToken != "" && len(in.RefreshToken) <= 256 {
			row, err := tx.RefreshTokenForUpdate(ctx, hashToken(in.RefreshToken))
			if err != nil && !errors.Is(err, ErrNotFound) {
				return err
			}
			if err == nil {
				sessionID, userID = row.SessionID, row.UserID
			} else if !strings.Contains(in.RefreshToken, ":") {
				// A client of the old service holds its session token.
				sess, err := tx.SessionByToken(ctx, in.RefreshToken)
				if err != nil && !errors.Is(err, ErrNotFound) {
					return err
				}
				if err == nil {
					sessionID, userID = sess.ID, sess.UserID
				}
			}
		}
		if sessionID == "" {
			return nil
		}
		sess, err := tx.SessionByID(ctx, sessionID)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if sess.UserID != userID {
			return nil
		}
		found = true
		revoked, err := tx.RevokeSession(ctx, sessionID)
		if err != nil || !revoked {
			return err
		}
		return tx.InsertEvent(ctx, audit.Event{UserID: userID, Type: audit.Logout, IP: c.IP, UserAgent: c.UserAgent,
			Metadata: map[string]any{"sessionId": sessionID}})
	})
	if err != nil {
		return unavailable("logout", err)
	}
	if !found {
		return ErrSessionInvalid
	}
	return nil
}

// SessionView is a live session with its user.
type SessionView struct {
	Session Session
	User    User
}

// SessionByRefresh returns the live session a refresh token belongs to.
func (s *Service) SessionByRefresh(ctx context.Context, refresh string) (SessionView, error) {
	if refresh == "" || len(refresh) > 256 {
		return SessionView{}, ErrSessionInvalid
	}
	var v SessionView
	found := false
	err := s.store.InTx(ctx, func(tx Tx) error {
		row, err := tx.RefreshTokenForUpdate(ctx, hashToken(refresh))
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if row.RotatedAt != nil || row.SessionRevokedAt != nil || !s.now().Before(row.SessionExpiresAt) {
			return nil
		}
		if v.Session, err = tx.SessionByID(ctx, row.SessionID); err != nil {
			return err
		}
		v.User, err = tx.UserByID(ctx, row.UserID)
		found = err == nil
		return err
	})
	if err != nil {
		return SessionView{}, unavailable("session", err)
	}
	if !found {
		return SessionView{}, ErrSessionInvalid
	}
	return v, nil
}

// SessionByID returns a session and its user for an authenticated principal.
func (s *Service) SessionByID(ctx context.Context, p Principal) (SessionView, error) {
	var v SessionView
	err := s.store.InTx(ctx, func(tx Tx) error {
		var err error
		if v.Session, err = tx.SessionByID(ctx, p.Claims.Sid); err != nil {
			return err
		}
		v.User, err = tx.UserByID(ctx, p.Claims.Sub)
		return err
	})
	if errors.Is(err, ErrNotFound) {
		return SessionView{}, ErrSessionInvalid
	}
	if err != nil {
		return SessionView{}, unavailable("session", err)
	}
	return v, nil
}

// AccountData is the user's own data for /me/data.
type AccountData struct {
	User    User
	Summary AccountSummary
}

// MeData reads the caller's account data. ErrUserNotFound when the user is gone.
func (s *Service) MeData(ctx context.Context, p Principal) (AccountData, error) {
	var d AccountData
	var err error
	d.User, d.Summary, err = s.store.AccountData(ctx, p.Claims.Sub)
	if errors.Is(err, ErrNotFound) {
		return AccountData{}, ErrUserNotFound
	}
	if err != nil {
		return AccountData{}, unavailable("me/data", err)
	}
	return d, nil
}
