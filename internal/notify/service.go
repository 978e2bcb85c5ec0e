package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Service accepts notifications: the one path by which a notification is
// stored, whether it comes over HTTP (internal/notifyapi) or in-process
// (auth's mail hand-off in `mana serve`).
type Service struct {
	store Store
	log   *slog.Logger
	now   func() time.Time
	// keys seal sensitive bodies before they are stored (nil: stored as
	// they are, when notify has no KEK).
	keys BodyKeys
}

// NewService returns the Service over store; now nil is time.Now.
func NewService(store Store, log *slog.Logger, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{store: store, log: log, now: now}
}

// SealSensitiveBodies makes Accept store the body of a sensitive message
// (a sign-in or reset link) sealed under keys, opened only by the delivery
// worker (audit F3). Call it while assembling, before serving.
func (s *Service) SealSensitiveBodies(keys BodyKeys) { s.keys = keys }

// Accepted is the outcome of Accept.
type Accepted struct {
	ID string
	// Deduplicated: the ExternalID was used before; ID is that notification
	// and nothing new was stored.
	Deduplicated bool
	// Blocked is the preferences' reason when nothing was stored.
	Blocked string
}

// Accept validates m, answers a repeated ExternalID as the duplicate it is,
// checks the user's preferences (when m.CheckPreferences), renders its
// template and stores the notification with its delivery job in one
// transaction. A message refused for what it is returns an error for which
// Rejected is true (*ValidationError, ErrTemplateNotFound, *RenderError);
// any other error is ours (the store failed) and may pass on a retry.
func (s *Service) Accept(ctx context.Context, m Message) (Accepted, error) {
	if err := m.Validate(); err != nil {
		return Accepted{}, err
	}
	// A repeat is answered as the duplicate first (contract §7.1's send
	// flow): neither preferences nor templates changed since may turn a
	// retry into "cancelled" or an error for a notification that exists.
	if m.ExternalID != "" {
		id, err := s.store.NotificationOfExternalID(ctx, m.ExternalID)
		switch {
		case err == nil:
			return Accepted{ID: id, Deduplicated: true}, nil
		case !errors.Is(err, ErrNotFound):
			return Accepted{}, fmt.Errorf("look up external id: %w", err)
		}
	}
	if m.CheckPreferences && m.UserID != "" {
		p, err := s.store.GetPreferences(ctx, m.UserID)
		if err != nil {
			return Accepted{}, fmt.Errorf("read preferences: %w", err)
		}
		reason, err := Blocked(p, m.Channel, s.now())
		if err != nil {
			return Accepted{}, fmt.Errorf("evaluate preferences: %w", err)
		}
		if reason != "" {
			return Accepted{Blocked: reason}, nil
		}
	}
	subject, body := m.Subject, m.Body
	if m.Template != "" {
		locale := m.Locale
		if locale == "" {
			locale = DefaultLocale
		}
		t, err := s.store.FindActiveTemplate(ctx, m.Template, locale)
		if errors.Is(err, ErrTemplateNotFound) {
			return Accepted{}, fmt.Errorf("%w: %s", ErrTemplateNotFound, m.Template)
		}
		if err != nil {
			return Accepted{}, fmt.Errorf("find template: %w", err)
		}
		out, err := RenderTemplate(t, m.Data)
		if err != nil {
			// Visible, never "<no value>" in an inbox: the caller learns
			// which variable was missing and nothing is stored.
			s.log.WarnContext(ctx, "template render failed at send", "template", m.Template, "err", err)
			return Accepted{}, err
		}
		if out.Subject != "" {
			subject = out.Subject
		}
		if out.Body != "" {
			body = out.Body
		}
	}
	if m.Sensitive && s.keys != nil {
		body = SealBody(s.keys, body, m.Recipient)
	}
	created, err := s.store.Create(ctx, NewNotification{
		UserID: m.UserID, AppID: m.AppID, Channel: m.Channel, Subject: subject, Body: body,
		Recipient: m.Recipient, ExternalID: m.ExternalID, Priority: m.Priority, Data: m.Data,
		TemplateID: m.Template, ScheduledFor: m.ScheduledFor,
		Options: Options{Email: m.EmailOptions, Push: m.PushOptions, Webhook: m.WebhookOptions, Sensitive: m.Sensitive},
	})
	if err != nil {
		return Accepted{}, err
	}
	return Accepted{ID: created.ID, Deduplicated: created.Deduplicated}, nil
}
