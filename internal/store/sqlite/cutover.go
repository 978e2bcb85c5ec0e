package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/mana/mana/internal/audit"
	"github.com/mana/mana/internal/auth"
	"github.com/mana/mana/internal/cutover"
)

func (t *txn) RollbackWindow(ctx context.Context) (bool, error) { return rollbackWindow(ctx, t.tx) }

func (t *txn) LegacyCredentialsRemain(ctx context.Context) (bool, error) {
	var remain bool
	err := t.tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM auth_accounts WHERE password IS NOT NULL AND password NOT LIKE '$argon2id$%')`).Scan(&remain)
	if err != nil {
		return false, fmt.Errorf("look for legacy credentials: %w", err)
	}
	return remain, nil
}

// rollbackWindow reads the cut-over state; a missing row is an error (the
// migration writes it), never a guess.
func rollbackWindow(ctx context.Context, tx *sql.Tx) (bool, error) {
	var state string
	if err := tx.QueryRowContext(ctx, `SELECT state FROM auth_mana_cutover WHERE id = 1`).Scan(&state); err != nil {
		return false, fmt.Errorf("read the cut-over state: %w", err)
	}
	return state == "window", nil
}

func (t *txn) SessionByToken(ctx context.Context, forms ...string) (auth.Session, error) {
	if len(forms) == 0 {
		return auth.Session{}, auth.ErrNotFound
	}
	args := make([]any, len(forms))
	for i, f := range forms {
		args[i] = f
	}
	var s auth.Session
	err := t.tx.QueryRowContext(ctx, `SELECT id, token, user_id, expires_at, created_at, updated_at,
			coalesce(ip_address, ''), coalesce(user_agent, ''), revoked_at, last_activity_at, coalesce(device_name, ''),
			coalesce(device_id, '')
		FROM auth_sessions WHERE token IN (?`+strings.Repeat(", ?", len(forms)-1)+`) LIMIT 1`, args...).Scan(
		&s.ID, &s.Token, &s.UserID, Timestamp{T: &s.ExpiresAt}, Timestamp{T: &s.CreatedAt}, Timestamp{T: &s.UpdatedAt},
		&s.IP, &s.UserAgent, NullTimestamp{T: &s.RevokedAt}, NullTimestamp{T: &s.LastActive}, &s.DeviceName, &s.DeviceID)
	if err != nil {
		return auth.Session{}, fmt.Errorf("session by token: %w", notFound(err))
	}
	return s, nil
}

func (t *txn) ExtendSession(ctx context.Context, id string, expires time.Time) error {
	now := t.stamp()
	if _, err := t.tx.ExecContext(ctx, `UPDATE auth_sessions SET expires_at = ?, updated_at = ?, last_activity_at = ?
		WHERE id = ? AND revoked_at IS NULL`, FormatTime(expires), now, now, id); err != nil {
		return fmt.Errorf("extend session: %w", err)
	}
	return nil
}

func (t *txn) ClaimRefreshToken(ctx context.Context, hash []byte, sessionID string, expires time.Time) (bool, error) {
	now := t.stamp()
	res, err := t.tx.ExecContext(ctx, `INSERT INTO auth_refresh_tokens (token_hash, session_id, created_at, expires_at, rotated_at)
		VALUES (?, ?, ?, ?, ?) ON CONFLICT (token_hash) DO NOTHING`, hash, sessionID, now, FormatTime(expires), now)
	if err != nil {
		return false, fmt.Errorf("claim refresh token: %w", err)
	}
	return affectedOne(res, "claim refresh token")
}

func (t *txn) ClaimLinkToken(ctx context.Context, l auth.LinkToken) (bool, error) {
	now := t.stamp()
	res, err := t.tx.ExecContext(ctx, `INSERT INTO auth_link_tokens (token_hash, purpose, user_id, email, reason, created_at, expires_at, used_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (token_hash) DO NOTHING`,
		l.Hash, l.Purpose, l.UserID, l.Email, l.Reason, now, FormatTime(l.ExpiresAt), now)
	if err != nil {
		return false, fmt.Errorf("claim link token: %w", err)
	}
	return affectedOne(res, "claim link token")
}

func (t *txn) Verification(ctx context.Context, identifier string) (string, time.Time, error) {
	var value string
	var expires time.Time
	err := t.tx.QueryRowContext(ctx, `SELECT value, expires_at FROM auth_verification WHERE identifier = ?
		ORDER BY created_at DESC LIMIT 1`, identifier).Scan(&value, Timestamp{T: &expires})
	if err != nil {
		return "", time.Time{}, fmt.Errorf("read verification: %w", notFound(err))
	}
	return value, expires, nil
}

func (t *txn) DeleteVerification(ctx context.Context, identifier string) (bool, error) {
	res, err := t.tx.ExecContext(ctx, `DELETE FROM auth_verification WHERE identifier = ?`, identifier)
	if err != nil {
		return false, fmt.Errorf("delete verification: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("delete verification: %w", err)
	}
	return n > 0, nil
}

// ---- the rollback window's status and finalization (cutover.Store) -----------

// legacyHash matches Better Auth's scrypt hashes ("salthex:keyhex"; SQLite
// has no regular expressions: the shape, then hex digits only).
const legacyHash = `length(password) = 161 AND instr(password, ':') = 33
	AND replace(password, ':', '') NOT GLOB '*[^0-9a-f]*'`

// Counts implements cutover.Store.
func (s *AuthStore) Counts(ctx context.Context) (cutover.Counts, error) {
	var c cutover.Counts
	now := FormatTime(s.now())
	err := s.db.QueryRowContext(ctx, `SELECT state, entered_at, finalized_at,
		(SELECT count(*) FROM auth_accounts WHERE provider_id = 'credential' AND `+legacyHash+`),
		(SELECT count(*) FROM auth_accounts WHERE provider_id = 'credential' AND password LIKE '$argon2id$%'),
		(SELECT count(*) FROM auth_accounts WHERE provider_id = 'credential' AND password LIKE '$scrypt-argon2id$%'),
		(SELECT count(*) FROM auth_sessions WHERE revoked_at IS NULL AND expires_at > ?1 AND token NOT LIKE 'sha256:%'),
		(SELECT count(*) FROM auth_sessions WHERE revoked_at IS NULL AND expires_at > ?1 AND token LIKE 'sha256:%')
		FROM auth_mana_cutover WHERE id = 1`, now).Scan(&c.State, Timestamp{T: &c.EnteredAt}, NullTimestamp{T: &c.FinalizedAt},
		&c.PasswordsScrypt, &c.PasswordsArgon2, &c.PasswordsWrapped, &c.SessionTokensClear, &c.SessionTokensHashed)
	if err != nil {
		return cutover.Counts{}, fmt.Errorf("cut-over counts: %w", err)
	}
	return c, nil
}

// EndWindow implements cutover.Store.
func (s *AuthStore) EndWindow(ctx context.Context, meta map[string]any) (bool, error) {
	changed := false
	err := inTx(ctx, s.db, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE auth_mana_cutover SET state = 'finalized', finalized_at = ? WHERE id = 1 AND state = 'window'`,
			FormatTime(s.now()))
		if err != nil {
			return fmt.Errorf("end the rollback window: %w", err)
		}
		if changed, err = affectedOne(res, "end the rollback window"); err != nil || !changed {
			return err
		}
		return (&txn{tx: tx, jobs: s.jobs, now: s.now}).InsertEvent(ctx, audit.Event{Type: audit.CutoverFinalized, Metadata: meta})
	})
	return changed, err
}

// LegacyCredentials implements cutover.Store.
func (s *AuthStore) LegacyCredentials(ctx context.Context, after string, limit int) ([]cutover.Credential, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT user_id, password FROM auth_accounts
		WHERE provider_id = 'credential' AND `+legacyHash+` AND user_id > ? ORDER BY user_id LIMIT ?`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("read scrypt passwords: %w", err)
	}
	out, err := collect(rows, func(r *sql.Rows) (cutover.Credential, error) {
		var c cutover.Credential
		return c, r.Scan(&c.UserID, &c.Hash)
	})
	if err != nil {
		return nil, fmt.Errorf("read scrypt passwords: %w", err)
	}
	return out, nil
}

// ReplaceCredential implements cutover.Store.
func (s *AuthStore) ReplaceCredential(ctx context.Context, userID, old, next string) (bool, error) {
	var ok bool
	err := inTx(ctx, s.db, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE auth_accounts SET password = ?, updated_at = ?
			WHERE user_id = ? AND provider_id = 'credential' AND password = ?`, next, FormatTime(s.now()), userID, old)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		ok = n > 0
		return err
	})
	if err != nil {
		return false, fmt.Errorf("replace the password of user %s: %w", userID, err)
	}
	return ok, nil
}

// HashSessionTokens implements cutover.Store.
func (s *AuthStore) HashSessionTokens(ctx context.Context, hash func(string) string, limit int) (int, error) {
	n := 0
	err := inTx(ctx, s.db, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT id, token FROM auth_sessions WHERE token NOT LIKE 'sha256:%' LIMIT ?`, limit)
		if err != nil {
			return err
		}
		type row struct{ id, token string }
		list, err := collect(rows, func(r *sql.Rows) (row, error) {
			var x row
			return x, r.Scan(&x.id, &x.token)
		})
		if err != nil {
			return err
		}
		for _, x := range list {
			if _, err := tx.ExecContext(ctx, `UPDATE auth_sessions SET token = ? WHERE id = ?`, hash(x.token), x.id); err != nil {
				return err
			}
		}
		n = len(list)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("hash session tokens: %w", err)
	}
	return n, nil
}
