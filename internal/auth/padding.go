package auth

import (
	"context"
	"sync"
	"time"

	"github.com/mana/mana/internal/timing"
)

// paddingRecheck is how often the service looks again whether legacy
// password rows remain (they disappear as their owners sign in).
const paddingRecheck = 10 * time.Minute

// padding remembers when the legacy rows were last looked for.
type padding struct {
	mu      sync.Mutex
	checked time.Time
}

// RefreshTimingPadding pads cheap password verifications to a legacy row's
// cost while any legacy (Better Auth scrypt) row remains, so that sign-in
// timing does not reveal dormant migrated accounts (audit F11). The serve
// modes call it at start; sign-ins call it again every paddingRecheck.
func (s *Service) RefreshTimingPadding(ctx context.Context) error {
	var remain bool
	err := s.store.InTx(ctx, func(tx Tx) error {
		var err error
		remain, err = tx.LegacyCredentialsRemain(ctx)
		return err
	})
	if err != nil {
		return unavailable("look for legacy passwords", err)
	}
	s.hasher.PadToLegacy(remain)
	return nil
}

// maybeRefreshPadding rechecks the padding when it is due. One caller
// checks while the others go on; a failed check turns padding on (it
// costs latency, never a leak) and is logged.
func (s *Service) maybeRefreshPadding(ctx context.Context) {
	if !s.padding.mu.TryLock() {
		return
	}
	defer s.padding.mu.Unlock()
	now := s.now()
	if !s.padding.checked.IsZero() && now.Sub(s.padding.checked) < paddingRecheck {
		return
	}
	if err := s.RefreshTimingPadding(ctx); err != nil {
		s.log.WarnContext(ctx, "could not look for legacy passwords; padding sign-ins to a legacy row's cost", "error", err)
		s.hasher.PadToLegacy(true)
	}
	s.padding.checked = now
}

// registerPaths are the two ways a registration ends: a new account, or an
// address that has one (the owner is told).
const (
	registerNew = iota
	registerTaken
)

// costEqualizer pads the cheaper of two paths to the typical (median)
// cost of the dearer one, so that their timing does not tell them apart
// (audit F10 for registration: a new account writes more rows than a
// notice to an existing one).
type costEqualizer struct {
	median [2]timing.Median
}

// observe records the unpadded cost of one run of path.
func (e *costEqualizer) observe(path int, d time.Duration) { e.median[path].Observe(d, false) }

// pad waits until the dearer path's typical cost has passed since start,
// or until ctx ends: the client has gone, and the work is done either way.
func (e *costEqualizer) pad(ctx context.Context, start time.Time) {
	target := max(e.median[registerNew].Get(), e.median[registerTaken].Get())
	_ = timing.WaitUntil(ctx, start.Add(target)) // only ctx's end stops it early: nothing to report
}
