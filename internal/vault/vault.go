// Package vault keeps each user's 32-byte master key for the apps' client-side
// encryption (seed contract §2.5, §5; DESIGN.md §5 item 8): a server wrap
// under the KEK ring, an optional recovery wrap made by the client, and a
// zero-knowledge mode in which the server holds only the recovery wrap.
//
// Every operation runs in one transaction scoped to the user (row-level
// security) and writes its audit row in it. Refusals (404/409/400) and unwrap
// failures commit their audit row too, so every attempt stays on record.
package vault

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/mana/mana/internal/kek"
	"github.com/mana/mana/internal/randid"
)

// Refusals: the request is answered with a 4xx and its audit row is kept.
var (
	ErrNotInitialised      = errors.New("vault not initialised")
	ErrZKRotateForbidden   = errors.New("cannot rotate in zero-knowledge mode")
	ErrZKActive            = errors.New("cannot clear recovery wrap while zero-knowledge is active")
	ErrRecoveryWrapMissing = errors.New("set a recovery wrap before enabling zero-knowledge")
)

// Audit actions (contract §5.6, plus kek_rewrap written by `mana kek rotate`).
const (
	ActionInit          = "init"
	ActionFetch         = "fetch"
	ActionRotate        = "rotate"
	ActionFailedFetch   = "failed_fetch"
	ActionRecoverySet   = "recovery_set"
	ActionRecoveryClear = "recovery_clear"
	ActionZKEnable      = "zk_enable"
	ActionZKDisable     = "zk_disable"
	ActionKEKRewrap     = "kek_rewrap"
)

// RecoveryFormatVersion is the recovery wrap format the API accepts.
const RecoveryFormatVersion = 1

// Row is one auth.encryption_vaults row.
type Row struct {
	UserID                string
	Server                *Wrapped // nil in zero-knowledge mode
	FormatVersion         int
	RecoveryWrappedMK     string // "" when unset
	RecoveryIV            string
	RecoveryFormatVersion int
	RecoverySetAt         *time.Time
	ZeroKnowledge         bool
	RotatedAt             *time.Time
}

func (r Row) hasRecovery() bool { return r.RecoveryWrappedMK != "" }

// Audit is one auth.encryption_vault_audit row.
type Audit struct {
	ID, UserID, Action string
	IP, UserAgent      string // "" is stored as NULL
	Context            string // "" is stored as NULL
	Status             int
}

// NewAuditID is the id of an audit row: 21 random URL-safe characters, the
// length of existing ids (docs/compatibility.md).
func NewAuditID() string { return randid.ID(21) }

// Store persists vaults.
type Store interface {
	// InUserTx runs fn in one transaction in which only userID's vault rows
	// are visible (app.current_user_id) and userID's vault operations are
	// serialised; it commits when fn returns nil.
	InUserTx(ctx context.Context, userID string, fn func(Tx) error) error
}

// Tx is the work inside one user's transaction.
type Tx interface {
	// Vault reads and locks the user's row; ok is false when there is none.
	Vault(ctx context.Context) (row Row, ok bool, err error)
	InsertVault(ctx context.Context, r Row) error
	UpdateVault(ctx context.Context, r Row) error
	InsertAudit(ctx context.Context, a Audit) error
	// RollbackWindow reports the cut-over's rollback window: then wraps are
	// written in the old service's scheme.
	RollbackWindow(ctx context.Context) (bool, error)
}

// Client is who made the request, for the audit row.
type Client struct {
	IP, UserAgent string
}

// KeyResult is the answer of /init, /key and /rotate: the master key, or, in
// zero-knowledge mode, the recovery blob the client must open itself.
type KeyResult struct {
	MasterKey     []byte
	FormatVersion int
	KEKID         string

	RequiresRecoveryCode bool
	RecoveryWrappedMK    string
	RecoveryIV           string
}

// Status is the answer of /status.
type Status struct {
	VaultExists, HasRecoveryWrap, ZeroKnowledge bool
	RecoverySetAt                               *time.Time
}

// Service runs the vault operations.
type Service struct {
	store Store
	ring  *kek.Ring
	now   func() time.Time
}

// NewService builds a Service.
func NewService(store Store, ring *kek.Ring) *Service {
	return &Service{store: store, ring: ring, now: time.Now}
}

// outcome is what an operation reports for its audit row.
type outcome struct {
	action  string // "" = no audit row
	status  int
	context string
}

// refusal reports whether err ends a request with its audit row committed.
func refusal(err error) bool {
	return errors.Is(err, ErrNotInitialised) || errors.Is(err, ErrZKRotateForbidden) || errors.Is(err, ErrZKActive) ||
		errors.Is(err, ErrRecoveryWrapMissing) || errors.Is(err, ErrUnwrap)
}

// do runs op in the user's transaction and writes its audit row there. A
// refusal commits (the audit row persists) and is then returned; any other
// error rolls everything back. A failed audit write fails the request.
func (s *Service) do(ctx context.Context, userID string, c Client, op func(Tx) (outcome, error)) error {
	if userID == "" {
		return errors.New("vault: empty user id")
	}
	var refused error
	err := s.store.InUserTx(ctx, userID, func(tx Tx) error {
		out, err := op(tx)
		if err != nil && !refusal(err) {
			return err
		}
		refused = err
		if out.action == "" {
			return nil
		}
		a := Audit{ID: NewAuditID(), UserID: userID, Action: out.action, Status: out.status, Context: out.context,
			IP: c.IP, UserAgent: c.UserAgent}
		if err := tx.InsertAudit(ctx, a); err != nil {
			return fmt.Errorf("vault: write %s audit: %w", out.action, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return refused
}

// existing reads the user's row for an operation that needs one: a missing
// row is the refusal ErrNotInitialised, audited as action/404/no-vault.
func existing(ctx context.Context, tx Tx, action string) (Row, outcome, error) {
	r, ok, err := tx.Vault(ctx)
	if err != nil {
		return Row{}, outcome{}, err
	}
	if !ok {
		return Row{}, outcome{action, 404, "no-vault"}, ErrNotInitialised
	}
	return r, outcome{}, nil
}

// freshKey makes a new random master key and its wrap for userID.
func (s *Service) freshKey(ctx context.Context, tx Tx, userID string) (KeyResult, Wrapped, error) {
	window, err := tx.RollbackWindow(ctx)
	if err != nil {
		return KeyResult{}, Wrapped{}, err
	}
	mk := make([]byte, MasterKeySize)
	_, _ = rand.Read(mk) // never fails on supported platforms (aborts instead)
	w, err := wrapFor(s.ring, userID, mk, window)
	if err != nil {
		return KeyResult{}, Wrapped{}, err
	}
	return KeyResult{MasterKey: mk, FormatVersion: 1, KEKID: w.KEKID}, w, nil
}

// create stores a new vault with a fresh master key.
func (s *Service) create(ctx context.Context, tx Tx, userID string) (KeyResult, error) {
	res, w, err := s.freshKey(ctx, tx, userID)
	if err != nil {
		return KeyResult{}, err
	}
	err = tx.InsertVault(ctx, Row{UserID: userID, Server: &w, FormatVersion: 1, RecoveryFormatVersion: RecoveryFormatVersion})
	return res, err
}

func zkBlob(r Row) KeyResult {
	return KeyResult{RequiresRecoveryCode: true, RecoveryWrappedMK: r.RecoveryWrappedMK, RecoveryIV: r.RecoveryIV,
		FormatVersion: r.RecoveryFormatVersion}
}

// open unwraps a row's server wrap into a KeyResult.
func (s *Service) open(r Row) (KeyResult, error) {
	if r.Server == nil {
		return KeyResult{}, fmt.Errorf("%w: the row has no server wrap", ErrUnwrap)
	}
	mk, err := UnwrapKey(s.ring, r.UserID, *r.Server)
	if err != nil {
		return KeyResult{}, err
	}
	return KeyResult{MasterKey: mk, FormatVersion: r.FormatVersion, KEKID: r.Server.KEKID}, nil
}

// Status reports what the user's vault holds; it writes no audit row.
func (s *Service) Status(ctx context.Context, userID string) (Status, error) {
	var st Status
	err := s.do(ctx, userID, Client{}, func(tx Tx) (outcome, error) {
		r, ok, err := tx.Vault(ctx)
		if err != nil || !ok {
			return outcome{}, err
		}
		st = Status{VaultExists: true, HasRecoveryWrap: r.hasRecovery(), ZeroKnowledge: r.ZeroKnowledge, RecoverySetAt: r.RecoverySetAt}
		return outcome{}, nil
	})
	return st, err
}

// Init returns the user's master key, creating the vault on first use.
func (s *Service) Init(ctx context.Context, userID string, c Client) (KeyResult, error) {
	var res KeyResult
	err := s.do(ctx, userID, c, func(tx Tx) (outcome, error) {
		r, ok, err := tx.Vault(ctx)
		if err != nil {
			return outcome{}, err
		}
		if ok && r.ZeroKnowledge {
			res = zkBlob(r)
			return outcome{ActionInit, 200, "already-exists-zk"}, nil
		}
		if ok {
			if res, err = s.open(r); err != nil {
				return outcome{ActionInit, 500, "unwrap-failed: " + err.Error()}, err
			}
			return outcome{ActionInit, 200, "already-exists"}, nil
		}
		if res, err = s.create(ctx, tx, userID); err != nil {
			return outcome{}, err
		}
		return outcome{ActionInit, 201, "created"}, nil
	})
	return res, err
}

// Key returns the user's master key (or the zero-knowledge recovery blob).
func (s *Service) Key(ctx context.Context, userID string, c Client) (KeyResult, error) {
	var res KeyResult
	err := s.do(ctx, userID, c, func(tx Tx) (outcome, error) {
		r, ok, err := tx.Vault(ctx)
		switch {
		case err != nil:
			return outcome{}, err
		case !ok:
			return outcome{ActionFailedFetch, 404, "not-initialised"}, ErrNotInitialised
		case r.ZeroKnowledge:
			res = zkBlob(r)
			return outcome{ActionFetch, 200, "zk-recovery-blob"}, nil
		}
		if res, err = s.open(r); err != nil {
			return outcome{ActionFailedFetch, 500, "unwrap-failed: " + err.Error()}, err
		}
		return outcome{ActionFetch, 200, ""}, nil
	})
	return res, err
}

// Rotate replaces the master key (the old one is gone) and drops the recovery
// wrap, which wrapped the old key. It creates the vault when missing.
func (s *Service) Rotate(ctx context.Context, userID string, c Client) (KeyResult, error) {
	var res KeyResult
	err := s.do(ctx, userID, c, func(tx Tx) (outcome, error) {
		r, ok, err := tx.Vault(ctx)
		if err != nil {
			return outcome{}, err
		}
		if ok && r.ZeroKnowledge {
			return outcome{ActionRotate, 409, "zk-rotate-forbidden"}, ErrZKRotateForbidden
		}
		if !ok {
			if res, err = s.create(ctx, tx, userID); err != nil {
				return outcome{}, err
			}
			return outcome{ActionRotate, 201, "init-on-rotate"}, nil
		}
		var w Wrapped
		if res, w, err = s.freshKey(ctx, tx, userID); err != nil {
			return outcome{}, err
		}
		now := s.now()
		r.Server, r.RotatedAt = &w, &now
		r.RecoveryWrappedMK, r.RecoveryIV, r.RecoverySetAt = "", "", nil
		if err := tx.UpdateVault(ctx, r); err != nil {
			return outcome{}, err
		}
		return outcome{ActionRotate, 200, ""}, nil
	})
	return res, err
}

// change runs an operation on an existing row: mutate either answers by
// itself (a refusal or a no-op, with its own audit outcome) or changes the
// row, which is then stored and audited as action/200.
func (s *Service) change(ctx context.Context, userID string, c Client, action string, mutate func(*Row) (outcome, error)) error {
	return s.do(ctx, userID, c, func(tx Tx) (outcome, error) {
		r, out, err := existing(ctx, tx, action)
		if err != nil {
			return out, err
		}
		if out, err := mutate(&r); err != nil || out.action != "" {
			return out, err
		}
		if err := tx.UpdateVault(ctx, r); err != nil {
			return outcome{}, err
		}
		return outcome{action, 200, ""}, nil
	})
}

// SetRecoveryWrap stores (or replaces) the client-made recovery wrap. The
// values are opaque to the server.
func (s *Service) SetRecoveryWrap(ctx context.Context, userID string, c Client, wrappedMK, iv string) error {
	return s.change(ctx, userID, c, ActionRecoverySet, func(r *Row) (outcome, error) {
		now := s.now()
		r.RecoveryWrappedMK, r.RecoveryIV, r.RecoveryFormatVersion, r.RecoverySetAt = wrappedMK, iv, RecoveryFormatVersion, &now
		return outcome{}, nil
	})
}

// ClearRecoveryWrap removes the recovery wrap; refused in zero-knowledge mode,
// where it is the only copy.
func (s *Service) ClearRecoveryWrap(ctx context.Context, userID string, c Client) error {
	return s.change(ctx, userID, c, ActionRecoveryClear, func(r *Row) (outcome, error) {
		if r.ZeroKnowledge {
			return outcome{ActionRecoveryClear, 409, "zk-active"}, ErrZKActive
		}
		r.RecoveryWrappedMK, r.RecoveryIV, r.RecoverySetAt = "", "", nil
		return outcome{}, nil
	})
}

// EnableZeroKnowledge drops the server wrap; needs a recovery wrap first.
func (s *Service) EnableZeroKnowledge(ctx context.Context, userID string, c Client) error {
	return s.change(ctx, userID, c, ActionZKEnable, func(r *Row) (outcome, error) {
		switch {
		case r.ZeroKnowledge:
			return outcome{ActionZKEnable, 200, "already-enabled"}, nil
		case !r.hasRecovery():
			return outcome{ActionZKEnable, 400, "no-recovery-wrap"}, ErrRecoveryWrapMissing
		}
		r.ZeroKnowledge, r.Server = true, nil
		return outcome{}, nil
	})
}

// DisableZeroKnowledge wraps the master key the client supplies (the server
// cannot check it is the old one) and leaves zero-knowledge mode.
func (s *Service) DisableZeroKnowledge(ctx context.Context, userID string, c Client, mk []byte) error {
	return s.do(ctx, userID, c, func(tx Tx) (outcome, error) {
		r, out, err := existing(ctx, tx, ActionZKDisable)
		if err != nil {
			return out, err
		}
		if !r.ZeroKnowledge {
			return outcome{ActionZKDisable, 200, "already-disabled"}, nil
		}
		window, err := tx.RollbackWindow(ctx)
		if err != nil {
			return outcome{}, err
		}
		w, err := wrapFor(s.ring, r.UserID, mk, window)
		if err != nil {
			return outcome{}, err
		}
		r.ZeroKnowledge, r.Server = false, &w
		if err := tx.UpdateVault(ctx, r); err != nil {
			return outcome{}, err
		}
		return outcome{ActionZKDisable, 200, ""}, nil
	})
}
