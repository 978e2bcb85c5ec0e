// Package scrypt computes scrypt (RFC 7914) in working memory that the
// caller keeps and reuses (a hashmem.Arena), for the Better Auth hashes
// (N=16384, r=16: 32 MiB each) that existing users' passwords are stored in.
//
// golang.org/x/crypto/scrypt allocates that memory, zeroed, on every call;
// under the server's memory limit the collector and the page faults of
// memory handed back to the system cost as much as the hash. Keys are equal
// to x/crypto's for the same inputs; TestMatchesXCrypto and FuzzKey check
// it.
package scrypt

import (
	"crypto/pbkdf2"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"

	"github.com/mana/mana/internal/hashmem"
)

// ErrParams reports costs no scrypt hash can have (RFC 7914 §2): N not a
// power of two above 1, r or p below 1, r·p ≥ 2³⁰, memory beyond what an
// int addresses, or an empty key.
var ErrParams = errors.New("scrypt: N must be a power of two > 1, r and p ≥ 1 with r·p < 2³⁰, key length ≥ 1")

// MemoryBytes is the working memory of a hash with cost n and block size r:
// n blocks of 128·r bytes, and two more for the mixing.
func MemoryBytes(n, r int) int { return (n + 2) * 128 * r }

// Key derives keyLen bytes from password and salt with scrypt: p
// independent mixes of n blocks of 128·r bytes, one after the other in mem.
func Key(mem *hashmem.Arena, password, salt []byte, n, r, p, keyLen int) ([]byte, error) {
	if n <= 1 || n&(n-1) != 0 || r < 1 || p < 1 || keyLen < 1 ||
		uint64(r)*uint64(p) >= 1<<30 || r > math.MaxInt/256/p || n > math.MaxInt/256/r {
		return nil, ErrParams
	}
	blockLen := 128 * r
	b, err := pbkdf2.Key(sha256.New, string(password), salt, 1, p*blockLen)
	if err != nil {
		return nil, fmt.Errorf("scrypt: PBKDF2 before the mix: %w", err)
	}
	w := blockLen / 8 // a block in 64-bit words
	words := mem.Words((n + 2) * w)
	v, x, y := words[:n*w], words[n*w:(n+1)*w], words[(n+1)*w:]
	for i := range p {
		roMix(b[i*blockLen:(i+1)*blockLen], v, x, y)
	}
	key, err := pbkdf2.Key(sha256.New, string(password), b, 1, keyLen)
	if err != nil {
		return nil, fmt.Errorf("scrypt: PBKDF2 after the mix: %w", err)
	}
	return key, nil
}

// roMix is scryptROMix (RFC 7914 §5) on block b, with v as the table of
// len(v)/len(x) blocks and x, y as the two blocks that BlockMix alternates
// between. A block's 64-bit words hold its bytes little-endian, so that a
// 64-byte chunk is 8 words, Salsa20's 16 32-bit words in pairs, and
// Integerify is the first word of the last chunk.
func roMix(b []byte, v, x, y []uint64) {
	w := len(x)
	n := len(v) / w
	for i := range x {
		x[i] = binary.LittleEndian.Uint64(b[8*i:])
	}
	// Every word of v is written here before the second loop reads it.
	for i := range n {
		copy(v[i*w:(i+1)*w], x)
		blockMix(x, y)
		x, y = y, x
	}
	for range n {
		j := int(x[w-8] & uint64(n-1))
		for k, vk := range v[j*w : (j+1)*w] {
			x[k] ^= vk
		}
		blockMix(x, y)
		x, y = y, x
	}
	for i, xi := range x {
		binary.LittleEndian.PutUint64(b[8*i:], xi)
	}
}

// blockMix is scryptBlockMix (RFC 7914 §4): out is the Salsa20/8 chain
// over in's 2r chunks, the even-numbered results first, then the odd.
func blockMix(in, out []uint64) {
	r := len(in) / 16
	var t [8]uint64
	copy(t[:], in[len(in)-8:])
	for i := range 2 * r {
		for k, ik := range in[8*i : 8*i+8] {
			t[k] ^= ik
		}
		salsa208(&t)
		dst := 8 * (i/2 + i%2*r)
		copy(out[dst:dst+8], t[:])
	}
}

// salsa208 is the Salsa20/8 core (RFC 7914 §3) on a 64-byte chunk held as
// 8 little-endian words: four double rounds, then the input added back.
func salsa208(t *[8]uint64) {
	x0, x1, x2, x3 := uint32(t[0]), uint32(t[0]>>32), uint32(t[1]), uint32(t[1]>>32)
	x4, x5, x6, x7 := uint32(t[2]), uint32(t[2]>>32), uint32(t[3]), uint32(t[3]>>32)
	x8, x9, x10, x11 := uint32(t[4]), uint32(t[4]>>32), uint32(t[5]), uint32(t[5]>>32)
	x12, x13, x14, x15 := uint32(t[6]), uint32(t[6]>>32), uint32(t[7]), uint32(t[7]>>32)
	for range 4 {
		// columns
		x0, x4, x8, x12 = quarter(x0, x4, x8, x12)
		x5, x9, x13, x1 = quarter(x5, x9, x13, x1)
		x10, x14, x2, x6 = quarter(x10, x14, x2, x6)
		x15, x3, x7, x11 = quarter(x15, x3, x7, x11)
		// rows
		x0, x1, x2, x3 = quarter(x0, x1, x2, x3)
		x5, x6, x7, x4 = quarter(x5, x6, x7, x4)
		x10, x11, x8, x9 = quarter(x10, x11, x8, x9)
		x15, x12, x13, x14 = quarter(x15, x12, x13, x14)
	}
	t[0] = add(t[0], x0, x1)
	t[1] = add(t[1], x2, x3)
	t[2] = add(t[2], x4, x5)
	t[3] = add(t[3], x6, x7)
	t[4] = add(t[4], x8, x9)
	t[5] = add(t[5], x10, x11)
	t[6] = add(t[6], x12, x13)
	t[7] = add(t[7], x14, x15)
}

// quarter is Salsa20's quarter-round with a as the word the others start
// from: b, c, d and a are updated in turn.
func quarter(a, b, c, d uint32) (uint32, uint32, uint32, uint32) {
	b ^= bits.RotateLeft32(a+d, 7)
	c ^= bits.RotateLeft32(b+a, 9)
	d ^= bits.RotateLeft32(c+b, 13)
	a ^= bits.RotateLeft32(d+c, 18)
	return a, b, c, d
}

// add adds the pair (lo, hi) to the two 32-bit halves of w, each modulo 2³².
func add(w uint64, lo, hi uint32) uint64 {
	return uint64(uint32(w)+lo) | uint64(uint32(w>>32)+hi)<<32
}
