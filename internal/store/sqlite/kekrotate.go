package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/mana/mana/internal/audit"
	"github.com/mana/mana/internal/kekrotate"
	"github.com/mana/mana/internal/token"
	"github.com/mana/mana/internal/vault"
)

var _ kekrotate.Store = (*VaultStore)(nil)

// CountUsers counts auth_users.
func (s *VaultStore) CountUsers(ctx context.Context) (int, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM auth_users`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count users: %w", err)
	}
	return n, nil
}

// UserIDsAfter pages through auth_users by id (keyset, no OFFSET).
func (s *VaultStore) UserIDsAfter(ctx context.Context, after string, limit int) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id FROM auth_users WHERE id > ? ORDER BY id LIMIT ?`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("list users after %q: %w", after, err)
	}
	ids, err := collect(rows, func(r *sql.Rows) (string, error) {
		var id string
		return id, r.Scan(&id)
	})
	if err != nil {
		return nil, fmt.Errorf("list users after %q: %w", after, err)
	}
	return ids, nil
}

// readWraps reads the users' server wraps inside tx, one query per user
// (SQLite is in-process: there is no round trip to save by batching).
func readWraps(ctx context.Context, tx *sql.Tx, userIDs []string) ([]kekrotate.VaultWrap, error) {
	var out []kekrotate.VaultWrap
	for _, id := range userIDs {
		rows, err := tx.QueryContext(ctx, `SELECT wrapped_mk, wrap_iv, kek_id, wrap_scheme FROM auth_encryption_vaults
			WHERE user_id = ? AND wrapped_mk IS NOT NULL AND wrap_iv IS NOT NULL`, id)
		if err != nil {
			return nil, fmt.Errorf("read vault of user %s: %w", id, err)
		}
		wraps, err := collect(rows, func(r *sql.Rows) (kekrotate.VaultWrap, error) {
			w := kekrotate.VaultWrap{UserID: id}
			return w, r.Scan(&w.Wrap.WrappedMK, &w.Wrap.WrapIV, &w.Wrap.KEKID, &w.Wrap.Scheme)
		})
		if err != nil {
			return nil, fmt.Errorf("read vault of user %s: %w", id, err)
		}
		out = append(out, wraps...)
	}
	return out, nil
}

// ServerWraps reads the users' server wraps.
func (s *VaultStore) ServerWraps(ctx context.Context, userIDs []string) ([]kekrotate.VaultWrap, error) {
	var out []kekrotate.VaultWrap
	err := inTx(ctx, s.db, func(tx *sql.Tx) error {
		var err error
		out, err = readWraps(ctx, tx, userIDs)
		return err
	})
	return out, err
}

// RewrapVaults reads, re-wraps and audits the users' vaults in one
// transaction; its write lock (BEGIN IMMEDIATE) keeps every concurrent vault
// operation out, as FOR UPDATE does on Postgres.
func (s *VaultStore) RewrapVaults(ctx context.Context, userIDs []string, next func(kekrotate.VaultWrap) (vault.Wrapped, bool)) (int, error) {
	var n int
	err := inTx(ctx, s.db, func(tx *sql.Tx) error {
		n = 0
		wraps, err := readWraps(ctx, tx, userIDs)
		if err != nil {
			return err
		}
		for _, old := range wraps {
			w, change := next(old)
			if !change {
				continue
			}
			res, err := tx.ExecContext(ctx, `UPDATE auth_encryption_vaults SET wrapped_mk = ?, wrap_iv = ?, kek_id = ?, wrap_scheme = ?
				WHERE user_id = ? AND wrapped_mk = ? AND kek_id = ?`,
				w.WrappedMK, w.WrapIV, w.KEKID, w.Scheme, old.UserID, old.Wrap.WrappedMK, old.Wrap.KEKID)
			if err != nil {
				return fmt.Errorf("re-wrap vault of user %s: %w", old.UserID, err)
			}
			if got, err := res.RowsAffected(); err != nil {
				return fmt.Errorf("re-wrap vault of user %s: %w", old.UserID, err)
			} else if got != 1 {
				return fmt.Errorf("re-wrap vault of user %s: %d rows updated, want 1", old.UserID, got)
			}
			if err := insertVaultAudit(ctx, tx, s.now(), vault.Audit{ID: vault.NewAuditID(), UserID: old.UserID, Action: vault.ActionKEKRewrap,
				Context: fmt.Sprintf("%s scheme %d -> %s scheme %d", old.Wrap.KEKID, old.Wrap.Scheme, w.KEKID, w.Scheme), Status: 200}); err != nil {
				return fmt.Errorf("audit re-wrap of user %s: %w", old.UserID, err)
			}
			n++
		}
		return nil
	})
	return n, err
}

// SigningKeys reads auth_jwks.
func (s *VaultStore) SigningKeys(ctx context.Context) ([]token.StoredKey, error) {
	return loadKeys(ctx, s.db)
}

// ResealSigningKey swaps a signing key's sealed private half and records a
// KEK_REWRAP security event in the same transaction.
func (s *VaultStore) ResealSigningKey(ctx context.Context, old, resealed token.StoredKey) (bool, error) {
	var ok bool
	err := inTx(ctx, s.db, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE auth_jwks SET private_key = ?, kek_id = ? WHERE id = ? AND private_key = ? AND coalesce(kek_id, '') = ?`,
			resealed.PrivateKey, resealed.KEKID, old.ID, old.PrivateKey, old.KEKID)
		if err != nil {
			return fmt.Errorf("re-seal signing key %s: %w", old.ID, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("re-seal signing key %s: %w", old.ID, err)
		}
		if ok = n == 1; !ok {
			return nil
		}
		return insertEvent(ctx, tx, s.now(), audit.Event{Type: audit.KEKRewrap,
			Metadata: map[string]any{"kid": old.ID, "from": old.KEKID, "to": resealed.KEKID}})
	})
	return ok, err
}
