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
	User    User
	Session Session
	// SessionToken is the session's cookie token (never stored as such).
	SessionToken string
	RefreshToken string
	AccessToken  string
	Claims       token.Claims
}

// SignInInput is a password sign-in through either door: /api/v1/auth/login
// or the browser's /api/auth/sign-in/email. Both share every rule.
type SignInInput struct {
	Email    string
	Password string
	// ShortSession asks for a session without "remember me" (one day).
	ShortSession bool
	// Endpoint names the door in audit rows ("/login" when empty).
	Endpoint string
}

// loginEvent is an event of a sign-in before a user is known: no user id, the
// canonical email and the machine code in metadata (the contract's event shape).
func loginEvent(eventType, code, email string, c Client) audit.Event {
	endpoint := c.Endpoint
	if endpoint == "" {
		endpoint = "/login"
	}
	return audit.Event{Type: eventType, IP: c.IP, UserAgent: c.UserAgent,
		Metadata: map[string]any{"code": code, "endpoint": endpoint, "email": email}}
}

// Login signs a user in through /api/v1/auth/login.
func (s *Service) Login(ctx context.Context, rawEmail, pw string, c Client) (LoginResult, error) {
	return s.SignIn(ctx, SignInInput{Email: rawEmail, Password: pw}, c)
}

// Login signs a user in. Order matters and each step fails closed:
//  1. lockout check (a store failure answers ErrUnavailable, never a login);
//  2. password verification (unknown users cost the same);
//  3. the decision and its audit row commit together under a per-email lock
//     that every process shares, so N parallel failures lock after exactly
//     Threshold of them.
//
// A user with a second factor gets no session from the password alone:
// ErrSecondFactorRequired, audited and not counted as a failure.
func (s *Service) SignIn(ctx context.Context, in SignInInput, c Client) (LoginResult, error) {
	if in.Endpoint != "" {
		c.Endpoint = in.Endpoint
	}
	email, pw := CanonicalEmail(in.Email), in.Password
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
	var window bool
	err := s.store.InTx(ctx, func(tx Tx) error {
		var err error
		if window, err = tx.RollbackWindow(ctx); err != nil {
			return err
		}
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

	s.maybeRefreshPadding(ctx)
	ok, err := s.hasher.Verify(ctx, pw, stored, window)
	if err != nil {
		return LoginResult{}, fmt.Errorf("login: verify password of user %s: %w", user.ID, err)
	}
	if !ok {
		return LoginResult{}, s.recordFailure(ctx, email, c)
	}
	if !user.EmailVerified {
		// Not a guessing failure: the password was right. Audited, not counted.
		return LoginResult{}, s.refuseRightPassword(ctx, email, "EMAIL_NOT_VERIFIED", ErrEmailNotVerified, c)
	}
	if user.TwoFactor {
		// Right password, but it is only the first factor: no session.
		return LoginResult{}, s.refuseRightPassword(ctx, email, "TWO_FACTOR_REQUIRED", ErrSecondFactorRequired, c)
	}
	ttl := SessionTTL
	if in.ShortSession {
		ttl = ShortSessionTTL
	}
	return s.completeLogin(ctx, email, user, pw, stored, ttl, window, c)
}

// refuseRightPassword answers a right password that still gets no session
// (unverified address, second factor required) — but only while the account
// is not locked: the lock is decided again under the per-email lock, as on
// the failure and success paths, so a parallel burst cannot learn which
// guess was right after the account locked (audit F4).
func (s *Service) refuseRightPassword(ctx context.Context, email, code string, refusal error, c Client) error {
	var lock *LockedError
	err := s.store.InTx(ctx, func(tx Tx) error {
		var err error
		if lock, err = s.lockedUnderLock(ctx, tx, email, c); err != nil || lock != nil {
			return err
		}
		return tx.InsertEvent(ctx, loginEvent(audit.LoginFailure, code, email, c))
	})
	if err != nil {
		return unavailable("login: record "+code, err)
	}
	if lock != nil {
		return lock
	}
	return refusal
}

// lockedUnderLock takes the per-email lock for the rest of the transaction
// and decides the lock again; a locked account gets its ACCOUNT_LOCKED event
// and the lock is returned. Every decision of a sign-in goes through it.
func (s *Service) lockedUnderLock(ctx context.Context, tx Tx, email string, c Client) (*LockedError, error) {
	if err := tx.LockLogin(ctx, email); err != nil {
		return nil, err
	}
	lock, err := s.checkLock(ctx, tx, email)
	if err != nil || lock == nil {
		return nil, err
	}
	return lock, tx.InsertEvent(ctx, loginEvent(audit.AccountLocked, "ACCOUNT_LOCKED", email, c))
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
		return tx.InsertEvent(ctx, loginEvent(audit.AccountLocked, "ACCOUNT_LOCKED", email, c))
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
		var err error
		if lock, err = s.lockedUnderLock(ctx, tx, email, c); err != nil || lock != nil {
			return err
		}
		if err := tx.InsertFailedAttempt(ctx, email, c.IP); err != nil {
			return err
		}
		return tx.InsertEvent(ctx, loginEvent(audit.LoginFailure, "INVALID_CREDENTIALS", email, c))
	})
	if err != nil {
		return unavailable("login: record failure", err)
	}
	if lock != nil {
		return lock
	}
	return ErrInvalidCredentials
}

func (s *Service) completeLogin(ctx context.Context, email string, user User, pw, stored string, ttl time.Duration, window bool, c Client) (LoginResult, error) {
	now := s.now().UTC()
	refresh, sessionToken := randid.Secret(), randid.Secret()
	sess := Session{ID: randid.UserID(), Token: sessionTokenToStore(sessionToken, window), UserID: user.ID, ExpiresAt: now.Add(ttl),
		CreatedAt: now, UpdatedAt: now, IP: c.IP, UserAgent: c.UserAgent}
	var rehash string
	if s.hasher.NeedsRehash(stored, window) {
		h, err := s.hasher.Hash(ctx, pw)
		if err != nil {
			return LoginResult{}, fmt.Errorf("login: upgrade password hash: %w", err)
		}
		rehash = h
	}
	var lock *LockedError
	err := s.store.InTx(ctx, func(tx Tx) error {
		var err error
		if lock, err = s.lockedUnderLock(ctx, tx, email, c); err != nil || lock != nil {
			return err
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
		meta := map[string]any{}
		if c.Endpoint != "" && c.Endpoint != "/login" {
			meta["endpoint"] = c.Endpoint
		}
		return tx.InsertEvent(ctx, audit.Event{UserID: user.ID, Type: audit.LoginSuccess, IP: c.IP, UserAgent: c.UserAgent, Metadata: meta})
	})
	if err != nil {
		return LoginResult{}, unavailable("login: complete", err)
	}
	if lock != nil {
		return LoginResult{}, lock
	}
	access, claims, err := s.mint(ctx, user, sess.ID, sess.CreatedAt, sess.ExpiresAt)
	if err != nil {
		return LoginResult{}, err
	}
	return LoginResult{User: user, Session: sess, SessionToken: sessionToken, RefreshToken: refresh, AccessToken: access, Claims: claims}, nil
}

// mint signs an access token of a session; signedInAt (the session's
// creation) is its auth_time. It expires with the session at the latest,
// so a check that knows only revocations (the revocation set) never admits
// a token of an expired session.
func (s *Service) mint(ctx context.Context, u User, sessionID string, signedInAt, sessionExpires time.Time) (string, token.Claims, error) {
	s.tokens.RefreshKeys(ctx)
	// role comes from the stored user (DESIGN.md §5.10), not a constant.
	tok, claims, err := s.tokens.Mint(token.Claims{Sub: u.ID, Email: u.Email, Role: u.Role, Sid: sessionID, Tier: u.AccessTier,
		AuthTime: signedInAt.Unix(), Exp: sessionExpires.Unix()})
	if err != nil {
		return "", token.Claims{}, fmt.Errorf("mint access token: %w", err)
	}
	return tok, claims, nil
}
