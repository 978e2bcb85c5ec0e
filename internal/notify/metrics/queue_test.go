package metrics

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func scrape(t *testing.T, m *Notify) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	return rec.Code, rec.Body.String()
}

func TestQueueGauges(t *testing.T) {
	m := New()
	if err := m.WatchQueue(func(context.Context) (QueueStats, error) {
		return QueueStats{Depth: map[string]int{"notify_email": 3, "notify_push": 0}, OldestPending: 1500 * time.Millisecond, DeadLetters: 2}, nil
	}); err != nil {
		t.Fatal(err)
	}
	code, body := scrape(t, m)
	for _, want := range []string{`mana_notify_queue_depth{queue="notify_email"} 3`, `mana_notify_queue_depth{queue="notify_push"} 0`,
		`mana_notify_queue_oldest_pending_seconds 1.5`, `mana_notify_dead_letters 2`} {
		if code != 200 || !strings.Contains(body, want) {
			t.Errorf("scrape %d lacks %q", code, want)
		}
	}
}

// Guard: Collect's NewInvalidMetric on a read error. Without it a dead
// database would show an empty queue instead of failing the scrape.
func TestQueueReadErrorFailsTheScrape(t *testing.T) {
	m := New()
	if err := m.WatchQueue(func(context.Context) (QueueStats, error) { return QueueStats{}, errors.New("db down") }); err != nil {
		t.Fatal(err)
	}
	if code, body := scrape(t, m); code != http.StatusInternalServerError || !strings.Contains(body, "db down") {
		t.Fatalf("scrape with a failing reader: %d %s", code, body)
	}
}
