package httpx

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestQuietOnSuccess: a request marked quiet logs at debug when it
// succeeds and at info (or error) when it does not; unmarked requests log
// at info.
// Negative control: Logging ignoring the flag logs the quiet success at
// info and fails the first row.
func TestQuietOnSuccess(t *testing.T) {
	for _, c := range []struct {
		name   string
		quiet  bool
		status int
		want   string
	}{
		{"quiet success", true, 200, "level=DEBUG"},
		{"quiet refusal", true, 401, "level=INFO"},
		{"quiet failure", true, 503, "level=ERROR"},
		{"plain success", false, 200, "level=INFO"},
	} {
		var buf bytes.Buffer
		log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
		h := Logging(log, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if c.quiet {
				QuietOnSuccess(r.Context())
			}
			w.WriteHeader(c.status)
		}))
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("POST", "/api/v1/auth/validate", nil))
		if !strings.Contains(buf.String(), c.want) {
			t.Errorf("%s: %q, want %s", c.name, buf.String(), c.want)
		}
	}
}
