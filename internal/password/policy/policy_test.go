package policy

import (
	"errors"
	"strings"
	"testing"
)

func mustNew(t *testing.T, min int) *Policy {
	t.Helper()
	p, err := New(min)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestBlocklistShipsTheTopTenThousand(t *testing.T) {
	p := mustNew(t, DefaultMinLength)
	if p.BlocklistSize() < 10000 {
		t.Fatalf("blocklist has %d entries, want >= 10000", p.BlocklistSize())
	}
	lines := strings.Split(blocklist, "\n")
	// The file is frequency-ranked: the classics lead it.
	if lines[0] != "123456" || lines[1] != "password" {
		t.Fatalf("blocklist does not start with the most common passwords: %q", lines[:2])
	}
}

// Negative control: removing the length, blocklist or email check from Check
// makes the matching case below pass the policy and this test fail.
func TestCheck(t *testing.T) {
	p := mustNew(t, 8)
	cases := []struct {
		pw, email, want string // want: substring of the reason, "" = allowed
	}{
		{"short", "a@b.example", "too short"},
		{"abe\u0301defg", "a@b.example", "too short"}, // 8 code points typed, 7 after NFKC (é composed)
		{"ﬁxﬁyﬁz", "a@b.example", ""},                 // 6 typed, 3 ligatures → 9 code points "fixfiyfiz"
		{strings.Repeat("x", 128) + "y", "a@b.example", "too long"},
		{strings.Repeat("ü", 127) + "x", "a@b.example", ""}, // 128 code points, 255 bytes: allowed, not truncated
		{"password", "a@b.example", "too common"},
		{"PassWord1", "a@b.example", "too common"},
		{"iloveyou", "a@b.example", "too common"},
		{"correct horse battery staple", "a@b.example", ""},
		{"longlocalpart", "LongLocalPart@example.com", "email"},
		{"longlocalpart@example.com", "longlocalpart@example.com", "email"},
		{"TestPassword123!", "someone@example.com", ""},
	}
	for _, c := range cases {
		err := p.Check(c.pw, c.email)
		if c.want == "" {
			if err != nil {
				t.Errorf("Check(%q): want allowed, got %v", c.pw, err)
			}
			continue
		}
		var v *Violation
		if !errors.As(err, &v) || !strings.Contains(v.Reason, c.want) {
			t.Errorf("Check(%q): want a violation mentioning %q, got %v", c.pw, c.want, err)
		}
	}
}

func TestMinimumIsConfigurable(t *testing.T) {
	p := mustNew(t, 15) // NIST SP 800-63B-4 for password-only accounts
	if err := p.Check("fourteen chars", "a@b.example"); err == nil {
		t.Fatal("a 14-character password passed a 15-character minimum")
	}
	if err := p.Check("fifteen chars!!", "a@b.example"); err != nil {
		t.Fatalf("a 15-character password was refused: %v", err)
	}
	for _, bad := range []int{0, 7, 129} {
		if _, err := New(bad); err == nil {
			t.Errorf("New(%d): want an error", bad)
		}
	}
}

func BenchmarkCheck(b *testing.B) {
	p, err := New(8)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		_ = p.Check("correct horse battery staple", "someone@example.com")
	}
}

func BenchmarkNew(b *testing.B) {
	for b.Loop() {
		if _, err := New(8); err != nil {
			b.Fatal(err)
		}
	}
}

// TestTrivialLongPasswords (audit F12): long passwords the blocklist misses
// because they are repetitions or sequences; and long ordinary ones pass.
// Negative control: trivial returning "" accepts every "refused" row.
func TestTrivialLongPasswords(t *testing.T) {
	p, err := New(DefaultMinLength)
	if err != nil {
		t.Fatal(err)
	}
	for _, pw := range []string{"passwordpassword", "1234567890123456", "qwertyuiopasdfgh", "abcabcabcabc", "aaaaaaaaaaaa",
		"zyxwvutsrqponmlk", "9876543210987654", "qwertzuiopasdfgh", "1qaz2wsx3edc4rfv"} {
		if err := p.Check(pw, "someone@example.com"); err == nil {
			t.Errorf("%q accepted", pw)
		}
	}
	for _, pw := range []string{"correct horse battery staple", "plum-otter-kazu", "Tr0ub4dor&3xyz", "Handler-Test-Passw0rd-1"} {
		if err := p.Check(pw, "someone@example.com"); err != nil {
			t.Errorf("%q refused: %v", pw, err)
		}
	}
}
