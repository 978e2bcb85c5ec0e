package sqlite

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/mana/mana/internal/auth"
)

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
