// Package kek holds the key-encryption keys that protect secrets at rest
// (vault master keys, JWT signing keys) and seals/opens data under them with
// AES-256-GCM. Every sealed value records the id of the KEK that sealed it.
package kek

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
)

// LegacyID is the kek_id of rows sealed before kek_ids named a key
// (docs/compatibility.md). It does not say which configured KEK opens the row
// (after a rotation it is not the active one), so a LegacyID value is opened by trying every configured KEK, active first: GCM authentication
// tells which one is right (a wrong key fails the tag check, it never yields
// wrong plaintext).
const LegacyID = "env-v1"

// NonceSize is the AES-GCM nonce length used for every seal.
const NonceSize = 12

// KeySize is the length of every KEK.
const KeySize = 32

// ErrUnknownKEK means a value was sealed under a KEK that is not configured.
var ErrUnknownKEK = errors.New("kek: sealed under a KEK that is not configured")

// Ring is the set of configured KEKs; new values are sealed under the active one.
type Ring struct {
	active string
	order  []string // ids, active first, then retired in configuration order
	keys   map[string]cipher.AEAD
}

// ID derives a stable, non-secret identifier from a key: the first 8 bytes of
// SHA-256 over a domain label and the key, so the id never reveals the key.
func ID(key []byte) string {
	sum := sha256.Sum256(append([]byte("mana-kek-id:v1:"), key...))
	return "kek-" + hex.EncodeToString(sum[:8])
}

// NewRing builds a ring whose active KEK is active; retired keys may follow.
// A retired key equal to the active one (or to another retired key) is an
// operator mistake worth stopping for, not something to paper over.
func NewRing(active []byte, retired ...[]byte) (*Ring, error) {
	r := &Ring{keys: map[string]cipher.AEAD{}}
	for i, k := range append([][]byte{active}, retired...) {
		if len(k) != KeySize {
			return nil, fmt.Errorf("kek: key %d: expected 32 bytes, got %d", i, len(k))
		}
		id := ID(k)
		if _, dup := r.keys[id]; dup {
			return nil, fmt.Errorf("kek: key %d (%s) is configured twice", i, id)
		}
		block, err := aes.NewCipher(k)
		if err != nil {
			return nil, fmt.Errorf("kek: key %d: %w", i, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("kek: key %d: %w", i, err)
		}
		if i == 0 {
			r.active = id
		}
		r.keys[id] = aead
		r.order = append(r.order, id)
	}
	return r, nil
}

// ActiveID is the id recorded with values sealed now.
func (r *Ring) ActiveID() string { return r.active }

// IDs lists the configured KEK ids, active first.
func (r *Ring) IDs() []string { return append([]string(nil), r.order...) }

// Has reports whether kekID can be opened by this ring: a configured id, or
// LegacyID (which is resolved by trial at open time).
func (r *Ring) Has(kekID string) bool {
	_, ok := r.keys[kekID]
	return ok || kekID == LegacyID
}

// Wrap encrypts plaintext under the active KEK with a fresh random 12-byte
// nonce, binding aad (nil for none). It returns the nonce and ciphertext||tag
// separately, as the vault stores them in two columns.
func (r *Ring) Wrap(plaintext, aad []byte) (nonce, ciphertext []byte, kekID string) {
	aead := r.keys[r.active]
	nonce = make([]byte, NonceSize)
	// crypto/rand.Read never fails on supported platforms (it aborts the
	// program instead), so there is no error to handle here.
	_, _ = rand.Read(nonce)
	return nonce, aead.Seal(nil, nonce, plaintext, aad), r.active
}

// Unwrap decrypts a value wrapped under kekID. LegacyID tries every KEK.
func (r *Ring) Unwrap(kekID string, nonce, ciphertext, aad []byte) ([]byte, error) {
	if len(nonce) != NonceSize {
		return nil, fmt.Errorf("kek: expected a 12-byte IV, got %d bytes", len(nonce))
	}
	if kekID == LegacyID {
		for _, id := range r.order {
			if out, err := r.keys[id].Open(nil, nonce, ciphertext, aad); err == nil {
				return out, nil
			}
		}
		return nil, fmt.Errorf("kek: open %s: none of the %d configured KEKs authenticates this value", LegacyID, len(r.order))
	}
	aead, ok := r.keys[kekID]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownKEK, kekID)
	}
	out, err := aead.Open(nil, nonce, ciphertext, aad)
	if err != nil {
		return nil, fmt.Errorf("kek: open under %s: %w", kekID, err)
	}
	return out, nil
}

// Seal is Wrap with the nonce prepended: nonce||ciphertext||tag.
func (r *Ring) Seal(plaintext, aad []byte) (sealed []byte, kekID string) {
	nonce, ct, id := r.Wrap(plaintext, aad)
	return append(nonce, ct...), id
}

// Open decrypts a value sealed by Seal under the KEK named kekID.
func (r *Ring) Open(kekID string, sealed, aad []byte) ([]byte, error) {
	if len(sealed) < NonceSize {
		return nil, errors.New("kek: sealed value too short")
	}
	return r.Unwrap(kekID, sealed[:NonceSize], sealed[NonceSize:], aad)
}
