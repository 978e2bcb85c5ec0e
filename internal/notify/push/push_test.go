package push

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// fakeExpo answers like Expo and refuses requests over MaxPerRequest, as Expo does.
func fakeExpo(t *testing.T, failRequest int) (*httptest.Server, func() []int) {
	t.Helper()
	var mu sync.Mutex
	var sizes []int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var msgs []Message
		if err := json.NewDecoder(r.Body).Decode(&msgs); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		sizes = append(sizes, len(msgs))
		n := len(sizes)
		mu.Unlock()
		if len(msgs) > MaxPerRequest || n == failRequest {
			http.Error(w, `{"errors":[{"code":"PUSH_TOO_MANY_NOTIFICATIONS"}]}`, http.StatusBadRequest)
			return
		}
		data := make([]map[string]any, len(msgs))
		for i, m := range msgs {
			data[i] = map[string]any{"status": "ok", "id": "ticket-" + m.To}
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"data": data})
	}))
	t.Cleanup(srv.Close)
	return srv, func() []int { mu.Lock(); defer mu.Unlock(); return append([]int(nil), sizes...) }
}

func messages(n int) []Message {
	out := make([]Message, n)
	for i := range out {
		out[i] = Message{To: fmt.Sprintf("ExponentPushToken[%d]", i), Body: "b"}
	}
	return out
}

// More devices than Expo takes in one request are sent in chunks, and the
// tickets come back one per message, in order.
// Negative control: Send posting all messages in one request gets Expo's
// refusal for 250 messages and this test fails.
func TestSendSplitsIntoRequestsOfAtMost100(t *testing.T) {
	srv, sizes := fakeExpo(t, 0)
	c := &Client{URL: srv.URL, HTTP: srv.Client()}
	tickets, err := c.Send(context.Background(), messages(250))
	if err != nil {
		t.Fatal(err)
	}
	if got := sizes(); fmt.Sprint(got) != "[100 100 50]" {
		t.Fatalf("request sizes %v, want [100 100 50]", got)
	}
	if len(tickets) != 250 || tickets[0].ID != "ticket-ExponentPushToken[0]" || tickets[249].ID != "ticket-ExponentPushToken[249]" {
		t.Fatalf("tickets: %d, first %q, last %q", len(tickets), tickets[0].ID, tickets[len(tickets)-1].ID)
	}
}

// A failing later request fails the send, saying which messages were sent.
func TestSendReportsPartialFailure(t *testing.T) {
	srv, _ := fakeExpo(t, 2)
	c := &Client{URL: srv.URL, HTTP: srv.Client()}
	_, err := c.Send(context.Background(), messages(150))
	if err == nil || !strings.Contains(err.Error(), "earlier ones were sent") {
		t.Fatalf("want an error naming the partial send, got %v", err)
	}
}
