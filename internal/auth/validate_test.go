package auth

import (
	"errors"
	"strings"
	"testing"

	"github.com/mana/mana/internal/password/policy"
)

func TestCallbackPolicy(t *testing.T) {
	p := NewCallbackPolicy("http://localhost:3091", "https://app.mana.how")
	allowed := []string{"", "/", "/welcome?x=1", "http://localhost:3091/done", "https://app.mana.how/verified"}
	for _, raw := range allowed {
		if _, err := p.Check(raw); err != nil {
			t.Errorf("Check(%q) refused: %v", raw, err)
		}
	}
	// Each of these is an open redirect if the matching check is removed:
	// protocol-relative (`//` prefix check), other host (origin map), userinfo,
	// backslash tricks (ContainsAny), other schemes.
	refused := []string{"//evil.example/x", "https://evil.example/", "https://app.mana.how@evil.example/",
		"/\\evil.example", "javascript:alert(1)", "http://app.mana.how/", "relative/path", strings.Repeat("/a", 2000)}
	for _, raw := range refused {
		if _, err := p.Check(raw); !errors.Is(err, ErrInvalidCallback) {
			t.Errorf("Check(%q) = %v, want ErrInvalidCallback", raw, err)
		}
	}
	if got, _ := p.Check(""); got != "/" {
		t.Errorf("empty callback = %q, want /", got)
	}
}

func TestWithQuery(t *testing.T) {
	if got := WithQuery("/done?x=1", "error", "INVALID_TOKEN"); got != "/done?error=INVALID_TOKEN&x=1" {
		t.Errorf("WithQuery = %q", got)
	}
}

func TestCheckNewPasswordCountsCodePoints(t *testing.T) {
	p, err := policy.New(8)
	if err != nil {
		t.Fatal(err)
	}
	s := &Service{policy: p}
	// 8 code points but 16 bytes: byte counting would accept 4-character
	// passwords of 2-byte runes and refuse long ASCII ones wrongly.
	if err := s.checkNewPassword("äöüßäöüx", "a@b.io"); err != nil {
		t.Errorf("8 code points refused: %v", err)
	}
	if err := s.checkNewPassword("äöüßäöü", "a@b.io"); err == nil {
		t.Error("7 code points accepted")
	}
	if err := s.checkNewPassword(strings.Repeat("a", 129), "a@b.io"); err == nil {
		t.Error("129 characters accepted")
	}
	var ve *ValidationError
	for _, bad := range []string{"short", "password1", "a@b.io"} {
		if err := s.checkNewPassword(bad, "a@b.io"); !errors.As(err, &ve) || ve.Code != "WEAK_PASSWORD" {
			t.Errorf("checkNewPassword(%q) = %v, want WEAK_PASSWORD", bad, err)
		}
	}
	if err := s.checkNewPassword("", "a@b.io"); !errors.As(err, &ve) || ve.Code != "VALIDATION" {
		t.Errorf("empty password error = %v, want VALIDATION", err)
	}
}

func TestValidateEmail(t *testing.T) {
	for _, ok := range []string{"a@b.io", "first.last+tag@example.com"} {
		if err := validateEmail(ok); err != nil {
			t.Errorf("validateEmail(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", "no-at", "Name <a@b.io>", "a@b.io, c@d.io", strings.Repeat("a", 250) + "@b.io"} {
		if err := validateEmail(bad); err == nil {
			t.Errorf("validateEmail(%q) accepted", bad)
		}
	}
	if CanonicalEmail("  Mixed@Case.IO ") != "mixed@case.io" {
		t.Error("CanonicalEmail does not trim and lower-case")
	}
}

// TestNewEmailSyntax (audit F13): addresses a new account may not be
// created with, and ordinary ones that pass. Existing accounts keep the
// lenient rule (validateEmail).
// Negative control: Register calling validateEmail instead accepts every
// "refused" row.
func TestNewEmailSyntax(t *testing.T) {
	for _, e := range []string{"a@[127.0.0.1]", "a@localhost", "a`b@x.io", "\"q\"@x.io", "a\u00a0b@x.io", "\u212aate@x.io",
		"a..b@x.io", ".a@x.io", "a@x", "a@-x.io", "a@x.i", "a@x.123", "ü@x.io", "a'b@x.io"} {
		if validateNewEmail(e) == nil {
			t.Errorf("refused for a new account, but accepted: %q", e)
		}
	}
	for _, e := range []string{"alice@example.com", " Bob.Mixed+tag@Sub.Example.ORG ", "x_y-z@a-b.co", "a@xn--bcher-kva.example"} {
		if err := validateNewEmail(e); err != nil {
			t.Errorf("%q: %v", e, err)
		}
	}
	// The lenient rule still lets existing users sign in with such addresses.
	if validateEmail("a@localhost") != nil {
		t.Error("the rule for existing accounts became strict too")
	}
}
