package notifyapi

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

	"github.com/mana/mana/internal/notify"

	"github.com/mana/mana/internal/notify/metrics"
)

const testKey = "test-service-key"

// fakeStore stands in for Postgres: these tests are about HTTP behaviour.
type fakeStore struct {
	notify.Store // methods a test does not need panic (nil interface)
	pingErr      error
	createErr    error
	existing     map[string]string // externalId -> notification id
	created      []notify.NewNotification
	jobs         int // delivery jobs the store would have inserted with its rows
	rows         map[string]notify.Notification
}

func (f *fakeStore) Ping(context.Context) error { return f.pingErr }

func (f *fakeStore) Create(_ context.Context, n notify.NewNotification) (notify.Created, error) {
	if f.createErr != nil {
		return notify.Created{}, f.createErr
	}
	if id, ok := f.existing[n.ExternalID]; ok && n.ExternalID != "" {
		return notify.Created{ID: id, Deduplicated: true}, nil
	}
	id := "0b9f5f4e-5f3e-4a43-9d6c-3f8f0c3e9a01"
	f.created, f.jobs = append(f.created, n), f.jobs+1
	return notify.Created{ID: id}, nil
}

func (f *fakeStore) NotificationOfExternalID(_ context.Context, ext string) (string, error) {
	if id, ok := f.existing[ext]; ok {
		return id, nil
	}
	return "", notify.ErrNotFound
}

func (f *fakeStore) Get(_ context.Context, id string) (notify.Notification, error) {
	n, ok := f.rows[id]
	if !ok {
		return notify.Notification{}, notify.ErrNotFound
	}
	return n, nil
}

func newTestHandler(st *fakeStore) http.Handler {
	return New(Config{Store: st, Metrics: metrics.New(), Log: slog.New(slog.DiscardHandler),
		ServiceKey: testKey, CORSOrigins: []string{"http://localhost:5173"}, Started: time.Now()}).Handler()
}

func do(t *testing.T, h http.Handler, method, path, key, body string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if key != "" {
		req.Header.Set(ServiceKeyHeader, key)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func decode(t *testing.T, rec *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
		t.Fatalf("response is not JSON: %v: %q", err, rec.Body.String())
	}
	return v
}

// Guard: handler.go `if key == "" || subtle.ConstantTimeCompare(got[:], want[:]) != 1 {` —
// without it every request passes and the 401 cases fail.
func TestServiceKey(t *testing.T) {
	h := newTestHandler(&fakeStore{})
	for name, key := range map[string]string{"missing": "", "wrong": "nope", "prefix": testKey[:5], "longer": testKey + "x"} {
		for _, route := range []struct{ method, path string }{
			{"POST", "/api/v1/notifications/send"},
			{"GET", "/api/v1/notifications/0b9f5f4e-5f3e-4a43-9d6c-3f8f0c3e9a01"},
			{"GET", "/api/v1/notifications/unknown/deeper"}, // unknown routes too
		} {
			rec := do(t, h, route.method, route.path, key, `{}`)
			if rec.Code != http.StatusUnauthorized {
				t.Fatalf("%s key on %s %s: status %d, want 401", name, route.method, route.path, rec.Code)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "text/plain; charset=utf-8" {
				t.Fatalf("content type %q", ct)
			}
			if rec.Body.String() != "{\"error\":\"unauthorized: invalid service key\"}\n" {
				t.Fatalf("body %q", rec.Body.String())
			}
		}
	}
	// The right key reaches the handler (here: its 404).
	if rec := do(t, h, "GET", "/api/v1/notifications/0b9f5f4e-5f3e-4a43-9d6c-3f8f0c3e9a01", testKey, ""); rec.Code != http.StatusNotFound {
		t.Fatalf("right key: status %d, want 404 from the handler", rec.Code)
	}
}

// Guard: handler.go `if key == "" ||` — a service configured without a key
// must not accept requests that send none.
func TestServiceKeyEmptyConfiguredKeyRejectsAll(t *testing.T) {
	reached := false
	h := RequireServiceKey("", http.HandlerFunc(func(http.ResponseWriter, *http.Request) { reached = true }))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != http.StatusUnauthorized || reached {
		t.Fatalf("status %d reached %v, want 401 and not reached", rec.Code, reached)
	}
}

func TestHealth(t *testing.T) {
	st := &fakeStore{}
	h := newTestHandler(st)
	rec := do(t, h, "GET", "/health", "", "")
	body := decode(t, rec)
	if rec.Code != 200 || body["status"] != "healthy" || body["service"] != "mana-notify" || body["version"] != "1.0.0" {
		t.Fatalf("healthy: %d %v", rec.Code, body)
	}
	if services, _ := body["services"].(map[string]any); services["database"] != true {
		t.Fatalf("services %v", body["services"])
	}
	if _, err := time.Parse(time.RFC3339, body["timestamp"].(string)); err != nil {
		t.Fatalf("timestamp: %v", err)
	}
	if _, ok := body["uptime"].(float64); !ok {
		t.Fatalf("uptime %v", body["uptime"])
	}

	// Guard: handler.go `status, code = "unhealthy", http.StatusServiceUnavailable`.
	st.pingErr = errors.New("connection refused")
	rec = do(t, h, "GET", "/health", "", "")
	body = decode(t, rec)
	if rec.Code != http.StatusServiceUnavailable || body["status"] != "unhealthy" {
		t.Fatalf("unhealthy: %d %v", rec.Code, body)
	}
	if services, _ := body["services"].(map[string]any); services["database"] != false {
		t.Fatalf("services %v", body["services"])
	}
}

func TestMetricsExposesContractNames(t *testing.T) {
	h := newTestHandler(&fakeStore{})
	req := httptest.NewRequest("GET", "/metrics", nil)
	req.RemoteAddr = "127.0.0.1:40000" // a loopback scrape (MetricsGuard)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 200 {
		t.Fatalf("status %d", rec.Code)
	}
	// Histograms and the Go collector appear before any observation; the
	// counter vectors appear once a label set is used (see delivery tests).
	for _, name := range []string{"mana_notify_email_latency_seconds", "go_goroutines"} {
		if !strings.Contains(rec.Body.String(), name) {
			t.Errorf("metrics lack %s", name)
		}
	}
}

func TestSendCreatesAndEnqueues(t *testing.T) {
	st := &fakeStore{}
	h := newTestHandler(st)
	rec := do(t, h, "POST", "/api/v1/notifications/send", testKey,
		`{"channel":"email","appId":"mana-auth","recipient":"u@example.com","subject":"S","body":"<p>B</p>",
		  "emailOptions":{"from":"Mana <noreply@mana.how>","replyTo":"help@mana.how"},"data":{"k":1}}`)
	if rec.Code != http.StatusAccepted {
		t.Fatalf("status %d body %s", rec.Code, rec.Body)
	}
	want := `{"notification":{"id":"0b9f5f4e-5f3e-4a43-9d6c-3f8f0c3e9a01","status":"pending"}}` + "\n"
	if rec.Body.String() != want {
		t.Fatalf("body %s, want %s", rec.Body, want)
	}
	if len(st.created) != 1 || st.created[0].Recipient != "u@example.com" || st.created[0].Data["k"] != float64(1) {
		t.Fatalf("stored %+v", st.created)
	}
	if st.jobs != 1 {
		t.Fatalf("jobs %d", st.jobs)
	}
	if o := st.created[0].Options.Email; o == nil || o.From != "Mana <noreply@mana.how>" || o.ReplyTo != "help@mana.how" {
		t.Fatalf("stored email options %+v", st.created[0].Options)
	}
}

func TestSendDeduplicated(t *testing.T) {
	st := &fakeStore{existing: map[string]string{"ext-1": "11111111-1111-1111-1111-111111111111"}}
	h := newTestHandler(st)
	rec := do(t, h, "POST", "/api/v1/notifications/send", testKey,
		`{"channel":"email","appId":"a","recipient":"u@example.com","body":"b","externalId":"ext-1"}`)
	want := `{"deduplicated":true,"notification":{"id":"11111111-1111-1111-1111-111111111111","status":"existing"}}` + "\n"
	if rec.Code != http.StatusOK || rec.Body.String() != want {
		t.Fatalf("got %d %s, want 200 %s", rec.Code, rec.Body, want)
	}
	if st.jobs != 0 {
		t.Fatalf("a duplicate was enqueued: %d jobs", st.jobs)
	}
}

func TestSendErrors(t *testing.T) {
	st := &fakeStore{}
	h := newTestHandler(st)
	check := func(rec *httptest.ResponseRecorder, status int, code, message string) {
		t.Helper()
		body := decode(t, rec)
		e, _ := body["error"].(map[string]any)
		if rec.Code != status || body["success"] != false || e["statusCode"] != float64(status) ||
			e["code"] != code || e["message"] != message {
			t.Fatalf("got %d %s, want %d %s %q", rec.Code, rec.Body, status, code, message)
		}
		if ts, _ := e["timestamp"].(string); !strings.HasSuffix(ts, "Z") {
			t.Fatalf("timestamp %q is not RFC3339 UTC", ts)
		}
	}
	check(do(t, h, "POST", "/api/v1/notifications/send", testKey, `{"channel":`), 400, CodeInvalidBody, "invalid request body")
	check(do(t, h, "POST", "/api/v1/notifications/send", testKey, ``), 400, CodeInvalidBody, "invalid request body")
	check(do(t, h, "POST", "/api/v1/notifications/send", testKey, `{}`), 400, CodeValidation, "channel is required")
	// Guard: handler.go `if errors.Is(err, httpx.ErrBodyTooLarge) {` (else it is a 400).
	big := `{"channel":"email","appId":"a","recipient":"u@example.com","body":"` + strings.Repeat("x", 1<<20) + `"}`
	check(do(t, h, "POST", "/api/v1/notifications/send", testKey, big), 413, CodePayloadTooLarge, "request body too large")
	check(do(t, h, "POST", "/api/v1/notifications/send", testKey, `{"channel":"webhook","appId":"a","recipient":"ftp://x","body":"b"}`),
		400, CodeValidation, "recipient must be an http(s) URL for the webhook channel")

	st.createErr = errors.New("connection reset")
	check(do(t, h, "POST", "/api/v1/notifications/send", testKey, `{"channel":"email","appId":"a","recipient":"u@example.com","body":"b"}`),
		500, CodeInternal, "failed to create notification")
}

func TestGetNotification(t *testing.T) {
	delivered := time.Date(2026, 5, 1, 10, 0, 1, 0, time.UTC)
	created := time.Date(2026, 5, 1, 10, 0, 0, 0, time.FixedZone("CEST", 2*3600))
	subject, recipient := "Hallo", "u@example.com"
	id := "0b9f5f4e-5f3e-4a43-9d6c-3f8f0c3e9a01"
	st := &fakeStore{rows: map[string]notify.Notification{id: {
		ID: id, AppID: "mana-auth", Channel: notify.ChannelEmail, Subject: &subject, Status: notify.StatusDelivered,
		Priority: notify.PriorityNormal, Recipient: &recipient, Attempts: 1, DeliveredAt: &delivered,
		CreatedAt: created, UpdatedAt: created,
	}}}
	h := newTestHandler(st)
	rec := do(t, h, "GET", "/api/v1/notifications/"+id, testKey, "")
	want := `{"notification":{"id":"` + id + `","appId":"mana-auth","channel":"email","subject":"Hallo","status":"delivered",` +
		`"priority":"normal","recipient":"u@example.com","attempts":1,"deliveredAt":"2026-05-01T10:00:01Z",` +
		`"createdAt":"2026-05-01T08:00:00Z","updatedAt":"2026-05-01T08:00:00Z"}}` + "\n"
	if rec.Code != 200 || rec.Body.String() != want {
		t.Fatalf("got %d\n%s\nwant\n%s", rec.Code, rec.Body, want)
	}
	for _, missing := range []string{"11111111-1111-1111-1111-111111111111", "not-a-uuid"} {
		rec := do(t, h, "GET", "/api/v1/notifications/"+missing, testKey, "")
		b, _ := io.ReadAll(rec.Body)
		if rec.Code != 404 || !strings.Contains(string(b), `"message":"notification not found"`) {
			t.Fatalf("%s: %d %s", missing, rec.Code, b)
		}
	}
}
