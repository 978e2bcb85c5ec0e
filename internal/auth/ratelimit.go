package auth

import (
	"context"
	"fmt"
	"time"

	"github.com/mana/mana/internal/audit"
)

// RecordRateLimited audits the first request a rate limit blocked in one
// window for one client (OWASP excess_rate_limit_exceeded).
func (s *Service) RecordRateLimited(ctx context.Context, c Client, rule string, limit int, window time.Duration) error {
	err := s.store.InTx(ctx, func(tx Tx) error {
		return tx.InsertEvent(ctx, audit.Event{Type: audit.RateLimitExceeded, IP: c.IP, UserAgent: c.UserAgent,
			Metadata: map[string]any{"rule": rule, "limit": limit, "windowSeconds": int(window / time.Second)}})
	})
	if err != nil {
		return fmt.Errorf("%w: audit rate limit: %w", ErrUnavailable, err)
	}
	return nil
}
