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
