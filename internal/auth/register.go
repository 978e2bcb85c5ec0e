package auth

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/mana/mana/internal/audit"
	"github.com/mana/mana/internal/randid"
)

// RegisterInput is the body of POST /register.
type RegisterInput struct {
	Email, Password, Name, CallbackURL string
}

// Register creates an unverified user and queues the verification mail in the
// same transaction. A taken email answers like a new one (no enumeration),
// with a fresh fake user; the address's owner is told instead
// (registerExisting), so they learn of it and a pre-registration cannot
// keep its password (audit F14).
func (s *Service) Register(ctx context.Context, in RegisterInput, c Client) (User, error) {
	if err := validateNewEmail(in.Email); err != nil {
		return User{}, err
	}
	email := CanonicalEmail(in.Email)
	if err := s.checkNewPassword(in.Password, email); err != nil {
		return User{}, err
	}
	name := strings.TrimSpace(in.Name)
	if name == "" {
		name, _, _ = strings.Cut(email, "@")
	}
	if len(name) > MaxNameLen {
		return User{}, invalid("name is too long (at most 255 characters)")
	}
	callback := s.callbackOrRoot(ctx, in.CallbackURL)
	window, err := s.RollbackWindow(ctx)
	if err != nil {
		return User{}, err
	}
	// From here both paths do the same work up to the transaction, and the
	// cheaper one is padded to the other's typical cost after it.
	start := time.Now()
	// Hash first, for new and existing emails alike, so both cost the same.
	hash, err := s.hasher.HashFor(ctx, in.Password, window)
	if err != nil {
		return User{}, fmt.Errorf("register: %w", err)
	}
	now := s.now().UTC()
	u := User{ID: randid.UserID(), Name: name, Email: email, Role: "user", AccessTier: "public", Kind: "human", CreatedAt: now, UpdatedAt: now}
	secret := randid.Secret()
	taken := false
	err = s.store.InTx(ctx, func(tx Tx) error {
		if err := s.admitSignup(ctx, tx, now); err != nil {
			return err
		}
		if err := tx.InsertUser(ctx, u, hash); err != nil {
			if errors.Is(err, ErrConflict) {
				taken = true // the insert wrote nothing: the transaction goes on
				return s.registerExisting(ctx, tx, email, hash, callback, now, c)
			}
			return err
		}
		if err := s.createPersonalSpace(ctx, tx, u); err != nil {
			return err
		}
		if err := tx.InsertEvent(ctx, audit.Event{UserID: u.ID, Type: audit.Register, IP: c.IP, Metadata: map[string]any{}}); err != nil {
			return err
		}
		return s.issueVerification(ctx, tx, u, secret, "register", callback, now)
	})
	if errors.Is(err, ErrSignupLimit) {
		return User{}, ErrSignupLimit
	}
	if err != nil {
		return User{}, unavailable("register", err)
	}
	path := registerNew
	if taken {
		path = registerTaken
		s.log.InfoContext(ctx, "registration for an existing email answered generically; the owner was told")
	}
	s.registerCost.observe(path, time.Since(start))
	s.registerCost.pad(ctx, start)
	return u, nil // for a taken address, a fresh random id that exists nowhere
}

// registerExisting answers a registration for an address that has an
// account. The owner of a verified account gets a notice with a reset link
// (it may be them, having forgotten). An unverified account takes the new
// registration's password and gets a fresh verification link, its older
// links retired: whoever verifies the address owns it with the password of
// the latest registration, so a pre-registration by someone else cannot
// keep its password (account pre-hijacking). Both are throttled per
// account like the resend, so registrations cannot flood an inbox.
func (s *Service) registerExisting(ctx context.Context, tx Tx, email, hash, callback string, now time.Time, c Client) error {
	owner, err := tx.UserByEmail(ctx, email)
	if err != nil {
		return err
	}
	if err := tx.LockUser(ctx, owner.ID); err != nil {
		return err
	}
	purpose := resetPurpose
	if !owner.EmailVerified {
		purpose = verifyPurpose
	}
	recent, err := tx.LinkTokensSince(ctx, owner.ID, purpose, "register", now.Add(-time.Hour))
	if err != nil {
		return err
	}
	if len(recent) >= resendPerHour || (len(recent) > 0 && now.Sub(recent[0]) < resendMinSpacing) {
		s.log.InfoContext(ctx, "registration notice throttled", "user_id", owner.ID)
		return nil
	}
	if err := tx.InsertEvent(ctx, audit.Event{UserID: owner.ID, Type: audit.RegisterExisting, IP: c.IP, UserAgent: c.UserAgent,
		Metadata: map[string]any{"verified": owner.EmailVerified}}); err != nil {
		return err
	}
	secret := randid.Secret()
	if !owner.EmailVerified {
		if err := tx.SetPassword(ctx, owner.ID, hash); err != nil {
			return err
		}
		if err := tx.RetireLinkTokens(ctx, owner.ID, verifyPurpose); err != nil {
			return err
		}
		return s.issueVerification(ctx, tx, owner, secret, "register", callback, now)
	}
	th := hashToken(secret)
	if err := tx.InsertLinkToken(ctx, LinkToken{Hash: th, Purpose: resetPurpose, UserID: owner.ID, Email: owner.Email,
		Reason: "register", ExpiresAt: now.Add(ResetLinkTTL)}); err != nil {
		return err
	}
	link := s.baseURL + "/api/auth/reset-password/" + url.PathEscape(secret) + "?callbackURL=" + url.QueryEscape(callback)
	m := existingAccountMail(owner.Email, owner.Name, link)
	m.ExternalID = "auth-existing-" + hex.EncodeToString(th[:12])
	return s.enqueueMail(ctx, tx, m)
}

func (s *Service) issueVerification(ctx context.Context, tx Tx, u User, secret, reason, callback string, now time.Time) error {
	hash := hashToken(secret)
	if err := tx.InsertLinkToken(ctx, LinkToken{Hash: hash, Purpose: verifyPurpose, UserID: u.ID, Email: u.Email,
		Reason: reason, ExpiresAt: now.Add(VerifyLinkTTL)}); err != nil {
		return err
	}
	m := verificationMail(s.baseURL, u.Email, u.Name, secret, callback)
	// The idempotency key lets notify drop a duplicate if our hand-off is retried.
	m.ExternalID = "auth-verify-" + hex.EncodeToString(hash[:12])
	return s.enqueueMail(ctx, tx, m)
}

// callbackOrRoot keeps a client's sourceAppUrl for the link only when it is
// allowed; an untrusted one must not fail the registration, so the link then
// returns to "/" (and the verify endpoint would refuse the bad one anyway).
func (s *Service) callbackOrRoot(ctx context.Context, raw string) string {
	cb, err := s.callbacks.Check(raw)
	if err != nil {
		s.log.WarnContext(ctx, "ignoring a sourceAppUrl outside the allowed origins", "source_app_url", raw)
		return "/"
	}
	return cb
}

// CheckCallback validates a callbackURL against the allow-list.
func (s *Service) CheckCallback(raw string) (string, error) { return s.callbacks.Check(raw) }

// Verified is a consumed verification link. When it verified the address
// just now, the user is signed in (as the old service did): Session is set
// and SessionToken is its cookie token. A user with a second factor is
// verified but not signed in.
type Verified struct {
	Session      *SessionView
	SessionToken string
}

// VerifyEmail consumes a verification link: this service's one-time token,
// or a verification JWT the old service mailed (single-use here too).
// Errors are ErrTokenInvalid, ErrTokenExpired, ErrUserNotFound or a store
// failure.
func (s *Service) VerifyEmail(ctx context.Context, secret string, c Client) (Verified, error) {
	if secret == "" || len(secret) > maxLegacyLink {
		return Verified{}, ErrTokenInvalid
	}
	now := s.now().UTC()
	legacy := strings.Count(secret, ".") == 2
	var legacyEmail string
	var legacyExpires time.Time
	if legacy {
		var err error
		if legacyEmail, legacyExpires, err = legacyVerifyClaims(s.legacySecret, secret, now); err != nil {
			return Verified{}, err
		}
	} else if len(secret) > 256 {
		return Verified{}, ErrTokenInvalid
	}
	var outcome error
	var out Verified
	sessionToken := randid.Secret()
	err := s.store.InTx(ctx, func(tx Tx) error {
		t, err := s.useVerifyLink(ctx, tx, secret, legacy, legacyEmail, legacyExpires)
		if errors.Is(err, ErrNotFound) {
			outcome = ErrTokenInvalid
			return nil
		}
		if errors.Is(err, ErrUserNotFound) {
			outcome = ErrUserNotFound
			return nil
		}
		if err != nil {
			return err
		}
		if !now.Before(t.ExpiresAt) {
			outcome = ErrTokenExpired
			return nil // marking an expired link used is harmless and keeps it single-use
		}
		changed, err := tx.MarkEmailVerified(ctx, t.UserID, t.Email)
		if errors.Is(err, ErrNotFound) {
			outcome = ErrUserNotFound
			return nil
		}
		if err != nil || !changed {
			return err
		}
		if err := tx.InsertEvent(ctx, audit.Event{UserID: t.UserID, Type: audit.EmailVerified, IP: c.IP, UserAgent: c.UserAgent, Metadata: map[string]any{}}); err != nil {
			return err
		}
		user, err := tx.UserByID(ctx, t.UserID)
		if err != nil || user.TwoFactor {
			return err
		}
		window, err := tx.RollbackWindow(ctx)
		if err != nil {
			return err
		}
		sess := Session{ID: randid.UserID(), Token: sessionTokenToStore(sessionToken, window), UserID: user.ID,
			ExpiresAt: now.Add(SessionTTL), CreatedAt: now, UpdatedAt: now, IP: c.IP, UserAgent: c.UserAgent}
		if err := tx.InsertSession(ctx, sess); err != nil {
			return err
		}
		out = Verified{Session: &SessionView{Session: sess, User: user}, SessionToken: sessionToken}
		return tx.InsertEvent(ctx, audit.Event{UserID: user.ID, Type: audit.LoginSuccess, IP: c.IP, UserAgent: c.UserAgent,
			Metadata: map[string]any{"endpoint": "/verify-email"}})
	})
	if err != nil {
		return Verified{}, unavailable("verify email", err)
	}
	if outcome != nil {
		return Verified{}, outcome
	}
	return out, nil
}

// useVerifyLink marks a verification link used and returns it; ErrNotFound
// when it is unknown or was used before. An old-service link is recorded on
// first use (its JWT was checked by the caller).
func (s *Service) useVerifyLink(ctx context.Context, tx Tx, secret string, legacy bool, email string, expires time.Time) (LinkToken, error) {
	if !legacy {
		return tx.UseLinkToken(ctx, hashToken(secret), verifyPurpose)
	}
	u, err := tx.UserByEmail(ctx, email)
	if errors.Is(err, ErrNotFound) {
		return LinkToken{}, ErrUserNotFound
	}
	if err != nil {
		return LinkToken{}, err
	}
	t := LinkToken{Hash: hashToken(secret), Purpose: verifyPurpose, UserID: u.ID, Email: u.Email, Reason: "legacy", ExpiresAt: expires}
	claimed, err := tx.ClaimLinkToken(ctx, t)
	if err != nil {
		return LinkToken{}, err
	}
	if !claimed {
		return LinkToken{}, ErrNotFound
	}
	return t, nil
}

// existingUser looks a user up by canonical email for flows that answer the
// same whether or not the address exists: found is false for an unknown one.
func existingUser(ctx context.Context, tx Tx, email string) (u User, found bool, err error) {
	u, err = tx.UserByEmail(ctx, email)
	if errors.Is(err, ErrNotFound) {
		return User{}, false, nil
	}
	return u, err == nil, err
}
