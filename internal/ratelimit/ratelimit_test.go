package ratelimit

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestMemoryWindow(t *testing.T) {
	c := &clock{t: time.Unix(1_700_000_000, 0)}
	m := NewMemory(c.now)
	rule := Rule{Limit: 3, Window: 10 * time.Second}
	ctx := context.Background()
	var got []bool
	firstBlocked := 0
	for range 6 {
		r, err := m.Take(ctx, "ip:1", rule)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, r.Allowed)
		if r.FirstBlocked {
			firstBlocked++
		}
	}
	want := []bool{true, true, true, false, false, false}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("allowed = %v, want %v", got, want)
		}
	}
	// Negative control: a limiter that flagged every blocked request would
	// write one audit row per request of a flood.
	if firstBlocked != 1 {
		t.Errorf("FirstBlocked reported %d times in one window, want 1", firstBlocked)
	}
	// Other keys are independent.
	if r, _ := m.Take(ctx, "ip:2", rule); !r.Allowed {
		t.Error("a second client was blocked by the first one's window")
	}
	c.t = c.t.Add(4 * time.Second)
	r, _ := m.Take(ctx, "ip:1", rule)
	if r.Allowed || r.RetryAfter != 6*time.Second {
		t.Errorf("mid-window: allowed=%v retryAfter=%s, want blocked with 6s left", r.Allowed, r.RetryAfter)
	}
	c.t = c.t.Add(6 * time.Second)
	if r, _ := m.Take(ctx, "ip:1", rule); !r.Allowed || r.Count != 1 {
		t.Errorf("after the window: %+v, want a fresh window", r)
	}
}

// Exactly Limit requests pass when many goroutines race on one key.
func TestMemoryConcurrent(t *testing.T) {
	m := NewMemory(nil)
	rule := Rule{Limit: 25, Window: time.Minute}
	var wg sync.WaitGroup
	var mu sync.Mutex
	allowed := 0
	for range 200 {
		wg.Go(func() {
			r, err := m.Take(context.Background(), "k", rule)
			if err != nil {
				t.Error(err)
				return
			}
			if r.Allowed {
				mu.Lock()
				allowed++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if allowed != 25 {
		t.Fatalf("%d requests allowed, want 25", allowed)
	}
}

func TestMemorySweepsExpiredWindows(t *testing.T) {
	c := &clock{t: time.Unix(0, 0)}
	m := NewMemory(c.now)
	rule := Rule{Limit: 1, Window: time.Second}
	for i := range sweepEvery - 1 {
		if _, err := m.Take(context.Background(), string(rune('a'+i%26))+strings.Repeat("x", i/26), rule); err != nil {
			t.Fatal(err)
		}
	}
	c.t = c.t.Add(2 * time.Second)
	if _, err := m.Take(context.Background(), "last", rule); err != nil {
		t.Fatal(err)
	}
	m.mu.Lock()
	n := len(m.windows)
	m.mu.Unlock()
	if n != 1 {
		t.Fatalf("%d windows kept after a sweep, want only the live one", n)
	}
}

func TestParseRules(t *testing.T) {
	defaults := Rules{"login": {20, time.Minute}, "register": {20, time.Hour}}
	got, err := ParseRules(defaults, " login=5/10s , ")
	if err != nil {
		t.Fatal(err)
	}
	if got["login"] != (Rule{5, 10 * time.Second}) || got["register"] != defaults["register"] {
		t.Fatalf("got %v", got)
	}
	if defaults["login"].Limit != 20 {
		t.Fatal("ParseRules changed its defaults")
	}
	for _, bad := range []string{"logn=5/10s", "login=5", "login=0/1m", "login=x/1m", "login=5/1ms", "login"} {
		if _, err := ParseRules(defaults, bad); err == nil {
			t.Errorf("%q: want an error", bad)
		}
	}
	if s := got.String(); s != "login=5/10s,register=20/1h0m0s" {
		t.Errorf("String() = %q", s)
	}
}
