// Package auth holds the account rules: registration, email verification,
// login with lockout, sessions with rotating refresh tokens, logout. It knows
// nothing of HTTP; every state change and its audit event go through one
// Store transaction.
package auth

import (
	"errors"
	"fmt"
	"time"
)

// Domain errors. The HTTP layer maps each to a status and machine code.
var (
	ErrInvalidCredentials = errors.New("invalid email or password")
	ErrEmailNotVerified   = errors.New("email not verified")
	// ErrUnavailable means a security control could not do its job (the
	// database is unreachable): the request fails closed.
	ErrUnavailable = errors.New("service temporarily unavailable")
	// ErrSessionInvalid covers unknown, expired, revoked and reused refresh tokens.
	ErrSessionInvalid = errors.New("session expired")
	// ErrAccessExpired comes with ErrSessionInvalid when an access token is
	// only past its expiry (the client should refresh).
	ErrAccessExpired   = errors.New("access token expired")
	ErrTokenInvalid    = errors.New("invalid link")
	ErrTokenExpired    = errors.New("link expired")
	ErrUserNotFound    = errors.New("user not found")
	ErrInvalidCallback = errors.New("invalid callbackURL")
	// ErrWrongPassword is a wrong current password on a signed-in change.
	ErrWrongPassword = errors.New("invalid password")
	// ErrSignupLimit means today's registrations reached MAX_DAILY_SIGNUPS.
	ErrSignupLimit = errors.New("signup limit reached")
	// ErrSecondFactorRequired is a right password of a user with a second
	// factor: no session without it.
	ErrSecondFactorRequired = errors.New("second factor required")
	// ErrSessionNotFound is a session id that is not one of the caller's live sessions.
	ErrSessionNotFound = errors.New("session not found")
)

// LockedError is returned while an account is locked out.
type LockedError struct {
	Remaining time.Duration
}

func (e *LockedError) Error() string {
	return fmt.Sprintf("account locked for %d more seconds", e.RemainingSeconds())
}

// RemainingSeconds rounds up, so a client never retries a second too early.
func (e *LockedError) RemainingSeconds() int {
	s := int((e.Remaining + time.Second - 1) / time.Second)
	if s < 1 {
		s = 1
	}
	return s
}

// ValidationError is bad input, reported with a machine code and a message.
type ValidationError struct {
	Code    string // VALIDATION or WEAK_PASSWORD
	Message string
}

func (e *ValidationError) Error() string { return e.Message }

func invalid(msg string) error { return &ValidationError{Code: "VALIDATION", Message: msg} }

func weak(msg string) error { return &ValidationError{Code: "WEAK_PASSWORD", Message: msg} }

// unavailable marks a store failure on a fail-closed path, keeping the cause.
func unavailable(op string, err error) error {
	return fmt.Errorf("%s: %w: %w", op, ErrUnavailable, err)
}
