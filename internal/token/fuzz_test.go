package token

import (
	"context"
	"strings"
	"testing"
)

// FuzzVerify: no input panics the verifier, and nothing but the one token
// the issuer minted verifies (a forged or altered token never does).
func FuzzVerify(f *testing.F) {
	iss := newIssuer(f, &memKeys{}, nil)
	good, _, err := iss.Mint(Claims{Sub: "u1", Email: "a@b.io", Role: "user", Sid: "s1", Tier: "public"})
	if err != nil {
		f.Fatal(err)
	}
	parts := strings.Split(good, ".")
	for _, seed := range []string{good, "", "a.b.c", parts[0] + "." + parts[1] + ".", "eyJhbGciOiJub25lIn0." + parts[1] + ".",
		parts[0] + "." + parts[1] + "." + parts[2][:len(parts[2])-2], strings.Repeat(".", 5), good + "x"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		c, _, err := iss.Verify(context.Background(), tok)
		if err != nil {
			if !IsRejection(err) {
				t.Fatalf("an input failed as if the keys could not be read: %v", err)
			}
			return
		}
		// Only the minted token's signed content may verify; base64url
		// padding bits aside (audit I1), it must carry the minted claims.
		if c.Sub != "u1" || c.Sid != "s1" || !strings.HasPrefix(tok, parts[0]+"."+parts[1]+".") {
			t.Fatalf("a token that was not minted verified: %q → %+v", tok, c)
		}
	})
}
