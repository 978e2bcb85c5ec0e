package pg

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mana/mana/internal/auth"
	"github.com/mana/mana/internal/randid"
)

func (t *txn) LinkTokenByHash(ctx context.Context, hash []byte, purpose string) (auth.LinkToken, error) {
	l := auth.LinkToken{Hash: hash, Purpose: purpose}
	err := t.tx.QueryRow(ctx, `SELECT user_id, email, reason, expires_at, used_at FROM auth.link_tokens
		WHERE token_hash = $1 AND purpose = $2`, hash, purpose).Scan(&l.UserID, &l.Email, &l.Reason, &l.ExpiresAt, &l.UsedAt)
	if err != nil {
		return auth.LinkToken{}, fmt.Errorf("read link token: %w", notFound(err))
	}
	return l, nil
}

func (t *txn) RetireLinkTokens(ctx context.Context, userID, purpose string) error {
	_, err := t.tx.Exec(ctx, `UPDATE auth.link_tokens SET used_at = now() WHERE user_id = $1 AND purpose = $2 AND used_at IS NULL`, userID, purpose)
	if err != nil {
		return fmt.Errorf("retire %s links: %w", purpose, err)
	}
	return nil
}

func (t *txn) SetPassword(ctx context.Context, userID, hash string) error {
	tag, err := t.tx.Exec(ctx, `UPDATE auth.accounts SET password = $2, updated_at = now()
		WHERE user_id = $1 AND provider_id = 'credential'`, userID, hash)
	if err != nil {
		return fmt.Errorf("set password: %w", err)
	}
	if tag.RowsAffected() > 0 {
		return nil
	}
	// A user who only ever signed in another way gets a credential account.
	_, err = t.tx.Exec(ctx, `INSERT INTO auth.accounts (id, account_id, provider_id, user_id, password)
		VALUES ($1, $2, 'credential', $2, $3)`, randid.UserID(), userID, hash)
	if err != nil {
		return fmt.Errorf("create credential account: %w", err)
	}
	return nil
}

func (t *txn) RevokeUserSessions(ctx context.Context, userID, exceptID string) (int, error) {
	// The expiry ends too: the old service knows no revoked_at (rollback window).
	tag, err := t.tx.Exec(ctx, `UPDATE auth.sessions SET revoked_at = now(), updated_at = now(), expires_at = LEAST(expires_at, now())
		WHERE user_id = $1 AND revoked_at IS NULL AND id <> $2`, userID, exceptID)
	if err != nil {
		return 0, fmt.Errorf("revoke sessions of user: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

func (t *txn) UserSessions(ctx context.Context, userID string, includeEnded bool) ([]auth.Session, error) {
	rows, err := t.tx.Query(ctx, `SELECT id, token, user_id, expires_at, created_at, updated_at,
			coalesce(ip_address, ''), coalesce(user_agent, ''), revoked_at, last_activity_at, coalesce(device_name, ''),
			coalesce(device_id, '')
		FROM auth.sessions
		WHERE user_id = $1 AND ($2 OR (revoked_at IS NULL AND expires_at > now()))
		ORDER BY created_at DESC, id`, userID, includeEnded)
	if err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (auth.Session, error) {
		var s auth.Session
		err := r.Scan(&s.ID, &s.Token, &s.UserID, &s.ExpiresAt, &s.CreatedAt, &s.UpdatedAt, &s.IP, &s.UserAgent, &s.RevokedAt, &s.LastActive, &s.DeviceName, &s.DeviceID)
		return s, err
	})
	if err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	return out, nil
}

func (t *txn) UpdateProfile(ctx context.Context, userID string, p auth.ProfilePatch) (auth.Profile, error) {
	var out auth.Profile
	err := t.tx.QueryRow(ctx, `UPDATE auth.users SET
			name = CASE WHEN $2 THEN $3 ELSE name END,
			image = CASE WHEN $4 THEN $5 ELSE image END,
			feedback_show_real_name = coalesce($6, feedback_show_real_name),
			updated_at = now()
		WHERE id = $1
		RETURNING name, image, feedback_show_real_name`,
		userID, p.Name != nil, p.Name, p.Image != nil, p.Image, p.FeedbackShowRealName).Scan(&out.Name, &out.Image, &out.FeedbackShowRealName)
	if err != nil {
		return auth.Profile{}, fmt.Errorf("update profile: %w", notFound(err))
	}
	return out, nil
}

func (t *txn) UserEvents(ctx context.Context, userID string, limit int) ([]auth.EventRecord, error) {
	rows, err := t.tx.Query(ctx, `SELECT id::text, event_type, coalesce(ip_address, ''), coalesce(user_agent, ''), coalesce(metadata, '{}'::jsonb), created_at
		FROM auth.security_events WHERE user_id = $1 ORDER BY created_at DESC, id LIMIT $2`, userID, limit)
	if err != nil {
		return nil, fmt.Errorf("read security events: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (auth.EventRecord, error) {
		var e auth.EventRecord
		var meta []byte
		if err := r.Scan(&e.ID, &e.Type, &e.IP, &e.UserAgent, &meta, &e.CreatedAt); err != nil {
			return e, err
		}
		if err := json.Unmarshal(meta, &e.Metadata); err != nil {
			return e, fmt.Errorf("event %s metadata: %w", e.ID, err)
		}
		return e, nil
	})
	if err != nil {
		return nil, fmt.Errorf("read security events: %w", err)
	}
	return out, nil
}

// signupLockKey is an arbitrary constant: the advisory lock serialising
// registrations while MAX_DAILY_SIGNUPS is enforced.
const signupLockKey int64 = 0x6d616e615f73676e // "mana_sgn"

func (t *txn) LockSignups(ctx context.Context) error {
	if _, err := t.tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, signupLockKey); err != nil {
		return fmt.Errorf("lock signups: %w", err)
	}
	return nil
}

func (t *txn) CountEventsSince(ctx context.Context, eventType string, since time.Time) (int, error) {
	var n int
	err := t.tx.QueryRow(ctx, `SELECT count(*) FROM auth.security_events WHERE event_type = $1 AND created_at >= $2`, eventType, since).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count %s events: %w", eventType, err)
	}
	return n, nil
}

// DeleteAccount removes every row of the auth schema that holds the user's
// personal data. Rows that reference auth.users cascade with it (sessions →
// refresh tokens, accounts, link tokens, two-factor); security events are
// pseudonymised instead (audit F19); the rest are keyed by email or not
// linked by a foreign key and are handled here one by one. Keep this list in step with the schema: the
// integration test TestAccountDeletionLeavesNoPersonalData checks every table.
func (t *txn) DeleteAccount(ctx context.Context, userID, email string) (auth.DeletedCounts, error) {
	var d auth.DeletedCounts
	err := t.tx.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM auth.sessions WHERE user_id = $1),
		(SELECT count(*) FROM auth.accounts WHERE user_id = $1)`, userID).Scan(&d.Sessions, &d.Accounts)
	if err != nil {
		return d, fmt.Errorf("delete account: count: %w", err)
	}
	// The vault tables force row-level security keyed on this setting: with
	// a non-superuser role, deleting without it would silently match no row.
	if _, err := t.tx.Exec(ctx, `SELECT set_config('app.current_user_id', $1, true)`, userID); err != nil {
		return d, fmt.Errorf("delete account: set vault user: %w", err)
	}
	id, mail, both := []any{userID}, []any{email}, []any{userID, email}
	steps := []struct {
		what, sql string
		args      []any
	}{
		{"vault audit", `DELETE FROM auth.encryption_vault_audit WHERE user_id = $1`, id},
		{"vault", `DELETE FROM auth.encryption_vaults WHERE user_id = $1`, id},
		{"login attempts", `DELETE FROM auth.login_attempts WHERE email = $1`, mail},
		// The user's security events stay (append-only, audit F19), keeping
		// only the pseudonymous user id: the definer function erases their
		// IP, user agent and metadata, and those of the events written
		// before the user was known (failed logins, lockouts) that name the
		// address, and shreds their seals' salts.
		{"pseudonymise events", `SELECT auth.pseudonymise_security_events($1, $2)`, both},
		{"old reset rows", `DELETE FROM auth.verification WHERE value = $1 OR identifier = $2`, both},
		{"personal spaces", `WITH gone AS (DELETE FROM auth.members WHERE user_id = $1 RETURNING organization_id)
			DELETE FROM auth.organizations o WHERE o.id IN (SELECT organization_id FROM gone)
				AND o.metadata ->> 'type' = 'personal'
				AND NOT EXISTS (SELECT 1 FROM auth.members m WHERE m.organization_id = o.id AND m.user_id <> $1)`, id},
		{"user", `DELETE FROM auth.users WHERE id = $1`, id},
		// Mail to the address that has not gone out yet (or was delivered
		// and is kept for River's retention) holds the address and links:
		// drop it.
		{"queued mail", `DELETE FROM ` + RiverSchema + `.river_job WHERE kind = 'auth_mail' AND args ->> 'to' = $1 AND state <> 'running'`, mail},
		// A job being handed to notify right now cannot be deleted under its
		// worker; its stored copy is emptied instead. Should that attempt
		// fail, the retry has no recipient, notify refuses it (400) and the
		// outbox cancels the job.
		{"running mail", `UPDATE ` + RiverSchema + `.river_job SET args = '{"to":"","subject":"","html":"","external_id":""}'::jsonb
			WHERE kind = 'auth_mail' AND args ->> 'to' = $1 AND state = 'running'`, mail},
		// Account requests name the address too; a running one, emptied,
		// finds no user and ends without mail.
		{"queued requests", `DELETE FROM ` + RiverSchema + `.river_job WHERE kind = 'auth_request' AND args ->> 'email' = $1 AND state <> 'running'`, mail},
		{"running requests", `UPDATE ` + RiverSchema + `.river_job SET args = jsonb_build_object('request', args ->> 'request', 'email', '')
			WHERE kind = 'auth_request' AND args ->> 'email' = $1 AND state = 'running'`, mail},
	}
	for _, s := range steps {
		if _, err := t.tx.Exec(ctx, s.sql, s.args...); err != nil {
			return d, fmt.Errorf("delete account: %s: %w", s.what, err)
		}
	}
	// notify's rows of the user, when notify lives in this database (as
	// under `mana serve` and the split deployment on one database): push
	// devices, preferences, and the notifications to the user or the
	// address (their delivery logs and idempotency keys cascade; a queued
	// delivery job finds its row gone and is cancelled). Audit F6.
	var here bool
	if err := t.tx.QueryRow(ctx, `SELECT to_regclass('notify.notifications') IS NOT NULL`).Scan(&here); err != nil {
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
