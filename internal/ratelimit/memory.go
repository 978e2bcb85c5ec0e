package ratelimit

import (
	"context"
	"sync"
	"time"
)

// sweepEvery is how many Takes pass between sweeps of expired windows, which
// bounds memory under a flood of distinct keys without a background goroutine.
const sweepEvery = 4096

// Memory is a process-local Limiter: correct for one process, per process
// when several run (then configure Redis).
type Memory struct {
	now func() time.Time

	mu      sync.Mutex
	windows map[string]memWindow
	takes   int
}

type memWindow struct {
	count int
	ends  time.Time
}

// NewMemory returns an empty in-memory limiter; now is the clock (time.Now
// when nil), injectable so tests can cross window boundaries without sleeping.
func NewMemory(now func() time.Time) *Memory {
	if now == nil {
		now = time.Now
	}
	return &Memory{now: now, windows: map[string]memWindow{}}
}

// Take implements Limiter.
func (m *Memory) Take(_ context.Context, key string, rule Rule) (Result, error) {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.takes++
	if m.takes%sweepEvery == 0 {
		for k, w := range m.windows {
			if !now.Before(w.ends) {
				delete(m.windows, k)
			}
		}
	}
	w := m.windows[key]
	if !now.Before(w.ends) {
		w = memWindow{ends: now.Add(rule.Window)}
	}
	w.count++
	m.windows[key] = w
	return result(w.count, rule, w.ends.Sub(now)), nil
}
