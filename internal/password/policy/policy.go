// Package policy decides whether a new password may be set (NIST SP 800-63B
// §3.1.1.2): a length range counted in Unicode code points after NFKC
// normalisation, no composition rules, no truncation, and a blocklist of the
// most common passwords and of the account's own email address.
package policy

import (
	_ "embed"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/mana/mana/internal/password"
)

//go:generate go run gen_blocklist.go

// blocklist is the common-password list (see README.md for its origin).
//
//go:embed blocklist.txt
var blocklist string

const (
	// DefaultMinLength keeps the contract's minimum. NIST SP 800-63B-4
	// asks for 15 when a password is the only factor; operators raise it with
	// MANA_PASSWORD_MIN_LENGTH.
	DefaultMinLength = 8
	// MaxLength is the contract's maximum (§3.4). It is checked before any
	// hashing, so a huge password costs nothing.
	MaxLength = 128
	// maxRawBytes bounds the input before normalisation: 128 code points
	// are at most 512 bytes of UTF-8.
	maxRawBytes = MaxLength * utf8.UTFMax
)

// Violation says why a password was refused; Error is shown to the user.
type Violation struct{ Reason string }

func (v *Violation) Error() string { return v.Reason }

// Policy is immutable after New and safe for concurrent use.
type Policy struct {
	minLength int
	common    map[string]struct{}
}

// New builds a policy with the given minimum length (DefaultMinLength..MaxLength).
func New(minLength int) (*Policy, error) {
	if minLength < DefaultMinLength || minLength > MaxLength {
		return nil, fmt.Errorf("password policy: minimum length %d outside %d..%d", minLength, DefaultMinLength, MaxLength)
	}
	p := &Policy{minLength: minLength, common: make(map[string]struct{}, 50000)}
	for _, line := range strings.Split(blocklist, "\n") {
		if line != "" {
			p.common[line] = struct{}{}
		}
	}
	if len(p.common) < 10000 {
		// A truncated data file must not silently weaken the policy.
		return nil, fmt.Errorf("password policy: blocklist has %d entries, want at least 10000", len(p.common))
	}
	return p, nil
}

// MinLength is the configured minimum in code points.
func (p *Policy) MinLength() int { return p.minLength }

// BlocklistSize is the number of refused common passwords.
func (p *Policy) BlocklistSize() int { return len(p.common) }

// Check returns a *Violation when pw may not become the password of the
// account with the given (canonical) email. Comparisons are case-insensitive
// and on the NFKC form, which is what gets hashed.
func (p *Policy) Check(pw, email string) error {
	if len(pw) > maxRawBytes || !utf8.ValidString(pw) {
		return &Violation{Reason: fmt.Sprintf("Password too long (at most %d characters)", MaxLength)}
	}
	norm := password.Normalize(pw)
	n := utf8.RuneCountInString(norm)
	if n < p.minLength {
		return &Violation{Reason: fmt.Sprintf("Password too short (at least %d characters)", p.minLength)}
	}
	if n > MaxLength {
		return &Violation{Reason: fmt.Sprintf("Password too long (at most %d characters)", MaxLength)}
	}
	lower := strings.ToLower(norm)
	if _, ok := p.common[lower]; ok {
		return &Violation{Reason: "Password is too common: it appears in lists of frequently used passwords"}
	}
	if reason := p.trivial(lower); reason != "" {
		return &Violation{Reason: reason}
	}
	email = strings.ToLower(strings.TrimSpace(email))
	local, _, _ := strings.Cut(email, "@")
	if email != "" && (lower == email || lower == local) {
		return &Violation{Reason: "Password must not be your email address or its local part"}
	}
	return nil
}

// sequences are runs a person types without thinking: the alphabet, the
// digits (wrapping 9→0), and the keyboard rows joined (QWERTY and QWERTZ).
var sequences = []string{
	"abcdefghijklmnopqrstuvwxyz",
	"01234567890",
	"qwertyuiopasdfghjklzxcvbnm",
	"qwertzuiopasdfghjklyxcvbnm",
	"1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik9ol0p",
}

// trivial refuses what the blocklist misses because it is long: a short
// unit or a common password repeated ("abcabcabcabc", "passwordpassword"),
// and a walk along a sequence, either way, with at most one break
// ("1234567890123456", "qwertyuiopasdfgh"); audit F12, PW-08.
func (p *Policy) trivial(lower string) string {
	r := []rune(lower)
	n := len(r)
	for unit := 1; unit <= n/2; unit++ {
		if n%unit != 0 {
			continue
		}
		u := string(r[:unit])
		if strings.Repeat(u, n/unit) != lower {
			continue
		}
		if _, common := p.common[u]; unit <= 4 || common {
			return "Password is a repetition: choose something less predictable"
		}
	}
	breaks := 0
	for i := 1; i < n; i++ {
		if !step(r[i-1], r[i]) {
			breaks++
		}
	}
	if n > 1 && breaks <= 1 {
		return "Password is a keyboard or alphabet sequence: choose something less predictable"
	}
	return ""
}

// step reports whether b follows a, or a follows b, in one of the sequences.
func step(a, b rune) bool {
	for _, s := range sequences {
		rs := []rune(s)
		for i := 1; i < len(rs); i++ {
			if (rs[i-1] == a && rs[i] == b) || (rs[i-1] == b && rs[i] == a) {
				return true
			}
		}
	}
	return false
}
