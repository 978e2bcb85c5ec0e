package auth

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/mana/mana/internal/audit"
	"github.com/mana/mana/internal/password/policy"
	"github.com/mana/mana/internal/randid"
)

// Password-reset lifetimes and throttles.
const (
	ResetLinkTTL = time.Hour
	// resetMinSpacing: at most one reset mail per address per minute, so the
	// public endpoint cannot be used to flood someone's inbox.
	resetMinSpacing = time.Minute
	resetPurpose    = "reset-password"
	verifyPurpose   = "verify-email"
)

// checkNewPassword applies the password policy to a password about to be set
// for the account with the given canonical email.
func (s *Service) checkNewPassword(pw, email string) error {
	if pw == "" {
		return invalid("password is required")
	}
	if err := s.policy.Check(pw, email); err != nil {
		var v *policy.Violation
		if errors.As(err, &v) {
			return weak(v.Reason)
		}
		return fmt.Errorf("password policy: %w", err)
	}
	return nil
}

// PasswordPolicy exposes the policy (for status endpoints and docs).
func (s *Service) PasswordPolicy() *policy.Policy { return s.policy }

// CheckResetToken tells whether a reset link may still be used (for the
// link's redirect). ErrTokenInvalid or ErrTokenExpired otherwise.
func (s *Service) CheckResetToken(ctx context.Context, secret string) error {
	_, err := s.resetToken(ctx, secret)
	return err
}

func (s *Service) resetToken(ctx context.Context, secret string) (LinkToken, error) {
	if secret == "" || len(secret) > 256 {
		return LinkToken{}, ErrTokenInvalid
	}
	var t LinkToken
	err := s.store.InTx(ctx, func(tx Tx) error {
		var err error
		if isLegacyResetToken(secret) {
			t, err = legacyResetLink(ctx, tx, secret)
			return err
		}
		t, err = tx.LinkTokenByHash(ctx, hashToken(secret), resetPurpose)
		return err
	})
	switch {
	case errors.Is(err, ErrNotFound):
		return LinkToken{}, ErrTokenInvalid
	case err != nil:
		return LinkToken{}, unavailable("reset token", err)
	case t.UsedAt != nil:
		return LinkToken{}, ErrTokenInvalid
	case !s.now().Before(t.ExpiresAt):
		return LinkToken{}, ErrTokenExpired
	}
	return t, nil
}

// legacyResetLink reads a reset token the old service mailed (a row of
// auth.verification naming the user); ErrNotFound when there is none.
func legacyResetLink(ctx context.Context, tx Tx, secret string) (LinkToken, error) {
	userID, expires, err := tx.Verification(ctx, legacyResetPrefix+secret)
	if err != nil {
		return LinkToken{}, err
	}
	u, err := tx.UserByID(ctx, userID)
	if err != nil {
		return LinkToken{}, err
	}
	return LinkToken{Purpose: resetPurpose, UserID: u.ID, Email: u.Email, Reason: "legacy", ExpiresAt: expires}, nil
}

// useResetLink marks a reset link used (an old-service row is deleted) and
// returns it; ErrNotFound when a concurrent request used it first.
func useResetLink(ctx context.Context, tx Tx, secret string, read LinkToken) (LinkToken, error) {
	if read.Reason != "legacy" {
		return tx.UseLinkToken(ctx, hashToken(secret), resetPurpose)
	}
	deleted, err := tx.DeleteVerification(ctx, legacyResetPrefix+secret)
	if err != nil {
		return LinkToken{}, err
	}
	if !deleted {
		return LinkToken{}, ErrNotFound
	}
	return read, nil
}

// ResetPassword sets a new password with a reset link's token. The token is
// single-use; success revokes every session of the user (their access and
// refresh tokens stop working), clears the lockout (resetting is the way out
// of one) and retires the user's other reset links.
func (s *Service) ResetPassword(ctx context.Context, secret, newPassword string, c Client) error {
	t, err := s.resetToken(ctx, secret)
	if err != nil {
		return err
	}
	// The policy runs before the token is used: a refused password leaves
	// the link valid for a better one.
	if err := s.checkNewPassword(newPassword, t.Email); err != nil {
		return err
	}
	window, err := s.RollbackWindow(ctx)
	if err != nil {
		return err
	}
	hash, err := s.hasher.HashFor(ctx, newPassword, window)
	if err != nil {
		return fmt.Errorf("reset password: %w", err)
	}
	var outcome error
	err = s.store.InTx(ctx, func(tx Tx) error {
		used, err := useResetLink(ctx, tx, secret, t)
		if errors.Is(err, ErrNotFound) {
			outcome = ErrTokenInvalid // used by a concurrent request meanwhile
			return nil
		}
		if err != nil {
			return err
		}
		if !s.now().Before(used.ExpiresAt) {
			outcome = ErrTokenExpired
			return nil
		}
		if err := tx.SetPassword(ctx, used.UserID, hash); err != nil {
			return err
		}
		revoked, err := tx.RevokeUserSessions(ctx, used.UserID, "")
		if err != nil {
			return err
		}
		if err := tx.RetireLinkTokens(ctx, used.UserID, resetPurpose); err != nil {
			return err
		}
		if err := tx.ClearAttempts(ctx, used.Email); err != nil {
			return err
		}
		return tx.InsertEvent(ctx, audit.Event{UserID: used.UserID, Type: audit.PasswordResetCompleted, IP: c.IP, UserAgent: c.UserAgent,
			Metadata: map[string]any{"revokedSessions": revoked}})
	})
	if err != nil {
		return unavailable("reset password", err)
	}
	return outcome
}

// ChangePasswordInput is the body of POST /change-password.
type ChangePasswordInput struct {
	CurrentPassword, NewPassword string
}

// ChangePassword replaces the signed-in user's password after checking the
// current one. Every other session of the user is revoked; the caller's own
// stays. A notice mail goes to the account's address.
func (s *Service) ChangePassword(ctx context.Context, p Principal, in ChangePasswordInput, c Client) error {
	if in.CurrentPassword == "" {
		return invalid("currentPassword is required")
	}
	if len([]rune(in.CurrentPassword)) > MaxPasswordLen {
		return ErrWrongPassword // no stored password can be that long
	}
	var user User
	var stored string
	var window bool
	var lock *LockedError
	err := s.store.InTx(ctx, func(tx Tx) error {
		var err error
		if window, err = tx.RollbackWindow(ctx); err != nil {
			return err
		}
		if user, err = tx.UserByID(ctx, p.Claims.Sub); err != nil {
			return err
		}
		// The current password is a password guess like a login: a locked
		// account takes none (audit F8).
		if lock, err = s.checkLock(ctx, tx, user.Email); err != nil || lock != nil {
			return err
		}
		stored, err = tx.CredentialHash(ctx, user.ID)
		if errors.Is(err, ErrNotFound) {
			stored = "" // verifies against the dummy hash: always wrong
			return nil
		}
		return err
	})
	if errors.Is(err, ErrNotFound) {
		return ErrSessionInvalid
	}
	if err != nil {
		return unavailable("change password", err)
	}
	if lock != nil {
		return lock
	}
	if err := s.checkNewPassword(in.NewPassword, user.Email); err != nil {
		return err
	}
	s.maybeRefreshPadding(ctx)
	ok, err := s.hasher.Verify(ctx, in.CurrentPassword, stored, window)
	if err != nil {
		return fmt.Errorf("change password: verify current password of user %s: %w", user.ID, err)
	}
	if !ok {
		// Counted toward the account's lockout, as a failed login is.
		err := s.store.InTx(ctx, func(tx Tx) error {
			if err := tx.LockLogin(ctx, user.Email); err != nil {
				return err
			}
			var err error
			if lock, err = s.checkLock(ctx, tx, user.Email); err != nil {
				return err
			}
			if lock != nil {
				return tx.InsertEvent(ctx, audit.Event{UserID: user.ID, Type: audit.AccountLocked, IP: c.IP, UserAgent: c.UserAgent,
					Metadata: map[string]any{"code": "ACCOUNT_LOCKED", "endpoint": "/change-password"}})
			}
			if err := tx.InsertFailedAttempt(ctx, user.Email, c.IP); err != nil {
				return err
			}
			return tx.InsertEvent(ctx, audit.Event{UserID: user.ID, Type: audit.LoginFailure, IP: c.IP, UserAgent: c.UserAgent,
				Metadata: map[string]any{"code": "INVALID_CREDENTIALS", "endpoint": "/change-password"}})
		})
		if err != nil {
			return unavailable("change password: record failure", err)
		}
		if lock != nil {
			return lock
		}
		return ErrWrongPassword
	}
	hash, err := s.hasher.HashFor(ctx, in.NewPassword, window)
	if err != nil {
		return fmt.Errorf("change password: %w", err)
	}
	err = s.store.InTx(ctx, func(tx Tx) error {
		if err := tx.LockLogin(ctx, user.Email); err != nil {
			return err
		}
		var err error
		if lock, err = s.checkLock(ctx, tx, user.Email); err != nil || lock != nil {
			return err // locked by a parallel burst meanwhile: no change
		}
		if err := tx.ClearAttempts(ctx, user.Email); err != nil {
			return err
		}
		if err := tx.LockUser(ctx, user.ID); err != nil {
			return err
		}
		// The hash we verified against must still be the stored one: two
		// concurrent changes must not both pass with the same old password.
		current, err := tx.CredentialHash(ctx, user.ID)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		if current != stored {
			return ErrWrongPassword
		}
		if err := tx.SetPassword(ctx, user.ID, hash); err != nil {
			return err
		}
		revoked, err := tx.RevokeUserSessions(ctx, user.ID, p.Claims.Sid)
		if err != nil {
			return err
		}
		if err := tx.InsertEvent(ctx, audit.Event{UserID: user.ID, Type: audit.PasswordChanged, IP: c.IP, UserAgent: c.UserAgent,
			Metadata: map[string]any{"revokedSessions": revoked}}); err != nil {
			return err
		}
		m := passwordChangedMail(user.Email, user.Name)
		m.ExternalID = "auth-password-changed-" + randid.UserID()
		return s.enqueueMail(ctx, tx, m)
	})
	if errors.Is(err, ErrWrongPassword) {
		return ErrWrongPassword
	}
	if err != nil {
		return unavailable("change password", err)
	}
	if lock != nil {
		return lock
	}
	return nil
}
