package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mana/mana/internal/auth"
	"github.com/mana/mana/internal/kek"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
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

type deliverFunc func(context.Context, MailArgs) error

func (f deliverFunc) Deliver(ctx context.Context, m MailArgs) error { return f(ctx, m) }

// The in-process hand-off keeps the HTTP path's rules: a Permanent refusal
// cancels the job, any other error retries it, success completes it.
// Negative control: Work ignoring Via (always posting to NotifyURL) fails
// the first case (the worker has no HTTP client: it panics).
func TestWorkThroughDeliverer(t *testing.T) {
	job := func() *river.Job[MailArgs] {
		return &river.Job[MailArgs]{JobRow: &rivertype.JobRow{ID: 1, Attempt: 1}, Args: MailArgs{To: "a@b.io", ExternalID: "e"}}
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	var got MailArgs
	w := &Worker{Via: deliverFunc(func(_ context.Context, m MailArgs) error { got = m; return nil }), Log: log}
	if err := w.Work(context.Background(), job()); err != nil || got.ExternalID != "e" {
		t.Fatalf("success: err=%v delivered=%+v", err, got)
	}
	w.Via = deliverFunc(func(context.Context, MailArgs) error { return Permanent(errors.New("refused")) })
	var cancel *river.JobCancelError
	if err := w.Work(context.Background(), job()); !errors.As(err, &cancel) {
		t.Fatalf("permanent refusal: want JobCancel, got %v", err)
	}
	w.Via = deliverFunc(func(context.Context, MailArgs) error { return errors.New("database down") })
	if err := w.Work(context.Background(), job()); err == nil || errors.As(err, &cancel) {
		t.Fatalf("transient failure: want a retryable error, got %v", err)
	}
}

// TestSealedBody (audit F3): a sealed mail body opens only with its ring and
// for its own mail (the external id is bound), and an unsealed one passes.
// Negative control: Opened ignoring the AAD lets the swapped job open.
func TestSealedBody(t *testing.T) {
	ring, err := kek.NewRing(make([]byte, kek.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	sealed, kekID := ring.Seal([]byte("<a href=\"https://x/verify?token=SECRET\">x</a>"), auth.MailAAD("ext-1"))
	m := Job(auth.Mail{To: "a@b.io", Subject: "S", ExternalID: "ext-1", SealedHTML: sealed, KEKID: kekID})
	if m.HTML != "" || strings.Contains(string(m.Sealed), "SECRET") {
		t.Fatalf("job args hold the body in clear: %+v", m)
	}
	open, err := m.Opened(ring)
	if err != nil || !strings.Contains(open.HTML, "SECRET") || open.Message().Body != open.HTML || !open.Message().Sensitive {
		t.Fatalf("opened: %+v, %v", open, err)
	}
	swapped := m
	swapped.ExternalID = "ext-2"
	if _, err := swapped.Opened(ring); err == nil {
		t.Fatal("a body moved to another mail opened")
	}
	if _, err := m.Opened(nil); err == nil {
		t.Fatal("a sealed body opened without a ring")
	}
	plain := Job(auth.Mail{To: "a@b.io", HTML: "<p>x</p>"})
	if got, err := plain.Opened(nil); err != nil || got.HTML != "<p>x</p>" {
		t.Fatalf("unsealed: %+v, %v", got, err)
	}
}
