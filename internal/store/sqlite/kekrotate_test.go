package sqlite_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/mana/mana/internal/auth"
	"github.com/mana/mana/internal/kek"
	"github.com/mana/mana/internal/kekrotate"
	"github.com/mana/mana/internal/randid"
	"github.com/mana/mana/internal/store/sqlite"
	"github.com/mana/mana/internal/token"
	"github.com/mana/mana/internal/vault"
)

func ringOf(t *testing.T, keys ...byte) *kek.Ring {
	t.Helper()
	var ks [][]byte
	for _, b := range keys {
		ks = append(ks, bytes.Repeat([]byte{b}, kek.KeySize))
	}
	r, err := kek.NewRing(ks[0], ks[1:]...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestKEKRotation moves every vault and the signing key from KEK A to KEK B
// on SQLite (kekrotate.Store), in batches, with one audit row each; after it
// a ring with B alone opens everything. (The Postgres run is
// tests/integration/kek_rotate_test.go, over the HTTP API.)
// Negative control: RewrapVaults without its UPDATE leaves the vaults under
// A, and the ring with B alone refuses to start (CheckRing) and to open them.
func TestKEKRotation(t *testing.T) {
	ctx := context.Background()
	b := newBackend(t)
	store, vaults := b.Store.(*sqlite.AuthStore), b.Vaults.(*sqlite.VaultStore)
	old, both, next := ringOf(t, 'A'), ringOf(t, 'B', 'A'), ringOf(t, 'B')
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if _, err := token.NewIssuer(ctx, token.Config{Store: store, Ring: old, Issuer: "http://localhost", Audience: "mana", Log: log}); err != nil {
		t.Fatal(err)
	}
	keys := map[string][]byte{}
	for range 5 {
		u := auth.User{ID: randid.UserID(), Name: "k", Email: randid.ID(8) + "@example.com", CreatedAt: time.Now()}
		if err := store.InTx(ctx, func(tx auth.Tx) error { return tx.InsertUser(ctx, u, "") }); err != nil {
			t.Fatal(err)
		}
		k, err := vault.NewService(vaults, old).Init(ctx, u.ID, vault.Client{})
		if err != nil {
			t.Fatalf("init vault: %v", err)
		}
		keys[u.ID] = k.MasterKey
	}
	if err := kekrotate.CheckRing(ctx, vaults, next); err == nil {
		t.Fatal("CheckRing accepted a ring without the KEK that wraps every vault")
	}

	sum, err := kekrotate.Rotate(ctx, vaults, both, kekrotate.Options{BatchSize: 2})
	if err != nil {
		t.Fatalf("rotate: %v", err)
	}
	if sum.VaultsRewrapped != 5 || sum.SigningKeysResealed != 1 || sum.VaultsFailed != 0 {
		t.Fatalf("rotation summary %+v; want 5 vaults and 1 signing key re-wrapped", sum)
	}
	if err := kekrotate.CheckRing(ctx, vaults, next); err != nil {
		t.Fatalf("after rotation the new KEK alone is refused: %v", err)
	}
	for id, want := range keys {
		got, err := vault.NewService(vaults, next).Key(ctx, id, vault.Client{})
		if err != nil || !bytes.Equal(got.MasterKey, want) {
			t.Fatalf("key of %s under the new KEK alone: %v; unchanged %v", id, err, bytes.Equal(got.MasterKey, want))
		}
	}
	if _, err := token.NewIssuer(ctx, token.Config{Store: store, Ring: next, Issuer: "http://localhost", Audience: "mana", Log: log}); err != nil {
		t.Fatalf("signing key under the new KEK alone: %v", err)
	}
	var audits, events int
	if err := b.Inspect.(inspector).db.QueryRowContext(ctx, `SELECT
		(SELECT count(*) FROM auth_encryption_vault_audit WHERE action = 'kek_rewrap' AND status = 200),
		(SELECT count(*) FROM auth_security_events WHERE event_type = 'KEK_REWRAP')`).Scan(&audits, &events); err != nil {
		t.Fatal(err)
	}
	if audits != 5 || events != 1 {
		t.Fatalf("audit rows %d, KEK_REWRAP events %d; want 5 and 1", audits, events)
	}
	again, err := kekrotate.Rotate(ctx, vaults, both, kekrotate.Options{})
	if err != nil || again.VaultsRewrapped != 0 || again.VaultsCurrent != 5 {
		t.Fatalf("second rotation: %+v, %v; want nothing to do", again, err)
	}
}
