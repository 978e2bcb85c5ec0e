package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/mana/mana/internal/auth"
	"github.com/mana/mana/internal/randid"
)

func (t *txn) LinkTokenByHash(ctx context.Context, hash []byte, purpose string) (auth.LinkToken, error) {
	l := auth.LinkToken{Hash: hash, Purpose: purpose}
	err := t.tx.QueryRowContext(ctx, `SELECT user_id, email, reason, expires_at, used_at FROM auth_link_tokens
		WHERE token_hash = ? AND purpose = ?`, hash, purpose).
		Scan(&l.UserID, &l.Email, &l.Reason, Timestamp{T: &l.ExpiresAt}, NullTimestamp{T: &l.UsedAt})
	if err != nil {
		return auth.LinkToken{}, fmt.Errorf("read link token: %w", notFound(err))
	}
	return l, nil
}

func (t *txn) RetireLinkTokens(ctx context.Context, userID, purpose string) error {
	_, err := t.tx.ExecContext(ctx, `UPDATE auth_link_tokens SET used_at = ? WHERE user_id = ? AND purpose = ? AND used_at IS NULL`,
		t.stamp(), userID, purpose)
	if err != nil {
		return fmt.Errorf("retire %s links: %w", purpose, err)
	}
	return nil
}

func (t *txn) SetPassword(ctx context.Context, userID, hash string) error {
	now := t.stamp()
	res, err := t.tx.ExecContext(ctx, `UPDATE auth_accounts SET password = ?, updated_at = ?
		WHERE user_id = ? AND provider_id = 'credential'`, hash, now, userID)
	if err != nil {
		return fmt.Errorf("set password: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("set password: %w", err)
	} else if n > 0 {
		return nil
	}
	// A user who only ever signed in another way gets a credential account.
	_, err = t.tx.ExecContext(ctx, `INSERT INTO auth_accounts (id, account_id, provider_id, user_id, password, created_at, updated_at)
		VALUES (?, ?, 'credential', ?, ?, ?, ?)`, randid.UserID(), userID, userID, hash, now, now)
	if err != nil {
		return fmt.Errorf("create credential account: %w", err)
	}
	return nil
}

func (t *txn) RevokeUserSessions(ctx context.Context, userID, exceptID string) (int, error) {
	now := t.stamp()
	// The expiry ends too, as on PostgreSQL (fixed-width times compare as text).
	res, err := t.tx.ExecContext(ctx, `UPDATE auth_sessions SET revoked_at = ?1, updated_at = ?1, expires_at = min(expires_at, ?1)
		WHERE user_id = ?2 AND revoked_at IS NULL AND id <> ?3`, now, userID, exceptID)
	if err != nil {
		return 0, fmt.Errorf("revoke sessions of user: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("revoke sessions of user: %w", err)
	}
	return int(n), nil
}

func (t *txn) UserSessions(ctx context.Context, userID string, includeEnded bool) ([]auth.Session, error) {
	rows, err := t.tx.QueryContext(ctx, `SELECT id, token, user_id, expires_at, created_at, updated_at,
			coalesce(ip_address, ''), coalesce(user_agent, ''), revoked_at, last_activity_at, coalesce(device_name, ''),
			coalesce(device_id, '')
		FROM auth_sessions
		WHERE user_id = ?1 AND (?2 OR (revoked_at IS NULL AND expires_at > ?3))
		ORDER BY created_at DESC, id`, userID, includeEnded, t.stamp())
	if err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	out, err := collect(rows, func(r *sql.Rows) (auth.Session, error) {
		var s auth.Session
		err := r.Scan(&s.ID, &s.Token, &s.UserID, Timestamp{T: &s.ExpiresAt}, Timestamp{T: &s.CreatedAt},
			Timestamp{T: &s.UpdatedAt}, &s.IP, &s.UserAgent, NullTimestamp{T: &s.RevokedAt},
			NullTimestamp{T: &s.LastActive}, &s.DeviceName, &s.DeviceID)
		return s, err
	})
	if err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	return out, nil
}

func (t *txn) UpdateProfile(ctx context.Context, userID string, p auth.ProfilePatch) (auth.Profile, error) {
	var out auth.Profile
	err := t.tx.QueryRowContext(ctx, `UPDATE auth_users SET
			name = CASE WHEN ?2 THEN ?3 ELSE name END,
			image = CASE WHEN ?4 THEN ?5 ELSE image END,
			feedback_show_real_name = coalesce(?6, feedback_show_real_name),
			updated_at = ?7
		WHERE id = ?1
		RETURNING name, image, feedback_show_real_name`,
		userID, p.Name != nil, p.Name, p.Image != nil, p.Image, p.FeedbackShowRealName, t.stamp()).
		Scan(&out.Name, &out.Image, &out.FeedbackShowRealName)
	if err != nil {
		return auth.Profile{}, fmt.Errorf("update profile: %w", notFound(err))
	}
	return out, nil
}

func (t *txn) UserEvents(ctx context.Context, userID string, limit int) ([]auth.EventRecord, error) {
	rows, err := t.tx.QueryContext(ctx, `SELECT id, event_type, coalesce(ip_address, ''), coalesce(user_agent, ''), coalesce(metadata, '{}'), created_at
		FROM auth_security_events WHERE user_id = ? ORDER BY created_at DESC, id LIMIT ?`, userID, limit)
	if err != nil {
		return nil, fmt.Errorf("read security events: %w", err)
	}
	out, err := collect(rows, func(r *sql.Rows) (auth.EventRecord, error) {
		var e auth.EventRecord
		var meta string
		if err := r.Scan(&e.ID, &e.Type, &e.IP, &e.UserAgent, &meta, Timestamp{T: &e.CreatedAt}); err != nil {
			return e, err
		}
		if err := json.Unmarshal([]byte(meta), &e.Metadata); err != nil {
			return e, fmt.Errorf("event %s metadata: %w", e.ID, err)
		}
		return e, nil
	})
	if err != nil {
		return nil, fmt.Errorf("read security events: %w", err)
	}
	return out, nil
}

// LockSignups is a no-op: the transaction's write lock (BEGIN IMMEDIATE)
// already serialises registrations.
func (t *txn) LockSignups(context.Context) error { return nil }

func (t *txn) CountEventsSince(ctx context.Context, eventType string, since time.Time) (int, error) {
	var n int
	err := t.tx.QueryRowContext(ctx, `SELECT count(*) FROM auth_security_events WHERE event_type = ? AND created_at >= ?`,
		eventType, FormatTime(since)).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count %s events: %w", eventType, err)
	}
	return n, nil
}

// erasable selects the events account deletion erases (?1 user id, ?2 email).
const erasable = `user_id = ?1 OR (user_id IS NULL AND json_extract(metadata, '$.email') = ?2)`

// DeleteAccount removes every auth_* row that holds the user's personal data,
// step for step as the pg store does (there is no row-level security to
// scope first). Rows referencing auth_users cascade (foreign_keys=ON).
func (t *txn) DeleteAccount(ctx context.Context, userID, email string) (auth.DeletedCounts, error) {
	var d auth.DeletedCounts
	err := t.tx.QueryRowContext(ctx, `SELECT
		(SELECT count(*) FROM auth_sessions WHERE user_id = ?1),
		(SELECT count(*) FROM auth_accounts WHERE user_id = ?1)`, userID).Scan(&d.Sessions, &d.Accounts)
	if err != nil {
		return d, fmt.Errorf("delete account: count: %w", err)
	}
	id, mail, both := []any{userID}, []any{email}, []any{userID, email}
	steps := []struct {
		what, sql string
		args      []any
	}{
		{"vault audit", `DELETE FROM auth_encryption_vault_audit WHERE user_id = ?1`, id},
		{"vault", `DELETE FROM auth_encryption_vaults WHERE user_id = ?1`, id},
		{"login attempts", `DELETE FROM auth_login_attempts WHERE email = ?1`, mail},
		// The user's security events, and those written before the user was
		// known that name the address, stay (append-only, audit F19) with
		// their PII erased; their seals' salts are shredded first, while the
		// address still finds them (pg: auth.pseudonymise_security_events).
		{"shred event salts", `UPDATE auth_security_event_seals SET pii_salt = NULL WHERE pii_salt IS NOT NULL
			AND event_id IN (SELECT id FROM auth_security_events WHERE ` + erasable + `)`, both},
		{"pseudonymise events", `UPDATE auth_security_events SET ip_address = NULL, user_agent = NULL, metadata = '{}'
			WHERE ` + erasable, both},
		{"old reset rows", `DELETE FROM auth_verification WHERE value = ?1 OR identifier = ?2`, both},
		// SQLite has no data-modifying CTE: the personal organisations are
		// deleted first (while the membership still says whose they are),
		// then the memberships.
		{"personal spaces", `DELETE FROM auth_organizations WHERE id IN (SELECT organization_id FROM auth_members WHERE user_id = ?1)
			AND json_extract(metadata, '$.type') = 'personal'
			AND NOT EXISTS (SELECT 1 FROM auth_members m WHERE m.organization_id = auth_organizations.id AND m.user_id <> ?1)`, id},
		{"memberships", `DELETE FROM auth_members WHERE user_id = ?1`, id},
		{"user", `DELETE FROM auth_users WHERE id = ?1`, id},
		// Queued mail to the address holds the address and links: drop it.
		// River keeps args as JSONB, which json_extract reads directly.
		{"queued mail", `DELETE FROM river_job WHERE kind = 'auth_mail' AND json_extract(args, '$.to') = ?1 AND state <> 'running'`, mail},
		// A job being handed over right now is emptied instead (see pg).
		{"running mail", `UPDATE river_job SET args = jsonb('{"to":"","subject":"","html":"","external_id":""}')
			WHERE kind = 'auth_mail' AND json_extract(args, '$.to') = ?1 AND state = 'running'`, mail},
		{"queued requests", `DELETE FROM river_job WHERE kind = 'auth_request' AND json_extract(args, '$.email') = ?1 AND state <> 'running'`, mail},
		{"running requests", `UPDATE river_job SET args = jsonb_object('request', json_extract(args, '$.request'), 'email', '')
			WHERE kind = 'auth_request' AND json_extract(args, '$.email') = ?1 AND state = 'running'`, mail},
	}
	for _, s := range steps {
		if _, err := t.tx.ExecContext(ctx, s.sql, s.args...); err != nil {
			return d, fmt.Errorf("delete account: %s: %w", s.what, err)
		}
	}
	// notify's rows of the user, when notify's tables are in this file (see pg).
	var here bool
	if err := t.tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'notify_notifications')`).Scan(&here); err != nil {
		return d, fmt.Errorf("delete account: look for notify's tables: %w", err)
	}
	if !here {
		d.NotifyElsewhere = true
		return d, nil
	}
	if _, err := eraseNotifyUser(ctx, t.tx, userID, email); err != nil {
		return d, fmt.Errorf("delete account: %w", err)
	}
	return d, nil
}
