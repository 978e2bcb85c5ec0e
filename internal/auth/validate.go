package auth

import (
	"net/mail"
	"net/url"
	"strings"
)

// Input limits, enforced before any work is done.
const (
	MaxEmailLen       = 254
	MaxNameLen        = 255
	MaxPasswordLen    = 128
	maxCallbackURLLen = 2048
)

// CanonicalEmail is the key of an account: trimmed and lower-cased.
func CanonicalEmail(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

func validateEmail(email string) error {
	if email == "" {
		return invalid("email is required")
	}
	if len(email) > MaxEmailLen {
		return invalid("email is too long (at most 254 characters)")
	}
	addr, err := mail.ParseAddress(email)
	if err != nil || addr.Address != email || addr.Name != "" {
		return invalid("Invalid email address")
	}
	return nil
}

// validateNewEmail is the stricter rule for an address a new account is
// created with (existing accounts keep signing in with what they have;
// audit F13): ASCII only (so no case folding like the Kelvin sign "K" → "k"
// and no lookalikes), a local part of RFC 5322 atoms without quotes or
// backticks, and a DNS name with a dot — no IP literals, no "localhost".
// raw is the address as given: the ASCII check must see it before any
// case folding.
func validateNewEmail(raw string) error {
	trimmed := strings.TrimSpace(raw)
	for _, r := range trimmed {
		if r > 0x7e {
			return invalid("Invalid email address")
		}
	}
	email := strings.ToLower(trimmed)
	if err := validateEmail(email); err != nil {
		return err
	}
	local, domain, _ := strings.Cut(email, "@")
	if !asciiAtoms(local) || !dnsName(domain) {
		return invalid("Invalid email address")
	}
	return nil
}

// asciiAtoms: dot-separated non-empty runs of a-z, 0-9 and !#$%&*+/=?^_{|}~-.
func asciiAtoms(s string) bool {
	for _, atom := range strings.Split(s, ".") {
		if atom == "" {
			return false
		}
		for _, r := range atom {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || strings.ContainsRune("!#$%&*+/=?^_{|}~-", r)) {
				return false
			}
		}
	}
	return true
}

// dnsName: at least two labels of a-z, 0-9 and inner hyphens, at most 63
// characters each, the last alphabetic (a TLD, or punycode "xn--…").
func dnsName(s string) bool {
	labels := strings.Split(s, ".")
	if len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for _, r := range l {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	tld := labels[len(labels)-1]
	if strings.HasPrefix(tld, "xn--") {
		return true
	}
	for _, r := range tld {
		if r < 'a' || r > 'z' {
			return false
		}
	}
	return len(tld) >= 2
}

// CallbackPolicy decides where verification links may send the browser:
// relative paths and the allowed origins only (no open redirect).
type CallbackPolicy struct {
	origins map[string]bool
}

// NewCallbackPolicy allows the given origins (BASE_URL's and CORS_ORIGINS).
func NewCallbackPolicy(origins ...string) CallbackPolicy {
	p := CallbackPolicy{origins: map[string]bool{}}
	for _, o := range origins {
		if u, err := url.Parse(o); err == nil && u.Scheme != "" && u.Host != "" {
			p.origins[u.Scheme+"://"+u.Host] = true
		}
	}
	return p
}

// Check returns the callback to use ("/" when empty) or ErrInvalidCallback.
func (p CallbackPolicy) Check(raw string) (string, error) {
	if raw == "" {
		return "/", nil
	}
	if len(raw) > maxCallbackURLLen || strings.ContainsAny(raw, "\\\r\n\t") {
		return "", ErrInvalidCallback
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", ErrInvalidCallback
	}
	if u.Scheme == "" && u.Host == "" && u.User == nil {
		// A relative path must stay on this host: "//evil" is protocol-relative.
		if !strings.HasPrefix(raw, "/") || strings.HasPrefix(raw, "//") {
			return "", ErrInvalidCallback
		}
		return raw, nil
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.User != nil || !p.origins[u.Scheme+"://"+u.Host] {
		return "", ErrInvalidCallback
	}
	return raw, nil
}

// WithQuery appends key=value to a callback URL (for ?error=CODE redirects).
func WithQuery(callback, key, value string) string {
	u, err := url.Parse(callback)
	if err != nil {
		return callback
	}
	q := u.Query()
	q.Set(key, value)
	u.RawQuery = q.Encode()
	return u.String()
}
