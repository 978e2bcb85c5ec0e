package token

import (
	"encoding/base64"
	"fmt"

	"github.com/mana/mana/internal/kek"
)

// sealAAD binds a sealed private key to its row, so a sealed value copied
// into another row does not open.
func sealAAD(kid string) []byte { return []byte("auth.jwks:" + kid) }

// Reseal moves a signing key's sealed private half to the ring's active KEK
// (for `mana kek rotate`); the key itself is unchanged. Rows sealed with
// BETTER_AUTH_SECRET (no kek_id) are not under a KEK and are refused here.
func Reseal(ring *kek.Ring, k StoredKey) (StoredKey, error) {
	if k.KEKID == "" {
		return StoredKey{}, fmt.Errorf("token: key %s is sealed by the old service's secret, not a KEK", k.ID)
	}
	sealed, err := base64.StdEncoding.DecodeString(k.PrivateKey)
	if err != nil {
		return StoredKey{}, fmt.Errorf("token: key %s: decode sealed key: %w", k.ID, err)
	}
	seed, err := ring.Open(k.KEKID, sealed, sealAAD(k.ID))
	if err != nil {
		return StoredKey{}, fmt.Errorf("token: key %s: %w", k.ID, err)
	}
	resealed, kekID := ring.Seal(seed, sealAAD(k.ID))
	k.PrivateKey, k.KEKID = base64.StdEncoding.EncodeToString(resealed), kekID
	return k, nil
}

// SealUnderRing moves a key the old service sealed with BETTER_AUTH_SECRET
// under the ring's active KEK (`mana cutover finalize`). Keys already under
// a KEK are returned unchanged (ok false).
func SealUnderRing(ring *kek.Ring, betterAuthSecret string, k StoredKey) (out StoredKey, ok bool, err error) {
	if k.KEKID != "" {
		return k, false, nil
	}
	priv, err := openLegacyPrivate(legacyKey(betterAuthSecret), k.PrivateKey)
	if err != nil {
		return StoredKey{}, false, fmt.Errorf("token: key %s: %w", k.ID, err)
	}
	sealed, kekID := ring.Seal(priv.Seed(), sealAAD(k.ID))
	k.PrivateKey, k.KEKID = base64.StdEncoding.EncodeToString(sealed), kekID
	return k, true, nil
}
