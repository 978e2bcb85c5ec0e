// Package cutover is the rollback window of a cut-over from the old service:
// while a database the old service wrote is in the window, mana writes only
// what the old service reads (the domain services ask their store), so an
// operator can go back. Status counts what the database holds in each
// format and says whether going back is safe; Finalize ends the window and
// moves every row to mana's own formats, after which the old service is
// locked out on purpose.
//
// Finalize is online and resumable: it ends the window first (from then on
// every process writes mana's formats), then converts rows in batches, each
// change a compare-and-swap, so a second run (after a crash, or to catch a
// row written by a request that decided its format just before the switch)
// converts what is left.
package cutover

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/mana/mana/internal/kek"
	"github.com/mana/mana/internal/kekrotate"
	"github.com/mana/mana/internal/password"
	"github.com/mana/mana/internal/token"
	"github.com/mana/mana/internal/vault"
)

// States of the window.
const (
	Window    = "window"
	Finalized = "finalized"
)

// Counts is what the auth tables hold, per format.
type Counts struct {
	State       string
	EnteredAt   time.Time
	FinalizedAt *time.Time
	// Credential passwords: Better Auth scrypt, argon2id, scrypt wrapped in argon2id.
	PasswordsScrypt, PasswordsArgon2, PasswordsWrapped int
	// Live sessions whose token is stored as itself (the old service can
	// read it) or as its hash.
	SessionTokensClear, SessionTokensHashed int
}

// Credential is a stored password hash of a user.
type Credential struct {
	UserID, Hash string
}

// Store is what status and finalization read and change in the database.
type Store interface {
	Counts(ctx context.Context) (Counts, error)
	// EndWindow sets the state to finalized with a CUTOVER_FINALIZED event in
	// one transaction; changed is false when it was finalized already.
	EndWindow(ctx context.Context, meta map[string]any) (changed bool, err error)
	// LegacyCredentials lists up to limit Better Auth scrypt hashes of users
	// with an id after after, ascending.
	LegacyCredentials(ctx context.Context, after string, limit int) ([]Credential, error)
	// ReplaceCredential stores next if the user's hash is still old.
	ReplaceCredential(ctx context.Context, userID, old, next string) (bool, error)
	// HashSessionTokens replaces up to limit session tokens stored as
	// themselves by hash(token) and returns how many it changed.
	HashSessionTokens(ctx context.Context, hash func(string) string, limit int) (int, error)
}

// Report is the status of a database.
type Report struct {
	Counts
	// Vaults by scheme: the old one (no associated data, kek_id env-v1
	// opened by the active KEK) and the user-bound one.
	VaultsOld, VaultsUserBound int
	// Signing keys sealed with BETTER_AUTH_SECRET (the old service's) or a KEK.
	KeysOldSecret, KeysKEK int
	// NewestKeyKEK: the newest signing key is KEK-sealed; the old service
	// signs with the newest key and could not open it.
	NewestKeyKEK bool
}

// Reasons lists why going back to the old service would lose something;
// none means rollback-safe.
func (r Report) Reasons() []string {
	var out []string
	if r.State == Finalized {
		out = append(out, "the window is closed (finalized)")
	}
	if n := r.PasswordsArgon2 + r.PasswordsWrapped; n > 0 {
		out = append(out, fmt.Sprintf("%d passwords in formats the old service cannot verify (those users could not sign in)", n))
	}
	if r.VaultsUserBound > 0 {
		out = append(out, fmt.Sprintf("%d vaults wrapped with the user bound (the old service cannot open them)", r.VaultsUserBound))
	}
	if r.NewestKeyKEK {
		out = append(out, "the newest signing key is sealed under a KEK (the old service signs with the newest key)")
	}
	if r.SessionTokensHashed > 0 {
		out = append(out, fmt.Sprintf("%d live sessions store only a hash of their token (those browsers would be signed out)", r.SessionTokensHashed))
	}
	return out
}

// Print writes the report as `mana cutover status` shows it.
func (r Report) Print(w io.Writer) {
	fmt.Fprintf(w, "state: %s (since %s)\n", r.State, r.EnteredAt.UTC().Format(time.RFC3339))
	if r.FinalizedAt != nil {
		fmt.Fprintf(w, "finalized at: %s\n", r.FinalizedAt.UTC().Format(time.RFC3339))
	}
	fmt.Fprintf(w, "passwords: %d scrypt (old service), %d argon2id, %d scrypt wrapped in argon2id\n",
		r.PasswordsScrypt, r.PasswordsArgon2, r.PasswordsWrapped)
	fmt.Fprintf(w, "vaults: %d old scheme, %d user-bound\n", r.VaultsOld, r.VaultsUserBound)
	fmt.Fprintf(w, "signing keys: %d under BETTER_AUTH_SECRET (old service), %d under a KEK\n", r.KeysOldSecret, r.KeysKEK)
	fmt.Fprintf(w, "live sessions: %d tokens stored as themselves (old service), %d hashed\n", r.SessionTokensClear, r.SessionTokensHashed)
	fmt.Fprintln(w, "second factors enrolled by mana: 0 (mana enrols none yet)")
	if reasons := r.Reasons(); len(reasons) > 0 {
		fmt.Fprintf(w, "rollback-safe: no (%s)\n", strings.Join(reasons, "; "))
	} else {
		fmt.Fprintln(w, "rollback-safe: yes")
	}
}

// Status reads the report: the counts of st, and the vaults and signing keys
// through vaults (per user, so row-level security never hides a row).
func Status(ctx context.Context, st Store, vaults kekrotate.Store, batch int) (Report, error) {
	c, err := st.Counts(ctx)
	if err != nil {
		return Report{}, err
	}
	r := Report{Counts: c}
	for after := ""; ; {
		ids, err := vaults.UserIDsAfter(ctx, after, batch)
		if err != nil || len(ids) == 0 {
			if err != nil {
				return Report{}, err
			}
			break
		}
		after = ids[len(ids)-1]
		wraps, err := vaults.ServerWraps(ctx, ids)
		if err != nil {
			return Report{}, err
		}
		for _, w := range wraps {
			if w.Wrap.Scheme == vault.SchemeNoAAD {
				r.VaultsOld++
			} else {
				r.VaultsUserBound++
			}
		}
	}
	keys, err := vaults.SigningKeys(ctx)
	if err != nil {
		return Report{}, err
	}
	var newest time.Time
	for _, k := range keys {
		if k.KEKID == "" {
			r.KeysOldSecret++
		} else {
			r.KeysKEK++
		}
		if k.CreatedAt.After(newest) || newest.IsZero() {
			newest, r.NewestKeyKEK = k.CreatedAt, k.KEKID != ""
		}
	}
	return r, nil
}

// Summary is what one Finalize run did.
type Summary struct {
	Ended               bool // this run closed the window
	PasswordsWrapped    int
	PasswordsFailed     int
	Vaults              kekrotate.Summary
	KeysMoved           int
	SessionTokensHashed int
}

// Options tune Finalize.
type Options struct {
	BatchSize int
	Progress  io.Writer
	// BetterAuthSecret opens the old service's signing keys to move them.
	BetterAuthSecret string
}

// Finalize ends the window and converts every row to mana's formats:
// scrypt passwords wrapped in argon2id (upgraded to plain argon2id at the
// next sign-in), vaults re-wrapped with the user bound under the active
// KEK, the old service's signing keys sealed under the KEK ring, session
// tokens hashed.
func Finalize(ctx context.Context, st Store, vaults kekrotate.Store, hasher *password.Hasher, ring *kek.Ring,
	hashToken func(string) string, opt Options) (Summary, error) {
	if opt.BatchSize <= 0 {
		opt.BatchSize = 500
	}
	out := opt.Progress
	if out == nil {
		out = io.Discard
	}
	var sum Summary
	before, err := st.Counts(ctx)
	if err != nil {
		return sum, err
	}
	sum.Ended, err = st.EndWindow(ctx, map[string]any{"passwordsScrypt": before.PasswordsScrypt,
		"sessionTokensClear": before.SessionTokensClear})
	if err != nil {
		return sum, fmt.Errorf("end the window: %w", err)
	}
	if sum.Ended {
		fmt.Fprintln(out, "cutover finalize: the rollback window is closed; mana now writes only its own formats")
	} else {
		fmt.Fprintln(out, "cutover finalize: the window was already closed; converting what is left")
	}

	for after := ""; ; {
		creds, err := st.LegacyCredentials(ctx, after, opt.BatchSize)
		if err != nil {
			return sum, err
		}
		if len(creds) == 0 {
			break
		}
		after = creds[len(creds)-1].UserID
		for _, c := range creds {
			wrapped, err := hasher.Wrap(ctx, c.Hash)
			if err != nil {
				sum.PasswordsFailed++
				fmt.Fprintf(out, "cutover finalize: password of user %s not wrapped: %v\n", c.UserID, err)
				continue
			}
			ok, err := st.ReplaceCredential(ctx, c.UserID, c.Hash, wrapped)
			if err != nil {
				return sum, err
			}
			if ok {
				sum.PasswordsWrapped++
			}
		}
		fmt.Fprintf(out, "cutover finalize: passwords wrapped %d\n", sum.PasswordsWrapped)
	}

	sum.Vaults, err = kekrotate.Rotate(ctx, vaults, ring, kekrotate.Options{BatchSize: opt.BatchSize, Progress: out})
	if err != nil {
		return sum, fmt.Errorf("re-wrap vaults: %w", err)
	}

	keys, err := vaults.SigningKeys(ctx)
	if err != nil {
		return sum, err
	}
	for _, k := range keys {
		moved, changed, err := token.SealUnderRing(ring, opt.BetterAuthSecret, k)
		if err != nil {
			return sum, fmt.Errorf("move signing key under the KEK ring (is BETTER_AUTH_SECRET the old service's?): %w", err)
		}
		if !changed {
			continue
		}
		ok, err := vaults.ResealSigningKey(ctx, k, moved)
		if err != nil {
			return sum, err
		}
		if ok {
			sum.KeysMoved++
		}
	}

	for {
		n, err := st.HashSessionTokens(ctx, hashToken, opt.BatchSize)
		if err != nil {
			return sum, err
		}
		sum.SessionTokensHashed += n
		if n < opt.BatchSize {
			break
		}
	}
	fmt.Fprintf(out, "cutover finalize: done: %d passwords wrapped (%d failed), %d vaults re-wrapped, %d signing keys moved under the KEK, %d session tokens hashed\n",
		sum.PasswordsWrapped, sum.PasswordsFailed, sum.Vaults.VaultsRewrapped, sum.KeysMoved, sum.SessionTokensHashed)
	if sum.PasswordsFailed > 0 {
		return sum, fmt.Errorf("%d passwords could not be wrapped (they stay scrypt; run finalize again after fixing them)", sum.PasswordsFailed)
	}
	return sum, nil
}
