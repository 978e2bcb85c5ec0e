package audit

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// memChain is an in-memory ChainStore: events in insertion order, seals.
type memChain struct {
	events []Record
	seals  []Seal
	users  map[string]bool
}

func (m *memChain) SealBatch(_ context.Context, limit int, seal func(Head, []Record) ([]Seal, error)) (int, bool, error) {
	sealed := map[string]bool{}
	for _, s := range m.seals {
		sealed[s.EventID] = true
	}
	var todo []Record
	for _, e := range m.events {
		if !sealed[e.ID] && len(todo) < limit {
			todo = append(todo, e)
		}
	}
	if len(todo) == 0 {
		return 0, false, nil
	}
	head := Head{}
	if n := len(m.seals); n > 0 {
		head = Head{Seq: m.seals[n-1].Seq, Link: m.seals[n-1].Link}
	}
	out, err := seal(head, todo)
	if err != nil {
		return 0, false, err
	}
	m.seals = append(m.seals, out...)
	return len(out), false, nil
}

func (m *memChain) WalkChain(_ context.Context, fn func(SealedRecord) error) (int, error) {
	sealed := map[string]bool{}
	for _, s := range m.seals {
		sealed[s.EventID] = true
		r := SealedRecord{Seal: s}
		for i := range m.events {
			if m.events[i].ID == s.EventID {
				e := m.events[i]
				r.Event = &e
				r.UserExists = e.UserID != nil && m.users[*e.UserID]
			}
		}
		if err := fn(r); err != nil {
			return 0, err
		}
	}
	unsealed := 0
	for _, e := range m.events {
		if !sealed[e.ID] {
			unsealed++
		}
	}
	return unsealed, nil
}

func str(s string) *string { return &s }

func newChain(t *testing.T, n int) *memChain {
	t.Helper()
	m := &memChain{users: map[string]bool{"u1": true}}
	base := time.Date(2026, 11, 30, 1, 2, 3, 456789000, time.UTC)
	for i := 0; i < n; i++ {
		m.events = append(m.events, Record{ID: "e" + string(rune('a'+i)), UserID: str("u1"), Type: "LOGIN_SUCCESS",
			CreatedAt: base.Add(time.Duration(i) * time.Second), IP: str("192.0.2.1"), UserAgent: str("ua"),
			Metadata: []byte(`{"b": 1, "a": {"y": [1, "x"], "x": null}}`)})
	}
	if sealed, busy, err := SealPending(context.Background(), m, 2, rand.Reader); err != nil || busy || sealed != n {
		t.Fatalf("seal: %d, %v, %v; want %d", sealed, busy, err, n)
	}
	return m
}

func mustVerify(t *testing.T, m *memChain) Report {
	t.Helper()
	r, err := Verify(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestChain: a sealed chain verifies; each kind of tampering is named at
// its seq with its reason; re-encoded metadata (jsonb's order and spacing)
// is no change. Negative control (run): with the PII digest comparison in
// verifier.check disabled, "ip changed", "ip NULL instead of empty" and
// "erased, salt kept" fail.
func TestChain(t *testing.T) {
	r := mustVerify(t, newChain(t, 5))
	if r.Break != nil || r.Sealed != 5 || r.Unsealed != 0 || r.Head.Seq != 5 {
		t.Fatalf("intact chain: %+v", r)
	}
	cases := []struct {
		name   string
		tamper func(m *memChain)
		seq    int64
		reason string
	}{
		{"metadata re-encoded is not a change", func(m *memChain) {
			m.events[1].Metadata = []byte(`{"a":{"x":null,"y":[1,"x"]},"b":1.0}`)
		}, 0, ""},
		{"ip changed", func(m *memChain) { m.events[2].IP = str("203.0.113.1") }, 3, "PII digest mismatch"},
		{"ip NULL instead of empty", func(m *memChain) { m.events[2].IP = nil }, 3, "PII digest mismatch"},
		{"type changed", func(m *memChain) { m.events[1].Type = "LOGOUT" }, 2, "identity fields changed"},
		{"time changed by a microsecond", func(m *memChain) { m.events[3].CreatedAt = m.events[3].CreatedAt.Add(time.Microsecond) }, 4, "identity fields changed"},
		{"user id removed", func(m *memChain) { m.events[4].UserID = nil }, 5, "link mismatch"},
		{"seal link rewritten", func(m *memChain) { m.seals[1].Link = bytes.Repeat([]byte{1}, 32) }, 2, "link mismatch"},
		{"event deleted", func(m *memChain) { m.events = append(m.events[:1], m.events[2:]...) }, 2, "event missing"},
		{"seal deleted", func(m *memChain) { m.seals = append(m.seals[:2], m.seals[3:]...) }, 4, "seq gap"},
		{"salt shredded, row intact", func(m *memChain) { m.seals[0].Salt = nil }, 1, "salt shredded but the row is not erased"},
		{"erased while the user exists", func(m *memChain) {
			m.seals[0].Salt = nil
			m.events[0].IP, m.events[0].UserAgent, m.events[0].Metadata = nil, nil, []byte(`{}`)
		}, 1, "PII erased while the user still exists"},
		{"erased, salt kept", func(m *memChain) {
			m.events[0].IP, m.events[0].UserAgent, m.events[0].Metadata = nil, nil, nil
		}, 1, "PII digest mismatch"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := newChain(t, 5)
			c.tamper(m)
			r := mustVerify(t, m)
			if c.seq == 0 {
				if r.Break != nil {
					t.Fatalf("want intact, got %s", r.Break)
				}
				return
			}
			if r.Break == nil || r.Break.Seq != c.seq || !strings.Contains(r.Break.Reason, c.reason) {
				t.Fatalf("got %+v; want broken at seq %d: %s", r.Break, c.seq, c.reason)
			}
		})
	}
}

// TestErasure: erasing a deleted user's event and shredding its salt
// keeps the chain verifying, and is counted.
func TestErasure(t *testing.T) {
	m := newChain(t, 3)
	delete(m.users, "u1")
	for i := range m.events {
		m.events[i].IP, m.events[i].UserAgent, m.events[i].Metadata = nil, nil, []byte(`{}`)
		m.seals[i].Salt = nil
	}
	m.events = append(m.events, Record{ID: "new", Type: "ACCOUNT_DELETED", CreatedAt: time.Now(), Metadata: []byte(`{}`)})
	r := mustVerify(t, m)
	if r.Break != nil || r.Erased != 3 || r.Sealed != 3 || r.Unsealed != 1 {
		t.Fatalf("after erasure: %+v", r)
	}
	if _, _, err := SealPending(context.Background(), m, 10, rand.Reader); err != nil {
		t.Fatal(err)
	}
	if r := mustVerify(t, m); r.Break != nil || r.Sealed != 4 || r.Unsealed != 0 {
		t.Fatalf("after sealing the new event: %+v", r)
	}
}

// failingChain fails its first SealBatch calls, then seals nothing.
type failingChain struct {
	mu    sync.Mutex
	calls int
	fails int
}

func (f *failingChain) SealBatch(context.Context, int, func(Head, []Record) ([]Seal, error)) (int, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.calls <= f.fails {
		return 0, false, errors.New("database unavailable")
	}
	return 0, false, nil
}

func (f *failingChain) WalkChain(context.Context, func(SealedRecord) error) (int, error) {
	return 0, nil
}

func (f *failingChain) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

// lockedBuffer is a log sink safe for the sealer's goroutine.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestSealerRetries: a failing batch is logged with its cause and the
// sealer tries again at the next tick; it stops with its context.
// Negative control (run): Run returning after the first error fails at
// "sealer calls".
func TestSealerRetries(t *testing.T) {
	st := &failingChain{fails: 2}
	var logs lockedBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		Sealer{Store: st, Interval: 5 * time.Millisecond, Log: slog.New(slog.NewTextHandler(&logs, nil))}.Run(ctx)
	}()
	deadline := time.Now().Add(5 * time.Second)
	for st.count() < 3 && time.Now().Before(deadline) {
		runtime.Gosched()
		time.Sleep(time.Millisecond) // polling interval, not synchronisation: the deadline decides
	}
	cancel()
	<-done
	if n := st.count(); n < 3 {
		t.Fatalf("sealer calls = %d, want at least 3 (two failures, then a retry)", n)
	}
	if out := logs.String(); strings.Count(out, "database unavailable") != 2 || !strings.Contains(out, "level=ERROR") {
		t.Fatalf("log: %s; want the two failures logged as errors with their cause", out)
	}
}
