package auth

import (
	"context"
	"errors"
	"strings"
	"unicode/utf8"

	"github.com/mana/mana/internal/audit"
)

// Profile limits: the name rule is the old /me/profile's (1–80 characters);
// the image is a URL, bounded so a client cannot store megabytes in a row.
const (
	MaxProfileNameLen  = 80
	MaxProfileImageLen = 2048
	// SecurityEventsShown is how many events /security-events lists.
	SecurityEventsShown = 50
	// exportEventsMax is how many events the data export contains (contract §2.4).
	exportEventsMax = 200
)

// ErrNoProfileFields is a profile update that names no field.
var ErrNoProfileFields = errors.New("no fields to update")

// UpdateProfile changes the caller's name, image and feedback preference.
// The name is trimmed and must be 1–80 characters.
func (s *Service) UpdateProfile(ctx context.Context, p Principal, patch ProfilePatch, c Client) (Profile, error) {
	if patch.Name == nil && patch.Image == nil && patch.FeedbackShowRealName == nil {
		return Profile{}, ErrNoProfileFields
	}
	if patch.Name != nil {
		name := strings.TrimSpace(*patch.Name)
		if n := utf8.RuneCountInString(name); n < 1 || n > MaxProfileNameLen {
			return Profile{}, invalid("name must be 1–80 characters")
		}
		patch.Name = &name
	}
	if patch.Image != nil && utf8.RuneCountInString(*patch.Image) > MaxProfileImageLen {
		return Profile{}, invalid("image must be at most 2048 characters")
	}
	var out Profile
	err := s.store.InTx(ctx, func(tx Tx) error {
		var err error
		if out, err = tx.UpdateProfile(ctx, p.Claims.Sub, patch); err != nil {
			return err
		}
		fields := []string{}
		if patch.Name != nil {
			fields = append(fields, "name")
		}
		if patch.Image != nil {
			fields = append(fields, "image")
		}
		if patch.FeedbackShowRealName != nil {
			fields = append(fields, "feedbackShowRealName")
		}
		return tx.InsertEvent(ctx, audit.Event{UserID: p.Claims.Sub, Type: audit.ProfileUpdated, IP: c.IP, UserAgent: c.UserAgent,
			Metadata: map[string]any{"fields": fields}})
	})
	if errors.Is(err, ErrNotFound) {
		return Profile{}, ErrUserNotFound
	}
	if err != nil {
		return Profile{}, unavailable("update profile", err)
	}
	return out, nil
}

// SecurityEvents returns the caller's newest security events.
func (s *Service) SecurityEvents(ctx context.Context, p Principal, limit int) ([]EventRecord, error) {
	if limit <= 0 || limit > SecurityEventsShown {
		limit = SecurityEventsShown
	}
	var out []EventRecord
	err := s.store.InTx(ctx, func(tx Tx) error {
		var err error
		out, err = tx.UserEvents(ctx, p.Claims.Sub, limit)
		return err
	})
	if err != nil {
		return nil, unavailable("security events", err)
	}
	return out, nil
}
