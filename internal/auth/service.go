package auth

import (
	"context"
	"crypto/sha256"
	"log/slog"
	"time"

	"github.com/mana/mana/internal/password"
	"github.com/mana/mana/internal/password/policy"
	"github.com/mana/mana/internal/token"
)

// Lifetimes and throttles.
const (
	VerifyLinkTTL    = time.Hour
	SessionTTL       = 7 * 24 * time.Hour
	resendPerHour    = 5
	resendMinSpacing = 30 * time.Second
)

// Service implements the account flows.
type Service struct {
	store     Store
	hasher    *password.Hasher
	tokens    *token.Issuer
	baseURL   string
	callbacks CallbackPolicy
	lockout   LockoutPolicy
	policy    *policy.Policy
	// maxDailySignups caps registrations per UTC day; 0 = unlimited.
	maxDailySignups int
	// legacySecret is BETTER_AUTH_SECRET: it signed the old service's
	// verification links.
	legacySecret []byte
	mailSealer   MailSealer
	now          func() time.Time
	log          *slog.Logger
	padding      padding
	revocations  RevocationView
	// registerCost evens out the timing of new and taken registrations.
	registerCost costEqualizer
}

// Config wires a Service.
type Config struct {
	Store     Store
	Hasher    *password.Hasher
	Tokens    *token.Issuer
	BaseURL   string
	Callbacks CallbackPolicy
	Lockout   LockoutPolicy
	// Policy decides which new passwords are acceptable (required).
	Policy          *policy.Policy
	MaxDailySignups int
	// LegacySecret is BETTER_AUTH_SECRET (the old service's links).
	LegacySecret string
	// MailSealer seals outbox mail bodies (nil: stored as they are, tests).
	MailSealer MailSealer
	// Revocations answers token checks from memory while current (nil:
	// every check reads its session).
	Revocations RevocationView
	Now         func() time.Time
	Log         *slog.Logger
}

// NewService builds the service.
func NewService(c Config) *Service {
	s := &Service{store: c.Store, hasher: c.Hasher, tokens: c.Tokens, baseURL: c.BaseURL,
		callbacks: c.Callbacks, lockout: c.Lockout, policy: c.Policy, maxDailySignups: c.MaxDailySignups,
		legacySecret: []byte(c.LegacySecret), mailSealer: c.MailSealer, now: c.Now, log: c.Log}
	if s.now == nil {
		s.now = time.Now
	}
	if c.Revocations != nil {
		s.revocations = c.Revocations
		s.store = revocationAwareStore{Store: c.Store, view: c.Revocations}
	}
	if s.lockout.Threshold == 0 {
		s.lockout = DefaultLockout
	}
	if s.policy == nil {
		// Only the embedded data can make this fail: a broken build.
		p, err := policy.New(policy.DefaultMinLength)
		if err != nil {
			panic(err)
		}
		s.policy = p
	}
	return s
}

// Client describes where a request came from, for audit rows.
type Client struct {
	IP        string
	UserAgent string
	// Endpoint names the route in sign-in audit rows ("/login" when empty).
	Endpoint string
}

func hashToken(t string) []byte {
	sum := sha256.Sum256([]byte(t))
	return sum[:]
}

// ---- registration -----------------------------------------------------------

// ---- email verification -----------------------------------------------------

// Ping checks the database with a real query.
func (s *Service) Ping(ctx context.Context) error { return s.store.Ping(ctx) }

// Now is the service clock (for responses that report times).
func (s *Service) Now() time.Time { return s.now() }
