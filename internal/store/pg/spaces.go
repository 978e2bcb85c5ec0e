package pg

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/mana/mana/internal/auth"
)

func (t *txn) HasPersonalSpace(ctx context.Context, userID string) (bool, error) {
	var ok bool
	err := t.tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM auth.members m JOIN auth.organizations o ON o.id = m.organization_id
		WHERE m.user_id = $1 AND o.metadata ->> 'type' = 'personal')`, userID).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("has personal space: %w", err)
	}
	return ok, nil
}

func (t *txn) SlugTaken(ctx context.Context, slug string) (bool, error) {
	var ok bool
	if err := t.tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM auth.organizations WHERE slug = $1)`, slug).Scan(&ok); err != nil {
		return false, fmt.Errorf("slug taken: %w", err)
	}
	return ok, nil
}

func (t *txn) InsertSpace(ctx context.Context, s auth.Space) error {
	// ON CONFLICT, not an error: a slug taken by a concurrent sign-up must
	// leave the registration's transaction usable for the next candidate.
	tag, err := t.tx.Exec(ctx, `INSERT INTO auth.organizations (id, name, slug, logo, metadata, created_at, updated_at)
		VALUES ($1, $2, $3, NULL, $4, $5, $5) ON CONFLICT (slug) DO NOTHING`, s.ID, s.Name, s.Slug, s.Metadata, s.CreatedAt)
	if err != nil {
		return fmt.Errorf("insert space: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return auth.ErrConflict
	}
	if _, err := t.tx.Exec(ctx, `INSERT INTO auth.members (id, organization_id, user_id, role, created_at) VALUES ($1, $2, $3, $4, $5)`,
		s.MemberID, s.ID, s.UserID, s.Role, s.CreatedAt); err != nil {
		return fmt.Errorf("insert space member: %w", err)
	}
	return nil
}

func (t *txn) UserSpaces(ctx context.Context, userID string) ([]auth.Space, error) {
	rows, err := t.tx.Query(ctx, `SELECT o.id, o.name, coalesce(o.slug, ''), coalesce(o.metadata, '{}'::jsonb), m.id, m.user_id, m.role, o.created_at
		FROM auth.members m JOIN auth.organizations o ON o.id = m.organization_id
		WHERE m.user_id = $1 ORDER BY o.created_at, o.id`, userID)
	if err != nil {
		return nil, fmt.Errorf("user spaces: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (auth.Space, error) {
		var s auth.Space
		err := r.Scan(&s.ID, &s.Name, &s.Slug, &s.Metadata, &s.MemberID, &s.UserID, &s.Role, &s.CreatedAt)
		return s, err
	})
	if err != nil {
		return nil, fmt.Errorf("user spaces: %w", err)
	}
	return out, nil
}
