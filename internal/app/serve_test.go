package app

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
)

// Any failing part makes /health 503 and names the part. Negative control:
// leaving one error out of the errors.Join in healthHandler keeps its row
// at 200 and fails it.
func TestHealthReportsEachPart(t *testing.T) {
	ok := func(context.Context) error { return nil }
	down := func(context.Context) error { return errors.New("down") }
	window := func(context.Context) (string, error) { return "window", nil }
	cases := []struct {
		name   string
		checks healthChecks
		code   int
		part   [2]string // the check that must read false
	}{
		{"all up", healthChecks{ok, ok, ok, window}, http.StatusOK, [2]string{}},
		{"auth database", healthChecks{down, ok, ok, window}, http.StatusServiceUnavailable, [2]string{"auth", "database"}},
		{"notify database", healthChecks{ok, down, ok, window}, http.StatusServiceUnavailable, [2]string{"notify", "database"}},
		{"notify queue", healthChecks{ok, ok, down, window}, http.StatusServiceUnavailable, [2]string{"notify", "queue"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			healthHandler(slog.New(slog.NewTextHandler(io.Discard, nil)), c.checks).
				ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/health", nil))
			if rec.Code != c.code {
				t.Fatalf("status %d, want %d: %s", rec.Code, c.code, rec.Body)
			}
			var body struct {
				Checks  map[string]map[string]bool `json:"checks"`
				Cutover string                     `json:"cutover"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatal(err)
			}
			if body.Cutover != "window" {
				t.Errorf("cutover = %q, want the state reported", body.Cutover)
			}
			for part, checks := range body.Checks {
				for name, up := range checks {
					if want := [2]string{part, name} != c.part; up != want {
						t.Errorf("checks.%s.%s = %v, want %v", part, name, up, want)
					}
				}
			}
			if len(body.Checks["auth"]) != 1 || len(body.Checks["notify"]) != 2 {
				t.Errorf("checks = %v, want auth.database, notify.database, notify.queue", body.Checks)
			}
		})
	}
}
