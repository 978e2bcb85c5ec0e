package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/mana/mana/internal/notify/store"
	"github.com/mana/mana/internal/store/sqlitedb"
)

const templateColumns = `id, slug, app_id, channel, subject, body_template, locale, is_active, is_system,
	variables, created_at, updated_at`

func scanTemplate(r row) (store.Template, error) {
	var t store.Template
	var channel string
	var vars sql.NullString
	err := r.Scan(&t.ID, &t.Slug, &t.AppID, &channel, &t.Subject, &t.BodyTemplate, &t.Locale, &t.IsActive,
		&t.IsSystem, &vars, sqlitedb.Timestamp{T: &t.CreatedAt}, sqlitedb.Timestamp{T: &t.UpdatedAt})
	t.Channel = store.Channel(channel)
	if vars.Valid {
		t.Variables = []byte(vars.String)
	}
	return t, err
}

// SeedSystemTemplates inserts the built-in templates, and brings existing
// system rows up to date; a custom template with the same slug+locale is left
// alone. Called at every start, as on Postgres.
func (s *Store) SeedSystemTemplates(ctx context.Context, ts []store.NewTemplate) (err error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin seed templates: %w", err)
	}
	defer rollbackOnError(tx, &err)
	now := s.ts()
	for _, t := range ts {
		var vars []byte
		vars, err = json.Marshal(t.Variables)
		if err != nil {
			return fmt.Errorf("encode variables of %s: %w", t.Slug, err)
		}
		if _, err = tx.ExecContext(ctx, `
			INSERT INTO notify_templates (id, slug, channel, subject, body_template, locale, is_system, variables,
			                              created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?, ?)
			ON CONFLICT (slug, locale) DO UPDATE
			SET subject = excluded.subject, body_template = excluded.body_template, variables = excluded.variables,
			    channel = excluded.channel, is_active = 1, updated_at = excluded.updated_at
			WHERE notify_templates.is_system = 1`,
			sqlitedb.NewUUID(), t.Slug, string(t.Channel), sqlitedb.Null(t.Subject), t.BodyTemplate, t.Locale, string(vars),
			now, now); err != nil {
			return fmt.Errorf("seed template %s: %w", t.Slug, err)
		}
	}
	if err = tx.Commit(); err != nil {
		return fmt.Errorf("commit seed templates: %w", err)
	}
	return nil
}

// ListTemplates returns every template, ordered by slug and locale.
func (s *Store) ListTemplates(ctx context.Context) ([]store.Template, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+templateColumns+` FROM notify_templates ORDER BY slug, locale`)
	if err != nil {
		return nil, fmt.Errorf("list templates: %w", err)
	}
	defer rows.Close()
	var out []store.Template
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
func (s *Store) GetTemplate(ctx context.Context, slug, locale string) (store.Template, error) {
	t, err := scanTemplate(s.db.QueryRowContext(ctx, `SELECT `+templateColumns+` FROM notify_templates
		WHERE slug = ? AND locale = ?`, slug, locale))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Template{}, store.ErrTemplateNotFound
	}
	if err != nil {
		return store.Template{}, fmt.Errorf("get template %s/%s: %w", slug, locale, err)
	}
	return t, nil
}

// FindActiveTemplate is the lookup of a send: the active template of slug in
// locale, else in any active locale (ordered by locale).
func (s *Store) FindActiveTemplate(ctx context.Context, slug, locale string) (store.Template, error) {
	t, err := scanTemplate(s.db.QueryRowContext(ctx, `SELECT `+templateColumns+` FROM notify_templates
		WHERE slug = ? AND is_active = 1 ORDER BY (locale = ?) DESC, locale LIMIT 1`, slug, locale))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Template{}, store.ErrTemplateNotFound
	}
	if err != nil {
		return store.Template{}, fmt.Errorf("find template %s: %w", slug, err)
	}
	return t, nil
}

// CreateTemplate inserts a custom template and returns its id.
func (s *Store) CreateTemplate(ctx context.Context, t store.NewTemplate) (string, error) {
	var vars any
	if t.Variables != nil {
		b, err := json.Marshal(t.Variables)
		if err != nil {
			return "", fmt.Errorf("encode template variables: %w", err)
		}
		vars = string(b)
	}
	id, now := sqlitedb.NewUUID(), s.ts()
	_, err := s.db.ExecContext(ctx, `
		INSERT INTO notify_templates (id, slug, app_id, channel, subject, body_template, locale, variables,
		                              created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		id, t.Slug, sqlitedb.Null(t.AppID), string(t.Channel), sqlitedb.Null(t.Subject), t.BodyTemplate, t.Locale, vars,
		now, now)
	if isUniqueViolation(err) {
		return "", store.ErrTemplateExists
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
// store.ErrTemplateNotFound.
func (s *Store) UpdateTemplate(ctx context.Context, slug, locale string, u store.TemplateUpdate) error {
	res, err := s.db.ExecContext(ctx, `
		UPDATE notify_templates
		SET subject = COALESCE(?, subject), body_template = COALESCE(?, body_template),
		    is_active = COALESCE(?, is_active), updated_at = ?
		WHERE slug = ? AND locale = ? AND is_system = 0`, u.Subject, u.BodyTemplate, u.IsActive, s.ts(), slug, locale)
	if err != nil {
		return fmt.Errorf("update template %s/%s: %w", slug, locale, err)
	}
	return oneRow(res, store.ErrTemplateNotFound)
}

// DeleteTemplate deletes every locale of a custom template.
func (s *Store) DeleteTemplate(ctx context.Context, slug string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM notify_templates WHERE slug = ? AND is_system = 0`, slug)
	if err != nil {
		return fmt.Errorf("delete template %s: %w", slug, err)
	}
	return oneRow(res, store.ErrTemplateNotFound)
}
