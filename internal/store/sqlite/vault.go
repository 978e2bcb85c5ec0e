package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/mana/mana/internal/vault"
)

// VaultStore implements vault.Store and kekrotate.Store. SQLite has no
// row-level security: instead every statement of a user's transaction is
// keyed on that transaction's user id (there is no query that could reach
// another user's row), and the write lock taken at BEGIN serialises two
// concurrent first /init calls of one user.
type VaultStore struct {
	db  *sql.DB
	now func() time.Time
}

// NewVaultStore returns a vault store over db.
func NewVaultStore(db *sql.DB) *VaultStore { return &VaultStore{db: db, now: time.Now} }

var _ vault.Store = (*VaultStore)(nil)

// InUserTx runs fn in one transaction scoped to userID.
func (s *VaultStore) InUserTx(ctx context.Context, userID string, fn func(vault.Tx) error) error {
	if userID == "" {
		return errors.New("vault store: empty user id")
	}
	return inTx(ctx, s.db, func(tx *sql.Tx) error {
		return fn(&vaultTx{tx: tx, userID: userID, now: s.now})
	})
}

type vaultTx struct {
	tx     *sql.Tx
	userID string
	now    func() time.Time
}

func (t *vaultTx) Vault(ctx context.Context) (vault.Row, bool, error) {
	var (
		r                           = vault.Row{UserID: t.userID}
		wrapped, iv, recWrap, recIV *string
		kekID                       string
		scheme, fv, rfv             int
	)
	err := t.tx.QueryRowContext(ctx, `SELECT wrapped_mk, wrap_iv, kek_id, wrap_scheme, format_version, recovery_wrapped_mk,
			recovery_iv, recovery_format_version, recovery_set_at, zero_knowledge, rotated_at
		FROM auth_encryption_vaults WHERE user_id = ?`, t.userID).
		Scan(&wrapped, &iv, &kekID, &scheme, &fv, &recWrap, &recIV, &rfv, NullTimestamp{T: &r.RecoverySetAt},
			&r.ZeroKnowledge, NullTimestamp{T: &r.RotatedAt})
	if errors.Is(err, sql.ErrNoRows) {
		return vault.Row{}, false, nil
	}
	if err != nil {
		return vault.Row{}, false, fmt.Errorf("vault: read row: %w", err)
	}
	if wrapped != nil && iv != nil {
		r.Server = &vault.Wrapped{WrappedMK: *wrapped, WrapIV: *iv, KEKID: kekID, Scheme: scheme}
	}
	r.FormatVersion, r.RecoveryFormatVersion = fv, rfv
	if recWrap != nil {
		r.RecoveryWrappedMK = *recWrap
	}
	if recIV != nil {
		r.RecoveryIV = *recIV
	}
	return r, true, nil
}

// server returns the server-wrap columns; kek_id and wrap_scheme are nil
// without a wrap, and the UPDATE keeps their old values (kek_id is NOT NULL).
func server(r vault.Row) (wrapped, iv, kekID, scheme any) {
	if r.Server == nil {
		return nil, nil, nil, nil
	}
	return r.Server.WrappedMK, r.Server.WrapIV, r.Server.KEKID, r.Server.Scheme
}

func (t *vaultTx) InsertVault(ctx context.Context, r vault.Row) error {
	wrapped, iv, kekID, scheme := server(r)
	if _, err := t.tx.ExecContext(ctx, `INSERT INTO auth_encryption_vaults (user_id, wrapped_mk, wrap_iv, kek_id, wrap_scheme,
			format_version, recovery_format_version, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		t.userID, wrapped, iv, kekID, scheme, r.FormatVersion, r.RecoveryFormatVersion, FormatTime(t.now())); err != nil {
		return fmt.Errorf("vault: insert row: %w", err)
	}
	return nil
}

func (t *vaultTx) UpdateVault(ctx context.Context, r vault.Row) error {
	wrapped, iv, kekID, scheme := server(r)
	res, err := t.tx.ExecContext(ctx, `UPDATE auth_encryption_vaults SET wrapped_mk = ?2, wrap_iv = ?3,
			kek_id = coalesce(?4, kek_id), wrap_scheme = coalesce(?5, wrap_scheme),
			recovery_wrapped_mk = ?6, recovery_iv = ?7, recovery_format_version = ?8, recovery_set_at = ?9,
			zero_knowledge = ?10, rotated_at = ?11
		WHERE user_id = ?1`,
		t.userID, wrapped, iv, kekID, scheme, Null(r.RecoveryWrappedMK), Null(r.RecoveryIV), r.RecoveryFormatVersion,
		NullTime(r.RecoverySetAt), r.ZeroKnowledge, NullTime(r.RotatedAt))
	if err != nil {
		return fmt.Errorf("vault: update row: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("vault: update row: %w", err)
	}
	if n != 1 {
		return fmt.Errorf("vault: update row: %d rows affected, want 1", n)
	}
	return nil
}

func (t *vaultTx) InsertAudit(ctx context.Context, a vault.Audit) error {
	if a.UserID != t.userID {
		// What row-level security's WITH CHECK refuses on Postgres.
		return fmt.Errorf("vault: audit row for user %s in the transaction of user %s", a.UserID, t.userID)
	}
	return insertVaultAudit(ctx, t.tx, t.now(), a)
}

func insertVaultAudit(ctx context.Context, tx *sql.Tx, now time.Time, a vault.Audit) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO auth_encryption_vault_audit (id, user_id, action, ip_address, user_agent, context, status, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, a.ID, a.UserID, a.Action, Null(a.IP), Null(a.UserAgent), Null(a.Context), a.Status,
		FormatTime(now)); err != nil {
		return fmt.Errorf("vault: insert audit row: %w", err)
	}
	return nil
}

func (t *vaultTx) RollbackWindow(ctx context.Context) (bool, error) { return rollbackWindow(ctx, t.tx) }
