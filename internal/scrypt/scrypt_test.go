package scrypt

import (
	"bytes"
	"crypto/rand"
	"errors"
	"testing"

	xscrypt "golang.org/x/crypto/scrypt"

	"github.com/mana/mana/internal/hashmem"
)

// TestMatchesXCrypto compares keys with golang.org/x/crypto/scrypt.Key, the
// reference this package replaces: several block sizes and parallel mixes,
// keys shorter and longer than one SHA-256 output, and Better Auth's cost.
func TestMatchesXCrypto(t *testing.T) {
	cases := [][4]int{
		{2, 1, 1, 1}, {16, 1, 1, 64}, {4, 3, 2, 33}, {8, 2, 3, 100}, {1024, 8, 16, 64}, {16384, 16, 1, 64},
	}
	mem := hashmem.New(MemoryBytes(16384, 16))
	for _, c := range cases {
		if testing.Short() && c[0]*c[1] > 1<<16 {
			continue
		}
		pw, salt := []byte(rand.Text()), []byte(rand.Text())
		want, err := xscrypt.Key(pw, salt, c[0], c[1], c[2], c[3])
		if err != nil {
			t.Fatal(err)
		}
		got, err := Key(mem, pw, salt, c[0], c[1], c[2], c[3])
		if err != nil {
			t.Fatalf("N=%d r=%d p=%d len=%d: %v", c[0], c[1], c[2], c[3], err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("N=%d r=%d p=%d len=%d: got %x, want %x", c[0], c[1], c[2], c[3], got, want)
		}
	}
}

// TestReusedMemoryIsNeverRead fills the kept memory with garbage before
// each hash: the result must not change. Negative control: XOR block i
// into the table as it is filled (v[i] ^= x instead of the copy in roMix)
// and this fails (a fresh
// arena for every hash would never notice).
func TestReusedMemoryIsNeverRead(t *testing.T) {
	const n, r = 64, 2
	mem := hashmem.New(MemoryBytes(n, r))
	pw, salt := []byte("pw"), []byte(rand.Text())
	want, err := xscrypt.Key(pw, salt, n, r, 2, 32)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := Key(mem, []byte(rand.Text()), []byte(rand.Text()), n, r, 1, 32); err != nil {
			t.Fatal(err)
		}
		kept := mem.Words(MemoryBytes(n, r) / 8)
		for i := range kept {
			kept[i] = ^uint64(i*i) * 0x9e3779b97f4a7c15
		}
		got, err := Key(mem, pw, salt, n, r, 2, 32)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("dirty memory changed the key: got %x, want %x", got, want)
		}
	}
}

// TestHashesInTheArena: a hash at the arena's cap leaves that memory kept
// for the next one (a Key that allocated its own would leave it empty).
func TestHashesInTheArena(t *testing.T) {
	mem := hashmem.New(MemoryBytes(256, 4))
	if _, err := Key(mem, []byte("a"), []byte("salt"), 256, 4, 1, 32); err != nil {
		t.Fatal(err)
	}
	if mem.KeptBytes() != MemoryBytes(256, 4) {
		t.Fatalf("the arena keeps %d bytes after the hash, want %d", mem.KeptBytes(), MemoryBytes(256, 4))
	}
}

func TestRejectsImpossibleParameters(t *testing.T) {
	for _, c := range [][4]int{{0, 1, 1, 32}, {1, 1, 1, 32}, {3, 1, 1, 32}, {16, 0, 1, 32}, {16, 1, 0, 32},
		{16, 1, 1, 0}, {16, 1 << 15, 1 << 15, 32}, {1 << 62, 8, 1, 32}} {
		if _, err := Key(new(hashmem.Arena), []byte("a"), []byte("salt"), c[0], c[1], c[2], c[3]); !errors.Is(err, ErrParams) {
			t.Errorf("N=%d r=%d p=%d len=%d: err = %v, want ErrParams", c[0], c[1], c[2], c[3], err)
		}
	}
}

// FuzzKey compares with x/crypto on small costs and arbitrary inputs.
func FuzzKey(f *testing.F) {
	f.Add([]byte("password"), []byte("NaCl"), uint8(3), uint8(2), uint8(1), uint8(64))
	f.Add([]byte(""), []byte(""), uint8(0), uint8(0), uint8(0), uint8(0))
	f.Add([]byte("\x00\xff"), []byte("s"), uint8(7), uint8(3), uint8(2), uint8(255))
	mem := hashmem.New(MemoryBytes(256, 4))
	f.Fuzz(func(t *testing.T, pw, salt []byte, logN, r, p, keyLen uint8) {
		n, rr, pp, kl := 2<<(logN%8), int(r%4)+1, int(p%3)+1, int(keyLen)+1
		want, err := xscrypt.Key(pw, salt, n, rr, pp, kl)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Key(mem, pw, salt, n, rr, pp, kl)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("N=%d r=%d p=%d len=%d: got %x, want %x", n, rr, pp, kl, got, want)
		}
	})
}

// BenchmarkBetterAuth is the cost of one stored Better Auth hash.
func BenchmarkBetterAuth(b *testing.B) {
	mem := hashmem.New(MemoryBytes(16384, 16))
	pw, salt := []byte("pw"), []byte("0123456789abcdef0123456789abcdef")
	for b.Loop() {
		if _, err := Key(mem, pw, salt, 16384, 16, 1, 64); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkXCryptoBetterAuth(b *testing.B) {
	pw, salt := []byte("pw"), []byte("0123456789abcdef0123456789abcdef")
	for b.Loop() {
		if _, err := xscrypt.Key(pw, salt, 16384, 16, 1, 64); err != nil {
			b.Fatal(err)
		}
	}
}
