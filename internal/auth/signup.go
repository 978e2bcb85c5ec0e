package auth

import (
	"context"
	"time"

	"github.com/mana/mana/internal/audit"
)

// SignupStatus is the answer of GET /signup-status (contract §3.3).
type SignupStatus struct {
	Limit      int // 0 = unlimited
	TotalToday int
	ResetsAt   time.Time // next UTC midnight; zero when unlimited
}

// Open tells whether a registration would be admitted now.
func (st SignupStatus) Open() bool { return st.Limit <= 0 || st.TotalToday < st.Limit }

// Remaining is how many registrations today still admits.
func (st SignupStatus) Remaining() int { return max(0, st.Limit-st.TotalToday) }

// dayStart is the start of the UTC day of t: the signup counter's day.
func dayStart(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// SignupStatus counts today's registrations (REGISTER events since UTC midnight).
func (s *Service) SignupStatus(ctx context.Context) (SignupStatus, error) {
	if s.maxDailySignups <= 0 {
		return SignupStatus{}, nil
	}
	start := dayStart(s.now())
	st := SignupStatus{Limit: s.maxDailySignups, ResetsAt: start.Add(24 * time.Hour)}
	err := s.store.InTx(ctx, func(tx Tx) error {
		var err error
		st.TotalToday, err = tx.CountEventsSince(ctx, audit.Register, start)
		return err
	})
	if err != nil {
		return SignupStatus{}, unavailable("signup status", err)
	}
	return st, nil
}

// admitSignup enforces MAX_DAILY_SIGNUPS inside the registration's
// transaction. The lock serialises registrations while a limit is set, so
// the count and the new REGISTER row are one atomic step: N parallel
// registrations against one free spot admit exactly one, on any replica.
// It fails closed: a count that cannot be read fails the registration.
func (s *Service) admitSignup(ctx context.Context, tx Tx, now time.Time) error {
	if s.maxDailySignups <= 0 {
		return nil
	}
	if err := tx.LockSignups(ctx); err != nil {
		return err
	}
	n, err := tx.CountEventsSince(ctx, audit.Register, dayStart(now))
	if err != nil {
		return err
	}
	if n >= s.maxDailySignups {
		return ErrSignupLimit
	}
	return nil
}
