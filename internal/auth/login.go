package auth

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/mana/mana/internal/audit"
	"github.com/mana/mana/internal/randid"
	"github.com/mana/mana/internal/token"
)

// LoginResult is a successful sign-in.
type LoginResult struct {
	User         User
	Session      Session
	RefreshToken string
	AccessToken  string
	Claims       token.Claims
}

func (s *Service) eventMeta(code, endpoint, email string) map[string]any {
	m := map[string]any{"code": code, "endpoint": endpoint}
	if email != "" {
		m["email"] = email
	}
	return m
}

// Login signs a user in. Order matters and each step fails closed:
//  1. lockout check (a store failure answers ErrUnavailable, never a login);
//  2. password verification (unknown users cost the same);
//  3. the decision and its audit row commit together under a per-email lock
//     that every process shares, so N parallel failures lock after exactly
//     Threshold of them.
func (s *Service) Login(ctx context.Context, rawEmail, pw string, c Client) (LoginResult, error) {
	email := CanonicalEmail(rawEmail)
	if email == "" || pw == "" {
		return LoginResult{}, invalid("email and password are required")
	}
	if len(email) > MaxEmailLen {
		return LoginResult{}, invalid("email is too long (at most 254 characters)")
	}
	if len([]rune(pw)) > MaxPasswordLen {
		return LoginResult{}, invalid("password is too long (at most 128 characters)")
	}

	var user User
	var stored string
	var lock *LockedError
	err := s.store.InTx(ctx, func(tx Tx) error {
		var err error
		if lock, err = s.checkLock(ctx, tx, email); err != nil || lock != nil {
			return err
		}
		user, err = tx.UserByEmail(ctx, email)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		stored, err = tx.CredentialHash(ctx, user.ID)
		if errors.Is(err, ErrNotFound) {
			stored = ""
			return nil
		}
		return err
	})
	if err != nil {
		return LoginResult{}, unavailable("login: lockout check", err)
	}
	if lock != nil {
		return LoginResult{}, s.recordLocked(ctx, email, lock, c)
	}

	ok, err := s.hasher.Verify(ctx, pw, stored)
	if err != nil {
		return LoginResult{}, fmt.Errorf("login: verify password of user %s: %w", user.ID, err)
	}
	if !ok {
		return LoginResult{}, s.recordFailure(ctx, email, c)
	}
	if !user.EmailVerified {
		// Not a guessing failure: the password was right. Audited, not counted.
		err := s.store.InTx(ctx, func(tx Tx) error {
			return tx.InsertEvent(ctx, audit.Event{Type: audit.LoginFailure, IP: c.IP, UserAgent: c.UserAgent,
				Metadata: s.eventMeta("EMAIL_NOT_VERIFIED", "/login", email)})
		})
		if err != nil {
			return LoginResult{}, unavailable("login: audit unverified", err)
		}
		return LoginResult{}, ErrEmailNotVerified
	}
	return s.completeLogin(ctx, email, user, pw, stored, c)
}

// checkLock reads the newest failures and evaluates the policy.
func (s *Service) checkLock(ctx context.Context, tx Tx, email string) (*LockedError, error) {
	now := s.now()
	failures, err := tx.RecentFailures(ctx, email, now.Add(-s.lockout.lookback()), s.lockout.Threshold)
	if err != nil {
		return nil, err
	}
	if locked, remaining := s.lockout.Evaluate(failures, now); locked {
		return &LockedError{Remaining: remaining}, nil
	}
	return nil, nil
}

func (s *Service) recordLocked(ctx context.Context, email string, lock *LockedError, c Client) error {
	err := s.store.InTx(ctx, func(tx Tx) error {
		return tx.InsertEvent(ctx, audit.Event{Type: audit.AccountLocked, IP: c.IP, UserAgent: c.UserAgent,
			Metadata: s.eventMeta("ACCOUNT_LOCKED", "/login", email)})
	})
	if err != nil {
		return unavailable("login: audit lockout", err)
	}
	return lock
}

// recordFailure writes the failed attempt and its event, unless the account
// became locked meanwhile (then the answer is the lock, and nothing counts).
func (s *Service) recordFailure(ctx context.Context, email string, c Client) error {
	var lock *LockedError
	err := s.store.InTx(ctx, func(tx Tx) error {
		if err := tx.LockLogin(ctx, email); err != nil {
			return err
		}
		var err error
		if lock, err = s.checkLock(ctx, tx, email); err != nil {
			return err
		}
		if lock != nil {
			return tx.InsertEvent(ctx, audit.Event{Type: audit.AccountLocked, IP: c.IP, UserAgent: c.UserAgent,
				Metadata: s.eventMeta("ACCOUNT_LOCKED", "/login", email)})
		}
		if err := tx.InsertFailedAttempt(ctx, email, c.IP); err != nil {
			return err
		}
		return tx.InsertEvent(ctx, audit.Event{Type: audit.LoginFailure, IP: c.IP, UserAgent: c.UserAgent,
			Metadata: s.eventMeta("INVALID_CREDENTIALS", "/login", email)})
	})
	if err != nil {
		return unavailable("login: record failure", err)
	}
	if lock != nil {
		return lock
	}
	return ErrInvalidCredentials
}

func (s *Service) completeLogin(ctx context.Context, email string, user User, pw, stored string, c Client) (LoginResult, error) {
	now := s.now().UTC()
	refresh := randid.Secret()
	sess := Session{ID: randid.UserID(), Token: randid.UserID(), UserID: user.ID, ExpiresAt: now.Add(SessionTTL),
		CreatedAt: now, UpdatedAt: now, IP: c.IP, UserAgent: c.UserAgent}
	var rehash string
	if s.hasher.NeedsRehash(stored) {
		h, err := s.hasher.Hash(ctx, pw)
		if err != nil {
			return LoginResult{}, fmt.Errorf("login: upgrade password hash: %w", err)
		}
		rehash = h
	}
	var lock *LockedError
	err := s.store.InTx(ctx, func(tx Tx) error {
		if err := tx.LockLogin(ctx, email); err != nil {
			return err
		}
		var err error
		if lock, err = s.checkLock(ctx, tx, email); err != nil {
			return err
		}
		if lock != nil {
			return tx.InsertEvent(ctx, audit.Event{Type: audit.AccountLocked, IP: c.IP, UserAgent: c.UserAgent,
				Metadata: s.eventMeta("ACCOUNT_LOCKED", "/login", email)})
		}
		if err := tx.ClearAttempts(ctx, email); err != nil {
			return err
		}
		if rehash != "" {
			if err := tx.UpdateCredentialHash(ctx, user.ID, rehash); err != nil {
				return err
			}
		}
		if err := tx.InsertSession(ctx, sess); err != nil {
			return err
		}
		if err := tx.InsertRefreshToken(ctx, hashToken(refresh), sess.ID, sess.ExpiresAt); err != nil {
			return err
		}
		return tx.InsertEvent(ctx, audit.Event{UserID: user.ID, Type: audit.LoginSuccess, IP: c.IP, UserAgent: c.UserAgent, Metadata: map[string]any{}})
	})
	if err != nil {
		return LoginResult{}, unavailable("login: complete", err)
	}
	if lock != nil {
		return LoginResult{}, lock
	}
	access, claims, err := s.mint(user, sess.ID)
	if err != nil {
		return LoginResult{}, err
	}
	return LoginResult{User: user, Session: sess, RefreshToken: refresh, AccessToken: access, Claims: claims}, nil
}

func (s *Service) mint(u User, sessionID string) (string, token.Claims, error) {
	// role comes from the stored user (DESIGN.md §5.10), not a constant.
	tok, claims, err := s.tokens.Mint(token.Claims{Sub: u.ID, Email: u.Email, Role: u.Role, Sid: sessionID, Tier: u.AccessTier})
	if err != nil {
		return "", token.Claims{}, fmt.Errorf("mint access token: %w", err)
	}
	return tok, claims, nil
}

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
	outcome := error(nil)
	err := s.store.InTx(ctx, func(tx Tx) error {
		row, err := tx.RefreshTokenForUpdate(ctx, hashToken(refresh))
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
		if err := tx.MarkRefreshRotated(ctx, hashToken(refresh)); err != nil {
			return err
		}
		if err := tx.InsertRefreshToken(ctx, hashToken(next), row.SessionID, row.SessionExpiresAt); err != nil {
			return err
		}
		if err := tx.TouchSession(ctx, row.SessionID); err != nil {
			return err
		}
		user, err = tx.UserByID(ctx, row.UserID)
		sessionID = row.SessionID
		return err
	})
	if err != nil {
		return Refreshed{}, unavailable("refresh", err)
	}
	if outcome != nil {
		return Refreshed{}, outcome
	}
	access, claims, err := s.mint(user, sessionID)
	if err != nil {
		return Refreshed{}, err
	}
	return Refreshed{AccessToken: access, RefreshToken: next, Claims: claims}, nil
}

// Principal is an authenticated caller: valid token of a live session.
type Principal struct {
	Claims  token.Claims
	Payload map[string]any
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
		if errors.Is(err, token.ErrMalformed) || errors.Is(err, token.ErrSignature) || errors.Is(err, token.ErrExpired) ||
			errors.Is(err, token.ErrClaims) || errors.Is(err, token.ErrUnknownKey) {
			return Principal{}, ErrSessionInvalid
		}
		return Principal{}, unavailable("authenticate: keys", err)
	}
	live := false
	err = s.store.InTx(ctx, func(tx Tx) error {
		sess, err := tx.SessionByID(ctx, claims.Sid)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		live = sess.RevokedAt == nil && sess.UserID == claims.Sub && s.now().Before(sess.ExpiresAt)
		return nil
	})
	if err != nil {
		return Principal{}, unavailable("authenticate: session", err)
	}
	if !live {
		return Principal{}, ErrSessionInvalid
	}
	return Principal{Claims: claims, Payload: payload}, nil
}

// LogoutInput names the session to end by any credential the client holds.
type LogoutInput struct {
	AccessToken  string
	RefreshToken string
}

// Logout revokes the session identified by an access or refresh token. It
// succeeds when nothing is identified (logout is idempotent), but a store
// failure is an error: a logout that did not happen must not look done.
func (s *Service) Logout(ctx context.Context, in LogoutInput, c Client) error {
	sessionID, userID := "", ""
	if in.AccessToken != "" {
		// An expired access token still names its session; the signature must hold.
		if claims, _, err := s.tokens.Verify(ctx, in.AccessToken); err == nil {
			sessionID, userID = claims.Sid, claims.Sub
		}
	}
	err := s.store.InTx(ctx, func(tx Tx) error {
		if sessionID == "" && in.RefreshToken != "" && len(in.RefreshToken) <= 256 {
			row, err := tx.RefreshTokenForUpdate(ctx, hashToken(in.RefreshToken))
			if err != nil && !errors.Is(err, ErrNotFound) {
				return err
			}
			if err == nil {
				sessionID, userID = row.SessionID, row.UserID
			}
		}
		if sessionID == "" {
			return nil
		}
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
	err := s.store.InTx(ctx, func(tx Tx) error {
		var err error
		if d.User, err = tx.UserByID(ctx, p.Claims.Sub); err != nil {
			return err
		}
		d.Summary, err = tx.AccountSummary(ctx, d.User.ID)
		return err
	})
	if errors.Is(err, ErrNotFound) {
		return AccountData{}, ErrUserNotFound
	}
	if err != nil {
		return AccountData{}, fmt.Errorf("me/data: %w", err)
	}
	return d, nil
}

// Ping checks the database with a real query.
func (s *Service) Ping(ctx context.Context) error { return s.store.Ping(ctx) }

// Now is the service clock (for responses that report times).
func (s *Service) Now() time.Time { return s.now() }
