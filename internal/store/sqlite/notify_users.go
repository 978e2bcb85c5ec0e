package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mana/mana/internal/notify"
)

// RegisterDevice upserts on the push token: a token registered again (also by
// another user, e.g. a shared phone) moves to this user and is reactivated.
func (s *NotifyStore) RegisterDevice(ctx context.Context, d notify.NewDevice) (string, error) {
	var id string
	now := s.ts()
	err := s.db.QueryRowContext(ctx, `
		INSERT INTO notify_devices (id, user_id, push_token, token_type, platform, device_name, app_id, is_active,
		                            last_seen_at, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?)
		ON CONFLICT (push_token) DO UPDATE
		SET user_id = excluded.user_id, token_type = excluded.token_type, platform = excluded.platform,
		    device_name = excluded.device_name, app_id = excluded.app_id, is_active = 1,
		    last_seen_at = excluded.last_seen_at, updated_at = excluded.updated_at
		RETURNING id`, NewUUID(), d.UserID, d.PushToken, d.TokenType, Null(d.Platform), Null(d.DeviceName),
		Null(d.AppID), now, now, now).Scan(&id)
	if err != nil {
		return "", fmt.Errorf("register device: %w", err)
	}
	return id, nil
}

// ListDevices returns the user's active devices, newest first.
func (s *NotifyStore) ListDevices(ctx context.Context, userID string) ([]notify.Device, error) {
	rows, err := s.db.QueryContext(ctx, `
		SELECT id, user_id, push_token, token_type, platform, device_name, app_id, is_active, last_seen_at,
		       created_at, updated_at
		FROM notify_devices WHERE user_id = ? AND is_active = 1 ORDER BY created_at DESC, id`, userID)
	if err != nil {
		return nil, fmt.Errorf("list devices: %w", err)
	}
	defer rows.Close()
	var out []notify.Device
	for rows.Next() {
		var d notify.Device
		if err := rows.Scan(&d.ID, &d.UserID, &d.PushToken, &d.TokenType, &d.Platform, &d.DeviceName, &d.AppID,
			&d.IsActive, NullTimestamp{T: &d.LastSeenAt}, Timestamp{T: &d.CreatedAt},
			Timestamp{T: &d.UpdatedAt}); err != nil {
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
	res, err := s.db.ExecContext(ctx, `UPDATE notify_devices SET is_active = 0, updated_at = ?
		WHERE id = lower(?) AND user_id = ? AND is_active = 1`, s.ts(), id, userID)
	if err != nil {
		return fmt.Errorf("deactivate device: %w", err)
	}
	return oneRow(res, notify.ErrDeviceNotFound)
}

// DeactivateToken switches off a token the push provider reports as unregistered.
func (s *NotifyStore) DeactivateToken(ctx context.Context, token string) error {
	if _, err := s.db.ExecContext(ctx, `UPDATE notify_devices SET is_active = 0, updated_at = ?
		WHERE push_token = ?`, s.ts(), token); err != nil {
		return fmt.Errorf("deactivate push token: %w", err)
	}
	return nil
}

// GetPreferences returns the user's row, or the defaults with Stored false.
func (s *NotifyStore) GetPreferences(ctx context.Context, userID string) (notify.Preferences, error) {
	var p notify.Preferences
	var created, updated time.Time
	var cats sql.NullString
	err := s.db.QueryRowContext(ctx, `
		SELECT id, user_id, email_enabled, push_enabled, quiet_hours_enabled, quiet_hours_start, quiet_hours_end,
		       timezone, category_preferences, created_at, updated_at
		FROM notify_preferences WHERE user_id = ?`, userID).Scan(&p.ID, &p.UserID, &p.EmailEnabled, &p.PushEnabled,
		&p.QuietHoursEnabled, &p.QuietHoursStart, &p.QuietHoursEnd, &p.Timezone, &cats,
		Timestamp{T: &created}, Timestamp{T: &updated})
	if errors.Is(err, sql.ErrNoRows) {
		return notify.DefaultPreferences(), nil
	}
	if err != nil {
		return notify.Preferences{}, fmt.Errorf("get preferences: %w", err)
	}
	p.Stored, p.CreatedAt, p.UpdatedAt = true, &created, &updated
	if cats.Valid && cats.String != "" {
		p.CategoryPreferences = []byte(cats.String)
	}
	return p, nil
}

// PutPreferences upserts the user's row in one statement; a nil field keeps
// the stored value (or the column default for a new row).
func (s *NotifyStore) PutPreferences(ctx context.Context, userID string, u notify.PreferencesUpdate) error {
	var cats any
	if len(u.CategoryPreferences) > 0 && string(u.CategoryPreferences) != "null" {
		cats = string(u.CategoryPreferences)
	}
	now := s.ts()
	_, err := s.db.ExecContext(ctx, `
		INSERT INTO notify_preferences (id, user_id, email_enabled, push_enabled, quiet_hours_enabled, quiet_hours_start,
		                                quiet_hours_end, timezone, category_preferences, created_at, updated_at)
		VALUES (?1, ?2, COALESCE(?3, 0), COALESCE(?4, 1), COALESCE(?5, 0), ?6, ?7,
		        COALESCE(?8, 'Europe/Berlin'), ?9, ?10, ?10)
		ON CONFLICT (user_id) DO UPDATE SET
		  email_enabled = COALESCE(?3, notify_preferences.email_enabled),
		  push_enabled = COALESCE(?4, notify_preferences.push_enabled),
		  quiet_hours_enabled = COALESCE(?5, notify_preferences.quiet_hours_enabled),
		  quiet_hours_start = COALESCE(?6, notify_preferences.quiet_hours_start),
		  quiet_hours_end = COALESCE(?7, notify_preferences.quiet_hours_end),
		  timezone = COALESCE(?8, notify_preferences.timezone),
		  category_preferences = COALESCE(?9, notify_preferences.category_preferences),
		  updated_at = ?10`,
		NewUUID(), userID, u.EmailEnabled, u.PushEnabled, u.QuietHoursEnabled, u.QuietHoursStart, u.QuietHoursEnd,
		u.Timezone, cats, now)
	if err != nil {
		return fmt.Errorf("put preferences: %w", err)
	}
	return nil
}

// EraseUser removes a deleted account's rows (notify.Store).
func (s *NotifyStore) EraseUser(ctx context.Context, userID, email string) (notify.Erased, error) {
	var e notify.Erased
	err := inTx(ctx, s.db, func(tx *sql.Tx) error {
		var err error
		e, err = eraseNotifyUser(ctx, tx, userID, email)
		return err
	})
	if err != nil {
		return notify.Erased{}, fmt.Errorf("erase user: %w", err)
	}
	return e, nil
}

// eraseNotifyUser deletes the user's rows in notify's tables (see pg): in
// auth's deletion transaction when they share the file, else in EraseUser.
func eraseNotifyUser(ctx context.Context, tx *sql.Tx, userID, email string) (notify.Erased, error) {
	var e notify.Erased
	for _, s := range []struct {
		what, sql string
		args      []any
		n         *int64
	}{
		{"notify devices", `DELETE FROM notify_devices WHERE user_id = ?1`, []any{userID}, &e.Devices},
		{"notify preferences", `DELETE FROM notify_preferences WHERE user_id = ?1`, []any{userID}, &e.Preferences},
		{"notify notifications", `DELETE FROM notify_notifications WHERE user_id = ?1 OR (?2 <> '' AND lower(recipient) = ?2)`,
			[]any{userID, strings.ToLower(email)}, &e.Notifications},
	} {
		res, err := tx.ExecContext(ctx, s.sql, s.args...)
		if err != nil {
			return notify.Erased{}, fmt.Errorf("%s: %w", s.what, err)
		}
		if *s.n, err = res.RowsAffected(); err != nil {
			return notify.Erased{}, fmt.Errorf("%s: %w", s.what, err)
		}
	}
	return e, nil
}
