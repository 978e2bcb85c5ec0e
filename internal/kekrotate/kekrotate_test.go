package kekrotate

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/mana/mana/internal/kek"
	"github.com/mana/mana/internal/vault"
)

func TestCheckRefusesAMissingKEK(t *testing.T) {
	oldKey, newKey := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	both, _ := kek.NewRing(newKey, oldKey)
	newOnly, _ := kek.NewRing(newKey)
	u := Usage{Vaults: map[string]int{kek.ID(oldKey): 3, kek.ID(newKey): 5}, SigningKeys: map[string]int{kek.ID(oldKey): 1}}

	if err := u.Check(both); err != nil {
		t.Fatalf("a ring with every KEK in use was refused: %v", err)
	}
	// Negative control: make Check return nil and this passes silently.
	err := u.Check(newOnly)
	want := "KEK " + kek.ID(oldKey) + " is not configured but still wraps 3 vault rows and 1 signing keys"
	if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "mana kek rotate") {
		t.Fatalf("want %q and how to rotate, got %v", want, err)
	}
}

func TestCheckTriesLegacyRows(t *testing.T) {
	oldKey, newKey := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	oldRing, _ := kek.NewRing(oldKey)
	mk := bytes.Repeat([]byte{7}, 32)
	nonce, ct, _ := oldRing.Wrap(mk, nil)
	w := vault.Wrapped{WrappedMK: b64(ct), WrapIV: b64(nonce), KEKID: kek.LegacyID, Scheme: vault.SchemeNoAAD}
	u := Usage{Vaults: map[string]int{kek.LegacyID: 2}, SigningKeys: map[string]int{}, legacy: &VaultWrap{UserID: "u1", Wrap: w}}

	withOld, _ := kek.NewRing(newKey, oldKey)
	if err := u.Check(withOld); err != nil {
		t.Fatalf("env-v1 rows under a retired KEK refused: %v", err)
	}
	newOnly, _ := kek.NewRing(newKey)
	if err := u.Check(newOnly); err == nil || !strings.Contains(err.Error(), "2 vault rows carry the old service's kek_id env-v1") {
		t.Fatalf("env-v1 rows no configured KEK opens: got %v", err)
	}
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
