// Package argon2id computes Argon2id (RFC 9106, version 0x13) in working
// memory that the caller keeps and reuses.
//
// golang.org/x/crypto/argon2 allocates the whole memory cost (19 MiB for
// OWASP's parameters) on every call (the upstream request for a buffer API
// is golang/go#36634); here the memory is a hashmem.Arena that the caller
// keeps. The first pass overwrites every block before it is read, so the
// memory is never cleared. Keys are equal to x/crypto's IDKey for the same
// inputs; TestMatchesXCrypto and FuzzKey check it.
package argon2id

import (
	"encoding/binary"
	"errors"
	"math/bits"

	"golang.org/x/crypto/blake2b"

	"github.com/mana/mana/internal/hashmem"
)

// Version is the Argon2 version computed here (0x13 = 19), the "v=" of a
// PHC string.
const Version = 0x13

const (
	blockWords = 128 // a block is 1 KiB: 128 little-endian 64-bit words
	blockBytes = 8 * blockWords
	syncPoints = 4 // slices per pass
	typeID     = 2 // Argon2id's y in the initial hash and the address input
)

type block [blockWords]uint64

// blocks is a hash's memory: consecutive blocks in the arena's words.
type blocks []uint64

func (b blocks) at(i uint32) *block {
	start := int(i) * blockWords
	return (*block)(b[start : start+blockWords])
}

// ErrParams reports cost parameters no Argon2id hash can have: zero passes,
// zero lanes or an empty key.
var ErrParams = errors.New("argon2id: time, threads and key length must be at least 1")

// Key derives keyLen bytes from password and salt with Argon2id: time
// passes over memoryKiB KiB in threads lanes (computed one after the other:
// the result does not depend on how lanes are scheduled), in mem.
func Key(mem *hashmem.Arena, password, salt []byte, time, memoryKiB uint32, threads uint8, keyLen uint32) ([]byte, error) {
	if time < 1 || threads < 1 || keyLen < 1 {
		return nil, ErrParams
	}
	h0 := initialHash(password, salt, time, memoryKiB, threads, keyLen)

	lanes := uint32(threads)
	// The memory is rounded down to whole segments, with at least two blocks
	// per segment (RFC 9106 §3.2).
	total := memoryKiB / (syncPoints * lanes) * (syncPoints * lanes)
	if total < 2*syncPoints*lanes {
		total = 2 * syncPoints * lanes
	}
	g := geometry{
		total:   total,
		laneLen: total / lanes,
		segLen:  total / lanes / syncPoints,
		lanes:   lanes,
		time:    time,
	}
	b := blocks(mem.Words(int(total) * blockWords))

	var seed [72]byte
	copy(seed[:], h0[:])
	var raw [blockBytes]byte
	for lane := range lanes {
		binary.LittleEndian.PutUint32(seed[68:], lane)
		for i := range uint32(2) {
			binary.LittleEndian.PutUint32(seed[64:], i)
			hashLong(raw[:], seed[:])
			b.at(lane*g.laneLen + i).load(&raw)
		}
	}

	for pass := range time {
		for slice := range uint32(syncPoints) {
			for lane := range lanes {
				g.fillSegment(b, pass, slice, lane)
			}
		}
	}

	final := *b.at(g.laneLen - 1)
	for lane := uint32(1); lane < lanes; lane++ {
		last := b.at(lane*g.laneLen + g.laneLen - 1)
		for i := range final {
			final[i] ^= last[i]
		}
	}
	final.store(&raw)
	key := make([]byte, keyLen)
	hashLong(key, raw[:])
	return key, nil
}

// geometry is one hash's memory layout and pass count.
type geometry struct {
	total, laneLen, segLen, lanes, time uint32
}

// fillSegment computes one lane's blocks of one slice of one pass.
func (g geometry) fillSegment(b blocks, pass, slice, lane uint32) {
	// Argon2id addresses data-independently in the first half of the first
	// pass (like Argon2i), data-dependently after (like Argon2d).
	independent := pass == 0 && slice < syncPoints/2
	var addresses, input block
	if independent {
		input[0], input[1], input[2] = uint64(pass), uint64(lane), uint64(slice)
		input[3], input[4], input[5] = uint64(g.total), uint64(g.time), typeID
	}
	index := uint32(0)
	if pass == 0 && slice == 0 {
		index = 2 // the first two blocks come from the initial hash
		if independent {
			nextAddresses(&addresses, &input)
		}
	}
	offset := lane*g.laneLen + slice*g.segLen + index
	for ; index < g.segLen; index, offset = index+1, offset+1 {
		prev := offset - 1
		if index == 0 && slice == 0 {
			prev += g.laneLen // the lane's last block
		}
		var pseudoRand uint64
		if independent {
			if index%blockWords == 0 {
				nextAddresses(&addresses, &input)
			}
			pseudoRand = addresses[index%blockWords]
		} else {
			pseudoRand = b[prev*blockWords]
		}
		ref := g.reference(pseudoRand, pass, slice, lane, index)
		compress(b.at(offset), b.at(prev), b.at(ref), pass > 0)
	}
}

// reference maps a pseudo-random word to the block that the block at
// (pass, slice, lane, index) mixes in (RFC 9106 §3.4.2).
func (g geometry) reference(pseudoRand uint64, pass, slice, lane, index uint32) uint32 {
	refLane := uint32(pseudoRand>>32) % g.lanes
	if pass == 0 && slice == 0 {
		refLane = lane
	}
	// The reference set: the finished slices (all of the lane's other
	// slices after the first pass), plus this segment's blocks before the
	// previous one when it is this lane; another lane's segment in progress
	// is never read, nor its last finished block while this segment starts.
	var area, start uint32
	if pass == 0 {
		area = slice * g.segLen
	} else {
		area = g.laneLen - g.segLen
		start = (slice + 1) % syncPoints * g.segLen
	}
	if refLane == lane {
		area += index
		area--
	} else if index == 0 {
		area--
	}
	x := pseudoRand & 0xffffffff
	x = x * x >> 32
	y := uint64(area) * x >> 32
	relative := uint64(area) - 1 - y
	return refLane*g.laneLen + uint32((uint64(start)+relative)%uint64(g.laneLen))
}

// nextAddresses advances the counter and computes the next block of
// addresses: G(0, G(0, input)).
func nextAddresses(addresses, input *block) {
	var zero block
	input[6]++
	compress(addresses, &zero, input, false)
	compress(addresses, &zero, addresses, false)
}

// compress sets out to G(x, y), or XORs it into out (every pass after the
// first, version 0x13). out may be x or y.
func compress(out, x, y *block, xor bool) {
	var q block
	for i := range q {
		q[i] = x[i] ^ y[i]
	}
	for row := 0; row < blockWords; row += 16 {
		permuteRow((*[16]uint64)(q[row : row+16]))
	}
	for col := 0; col < 16; col += 2 {
		permuteColumn(q[col : col+114])
	}
	// Element by element, x and y are read before out is written: safe
	// when out is one of them.
	if xor {
		for i := range out {
			out[i] ^= q[i] ^ x[i] ^ y[i]
		}
		return
	}
	for i := range out {
		out[i] = q[i] ^ x[i] ^ y[i]
	}
}

// permuteRow and permuteColumn are BLAKE2b's round with BlaMka's
// multiplications (G on the columns, then on the diagonals of a 4×4 matrix
// of words), on one row of the block's 8×8 matrix of 128-bit registers,
// or on one column. Two bodies with the words' offsets written out: one
// body with a gather and scatter for the columns made a hash about 15 %
// slower (BenchmarkOWASP).
func permuteRow(s *[16]uint64) {
	v0, v1, v2, v3, v4, v5, v6, v7 := s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]
	v8, v9, v10, v11, v12, v13, v14, v15 := s[8], s[9], s[10], s[11], s[12], s[13], s[14], s[15]
	v0, v4, v8, v12 = mixFirst(v0, v4, v8, v12)
	v0, v4, v8, v12 = mixSecond(v0, v4, v8, v12)
	v1, v5, v9, v13 = mixFirst(v1, v5, v9, v13)
	v1, v5, v9, v13 = mixSecond(v1, v5, v9, v13)
	v2, v6, v10, v14 = mixFirst(v2, v6, v10, v14)
	v2, v6, v10, v14 = mixSecond(v2, v6, v10, v14)
	v3, v7, v11, v15 = mixFirst(v3, v7, v11, v15)
	v3, v7, v11, v15 = mixSecond(v3, v7, v11, v15)
	v0, v5, v10, v15 = mixFirst(v0, v5, v10, v15)
	v0, v5, v10, v15 = mixSecond(v0, v5, v10, v15)
	v1, v6, v11, v12 = mixFirst(v1, v6, v11, v12)
	v1, v6, v11, v12 = mixSecond(v1, v6, v11, v12)
	v2, v7, v8, v13 = mixFirst(v2, v7, v8, v13)
	v2, v7, v8, v13 = mixSecond(v2, v7, v8, v13)
	v3, v4, v9, v14 = mixFirst(v3, v4, v9, v14)
	v3, v4, v9, v14 = mixSecond(v3, v4, v9, v14)
	s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7] = v0, v1, v2, v3, v4, v5, v6, v7
	s[8], s[9], s[10], s[11], s[12], s[13], s[14], s[15] = v8, v9, v10, v11, v12, v13, v14, v15
}

// permuteColumn takes the column's first word and the 113 after it: the
// column is words 0, 1, 16, 17, …, 112, 113 of that window.
func permuteColumn(s []uint64) {
	_ = s[113]
	v0, v1, v2, v3, v4, v5, v6, v7 := s[0], s[1], s[16], s[17], s[32], s[33], s[48], s[49]
	v8, v9, v10, v11, v12, v13, v14, v15 := s[64], s[65], s[80], s[81], s[96], s[97], s[112], s[113]
	v0, v4, v8, v12 = mixFirst(v0, v4, v8, v12)
	v0, v4, v8, v12 = mixSecond(v0, v4, v8, v12)
	v1, v5, v9, v13 = mixFirst(v1, v5, v9, v13)
	v1, v5, v9, v13 = mixSecond(v1, v5, v9, v13)
	v2, v6, v10, v14 = mixFirst(v2, v6, v10, v14)
	v2, v6, v10, v14 = mixSecond(v2, v6, v10, v14)
	v3, v7, v11, v15 = mixFirst(v3, v7, v11, v15)
	v3, v7, v11, v15 = mixSecond(v3, v7, v11, v15)
	v0, v5, v10, v15 = mixFirst(v0, v5, v10, v15)
	v0, v5, v10, v15 = mixSecond(v0, v5, v10, v15)
	v1, v6, v11, v12 = mixFirst(v1, v6, v11, v12)
	v1, v6, v11, v12 = mixSecond(v1, v6, v11, v12)
	v2, v7, v8, v13 = mixFirst(v2, v7, v8, v13)
	v2, v7, v8, v13 = mixSecond(v2, v7, v8, v13)
	v3, v4, v9, v14 = mixFirst(v3, v4, v9, v14)
	v3, v4, v9, v14 = mixSecond(v3, v4, v9, v14)
	s[0], s[1], s[16], s[17], s[32], s[33], s[48], s[49] = v0, v1, v2, v3, v4, v5, v6, v7
	s[64], s[65], s[80], s[81], s[96], s[97], s[112], s[113] = v8, v9, v10, v11, v12, v13, v14, v15
}

// mixFirst and mixSecond are the halves of BLAKE2b's G with BlaMka's
// additions, each small enough for the compiler to inline.
func mixFirst(a, b, c, d uint64) (uint64, uint64, uint64, uint64) {
	a = blaMka(a, b)
	d = bits.RotateLeft64(d^a, -32)
	c = blaMka(c, d)
	b = bits.RotateLeft64(b^c, -24)
	return a, b, c, d
}

func mixSecond(a, b, c, d uint64) (uint64, uint64, uint64, uint64) {
	a = blaMka(a, b)
	d = bits.RotateLeft64(d^a, -16)
	c = blaMka(c, d)
	b = bits.RotateLeft64(b^c, -63)
	return a, b, c, d
}

// blaMka is x + y + 2·lo(x)·lo(y) (lo: the low 32 bits).
func blaMka(x, y uint64) uint64 { return x + y + 2*uint64(uint32(x))*uint64(uint32(y)) }

func (b *block) load(raw *[blockBytes]byte) {
	for i := range b {
		b[i] = binary.LittleEndian.Uint64(raw[8*i:])
	}
}

func (b *block) store(raw *[blockBytes]byte) {
	for i, w := range b {
		binary.LittleEndian.PutUint64(raw[8*i:], w)
	}
}

// initialHash is H0 (RFC 9106 §3.2), with no secret and no associated data.
func initialHash(password, salt []byte, time, memoryKiB uint32, threads uint8, keyLen uint32) [blake2b.Size]byte {
	h, _ := blake2b.New512(nil) // no key: cannot fail
	var le [4]byte
	put := func(v uint32) {
		binary.LittleEndian.PutUint32(le[:], v)
		h.Write(le[:])
	}
	put(uint32(threads))
	put(keyLen)
	put(memoryKiB)
	put(time)
	put(Version)
	put(typeID)
	put(uint32(len(password)))
	h.Write(password)
	put(uint32(len(salt)))
	h.Write(salt)
	put(0) // secret
	put(0) // associated data
	var out [blake2b.Size]byte
	h.Sum(out[:0])
	return out
}

// hashLong is H' (RFC 9106 §3.3): BLAKE2b extended to len(out) bytes.
func hashLong(out, in []byte) {
	var le [4]byte
	binary.LittleEndian.PutUint32(le[:], uint32(len(out)))
	if len(out) <= blake2b.Size {
		h, _ := blake2b.New(len(out), nil) // 1..64 bytes, no key: cannot fail
		h.Write(le[:])
		h.Write(in)
		h.Sum(out[:0])
		return
	}
	h, _ := blake2b.New512(nil)
	h.Write(le[:])
	h.Write(in)
	var v [blake2b.Size]byte
	h.Sum(v[:0])
	for {
		n := copy(out, v[:blake2b.Size/2])
		out = out[n:]
		if len(out) <= blake2b.Size {
			break
		}
		v = blake2b.Sum512(v[:])
	}
	last, _ := blake2b.New(len(out), nil)
	last.Write(v[:])
	last.Sum(out[:0])
}
