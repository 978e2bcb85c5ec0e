package notify

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// BodyKeys seal sensitive bodies at rest (the KEK ring).
type BodyKeys interface {
	Seal(plaintext, aad []byte) (sealed []byte, kekID string)
	Open(kekID string, sealed, aad []byte) ([]byte, error)
}

// sealedPrefix marks a stored body sealed under a KEK:
// "mana-sealed:v1:<kek id>:<base64 of the AES-GCM output>".
const sealedPrefix = "mana-sealed:v1:"

// ErrSealedBody is a sealed body that cannot be opened here (no keys, or
// not the keys it was sealed under).
var ErrSealedBody = errors.New("sealed notification body")

// bodyAAD binds a sealed body to its recipient, so it cannot be moved to
// another row and delivered elsewhere.
func bodyAAD(recipient string) []byte { return []byte("mana-notify-body\x00" + recipient) }

// SealBody seals body for storage under keys.
func SealBody(keys BodyKeys, body, recipient string) string {
	sealed, kekID := keys.Seal([]byte(body), bodyAAD(recipient))
	return sealedPrefix + kekID + ":" + base64.RawStdEncoding.EncodeToString(sealed)
}

// IsSealed reports whether a stored body is sealed.
func IsSealed(body string) bool { return strings.HasPrefix(body, sealedPrefix) }

// OpenBody returns a stored body in clear: as it is when it was stored in
// clear, opened when it was sealed. ErrSealedBody when it cannot be opened.
func OpenBody(keys BodyKeys, body, recipient string) (string, error) {
	rest, ok := strings.CutPrefix(body, sealedPrefix)
	if !ok {
		return body, nil
	}
	if keys == nil {
		return "", fmt.Errorf("%w: no KEK ring is configured", ErrSealedBody)
	}
	kekID, enc, ok := strings.Cut(rest, ":")
	raw, err := base64.RawStdEncoding.DecodeString(enc)
	if !ok || err != nil {
		return "", fmt.Errorf("%w: malformed", ErrSealedBody)
	}
	clear, err := keys.Open(kekID, raw, bodyAAD(recipient))
	if err != nil {
		return "", fmt.Errorf("%w (KEK %s): %w", ErrSealedBody, kekID, err)
	}
	return string(clear), nil
}
