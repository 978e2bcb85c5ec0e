package auth

import "time"

// LockoutPolicy: Threshold failures within Window lock the account until the
// last of them plus Lock (seed contract §3.1, DESIGN.md §5.2).
type LockoutPolicy struct {
	Threshold int
	Window    time.Duration
	Lock      time.Duration
}

// DefaultLockout is the contract's policy: 5 failures in 15 minutes lock
// for 30 minutes after the last failure.
var DefaultLockout = LockoutPolicy{Threshold: 5, Window: 15 * time.Minute, Lock: 30 * time.Minute}

// lookback is how far back failures can matter: a burst that ended Lock ago
// may have started Window before that.
func (p LockoutPolicy) lookback() time.Duration { return p.Window + p.Lock }

// Evaluate decides from the newest failures (newest first) whether the account
// is locked at now and for how long. The lock lasts the advertised time: it
// is held by the Threshold newest failures having fallen within one Window,
// not by them still being inside the window now (docs/compatibility.md).
func (p LockoutPolicy) Evaluate(newestFirst []time.Time, now time.Time) (locked bool, remaining time.Duration) {
	if len(newestFirst) < p.Threshold {
		return false, 0
	}
	last := newestFirst[0]
	first := newestFirst[p.Threshold-1]
	if last.Sub(first) > p.Window {
		return false, 0
	}
	until := last.Add(p.Lock)
	if !now.Before(until) {
		return false, 0
	}
	return true, until.Sub(now)
}
