package authapi

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Cookie names of the browser session (seed contract §2.7): "mana." and,
// when BASE_URL is https, the "__Secure-" prefix.
const (
	sessionCookie      = "session_token"
	sessionDataCookie  = "session_data"
	dontRememberCookie = "dont_remember"
	cookieMaxAge       = 604800 // seconds: auth.SessionTTL
	// sigLen is the length of the standard base64 of an HMAC-SHA256.
	sigLen = 44
)

// cookies signs, reads and writes the session cookies: the value is
// "<token>.<base64 HMAC-SHA256(BETTER_AUTH_SECRET, token)>", URL-encoded,
// so cookies the old service set stay valid and the other way round.
type cookies struct {
	secret []byte
	prefix string // "mana." or "__Secure-mana."
	domain string // COOKIE_DOMAIN: shared across subdomains, SameSite=None
	secure bool
}

func newCookies(secret, baseURL, domain string, production bool) cookies {
	c := cookies{secret: []byte(secret), prefix: "mana.", domain: domain, secure: production}
	if strings.HasPrefix(baseURL, "https://") {
		c.prefix, c.secure = "__Secure-mana.", true
	}
	return c
}

func (c cookies) sign(value string) string {
	mac := hmac.New(sha256.New, c.secret)
	mac.Write([]byte(value))
	return value + "." + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// verify returns the value of a signed cookie value, or false.
func (c cookies) verify(signed string) (string, bool) {
	if len(c.secret) == 0 {
		return "", false
	}
	i := strings.LastIndexByte(signed, '.')
	if i < 1 {
		return "", false
	}
	value, sig := signed[:i], signed[i+1:]
	if len(sig) != sigLen || !strings.HasSuffix(sig, "=") {
		return "", false
	}
	got, err := base64.StdEncoding.DecodeString(sig)
	if err != nil {
		return "", false
	}
	mac := hmac.New(sha256.New, c.secret)
	mac.Write([]byte(value))
	return value, hmac.Equal(got, mac.Sum(nil))
}

// read returns the verified value of the named cookie.
func (c cookies) read(r *http.Request, name string) (string, bool) {
	ck, err := r.Cookie(c.prefix + name)
	if err != nil || ck.Value == "" {
		return "", false
	}
	raw, err := url.PathUnescape(ck.Value)
	if err != nil {
		return "", false
	}
	return c.verify(raw)
}

// sessionToken is the session token the request's cookie carries.
func (c cookies) sessionToken(r *http.Request) (string, bool) { return c.read(r, sessionCookie) }

// dontRemember reports a "don't remember me" session (no sliding expiry).
func (c cookies) dontRemember(r *http.Request) bool {
	v, ok := c.read(r, dontRememberCookie)
	return ok && v == "true"
}

// present reports whether the request carries a session cookie at all
// (valid or not).
func (c cookies) present(r *http.Request) bool {
	_, err := r.Cookie(c.prefix + sessionCookie)
	return err == nil
}

// header serialises a cookie in the old service's attribute order:
// name=value; Max-Age; Domain; Path; HttpOnly; Secure; SameSite.
func (c cookies) header(name, value string, maxAge int, session bool) string {
	var b strings.Builder
	b.WriteString(c.prefix + name + "=" + value)
	if !session {
		b.WriteString("; Max-Age=" + strconv.Itoa(maxAge))
	}
	if c.domain != "" {
		b.WriteString("; Domain=" + c.domain)
	}
	b.WriteString("; Path=/; HttpOnly")
	if c.secure {
		b.WriteString("; Secure")
	}
	if c.domain != "" {
		b.WriteString("; SameSite=None")
	} else {
		b.WriteString("; SameSite=Lax")
	}
	return b.String()
}

// setSession sets the session cookie (and, for a short session, the
// don't-remember cookie, which makes both browser-session cookies).
func (c cookies) setSession(w http.ResponseWriter, token string, short bool) {
	w.Header().Add("Set-Cookie", c.header(sessionCookie, url.QueryEscape(c.sign(token)), cookieMaxAge, short))
	if short {
		w.Header().Add("Set-Cookie", c.header(dontRememberCookie, url.QueryEscape(c.sign("true")), cookieMaxAge, true))
	}
}

// expire clears every session cookie.
func (c cookies) expire(w http.ResponseWriter) {
	for _, name := range []string{sessionCookie, sessionDataCookie, dontRememberCookie} {
		w.Header().Add("Set-Cookie", c.header(name, "", 0, false))
	}
}
