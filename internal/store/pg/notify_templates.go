package pg

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/mana/mana/internal/notify"
)

const templateColumns = `id::text, slug, app_id, channel::text, subject, body_template, locale, is_active, is_system,
	variables, created_at, updated_at`

func scanTemplate(row pgx.Row) (notify.Template, error) {
	var t notify.Template
	var channel string
	err := row.Scan(&t.ID, &t.Slug, &t.AppID, &channel, &t.Subject, &t.BodyTemplate, &t.Locale, &t.IsActive,
		&t.IsSystem, &t.Variables, &t.CreatedAt, &t.UpdatedAt)
	t.Channel = notify.Channel(channel)
	return t, err
}

// SeedSystemTemplates inserts the built-in templates, and brings existing
// system rows up to date; a custom template with the same slug+locale is left alone.
func (s *NotifyStore) SeedSystemTemplates(ctx context.Context, ts []notify.NewTemplate) error {
	for _, t := range ts {
		vars, err := json.Marshal(t.Variables)
		if err != nil {
			return fmt.Errorf("encode variables of %s: %w", t.Slug, err)
		}
		if _, err := s.pool.Exec(ctx, `
			INSERT INTO notify.templates (slug, channel, subject, body_template, locale, is_system, variables)
			VALUES ($1, $2::notify.channel_type, NULLIF($3, ''), $4, $5, true, $6::jsonb)
			ON CONFLICT (slug, locale) DO UPDATE
			SET subject = EXCLUDED.subject, body_template = EXCLUDED.body_template, variables = EXCLUDED.variables,
			    channel = EXCLUDED.channel, is_active = true, updated_at = now()
			WHERE notify.templates.is_system`,
			t.Slug, string(t.Channel), t.Subject, t.BodyTemplate, t.Locale, string(vars)); err != nil {
			return fmt.Errorf("seed template %s: %w", t.Slug, err)
		}
	}
	return nil
}

// ListTemplates returns every template, ordered by slug and locale.
func (s *NotifyStore) ListTemplates(ctx context.Context) ([]notify.Template, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+templateColumns+` FROM notify.templates ORDER BY slug, locale`)
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
	t, err := scanTemplate(s.pool.QueryRow(ctx, `SELECT `+templateColumns+` FROM notify.templates
		WHERE slug = $1 AND locale = $2`, slug, locale))
	if errors.Is(err, pgx.ErrNoRows) {
		return notify.Template{}, notify.ErrTemplateNotFound
	}
	if err != nil {
		return notify.Template{}, fmt.Errorf("get template %s/%s: %w", slug, locale, err)
	}
	return t, nil
}

// FindActiveTemplate is the lookup of a send: the active template of slug in
// locale, else in any active locale (ordered by locale), as the contract does.
func (s *NotifyStore) FindActiveTemplate(ctx context.Context, slug, locale string) (notify.Template, error) {
	t, err := scanTemplate(s.pool.QueryRow(ctx, `SELECT `+templateColumns+` FROM notify.templates
		WHERE slug = $1 AND is_active ORDER BY (locale = $2) DESC, locale LIMIT 1`, slug, locale))
	if errors.Is(err, pgx.ErrNoRows) {
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
	var id string
	err := s.pool.QueryRow(ctx, `
		INSERT INTO notify.templates (slug, app_id, channel, subject, body_template, locale, variables)
		VALUES ($1, NULLIF($2, ''), $3::notify.channel_type, NULLIF($4, ''), $5, $6, $7::jsonb)
		RETURNING id::text`, t.Slug, t.AppID, string(t.Channel), t.Subject, t.BodyTemplate, t.Locale, vars).Scan(&id)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return "", notify.ErrTemplateExists
	}
	if err != nil {
		return "", fmt.Errorf("create template %s: %w", t.Slug, err)
	}
	return id, nil
}

// UpdateTemplate changes a custom template; system templates are ErrTemplateNotFound.
func (s *NotifyStore) UpdateTemplate(ctx context.Context, slug, locale string, u notify.TemplateUpdate) error {
	tag, err := s.pool.Exec(ctx, `
		UPDATE notify.templates
		SET subject = COALESCE($3, subject), body_template = COALESCE($4, body_template),
		    is_active = COALESCE($5, is_active), updated_at = now()
		WHERE slug = $1 AND locale = $2 AND NOT is_system`, slug, locale, u.Subject, u.BodyTemplate, u.IsActive)
	if err != nil {
		return fmt.Errorf("update template %s/%s: %w", slug, locale, err)
	}
	if tag.RowsAffected() == 0 {
		return notify.ErrTemplateNotFound
	}
	return nil
}

// DeleteTemplate deletes every locale of a custom template.
func (s *NotifyStore) DeleteTemplate(ctx context.Context, slug string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM notify.templates WHERE slug = $1 AND NOT is_system`, slug)
	if err != nil {
		return fmt.Errorf("delete template %s: %w", slug, err)
	}
	if tag.RowsAffected() == 0 {
		return notify.ErrTemplateNotFound
	}
	return nil
}
