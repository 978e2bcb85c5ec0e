package pg

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/mana/mana/internal/audit"
	"github.com/mana/mana/internal/auth"
	"github.com/mana/mana/internal/cutover"
)

func (t *txn) RollbackWindow(ctx context.Context) (bool, error) { return rollbackWindow(ctx, t.tx) }

func (t *txn) LegacyCredentialsRemain(ctx context.Context) (bool, error) {
	var remain bool
	err := t.tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM auth.accounts WHERE password IS NOT NULL AND password NOT LIKE '$argon2id$%')`).Scan(&remain)
	if err != nil {
		return false, fmt.Errorf("look for legacy credentials: %w", err)
	}
	return remain, nil
}

// rollbackWindow reads the cut-over state; a missing row is an error (the
// migration writes it), never a guess.
func rollbackWindow(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}) (bool, error) {
	var state string
	if err := q.QueryRow(ctx, `SELECT state FROM auth.mana_cutover WHERE id = 1`).Scan(&state); err != nil {
		return false, fmt.Errorf("read the cut-over state: %w", err)
	}
	return state == "window", nil
}

func (t *txn) SessionByToken(ctx context.Context, forms ...string) (auth.Session, error) {
	var s auth.Session
	var ip, ua, device, deviceID *string
	err := t.tx.QueryRow(ctx, `SELECT id, token, user_id, expires_at, created_at, updated_at, ip_address, user_agent,
			revoked_at, last_activity_at, device_name, device_id
		FROM auth.sessions WHERE token = ANY($1) LIMIT 1`, forms).Scan(&s.ID, &s.Token, &s.UserID, &s.ExpiresAt,
		&s.CreatedAt, &s.UpdatedAt, &ip, &ua, &s.RevokedAt, &s.LastActive, &device, &deviceID)
	if err != nil {
		return auth.Session{}, fmt.Errorf("session by token: %w", notFound(err))
	}
	s.IP, s.UserAgent, s.DeviceName, s.DeviceID = deref(ip), deref(ua), deref(device), deref(deviceID)
	return s, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func (t *txn) ExtendSession(ctx context.Context, id string, expires time.Time) error {
	if _, err := t.tx.Exec(ctx, `UPDATE auth.sessions SET expires_at = $2, updated_at = now(), last_activity_at = now()
		WHERE id = $1 AND revoked_at IS NULL`, id, expires); err != nil {
		return fmt.Errorf("extend session: %w", err)
	}
	return nil
}

func (t *txn) ClaimRefreshToken(ctx context.Context, hash []byte, sessionID string, expires time.Time) (bool, error) {
	tag, err := t.tx.Exec(ctx, `INSERT INTO auth.refresh_tokens (token_hash, session_id, expires_at, rotated_at)
		VALUES ($1, $2, $3, now()) ON CONFLICT (token_hash) DO NOTHING`, hash, sessionID, expires)
	if err != nil {
		return false, fmt.Errorf("claim refresh token: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

func (t *txn) ClaimLinkToken(ctx context.Context, l auth.LinkToken) (bool, error) {
	tag, err := t.tx.Exec(ctx, `INSERT INTO auth.link_tokens (token_hash, purpose, user_id, email, reason, expires_at, used_at)
		VALUES ($1, $2, $3, $4, $5, $6, now()) ON CONFLICT (token_hash) DO NOTHING`,
		l.Hash, l.Purpose, l.UserID, l.Email, l.Reason, l.ExpiresAt)
	if err != nil {
		return false, fmt.Errorf("claim link token: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

func (t *txn) Verification(ctx context.Context, identifier string) (string, time.Time, error) {
	var value string
	var expires time.Time
	err := t.tx.QueryRow(ctx, `SELECT value, expires_at FROM auth.verification WHERE identifier = $1
		ORDER BY created_at DESC LIMIT 1`, identifier).Scan(&value, &expires)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("read verification: %w", notFound(err))
	}
	return value, expires, nil
}

func (t *txn) DeleteVerification(ctx context.Context, identifier string) (bool, error) {
	tag, err := t.tx.Exec(ctx, `DELETE FROM auth.verification WHERE identifier = $1`, identifier)
	if err != nil {
		return false, fmt.Errorf("delete verification: %w", err)
	}
	return tag.RowsAffected() > 0, nil
}

// ---- the rollback window's status and finalization (cutover.Store) -----------

// legacyHashPattern matches Better Auth's scrypt hashes ("salthex:keyhex").
const legacyHashPattern = `^[0-9a-f]{32}:[0-9a-f]{128}$`

// Counts implements cutover.Store.
func (s *AuthStore) Counts(ctx context.Context) (cutover.Counts, error) {
	var c cutover.Counts
	err := s.pool.QueryRow(ctx, `SELECT state, entered_at, finalized_at,
		(SELECT count(*) FROM auth.accounts WHERE provider_id = 'credential' AND password ~ '`+legacyHashPattern+`'),
		(SELECT count(*) FROM auth.accounts WHERE provider_id = 'credential' AND password LIKE '$argon2id$%'),
		(SELECT count(*) FROM auth.accounts WHERE provider_id = 'credential' AND password LIKE '$scrypt-argon2id$%'),
		(SELECT count(*) FROM auth.sessions WHERE revoked_at IS NULL AND expires_at > now() AND token NOT LIKE 'sha256:%'),
		(SELECT count(*) FROM auth.sessions WHERE revoked_at IS NULL AND expires_at > now() AND token LIKE 'sha256:%')
		FROM auth.mana_cutover WHERE id = 1`).Scan(&c.State, &c.EnteredAt, &c.FinalizedAt, &c.PasswordsScrypt, &c.PasswordsArgon2,
		&c.PasswordsWrapped, &c.SessionTokensClear, &c.SessionTokensHashed)
	if err != nil {
		return cutover.Counts{}, fmt.Errorf("cut-over counts: %w", err)
	}
	return c, nil
}

// EndWindow implements cutover.Store.
func (s *AuthStore) EndWindow(ctx context.Context, meta map[string]any) (bool, error) {
	changed := false
	err := inTx(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE auth.mana_cutover SET state = 'finalized', finalized_at = now() WHERE id = 1 AND state = 'window'`)
		if err != nil {
			return fmt.Errorf("end the rollback window: %w", err)
		}
		if changed = tag.RowsAffected() == 1; !changed {
			return nil
		}
		return (&txn{tx: tx}).InsertEvent(ctx, audit.Event{Type: audit.CutoverFinalized, Metadata: meta})
	})
	return changed, err
}

// LegacyCredentials implements cutover.Store.
func (s *AuthStore) LegacyCredentials(ctx context.Context, after string, limit int) ([]cutover.Credential, error) {
	rows, err := s.pool.Query(ctx, `SELECT user_id, password FROM auth.accounts
		WHERE provider_id = 'credential' AND password ~ '`+legacyHashPattern+`' AND user_id > $1
		ORDER BY user_id LIMIT $2`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("read scrypt passwords: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (cutover.Credential, error) {
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
	err := inTx(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE auth.accounts SET password = $3, updated_at = now()
			WHERE user_id = $1 AND provider_id = 'credential' AND password = $2`, userID, old, next)
		ok = err == nil && tag.RowsAffected() > 0
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
	err := inTx(ctx, s.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT id, token FROM auth.sessions WHERE token NOT LIKE 'sha256:%' LIMIT $1 FOR UPDATE`, limit)
		if err != nil {
			return err
		}
		type row struct{ id, token string }
		list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
			var x row
			return x, r.Scan(&x.id, &x.token)
		})
		if err != nil {
			return err
		}
		for _, x := range list {
			if _, err := tx.Exec(ctx, `UPDATE auth.sessions SET token = $2 WHERE id = $1`, x.id, hash(x.token)); err != nil {
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
