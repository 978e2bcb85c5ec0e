package token

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/chacha20poly1305"
)

func legacyKey(secret string) []byte {
	sum := sha256.Sum256([]byte(secret))
	return sum[:]
}

// openLegacyPrivate opens a private key sealed with BETTER_AUTH_SECRET (seed
// contract §4.2): a JSON string literal holding hex of XChaCha20-Poly1305 nonce(24) ||
// ciphertext || tag, key SHA-256(BETTER_AUTH_SECRET), plaintext the private JWK.
func openLegacyPrivate(key []byte, stored string) (ed25519.PrivateKey, error) {
	if key == nil {
		return nil, errors.New("written by the old service; set BETTER_AUTH_SECRET to sign with it")
	}
	var hexText string
	if err := json.Unmarshal([]byte(stored), &hexText); err != nil {
		hexText = stored
	}
	if strings.HasPrefix(hexText, "$ba$") { // versioned secrets: $ba$<version>$<hex>
		if idx := strings.LastIndex(hexText, "$"); idx >= 0 {
			hexText = hexText[idx+1:]
		}
	}
	blob, err := hex.DecodeString(hexText)
	if err != nil || len(blob) < chacha20poly1305.NonceSizeX+16 {
		return nil, errors.New("legacy private key is not hex of a sealed value")
	}
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, fmt.Errorf("legacy cipher: %w", err)
	}
	plain, err := aead.Open(nil, blob[:chacha20poly1305.NonceSizeX], blob[chacha20poly1305.NonceSizeX:], nil)
	if err != nil {
		return nil, fmt.Errorf("legacy private key does not open with BETTER_AUTH_SECRET: %w", err)
	}
	var jwk struct {
		D string `json:"d"`
	}
	if err := json.Unmarshal(plain, &jwk); err != nil {
		return nil, fmt.Errorf("legacy private JWK: %w", err)
	}
	seed, err := base64.RawURLEncoding.DecodeString(jwk.D)
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, errors.New("legacy private JWK has a malformed d")
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

// sealLegacyPrivate seals a private key as the old service did, so it can
// sign with it after a rollback: the inverse of openLegacyPrivate.
func sealLegacyPrivate(key []byte, priv ed25519.PrivateKey) (string, error) {
	if key == nil {
		return "", errors.New("BETTER_AUTH_SECRET is needed to store a key the old service can read")
	}
	jwk, err := json.Marshal(map[string]string{"crv": "Ed25519", "d": base64.RawURLEncoding.EncodeToString(priv.Seed()),
		"x": base64.RawURLEncoding.EncodeToString(priv.Public().(ed25519.PublicKey)), "kty": "OKP"})
	if err != nil {
		return "", fmt.Errorf("legacy private JWK: %w", err)
	}
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return "", fmt.Errorf("legacy cipher: %w", err)
	}
	nonce := make([]byte, chacha20poly1305.NonceSizeX)
	_, _ = rand.Read(nonce)
	sealed := aead.Seal(nonce, nonce, jwk, nil)
	literal, err := json.Marshal(hex.EncodeToString(sealed))
	if err != nil {
		return "", fmt.Errorf("legacy key literal: %w", err)
	}
	return string(literal), nil
}
