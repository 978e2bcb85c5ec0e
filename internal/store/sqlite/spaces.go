package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/mana/mana/internal/auth"
)

func (t *txn) HasPersonalSpace(ctx context.Context, userID string) (bool, error) {
	var ok bool
	err := t.tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM auth_members m JOIN auth_organizations o ON o.id = m.organization_id
		WHERE m.user_id = ? AND json_extract(o.metadata, '$.type') = 'personal')`, userID).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("has personal space: %w", err)
	}
	return ok, nil
}

func (t *txn) SlugTaken(ctx context.Context, slug string) (bool, error) {
	var ok bool
	if err := t.tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM auth_organizations WHERE slug = ?)`, slug).Scan(&ok); err != nil {
		return false, fmt.Errorf("slug taken: %w", err)
	}
	return ok, nil
}

func (t *txn) InsertSpace(ctx context.Context, s auth.Space) error {
	meta, err := json.Marshal(s.Metadata)
	if err != nil {
		return fmt.Errorf("insert space: metadata: %w", err)
	}
	created := FormatTime(s.CreatedAt)
	res, err := t.tx.ExecContext(ctx, `INSERT INTO auth_organizations (id, name, slug, logo, metadata, created_at, updated_at)
		VALUES (?, ?, ?, NULL, ?, ?, ?) ON CONFLICT (slug) DO NOTHING`, s.ID, s.Name, s.Slug, string(meta), created, created)
	if err != nil {
		return fmt.Errorf("insert space: %w", err)
	}
	if ok, err := affectedOne(res, "insert space"); err != nil {
		return err
	} else if !ok {
		return auth.ErrConflict
	}
	if _, err := t.tx.ExecContext(ctx, `INSERT INTO auth_members (id, organization_id, user_id, role, created_at) VALUES (?, ?, ?, ?, ?)`,
		s.MemberID, s.ID, s.UserID, s.Role, created); err != nil {
		return fmt.Errorf("insert space member: %w", err)
	}
	return nil
}

func (t *txn) UserSpaces(ctx context.Context, userID string) ([]auth.Space, error) {
	rows, err := t.tx.QueryContext(ctx, `SELECT o.id, o.name, coalesce(o.slug, ''), coalesce(o.metadata, '{}'), m.id, m.user_id, m.role, o.created_at
		FROM auth_members m JOIN auth_organizations o ON o.id = m.organization_id
		WHERE m.user_id = ? ORDER BY o.created_at, o.id`, userID)
	if err != nil {
		return nil, fmt.Errorf("user spaces: %w", err)
	}
	defer rows.Close()
	var out []auth.Space
	for rows.Next() {
		var s auth.Space
		var meta string
		if err := rows.Scan(&s.ID, &s.Name, &s.Slug, &meta, &s.MemberID, &s.UserID, &s.Role, Timestamp{T: &s.CreatedAt}); err != nil {
			return nil, fmt.Errorf("user spaces: %w", err)
		}
		if err := json.Unmarshal([]byte(meta), &s.Metadata); err != nil {
			return nil, fmt.Errorf("user spaces: metadata of %s: %w", s.ID, err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("user spaces: %w", err)
	}
	return out, nil
}

// affectedOne reports whether the statement changed exactly one row.
func affectedOne(res sql.Result, what string) (bool, error) {
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("%s: %w", what, err)
	}
	return n == 1, nil
}
