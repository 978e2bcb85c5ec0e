// Package password hashes new passwords with argon2id and verifies both those
// and the stored Better Auth scrypt hashes, so existing users keep signing
// in. During a cut-over's rollback window it writes Better Auth's scrypt
// format instead (the old service must read every hash), and at
// finalization it wraps the scrypt rows in argon2id.
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
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/text/unicode/norm"

	"github.com/mana/mana/internal/argon2id"
	"github.com/mana/mana/internal/hashmem"
	"github.com/mana/mana/internal/scrypt"
	"github.com/mana/mana/internal/timing"
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

// Better Auth's scrypt cost (seed contract §3.4): N=16384, r=16, p=1, a
// 64-byte key; 32 MiB of working memory.
const scryptN, scryptR, scryptP, scryptKeyLen = 16384, 16, 1, 64

// ErrMalformedHash means a stored hash is in no format we know: an
// operator-visible data problem, never a wrong password.
var ErrMalformedHash = errors.New("password: malformed stored hash")

// Hasher hashes and verifies passwords while capping how many run at once:
// each argon2id call takes 19 MiB and each scrypt call 32 MiB, so a flood of
// logins queues here instead of exhausting memory (DESIGN.md §6). Each slot
// owns one working memory for both algorithms, grown on first use to what
// the slot has run (at most the larger cost, not the sum) and reused by
// every later hash, so the hashes neither allocate nor leave garbage for
// the collector.
type Hasher struct {
	params Params
	slots  chan *slot
	// memory is the working memory the slots keep in all; onGrowth hears
	// of it (OnMemoryGrowth).
	memoryMu sync.Mutex
	memory   int
	onGrowth func(keptBytes int)
	// dummy and dummyScrypt are hashes of a random password, verified for
	// unknown users so that they cost the same time as known ones (in the
	// rollback window most hashes are scrypt).
	dummy, dummyScrypt string
	// floor is the (median) cost of verifying a legacy row; while it is
	// set (PadToLegacy), cheaper verifications outside the rollback window
	// wait until it has passed. 0 = no padding.
	floor timing.Median
	// calibrate measures that cost once, when padding is first turned on.
	calibrate  func() time.Duration
	floorOnce  sync.Once
	legacyCost time.Duration
}

// NewHasher makes a Hasher allowing maxConcurrent hashes at once (0 = CPUs).
func NewHasher(p Params, maxConcurrent int) *Hasher {
	if maxConcurrent <= 0 {
		maxConcurrent = runtime.GOMAXPROCS(0)
	}
	h := &Hasher{params: p, slots: make(chan *slot, maxConcurrent)}
	keep := max(int(p.MemoryKiB)*1024, scrypt.MemoryBytes(scryptN, scryptR))
	for range maxConcurrent {
		h.slots <- &slot{mem: hashmem.New(keep)}
	}
	var pw [24]byte
	_, _ = rand.Read(pw[:])
	s := <-h.slots
	h.dummy = h.hashNow(s.mem, hex.EncodeToString(pw[:]))
	h.release(s)
	// In memory that is not kept: most servers never verify scrypt, and
	// their slots should not grow to its cost for this one hash.
	dummyScrypt, err := scryptHash(new(hashmem.Arena), hex.EncodeToString(pw[:]))
	if err != nil {
		panic(err) // scrypt with fixed valid parameters: only a crypto module that refuses PBKDF2
	}
	h.dummyScrypt = dummyScrypt
	h.calibrate = h.measureWrapped
	return h
}

// PadToLegacy turns padding on or off. A wrapped legacy row costs scrypt
// and argon2id to verify, an argon2id row or an unknown user (the dummy)
// argon2id only: while legacy rows remain, the cheap paths wait until a
// legacy row's cost has passed, so sign-in timing does not tell a dormant
// migrated account from an unknown address (audit F11). The wait holds no
// hashing slot and no CPU. The cost is measured on first use.
func (h *Hasher) PadToLegacy(on bool) {
	if !on {
		h.floor.Set(0)
		return
	}
	h.floorOnce.Do(func() { h.legacyCost = h.calibrate() })
	h.floor.SetIfNone(h.legacyCost) // on already: keep the observed floor
}

// LegacyFloor is the padding in force (0 when off).
func (h *Hasher) LegacyFloor() time.Duration { return h.floor.Get() }

// measureWrapped is the median of three verifications of a wrapped dummy.
func (h *Hasher) measureWrapped() time.Duration {
	ctx := context.Background()
	wrapped, err := h.Wrap(ctx, h.dummyScrypt)
	if err != nil {
		return 0 // the dummy is well-formed; unreachable
	}
	s, err := h.acquire(ctx)
	if err != nil {
		return 0 // a background context is never done; unreachable
	}
	defer h.release(s)
	var d [3]time.Duration
	for i := range d {
		start := time.Now()
		_, _ = verifyWrapped(s.mem, "not the password", wrapped)
		d[i] = time.Since(start)
	}
	slices.Sort(d[:])
	return d[1]
}

// slot is a hashing slot: the working memory of one hash at a time, and
// how much of it the Hasher has counted so far.
type slot struct {
	mem     *hashmem.Arena
	counted int
}

// acquire waits for a hashing slot.
func (h *Hasher) acquire(ctx context.Context) (*slot, error) {
	select {
	case s := <-h.slots:
		return s, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("password: waiting for a hashing slot: %w", ctx.Err())
	}
}

// release returns the slot, counting the memory it has grown by.
func (h *Hasher) release(s *slot) {
	if kept := s.mem.KeptBytes(); kept != s.counted {
		h.memoryMu.Lock()
		h.memory += kept - s.counted
		if h.onGrowth != nil {
			h.onGrowth(h.memory)
		}
		h.memoryMu.Unlock()
		s.counted = kept
	}
	h.slots <- s
}

// OnMemoryGrowth calls f with the working memory the hashing slots keep in
// all: at once, and again whenever it grows (a slot's first hash, its first
// Better Auth scrypt hash). The server sizes its memory limit from it.
// Calls are serialised.
func (h *Hasher) OnMemoryGrowth(f func(keptBytes int)) {
	h.memoryMu.Lock()
	defer h.memoryMu.Unlock()
	h.onGrowth = f
	f(h.memory)
}

// Normalize applies NFKC before hashing, as the stored hashes were made, so
// that the same password typed on different keyboards matches.
func Normalize(pw string) string { return norm.NFKC.String(pw) }

// Hash returns a PHC-format argon2id hash of the NFKC-normalised password.
func (h *Hasher) Hash(ctx context.Context, pw string) (string, error) {
	s, err := h.acquire(ctx)
	if err != nil {
		return "", err
	}
	defer h.release(s)
	return h.hashNow(s.mem, pw), nil
}

func (h *Hasher) hashNow(mem *hashmem.Arena, pw string) string {
	salt := make([]byte, saltLen)
	_, _ = rand.Read(salt)
	key := h.key(mem, []byte(Normalize(pw)), salt)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2id.Version,
		h.params.MemoryKiB, h.params.Time, h.params.Threads, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// key is argon2id with the configured parameters, which are valid (a
// Hasher is only built with them), in the slot's memory.
func (h *Hasher) key(mem *hashmem.Arena, secret, salt []byte) []byte {
	key, err := argon2id.Key(mem, secret, salt, h.params.Time, h.params.MemoryKiB, h.params.Threads, keyLen)
	if err != nil {
		panic(fmt.Sprintf("password: argon2id with the configured parameters %+v: %v", h.params, err))
	}
	return key
}

// HashLegacy returns a hash in Better Auth's scrypt format (the rollback
// window: the old service must be able to verify it).
func (h *Hasher) HashLegacy(ctx context.Context, pw string) (string, error) {
	s, err := h.acquire(ctx)
	if err != nil {
		return "", err
	}
	defer h.release(s)
	return scryptHash(s.mem, pw)
}

// HashFor hashes for the database's state: Better Auth scrypt in the
// rollback window, argon2id otherwise.
func (h *Hasher) HashFor(ctx context.Context, pw string, window bool) (string, error) {
	if window {
		return h.HashLegacy(ctx, pw)
	}
	return h.Hash(ctx, pw)
}

// Verify reports whether pw matches the stored hash (argon2id PHC, Better
// Auth scrypt "salthex:keyhex", or a scrypt hash wrapped in argon2id). An
// empty stored hash (unknown user, no credential) is checked against a dummy
// hash of the format most rows have (scrypt in the rollback window), so it
// costs the same and fails. Outside the window, argon2id rows and the dummy
// are padded to a legacy row's cost while PadToLegacy is on.
func (h *Hasher) Verify(ctx context.Context, pw, stored string, window bool) (bool, error) {
	start := time.Now()
	ok, padded, err := h.verify(ctx, pw, stored, window)
	switch {
	case err != nil:
	case padded:
		if floor := h.floor.Get(); floor > 0 {
			if err := timing.WaitUntil(ctx, start.Add(floor)); err != nil {
				return false, fmt.Errorf("password: padding the verification: %w", err)
			}
		}
	case !window && stored != "":
		// A legacy row outside the window: its real cost keeps the floor
		// at a legacy row's median (load moves it from the calibration).
		h.floor.Observe(time.Since(start), true)
	}
	return ok, err
}

// verify checks pw; padded reports a path cheaper than a legacy row's.
func (h *Hasher) verify(ctx context.Context, pw, stored string, window bool) (ok, padded bool, err error) {
	s, err := h.acquire(ctx)
	if err != nil {
		return false, false, err
	}
	defer h.release(s)
	mem := s.mem
	switch {
	case stored == "" && window:
		// Equal cost; the answer is no regardless, but a failure is told.
		_, err := verifyBetterAuthScrypt(mem, pw, h.dummyScrypt)
		return false, false, err
	case stored == "":
		_, err := verifyArgon2(mem, pw, h.dummy)
		return false, !window, err
	case strings.HasPrefix(stored, "$argon2id$"):
		ok, err := verifyArgon2(mem, pw, stored)
		return ok, !window, err
	case strings.HasPrefix(stored, wrappedPrefix):
		ok, err := verifyWrapped(mem, pw, stored)
		return ok, false, err
	}
	ok, err = verifyBetterAuthScrypt(mem, pw, stored)
	return ok, false, err
}

// NeedsRehash reports whether a stored hash should be replaced by a current
// argon2id hash after a successful login. Never in the rollback window: the
// old service must keep reading every hash.
func (h *Hasher) NeedsRehash(stored string, window bool) bool {
	if window {
		return false
	}
	want := fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$", argon2id.Version, h.params.MemoryKiB, h.params.Time, h.params.Threads)
	return !strings.HasPrefix(stored, want)
}

// IsLegacy reports a Better Auth scrypt hash (what finalization wraps).
func IsLegacy(stored string) bool {
	salt, key, ok := strings.Cut(stored, ":")
	return ok && len(salt) == 32 && len(key) == 128 && !strings.HasPrefix(stored, "$")
}

// wrappedPrefix marks a Better Auth scrypt hash wrapped in argon2id:
// "$scrypt-argon2id$v=19$m=..,t=..,p=..$<argon2 salt>$<key>$<scrypt salt>".
const wrappedPrefix = "$scrypt-argon2id$"

// Wrap turns a Better Auth scrypt hash into an argon2id hash over its
// scrypt output, so a stolen table costs an attacker argon2id on every
// row, without knowing the password (finalization of a cut-over).
func (h *Hasher) Wrap(ctx context.Context, stored string) (string, error) {
	salt, keyHex, ok := strings.Cut(stored, ":")
	key, err := hex.DecodeString(keyHex)
	if !ok || len(salt) != 32 || err != nil || len(key) != 64 {
		return "", ErrMalformedHash
	}
	s, err := h.acquire(ctx)
	if err != nil {
		return "", err
	}
	defer h.release(s)
	argonSalt := make([]byte, saltLen)
	_, _ = rand.Read(argonSalt)
	wrapped := h.key(s.mem, key, argonSalt)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("%sv=%d$m=%d,t=%d,p=%d$%s$%s$%s", wrappedPrefix, argon2id.Version, h.params.MemoryKiB, h.params.Time,
		h.params.Threads, b64.EncodeToString(argonSalt), b64.EncodeToString(wrapped), salt), nil
}

// verifyWrapped checks a wrapped hash: scrypt as Better Auth, then
// argon2id over its output.
func verifyWrapped(mem *hashmem.Arena, pw, stored string) (bool, error) {
	rest := strings.TrimPrefix(stored, wrappedPrefix)
	i := strings.LastIndexByte(rest, '$')
	if i < 0 || len(rest)-i-1 != 32 {
		return false, ErrMalformedHash
	}
	scryptSalt := rest[i+1:]
	key, err := betterAuthScrypt(mem, pw, scryptSalt)
	if err != nil {
		return false, err
	}
	// The argon2id part has the PHC shape with the scrypt output as password.
	return verifyArgon2Bytes(mem, key, "$argon2id$"+rest[:i])
}

// scryptHash is Better Auth's format: 16 random bytes as 32 hex characters,
// whose ASCII is the scrypt salt; scrypt N=16384 r=16 p=1 dkLen=64 over the
// NFKC password; stored "salthex:keyhex".
func scryptHash(mem *hashmem.Arena, pw string) (string, error) {
	var b [16]byte
	_, _ = rand.Read(b[:])
	salt := hex.EncodeToString(b[:])
	key, err := betterAuthScrypt(mem, pw, salt)
	if err != nil {
		return "", err
	}
	return salt + ":" + hex.EncodeToString(key), nil
}

// betterAuthScrypt is scrypt at Better Auth's cost over the NFKC password,
// with the ASCII of the hex salt as the salt. The parameters are valid; an
// error can only come from PBKDF2 (a crypto module that refuses it).
func betterAuthScrypt(mem *hashmem.Arena, pw, salt string) ([]byte, error) {
	key, err := scrypt.Key(mem, []byte(Normalize(pw)), []byte(salt), scryptN, scryptR, scryptP, scryptKeyLen)
	if err != nil {
		return nil, fmt.Errorf("password: scrypt: %w", err)
	}
	return key, nil
}

func verifyArgon2(mem *hashmem.Arena, pw, stored string) (bool, error) {
	return verifyArgon2Bytes(mem, []byte(Normalize(pw)), stored)
}

func verifyArgon2Bytes(mem *hashmem.Arena, secret []byte, stored string) (bool, error) {
	parts := strings.Split(stored, "$")
	// "", "argon2id", "v=19", "m=..,t=..,p=..", salt, key
	if len(parts) != 6 {
		return false, ErrMalformedHash
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2id.Version {
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
	got, err := argon2id.Key(mem, secret, salt, p.Time, p.MemoryKiB, p.Threads, uint32(len(want)))
	if err != nil {
		return false, fmt.Errorf("%w: %w", ErrMalformedHash, err)
	}
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// verifyBetterAuthScrypt checks Better Auth's format (seed contract §3.4):
// scrypt N=16384 r=16 p=1 dkLen=64 over the NFKC password, with the ASCII of
// the 32-char hex salt as the salt, stored "salthex:keyhex".
func verifyBetterAuthScrypt(mem *hashmem.Arena, pw, stored string) (bool, error) {
	salt, keyHex, ok := strings.Cut(stored, ":")
	if !ok || len(salt) != 32 || len(keyHex) != 128 {
		return false, ErrMalformedHash
	}
	want, err := hex.DecodeString(keyHex)
	if err != nil {
		return false, ErrMalformedHash
	}
	got, err := betterAuthScrypt(mem, pw, salt)
	if err != nil {
		return false, err
	}
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}
