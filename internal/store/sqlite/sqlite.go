// Package sqlite is the embedded SQLite persistence of both services, the
// twin of internal/store/pg: the auth store, the vault store, the notify
// store, the opener and the migrations, with the same methods in the same
// order, plain SQL over database/sql on the one handle of Open, and every
// write through the one transaction helper inTx.
//
// What differs from Postgres, and why it is still correct:
//   - Serialisation. Open uses one connection and BEGIN IMMEDIATE,
//     so a transaction holds the database's single write lock from its first
//     statement to its end: every transaction is serialised against every
//     other. The per-email login lock, the signup lock and the row locks of
//     Postgres (advisory locks, FOR UPDATE) are therefore no-ops here.
//   - Time. SQLite has no now(): every timestamp is taken from the store's
//     clock and bound as fixed-width text (FormatTime).
//   - One process. The guarantees above hold inside one process only; two
//     processes on one data file are not supported (use Postgres for
//     replicas).
package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/mana/mana/internal/audit"
	"github.com/mana/mana/internal/auth"
	"github.com/mana/mana/internal/auth/outbox"
	"github.com/mana/mana/internal/jobs"
	"github.com/mana/mana/internal/randid"
	"github.com/mana/mana/internal/token"
)

// AuthStore implements auth.Store and token.KeyStore.
type AuthStore struct {
	db   *sql.DB
	jobs jobs.TxInserter[*sql.Tx]
	now  func() time.Time
	// keyMu serialises signing-key creation. A process mutex is enough: one
	// process owns the data file (see the package comment), and the single
	// connection would serialise the writes anyway.
	keyMu sync.Mutex
}

// NewAuthStore returns the auth store over db (from Open, migrated); it
// inserts outbox mail through inserter in the transaction that records it.
func NewAuthStore(db *sql.DB, inserter jobs.TxInserter[*sql.Tx]) *AuthStore {
	return &AuthStore{db: db, jobs: inserter, now: time.Now}
}

var (
	_ auth.Store     = (*AuthStore)(nil)
	_ token.KeyStore = (*AuthStore)(nil)
)

// InTx runs fn in one immediate transaction and commits if fn returns nil.
func (s *AuthStore) InTx(ctx context.Context, fn func(auth.Tx) error) error {
	return inTx(ctx, s.db, func(tx *sql.Tx) error { return fn(&txn{tx: tx, jobs: s.jobs, now: s.now}) })
}

// Ping runs a real query.
func (s *AuthStore) Ping(ctx context.Context) error {
	var one int
	if err := s.db.QueryRowContext(ctx, `SELECT 1`).Scan(&one); err != nil {
		return fmt.Errorf("ping database: %w", err)
	}
	return nil
}

// SessionState reads a session's owner, expiry and revocation in one
// statement (auth.Store).
func (s *AuthStore) SessionState(ctx context.Context, id string) (auth.SessionState, error) {
	var st auth.SessionState
	err := s.db.QueryRowContext(ctx, `SELECT user_id, expires_at, revoked_at FROM auth_sessions WHERE id = ?`, id).
		Scan(&st.UserID, Timestamp{T: &st.ExpiresAt}, NullTimestamp{T: &st.RevokedAt})
	if err != nil {
		return auth.SessionState{}, fmt.Errorf("session state: %w", notFound(err))
	}
	return st, nil
}

// LoadKeys reads auth_jwks, oldest first.
func (s *AuthStore) LoadKeys(ctx context.Context) ([]token.StoredKey, error) {
	return loadKeys(ctx, s.db)
}

func loadKeys(ctx context.Context, db *sql.DB) ([]token.StoredKey, error) {
	rows, err := db.QueryContext(ctx, `SELECT id, public_key, private_key, coalesce(kek_id, ''), created_at, not_before, not_after
		FROM auth_jwks ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("load jwks: %w", err)
	}
	keys, err := collect(rows, func(r *sql.Rows) (token.StoredKey, error) {
		var k token.StoredKey
		err := r.Scan(&k.ID, &k.PublicKey, &k.PrivateKey, &k.KEKID, Timestamp{T: &k.CreatedAt}, NullTimestamp{T: &k.NotBefore},
			NullTimestamp{T: &k.NotAfter})
		return k, err
	})
	if err != nil {
		return nil, fmt.Errorf("load jwks: %w", err)
	}
	return keys, nil
}

// InsertKey stores a signing key.
func (s *AuthStore) InsertKey(ctx context.Context, k token.StoredKey) error {
	var notBefore any
	if k.NotBefore != nil {
		notBefore = FormatTime(*k.NotBefore)
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO auth_jwks (id, public_key, private_key, kek_id, created_at, not_before) VALUES (?, ?, ?, ?, ?, ?)`,
		k.ID, k.PublicKey, k.PrivateKey, k.KEKID, FormatTime(s.now()), notBefore)
	if err != nil {
		return fmt.Errorf("insert jwks: %w", err)
	}
	return nil
}

// RetireKey implements token.KeyStore.
func (s *AuthStore) RetireKey(ctx context.Context, kid string, notAfter time.Time) (bool, error) {
	var ok bool
	err := inTx(ctx, s.db, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE auth_jwks SET not_after = ? WHERE id = ? AND not_after IS NULL`, FormatTime(notAfter), kid)
		if err != nil {
			return err
		}
		if ok, err = affectedOne(res, "retire signing key"); err != nil || !ok {
			return err
		}
		return (&txn{tx: tx, jobs: s.jobs, now: s.now}).InsertEvent(ctx, audit.Event{Type: audit.SigningKeyRetired,
			Metadata: map[string]any{"kid": kid, "notAfter": notAfter}})
	})
	if err != nil {
		return false, fmt.Errorf("retire signing key %s: %w", kid, err)
	}
	return ok, nil
}

// WithKeyLock runs fn holding the process's signing-key mutex (see keyMu).
func (s *AuthStore) WithKeyLock(ctx context.Context, fn func() error) error {
	s.keyMu.Lock()
	defer s.keyMu.Unlock()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("signing-key lock: %w", err)
	}
	return fn()
}

// collect scans every row with scan and reports the iteration error.
func collect[T any](rows *sql.Rows, scan func(*sql.Rows) (T, error)) ([]T, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

func scanTime(r *sql.Rows) (time.Time, error) {
	var t time.Time
	err := r.Scan(Timestamp{T: &t})
	return t, err
}

type txn struct {
	tx   *sql.Tx
	jobs jobs.TxInserter[*sql.Tx]
	now  func() time.Time
}

// stamp is the current time as stored.
func (t *txn) stamp() string { return FormatTime(t.now()) }

func notFound(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return auth.ErrNotFound
	}
	return err
}

// LockLogin is a no-op: the transaction already holds the database's only
// write lock (BEGIN IMMEDIATE), which serialises every login decision.
func (t *txn) LockLogin(context.Context, string) error { return nil }

func (t *txn) RecentFailures(ctx context.Context, email string, since time.Time, limit int) ([]time.Time, error) {
	rows, err := t.tx.QueryContext(ctx, `SELECT attempted_at FROM auth_login_attempts
		WHERE email = ? AND successful = 0 AND attempted_at > ?
		ORDER BY attempted_at DESC LIMIT ?`, email, FormatTime(since), limit)
	if err != nil {
		return nil, fmt.Errorf("read login attempts: %w", err)
	}
	times, err := collect(rows, scanTime)
	if err != nil {
		return nil, fmt.Errorf("read login attempts: %w", err)
	}
	return times, nil
}

func (t *txn) InsertFailedAttempt(ctx context.Context, email, ip string) error {
	// No id: it is the rowid, and the database assigns it (docs/compatibility.md).
	if _, err := t.tx.ExecContext(ctx, `INSERT INTO auth_login_attempts (email, ip_address, successful, attempted_at) VALUES (?, ?, 0, ?)`,
		email, Null(ip), t.stamp()); err != nil {
		return fmt.Errorf("record login attempt: %w", err)
	}
	return nil
}

func (t *txn) ClearAttempts(ctx context.Context, email string) error {
	if _, err := t.tx.ExecContext(ctx, `DELETE FROM auth_login_attempts WHERE email = ?`, email); err != nil {
		return fmt.Errorf("clear login attempts: %w", err)
	}
	return nil
}

const userColumns = `id, name, email, email_verified, image, role, access_tier, kind,
	coalesce(two_factor_enabled, 0), created_at, updated_at`

func scanUser(row *sql.Row) (auth.User, error) {
	var u auth.User
	err := row.Scan(&u.ID, &u.Name, &u.Email, &u.EmailVerified, &u.Image, &u.Role, &u.AccessTier, &u.Kind, &u.TwoFactor,
		Timestamp{T: &u.CreatedAt}, Timestamp{T: &u.UpdatedAt})
	return u, err
}

func (t *txn) UserByEmail(ctx context.Context, email string) (auth.User, error) {
	u, err := scanUser(t.tx.QueryRowContext(ctx, `SELECT `+userColumns+` FROM auth_users WHERE email = ?`, email))
	if err != nil {
		return auth.User{}, fmt.Errorf("user by email: %w", notFound(err))
	}
	return u, nil
}

func (t *txn) UserByID(ctx context.Context, id string) (auth.User, error) {
	u, err := scanUser(t.tx.QueryRowContext(ctx, `SELECT `+userColumns+` FROM auth_users WHERE id = ?`, id))
	if err != nil {
		return auth.User{}, fmt.Errorf("user by id: %w", notFound(err))
	}
	return u, nil
}

// LockUser only checks that the user exists: the transaction's write lock
// already serialises the per-user throttles.
func (t *txn) LockUser(ctx context.Context, id string) error {
	var got string
	if err := t.tx.QueryRowContext(ctx, `SELECT id FROM auth_users WHERE id = ?`, id).Scan(&got); err != nil {
		return fmt.Errorf("lock user: %w", notFound(err))
	}
	return nil
}

func (t *txn) CredentialHash(ctx context.Context, userID string) (string, error) {
	var hash *string
	err := t.tx.QueryRowContext(ctx, `SELECT password FROM auth_accounts WHERE user_id = ? AND provider_id = 'credential'
		ORDER BY created_at LIMIT 1`, userID).Scan(&hash)
	if err != nil {
		return "", fmt.Errorf("credential of user: %w", notFound(err))
	}
	if hash == nil {
		return "", nil
	}
	return *hash, nil
}

func (t *txn) UpdateCredentialHash(ctx context.Context, userID, hash string) error {
	_, err := t.tx.ExecContext(ctx, `UPDATE auth_accounts SET password = ?, updated_at = ? WHERE user_id = ? AND provider_id = 'credential'`,
		hash, t.stamp(), userID)
	if err != nil {
		return fmt.Errorf("update credential: %w", err)
	}
	return nil
}

func (t *txn) InsertUser(ctx context.Context, u auth.User, passwordHash string) error {
	created := FormatTime(u.CreatedAt)
	res, err := t.tx.ExecContext(ctx, `INSERT INTO auth_users (id, name, email, email_verified, role, access_tier, kind, two_factor_enabled, created_at, updated_at)
		VALUES (?, ?, ?, 0, 'user', 'public', 'human', 0, ?, ?) ON CONFLICT (email) DO NOTHING`, u.ID, u.Name, u.Email, created, created)
	if err != nil {
		return fmt.Errorf("insert user: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("insert user: %w", err)
	} else if n == 0 {
		return auth.ErrConflict
	}
	_, err = t.tx.ExecContext(ctx, `INSERT INTO auth_accounts (id, account_id, provider_id, user_id, password, created_at, updated_at)
		VALUES (?, ?, 'credential', ?, ?, ?, ?)`, randid.UserID(), u.ID, u.ID, passwordHash, created, created)
	if err != nil {
		return fmt.Errorf("insert credential account: %w", err)
	}
	return nil
}

func (t *txn) MarkEmailVerified(ctx context.Context, userID, email string) (bool, error) {
	var was bool
	err := t.tx.QueryRowContext(ctx, `SELECT email_verified FROM auth_users WHERE id = ? AND email = ?`, userID, email).Scan(&was)
	if err != nil {
		return false, fmt.Errorf("verify email: %w", notFound(err))
	}
	if was {
		return false, nil
	}
	if _, err := t.tx.ExecContext(ctx, `UPDATE auth_users SET email_verified = 1, updated_at = ? WHERE id = ?`, t.stamp(), userID); err != nil {
		return false, fmt.Errorf("verify email: %w", err)
	}
	return true, nil
}

func (t *txn) InsertLinkToken(ctx context.Context, l auth.LinkToken) error {
	_, err := t.tx.ExecContext(ctx, `INSERT INTO auth_link_tokens (token_hash, purpose, user_id, email, reason, created_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, l.Hash, l.Purpose, l.UserID, l.Email, l.Reason, t.stamp(), FormatTime(l.ExpiresAt))
	if err != nil {
		return fmt.Errorf("insert link token: %w", err)
	}
	return nil
}

func (t *txn) UseLinkToken(ctx context.Context, hash []byte, purpose string) (auth.LinkToken, error) {
	l := auth.LinkToken{Hash: hash, Purpose: purpose}
	err := t.tx.QueryRowContext(ctx, `UPDATE auth_link_tokens SET used_at = ?
		WHERE token_hash = ? AND purpose = ? AND used_at IS NULL
		RETURNING user_id, email, reason, expires_at, used_at`, t.stamp(), hash, purpose).
		Scan(&l.UserID, &l.Email, &l.Reason, Timestamp{T: &l.ExpiresAt}, NullTimestamp{T: &l.UsedAt})
	if err != nil {
		return auth.LinkToken{}, fmt.Errorf("use link token: %w", notFound(err))
	}
	return l, nil
}

func (t *txn) LinkTokensSince(ctx context.Context, userID, purpose, reason string, since time.Time) ([]time.Time, error) {
	rows, err := t.tx.QueryContext(ctx, `SELECT created_at FROM auth_link_tokens
		WHERE user_id = ? AND purpose = ? AND reason = ? AND created_at > ? ORDER BY created_at DESC`,
		userID, purpose, reason, FormatTime(since))
	if err != nil {
		return nil, fmt.Errorf("read link tokens: %w", err)
	}
	times, err := collect(rows, scanTime)
	if err != nil {
		return nil, fmt.Errorf("read link tokens: %w", err)
	}
	return times, nil
}

func (t *txn) InsertSession(ctx context.Context, s auth.Session) error {
	created := FormatTime(s.CreatedAt)
	_, err := t.tx.ExecContext(ctx, `INSERT INTO auth_sessions (id, expires_at, token, created_at, updated_at, ip_address, user_agent, user_id, last_activity_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, s.ID, FormatTime(s.ExpiresAt), s.Token, created, created, Null(s.IP), Null(s.UserAgent), s.UserID, created)
	if err != nil {
		return fmt.Errorf("insert session: %w", err)
	}
	return nil
}

func (t *txn) SessionByID(ctx context.Context, id string) (auth.Session, error) {
	var s auth.Session
	err := t.tx.QueryRowContext(ctx, `SELECT id, token, user_id, expires_at, created_at, updated_at,
			coalesce(ip_address, ''), coalesce(user_agent, ''), revoked_at, last_activity_at
		FROM auth_sessions WHERE id = ?`, id).Scan(&s.ID, &s.Token, &s.UserID, Timestamp{T: &s.ExpiresAt},
		Timestamp{T: &s.CreatedAt}, Timestamp{T: &s.UpdatedAt}, &s.IP, &s.UserAgent,
		NullTimestamp{T: &s.RevokedAt}, NullTimestamp{T: &s.LastActive})
	if err != nil {
		return auth.Session{}, fmt.Errorf("session by id: %w", notFound(err))
	}
	return s, nil
}

func (t *txn) RevokeSession(ctx context.Context, id string) (bool, error) {
	now := t.stamp()
	// The expiry ends too, as on PostgreSQL (fixed-width times compare as text).
	res, err := t.tx.ExecContext(ctx, `UPDATE auth_sessions SET revoked_at = ?1, updated_at = ?1, expires_at = min(expires_at, ?1)
		WHERE id = ?2 AND revoked_at IS NULL`, now, id)
	if err != nil {
		return false, fmt.Errorf("revoke session: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("revoke session: %w", err)
	}
	return n == 1, nil
}

func (t *txn) InsertRefreshToken(ctx context.Context, hash []byte, sessionID string, expires time.Time) error {
	if _, err := t.tx.ExecContext(ctx, `INSERT INTO auth_refresh_tokens (token_hash, session_id, created_at, expires_at) VALUES (?, ?, ?, ?)`,
		hash, sessionID, t.stamp(), FormatTime(expires)); err != nil {
		return fmt.Errorf("insert refresh token: %w", err)
	}
	return nil
}

// RefreshTokenForUpdate needs no row lock: the transaction's write lock
// already keeps a concurrent rotation of the same token out.
func (t *txn) RefreshTokenForUpdate(ctx context.Context, hash []byte) (auth.RefreshRow, error) {
	var r auth.RefreshRow
	err := t.tx.QueryRowContext(ctx, `SELECT rt.session_id, s.user_id, rt.rotated_at, rt.expires_at, s.revoked_at, s.expires_at, s.created_at
		FROM auth_refresh_tokens rt JOIN auth_sessions s ON s.id = rt.session_id
		WHERE rt.token_hash = ?`, hash).Scan(&r.SessionID, &r.UserID, NullTimestamp{T: &r.RotatedAt},
		Timestamp{T: &r.ExpiresAt}, NullTimestamp{T: &r.SessionRevokedAt}, Timestamp{T: &r.SessionExpiresAt}, Timestamp{T: &r.SessionCreatedAt})
	if err != nil {
		return auth.RefreshRow{}, fmt.Errorf("refresh token: %w", notFound(err))
	}
	return r, nil
}

// RotateRefresh runs its steps one after the other: SQLite has no round
// trips to save.
func (t *txn) RotateRefresh(ctx context.Context, old, next []byte, sessionID string, expires time.Time, userID string) (auth.User, error) {
	now := t.stamp()
	if _, err := t.tx.ExecContext(ctx, `UPDATE auth_refresh_tokens SET rotated_at = ? WHERE token_hash = ?`, now, old); err != nil {
		return auth.User{}, fmt.Errorf("rotate refresh token: %w", err)
	}
	if err := t.InsertRefreshToken(ctx, next, sessionID, expires); err != nil {
		return auth.User{}, err
	}
	if _, err := t.tx.ExecContext(ctx, `UPDATE auth_sessions SET last_activity_at = ?, updated_at = ? WHERE id = ?`, now, now, sessionID); err != nil {
		return auth.User{}, fmt.Errorf("touch session: %w", err)
	}
	return t.UserByID(ctx, userID)
}

// summaryColumns are an account's summary for the user ?1 at the time ?2.
const summaryColumns = `(SELECT count(*) FROM auth_sessions WHERE user_id = ?1 AND revoked_at IS NULL AND expires_at > ?2),
		(SELECT count(*) FROM auth_accounts WHERE user_id = ?1),
		coalesce((SELECT max(enabled) FROM auth_two_factor_auth WHERE user_id = ?1), 0),
		(SELECT max(last_activity_at) FROM auth_sessions WHERE user_id = ?1)`

func (t *txn) AccountSummary(ctx context.Context, userID string) (auth.AccountSummary, error) {
	var a auth.AccountSummary
	err := t.tx.QueryRowContext(ctx, `SELECT `+summaryColumns, userID, t.stamp()).
		Scan(&a.SessionsCount, &a.AccountsCount, &a.Has2FA, NullTimestamp{T: &a.LastLoginAt})
	if err != nil {
		return auth.AccountSummary{}, fmt.Errorf("account summary: %w", err)
	}
	return a, nil
}

// AccountData reads the user and the summary in one statement (auth.Store).
func (s *AuthStore) AccountData(ctx context.Context, userID string) (auth.User, auth.AccountSummary, error) {
	var u auth.User
	var a auth.AccountSummary
	err := s.db.QueryRowContext(ctx, `SELECT `+userColumns+`, `+summaryColumns+` FROM auth_users WHERE id = ?1`, userID, FormatTime(s.now())).
		Scan(&u.ID, &u.Name, &u.Email, &u.EmailVerified, &u.Image, &u.Role, &u.AccessTier, &u.Kind, &u.TwoFactor,
			Timestamp{T: &u.CreatedAt}, Timestamp{T: &u.UpdatedAt},
			&a.SessionsCount, &a.AccountsCount, &a.Has2FA, NullTimestamp{T: &a.LastLoginAt})
	if err != nil {
		return auth.User{}, auth.AccountSummary{}, fmt.Errorf("account data: %w", notFound(err))
	}
	return u, a, nil
}

func (t *txn) InsertEvent(ctx context.Context, e audit.Event) error {
	return insertEvent(ctx, t.tx, t.now(), e)
}

func insertEvent(ctx context.Context, tx *sql.Tx, now time.Time, e audit.Event) error {
	meta := e.Metadata
	if meta == nil {
		meta = map[string]any{}
	}
	b, err := json.Marshal(meta)
	if err != nil {
		return fmt.Errorf("encode %s event metadata: %w", e.Type, err)
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO auth_security_events (id, user_id, event_type, ip_address, user_agent, metadata, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, NewUUID(), Null(e.UserID), e.Type, Null(e.IP), Null(e.UserAgent), string(b), FormatTime(now))
	if err != nil {
		return fmt.Errorf("write %s security event: %w", e.Type, err)
	}
	return nil
}

func (t *txn) EnqueueMail(ctx context.Context, m auth.Mail) error {
	return jobs.Insert(ctx, t.jobs, t.tx, outbox.Job(m), "mail")
}

// EnqueueNotifyErasure records the erasure of a deleted user's notify rows.
func (t *txn) EnqueueNotifyErasure(ctx context.Context, userID, email string) error {
	return jobs.Insert(ctx, t.jobs, t.tx, outbox.EraseJob(userID, email), "notify erasure")
}

// EnqueueRequest records an account request for the worker, in tx.
func (t *txn) EnqueueRequest(ctx context.Context, r auth.AccountRequest) error {
	return jobs.Insert(ctx, t.jobs, t.tx, outbox.RequestJob(r), "account request")
}
