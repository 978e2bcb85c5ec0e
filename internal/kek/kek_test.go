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
