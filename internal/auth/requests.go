package auth

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/mana/mana/internal/audit"
	"github.com/mana/mana/internal/randid"
)

// ErrUnknownRequest is a recorded request of a kind this version does not
// know: retrying cannot help.
var ErrUnknownRequest = errors.New("unknown account request")

// ForgotPassword records a password-reset request. The request path does
// the same work for every well-formed address, known or not: it validates
// and commits one job; the worker looks the address up and mails a link to
// an existing user (forgotPassword). Malformed addresses succeed silently
// with no work, as unknown ones did in the contract. Only a store failure is
// an error: a request that was not recorded must not look accepted.
func (s *Service) ForgotPassword(ctx context.Context, rawEmail, rawRedirect string, c Client) error {
	email := CanonicalEmail(rawEmail)
	if validateEmail(email) != nil {
		return nil
	}
	redirect := ""
	if rawRedirect != "" {
		if cb, err := s.callbacks.Check(rawRedirect); err == nil {
			redirect = cb
		} else {
			s.log.WarnContext(ctx, "ignoring a redirectTo outside the allowed origins", "redirect_to", rawRedirect)
		}
	}
	return s.recordRequest(ctx, AccountRequest{Kind: RequestForgotPassword, Email: email, Redirect: redirect, IP: c.IP, UserAgent: c.UserAgent})
}

// ResendVerification records a request for a fresh verification link; the
// worker mails it to an existing unverified user (resendVerification). It
// reports nothing about whether the address exists; a malformed address is
// a validation error, the same for every address of that shape.
func (s *Service) ResendVerification(ctx context.Context, rawEmail, rawCallback string, c Client) error {
	email := CanonicalEmail(rawEmail)
	if err := validateEmail(email); err != nil {
		return err
	}
	callback := s.callbackOrRoot(ctx, rawCallback)
	return s.recordRequest(ctx, AccountRequest{Kind: RequestResendVerify, Email: email, Redirect: callback, IP: c.IP, UserAgent: c.UserAgent})
}

func (s *Service) recordRequest(ctx context.Context, r AccountRequest) error {
	if err := s.store.InTx(ctx, func(tx Tx) error { return tx.EnqueueRequest(ctx, r) }); err != nil {
		return unavailable(string(r.Kind), err)
	}
	return nil
}

// HandleAccountRequest decides a recorded request (the worker's side). An
// unknown address, a verified one asking for a verification link and a
// throttled request end quietly; a store failure is returned, so the job is
// retried. Running a request twice mails once: the second run is throttled.
func (s *Service) HandleAccountRequest(ctx context.Context, r AccountRequest) error {
	switch r.Kind {
	case RequestForgotPassword:
		return s.forgotPassword(ctx, r)
	case RequestResendVerify:
		return s.resendVerification(ctx, r)
	default:
		return fmt.Errorf("%w: %q", ErrUnknownRequest, r.Kind)
	}
}

// forgotPassword mails a reset link to an existing user, at most one per
// resetMinSpacing.
func (s *Service) forgotPassword(ctx context.Context, r AccountRequest) error {
	now := s.now().UTC()
	secret := randid.Secret()
	err := s.store.InTx(ctx, func(tx Tx) error {
		u, found, err := existingUser(ctx, tx, r.Email)
		if err != nil || !found {
			return err
		}
		if err := tx.LockUser(ctx, u.ID); err != nil {
			return err
		}
		recent, err := tx.LinkTokensSince(ctx, u.ID, resetPurpose, "forgot", now.Add(-resetMinSpacing))
		if err != nil {
			return err
		}
		if len(recent) > 0 {
			s.log.InfoContext(ctx, "password reset mail throttled", "user_id", u.ID)
			return nil
		}
		hash := hashToken(secret)
		if err := tx.InsertLinkToken(ctx, LinkToken{Hash: hash, Purpose: resetPurpose, UserID: u.ID, Email: u.Email,
			Reason: "forgot", ExpiresAt: now.Add(ResetLinkTTL)}); err != nil {
			return err
		}
		if err := tx.InsertEvent(ctx, audit.Event{UserID: u.ID, Type: audit.PasswordResetRequested, IP: r.IP, UserAgent: r.UserAgent,
			Metadata: map[string]any{"email": u.Email}}); err != nil {
			return err
		}
		// The contract's link shape (§9.4): the GET handler
		// checks the token and redirects to the client's page with ?token=.
		link := s.baseURL + "/api/auth/reset-password/" + url.PathEscape(secret) + "?callbackURL=" + url.QueryEscape(r.Redirect)
		m := resetMail(u.Email, u.Name, link)
		m.ExternalID = "auth-reset-" + hex.EncodeToString(hash[:12])
		return s.enqueueMail(ctx, tx, m)
	})
	if err != nil {
		return fmt.Errorf("forgot password: %w", err)
	}
	return nil
}

// resendVerification mails a fresh link to an existing unverified user, at
// most resendPerHour per hour and resendMinSpacing apart.
func (s *Service) resendVerification(ctx context.Context, r AccountRequest) error {
	now := s.now().UTC()
	err := s.store.InTx(ctx, func(tx Tx) error {
		u, found, err := existingUser(ctx, tx, r.Email)
		if err != nil || !found || u.EmailVerified {
			return err
		}
		if err := tx.LockUser(ctx, u.ID); err != nil {
			return err
		}
		recent, err := tx.LinkTokensSince(ctx, u.ID, verifyPurpose, "resend", now.Add(-time.Hour))
		if err != nil {
			return err
		}
		if len(recent) >= resendPerHour || (len(recent) > 0 && now.Sub(recent[0]) < resendMinSpacing) {
			s.log.InfoContext(ctx, "verification resend throttled", "user_id", u.ID, "resends_last_hour", len(recent))
			return nil
		}
		return s.issueVerification(ctx, tx, u, randid.Secret(), "resend", r.Redirect, now)
	})
	if err != nil {
		return fmt.Errorf("resend verification: %w", err)
	}
	return nil
}
