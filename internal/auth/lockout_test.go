package auth

import (
	"testing"
	"time"
)

func TestLockoutEvaluate(t *testing.T) {
	p := DefaultLockout
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	ago := func(d time.Duration) time.Time { return now.Add(-d) }
	burst := func(last time.Duration, spacing time.Duration, n int) []time.Time {
		out := make([]time.Time, n)
		for i := range out {
			out[i] = ago(last + time.Duration(i)*spacing)
		}
		return out
	}
	tests := []struct {
		name          string
		failures      []time.Time
		wantLocked    bool
		wantRemaining time.Duration
	}{
		// Negative control: changing `len(newestFirst) < p.Threshold` to `<=` makes this pass-through case lock nothing.
		{"five failures just now lock for the full 30 minutes", burst(0, time.Second, 5), true, 30 * time.Minute},
		{"four failures do not lock", burst(0, time.Second, 4), false, 0},
		// The old service let the lock lapse after 15 minutes although it advertised 30;
		// here the lock holds until the last failure + 30 minutes.
		{"twenty minutes after the fifth failure the lock still holds", burst(20*time.Minute, time.Second, 5), true, 10 * time.Minute},
		{"thirty minutes after the last failure the lock is over", burst(30*time.Minute, time.Second, 5), false, 0},
		{"five failures spread over more than the window do not lock", burst(0, 4*time.Minute, 5), false, 0},
		{"five failures exactly within the window lock", burst(0, 15*time.Minute/4, 5), true, 30 * time.Minute},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			locked, remaining := p.Evaluate(tc.failures, now)
			if locked != tc.wantLocked || remaining != tc.wantRemaining {
				t.Fatalf("Evaluate = (%v, %v), want (%v, %v)", locked, remaining, tc.wantLocked, tc.wantRemaining)
			}
		})
	}
}

func TestLockedErrorRoundsUp(t *testing.T) {
	// A client told "0 seconds" would retry into the lock; we round up and never say 0.
	for _, tc := range []struct {
		d    time.Duration
		want int
	}{{1500 * time.Millisecond, 2}, {time.Millisecond, 1}, {30 * time.Minute, 1800}} {
		if got := (&LockedError{Remaining: tc.d}).RemainingSeconds(); got != tc.want {
			t.Errorf("RemainingSeconds(%v) = %d, want %d", tc.d, got, tc.want)
		}
	}
}
