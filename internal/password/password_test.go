package password

import (
	"context"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	xscrypt "golang.org/x/crypto/scrypt"

	"github.com/mana/mana/internal/hashmem"
	"github.com/mana/mana/internal/scrypt"
)

// fast keeps unit tests quick; production uses OWASP (see TestOWASPParams).
var fast = Params{MemoryKiB: 64, Time: 1, Threads: 1}

func TestHashVerifyRoundTrip(t *testing.T) {
	ctx := context.Background()
	h := NewHasher(fast, 2)
	hash, err := h.Hash(ctx, "correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(hash, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Fatalf("unexpected hash format %q", hash)
	}
	if ok, err := h.Verify(ctx, "correct horse battery staple", hash, false); err != nil || !ok {
		t.Fatalf("Verify(right) = %v, %v", ok, err)
	}
	if ok, err := h.Verify(ctx, "correct horse battery stapl", hash, false); err != nil || ok {
		t.Fatalf("Verify(wrong) = %v, %v", ok, err)
	}
	other, _ := h.Hash(ctx, "correct horse battery staple")
	if other == hash {
		t.Fatal("two hashes of one password are equal: the salt is not random")
	}
}

func TestNFKCNormalisation(t *testing.T) {
	// "ﬁ" (U+FB01) normalises to "fi" under NFKC; without Normalize these differ.
	ctx := context.Background()
	h := NewHasher(fast, 1)
	hash, _ := h.Hash(ctx, "ﬁsh-and-chips")
	if ok, _ := h.Verify(ctx, "fish-and-chips", hash, false); !ok {
		t.Fatal("NFKC-equivalent password refused")
	}
}

func TestUnknownUserNeverMatches(t *testing.T) {
	h := NewHasher(fast, 1)
	if ok, err := h.Verify(context.Background(), "anything", "", false); ok || err != nil {
		t.Fatalf("Verify against no hash = %v, %v; want false, nil", ok, err)
	}
}

func TestBetterAuthScryptHashesVerify(t *testing.T) {
	// Build a hash the way Better Auth stores it (seed contract §3.4): the
	// ASCII of the hex salt is the scrypt salt.
	salt := "0123456789abcdef0123456789abcdef"
	key, err := xscrypt.Key([]byte("TestPassword123!"), []byte(salt), 16384, 16, 1, 64)
	if err != nil {
		t.Fatal(err)
	}
	stored := salt + ":" + hex.EncodeToString(key)
	h := NewHasher(fast, 1)
	if ok, err := h.Verify(context.Background(), "TestPassword123!", stored, false); err != nil || !ok {
		t.Fatalf("legacy hash refused: %v %v", ok, err)
	}
	if ok, _ := h.Verify(context.Background(), "TestPassword123?", stored, false); ok {
		t.Fatal("legacy hash accepted a wrong password")
	}
	if !h.NeedsRehash(stored, false) || h.NeedsRehash(stored, true) {
		t.Fatal("legacy hash not marked for upgrade outside the window, or marked inside it")
	}
}

// TestLegacyFormat: in the rollback window hashes are Better Auth's scrypt
// (verified by the same code that reads the old service's), and Wrap turns
// one into argon2id over its scrypt output that still verifies, is marked
// for an upgrade, and verifies nothing else.
// Negative control: Wrap keeping the scrypt salt out of the stored string
// fails "wrapped verifies".
func TestLegacyFormat(t *testing.T) {
	ctx := context.Background()
	h := NewHasher(fast, 1)
	stored, err := h.HashFor(ctx, "Window-Passw0rd", true)
	if err != nil || !IsLegacy(stored) {
		t.Fatalf("window hash %q, %v: want Better Auth's scrypt format", stored, err)
	}
	// Checked with x/crypto's scrypt, independent of the one the Hasher runs.
	salt, key, _ := strings.Cut(stored, ":")
	want, err := xscrypt.Key([]byte(Normalize("Window-Passw0rd")), []byte(salt), 16384, 16, 1, 64)
	if err != nil || hex.EncodeToString(want) != key {
		t.Fatalf("window hash is not the old service's scrypt: %v", err)
	}
	wrapped, err := h.Wrap(ctx, stored)
	if err != nil || !strings.HasPrefix(wrapped, "$scrypt-argon2id$") || strings.Contains(wrapped, stored[33:]) {
		t.Fatalf("wrapped %q, %v", wrapped, err)
	}
	if ok, err := h.Verify(ctx, "Window-Passw0rd", wrapped, false); err != nil || !ok {
		t.Fatalf("wrapped verifies: %v %v", ok, err)
	}
	if ok, _ := h.Verify(ctx, "Window-Passw0rd!", wrapped, false); ok {
		t.Fatal("wrapped accepts a wrong password")
	}
	if !h.NeedsRehash(wrapped, false) {
		t.Fatal("a wrapped hash is not upgraded at the next sign-in")
	}
	if ok, err := h.Verify(ctx, "x", "", true); ok || err != nil {
		t.Fatalf("unknown user in the window: %v %v", ok, err)
	}
	if _, err := h.Wrap(ctx, "$argon2id$v=19$m=64,t=1,p=1$x$y"); err == nil {
		t.Fatal("wrapped a hash that is not scrypt")
	}
}

func TestMalformedHashIsAnError(t *testing.T) {
	h := NewHasher(fast, 1)
	for _, bad := range []string{"$argon2id$v=19$m=1$x", "nothex:zz", "plain"} {
		if _, err := h.Verify(context.Background(), "pw", bad, false); err == nil {
			t.Errorf("Verify(%q) gave no error", bad)
		}
	}
}

func TestOWASPParams(t *testing.T) {
	if OWASP.MemoryKiB < 19*1024 || OWASP.Time < 2 || OWASP.Threads < 1 {
		t.Fatalf("OWASP params weakened: %+v", OWASP)
	}
}

func TestHasherHonoursCancellation(t *testing.T) {
	h := NewHasher(fast, 1)
	<-h.slots // take the only slot
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := h.Hash(ctx, "pw"); err == nil {
		t.Fatal("Hash ran although every slot was taken and the context was done")
	}
}

func BenchmarkHashOWASP(b *testing.B) {
	h := NewHasher(OWASP, 1)
	ctx := context.Background()
	for b.Loop() {
		if _, err := h.Hash(ctx, "TestPassword123!"); err != nil {
			b.Fatal(err)
		}
	}
}

// TestPaddingToLegacyCost: with padding on, an argon2id row and an unknown
// user (the dummy) outside the rollback window return no sooner than the
// legacy floor; a wrapped legacy row is not padded further, and turning
// padding off removes the floor. (A lower bound the timer guarantees, not
// a performance figure.)
// Negative control: Verify ignoring the padded flag returns the cheap
// argon2id paths after about a millisecond, well under the floor.
func TestPaddingToLegacyCost(t *testing.T) {
	h := NewHasher(fast, 2)
	const floor = 150 * time.Millisecond
	calibrations := 0
	h.calibrate = func() time.Duration { calibrations++; return floor }
	ctx := context.Background()
	stored, err := h.Hash(ctx, "right password")
	if err != nil {
		t.Fatal(err)
	}
	h.PadToLegacy(true)
	h.PadToLegacy(true)
	if calibrations != 1 || h.LegacyFloor() != floor {
		t.Fatalf("calibrations = %d, floor = %s; want one calibration and %s", calibrations, h.LegacyFloor(), floor)
	}
	for _, c := range []struct {
		name, stored string
		want         bool
	}{{"argon2id row", stored, true}, {"unknown user", "", false}} {
		start := time.Now()
		ok, err := h.Verify(ctx, "right password", c.stored, false)
		if err != nil || ok != c.want {
			t.Fatalf("%s: %v, %v", c.name, ok, err)
		}
		if d := time.Since(start); d < floor {
			t.Fatalf("%s returned after %s with padding on, want at least %s", c.name, d, floor)
		}
	}
	// Real legacy verifications move the floor toward their median.
	// Negative control: Verify not observing legacy rows leaves it at 150ms.
	legacy, err := scryptHash(new(hashmem.Arena), "legacy")
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		if _, err := h.Verify(ctx, "wrong", legacy, false); err != nil {
			t.Fatal(err)
		}
	}
	if got := h.LegacyFloor(); got == floor {
		t.Fatalf("floor still %s after 20 legacy verifications", got)
	}
	observed := h.LegacyFloor()
	h.PadToLegacy(true)
	if got := h.LegacyFloor(); got != observed {
		t.Fatalf("turning padding on again reset the observed floor to %s", got)
	}
	h.PadToLegacy(false)
	if h.LegacyFloor() != 0 {
		t.Fatalf("floor = %s after turning padding off", h.LegacyFloor())
	}
}

// TestPaddingHonoursCancellation: a cancelled request stops waiting.
func TestPaddingHonoursCancellation(t *testing.T) {
	h := NewHasher(fast, 2)
	h.calibrate = func() time.Duration { return time.Hour }
	h.PadToLegacy(true)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := h.Verify(ctx, "pw", "", false); err == nil {
		t.Fatal("a cancelled verification waited out the padding")
	}
}

// TestMeasuredLegacyCost: the calibration verifies a real wrapped dummy
// (a malformed one would fail at once and measure next to nothing).
func TestMeasuredLegacyCost(t *testing.T) {
	h := NewHasher(fast, 2)
	wrapped, err := h.Wrap(context.Background(), h.dummyScrypt)
	if err != nil {
		t.Fatalf("the dummy does not wrap: %v", err)
	}
	if _, err := verifyWrapped(new(hashmem.Arena), "x", wrapped); err != nil {
		t.Fatalf("the wrapped dummy does not verify: %v", err)
	}
	if d := h.measureWrapped(); d <= 0 {
		t.Fatalf("measured legacy cost %s", d)
	}
}

// TestZeroCostStoredHashIsMalformed: a stored hash with t=0 or p=0 is a
// data problem reported as such, not a crash of the request (x/crypto's
// IDKey panics on those parameters).
func TestZeroCostStoredHashIsMalformed(t *testing.T) {
	h := NewHasher(fast, 1)
	for _, stored := range []string{
		"$argon2id$v=19$m=64,t=0,p=1$c2FsdHNhbHRzYWx0c2FsdA$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U",
		"$argon2id$v=19$m=64,t=1,p=0$c2FsdHNhbHRzYWx0c2FsdA$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U",
	} {
		if _, err := h.Verify(context.Background(), "pw", stored, false); !errors.Is(err, ErrMalformedHash) {
			t.Errorf("%s: err = %v, want ErrMalformedHash", stored, err)
		}
	}
}

// TestSlotKeepsTheLargerCost: a slot that has run scrypt and argon2id keeps
// one working memory of scrypt's size for both, so a login flood on legacy
// rows allocates nothing, and the growth is reported (the server's memory
// limit follows it). Negative controls: keeping only the argon2id cost
// (NewHasher's keep) leaves the slot at 64 KiB; not counting in release
// leaves the report at the dummy's 64 KiB. Both fail.
func TestSlotKeepsTheLargerCost(t *testing.T) {
	ctx := context.Background()
	h := NewHasher(fast, 2)
	var reports []int
	h.OnMemoryGrowth(func(kept int) { reports = append(reports, kept) })
	if len(reports) != 1 || reports[0] != int(fast.MemoryKiB)*1024 {
		t.Fatalf("first report %v, want the dummy's slot (%d bytes)", reports, fast.MemoryKiB*1024)
	}
	legacy, err := h.HashLegacy(ctx, "Legacy-Passw0rd")
	if err != nil {
		t.Fatal(err)
	}
	// The slots alternate: each runs both algorithms.
	for _, stored := range []string{legacy, h.dummy} {
		if _, err := h.Verify(ctx, "Legacy-Passw0rd", stored, false); err != nil {
			t.Fatal(err)
		}
	}
	a, b := <-h.slots, <-h.slots
	defer func() { h.slots <- a; h.slots <- b }()
	want := scrypt.MemoryBytes(scryptN, scryptR)
	if a.mem.KeptBytes() != want || b.mem.KeptBytes() != want {
		t.Fatalf("the slots keep %d and %d bytes, want scrypt's %d", a.mem.KeptBytes(), b.mem.KeptBytes(), want)
	}
	if last := reports[len(reports)-1]; last != 2*want {
		t.Fatalf("reported %v, want the last report to be both slots' %d bytes", reports, 2*want)
	}
}
