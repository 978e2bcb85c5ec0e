package notifysqlite_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/mana/mana/internal/notify/metrics"
	"github.com/mana/mana/internal/notify/notifysqlite"
	"github.com/mana/mana/internal/store/sqlitedb"
)

// BenchmarkCreate: one notification and its River job in one transaction
// (synchronous=FULL, so one fsync'd commit each), with no worker running.
func BenchmarkCreate(b *testing.B) {
	ctx := context.Background()
	db, err := sqlitedb.Open(ctx, filepath.Join(b.TempDir(), "mana.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	if _, err := sqlitedb.Migrate(ctx, db, sqlitedb.Notify); err != nil {
		b.Fatal(err)
	}
	be, err := notifysqlite.New(ctx, db, notifysqlite.Config{Metrics: metrics.New(), Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := be.Store.Create(ctx, newEmail(nil)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCreateAndDeliver: b.N notifications created and delivered by the
// River worker (fake mailer); the time per op is the end-to-end throughput.
func BenchmarkCreateAndDeliver(b *testing.B) {
	mail := &fakeMailer{}
	r := start(b, filepath.Join(b.TempDir(), "mana.db"), mail)
	ctx := context.Background()
	b.ResetTimer()
	for range b.N {
		if _, err := r.b.Store.Create(ctx, newEmail(nil)); err != nil {
			b.Fatal(err)
		}
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		mail.mu.Lock()
		n := len(mail.sent)
		mail.mu.Unlock()
		if n >= b.N {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d delivered", n, b.N)
		}
		time.Sleep(5 * time.Millisecond) // polling interval
	}
	b.StopTimer()
	r.stop()
}
