//go:build integration

package integration

import "testing"

// Replicas that start together on an empty database agree on one signing
// key, and a token minted by one validates on the other.
// This is a check, not a negative control: the stack's processes leave the
// migration lock one after another, so they seldom race for the first key;
// without Store.WithKeyLock the test still passed twice in a row.
func TestReplicasShareOneSigningKey(t *testing.T) {
	if n := queryInt(t, `SELECT count(*) FROM auth.jwks`); n != 1 {
		t.Fatalf("auth.jwks has %d keys after a concurrent start, want 1", n)
	}
	u := verifiedUser(t, "replica-key")
	s := loginOK(t, auth2URL, u)
	if r := validate(t, authURL, s.AccessToken); !isValid(r) {
		t.Fatalf("auth refuses auth2's token: %s", r)
	}
}
