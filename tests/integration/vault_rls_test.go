//go:build integration

package integration

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mana/mana/internal/kekrotate"
	"github.com/mana/mana/internal/store/pg"
	"github.com/mana/mana/internal/vault"
)

// rlsPool connects as a fresh role that is subject to row-level security
// (no superuser, no BYPASSRLS) with plain table privileges on the vault
// tables — the way contract §5.9 expects a production service to connect.
func rlsPool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	ctx := context.Background()
	role := fmt.Sprintf("it_vault_rls_%d", time.Now().UnixNano())
	for _, sql := range []string{
		`CREATE ROLE ` + role + ` LOGIN NOSUPERUSER NOBYPASSRLS`,
		`GRANT USAGE ON SCHEMA auth TO ` + role,
		`GRANT SELECT, INSERT, UPDATE, DELETE ON auth.encryption_vaults, auth.encryption_vault_audit TO ` + role,
		`GRANT SELECT ON auth.users, auth.jwks, auth.mana_cutover TO ` + role,
		`GRANT INSERT ON auth.security_events TO ` + role,
	} {
		if _, err := db.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	cfg, err := pgxpool.ParseConfig(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.User = role
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		pool.Close()
		for _, sql := range []string{`DROP OWNED BY ` + role, `DROP ROLE ` + role} {
			if _, err := db.Exec(context.Background(), sql); err != nil {
				t.Errorf("cleanup %s: %v", sql, err)
			}
		}
	})
	var bypass bool
	if err := pool.QueryRow(ctx, `SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user`).Scan(&bypass); err != nil || bypass {
		t.Fatalf("the test role bypasses RLS (%v): the test would prove nothing", err)
	}
	return pool
}

// TestVaultRLS: with a role subject to row-level security, the vault service
// works (it sets app.current_user_id in every transaction), a transaction
// sees only its user's rows, and cannot write another user's row; the
// rotation's per-user scan also works under RLS.
//
// Negative control: remove the set_config from VaultStore.InUserTx and Init
// fails with "new row violates row-level security policy".
func TestVaultRLS(t *testing.T) {
	ctx := context.Background()
	pool := rlsPool(t)
	ids := insertUsers(t, "itrls", 2)
	alice, bob := ids[0], ids[1]

	store := pg.NewVaultStore(pool)
	svc := vault.NewService(store, stackRing(t))
	mk, err := svc.Init(ctx, alice, vault.Client{UserAgent: "rls-test"})
	if err != nil {
		t.Fatalf("Init as a role under RLS: %v", err)
	}
	again, err := svc.Key(ctx, alice, vault.Client{})
	if err != nil || string(again.MasterKey) != string(mk.MasterKey) {
		t.Fatalf("Key as a role under RLS: %v", err)
	}
	expectAudits(t, alice, "init", 201, "created", 1)

	count := func(asUser string) int {
		t.Helper()
		var n int
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			if asUser != "" {
				if _, err := tx.Exec(ctx, `SELECT set_config('app.current_user_id', $1, true)`, asUser); err != nil {
					return err
				}
			}
			return tx.QueryRow(ctx, `SELECT count(*) FROM auth.encryption_vaults WHERE user_id = ANY($1)`, ids).Scan(&n)
		})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(""); n != 0 {
		t.Fatalf("without app.current_user_id the role sees %d vault rows, want 0", n)
	}
	if n := count(bob); n != 0 {
		t.Fatalf("as bob the role sees %d vault rows (alice's), want 0", n)
	}
	if n := count(alice); n != 1 {
		t.Fatalf("as alice the role sees %d vault rows, want 1", n)
	}
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT set_config('app.current_user_id', $1, true)`, alice); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO auth.encryption_vaults (user_id, wrapped_mk, wrap_iv) VALUES ($1, 'w', 'i')`, bob)
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "row-level security") {
		t.Fatalf("writing bob's row as alice: want a row-level security violation, got %v", err)
	}
	var pgErr interface{ SQLState() string }
	if !errors.As(err, &pgErr) {
		t.Fatalf("not a Postgres error: %v", err)
	}

	// The rotation's scan reads each user's row under that user's id.
	wraps, err := store.ServerWraps(ctx, ids)
	if err != nil || len(wraps) != 1 || wraps[0].UserID != alice {
		t.Fatalf("ServerWraps under RLS = %+v, %v; want alice's row only", wraps, err)
	}
	// A whole rotation as this role re-wraps bob's row written by the old
	// service under the retired KEK.
	_, previous := stackKEKs(t)
	bobKey := randomKey(t)
	writeVaultRow(t, bob, legacyWrap(ringOf(t, previous), bobKey))
	var progress strings.Builder
	sum, err := kekrotate.Rotate(ctx, store, stackRing(t), kekrotate.Options{Progress: &progress})
	if err != nil || sum.VaultsRewrapped < 1 {
		t.Fatalf("rotation as a role under RLS: %+v, %v\n%s", sum, err, progress.String())
	}
	expectRotated(t, vaultPopulation{ids: []string{bob}, keys: map[string][]byte{bob: bobKey}})
}
