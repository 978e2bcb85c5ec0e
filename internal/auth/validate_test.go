package auth

import (
	"errors"
	"strings"
	"testing"
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

func TestValidateNewPasswordCountsCodePoints(t *testing.T) {
	// 8 code points but 24 bytes: byte counting would accept 3-character
	// passwords of 3-byte runes and refuse long ASCII ones wrongly.
	if err := validateNewPassword("ääääääää"); err != nil {
		t.Errorf("8 code points refused: %v", err)
	}
	if err := validateNewPassword("äääääää"); err == nil {
		t.Error("7 code points accepted")
	}
	if err := validateNewPassword(strings.Repeat("a", 129)); err == nil {
		t.Error("129 characters accepted")
	}
	var ve *ValidationError
	if err := validateNewPassword("short"); !errors.As(err, &ve) || ve.Code != "WEAK_PASSWORD" {
		t.Errorf("short password error = %v, want WEAK_PASSWORD", err)
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
