package httpx

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestMetricsGuard: loopback peers (IPv4, IPv6, v4-mapped) scrape; others
// need the token; a forwarded loopback address does not count.
// Negative control: returning true from peerIsLoopback for every peer fails
// the "foreign peer" rows.
func TestMetricsGuard(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })
	for _, c := range []struct {
		name, peer, auth, xff, token string
		want                         int
	}{
		{"loopback v4", "127.0.0.1:5000", "", "", "", 200},
		{"loopback v6", "[::1]:5000", "", "", "", 200},
		{"v4-mapped loopback", "[::ffff:127.0.0.1]:5000", "", "", "", 200},
		{"foreign peer", "203.0.113.9:5000", "", "", "", 403},
		{"foreign peer, forwarded as loopback", "203.0.113.9:5000", "", "127.0.0.1", "", 403},
		{"foreign peer with the token", "203.0.113.9:5000", "Bearer s3cret", "", "s3cret", 200},
		{"foreign peer with a wrong token", "203.0.113.9:5000", "Bearer nope", "", "s3cret", 403},
		{"no token configured, empty bearer", "203.0.113.9:5000", "Bearer ", "", "", 403},
	} {
		r := httptest.NewRequest("GET", "/metrics", nil)
		r.RemoteAddr = c.peer
		if c.auth != "" {
			r.Header.Set("Authorization", c.auth)
		}
		if c.xff != "" {
			r.Header.Set("X-Forwarded-For", c.xff)
		}
		w := httptest.NewRecorder()
		MetricsGuard(c.token, ok).ServeHTTP(w, r)
		if w.Code != c.want {
			t.Errorf("%s: %d, want %d", c.name, w.Code, c.want)
		}
	}
}

// TestKnownMethods: a made-up method is refused before the handler and
// becomes the label "other"; the log path of a token route is its pattern.
// Negative control: letting KnownMethods call next for every method fails
// the first check.
func TestKnownMethods(t *testing.T) {
	called := false
	h := KnownMethods(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { called = true }))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("M123", "/x", nil))
	if w.Code != http.StatusMethodNotAllowed || called {
		t.Fatalf("made-up method: %d, handler called %v", w.Code, called)
	}
	if MethodLabel("M123") != "other" || MethodLabel(strings.Repeat("X", 1<<16)) != "other" || MethodLabel("GET") != "GET" {
		t.Fatal("method labels are not from the fixed set")
	}
	r := httptest.NewRequest("GET", "/api/auth/reset-password/SECRET", nil)
	r.Pattern = "GET /api/auth/reset-password/{token}"
	if got := LogPath(r); strings.Contains(got, "SECRET") {
		t.Fatalf("log path %q carries the token", got)
	}
	if w := httptest.NewRecorder(); true {
		WriteJSON(w, r, 200, map[string]any{})
		for k, v := range map[string]string{"Cache-Control": "no-store", "Pragma": "no-cache", "X-Content-Type-Options": "nosniff"} {
			if w.Header().Get(k) != v {
				t.Errorf("%s = %q, want %q", k, w.Header().Get(k), v)
			}
		}
	}
}

// TestLoopbackOnly (audit F7): /dev/mail's guard serves loopback peers only.
// Negative control: LoopbackOnly calling next for every peer fails the
// foreign row.
func TestLoopbackOnly(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })
	for peer, want := range map[string]int{"127.0.0.1:1": 200, "[::1]:1": 200, "192.0.2.5:1": 403} {
		r := httptest.NewRequest("GET", "/dev/mail", nil)
		r.RemoteAddr = peer
		w := httptest.NewRecorder()
		LoopbackOnly(ok).ServeHTTP(w, r)
		if w.Code != want {
			t.Errorf("%s: %d, want %d", peer, w.Code, want)
		}
	}
}
