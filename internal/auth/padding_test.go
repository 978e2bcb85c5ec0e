package auth

import (
	"context"
	"testing"
	"time"
)

// TestCostEqualizerPadsTheCheaperPath: after both paths were observed, a
// run of the cheaper one returns no sooner than the dearer one's average.
// (A lower bound the timer guarantees, not a performance figure.)
// Negative control: pad returning at once fails the bound.
func TestCostEqualizerPadsTheCheaperPath(t *testing.T) {
	var e costEqualizer
	e.observe(registerNew, 120*time.Millisecond)
	e.observe(registerTaken, 10*time.Millisecond)
	start := time.Now()
	e.pad(context.Background(), start)
	if d := time.Since(start); d < 120*time.Millisecond {
		t.Fatalf("the cheaper path returned after %s, want at least 120ms", d)
	}
	// The estimate moves toward new observations.
	for range 300 {
		e.observe(registerNew, 20*time.Millisecond)
	}
	if got := e.median[registerNew].Get(); got > 25*time.Millisecond {
		t.Fatalf("estimate after 300 runs of 20ms = %s", got)
	}
	// A gone client stops waiting.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var slow costEqualizer
	slow.observe(registerNew, time.Hour)
	slow.pad(ctx, time.Now())
}
