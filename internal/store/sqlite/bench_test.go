package sqlite_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/mana/mana/internal/audit"
	"github.com/mana/mana/internal/auth"
)

// BenchmarkFailedLoginTx measures the store's side of one failed login on
// SQLite: the transaction that re-reads the recent failures, records the
// attempt and its audit row, and commits (synchronous=FULL: one fsync per
// commit). One goroutine, then 8 per CPU (they queue for the single write
// lock, so the figure is the write throughput, not a speed-up).
func BenchmarkFailedLoginTx(b *testing.B) {
	ctx := context.Background()
	for _, par := range []int{1, 8} {
		b.Run(fmt.Sprintf("parallelism=%d", par), func(b *testing.B) {
			be := openBackend(b, filepath.Join(b.TempDir(), "bench.db")).Store
			b.SetParallelism(par)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					i++
					email := fmt.Sprintf("bench-%d@example.com", i%100)
					err := be.InTx(ctx, func(tx auth.Tx) error {
						if _, err := tx.RecentFailures(ctx, email, time.Now().Add(-45*time.Minute), 5); err != nil {
							return err
						}
						if err := tx.InsertFailedAttempt(ctx, email, "192.0.2.1"); err != nil {
							return err
						}
						return tx.InsertEvent(ctx, audit.Event{Type: audit.LoginFailure, Metadata: map[string]any{"email": email}})
					})
					if err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
