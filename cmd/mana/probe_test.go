package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestProbe(t *testing.T) {
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(status)
		_, _ = w.Write([]byte(`{"status":"ok"}`))
	}))
	defer srv.Close()
	noEnv := func(string) (string, bool) { return "", false }

	var out bytes.Buffer
	if err := probeCmd(context.Background(), &out, noEnv, []string{srv.URL + "/health"}); err != nil {
		t.Fatalf("healthy service: %v", err)
	}
	if !strings.Contains(out.String(), `"ok"`) {
		t.Errorf("output %q lacks the answer", out.String())
	}
	// Negative control: a probe that ignored the status code would pass here.
	status = http.StatusServiceUnavailable
	if err := probeCmd(context.Background(), &out, noEnv, []string{srv.URL + "/health"}); err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("unhealthy service: want an error naming 503, got %v", err)
	}
}

func TestProbeTarget(t *testing.T) {
	env := func(v string) func(string) (string, bool) {
		return func(k string) (string, bool) { return v, k == "PORT" && v != "" }
	}
	for _, c := range []struct{ port, want string }{
		{"", "http://127.0.0.1:3001/health"},
		{"3040", "http://127.0.0.1:3040/health"},
	} {
		got, err := probeTarget(env(c.port), nil)
		if err != nil || got != c.want {
			t.Errorf("PORT=%q: got %q, %v; want %q", c.port, got, err, c.want)
		}
	}
	if _, err := probeTarget(env("http"), nil); err == nil {
		t.Error("PORT=http: want an error")
	}
}
