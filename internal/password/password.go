// Package password hashes new passwords with argon2id and verifies both those
// and the stored Better Auth scrypt hashes, so existing
// users keep signing in.
package password

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"runtime"
	"strings"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/scrypt"
	"golang.org/x/text/unicode/norm"
)

// Params are argon2id cost parameters. OWASP's minimum is m=19 MiB, t=2, p=1.
type Params struct {
	MemoryKiB uint32
	Time      uint32
	Threads   uint8
}

// OWASP is the OWASP Password Storage Cheat Sheet's argon2id configuration.
var OWASP = Params{MemoryKiB: 19 * 1024, Time: 2, Threads: 1}

const (
	saltLen = 16
	keyLen  = 32
)

// ErrMalformedHash means a stored hash is in no format we know: an
// operator-visible data problem, never a wrong password.
var ErrMalformedHash = errors.New("password: malformed stored hash")

// Hasher hashes and verifies passwords while capping how many run at once:
// each argon2id call takes 19 MiB, so a flood of logins queues here instead
// of exhausting memory (DESIGN.md §6).
type Hasher struct {
	params Params
	slots  chan struct{}
	// dummy is a hash of a random password, verified for unknown users so
	// that they cost the same time as known ones.
	dummy string
}

// NewHasher makes a Hasher allowing maxConcurrent hashes at once (0 = CPUs).
func NewHasher(p Params, maxConcurrent int) *Hasher {
	if maxConcurrent <= 0 {
		maxConcurrent = runtime.GOMAXPROCS(0)
	}
	h := &Hasher{params: p, slots: make(chan struct{}, maxConcurrent)}
	var pw [24]byte
	_, _ = rand.Read(pw[:])
	h.dummy = h.hashNow(hex.EncodeToString(pw[:]))
	return h
}

func (h *Hasher) acquire(ctx context.Context) error {
	select {
	case h.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("password: waiting for a hashing slot: %w", ctx.Err())
	}
}

func (h *Hasher) release() { <-h.slots }

// Normalize applies NFKC before hashing, as the stored hashes were made, so
// that the same password typed on different keyboards matches.
func Normalize(pw string) string { return norm.NFKC.String(pw) }

// Hash returns a PHC-format argon2id hash of the NFKC-normalised password.
func (h *Hasher) Hash(ctx context.Context, pw string) (string, error) {
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	defer h.release()
	return h.hashNow(pw), nil
}

func (h *Hasher) hashNow(pw string) string {
	salt := make([]byte, saltLen)
	_, _ = rand.Read(salt)
	key := argon2.IDKey([]byte(Normalize(pw)), salt, h.params.Time, h.params.MemoryKiB, h.params.Threads, keyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version,
		h.params.MemoryKiB, h.params.Time, h.params.Threads, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// Verify reports whether pw matches the stored hash (argon2id PHC or Better
// Auth scrypt "salthex:keyhex"). An empty stored hash (unknown user, no
// credential) is checked against a dummy hash so it costs the same and fails.
func (h *Hasher) Verify(ctx context.Context, pw, stored string) (bool, error) {
	if err := h.acquire(ctx); err != nil {
		return false, err
	}
	defer h.release()
	if stored == "" {
		_, _ = verifyArgon2(pw, h.dummy) // equal cost; the answer is no regardless
		return false, nil
	}
	if strings.HasPrefix(stored, "$argon2id$") {
		return verifyArgon2(pw, stored)
	}
	return verifyBetterAuthScrypt(pw, stored)
}

// NeedsRehash reports whether a stored hash should be replaced by a current
// argon2id hash after a successful login.
func (h *Hasher) NeedsRehash(stored string) bool {
	want := fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$", argon2.Version, h.params.MemoryKiB, h.params.Time, h.params.Threads)
	return !strings.HasPrefix(stored, want)
}

func verifyArgon2(pw, stored string) (bool, error) {
	parts := strings.Split(stored, "$")
	// "", "argon2id", "v=19", "m=..,t=..,p=..", salt, key
	if len(parts) != 6 {
		return false, ErrMalformedHash
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, ErrMalformedHash
	}
	var p Params
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.MemoryKiB, &p.Time, &p.Threads); err != nil {
		return false, ErrMalformedHash
	}
	salt, err := base64.RawStdEncoding.DecodeString(parts[4])
	if err != nil {
		return false, ErrMalformedHash
	}
	want, err := base64.RawStdEncoding.DecodeString(parts[5])
	if err != nil || len(want) == 0 {
		return false, ErrMalformedHash
	}
	got := argon2.IDKey([]byte(Normalize(pw)), salt, p.Time, p.MemoryKiB, p.Threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// verifyBetterAuthScrypt checks Better Auth's format (seed contract §3.4):
// scrypt N=16384 r=16 p=1 dkLen=64 over the NFKC password, with the ASCII of
// the 32-char hex salt as the salt, stored "salthex:keyhex".
func verifyBetterAuthScrypt(pw, stored string) (bool, error) {
	salt, keyHex, ok := strings.Cut(stored, ":")
	if !ok || len(salt) != 32 || len(keyHex) != 128 {
		return false, ErrMalformedHash
	}
	want, err := hex.DecodeString(keyHex)
	if err != nil {
		return false, ErrMalformedHash
	}
	got, err := scrypt.Key([]byte(Normalize(pw)), []byte(salt), 16384, 16, 1, 64)
	if err != nil {
		return false, fmt.Errorf("password: scrypt: %w", err)
	}
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}
