package audit

// The hash chain over the security events (audit F19, LOG-07, PRIV-07).
//
// Events are written in their state change's transaction, by many replicas at
// once, so no position in a chain can be known at insert time without
// serialising every login. Instead a background sealer appends a seal for
// each committed event afterwards (one sealer at a time), and Verify walks
// the seals. A seal binds the event's identity (id, user id, type, time) and
// a salted digest of its personal data (IP, user agent, metadata): erasure
// under GDPR nulls those fields and shreds the salt, after which the digest
// can no longer be checked, nor brute-forced back to an address, while the
// link still holds the event's place and identity in the chain.

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"
)

// SaltSize is the length of a seal's PII salt; DigestSize of its digests.
const (
	SaltSize   = 32
	DigestSize = sha256.Size
)

// Record is a committed security event as the chain reads it. A nil pointer
// (or nil Metadata) is SQL NULL, distinct from an empty value.
type Record struct {
	ID        string
	UserID    *string
	Type      string
	CreatedAt time.Time
	IP        *string
	UserAgent *string
	// Metadata is the stored JSON (jsonb's text on PostgreSQL, the stored
	// text on SQLite); it is re-encoded canonically before hashing.
	Metadata []byte
}

// Seal is one link of the chain: the seal of event EventID at position Seq.
type Seal struct {
	Seq     int64
	EventID string
	// Salt is nil once the event's PII was erased (shredded with it).
	Salt   []byte
	Digest []byte
	Link   []byte
}

// Head is the chain's last seal; the zero Head is the genesis (seq 0, an
// all-zero link).
type Head struct {
	Seq  int64
	Link []byte
}

func (h Head) link() []byte {
	if h.Link == nil {
		return make([]byte, DigestSize)
	}
	return h.Link
}

// SealedRecord is a seal with its event (nil when the event row is gone) and
// whether the event's user still exists.
type SealedRecord struct {
	Seal       Seal
	Event      *Record
	UserExists bool
}

// ChainStore is what the chain needs from a backend (internal/store/pg and
// internal/store/sqlite implement it; storetest.RunAudit holds both to it).
type ChainStore interface {
	// SealBatch runs one transaction: it reads the chain's head and up to
	// limit committed events without a seal, oldest first (from an hour
	// before the last sealed event's time, which keeps it cheap), calls seal
	// and inserts the seals it returns. busy is true (and nothing happened)
	// when another sealer holds the chain: the caller tries again later,
	// never waits, so no login path is ever serialised behind the sealer.
	SealBatch(ctx context.Context, limit int, seal func(head Head, events []Record) ([]Seal, error)) (sealed int, busy bool, err error)
	// WalkChain calls fn with every seal in seq order, joined to its event,
	// from one consistent snapshot, and returns how many events have no seal.
	WalkChain(ctx context.Context, fn func(SealedRecord) error) (unsealed int, err error)
}

// NewSeals computes the seals of events, which follow head in this order.
// Each gets a fresh salt from random.
func NewSeals(head Head, events []Record, random io.Reader) ([]Seal, error) {
	out := make([]Seal, 0, len(events))
	prev := head.link()
	seq := head.Seq
	for _, e := range events {
		seq++
		salt := make([]byte, SaltSize)
		if _, err := io.ReadFull(random, salt); err != nil {
			return nil, fmt.Errorf("seal event %s: salt: %w", e.ID, err)
		}
		digest, err := piiDigest(salt, e)
		if err != nil {
			return nil, fmt.Errorf("seal event %s: %w", e.ID, err)
		}
		link := chainLink(prev, seq, e, digest)
		out = append(out, Seal{Seq: seq, EventID: e.ID, Salt: salt, Digest: digest, Link: link})
		prev = link
	}
	return out, nil
}

// field writes one length-prefixed field: 0 for NULL, else 1, the length
// (8 bytes, big-endian) and the bytes. No two field sequences encode alike.
func field(w io.Writer, b []byte, present bool) {
	if !present {
		w.Write([]byte{0}) //nolint:errcheck // hash.Hash writes never fail
		return
	}
	var n [9]byte
	n[0] = 1
	binary.BigEndian.PutUint64(n[1:], uint64(len(b)))
	w.Write(n[:]) //nolint:errcheck // hash.Hash writes never fail
	w.Write(b)    //nolint:errcheck // hash.Hash writes never fail
}

func optField(w io.Writer, s *string) {
	if s == nil {
		field(w, nil, false)
		return
	}
	field(w, []byte(*s), true)
}

// CanonicalMetadata re-encodes stored JSON so that both backends give the
// same bytes: PostgreSQL's jsonb reorders keys and respaces, SQLite keeps
// the text as written. Decoding and re-marshalling sorts object keys and
// normalises numbers and whitespace. nil stays nil (SQL NULL).
func CanonicalMetadata(raw []byte) ([]byte, error) {
	if raw == nil {
		return nil, nil
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, fmt.Errorf("metadata is not JSON: %w", err)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("re-encode metadata: %w", err)
	}
	return b, nil
}

// piiDigest is SHA-256(salt ‖ canonical(ip, user agent, metadata)).
func piiDigest(salt []byte, e Record) ([]byte, error) {
	meta, err := CanonicalMetadata(e.Metadata)
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	h.Write(salt) //nolint:errcheck // hash.Hash writes never fail
	optField(h, e.IP)
	optField(h, e.UserAgent)
	field(h, meta, meta != nil)
	return h.Sum(nil), nil
}

// chainLink is SHA-256(prev ‖ seq ‖ event id ‖ user id ‖ type ‖ created_at
// as UTC microseconds ‖ pii digest). Microseconds: PostgreSQL's precision.
func chainLink(prev []byte, seq int64, e Record, digest []byte) []byte {
	h := sha256.New()
	h.Write(prev) //nolint:errcheck // hash.Hash writes never fail
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(seq))
	h.Write(n[:]) //nolint:errcheck // hash.Hash writes never fail
	field(h, []byte(e.ID), true)
	optField(h, e.UserID)
	field(h, []byte(e.Type), true)
	binary.BigEndian.PutUint64(n[:], uint64(e.CreatedAt.UTC().UnixMicro()))
	h.Write(n[:]) //nolint:errcheck // hash.Hash writes never fail
	field(h, digest, true)
	return h.Sum(nil)
}

// Erased reports whether the event's PII fields are erased: IP and user
// agent NULL, metadata NULL or an empty object.
func (e Record) Erased() bool {
	if e.IP != nil || e.UserAgent != nil {
		return false
	}
	if e.Metadata == nil {
		return true
	}
	m, err := CanonicalMetadata(e.Metadata)
	return err == nil && string(m) == "{}"
}

// Break names the first broken link of the chain.
type Break struct {
	Seq     int64
	EventID string
	Reason  string
}

func (b Break) String() string {
	return fmt.Sprintf("broken at seq %d (event %s): %s", b.Seq, b.EventID, b.Reason)
}

// Report is what Verify found.
type Report struct {
	// Sealed counts the seals walked, Erased those whose salt is shredded,
	// Unsealed the events without a seal (the sealer has not reached them,
	// or they were inserted past its window).
	Sealed, Erased, Unsealed int
	// Head is the last seal walked: record its link outside the database to
	// detect a truncated chain later (LOG-07's checkpoints).
	Head Head
	// Break is the first broken link, nil when the chain verifies.
	Break *Break
}

// errStop ends a walk once the first break is known.
var errStop = errors.New("stop walking")

// Verify walks the chain in seq order and reports the first broken link.
func Verify(ctx context.Context, st ChainStore) (Report, error) {
	v := verifier{}
	unsealed, err := st.WalkChain(ctx, func(r SealedRecord) error {
		if v.add(r) {
			return errStop
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return Report{}, fmt.Errorf("verify the audit chain: %w", err)
	}
	if err == nil {
		v.finish()
	}
	v.report.Unsealed = unsealed
	return v.report, nil
}

// verifier checks each seal against the previous one. A link mismatch is
// classified with one seal of look-ahead: when the next seal chains from
// the stored link, the stored link is the original and the event's identity
// fields were changed; otherwise the seal itself was.
type verifier struct {
	prev    Head
	pending *SealedRecord
	report  Report
}

// add takes the next seal; it returns true once a break is known.
func (v *verifier) add(r SealedRecord) bool {
	if v.pending != nil {
		p := *v.pending
		v.pending = nil
		if v.check(p, &r) {
			return true
		}
	}
	v.pending = &r
	return false
}

func (v *verifier) finish() {
	if v.pending != nil {
		p := *v.pending
		v.pending = nil
		v.check(p, nil)
	}
}

// check verifies r (next is the following seal, nil at the end) and records
// it; it returns true when r is broken.
func (v *verifier) check(r SealedRecord, next *SealedRecord) bool {
	s := r.Seal
	fail := func(format string, args ...any) bool {
		v.report.Break = &Break{Seq: s.Seq, EventID: s.EventID, Reason: fmt.Sprintf(format, args...)}
		return true
	}
	if s.Seq != v.prev.Seq+1 {
		return fail("seq gap: expected seq %d after %d", v.prev.Seq+1, v.prev.Seq)
	}
	if r.Event == nil {
		return fail("event missing (the sealed row was deleted)")
	}
	if !bytes.Equal(chainLink(v.prev.link(), s.Seq, *r.Event, s.Digest), s.Link) {
		if next != nil && next.Seal.Seq == s.Seq+1 && next.Event != nil &&
			bytes.Equal(chainLink(s.Link, next.Seal.Seq, *next.Event, next.Seal.Digest), next.Seal.Link) {
			return fail("identity fields changed (user id, event type or time differ from the sealed ones)")
		}
		return fail("link mismatch (the seal, or the chain before it, was rewritten)")
	}
	if s.Salt != nil {
		d, err := piiDigest(s.Salt, *r.Event)
		if err != nil {
			return fail("PII unreadable: %v", err)
		}
		if !bytes.Equal(d, s.Digest) {
			return fail("PII digest mismatch (IP, user agent or metadata changed since sealed)")
		}
	} else {
		if !r.Event.Erased() {
			return fail("salt shredded but the row is not erased")
		}
		if r.Event.UserID != nil && r.UserExists {
			return fail("PII erased while the user still exists (tampering disguised as erasure)")
		}
		v.report.Erased++
	}
	v.report.Sealed++
	v.prev = Head{Seq: s.Seq, Link: s.Link}
	v.report.Head = v.prev
	return false
}

// DefaultSealBatch is how many events one sealing transaction takes;
// DefaultSealInterval how often a Sealer without an Interval runs.
const (
	DefaultSealBatch    = 500
	DefaultSealInterval = 5 * time.Second
)

// SealPending seals every committed event not yet sealed, batch by batch,
// and returns how many it sealed. busy is true when another sealer held
// the chain (the rest is left to it).
func SealPending(ctx context.Context, st ChainStore, batch int, random io.Reader) (sealed int, busy bool, err error) {
	if random == nil {
		random = rand.Reader
	}
	seal := func(head Head, events []Record) ([]Seal, error) { return NewSeals(head, events, random) }
	for {
		n, busy, err := st.SealBatch(ctx, batch, seal)
		sealed += n
		if err != nil {
			return sealed, false, fmt.Errorf("seal security events: %w", err)
		}
		if busy || n < batch {
			return sealed, busy, nil
		}
	}
}

// Sealer seals new events every Interval until its context ends. A failing
// batch is logged with its cause and retried at the next tick: sealing never
// blocks or fails the requests that write events.
type Sealer struct {
	Store    ChainStore
	Interval time.Duration
	Batch    int
	Log      *slog.Logger
}

// Run seals until ctx is cancelled.
func (s Sealer) Run(ctx context.Context) {
	batch := s.Batch
	if batch <= 0 {
		batch = DefaultSealBatch
	}
	every := s.Interval
	if every <= 0 {
		every = DefaultSealInterval
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n, busy, err := SealPending(ctx, s.Store, batch, rand.Reader)
		switch {
		case err != nil && ctx.Err() != nil:
			return
		case err != nil:
			s.Log.Error("audit: sealing security events failed; retrying at the next tick", "err", err, "sealed", n)
		case n > 0:
			s.Log.Debug("audit: sealed security events", "sealed", n, "busy", busy)
		}
	}
}
