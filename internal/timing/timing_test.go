package timing

import (
	"context"
	"testing"
	"time"
)

// TestMedianIgnoresTheTail: mostly 200ms with a third at 2s settles near
// 200ms (a mean would be near 800ms).
// Negative control: Observe adding d-old (a mean-like step) fails the bound.
func TestMedianIgnoresTheTail(t *testing.T) {
	var m Median
	m.Observe(100*time.Millisecond, true)
	if m.Get() != 0 {
		t.Fatal("onlyIfSet set a cleared estimate")
	}
	m.Observe(150*time.Millisecond, false)
	if m.Get() != 150*time.Millisecond {
		t.Fatalf("first observation gave %s", m.Get())
	}
	for i := range 300 {
		d := 200 * time.Millisecond
		if i%3 == 0 {
			d = 2 * time.Second
		}
		m.Observe(d, true)
	}
	if got := m.Get(); got < 190*time.Millisecond || got > 260*time.Millisecond {
		t.Fatalf("estimate %s, want about 200ms", got)
	}
	m.SetIfNone(time.Second)
	if m.Get() == time.Second {
		t.Fatal("SetIfNone replaced an estimate")
	}
}

// TestWaitUntil: it waits out the deadline (a lower bound the timer
// guarantees) and stops when the context ends.
func TestWaitUntil(t *testing.T) {
	start := time.Now()
	if err := WaitUntil(context.Background(), start.Add(50*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Fatalf("returned after %s", d)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := WaitUntil(ctx, time.Now().Add(time.Hour)); err == nil {
		t.Fatal("a cancelled wait returned no error")
	}
}
