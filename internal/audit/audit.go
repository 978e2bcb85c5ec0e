// Package audit names the security events and their shape. Events are written
// by the store inside the transaction of the state change they describe, so an
// event and its change commit together or not at all.
package audit

// Event types written to auth.security_events.
const (
	Register = "REGISTER"
	// RegisterExisting: a registration for an address that has an account
	// (the owner is told; no second account).
	RegisterExisting = "REGISTER_EXISTING"
	// RateLimitExceeded is written once per client and window when a rate
	// limit first blocks it (OWASP's excess_rate_limit_exceeded).
	RateLimitExceeded  = "RATE_LIMIT_EXCEEDED"
	LoginSuccess       = "LOGIN_SUCCESS"
	LoginFailure       = "LOGIN_FAILURE"
	AccountLocked      = "ACCOUNT_LOCKED"
	EmailVerified      = "EMAIL_VERIFIED"
	Logout             = "LOGOUT"
	TokenReuseDetected = "TOKEN_REUSE_DETECTED"
	// KEKRewrap: `mana kek rotate` re-sealed a JWT signing key under the active KEK.
	KEKRewrap = "KEK_REWRAP"
	// SigningKeyRetired: `mana jwks retire` retired a JWT signing key;
	// SigningKeyCreated: `mana jwks rotate` added one.
	SigningKeyRetired = "SIGNING_KEY_RETIRED"
	SigningKeyCreated = "SIGNING_KEY_CREATED"
	// CutoverFinalized: `mana cutover finalize` ended the rollback window.
	CutoverFinalized = "CUTOVER_FINALIZED"

	PasswordResetRequested = "PASSWORD_RESET_REQUESTED"
	PasswordResetCompleted = "PASSWORD_RESET_COMPLETED"
	PasswordChanged        = "PASSWORD_CHANGED"
	ProfileUpdated         = "PROFILE_UPDATED"
	SessionRevoked         = "SESSION_REVOKED"
	LogoutAll              = "LOGOUT_ALL"
	// AccountDeleted is written without user id, IP or user agent: it must
	// outlive the account without holding its personal data.
	AccountDeleted = "ACCOUNT_DELETED"
)

// Event is one auth.security_events row. Empty strings are written as SQL
// NULL, so an absent field never costs the row (docs/compatibility.md).
type Event struct {
	UserID    string
	Type      string
	IP        string
	UserAgent string
	Metadata  map[string]any
}
