package sqlite_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mana/mana/internal/auth"
	"github.com/mana/mana/internal/randid"
	"github.com/mana/mana/internal/store/sqlite"
	"github.com/mana/mana/internal/token"
	"github.com/mana/mana/internal/vault"
)

// TestConcurrentStartCreatesOneSigningKey: issuers started together on an
// empty database create one signing key, not one each (WithKeyLock).
// Negative control: WithKeyLock without its mutex lets several issuers see
// no key and insert one each.
func TestConcurrentStartCreatesOneSigningKey(t *testing.T) {
	ctx := context.Background()
	store := newBackend(t).Store.(*sqlite.AuthStore)
	ring := ringOf(t, 'K')
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := token.NewIssuer(ctx, token.Config{Store: store, Ring: ring, Issuer: "http://localhost", Audience: "mana", Log: log})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("issuer: %v", err)
		}
	}
	keys, err := store.LoadKeys(ctx)
	if err != nil || len(keys) != 1 {
		t.Fatalf("signing keys after 8 concurrent starts: %d, %v; want 1", len(keys), err)
	}
}

// TestVaultAuditStaysWithItsUser: a user's vault transaction refuses an
// audit row for another user, what row-level security's WITH CHECK does on
// Postgres.
// Negative control: without the check in InsertAudit the row is written
// under the other user.
func TestVaultAuditStaysWithItsUser(t *testing.T) {
	ctx := context.Background()
	b := newBackend(t)
	var ids []string
	for range 2 {
		u := auth.User{ID: randid.UserID(), Name: "v", Email: randid.ID(8) + "@example.com", CreatedAt: time.Now()}
		if err := b.Store.InTx(ctx, func(tx auth.Tx) error { return tx.InsertUser(ctx, u, "") }); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, u.ID)
	}
	err := b.Vaults.InUserTx(ctx, ids[0], func(tx vault.Tx) error {
		return tx.InsertAudit(ctx, vault.Audit{ID: vault.NewAuditID(), UserID: ids[1], Action: vault.ActionKEKRewrap, Status: 200})
	})
	if err == nil || !strings.Contains(err.Error(), "in the transaction of user") {
		t.Fatalf("audit row for another user: %v, want a refusal", err)
	}
}
