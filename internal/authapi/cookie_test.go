package authapi

import (
	"net/http/httptest"
	"testing"
)

// TestCookieAttributes: the Set-Cookie line of each configuration, in the
// old service's attribute order (§2.7). Negative control: dropping the
// domain branch of header() fails the COOKIE_DOMAIN rows.
func TestCookieAttributes(t *testing.T) {
	for _, c := range []struct {
		name              string
		base, domain      string
		production, short bool
		want              string
	}{
		{"dev", "http://localhost:3001", "", false, false, "mana.session_token=v; Max-Age=604800; Path=/; HttpOnly; SameSite=Lax"},
		{"production on http", "http://auth.internal", "", true, false, "mana.session_token=v; Max-Age=604800; Path=/; HttpOnly; Secure; SameSite=Lax"},
		{"https", "https://auth.mana.how", "", false, false, "__Secure-mana.session_token=v; Max-Age=604800; Path=/; HttpOnly; Secure; SameSite=Lax"},
		{"https with COOKIE_DOMAIN", "https://auth.mana.how", ".mana.how", true, false,
			"__Secure-mana.session_token=v; Max-Age=604800; Domain=.mana.how; Path=/; HttpOnly; Secure; SameSite=None"},
		{"don't remember", "http://localhost:3001", "", false, true, "mana.session_token=v; Path=/; HttpOnly; SameSite=Lax"},
	} {
		got := newCookies("s", c.base, c.domain, c.production).header(sessionCookie, "v", cookieMaxAge, c.short)
		if got != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.name, got, c.want)
		}
	}
}

// TestCookieVerify: a value verifies only with its own signature under the
// configured secret; an empty secret verifies nothing.
func TestCookieVerify(t *testing.T) {
	c := newCookies("secret", "http://localhost", "", false)
	signed := c.sign("tok")
	if v, ok := c.verify(signed); !ok || v != "tok" {
		t.Fatalf("own signature: %q %v", v, ok)
	}
	other := newCookies("other", "http://localhost", "", false)
	for name, v := range map[string]string{
		"other secret":   other.sign("tok"),
		"no signature":   "tok",
		"empty":          "",
		"swapped token":  "tak" + signed[3:],
		"short sig":      "tok.abc=",
		"sig not base64": "tok." + string(make([]byte, 43)) + "=",
	} {
		if _, ok := c.verify(v); ok {
			t.Errorf("%s verified", name)
		}
	}
	if _, ok := newCookies("", "http://localhost", "", false).verify(newCookies("", "http://localhost", "", false).sign("tok")); ok {
		t.Error("an empty secret verified a cookie")
	}
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Cookie", "mana.session_token="+signed) // not URL-encoded: still read
	if v, ok := c.sessionToken(r); !ok || v != "tok" {
		t.Fatalf("raw cookie value: %q %v", v, ok)
	}
}
