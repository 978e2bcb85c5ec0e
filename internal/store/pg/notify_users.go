package pg

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mana/mana/internal/notify"
)

// RegisterDevice upserts on the push token: a token registered again (also by
// another user, e.g. a shared phone) moves to this user and is reactivated.
func (s *NotifyStore) RegisterDevice(ctx context.Context, d notify.NewDevice) (string, error) {
	var id string
	err := s.pool.QueryRow(ctx, `
		INSERT INTO notify.devices (user_id, push_token, token_type, platform, device_name, app_id, is_active, last_seen_at)
		VALUES ($1, $2, $3, NULLIF($4, ''), NULLIF($5, ''), NULLIF($6, ''), true, now())
		ON CONFLICT (push_token) DO UPDATE
		SET user_id = EXCLUDED.user_id, token_type = EXCLUDED.token_type, platform = EXCLUDED.platform,
		    device_name = EXCLUDED.device_name, app_id = EXCLUDED.app_id, is_active = true,
		    last_seen_at = now(), updated_at = now()
		RETURNING id::text`, d.UserID, d.PushToken, d.TokenType, d.Platform, d.DeviceName, d.AppID).Scan(&id)
	if err != nil {
		return "", fmt.Errorf("register device: %w", err)
	}
	return id, nil
}

// ListDevices returns the user's active devices, newest first.
func (s *NotifyStore) ListDevices(ctx context.Context, userID string) ([]notify.Device, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT id::text, user_id, push_token, token_type, platform, device_name, app_id, is_active, last_seen_at,
		       created_at, updated_at
		FROM notify.devices WHERE user_id = $1 AND is_active ORDER BY created_at DESC, id`, userID)
	if err != nil {
		return nil, fmt.Errorf("list devices: %w", err)
	}
	defer rows.Close()
	var out []notify.Device
	for rows.Next() {
		var d notify.Device
		if err := rows.Scan(&d.ID, &d.UserID, &d.PushToken, &d.TokenType, &d.Platform, &d.DeviceName, &d.AppID,
			&d.IsActive, &d.LastSeenAt, &d.CreatedAt, &d.UpdatedAt); err != nil {
			return nil, fmt.Errorf("scan device: %w", err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list devices: %w", err)
	}
	return out, nil
}

// DeactivateDevice soft-deletes one of the user's devices.
func (s *NotifyStore) DeactivateDevice(ctx context.Context, userID, id string) error {
	if !notify.IsUUID(id) {
		return notify.ErrDeviceNotFound
	}
	tag, err := s.pool.Exec(ctx, `UPDATE notify.devices SET is_active = false, updated_at = now()
		WHERE id = $1 AND user_id = $2 AND is_active`, id, userID)
	if err != nil {
		return fmt.Errorf("deactivate device: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return notify.ErrDeviceNotFound
	}
	return nil
}

// DeactivateToken switches off a token the push provider reports as unregistered.
func (s *NotifyStore) DeactivateToken(ctx context.Context, token string) error {
	if _, err := s.pool.Exec(ctx, `UPDATE notify.devices SET is_active = false, updated_at = now()
		WHERE push_token = $1`, token); err != nil {
		return fmt.Errorf("deactivate push token: %w", err)
	}
	return nil
}

// GetPreferences returns the user's row, or the defaults with Stored false.
func (s *NotifyStore) GetPreferences(ctx context.Context, userID string) (notify.Preferences, error) {
	var p notify.Preferences
	var created, updated time.Time
	var cats []byte
	err := s.pool.QueryRow(ctx, `
		SELECT id::text, user_id, email_enabled, push_enabled, quiet_hours_enabled, quiet_hours_start, quiet_hours_end,
		       timezone, category_preferences, created_at, updated_at
		FROM notify.preferences WHERE user_id = $1`, userID).Scan(&p.ID, &p.UserID, &p.EmailEnabled, &p.PushEnabled,
		&p.QuietHoursEnabled, &p.QuietHoursStart, &p.QuietHoursEnd, &p.Timezone, &cats, &created, &updated)
	if errors.Is(err, pgx.ErrNoRows) {
		return notify.DefaultPreferences(), nil
	}
	if err != nil {
		return notify.Preferences{}, fmt.Errorf("get preferences: %w", err)
	}
	p.Stored, p.CreatedAt, p.UpdatedAt = true, &created, &updated
	if len(cats) > 0 {
		p.CategoryPreferences = cats
	}
	return p, nil
}

// PutPreferences upserts the user's row in one statement.
func (s *NotifyStore) PutPreferences(ctx context.Context, userID string, u notify.PreferencesUpdate) error {
	var cats any
	if len(u.CategoryPreferences) > 0 && string(u.CategoryPreferences) != "null" {
		cats = string(u.CategoryPreferences)
	}
	_, err := s.pool.Exec(ctx, `
		INSERT INTO notify.preferences (user_id, email_enabled, push_enabled, quiet_hours_enabled, quiet_hours_start,
		                                quiet_hours_end, timezone, category_preferences)
		VALUES ($1, COALESCE($2, false), COALESCE($3, true), COALESCE($4, false), $5, $6,
		        COALESCE($7, 'Europe/Berlin'), $8::jsonb)
		ON CONFLICT (user_id) DO UPDATE SET
		  email_enabled = COALESCE($2, notify.preferences.email_enabled),
		  push_enabled = COALESCE($3, notify.preferences.push_enabled),
		  quiet_hours_enabled = COALESCE($4, notify.preferences.quiet_hours_enabled),
		  quiet_hours_start = COALESCE($5, notify.preferences.quiet_hours_start),
		  quiet_hours_end = COALESCE($6, notify.preferences.quiet_hours_end),
		  timezone = COALESCE($7, notify.preferences.timezone),
		  category_preferences = COALESCE($8::jsonb, notify.preferences.category_preferences),
		  updated_at = now()`,
		userID, u.EmailEnabled, u.PushEnabled, u.QuietHoursEnabled, u.QuietHoursStart, u.QuietHoursEnd, u.Timezone, cats)
	if err != nil {
		return fmt.Errorf("put preferences: %w", err)
	}
	return nil
}

// EraseUser removes a deleted account's rows (notify.Store).
func (s *NotifyStore) EraseUser(ctx context.Context, userID, email string) (notify.Erased, error) {
	var e notify.Erased
	err := inTx(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		e, err = eraseNotifyUser(ctx, tx, userID, email)
		return err
	})
	if err != nil {
		return notify.Erased{}, fmt.Errorf("erase user: %w", err)
	}
	return e, nil
}

// eraseNotifyUser deletes the user's push devices, preferences, and the
// notifications to the user id or the address (their delivery logs and
// idempotency keys cascade; a queued delivery finds its row gone and is
// cancelled). It runs in auth's deletion transaction when notify's tables
// are in the same database, and in EraseUser otherwise.
func eraseNotifyUser(ctx context.Context, tx pgx.Tx, userID, email string) (notify.Erased, error) {
	var e notify.Erased
	for _, s := range []struct {
		what, sql string
		args      []any
		n         *int64
	}{
		{"notify devices", `DELETE FROM notify.devices WHERE user_id = $1`, []any{userID}, &e.Devices},
		{"notify preferences", `DELETE FROM notify.preferences WHERE user_id = $1`, []any{userID}, &e.Preferences},
		{"notify notifications", `DELETE FROM notify.notifications WHERE user_id = $1 OR ($2 <> '' AND lower(recipient) = $2)`,
			[]any{userID, strings.ToLower(email)}, &e.Notifications},
	} {
		tag, err := tx.Exec(ctx, s.sql, s.args...)
		if err != nil {
			return notify.Erased{}, fmt.Errorf("%s: %w", s.what, err)
		}
		*s.n = tag.RowsAffected()
	}
	return e, nil
}
