package auth

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/mana/mana/internal/randid"
)

// A personal Space is the organization every user owns from sign-up on; the
// apps expect it to exist.
const (
	maxSlugLen        = 30
	maxSlugSuffix     = 999
	personalSpaceName = "Personal"
)

// reservedSlugs are the slugs no Space may take (they are app routes).
var reservedSlugs = map[string]bool{
	"me": true, "admin": true, "api": true, "auth": true, "login": true, "logout": true, "signup": true,
	"signin": true, "register": true, "settings": true, "new": true, "app": true, "www": true,
	"support": true, "help": true, "billing": true, "invite": true,
}

// validTiers are the access tiers a Space's metadata may name.
var validTiers = map[string]bool{"guest": true, "public": true, "beta": true, "alpha": true, "founder": true}

// baseSlug is the slug a personal Space starts from: the email's local part,
// lower-cased, runs of other characters than [a-z0-9-] made one "-", "-"
// runs collapsed, trimmed of "-", then cut to 30 characters; empty gives
// "user-" and six random lower-case characters.
func baseSlug(email string) string {
	local, _, _ := strings.Cut(strings.ToLower(email), "@")
	var b strings.Builder
	dash := false
	for _, r := range local {
		ok := (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9')
		if !ok {
			if !dash {
				b.WriteByte('-')
			}
			dash = true
			continue
		}
		b.WriteRune(r)
		dash = false
	}
	slug := strings.Trim(b.String(), "-")
	if len(slug) > maxSlugLen {
		slug = slug[:maxSlugLen] // cut after trimming, as the old service: may end in "-"
	}
	if slug == "" {
		slug = "user-" + randomLower(6)
	}
	return slug
}

func randomLower(n int) string { return strings.ToLower(randid.ID(n)) }

// createPersonalSpace gives a new user their personal Space and its owner
// row, in the registration's transaction. It does nothing when the user
// already has one.
func (s *Service) createPersonalSpace(ctx context.Context, tx Tx, u User) error {
	has, err := tx.HasPersonalSpace(ctx, u.ID)
	if err != nil || has {
		return err
	}
	name := strings.TrimSpace(u.Name)
	if name == "" {
		name, _, _ = strings.Cut(u.Email, "@")
	}
	if name == "" {
		name = personalSpaceName
	}
	tier := u.AccessTier
	if !validTiers[tier] {
		tier = "public"
	}
	base := baseSlug(u.Email)
	space := Space{ID: randid.ID(21), Name: name, MemberID: randid.ID(21), UserID: u.ID, Role: "owner", CreatedAt: u.CreatedAt,
		Metadata: map[string]any{"tier": tier, "type": "personal"}}
	for i := 1; i <= maxSlugSuffix+1; i++ {
		switch {
		case i == 1:
			space.Slug = base
		case i <= maxSlugSuffix:
			space.Slug = fmt.Sprintf("%s-%d", base, i)
		default:
			space.Slug = base + "-" + randomLower(6)
		}
		if reservedSlugs[space.Slug] {
			continue
		}
		taken, err := tx.SlugTaken(ctx, space.Slug)
		if err != nil {
			return err
		}
		if taken {
			continue
		}
		err = tx.InsertSpace(ctx, space)
		if errors.Is(err, ErrConflict) {
			continue // taken by a concurrent sign-up since the check
		}
		return err
	}
	return fmt.Errorf("personal space of user %s: no free slug from %q", u.ID, base)
}
