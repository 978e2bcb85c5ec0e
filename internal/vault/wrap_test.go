package vault

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/mana/mana/internal/kek"
)

func ring(t *testing.T, keys ...byte) *kek.Ring {
	t.Helper()
	var ks [][]byte
	for _, k := range keys {
		ks = append(ks, bytes.Repeat([]byte{k}, 32))
	}
	r, err := kek.NewRing(ks[0], ks[1:]...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestWrapBindsTheUser(t *testing.T) {
	r := ring(t, 1)
	mk := bytes.Repeat([]byte{5}, 32)
	w, err := WrapKey(r, "alice", mk)
	if err != nil || w.Scheme != SchemeUserAAD || w.KEKID != r.ActiveID() {
		t.Fatalf("wrap: %+v %v", w, err)
	}
	if len(w.WrappedMK) != 64 || len(w.WrapIV) != 16 {
		t.Fatalf("stored lengths %d/%d, want 64/16 (contract §5.4)", len(w.WrappedMK), len(w.WrapIV))
	}
	got, err := UnwrapKey(r, "alice", w)
	if err != nil || !bytes.Equal(got, mk) {
		t.Fatalf("unwrap: %v", err)
	}
	// A wrap copied into bob's row does not open. Negative control: make
	// associatedData return nil for SchemeUserAAD and this unwraps.
	if _, err := UnwrapKey(r, "bob", w); !errors.Is(err, ErrUnwrap) {
		t.Fatalf("alice's wrap opened as bob's: %v", err)
	}
	w2, _ := WrapKey(r, "alice", mk)
	if w2.WrappedMK == w.WrappedMK || w2.WrapIV == w.WrapIV {
		t.Fatal("two wraps of one key are equal")
	}
	if _, err := WrapKey(r, "alice", mk[:31]); err == nil || !strings.Contains(err.Error(), "32-byte master key") {
		t.Fatalf("31-byte master key: %v", err)
	}
}

func TestLegacyRowsStillOpen(t *testing.T) {
	oldRing, newRing := ring(t, 1), ring(t, 2, 1)
	mk := bytes.Repeat([]byte{6}, 32)
	// The old service: no associated data, kek_id env-v1.
	nonce, ct, _ := oldRing.Wrap(mk, nil)
	legacy := Wrapped{WrappedMK: base64.StdEncoding.EncodeToString(ct), WrapIV: base64.StdEncoding.EncodeToString(nonce),
		KEKID: kek.LegacyID, Scheme: SchemeNoAAD}
	got, err := UnwrapKey(newRing, "anyone", legacy)
	if err != nil || !bytes.Equal(got, mk) {
		t.Fatalf("legacy row: %v", err)
	}
	if Current(newRing, legacy) {
		t.Fatal("a legacy row counts as current")
	}
	re, err := Rewrap(newRing, "anyone", legacy)
	if err != nil || !Current(newRing, re) {
		t.Fatalf("rewrap: %+v %v", re, err)
	}
	if got, err := UnwrapKey(newRing, "anyone", re); err != nil || !bytes.Equal(got, mk) {
		t.Fatalf("rewrapped key differs: %v", err)
	}

	tampered := legacy
	raw, _ := base64.StdEncoding.DecodeString(legacy.WrappedMK)
	raw[0] ^= 1
	tampered.WrappedMK = base64.StdEncoding.EncodeToString(raw)
	if _, err := UnwrapKey(newRing, "anyone", tampered); !errors.Is(err, ErrUnwrap) {
		t.Fatalf("tampered: %v", err)
	}
	shortIV := legacy
	shortIV.WrapIV = base64.StdEncoding.EncodeToString(make([]byte, 8))
	if _, err := UnwrapKey(newRing, "anyone", shortIV); err == nil || !strings.Contains(err.Error(), "12-byte IV") {
		t.Fatalf("8-byte IV: %v", err)
	}
	// Wrong KEK: a ring without the old key.
	if _, err := UnwrapKey(ring(t, 3), "anyone", legacy); !errors.Is(err, ErrUnwrap) {
		t.Fatalf("wrong KEK: %v", err)
	}
}

// BenchmarkRewrap is the crypto part of re-wrapping one vault in
// `mana kek rotate` (unwrap under the retired KEK, wrap under the active one);
// the rest of a rotation's time is the database.
func BenchmarkRewrap(b *testing.B) {
	oldRing, _ := kek.NewRing(bytes.Repeat([]byte{1}, 32))
	ring, _ := kek.NewRing(bytes.Repeat([]byte{2}, 32), bytes.Repeat([]byte{1}, 32))
	w, err := WrapKey(oldRing, "user", bytes.Repeat([]byte{5}, 32))
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := Rewrap(ring, "user", w); err != nil {
			b.Fatal(err)
		}
	}
}
