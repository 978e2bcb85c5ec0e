package kek

import (
	"bytes"
	"errors"
	"testing"
)

func TestSealOpen(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	r, err := NewRing(key)
	if err != nil {
		t.Fatal(err)
	}
	a, id := r.Seal([]byte("secret"), []byte("user-1"))
	b, _ := r.Seal([]byte("secret"), []byte("user-1"))
	if bytes.Equal(a, b) {
		t.Fatal("two seals of one value are equal: the nonce is not random")
	}
	got, err := r.Open(id, a, []byte("user-1"))
	if err != nil || string(got) != "secret" {
		t.Fatalf("Open = %q, %v", got, err)
	}
	if _, err := r.Open(LegacyID, a, []byte("user-1")); err != nil {
		t.Fatalf("legacy id does not name the active KEK: %v", err)
	}
	// Negative control: dropping aad from Open/Seal makes this succeed.
	if _, err := r.Open(id, a, []byte("user-2")); err == nil {
		t.Fatal("opened with another user's associated data")
	}
	a[len(a)-1] ^= 1
	if _, err := r.Open(id, a, []byte("user-1")); err == nil {
		t.Fatal("tampered value opened")
	}
	if _, err := r.Open("kek-unknown", b, nil); !errors.Is(err, ErrUnknownKEK) {
		t.Fatalf("unknown kek: %v", err)
	}
}

func TestIDIsStableAndNotTheKey(t *testing.T) {
	k := bytes.Repeat([]byte{1}, 32)
	if ID(k) != ID(append([]byte(nil), k...)) || ID(k) == ID(bytes.Repeat([]byte{2}, 32)) {
		t.Fatal("ID not stable or not distinct")
	}
	if _, err := NewRing(make([]byte, 31)); err == nil {
		t.Fatal("31-byte key accepted")
	}
}

func TestWrapUnwrapRules(t *testing.T) {
	oldKey, newKey := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	oldRing, _ := NewRing(oldKey)
	ring, err := NewRing(newKey, oldKey)
	if err != nil {
		t.Fatal(err)
	}
	if got := ring.IDs(); len(got) != 2 || got[0] != ID(newKey) || got[1] != ID(oldKey) {
		t.Fatalf("IDs = %v, want active first then retired", got)
	}
	mk := bytes.Repeat([]byte{9}, 32)

	n1, c1, id := ring.Wrap(mk, nil)
	n2, c2, _ := ring.Wrap(mk, nil)
	if bytes.Equal(n1, n2) || bytes.Equal(c1, c2) {
		t.Fatal("two wraps of one key are equal")
	}
	if id != ID(newKey) || len(n1) != NonceSize {
		t.Fatalf("wrap id %s nonce %d bytes", id, len(n1))
	}

	// Wrong nonce length is refused before any decryption.
	if _, err := ring.Unwrap(id, n1[:11], c1, nil); err == nil || !bytes.Contains([]byte(err.Error()), []byte("12-byte IV")) {
		t.Fatalf("11-byte nonce: %v", err)
	}
	// A value of the retired KEK opens by its id (rows not yet rotated).
	on, oc, oid := oldRing.Wrap(mk, nil)
	if got, err := ring.Unwrap(oid, on, oc, nil); err != nil || !bytes.Equal(got, mk) {
		t.Fatalf("retired KEK by id: %v", err)
	}
	// env-v1 rows of the old service open under whichever configured KEK
	// wrote them, here the retired one. Negative control: resolve LegacyID to
	// the active key only (the old behaviour) and this fails.
	if got, err := ring.Unwrap(LegacyID, on, oc, nil); err != nil || !bytes.Equal(got, mk) {
		t.Fatalf("legacy id under a retired KEK: %v", err)
	}
	// Wrong KEK: a ring without the old key cannot open it, by id or legacy id.
	newOnly, _ := NewRing(newKey)
	if _, err := newOnly.Unwrap(oid, on, oc, nil); !errors.Is(err, ErrUnknownKEK) {
		t.Fatalf("unknown KEK id: %v", err)
	}
	if _, err := newOnly.Unwrap(LegacyID, on, oc, nil); err == nil {
		t.Fatal("legacy value opened by a ring that lacks its KEK")
	}
	// The id names one key: the wrong key under a known id fails the tag.
	if _, err := ring.Unwrap(id, on, oc, nil); err == nil {
		t.Fatal("old KEK's value opened under the new KEK's id")
	}
	if !ring.Has(LegacyID) || !ring.Has(oid) || ring.Has("kek-0000") {
		t.Fatal("Has is wrong")
	}
	if _, err := NewRing(newKey, newKey); err == nil {
		t.Fatal("the same KEK configured twice was accepted")
	}
}
