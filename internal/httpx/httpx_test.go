package httpx

import (
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
