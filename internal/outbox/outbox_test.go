package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestBackoffGrowsAndCaps(t *testing.T) {
	want := map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 9: 256 * time.Second, 10: maxBackoff, 60: maxBackoff}
	for attempt, d := range want {
		if got := Backoff(attempt); got != d {
			t.Errorf("Backoff(%d) = %v, want %v", attempt, got, d)
		}
	}
}

func TestSendClassifiesAnswers(t *testing.T) {
	var got map[string]any
	var key string
	status := http.StatusAccepted
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key = r.Header.Get("X-Service-Key")
		if err := json.NewDecoder(r.Body).Decode(&got); err != nil {
			t.Errorf("decode: %v", err)
		}
		w.WriteHeader(status)
	}))
	defer srv.Close()
	w := &Worker{NotifyURL: srv.URL, ServiceKey: "k", HTTP: srv.Client()}
	m := MailArgs{To: "a@b.io", Subject: "s", HTML: "<p>x</p>", ExternalID: "e1"}

	if err := w.send(context.Background(), m); err != nil {
		t.Fatalf("202: %v", err)
	}
	if key != "k" || got["recipient"] != "a@b.io" || got["externalId"] != "e1" || got["channel"] != "email" || got["body"] != "<p>x</p>" {
		t.Fatalf("request = %v key=%q", got, key)
	}
	var perm permanentError
	status = http.StatusBadRequest
	if err := w.send(context.Background(), m); !errors.As(err, &perm) {
		t.Fatalf("400 should be permanent, got %v", err)
	}
	// A wrong service key is an operator's fix away: keep retrying, never drop the mail.
	for _, s := range []int{http.StatusUnauthorized, http.StatusServiceUnavailable, http.StatusTooManyRequests} {
		status = s
		if err := w.send(context.Background(), m); err == nil || errors.As(err, &perm) {
			t.Fatalf("%d should be retryable, got %v", s, err)
		}
	}
	srv.Close()
	if err := w.send(context.Background(), m); err == nil || errors.As(err, &perm) {
		t.Fatalf("unreachable notify should be retryable, got %v", err)
	}
}
