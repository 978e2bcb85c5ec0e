package vault

import (
	"testing"

	"github.com/mana/mana/internal/kek"
)

// FuzzUnwrap: stored columns from anywhere (a tampered row) either open to
// a 32-byte key or fail with ErrUnwrap — never a panic, never another size.
func FuzzUnwrap(f *testing.F) {
	ring, err := kek.NewRing(make([]byte, kek.KeySize))
	if err != nil {
		f.Fatal(err)
	}
	w, err := WrapKey(ring, "user-1", make([]byte, MasterKeySize))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(w.WrappedMK, w.WrapIV, w.KEKID, w.Scheme, "user-1")
	f.Add(w.WrappedMK, w.WrapIV, "env-v1", 1, "user-1")
	f.Add("", "", "", 0, "")
	f.Add("!!!", "AAAA", "kek-x", 2, "user-2")
	f.Fuzz(func(t *testing.T, mk, iv, kekID string, scheme int, userID string) {
		got, err := UnwrapKey(ring, userID, Wrapped{WrappedMK: mk, WrapIV: iv, KEKID: kekID, Scheme: scheme})
		if err != nil {
			return
		}
		if len(got) != MasterKeySize {
			t.Fatalf("opened to %d bytes", len(got))
		}
	})
}
