package notify_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/mana/mana/internal/kek"
	"github.com/mana/mana/internal/notify"
)

// TestSealedBodies (audit F3): a sealed body holds nothing of the clear
// one, opens only with the ring and for its own recipient, and a body
// stored in clear passes unchanged.
// Negative control: OpenBody ignoring the recipient (a fixed AAD) opens
// the body moved to another recipient.
func TestSealedBodies(t *testing.T) {
	key := make([]byte, kek.KeySize)
	key[0] = 7
	ring, err := kek.NewRing(key)
	if err != nil {
		t.Fatal(err)
	}
	const body = `<p><a href="https://x/reset/SECRET">reset</a></p>`
	sealed := notify.SealBody(ring, body, "a@b.io")
	if !notify.IsSealed(sealed) || sealed == body || strings.Contains(sealed, "SECRET") {
		t.Fatalf("sealed body %q", sealed)
	}
	if got, err := notify.OpenBody(ring, sealed, "a@b.io"); err != nil || got != body {
		t.Fatalf("open: %q, %v", got, err)
	}
	if _, err := notify.OpenBody(ring, sealed, "c@d.io"); !errors.Is(err, notify.ErrSealedBody) {
		t.Fatalf("opened for another recipient: %v", err)
	}
	if _, err := notify.OpenBody(nil, sealed, "a@b.io"); !errors.Is(err, notify.ErrSealedBody) {
		t.Fatalf("opened without keys: %v", err)
	}
	other, err := kek.NewRing(make([]byte, kek.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := notify.OpenBody(other, sealed, "a@b.io"); !errors.Is(err, notify.ErrSealedBody) {
		t.Fatalf("opened with another ring: %v", err)
	}
	if got, err := notify.OpenBody(nil, body, "a@b.io"); err != nil || got != body {
		t.Fatalf("clear body: %q, %v", got, err)
	}
}
