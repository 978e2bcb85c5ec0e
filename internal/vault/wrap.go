package vault

import (
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/mana/mana/internal/kek"
)

// MasterKeySize is the length of a user's master key.
const MasterKeySize = 32

// Wrap schemes (column wrap_scheme). The client-visible format_version is a
// different thing and stays 1.
const (
	// SchemeNoAAD is AES-256-GCM with no associated data, the scheme of
	// existing rows (docs/compatibility.md). Still read; written only in a
	// cut-over's rollback window, where the old service must read it.
	SchemeNoAAD = 1
	// SchemeUserAAD binds the owner's user id as associated data, so a
	// wrapped key copied into another user's row does not unwrap.
	SchemeUserAAD = 2
)

// Wrapped is a server wrap as stored: base64 columns plus the KEK id and scheme.
type Wrapped struct {
	WrappedMK string // base64(ciphertext||tag)
	WrapIV    string // base64(12-byte nonce)
	KEKID     string
	Scheme    int
}

// ErrUnwrap means a stored wrap could not be opened (wrong KEK, tampering, a
// row copied from another user, or malformed columns).
var ErrUnwrap = errors.New("vault: cannot unwrap the master key")

func associatedData(scheme int, userID string) ([]byte, error) {
	switch scheme {
	case SchemeNoAAD:
		return nil, nil
	case SchemeUserAAD:
		return []byte("auth.encryption_vaults:" + userID), nil
	}
	return nil, fmt.Errorf("unknown wrap scheme %d", scheme)
}

// WrapKey wraps a 32-byte master key for userID under the ring's active KEK.
func WrapKey(ring *kek.Ring, userID string, mk []byte) (Wrapped, error) {
	if len(mk) != MasterKeySize {
		return Wrapped{}, fmt.Errorf("vault: expected a 32-byte master key, got %d bytes", len(mk))
	}
	aad, _ := associatedData(SchemeUserAAD, userID) // a known scheme cannot fail
	nonce, ct, id := ring.Wrap(mk, aad)
	return Wrapped{WrappedMK: base64.StdEncoding.EncodeToString(ct), WrapIV: base64.StdEncoding.EncodeToString(nonce),
		KEKID: id, Scheme: SchemeUserAAD}, nil
}

// WrapLegacyKey wraps as the old service did: under the active KEK (which
// is the old service's MANA_AUTH_KEK while the rollback window is open), no
// associated data, kek_id "env-v1".
func WrapLegacyKey(ring *kek.Ring, mk []byte) (Wrapped, error) {
	if len(mk) != MasterKeySize {
		return Wrapped{}, fmt.Errorf("vault: expected a 32-byte master key, got %d bytes", len(mk))
	}
	nonce, ct, _ := ring.Wrap(mk, nil)
	return Wrapped{WrappedMK: base64.StdEncoding.EncodeToString(ct), WrapIV: base64.StdEncoding.EncodeToString(nonce),
		KEKID: kek.LegacyID, Scheme: SchemeNoAAD}, nil
}

// wrapFor wraps for the database's state: the old scheme in the rollback
// window, the user-bound one otherwise.
func wrapFor(ring *kek.Ring, userID string, mk []byte, window bool) (Wrapped, error) {
	if window {
		return WrapLegacyKey(ring, mk)
	}
	return WrapKey(ring, userID, mk)
}

// UnwrapKey opens a stored wrap of userID's master key.
func UnwrapKey(ring *kek.Ring, userID string, w Wrapped) ([]byte, error) {
	aad, err := associatedData(w.Scheme, userID)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnwrap, err)
	}
	ct, err := base64.StdEncoding.DecodeString(w.WrappedMK)
	if err != nil {
		return nil, fmt.Errorf("%w: wrapped_mk is not base64: %v", ErrUnwrap, err)
	}
	nonce, err := base64.StdEncoding.DecodeString(w.WrapIV)
	if err != nil {
		return nil, fmt.Errorf("%w: wrap_iv is not base64: %v", ErrUnwrap, err)
	}
	mk, err := ring.Unwrap(w.KEKID, nonce, ct, aad)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnwrap, err)
	}
	if len(mk) != MasterKeySize {
		return nil, fmt.Errorf("%w: unwrapped key has %d bytes, want 32", ErrUnwrap, len(mk))
	}
	return mk, nil
}

// Rewrap moves a wrap to the active KEK and the user-bound scheme; the master
// key itself is unchanged. Used by `mana kek rotate`.
func Rewrap(ring *kek.Ring, userID string, w Wrapped) (Wrapped, error) {
	mk, err := UnwrapKey(ring, userID, w)
	if err != nil {
		return Wrapped{}, err
	}
	return WrapKey(ring, userID, mk)
}

// Current reports whether a wrap is already under the active KEK and scheme.
func Current(ring *kek.Ring, w Wrapped) bool {
	return w.KEKID == ring.ActiveID() && w.Scheme == SchemeUserAAD
}
