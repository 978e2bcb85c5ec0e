package pg

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/mana/mana/internal/audit"
	"github.com/mana/mana/internal/kekrotate"
	"github.com/mana/mana/internal/token"
	"github.com/mana/mana/internal/vault"
)

var _ kekrotate.Store = (*VaultStore)(nil)

// CountUsers counts auth.users (which has no row-level security).
func (s *VaultStore) CountUsers(ctx context.Context) (int, error) {
	var n int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM auth.users`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count users: %w", err)
	}
	return n, nil
}

// UserIDsAfter pages through auth.users by id (keyset, no OFFSET).
func (s *VaultStore) UserIDsAfter(ctx context.Context, after string, limit int) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT id FROM auth.users WHERE id > $1 ORDER BY id LIMIT $2`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("list users after %q: %w", after, err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("list users after %q: %w", after, err)
	}
	return ids, nil
}

// readWraps reads the users' server wraps inside tx, each under its own
// app.current_user_id (so row-level security lets exactly that row through),
// pipelined in one round trip.
func readWraps(ctx context.Context, tx pgx.Tx, userIDs []string, lock string) ([]kekrotate.VaultWrap, error) {
	b := &pgx.Batch{}
	for _, id := range userIDs {
		b.Queue(setUser, id)
		b.Queue(`SELECT wrapped_mk, wrap_iv, kek_id, wrap_scheme FROM auth.encryption_vaults
			WHERE user_id = $1 AND wrapped_mk IS NOT NULL AND wrap_iv IS NOT NULL `+lock, id)
	}
	res := tx.SendBatch(ctx, b)
	var out []kekrotate.VaultWrap
	for _, id := range userIDs {
		if _, err := res.Exec(); err != nil {
			return nil, closeBatch(res, fmt.Errorf("scope to user %s: %w", id, err))
		}
		var w kekrotate.VaultWrap
		var scheme int16
		err := res.QueryRow().Scan(&w.Wrap.WrappedMK, &w.Wrap.WrapIV, &w.Wrap.KEKID, &scheme)
		if errors.Is(err, pgx.ErrNoRows) {
			continue
		}
		if err != nil {
			return nil, closeBatch(res, fmt.Errorf("read vault of user %s: %w", id, err))
		}
		w.UserID, w.Wrap.Scheme = id, int(scheme)
		out = append(out, w)
	}
	return out, closeBatch(res, nil)
}

func closeBatch(res pgx.BatchResults, err error) error {
	if cerr := res.Close(); cerr != nil && err == nil {
		return fmt.Errorf("batch: %w", cerr)
	}
	return err
}

// ServerWraps reads the users' server wraps without locking them.
func (s *VaultStore) ServerWraps(ctx context.Context, userIDs []string) ([]kekrotate.VaultWrap, error) {
	var out []kekrotate.VaultWrap
	err := inTx(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		out, err = readWraps(ctx, tx, userIDs, "")
		return err
	})
	return out, err
}

// RewrapVaults locks the users' rows (FOR UPDATE: a concurrent vault
// operation of the service waits, and we never overwrite a wrap it just
// wrote), then updates each changed wrap and audits it, in one transaction.
func (s *VaultStore) RewrapVaults(ctx context.Context, userIDs []string, next func(kekrotate.VaultWrap) (vault.Wrapped, bool)) (int, error) {
	var n int
	err := inTx(ctx, s.pool, func(tx pgx.Tx) error {
		n = 0
		wraps, err := readWraps(ctx, tx, userIDs, "FOR UPDATE")
		if err != nil {
			return err
		}
		b := &pgx.Batch{}
		var changed []kekrotate.VaultWrap
		for _, old := range wraps {
			w, change := next(old)
			if !change {
				continue
			}
			changed = append(changed, old)
			b.Queue(setUser, old.UserID)
			b.Queue(`UPDATE auth.encryption_vaults SET wrapped_mk = $2, wrap_iv = $3, kek_id = $4, wrap_scheme = $5
				WHERE user_id = $1 AND wrapped_mk = $6 AND kek_id = $7`,
				old.UserID, w.WrappedMK, w.WrapIV, w.KEKID, int16(w.Scheme), old.Wrap.WrappedMK, old.Wrap.KEKID)
			b.Queue(`INSERT INTO auth.encryption_vault_audit (id, user_id, action, context, status) VALUES ($1, $2, $3, $4, 200)`,
				vault.NewAuditID(), old.UserID, vault.ActionKEKRewrap,
				fmt.Sprintf("%s scheme %d -> %s scheme %d", old.Wrap.KEKID, old.Wrap.Scheme, w.KEKID, w.Scheme))
		}
		if len(changed) == 0 {
			return nil
		}
		res := tx.SendBatch(ctx, b)
		for _, c := range changed {
			if _, err := res.Exec(); err != nil {
				return closeBatch(res, fmt.Errorf("scope to user %s: %w", c.UserID, err))
			}
			tag, err := res.Exec()
			if err != nil {
				return closeBatch(res, fmt.Errorf("re-wrap vault of user %s: %w", c.UserID, err))
			}
			if tag.RowsAffected() != 1 {
				return closeBatch(res, fmt.Errorf("re-wrap vault of user %s: %d rows updated, want 1", c.UserID, tag.RowsAffected()))
			}
			if _, err := res.Exec(); err != nil {
				return closeBatch(res, fmt.Errorf("audit re-wrap of user %s: %w", c.UserID, err))
			}
			n++
		}
		return closeBatch(res, nil)
	})
	return n, err
}

// SigningKeys reads auth.jwks.
func (s *VaultStore) SigningKeys(ctx context.Context) ([]token.StoredKey, error) {
	return (&AuthStore{pool: s.pool}).LoadKeys(ctx)
}

// ResealSigningKey swaps a signing key's sealed private half and records a
// KEK_REWRAP security event in the same transaction.
func (s *VaultStore) ResealSigningKey(ctx context.Context, old, resealed token.StoredKey) (bool, error) {
	var ok bool
	err := inTx(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE auth.jwks SET private_key = $2, kek_id = $3 WHERE id = $1 AND private_key = $4 AND coalesce(kek_id, '') = $5`,
			old.ID, resealed.PrivateKey, resealed.KEKID, old.PrivateKey, old.KEKID)
		if err != nil {
			return fmt.Errorf("re-seal signing key %s: %w", old.ID, err)
		}
		if ok = tag.RowsAffected() == 1; !ok {
			return nil
		}
		return (&txn{tx: tx}).InsertEvent(ctx, audit.Event{Type: audit.KEKRewrap,
			Metadata: map[string]any{"kid": old.ID, "from": old.KEKID, "to": resealed.KEKID}})
	})
	return ok, err
}
