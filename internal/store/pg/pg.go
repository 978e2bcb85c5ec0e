// Package pg is the PostgreSQL persistence of both services: the auth store,
// the vault store, the notify store and the migrations, in plain SQL over
// pgx, one transaction per unit of work, every write through the one
// transaction helper inTx.
package pg

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mana/mana/internal/audit"
	"github.com/mana/mana/internal/auth"
	"github.com/mana/mana/internal/auth/outbox"
	"github.com/mana/mana/internal/jobs"
	"github.com/mana/mana/internal/randid"
	"github.com/mana/mana/internal/token"
)

// AuthStore implements auth.Store and token.KeyStore.
type AuthStore struct {
	pool *pgxpool.Pool
	jobs jobs.TxInserter[pgx.Tx]
}

// NewAuthStore returns the auth store over pool; it inserts outbox mail
// through inserter in the transaction that records it.
func NewAuthStore(pool *pgxpool.Pool, inserter jobs.TxInserter[pgx.Tx]) *AuthStore {
	return &AuthStore{pool: pool, jobs: inserter}
}

var (
	_ auth.Store     = (*AuthStore)(nil)
	_ token.KeyStore = (*AuthStore)(nil)
)

// InTx runs fn in one READ COMMITTED transaction and commits if fn returns nil.
func (s *AuthStore) InTx(ctx context.Context, fn func(auth.Tx) error) error {
	return inTx(ctx, s.pool, func(tx pgx.Tx) error { return fn(&txn{tx: tx, jobs: s.jobs}) })
}

// Ping runs a real query.
func (s *AuthStore) Ping(ctx context.Context) error {
	var one int
	if err := s.pool.QueryRow(ctx, `SELECT 1`).Scan(&one); err != nil {
		return fmt.Errorf("ping database: %w", err)
	}
	return nil
}

// SessionState reads a session's owner, expiry and revocation in one
// statement (auth.Store).
func (s *AuthStore) SessionState(ctx context.Context, id string) (auth.SessionState, error) {
	var st auth.SessionState
	err := s.pool.QueryRow(ctx, `SELECT user_id, expires_at, revoked_at FROM auth.sessions WHERE id = $1`, id).
		Scan(&st.UserID, &st.ExpiresAt, &st.RevokedAt)
	if err != nil {
		return auth.SessionState{}, fmt.Errorf("session state: %w", notFound(err))
	}
	return st, nil
}

// LoadKeys reads auth.jwks, oldest first.
func (s *AuthStore) LoadKeys(ctx context.Context) ([]token.StoredKey, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, public_key, private_key, coalesce(kek_id, ''), created_at, not_before, not_after
		FROM auth.jwks ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("load jwks: %w", err)
	}
	keys, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (token.StoredKey, error) {
		var k token.StoredKey
		err := r.Scan(&k.ID, &k.PublicKey, &k.PrivateKey, &k.KEKID, &k.CreatedAt, &k.NotBefore, &k.NotAfter)
		return k, err
	})
	if err != nil {
		return nil, fmt.Errorf("load jwks: %w", err)
	}
	return keys, nil
}

// InsertKey stores a signing key.
func (s *AuthStore) InsertKey(ctx context.Context, k token.StoredKey) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO auth.jwks (id, public_key, private_key, kek_id, not_before) VALUES ($1, $2, $3, NULLIF($4, ''), $5)`,
		k.ID, k.PublicKey, k.PrivateKey, k.KEKID, k.NotBefore)
	if err != nil {
		return fmt.Errorf("insert jwks: %w", err)
	}
	return nil
}

// RetireKey implements token.KeyStore.
func (s *AuthStore) RetireKey(ctx context.Context, kid string, notAfter time.Time) (bool, error) {
	var ok bool
	err := inTx(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE auth.jwks SET not_after = $2 WHERE id = $1 AND not_after IS NULL`, kid, notAfter)
		if err != nil {
			return err
		}
		if ok = tag.RowsAffected() == 1; !ok {
			return nil
		}
		return (&txn{tx: tx}).InsertEvent(ctx, audit.Event{Type: audit.SigningKeyRetired, Metadata: map[string]any{"kid": kid, "notAfter": notAfter}})
	})
	if err != nil {
		return false, fmt.Errorf("retire signing key %s: %w", kid, err)
	}
	return ok, nil
}

// keyLockKey is an arbitrary constant: the advisory lock guarding signing-key creation.
const keyLockKey int64 = 0x6d616e615f6a776b // "mana_jwk"

// WithKeyLock runs fn holding a session advisory lock on one connection.
func (s *AuthStore) WithKeyLock(ctx context.Context, fn func() error) (err error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("signing-key lock: connect: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, keyLockKey); err != nil {
		return fmt.Errorf("signing-key lock: %w", err)
	}
	defer func() {
		if _, unlockErr := conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, keyLockKey); unlockErr != nil {
			conn.Conn().Close(context.WithoutCancel(ctx)) //nolint:errcheck // closing releases the lock; the unlock error is reported
			err = errors.Join(err, fmt.Errorf("signing-key unlock: %w", unlockErr))
		}
	}()
	return fn()
}

type txn struct {
	tx   pgx.Tx
	jobs jobs.TxInserter[pgx.Tx]
}

// null binds "" as SQL NULL: every parameter slot gets a value, so an absent
// field never costs the row (docs/compatibility.md).
func null(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func notFound(err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return auth.ErrNotFound
	}
	return err
}

func (t *txn) LockLogin(ctx context.Context, email string) error {
	if _, err := t.tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('mana.login:' || $1, 0))`, email); err != nil {
		return fmt.Errorf("lock login of %q: %w", email, err)
	}
	return nil
}

func (t *txn) RecentFailures(ctx context.Context, email string, since time.Time, limit int) ([]time.Time, error) {
	rows, err := t.tx.Query(ctx, `SELECT attempted_at FROM auth.login_attempts
		WHERE email = $1 AND successful = false AND attempted_at > $2
		ORDER BY attempted_at DESC LIMIT $3`, email, since, limit)
	if err != nil {
		return nil, fmt.Errorf("read login attempts: %w", err)
	}
	times, err := pgx.CollectRows(rows, pgx.RowTo[time.Time])
	if err != nil {
		return nil, fmt.Errorf("read login attempts: %w", err)
	}
	return times, nil
}

func (t *txn) InsertFailedAttempt(ctx context.Context, email, ip string) error {
	// No id: it is a serial, and the database assigns it (docs/compatibility.md).
	if _, err := t.tx.Exec(ctx, `INSERT INTO auth.login_attempts (email, ip_address, successful) VALUES ($1, $2, false)`, email, null(ip)); err != nil {
		return fmt.Errorf("record login attempt: %w", err)
	}
	return nil
}

func (t *txn) ClearAttempts(ctx context.Context, email string) error {
	if _, err := t.tx.Exec(ctx, `DELETE FROM auth.login_attempts WHERE email = $1`, email); err != nil {
		return fmt.Errorf("clear login attempts: %w", err)
	}
	return nil
}

const userColumns = `id, name, email, email_verified, image, role::text, access_tier::text, kind::text,
	coalesce(two_factor_enabled, false), created_at, updated_at`

func scanUser(row pgx.Row) (auth.User, error) {
	var u auth.User
	err := row.Scan(&u.ID, &u.Name, &u.Email, &u.EmailVerified, &u.Image, &u.Role, &u.AccessTier, &u.Kind, &u.TwoFactor, &u.CreatedAt, &u.UpdatedAt)
	return u, err
}

func (t *txn) UserByEmail(ctx context.Context, email string) (auth.User, error) {
	u, err := scanUser(t.tx.QueryRow(ctx, `SELECT `+userColumns+` FROM auth.users WHERE email = $1`, email))
	if err != nil {
		return auth.User{}, fmt.Errorf("user by email: %w", notFound(err))
	}
	return u, nil
}

func (t *txn) UserByID(ctx context.Context, id string) (auth.User, error) {
	u, err := scanUser(t.tx.QueryRow(ctx, `SELECT `+userColumns+` FROM auth.users WHERE id = $1`, id))
	if err != nil {
		return auth.User{}, fmt.Errorf("user by id: %w", notFound(err))
	}
	return u, nil
}

func (t *txn) LockUser(ctx context.Context, id string) error {
	var got string
	if err := t.tx.QueryRow(ctx, `SELECT id FROM auth.users WHERE id = $1 FOR UPDATE`, id).Scan(&got); err != nil {
		return fmt.Errorf("lock user: %w", notFound(err))
	}
	return nil
}

func (t *txn) CredentialHash(ctx context.Context, userID string) (string, error) {
	var hash *string
	err := t.tx.QueryRow(ctx, `SELECT password FROM auth.accounts WHERE user_id = $1 AND provider_id = 'credential'
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
	_, err := t.tx.Exec(ctx, `UPDATE auth.accounts SET password = $2, updated_at = now() WHERE user_id = $1 AND provider_id = 'credential'`, userID, hash)
	if err != nil {
		return fmt.Errorf("update credential: %w", err)
	}
	return nil
}

func (t *txn) InsertUser(ctx context.Context, u auth.User, passwordHash string) error {
	tag, err := t.tx.Exec(ctx, `INSERT INTO auth.users (id, name, email, email_verified, role, access_tier, kind, two_factor_enabled, created_at, updated_at)
		VALUES ($1, $2, $3, false, 'user', 'public', 'human', false, $4, $4) ON CONFLICT (email) DO NOTHING`, u.ID, u.Name, u.Email, u.CreatedAt)
	if err != nil {
		return fmt.Errorf("insert user: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return auth.ErrConflict
	}
	_, err = t.tx.Exec(ctx, `INSERT INTO auth.accounts (id, account_id, provider_id, user_id, password, created_at, updated_at)
		VALUES ($1, $2, 'credential', $2, $3, $4, $4)`, randid.UserID(), u.ID, passwordHash, u.CreatedAt)
	if err != nil {
		return fmt.Errorf("insert credential account: %w", err)
	}
	return nil
}

func (t *txn) MarkEmailVerified(ctx context.Context, userID, email string) (bool, error) {
	var was bool
	err := t.tx.QueryRow(ctx, `SELECT email_verified FROM auth.users WHERE id = $1 AND email = $2 FOR UPDATE`, userID, email).Scan(&was)
	if err != nil {
		return false, fmt.Errorf("verify email: %w", notFound(err))
	}
	if was {
		return false, nil
	}
	if _, err := t.tx.Exec(ctx, `UPDATE auth.users SET email_verified = true, updated_at = now() WHERE id = $1`, userID); err != nil {
		return false, fmt.Errorf("verify email: %w", err)
	}
	return true, nil
}

func (t *txn) InsertLinkToken(ctx context.Context, l auth.LinkToken) error {
	_, err := t.tx.Exec(ctx, `INSERT INTO auth.link_tokens (token_hash, purpose, user_id, email, reason, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6)`, l.Hash, l.Purpose, l.UserID, l.Email, l.Reason, l.ExpiresAt)
	if err != nil {
		return fmt.Errorf("insert link token: %w", err)
	}
	return nil
}

func (t *txn) UseLinkToken(ctx context.Context, hash []byte, purpose string) (auth.LinkToken, error) {
	l := auth.LinkToken{Hash: hash, Purpose: purpose}
	err := t.tx.QueryRow(ctx, `UPDATE auth.link_tokens SET used_at = now()
		WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL
		RETURNING user_id, email, reason, expires_at, used_at`, hash, purpose).Scan(&l.UserID, &l.Email, &l.Reason, &l.ExpiresAt, &l.UsedAt)
	if err != nil {
		return auth.LinkToken{}, fmt.Errorf("use link token: %w", notFound(err))
	}
	return l, nil
}

func (t *txn) LinkTokensSince(ctx context.Context, userID, purpose, reason string, since time.Time) ([]time.Time, error) {
	rows, err := t.tx.Query(ctx, `SELECT created_at FROM auth.link_tokens
		WHERE user_id = $1 AND purpose = $2 AND reason = $3 AND created_at > $4 ORDER BY created_at DESC`, userID, purpose, reason, since)
	if err != nil {
		return nil, fmt.Errorf("read link tokens: %w", err)
	}
	times, err := pgx.CollectRows(rows, pgx.RowTo[time.Time])
	if err != nil {
		return nil, fmt.Errorf("read link tokens: %w", err)
	}
	return times, nil
}

func (t *txn) InsertSession(ctx context.Context, s auth.Session) error {
	_, err := t.tx.Exec(ctx, `INSERT INTO auth.sessions (id, expires_at, token, created_at, updated_at, ip_address, user_agent, user_id, last_activity_at)
		VALUES ($1, $2, $3, $4, $4, $5, $6, $7, $4)`, s.ID, s.ExpiresAt, s.Token, s.CreatedAt, null(s.IP), null(s.UserAgent), s.UserID)
	if err != nil {
		return fmt.Errorf("insert session: %w", err)
	}
	return nil
}

func (t *txn) SessionByID(ctx context.Context, id string) (auth.Session, error) {
	var s auth.Session
	var ip, ua *string
	err := t.tx.QueryRow(ctx, `SELECT id, token, user_id, expires_at, created_at, updated_at, ip_address, user_agent, revoked_at, last_activity_at
		FROM auth.sessions WHERE id = $1`, id).Scan(&s.ID, &s.Token, &s.UserID, &s.ExpiresAt, &s.CreatedAt, &s.UpdatedAt, &ip, &ua, &s.RevokedAt, &s.LastActive)
	if err != nil {
		return auth.Session{}, fmt.Errorf("session by id: %w", notFound(err))
	}
	if ip != nil {
		s.IP = *ip
	}
	if ua != nil {
		s.UserAgent = *ua
	}
	return s, nil
}

func (t *txn) RevokeSession(ctx context.Context, id string) (bool, error) {
	// The expiry ends too: the old service knows no revoked_at (rollback window).
	tag, err := t.tx.Exec(ctx, `UPDATE auth.sessions SET revoked_at = now(), updated_at = now(), expires_at = LEAST(expires_at, now())
		WHERE id = $1 AND revoked_at IS NULL`, id)
	if err != nil {
		return false, fmt.Errorf("revoke session: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

func (t *txn) InsertRefreshToken(ctx context.Context, hash []byte, sessionID string, expires time.Time) error {
	if _, err := t.tx.Exec(ctx, `INSERT INTO auth.refresh_tokens (token_hash, session_id, expires_at) VALUES ($1, $2, $3)`, hash, sessionID, expires); err != nil {
		return fmt.Errorf("insert refresh token: %w", err)
	}
	return nil
}

func (t *txn) RefreshTokenForUpdate(ctx context.Context, hash []byte) (auth.RefreshRow, error) {
	var r auth.RefreshRow
	err := t.tx.QueryRow(ctx, `SELECT rt.session_id, s.user_id, rt.rotated_at, rt.expires_at, s.revoked_at, s.expires_at, s.created_at
		FROM auth.refresh_tokens rt JOIN auth.sessions s ON s.id = rt.session_id
		WHERE rt.token_hash = $1 FOR UPDATE OF rt, s`, hash).Scan(&r.SessionID, &r.UserID, &r.RotatedAt, &r.ExpiresAt, &r.SessionRevokedAt,
		&r.SessionExpiresAt, &r.SessionCreatedAt)
	if err != nil {
		return auth.RefreshRow{}, fmt.Errorf("refresh token: %w", notFound(err))
	}
	return r, nil
}

// RotateRefresh is one statement: the data-modifying parts of a WITH run
// to completion whether or not the query reads them.
func (t *txn) RotateRefresh(ctx context.Context, old, next []byte, sessionID string, expires time.Time, userID string) (auth.User, error) {
	u, err := scanUser(t.tx.QueryRow(ctx, `WITH rotated AS (
			UPDATE auth.refresh_tokens SET rotated_at = now() WHERE token_hash = $1
		), issued AS (
			INSERT INTO auth.refresh_tokens (token_hash, session_id, expires_at) VALUES ($2, $3, $4)
		), touched AS (
			UPDATE auth.sessions SET last_activity_at = now(), updated_at = now() WHERE id = $3
		)
		SELECT `+userColumns+` FROM auth.users WHERE id = $5`, old, next, sessionID, expires, userID))
	if err != nil {
		return auth.User{}, fmt.Errorf("rotate refresh token: %w", notFound(err))
	}
	return u, nil
}

// summaryColumns are an account's summary for the user of $1. (Reading the
// sessions once for both figures, in a subquery in FROM, touched half the
// buffers but cost a third more PostgreSQL CPU per /me/data in the
// benchmark, so each figure keeps its own scalar subquery.)
const summaryColumns = `(SELECT count(*) FROM auth.sessions WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > now()),
		(SELECT count(*) FROM auth.accounts WHERE user_id = $1),
		coalesce((SELECT bool_or(enabled) FROM auth.two_factor_auth WHERE user_id = $1), false),
		(SELECT max(last_activity_at) FROM auth.sessions WHERE user_id = $1)`

func (t *txn) AccountSummary(ctx context.Context, userID string) (auth.AccountSummary, error) {
	var a auth.AccountSummary
	err := t.tx.QueryRow(ctx, `SELECT `+summaryColumns, userID).Scan(&a.SessionsCount, &a.AccountsCount, &a.Has2FA, &a.LastLoginAt)
	if err != nil {
		return auth.AccountSummary{}, fmt.Errorf("account summary: %w", err)
	}
	return a, nil
}

// AccountData reads the user and the summary in one statement (auth.Store).
func (s *AuthStore) AccountData(ctx context.Context, userID string) (auth.User, auth.AccountSummary, error) {
	var u auth.User
	var a auth.AccountSummary
	err := s.pool.QueryRow(ctx, `SELECT `+userColumns+`, `+summaryColumns+` FROM auth.users WHERE id = $1`, userID).
		Scan(&u.ID, &u.Name, &u.Email, &u.EmailVerified, &u.Image, &u.Role, &u.AccessTier, &u.Kind, &u.TwoFactor, &u.CreatedAt, &u.UpdatedAt,
			&a.SessionsCount, &a.AccountsCount, &a.Has2FA, &a.LastLoginAt)
	if err != nil {
		return auth.User{}, auth.AccountSummary{}, fmt.Errorf("account data: %w", notFound(err))
	}
	return u, a, nil
}

func (t *txn) InsertEvent(ctx context.Context, e audit.Event) error {
	meta := e.Metadata
	if meta == nil {
		meta = map[string]any{}
	}
	b, err := json.Marshal(meta)
	if err != nil {
		return fmt.Errorf("encode %s event metadata: %w", e.Type, err)
	}
	_, err = t.tx.Exec(ctx, `INSERT INTO auth.security_events (user_id, event_type, ip_address, user_agent, metadata)
		VALUES ($1, $2, $3, $4, $5)`, null(e.UserID), e.Type, null(e.IP), null(e.UserAgent), b)
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
