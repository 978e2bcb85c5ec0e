package argon2id

import (
	"bytes"
	"crypto/rand"
	"errors"
	"testing"

	"golang.org/x/crypto/argon2"

	"github.com/mana/mana/internal/hashmem"
)

// TestMatchesXCrypto compares keys with golang.org/x/crypto/argon2.IDKey,
// the reference this package replaces, over the shapes a stored hash can
// have: several lanes, memory that is rounded, keys shorter and longer than
// one BLAKE2b output.
func TestMatchesXCrypto(t *testing.T) {
	cases := []struct {
		time, memory uint32
		threads      uint8
		keyLen       uint32
	}{
		{1, 8, 1, 32}, {1, 16, 1, 4}, {3, 32, 4, 16}, {2, 64, 2, 64}, {2, 65, 1, 65},
		{1, 100, 3, 1}, {4, 129, 1, 200}, {2, 300, 2, 97}, {1, 7, 4, 32}, {2, 1024, 1, 32},
	}
	m := hashmem.New(1024 * 1024)
	for _, c := range cases {
		pw, salt := random(t, 12), random(t, 16)
		want := argon2.IDKey(pw, salt, c.time, c.memory, c.threads, c.keyLen)
		got, err := Key(m, pw, salt, c.time, c.memory, c.threads, c.keyLen)
		if err != nil {
			t.Fatalf("%+v: %v", c, err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("t=%d m=%d p=%d len=%d: got %x, want %x", c.time, c.memory, c.threads, c.keyLen, got, want)
		}
	}
}

// TestOWASPCostMatchesXCrypto checks the parameters the service uses.
func TestOWASPCostMatchesXCrypto(t *testing.T) {
	if testing.Short() {
		t.Skip("19 MiB hash")
	}
	pw, salt := []byte("correct horse battery staple"), random(t, 16)
	got, err := Key(hashmem.New(19<<20), pw, salt, 2, 19*1024, 1, 32)
	if err != nil {
		t.Fatal(err)
	}
	if want := argon2.IDKey(pw, salt, 2, 19*1024, 1, 32); !bytes.Equal(got, want) {
		t.Fatalf("got %x, want %x", got, want)
	}
}

// TestReusedMemoryIsNeverRead fills the kept memory with garbage before
// each hash: the result must not change. Negative control: XOR the first
// pass into the old contents (compress(..., pass > 0) → true) and this
// fails (a fresh arena for every hash would never notice).
func TestReusedMemoryIsNeverRead(t *testing.T) {
	m := hashmem.New(256 * 1024)
	pw, salt := []byte("pw"), random(t, 16)
	want := argon2.IDKey(pw, salt, 2, 256, 2, 32)
	for range 3 {
		if _, err := Key(m, random(t, 8), random(t, 16), 1, 256, 1, 32); err != nil {
			t.Fatal(err)
		}
		kept := m.Words(256 * blockWords)
		for i := range kept {
			kept[i] = ^uint64(i*i) * 0x9e3779b97f4a7c15
		}
		got, err := Key(m, pw, salt, 2, 256, 2, 32)
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
	m := hashmem.New(64 * 1024)
	if _, err := Key(m, []byte("a"), []byte("saltsalt"), 1, 64, 1, 32); err != nil {
		t.Fatal(err)
	}
	if m.KeptBytes() != 64*1024 {
		t.Fatalf("the arena keeps %d bytes after a 64 KiB hash, want 65536", m.KeptBytes())
	}
}

func TestRejectsImpossibleParameters(t *testing.T) {
	for _, c := range [][3]uint32{{0, 1, 32}, {1, 0, 32}, {1, 1, 0}} {
		if _, err := Key(new(hashmem.Arena), []byte("a"), []byte("saltsalt"), c[0], 8, uint8(c[1]), c[2]); !errors.Is(err, ErrParams) {
			t.Errorf("t=%d p=%d len=%d: err = %v, want ErrParams", c[0], c[1], c[2], err)
		}
	}
}

// FuzzKey compares with x/crypto on small costs and arbitrary inputs.
func FuzzKey(f *testing.F) {
	f.Add([]byte("password"), []byte("somesalt"), uint8(2), uint16(32), uint8(1), uint8(32))
	f.Add([]byte(""), []byte(""), uint8(1), uint16(8), uint8(4), uint8(1))
	f.Add([]byte("\x00\xff"), []byte("s"), uint8(3), uint16(100), uint8(3), uint8(255))
	m := hashmem.New(512 * 1024)
	f.Fuzz(func(t *testing.T, pw, salt []byte, time uint8, memory uint16, threads, keyLen uint8) {
		tm, mem, p, kl := uint32(time%4)+1, uint32(memory%512), threads%8+1, uint32(keyLen)+1
		got, err := Key(m, pw, salt, tm, mem, p, kl)
		if err != nil {
			t.Fatal(err)
		}
		if want := argon2.IDKey(pw, salt, tm, mem, p, kl); !bytes.Equal(got, want) {
			t.Fatalf("t=%d m=%d p=%d len=%d: got %x, want %x", tm, mem, p, kl, got, want)
		}
	})
}

func BenchmarkOWASP(b *testing.B) {
	m := hashmem.New(19 << 20)
	pw, salt := []byte("pw"), []byte("saltsaltsaltsalt")
	for b.Loop() {
		if _, err := Key(m, pw, salt, 2, 19*1024, 1, 32); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkXCryptoOWASP(b *testing.B) {
	pw, salt := []byte("pw"), []byte("saltsaltsaltsalt")
	for b.Loop() {
		argon2.IDKey(pw, salt, 2, 19*1024, 1, 32)
	}
}

func random(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}
