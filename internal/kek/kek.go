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

// LegacyID is the kek_id the old service wrote; it names the configured KEK.
const LegacyID = "env-v1"

// NonceSize is the AES-GCM nonce length used for every seal.
const NonceSize = 12

// ErrUnknownKEK means a value was sealed under a KEK that is not configured.
var ErrUnknownKEK = errors.New("kek: sealed under a KEK that is not configured")

// Ring is the set of configured KEKs; new values are sealed under Active.
type Ring struct {
	active string
	keys   map[string]cipher.AEAD
}

// ID derives a stable, non-secret identifier from a key: the first 8 bytes of
// SHA-256 over a domain label and the key, so the id never reveals the key.
func ID(key []byte) string {
	sum := sha256.Sum256(append([]byte("mana-kek-id:v1:"), key...))
	return "kek-" + hex.EncodeToString(sum[:8])
}

// NewRing builds a ring whose active KEK is active; retired keys may follow.
// The active key also answers to LegacyID, as the old service had one KEK.
func NewRing(active []byte, retired ...[]byte) (*Ring, error) {
	r := &Ring{keys: map[string]cipher.AEAD{}}
	for i, k := range append([][]byte{active}, retired...) {
		if len(k) != 32 {
			return nil, fmt.Errorf("kek: key %d: expected 32 bytes, got %d", i, len(k))
		}
		block, err := aes.NewCipher(k)
		if err != nil {
			return nil, fmt.Errorf("kek: key %d: %w", i, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("kek: key %d: %w", i, err)
		}
		id := ID(k)
		if i == 0 {
			r.active = id
			r.keys[LegacyID] = aead
		}
		r.keys[id] = aead
	}
	return r, nil
}

// ActiveID is the id recorded with values sealed now.
func (r *Ring) ActiveID() string { return r.active }

// Seal encrypts plaintext under the active KEK, binding aad (which must be
// given again to open). It returns nonce||ciphertext||tag and the KEK id.
func (r *Ring) Seal(plaintext, aad []byte) (sealed []byte, kekID string) {
	aead := r.keys[r.active]
	nonce := make([]byte, NonceSize, NonceSize+len(plaintext)+aead.Overhead())
	_, _ = rand.Read(nonce)
	return aead.Seal(nonce, nonce, plaintext, aad), r.active
}

// Open decrypts a value sealed by Seal under the KEK named kekID.
func (r *Ring) Open(kekID string, sealed, aad []byte) ([]byte, error) {
	aead, ok := r.keys[kekID]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownKEK, kekID)
	}
	if len(sealed) < NonceSize+aead.Overhead() {
		return nil, errors.New("kek: sealed value too short")
	}
	out, err := aead.Open(nil, sealed[:NonceSize], sealed[NonceSize:], aad)
	if err != nil {
		return nil, fmt.Errorf("kek: open under %s: %w", kekID, err)
	}
	return out, nil
}
