package auth

import (
	"context"
	"errors"
	"time"

	"github.com/mana/mana/internal/audit"
)

// ErrNotFound is returned by a store read that matched no row.
var ErrNotFound = errors.New("not found")

// ErrConflict is returned when a unique key already exists.
var ErrConflict = errors.New("already exists")

// Store runs units of work. Everything fn does commits together or not at all.
type Store interface {
	InTx(ctx context.Context, fn func(Tx) error) error
	// Ping runs a real query (health checks).
	Ping(ctx context.Context) error
	// SessionState reads what a token check needs of a session, in one
	// statement outside any transaction (nothing is locked or written);
	// ErrNotFound when there is no such session.
	SessionState(ctx context.Context, id string) (SessionState, error)
	// AccountData reads a user and their account summary in one statement
	// outside any transaction (/me/data); ErrNotFound when the user is gone.
	AccountData(ctx context.Context, userID string) (User, AccountSummary, error)
}

// SessionState is what decides whether a session admits its tokens.
type SessionState struct {
	UserID    string
	ExpiresAt time.Time
	RevokedAt *time.Time
}

// User is a row of auth.users with what the flows need.
type User struct {
	ID            string
	Name          string
	Email         string
	EmailVerified bool
	Image         *string
	Role          string
	AccessTier    string
	Kind          string
	TwoFactor     bool
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// Session is a row of auth.sessions.
type Session struct {
	ID         string
	Token      string
	UserID     string
	ExpiresAt  time.Time
	CreatedAt  time.Time
	UpdatedAt  time.Time
	IP         string
	UserAgent  string
	RevokedAt  *time.Time
	LastActive *time.Time
	DeviceID   string
	DeviceName string
}

// RefreshRow is a refresh token with its session, locked for update.
type RefreshRow struct {
	SessionID        string
	UserID           string
	RotatedAt        *time.Time
	ExpiresAt        time.Time
	SessionRevokedAt *time.Time
	SessionExpiresAt time.Time
	// SessionCreatedAt is when the session was signed in (auth_time).
	SessionCreatedAt time.Time
}

// LinkToken is a one-time link (verification or reset); only its hash is stored.
type LinkToken struct {
	Hash      []byte
	Purpose   string
	UserID    string
	Email     string
	Reason    string
	ExpiresAt time.Time
	UsedAt    *time.Time
}

// Mail is an email to hand to mana-notify through the durable outbox.
type Mail struct {
	To         string
	Subject    string
	HTML       string
	ExternalID string
	// SealedHTML replaces HTML when a MailSealer is configured: the body
	// (a sign-in or reset link) sealed under the KEK named KEKID, so the job
	// table never holds the link in clear (audit F3).
	SealedHTML []byte
	KEKID      string
}

// AccountRequest is a forgot-password or resend-verification request as the
// request path records it: the same one job whether or not the address has
// an account, so answer and timing say nothing about it (audit F10). The
// worker decides (HandleAccountRequest).
type AccountRequest struct {
	Kind  RequestKind
	Email string // canonical
	// Redirect is the checked callback for the link ("" or "/" when none
	// or not allowed).
	Redirect      string
	IP, UserAgent string
}

// RequestKind names what an AccountRequest asks for.
type RequestKind string

// The account requests decided off the request path.
const (
	RequestForgotPassword RequestKind = "forgot-password"
	RequestResendVerify   RequestKind = "resend-verification"
)

// MailSealer seals mail bodies at rest (the KEK ring).
type MailSealer interface {
	Seal(plaintext, aad []byte) (sealed []byte, kekID string)
}

// MailAAD binds a sealed body to its mail: a body copied into another job
// does not open.
func MailAAD(externalID string) []byte { return []byte("auth_mail:" + externalID) }

// AccountSummary is what /me/data reports about the account.
type AccountSummary struct {
	SessionsCount int
	AccountsCount int
	Has2FA        bool
	LastLoginAt   *time.Time
}

// Tx is the set of operations available inside one transaction.
type Tx interface {
	// LockLogin serialises every login decision for one canonical email across
	// all processes until the transaction ends.
	LockLogin(ctx context.Context, email string) error
	// RecentFailures returns the newest failed attempts for email after since, newest first, at most limit.
	RecentFailures(ctx context.Context, email string, since time.Time, limit int) ([]time.Time, error)
	InsertFailedAttempt(ctx context.Context, email, ip string) error
	ClearAttempts(ctx context.Context, email string) error

	UserByEmail(ctx context.Context, email string) (User, error)
	UserByID(ctx context.Context, id string) (User, error)
	// LockUser takes a row lock on the user (serialises per-user throttles).
	LockUser(ctx context.Context, id string) error
	CredentialHash(ctx context.Context, userID string) (string, error)
	UpdateCredentialHash(ctx context.Context, userID, hash string) error
	// InsertUser returns ErrConflict when the email is taken.
	InsertUser(ctx context.Context, u User, passwordHash string) error
	MarkEmailVerified(ctx context.Context, userID, email string) (changed bool, err error)

	InsertLinkToken(ctx context.Context, t LinkToken) error
	// UseLinkToken marks an unused token used and returns it; ErrNotFound when
	// it never existed or was used already.
	UseLinkToken(ctx context.Context, hash []byte, purpose string) (LinkToken, error)
	// LinkTokensSince lists creation times of a user's tokens of purpose and reason after since, newest first.
	LinkTokensSince(ctx context.Context, userID, purpose, reason string, since time.Time) ([]time.Time, error)

	InsertSession(ctx context.Context, s Session) error
	SessionByID(ctx context.Context, id string) (Session, error)
	RevokeSession(ctx context.Context, id string) (revoked bool, err error)
	InsertRefreshToken(ctx context.Context, hash []byte, sessionID string, expires time.Time) error
	// RefreshTokenForUpdate locks and returns a refresh token row; ErrNotFound when unknown.
	RefreshTokenForUpdate(ctx context.Context, hash []byte) (RefreshRow, error)
	// RotateRefresh marks the refresh token old rotated, issues next for
	// the same session (until expires), records the session's activity and
	// returns the session's user: one rotation, in one statement where the
	// database allows it.
	RotateRefresh(ctx context.Context, old, next []byte, sessionID string, expires time.Time, userID string) (User, error)

	CutoverTx
	SpaceTx

	AccountSummary(ctx context.Context, userID string) (AccountSummary, error)

	InsertEvent(ctx context.Context, e audit.Event) error
	EnqueueMail(ctx context.Context, m Mail) error
	// EnqueueRequest records an account request for the worker, in tx.
	EnqueueRequest(ctx context.Context, r AccountRequest) error
	// EnqueueNotifyErasure records, in tx, that notify (in its own
	// database) must erase the deleted user's rows.
	EnqueueNotifyErasure(ctx context.Context, userID, email string) error

	AccountTx
}

// CutoverTx holds what reads the old service's rows: its session tokens
// (browser cookies and the refresh tokens its clients hold) and its reset rows.
type CutoverTx interface {
	// RollbackWindow reports whether the database is in the cut-over's
	// rollback window: then only formats the old service reads are written.
	RollbackWindow(ctx context.Context) (bool, error)
	// LegacyCredentialsRemain reports whether any stored password is not an
	// argon2id hash (Better Auth scrypt, wrapped or not).
	LegacyCredentialsRemain(ctx context.Context) (bool, error)
	// SessionByToken returns the session whose stored token equals one of
	// forms (the stored form of a token differs by who wrote the row);
	// ErrNotFound when none does.
	SessionByToken(ctx context.Context, forms ...string) (Session, error)
	// ExtendSession moves a live session's expiry (sliding sessions).
	ExtendSession(ctx context.Context, id string, expires time.Time) error
	// ClaimRefreshToken records hash as a refresh token of the session that
	// is already rotated (presented once). claimed is false when the hash was
	// recorded before: the token was presented already.
	ClaimRefreshToken(ctx context.Context, hash []byte, sessionID string, expires time.Time) (claimed bool, err error)
	// ClaimLinkToken records a stateless link as used. claimed is false when
	// it was used before.
	ClaimLinkToken(ctx context.Context, t LinkToken) (claimed bool, err error)
	// Verification reads the newest auth.verification row of identifier
	// (the old service's reset tokens); ErrNotFound when there is none.
	Verification(ctx context.Context, identifier string) (value string, expires time.Time, err error)
	// DeleteVerification deletes every row of identifier; deleted is false
	// when there was none (used by a concurrent request).
	DeleteVerification(ctx context.Context, identifier string) (deleted bool, err error)
}

// Space is an organization row with its first member (the owner).
type Space struct {
	ID        string
	Name      string
	Slug      string
	Metadata  map[string]any
	MemberID  string
	UserID    string
	Role      string
	CreatedAt time.Time
}

// SpaceTx holds the Space (organization) operations sign-up needs.
type SpaceTx interface {
	// HasPersonalSpace reports whether the user is a member of a Space whose
	// metadata type is "personal".
	HasPersonalSpace(ctx context.Context, userID string) (bool, error)
	// SlugTaken reports whether any Space has the slug.
	SlugTaken(ctx context.Context, slug string) (bool, error)
	// InsertSpace writes the organization and its member row; ErrConflict
	// when the slug is taken.
	InsertSpace(ctx context.Context, s Space) error
	// UserSpaces lists the Spaces the user is a member of, oldest first.
	UserSpaces(ctx context.Context, userID string) ([]Space, error)
}

// Profile is the user-editable part of auth.users.
type Profile struct {
	Name                 string
	Image                *string
	FeedbackShowRealName bool
}

// ProfilePatch names the fields to change; nil leaves a field as it is.
type ProfilePatch struct {
	Name                 *string
	Image                *string
	FeedbackShowRealName *bool
}

// EventRecord is a stored auth.security_events row.
type EventRecord struct {
	ID        string
	Type      string
	IP        string
	UserAgent string
	Metadata  map[string]any
	CreatedAt time.Time
}

// DeletedCounts reports what an account deletion removed.
type DeletedCounts struct {
	Sessions int
	Accounts int
	// NotifyElsewhere: notify's tables are not in this database, so its
	// rows of the user (devices, preferences, notifications) were not
	// deleted here; the deletion asks notify to erase them
	// (EnqueueNotifyErasure).
	NotifyElsewhere bool
}

// AccountTx holds the account-lifecycle operations (reset, change, sessions,
// profile, export, deletion, signup limit).
type AccountTx interface {
	// LinkTokenByHash reads a link token without using it; ErrNotFound when unknown.
	LinkTokenByHash(ctx context.Context, hash []byte, purpose string) (LinkToken, error)
	// RetireLinkTokens marks every unused token of the user and purpose used.
	RetireLinkTokens(ctx context.Context, userID, purpose string) error
	// SetPassword stores the credential hash, creating the credential account when missing.
	SetPassword(ctx context.Context, userID, hash string) error
	// RevokeUserSessions revokes every live session of the user except
	// exceptID ("" = all) and returns how many it revoked.
	RevokeUserSessions(ctx context.Context, userID, exceptID string) (int, error)
	// UserSessions lists the user's sessions, newest first; ended ones
	// (revoked or expired) only when includeEnded.
	UserSessions(ctx context.Context, userID string, includeEnded bool) ([]Session, error)
	// UpdateProfile applies the patch; ErrNotFound when the user is gone.
	UpdateProfile(ctx context.Context, userID string, p ProfilePatch) (Profile, error)
	// UserEvents returns the user's newest security events, at most limit.
	UserEvents(ctx context.Context, userID string, limit int) ([]EventRecord, error)
	// LockSignups serialises registrations while a daily limit is enforced.
	LockSignups(ctx context.Context) error
	// CountEventsSince counts events of a type written at or after since.
	CountEventsSince(ctx context.Context, eventType string, since time.Time) (int, error)
	// DeleteAccount removes the user and every row holding their personal
	// data, and strips IP, user agent and email from audit rows that remain.
	DeleteAccount(ctx context.Context, userID, email string) (DeletedCounts, error)
}
