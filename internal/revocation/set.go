// Package revocation keeps, on every replica, the set of recently revoked
// sessions, so that a token check needs no database read (issue 14). The
// set answers only while it can vouch for being current: its feed (Postgres
// LISTEN/NOTIFY, with a catch-up on every connect) confirmed, no longer
// than the allowed lag ago, that every revocation committed before a
// heartbeat has arrived. Otherwise, and for a moment after this replica
// revoked something itself, it answers "unknown" and the caller reads the
// database: never open.
package revocation

import (
	"sync"
	"time"
)

// Set is the revoked sessions of the last Retention, and how current they
// are. It is safe for concurrent use.
type Set struct {
	maxLag time.Duration
	now    func() time.Time

	mu  sync.RWMutex
	ids map[string]time.Time // session id → when it was revoked
	// confirmed: every revocation committed before this instant is in ids
	// (zero: nothing confirmed, e.g. the feed is down).
	confirmed time.Time
	// localAt: this replica's latest own revocation; answers wait for a
	// confirmation newer than it.
	localAt time.Time
}

// Retention is how long a revocation is kept: longer than any access token
// lives (token.TTL), so no token of a revoked session outlasts its entry.
const Retention = time.Hour

// NewSet returns an empty set that vouches for answers while its last
// confirmation is at most maxLag old; now nil is time.Now.
func NewSet(maxLag time.Duration, now func() time.Time) *Set {
	if now == nil {
		now = time.Now
	}
	return &Set{maxLag: maxLag, now: now, ids: map[string]time.Time{}}
}

// Revoked reports whether the session was revoked; known is false when the
// set cannot vouch for its answer (then read the database).
func (s *Set) Revoked(sessionID string) (revoked, known bool) {
	now := s.now()
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.confirmed.IsZero() || !s.confirmed.After(s.localAt) || now.Sub(s.confirmed) > s.maxLag {
		return false, false
	}
	_, revoked = s.ids[sessionID]
	return revoked, true
}

// LocalRevocation records that this replica has just committed a
// revocation: until the feed confirms a moment after it, answers are
// unknown, so this replica refuses the revoked session at once.
func (s *Set) LocalRevocation() {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if now.After(s.localAt) {
		s.localAt = now
	}
}

// Add records revoked sessions (from the feed).
func (s *Set) Add(at time.Time, ids ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range ids {
		s.ids[id] = at
	}
}

// Confirm records that every revocation committed before at has been
// added (a heartbeat sent at at came back, or a catch-up started at at).
func (s *Set) Confirm(at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if at.After(s.confirmed) {
		s.confirmed = at
	}
}

// Lost records that the feed is down: nothing is vouched for until the
// next catch-up.
func (s *Set) Lost() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.confirmed = time.Time{}
}

// Prune forgets revocations older than Retention.
func (s *Set) Prune() {
	cutoff := s.now().Add(-Retention)
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, at := range s.ids {
		if at.Before(cutoff) {
			delete(s.ids, id)
		}
	}
}

// Len is the number of revocations held.
func (s *Set) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.ids)
}
