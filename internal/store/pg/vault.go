package pg

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mana/mana/internal/vault"
)

// VaultStore implements vault.Store. Every transaction sets
// app.current_user_id (transaction-local), so the row-level security
// policies of contract §5.9 hold when the service connects as a role that is
// subject to them (not a superuser, no BYPASSRLS).
type VaultStore struct {
	pool *pgxpool.Pool
}

// NewVaultStore returns a vault store over pool.
func NewVaultStore(pool *pgxpool.Pool) *VaultStore { return &VaultStore{pool: pool} }

var _ vault.Store = (*VaultStore)(nil)

// setUser scopes the transaction to userID for row-level security.
const setUser = `SELECT set_config('app.current_user_id', $1, true)`

// InUserTx scopes the transaction to userID and serialises that user's vault
// operations with a transaction advisory lock (two concurrent first /init
// calls must not both insert).
func (s *VaultStore) InUserTx(ctx context.Context, userID string, fn func(vault.Tx) error) error {
	if userID == "" {
		return errors.New("vault store: empty user id")
	}
	return inTx(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, setUser+`, pg_advisory_xact_lock(hashtextextended('mana.vault:' || $1, 0))`, userID); err != nil {
			return fmt.Errorf("vault: scope transaction to user: %w", err)
		}
		return fn(&vaultTx{tx: tx, userID: userID})
	})
}

type vaultTx struct {
	tx     pgx.Tx
	userID string
}

func (t *vaultTx) Vault(ctx context.Context) (vault.Row, bool, error) {
	var (
		r                           = vault.Row{UserID: t.userID}
		wrapped, iv, recWrap, recIV *string
		kekID                       string
		scheme, fv, rfv             int16
	)
	err := t.tx.QueryRow(ctx, `SELECT wrapped_mk, wrap_iv, kek_id, wrap_scheme, format_version, recovery_wrapped_mk,
			recovery_iv, recovery_format_version, recovery_set_at, zero_knowledge, rotated_at
		FROM auth.encryption_vaults WHERE user_id = $1 FOR UPDATE`, t.userID).
		Scan(&wrapped, &iv, &kekID, &scheme, &fv, &recWrap, &recIV, &rfv, &r.RecoverySetAt, &r.ZeroKnowledge, &r.RotatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return vault.Row{}, false, nil
	}
	if err != nil {
		return vault.Row{}, false, fmt.Errorf("vault: read row: %w", err)
	}
	if wrapped != nil && iv != nil {
		r.Server = &vault.Wrapped{WrappedMK: *wrapped, WrapIV: *iv, KEKID: kekID, Scheme: int(scheme)}
	}
	r.FormatVersion, r.RecoveryFormatVersion = int(fv), int(rfv)
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
func server(r vault.Row) (wrapped, iv, kekID *string, scheme *int16) {
	if r.Server == nil {
		return nil, nil, nil, nil
	}
	s := int16(r.Server.Scheme)
	return &r.Server.WrappedMK, &r.Server.WrapIV, &r.Server.KEKID, &s
}

func (t *vaultTx) InsertVault(ctx context.Context, r vault.Row) error {
	wrapped, iv, kekID, scheme := server(r)
	if _, err := t.tx.Exec(ctx, `INSERT INTO auth.encryption_vaults (user_id, wrapped_mk, wrap_iv, kek_id, wrap_scheme,
			format_version, recovery_format_version) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		t.userID, wrapped, iv, kekID, scheme, r.FormatVersion, r.RecoveryFormatVersion); err != nil {
		return fmt.Errorf("vault: insert row: %w", err)
	}
	return nil
}

func (t *vaultTx) UpdateVault(ctx context.Context, r vault.Row) error {
	wrapped, iv, kekID, scheme := server(r)
	tag, err := t.tx.Exec(ctx, `UPDATE auth.encryption_vaults SET wrapped_mk = $2, wrap_iv = $3,
			kek_id = coalesce($4, kek_id), wrap_scheme = coalesce($5, wrap_scheme),
			recovery_wrapped_mk = $6, recovery_iv = $7, recovery_format_version = $8, recovery_set_at = $9,
			zero_knowledge = $10, rotated_at = $11
		WHERE user_id = $1`,
		t.userID, wrapped, iv, kekID, scheme, null(r.RecoveryWrappedMK), null(r.RecoveryIV), r.RecoveryFormatVersion,
		r.RecoverySetAt, r.ZeroKnowledge, r.RotatedAt)
	if err != nil {
		return fmt.Errorf("vault: update row: %w", err)
	}
	if tag.RowsAffected() != 1 {
		return fmt.Errorf("vault: update row: %d rows affected, want 1", tag.RowsAffected())
	}
	return nil
}

func (t *vaultTx) InsertAudit(ctx context.Context, a vault.Audit) error {
	return insertVaultAudit(ctx, t.tx, a)
}

func insertVaultAudit(ctx context.Context, tx pgx.Tx, a vault.Audit) error {
	if _, err := tx.Exec(ctx, `INSERT INTO auth.encryption_vault_audit (id, user_id, action, ip_address, user_agent, context, status)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, a.ID, a.UserID, a.Action, null(a.IP), null(a.UserAgent), null(a.Context), a.Status); err != nil {
		return fmt.Errorf("vault: insert audit row: %w", err)
	}
	return nil
}

func (t *vaultTx) RollbackWindow(ctx context.Context) (bool, error) { return rollbackWindow(ctx, t.tx) }
