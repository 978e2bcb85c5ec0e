package app

import (
	"context"
	"testing"
	"time"
)

// BenchmarkCreate: one notification and its River job in one transaction
// (synchronous=FULL, so one fsync'd commit each), with no worker running.
func BenchmarkCreate(b *testing.B) {
	r := openNotify(b, b.TempDir(), &fakeMailer{}, false)
	ctx := context.Background()
	for b.Loop() {
		if _, err := r.be.notify.Create(ctx, newEmail(nil)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCreateAndDeliver: b.N notifications created and delivered by the
// River worker (fake mailer); the time per op is the end-to-end throughput.
func BenchmarkCreateAndDeliver(b *testing.B) {
	mail := &fakeMailer{}
	r := openNotify(b, b.TempDir(), mail, true)
	ctx := context.Background()
	b.ResetTimer()
	for range b.N {
		if _, err := r.be.notify.Create(ctx, newEmail(nil)); err != nil {
			b.Fatal(err)
		}
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		n := mail.count()
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
