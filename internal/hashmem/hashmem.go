// Package hashmem is the working memory of memory-hard password hashes
// (argon2id, scrypt), kept by the caller and reused from one hash to the
// next.
//
// x/crypto's argon2 and scrypt allocate their whole memory cost (19 MiB and
// 32 MiB for the costs this service uses) on every call, zeroed, so a
// server that hashes under a memory limit spends a large share of each hash
// zeroing pages and faulting them back in after the runtime returned them
// to the system, and keeps the collector busy. An Arena is allocated once
// per hashing slot and shared by whichever algorithm the slot runs, so a
// slot holds the larger of the two costs, not their sum. Both algorithms
// write every word before they read it, so the memory is never cleared.
package hashmem

// Arena is working memory of 64-bit words for one hash at a time: not safe
// for concurrent use. The zero value keeps nothing.
type Arena struct {
	words     []uint64
	keepWords int
}

// New returns an Arena that keeps up to keepBytes between calls; a call
// that needs more gets memory of its own, left to the collector.
func New(keepBytes int) *Arena { return &Arena{keepWords: keepBytes / 8} }

// Words returns n words with unspecified contents: the kept memory when it
// is large enough, else new memory, kept when n is within the cap. The
// slice is valid until the next call.
func (a *Arena) Words(n int) []uint64 {
	if len(a.words) >= n {
		return a.words[:n]
	}
	w := make([]uint64, n)
	if n <= a.keepWords {
		a.words = w
	}
	return w
}

// KeptBytes is the memory the Arena holds between calls.
func (a *Arena) KeptBytes() int { return 8 * len(a.words) }
