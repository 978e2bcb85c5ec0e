package httpx

import (
	"errors"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

func TestClientIP(t *testing.T) {
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	cases := []struct {
		remote, xff string
		trusted     []netip.Prefix
		want        string
	}{
		// Negative control: trusting X-Forwarded-For without checking the peer lets anyone pick their IP.
		{"203.0.113.9:5555", "1.2.3.4", nil, "203.0.113.9"},
		{"203.0.113.9:5555", "1.2.3.4", proxies, "203.0.113.9"},
		{"10.1.2.3:5555", "1.2.3.4", proxies, "1.2.3.4"},
		// A client-supplied first hop is ignored: the right-most untrusted hop counts.
		{"10.1.2.3:5555", "6.6.6.6, 1.2.3.4, 10.9.9.9", proxies, "1.2.3.4"},
		{"10.1.2.3:5555", "", proxies, "10.1.2.3"},
		{"[::ffff:198.51.100.7]:1", "", nil, "198.51.100.7"},
	}
	for _, tc := range cases {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tc.remote
		if tc.xff != "" {
			r.Header.Set("X-Forwarded-For", tc.xff)
		}
		if got := ClientIP(r, tc.trusted); got != tc.want {
			t.Errorf("ClientIP(%s, %q) = %s, want %s", tc.remote, tc.xff, got, tc.want)
		}
	}
}

func TestDecodeJSONLimits(t *testing.T) {
	var v map[string]any
	w := httptest.NewRecorder()
	r := httptest.NewRequest("POST", "/", strings.NewReader(`{"a":"`+strings.Repeat("x", 100)+`"}`))
	if err := DecodeJSON(w, r, 50, &v, false); err != ErrBodyTooLarge {
		t.Fatalf("oversized body: %v", err)
	}
	r = httptest.NewRequest("POST", "/", strings.NewReader(`{nope`))
	if err := DecodeJSON(w, r, 50, &v, false); err == nil {
		t.Fatal("invalid JSON accepted")
	}
	r = httptest.NewRequest("POST", "/", strings.NewReader(``))
	if err := DecodeJSON(w, r, 50, &v, true); err != nil {
		t.Fatalf("empty body with allowEmpty: %v", err)
	}
}

// TestDecodeJSONRefusesNUL: a \u0000 escape is refused (PostgreSQL cannot
// store NUL in text), the text \u0000 written with an escaped backslash is
// not. Negative control: without the hasNULEscape check in DecodeJSON the
// first two cases decode without error and this test fails.
func TestDecodeJSONRefusesNUL(t *testing.T) {
	cases := []struct {
		body   string
		refuse bool
	}{
		{`{"name":"a\u0000b"}`, true},
		{`{"a\u0000":"x","b":"\\"}`, true},
		{`{"name":"a\\u0000b"}`, false},
		{`{"name":"a\\\\u0000b"}`, false},
		{`{"name":"a\\\u0000b"}`, true},
		{`{"name":"\u0001 \"u0000\""}`, false},
	}
	for _, c := range cases {
		var v map[string]any
		r := httptest.NewRequest("POST", "/", strings.NewReader(c.body))
		err := DecodeJSON(httptest.NewRecorder(), r, 1<<10, &v, false)
		if c.refuse && !errors.Is(err, ErrInvalidJSON) {
			t.Errorf("%s: want ErrInvalidJSON, got %v (decoded %q)", c.body, err, v)
		}
		if !c.refuse && err != nil {
			t.Errorf("%s: refused: %v", c.body, err)
		}
	}
}
