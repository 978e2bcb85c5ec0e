package auth

import (
	"context"
	"errors"

	"github.com/mana/mana/internal/audit"
)

// AccountExport is what GET /me/data/export reports beyond /me/data.
type AccountExport struct {
	AccountData
	Sessions []Session     // all of the user's sessions, ended ones included
	Events   []EventRecord // newest first, at most exportEventsMax
}

// ExportData gathers the caller's data in one consistent read.
func (s *Service) ExportData(ctx context.Context, p Principal) (AccountExport, error) {
	var e AccountExport
	err := s.store.InTx(ctx, func(tx Tx) error {
		var err error
		if e.User, err = tx.UserByID(ctx, p.Claims.Sub); err != nil {
			return err
		}
		if e.Summary, err = tx.AccountSummary(ctx, e.User.ID); err != nil {
			return err
		}
		if e.Sessions, err = tx.UserSessions(ctx, e.User.ID, true); err != nil {
			return err
		}
		e.Events, err = tx.UserEvents(ctx, e.User.ID, exportEventsMax)
		return err
	})
	if errors.Is(err, ErrNotFound) {
		return AccountExport{}, ErrUserNotFound
	}
	if err != nil {
		return AccountExport{}, unavailable("export data", err)
	}
	return e, nil
}

// Deletion reports what DeleteAccount removed.
type Deletion struct {
	DeletedCounts
	UserDeleted bool
}

// DeleteAccount deletes the caller's account in one transaction: the user
// row and everything that references it (sessions and their refresh tokens
// at once, so the caller's access tokens stop validating), the vault, login
// attempts, links, and the personal data (IP, user agent, email) in audit
// rows that outlive the user. An ACCOUNT_DELETED record without personal
// data and the "account deleted" mail commit with it.
func (s *Service) DeleteAccount(ctx context.Context, p Principal) (Deletion, error) {
	var d Deletion
	err := s.store.InTx(ctx, func(tx Tx) error {
		u, err := tx.UserByID(ctx, p.Claims.Sub)
		if errors.Is(err, ErrNotFound) {
			return nil // already gone: deleting is idempotent (contract §2.4)
		}
		if err != nil {
			return err
		}
		if err := tx.LockUser(ctx, u.ID); err != nil {
			return err
		}
		if d.DeletedCounts, err = tx.DeleteAccount(ctx, u.ID, u.Email); err != nil {
			return err
		}
		d.UserDeleted = true
		if d.NotifyElsewhere {
			// notify keeps its own database: its rows of this user are
			// erased through its API, by a job that commits with the
			// deletion (audit F6).
			if err := tx.EnqueueNotifyErasure(ctx, u.ID, u.Email); err != nil {
				return err
			}
		}
		// No user id column (it would cascade away with the user), no IP,
		// no user agent: the pseudonymous id is what ties it to a request.
		if err := tx.InsertEvent(ctx, audit.Event{Type: audit.AccountDeleted, Metadata: map[string]any{"userId": u.ID}}); err != nil {
			return err
		}
		m := accountDeletedMail(u.Email)
		m.ExternalID = "auth-account-deleted-" + u.ID
		return s.enqueueMail(ctx, tx, m)
	})
	if err != nil {
		return Deletion{}, unavailable("delete account", err)
	}
	return d, nil
}
