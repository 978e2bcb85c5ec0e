package pg

import (
	"context"
	"fmt"
	"time"

	"github.com/mana/mana/internal/auth"
)

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
