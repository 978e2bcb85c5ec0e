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
	email = strings.ToLower(strings.TrimSpace(email))
	local, _, _ := strings.Cut(email, "@")
	if email != "" && (lower == email || lower == local) {
		return &Violation{Reason: "Password must not be your email address or its local part"}
	}
	return nil
}
