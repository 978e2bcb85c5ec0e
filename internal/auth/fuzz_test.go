package auth

import (
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzEmail: canonicalisation is idempotent and validation never panics;
// an accepted address is short enough, has one @ and no control characters.
func FuzzEmail(f *testing.F) {
	for _, seed := range []string{"a@b.co", " Alice@Example.COM ", "a@[127.0.0.1]", "\u212Aate@x.io", "a@localhost",
		"a\u00a0b@x.io", "\"q\"@x.io", strings.Repeat("a", 300) + "@x.io", "@", "a@b@c"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		email := CanonicalEmail(raw)
		if CanonicalEmail(email) != email {
			t.Fatalf("not idempotent: %q → %q → %q", raw, email, CanonicalEmail(email))
		}
		if validateEmail(email) != nil {
			return
		}
		if len(email) > MaxEmailLen || strings.Count(email, "@") != 1 || !utf8.ValidString(email) ||
			strings.ContainsFunc(email, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			t.Fatalf("accepted %q", email)
		}
	})
}

// FuzzCallback: an accepted callbackURL is a path on this host or a URL on
// an allowed origin — never another host ("//evil", "\\evil", schemes).
func FuzzCallback(f *testing.F) {
	p := NewCallbackPolicy("https://auth.example", "https://app.example")
	for _, seed := range []string{"/", "/x?y=1", "//evil.example", "/\\evil.example", "https://app.example/ok",
		"https://app.example.evil.com/", "javascript:alert(1)", "https://app.example@evil.com/", "", "%2F%2Fevil", "\t//evil"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		cb, err := p.Check(raw)
		if err != nil {
			return
		}
		u, perr := url.Parse(cb)
		if perr != nil {
			t.Fatalf("accepted %q as %q, which does not parse: %v", raw, cb, perr)
		}
		switch {
		case u.Scheme == "" && u.Host == "":
			if !strings.HasPrefix(cb, "/") || strings.HasPrefix(cb, "//") || strings.HasPrefix(cb, "/\\") {
				t.Fatalf("accepted %q as a relative %q that a browser may read as another host", raw, cb)
			}
		case u.Scheme+"://"+u.Host == "https://auth.example" || u.Scheme+"://"+u.Host == "https://app.example":
			if u.User != nil {
				t.Fatalf("accepted %q with user info", raw)
			}
		default:
			t.Fatalf("accepted %q → %q on a foreign origin", raw, cb)
		}
	})
}
