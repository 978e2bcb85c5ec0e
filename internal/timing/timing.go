// Package timing keeps answers from telling things apart by how long they
// take: a running median of a path's cost, and a wait until a deadline.
package timing

import (
	"context"
	"sync/atomic"
	"time"
)

// step is the running median's step, as a fraction of its value.
const step = 0.01

// Median is a running estimate of the median of observed durations: each
// observation moves it one small step toward itself, so a slow tail does
// not drag it up. The zero value is "no estimate" until Set or the first
// Observe. It is safe for concurrent use.
type Median struct {
	ns atomic.Int64
}

// Get is the current estimate (0 = none).
func (m *Median) Get() time.Duration { return time.Duration(m.ns.Load()) }

// Set replaces the estimate; 0 clears it.
func (m *Median) Set(d time.Duration) { m.ns.Store(int64(d)) }

// SetIfNone sets the estimate when there is none.
func (m *Median) SetIfNone(d time.Duration) { m.ns.CompareAndSwap(0, int64(d)) }

// Observe moves the estimate toward d; the first observation sets it
// (unless onlyIfSet, which leaves a cleared estimate alone).
func (m *Median) Observe(d time.Duration, onlyIfSet bool) {
	for {
		old := m.ns.Load()
		if old == 0 {
			if onlyIfSet || m.ns.CompareAndSwap(0, int64(d)) {
				return
			}
			continue
		}
		s := max(int64(step*float64(old)), 1)
		next := old + s
		if int64(d) < old {
			next = old - s
		}
		if next <= 0 || m.ns.CompareAndSwap(old, next) {
			return
		}
	}
}

// WaitUntil returns at deadline, or with ctx's error when ctx ends first.
func WaitUntil(ctx context.Context, deadline time.Time) error {
	wait := time.Until(deadline)
	if wait <= 0 {
		return nil
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
