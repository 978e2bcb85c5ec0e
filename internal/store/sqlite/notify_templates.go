package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/mana/mana/internal/notify"
)

const templateColumns = `id, slug, app_id, channel, subject, body_template, locale, is_active, is_system,
	variables, created_at, updated_at`

func scanTemplate(r row) (notify.Template, error) {
	var t notify.Template
	var channel string
	var vars sql.NullString
	err := r.Scan(&t.ID, &t.Slug, &t.AppID, &channel, &t.Subject, &t.BodyTemplate, &t.Locale, &t.IsActive,
		&t.IsSystem, &vars, Timestamp{T: &t.CreatedAt}, Timestamp{T: &t.UpdatedAt})
	t.Channel = notify.Channel(channel)
	if vars.Valid {
		t.Variables = []byte(vars.String)
	}
	return t, err
}

// SeedSystemTemplates inserts the built-in templates, and brings existing
// system rows up to date; a custom template with the same slug+locale is left
// alone. Called at every start, as on Postgres.
func (s *NotifyStore) SeedSystemTemplates(ctx context.Context, ts []notify.NewTemplate) error {
	return inTx(ctx, s.db, func(tx *sql.Tx) error {
		now := s.ts()
		for _, t := range ts {
			vars, err := json.Marshal(t.Variables)
			if err != nil {
				return fmt.Errorf("encode variables of %s: %w", t.Slug, err)
			}
			if _, err := tx.ExecContext(ctx, `
				INSERT INTO notify_templates (id, slug, channel, subject, body_template, locale, is_system, variables,
				                              created_at, updated_at)
				VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?, ?)
				ON CONFLICT (slug, locale) DO UPDATE
				SET subject = excluded.subject, body_template = excluded.body_template, variables = excluded.variables,
				    channel = excluded.channel, is_active = 1, updated_at = excluded.updated_at
				WHERE notify_templates.is_system = 1`,
				NewUUID(), t.Slug, string(t.Channel), Null(t.Subject), t.BodyTemplate, t.Locale, string(vars),
				now, now); err != nil {
				return fmt.Errorf("seed template %s: %w", t.Slug, err)
			}
		}
		return nil
	})
}

// ListTemplates returns every template, ordered by slug and locale.
func (s *NotifyStore) ListTemplates(ctx context.Context) ([]notify.Template, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+templateColumns+` FROM notify_templates ORDER BY slug, locale`)
	if err != nil {
		return nil, fmt.Errorf("list templates: %w", err)
	}
	defer rows.Close()
	var out []notify.Template
	for rows.Next() {
		t, err := scanTemplate(rows)
		if err != nil {
			return nil, fmt.Errorf("scan template: %w", err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list templates: %w", err)
	}
	return out, nil
}

// GetTemplate returns the template of slug in exactly locale.
func (s *NotifyStore) GetTemplate(ctx context.Context, slug, locale string) (notify.Template, error) {
	t, err := scanTemplate(s.db.QueryRowContext(ctx, `SELECT `+templateColumns+` FROM notify_templates
		WHERE slug = ? AND locale = ?`, slug, locale))
	if errors.Is(err, sql.ErrNoRows) {
		return notify.Template{}, notify.ErrTemplateNotFound
	}
	if err != nil {
		return notify.Template{}, fmt.Errorf("get template %s/%s: %w", slug, locale, err)
	}
	return t, nil
}

// FindActiveTemplate is the lookup of a send: the active template of slug in
// locale, else in any active locale (ordered by locale).
func (s *NotifyStore) FindActiveTemplate(ctx context.Context, slug, locale string) (notify.Template, error) {
	t, err := scanTemplate(s.db.QueryRowContext(ctx, `SELECT `+templateColumns+` FROM notify_templates
		WHERE slug = ? AND is_active = 1 ORDER BY (locale = ?) DESC, locale LIMIT 1`, slug, locale))
	if errors.Is(err, sql.ErrNoRows) {
		return notify.Template{}, notify.ErrTemplateNotFound
	}
	if err != nil {
		return notify.Template{}, fmt.Errorf("find template %s: %w", slug, err)
	}
	return t, nil
}

// CreateTemplate inserts a custom template and returns its id.
func (s *NotifyStore) CreateTemplate(ctx context.Context, t notify.NewTemplate) (string, error) {
	var vars any
	if t.Variables != nil {
		b, err := json.Marshal(t.Variables)
		if err != nil {
			return "", fmt.Errorf("encode template variables: %w", err)
		}
		vars = string(b)
	}
	id, now := NewUUID(), s.ts()
	_, err := s.db.ExecContext(ctx, `
		INSERT INTO notify_templates (id, slug, app_id, channel, subject, body_template, locale, variables,
		                              created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		id, t.Slug, Null(t.AppID), string(t.Channel), Null(t.Subject), t.BodyTemplate, t.Locale, vars,
		now, now)
	if isUniqueViolation(err) {
		return "", notify.ErrTemplateExists
	}
	if err != nil {
		return "", fmt.Errorf("create template %s: %w", t.Slug, err)
	}
	return id, nil
}

// isUniqueViolation reports a UNIQUE constraint failure (Postgres 23505).
func isUniqueViolation(err error) bool {
	var e *sqlite.Error
	return errors.As(err, &e) && e.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE
}

// UpdateTemplate changes a custom template; system templates are
// notify.ErrTemplateNotFound.
func (s *NotifyStore) UpdateTemplate(ctx context.Context, slug, locale string, u notify.TemplateUpdate) error {
	res, err := s.db.ExecContext(ctx, `
		UPDATE notify_templates
		SET subject = COALESCE(?, subject), body_template = COALESCE(?, body_template),
		    is_active = COALESCE(?, is_active), updated_at = ?
		WHERE slug = ? AND locale = ? AND is_system = 0`, u.Subject, u.BodyTemplate, u.IsActive, s.ts(), slug, locale)
	if err != nil {
		return fmt.Errorf("update template %s/%s: %w", slug, locale, err)
	}
	return oneRow(res, notify.ErrTemplateNotFound)
}

// DeleteTemplate deletes every locale of a custom template.
func (s *NotifyStore) DeleteTemplate(ctx context.Context, slug string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM notify_templates WHERE slug = ? AND is_system = 0`, slug)
	if err != nil {
		return fmt.Errorf("delete template %s: %w", slug, err)
	}
	return oneRow(res, notify.ErrTemplateNotFound)
}
