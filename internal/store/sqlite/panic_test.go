package sqlite_test

import (
	"context"
	"testing"
	"time"

	"github.com/mana/mana/internal/auth"
)

// TestPanicReleasesTheDatabase: a panic inside a transaction rolls it back
// and gives the single connection back, so the next transaction runs.
// Negative control: without inTx's recover-and-rollback the next InTx waits
// for the connection until its deadline ("context deadline exceeded").
func TestPanicReleasesTheDatabase(t *testing.T) {
	store := newBackend(t).Store
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("the panic did not propagate")
			}
		}()
		_ = store.InTx(context.Background(), func(tx auth.Tx) error {
			if err := tx.InsertFailedAttempt(context.Background(), "panic@example.com", ""); err != nil {
				return err
			}
			panic("boom")
		})
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var recent []time.Time
	err := store.InTx(ctx, func(tx auth.Tx) error {
		var err error
		recent, err = tx.RecentFailures(ctx, "panic@example.com", time.Now().Add(-time.Hour), 10)
		return err
	})
	if err != nil {
		t.Fatalf("transaction after a panic: %v", err)
	}
	if len(recent) != 0 {
		t.Fatalf("the panicking transaction's attempt row was committed: %d rows", len(recent))
	}
}
