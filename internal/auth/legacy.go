package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"time"
)

// The old service's links stay valid for their remaining lifetime after the
// cut-over: its verification links are stateless HS256 JWTs under
// BETTER_AUTH_SECRET, its reset tokens rows of auth.verification.
const (
	legacyResetPrefix = "reset-password:"
	maxLegacyLink     = 2048
)

// legacyVerifyClaims reads a verification JWT of the old service: HS256
// over BETTER_AUTH_SECRET, payload {email, iat, exp}. ErrTokenInvalid for a
// bad signature or shape, ErrTokenExpired past exp.
func legacyVerifyClaims(secret []byte, tok string, now time.Time) (email string, expires time.Time, err error) {
	if len(secret) == 0 || len(tok) > maxLegacyLink {
		return "", time.Time{}, ErrTokenInvalid
	}
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return "", time.Time{}, ErrTokenInvalid
	}
	var header struct {
		Alg string `json:"alg"`
	}
	if !decodeSegment(parts[0], &header) || header.Alg != "HS256" {
		return "", time.Time{}, ErrTokenInvalid
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return "", time.Time{}, ErrTokenInvalid
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(parts[0] + "." + parts[1]))
	if !hmac.Equal(sig, mac.Sum(nil)) {
		return "", time.Time{}, ErrTokenInvalid
	}
	var claims struct {
		Email string   `json:"email"`
		Exp   *float64 `json:"exp"`
	}
	if !decodeSegment(parts[1], &claims) || claims.Email == "" || claims.Exp == nil {
		return "", time.Time{}, ErrTokenInvalid
	}
	expires = time.Unix(int64(*claims.Exp), 0)
	if !now.Before(expires) {
		return "", time.Time{}, ErrTokenExpired
	}
	return CanonicalEmail(claims.Email), expires, nil
}

func decodeSegment(seg string, v any) bool {
	raw, err := base64.RawURLEncoding.DecodeString(seg)
	return err == nil && json.Unmarshal(raw, v) == nil
}

// isLegacyResetToken tells the old service's reset tokens (24 characters of
// [A-Za-z0-9]) from this service's (43 characters of URL-safe base64).
func isLegacyResetToken(t string) bool {
	if len(t) != 24 {
		return false
	}
	for _, r := range t {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}
