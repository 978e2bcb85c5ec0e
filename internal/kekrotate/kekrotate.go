// Package kekrotate moves every secret sealed under a retired KEK (vault
// server wraps, JWT signing keys) to the active KEK while the service keeps
// serving, and refuses a ring that lacks a KEK still in use.
//
// Rotation is resumable by construction: it walks all users in id order and
// re-wraps only rows that are not yet under the active KEK and the
// user-bound scheme, each batch in its own transaction with its audit rows.
// After a crash, running it again skips the rows already done.
package kekrotate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/mana/mana/internal/kek"
	"github.com/mana/mana/internal/token"
	"github.com/mana/mana/internal/vault"
)

// VaultWrap is one user's server wrap.
type VaultWrap struct {
	UserID string
	Wrap   vault.Wrapped
}

// Store is what rotation needs from the database. Vault rows are read per
// user under that user's app.current_user_id, so it works under the
// row-level security policies without a role that bypasses them.
type Store interface {
	CountUsers(ctx context.Context) (int, error)
	// UserIDsAfter lists up to limit user ids greater than after, ascending.
	UserIDsAfter(ctx context.Context, after string, limit int) ([]string, error)
	// ServerWraps reads the server wraps of the given users (users without a
	// vault or in zero-knowledge mode have none).
	ServerWraps(ctx context.Context, userIDs []string) ([]VaultWrap, error)
	// RewrapVaults, in one transaction, locks the given users' server wraps,
	// calls next for each, and stores every wrap next returns with change
	// set, together with an audit row (action kek_rewrap).
	RewrapVaults(ctx context.Context, userIDs []string, next func(VaultWrap) (w vault.Wrapped, change bool)) (int, error)
	SigningKeys(ctx context.Context) ([]token.StoredKey, error)
	// ResealSigningKey replaces a key's sealed private half if it is still
	// sealed as in old, and records a security event; false if it changed meanwhile.
	ResealSigningKey(ctx context.Context, old, resealed token.StoredKey) (bool, error)
}

// Summary is the outcome of one rotation run.
type Summary struct {
	UsersScanned        int
	VaultsRewrapped     int
	VaultsCurrent       int // already under the active KEK and scheme
	VaultsFailed        int
	FailedUsers         []string // the first few, for the operator
	SigningKeysResealed int
	SigningKeysLegacy   int // sealed by BETTER_AUTH_SECRET, not a KEK: left as they are
	Elapsed             time.Duration
}

// Rate is re-wrapped vaults per second.
func (s Summary) Rate() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.VaultsRewrapped) / s.Elapsed.Seconds()
}

// Options tune a run.
type Options struct {
	BatchSize int       // users per transaction; 500 when 0
	Progress  io.Writer // one line per batch; nil for none
}

const maxFailedListed = 10

// Rotate re-wraps everything not yet under the ring's active KEK. It returns
// an error when any row could not be re-wrapped (after doing all others).
func Rotate(ctx context.Context, st Store, ring *kek.Ring, opt Options) (Summary, error) {
	if opt.BatchSize <= 0 {
		opt.BatchSize = 500
	}
	progress := opt.Progress
	if progress == nil {
		progress = io.Discard
	}
	start := time.Now()
	var sum Summary
	total, err := st.CountUsers(ctx)
	if err != nil {
		return sum, err
	}
	fmt.Fprintf(progress, "kek rotate: active KEK %s, configured %s; %d users to scan in batches of %d\n",
		ring.ActiveID(), strings.Join(ring.IDs(), ", "), total, opt.BatchSize)

	for after := ""; ; {
		ids, err := st.UserIDsAfter(ctx, after, opt.BatchSize)
		if err != nil {
			return sum, err
		}
		if len(ids) == 0 {
			break
		}
		after = ids[len(ids)-1]
		n, err := st.RewrapVaults(ctx, ids, func(v VaultWrap) (vault.Wrapped, bool) {
			if vault.Current(ring, v.Wrap) {
				sum.VaultsCurrent++
				return vault.Wrapped{}, false
			}
			w, err := vault.Rewrap(ring, v.UserID, v.Wrap)
			if err != nil {
				sum.VaultsFailed++
				if len(sum.FailedUsers) < maxFailedListed {
					sum.FailedUsers = append(sum.FailedUsers, fmt.Sprintf("%s (%v)", v.UserID, err))
				}
				return vault.Wrapped{}, false
			}
			return w, true
		})
		if err != nil {
			return sum, fmt.Errorf("re-wrap batch after user %q: %w", after, err)
		}
		sum.UsersScanned += len(ids)
		sum.VaultsRewrapped += n
		sum.Elapsed = time.Since(start)
		fmt.Fprintf(progress, "kek rotate: users %d/%d (%3.0f%%)  vaults re-wrapped %d  already current %d  failed %d  %.0f vaults/s\n",
			sum.UsersScanned, total, 100*float64(sum.UsersScanned)/float64(max(total, 1)), sum.VaultsRewrapped,
			sum.VaultsCurrent, sum.VaultsFailed, sum.Rate())
	}

	if err := resealSigningKeys(ctx, st, ring, &sum); err != nil {
		return sum, err
	}
	sum.Elapsed = time.Since(start)
	fmt.Fprintf(progress, "kek rotate: done in %s: %d users scanned, %d vaults re-wrapped, %d already current, %d failed; "+
		"%d signing keys re-sealed, %d left under the old service's secret; %.0f vaults/s\n",
		sum.Elapsed.Round(time.Millisecond), sum.UsersScanned, sum.VaultsRewrapped, sum.VaultsCurrent, sum.VaultsFailed,
		sum.SigningKeysResealed, sum.SigningKeysLegacy, sum.Rate())
	if sum.VaultsFailed > 0 {
		return sum, fmt.Errorf("%d vault rows could not be re-wrapped (they stay as they were): %s",
			sum.VaultsFailed, strings.Join(sum.FailedUsers, "; "))
	}
	return sum, nil
}

func resealSigningKeys(ctx context.Context, st Store, ring *kek.Ring, sum *Summary) error {
	keys, err := st.SigningKeys(ctx)
	if err != nil {
		return err
	}
	for _, k := range keys {
		switch {
		case k.KEKID == "":
			sum.SigningKeysLegacy++
			continue
		case k.KEKID == ring.ActiveID():
			continue
		}
		resealed, err := token.Reseal(ring, k)
		if err != nil {
			return fmt.Errorf("re-seal signing key: %w", err)
		}
		ok, err := st.ResealSigningKey(ctx, k, resealed)
		if err != nil {
			return err
		}
		if ok {
			sum.SigningKeysResealed++
		}
	}
	return nil
}

// Usage counts, per KEK id, the vault rows and signing keys sealed under it.
type Usage struct {
	Vaults      map[string]int
	SigningKeys map[string]int
	// legacy is one env-v1 vault row, to prove some configured KEK opens them.
	legacy *VaultWrap
}

// Measure scans every user's vault row and every signing key.
func Measure(ctx context.Context, st Store, batchSize int) (Usage, error) {
	if batchSize <= 0 {
		batchSize = 500
	}
	u := Usage{Vaults: map[string]int{}, SigningKeys: map[string]int{}}
	for after := ""; ; {
		ids, err := st.UserIDsAfter(ctx, after, batchSize)
		if err != nil {
			return u, err
		}
		if len(ids) == 0 {
			break
		}
		after = ids[len(ids)-1]
		wraps, err := st.ServerWraps(ctx, ids)
		if err != nil {
			return u, err
		}
		for _, w := range wraps {
			u.Vaults[w.Wrap.KEKID]++
			if w.Wrap.KEKID == kek.LegacyID && u.legacy == nil {
				u.legacy = &w
			}
		}
	}
	keys, err := st.SigningKeys(ctx)
	if err != nil {
		return u, err
	}
	for _, k := range keys {
		if k.KEKID != "" {
			u.SigningKeys[k.KEKID]++
		}
	}
	return u, nil
}

// CheckRing refuses a ring that lacks a KEK still in use, saying how many
// rows need it and how to rotate them away.
func CheckRing(ctx context.Context, st Store, ring *kek.Ring) error {
	u, err := Measure(ctx, st, 0)
	if err != nil {
		return fmt.Errorf("check which KEKs are in use: %w", err)
	}
	return u.Check(ring)
}

// Check is CheckRing on a measured usage.
func (u Usage) Check(ring *kek.Ring) error {
	missing := map[string]bool{}
	for id := range u.Vaults {
		if !ring.Has(id) {
			missing[id] = true
		}
	}
	for id := range u.SigningKeys {
		if !ring.Has(id) {
			missing[id] = true
		}
	}
	var errs []error
	ids := make([]string, 0, len(missing))
	for id := range missing {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		errs = append(errs, fmt.Errorf("KEK %s is not configured but still wraps %d vault rows and %d signing keys: "+
			"add it back to MANA_AUTH_KEK_PREVIOUS (or MANA_AUTH_KEK_PREVIOUS_FILE), run `mana kek rotate` "+
			"to re-wrap them under the active KEK, and remove it only after that", id, u.Vaults[id], u.SigningKeys[id]))
	}
	if u.legacy != nil {
		if _, err := vault.UnwrapKey(ring, u.legacy.UserID, u.legacy.Wrap); err != nil {
			errs = append(errs, fmt.Errorf("%d vault rows carry the old service's kek_id %s, but none of the configured KEKs "+
				"opens them (tried the row of user %s: %v): configure the old service's MANA_AUTH_KEK as MANA_AUTH_KEK or in "+
				"MANA_AUTH_KEK_PREVIOUS, then run `mana kek rotate`", u.Vaults[kek.LegacyID], kek.LegacyID, u.legacy.UserID, err))
		}
	}
	return errors.Join(errs...)
}
