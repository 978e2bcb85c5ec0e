package revocation

import (
	"testing"
	"time"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

// TestSetVouchesOnlyWhenCurrent: answers are known only between a
// confirmation and maxLag after it, never before the first catch-up, not
// after the feed is lost, and not after a local revocation until a later
// confirmation.
// Negative controls: Revoked ignoring the lag (or localAt) answers "known"
// in the stale (or just-revoked-here) rows.
func TestSetVouchesOnlyWhenCurrent(t *testing.T) {
	c := &clock{t: time.Unix(1_000_000, 0)}
	s := NewSet(time.Second, c.now)
	want := func(what, id string, revoked, known bool) {
		t.Helper()
		if r, k := s.Revoked(id); r != revoked || k != known {
			t.Fatalf("%s: revoked=%v known=%v, want %v %v", what, r, k, revoked, known)
		}
	}
	want("before any catch-up", "a", false, false)
	s.Add(c.t, "a")
	s.Confirm(c.t)
	want("revoked, current", "a", true, true)
	want("live, current", "b", false, true)
	c.t = c.t.Add(1500 * time.Millisecond)
	want("stale", "a", false, false)
	s.Confirm(c.t.Add(-100 * time.Millisecond))
	want("confirmed again", "b", false, true)
	c.t = c.t.Add(time.Millisecond)
	s.LocalRevocation()
	want("just revoked here", "b", false, false)
	c.t = c.t.Add(time.Millisecond)
	s.Confirm(c.t)
	want("confirmed after the local revocation", "b", false, true)
	s.Lost()
	want("feed lost", "a", false, false)
}

// TestPrune: entries older than Retention go, newer ones stay.
func TestPrune(t *testing.T) {
	c := &clock{t: time.Unix(1_000_000, 0)}
	s := NewSet(time.Second, c.now)
	s.Add(c.t.Add(-2*Retention), "old")
	s.Add(c.t.Add(-time.Minute), "new")
	s.Prune()
	if s.Len() != 1 {
		t.Fatalf("%d entries after pruning, want 1", s.Len())
	}
	s.Confirm(c.t)
	if r, _ := s.Revoked("new"); !r {
		t.Fatal("the recent revocation was pruned")
	}
}
