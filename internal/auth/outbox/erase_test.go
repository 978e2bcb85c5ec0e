package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/mana/mana/internal/notifyapi"
)

// TestEraseWorker (audit F6, notify in its own database): the erasure is
// posted to notify's erase route with the service key; 2xx completes the
// job, a refusal of the request cancels it loudly, anything else (notify
// down, a wrong key) retries it, so a deletion's erasure is never dropped.
// Negative control: classifying 503 as permanent fails the retry case.
func TestEraseWorker(t *testing.T) {
	var got notifyapi.EraseRequest
	var path, key string
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path, key = r.URL.Path, r.Header.Get(notifyapi.ServiceKeyHeader)
		if err := json.NewDecoder(r.Body).Decode(&got); err != nil {
			t.Errorf("decode: %v", err)
		}
		w.WriteHeader(status)
	}))
	defer srv.Close()
	w := &EraseWorker{NotifyURL: srv.URL, ServiceKey: "k", HTTP: srv.Client(), Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	job := &river.Job[EraseArgs]{JobRow: &rivertype.JobRow{ID: 7, Attempt: 1}, Args: EraseJob("user-1", "a@b.io")}

	if err := w.Work(context.Background(), job); err != nil {
		t.Fatalf("200: %v", err)
	}
	if path != notifyapi.ErasePath || key != "k" || got != (notifyapi.EraseRequest{UserID: "user-1", Email: "a@b.io"}) {
		t.Fatalf("request %s key=%q body=%+v", path, key, got)
	}
	var cancel *river.JobCancelError
	status = http.StatusBadRequest
	if err := w.Work(context.Background(), job); !errors.As(err, &cancel) {
		t.Fatalf("400: want JobCancel, got %v", err)
	}
	for _, s := range []int{http.StatusUnauthorized, http.StatusServiceUnavailable} {
		status = s
		if err := w.Work(context.Background(), job); err == nil || errors.As(err, &cancel) {
			t.Fatalf("%d: want a retryable error, got %v", s, err)
		}
	}
}
