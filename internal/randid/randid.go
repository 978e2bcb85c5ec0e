// Package randid makes random identifiers and secrets in the stored formats:
// 32 characters of [A-Za-z0-9] for ids, URL-safe base64 of 32 bytes for tokens.
package randid

import (
	"crypto/rand"
	"encoding/base64"
)

const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// ID returns n characters drawn uniformly from [A-Za-z0-9] (Better Auth's ids).
func ID(n int) string {
	// rand.Text-style rejection sampling keeps the distribution uniform:
	// 62 does not divide 256, so bytes >= 248 are redrawn.
	out := make([]byte, 0, n)
	buf := make([]byte, n+n/4+8)
	for len(out) < n {
		_, _ = rand.Read(buf) // crypto/rand.Read never returns an error on supported platforms
		for _, b := range buf {
			if b >= 248 {
				continue
			}
			out = append(out, alnum[b%62])
			if len(out) == n {
				break
			}
		}
	}
	return string(out)
}

// UserID is the id of a new user, session or account row.
func UserID() string { return ID(32) }

// Secret returns 32 random bytes as unpadded URL-safe base64 (43 chars): the
// bearer secrets of links and refresh tokens.
func Secret() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}
