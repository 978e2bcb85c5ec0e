//go:build integration

package integration

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

var (
	notify2URL    = envOr("NOTIFY2_URL", "http://127.0.0.1:3094")
	expoFakeAddr  = envOr("EXPO_FAKE_ADDR", "127.0.0.1:3095")
	webhookSecret = envOr("WEBHOOK_SECRET", "test-webhook-secret")
)

func svcKey() []string { return []string{"X-Service-Key", serviceKey} }

// notificationStatus reads a notification's status over the API.
func notificationStatus(t testing.TB, base, id string) string {
	t.Helper()
	r := getJSON(t, base+"/api/v1/notifications/"+id, svcKey()...)
	expectStatus(t, r, http.StatusOK)
	return jstr(r.JSON, "notification", "status")
}

// waitStatus polls until the notification has status want.
func waitStatus(t testing.TB, id, want string, timeout time.Duration) {
	t.Helper()
	var last string
	eventually(t, timeout, "notification "+id+" "+want, func() bool {
		last = notificationStatus(t, notifyURL, id)
		return last == want
	})
}

// jobFinished reports whether every delivery job of a notification has
// reached a final River state, so "never delivered" can be asserted after
// the job has really run instead of after a sleep.
func jobsFinished(t testing.TB, id string) bool {
	t.Helper()
	return queryInt(t, `SELECT count(*) FROM river.river_job WHERE kind = 'notify_deliver'
		AND args->>'notification_id' = $1 AND state NOT IN ('completed', 'cancelled', 'discarded')`, id) == 0 &&
		queryInt(t, `SELECT count(*) FROM river.river_job WHERE kind = 'notify_deliver' AND args->>'notification_id' = $1`, id) > 0
}

// sendOK posts a send and returns the new notification id (202).
func sendOK(t testing.TB, base string, body map[string]any) string {
	t.Helper()
	r := postJSON(t, base+"/api/v1/notifications/send", body, svcKey()...)
	expectStatus(t, r, http.StatusAccepted)
	id := jstr(r.JSON, "notification", "id")
	if id == "" {
		t.Fatalf("send: no id: %s", r)
	}
	return id
}

// expectError asserts the notify error envelope's status, code and message.
func expectError(t testing.TB, r *response, status int, code, message string) {
	t.Helper()
	if r.Status != status || jstr(r.JSON, "error", "code") != code || (message != "" && jstr(r.JSON, "error", "message") != message) {
		t.Fatalf("want %d %s %q, got %s", status, code, message, r)
	}
}

// recorded is one request a fake server received.
type recorded struct {
	Header http.Header
	Body   []byte
}

// fakeServer is a local HTTP server that records requests and answers with
// the handler's choice; it stands in for Expo and for webhook receivers.
type fakeServer struct {
	URL  string
	mu   sync.Mutex
	reqs []recorded
	srv  *http.Server
}

func (f *fakeServer) requests() []recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]recorded(nil), f.reqs...)
}

// startFake listens on addr ("127.0.0.1:0" for any port) and answers each
// request with answer(n, body) where n counts requests from 1.
func startFake(t testing.TB, addr string, answer func(n int, body []byte) (int, any)) *fakeServer {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen %s: %v", addr, err)
	}
	f := &fakeServer{URL: "http://" + ln.Addr().String()}
	f.srv = &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		f.mu.Lock()
		f.reqs = append(f.reqs, recorded{Header: r.Header.Clone(), Body: body})
		n := len(f.reqs)
		f.mu.Unlock()
		status, out := answer(n, body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(out)
	})}
	go func() { _ = f.srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = f.srv.Shutdown(ctx)
	})
	return f
}

// manaCmd runs the stack's mana binary with DATABASE_URL of the stack.
func manaCmd(t testing.TB, args ...string) (string, error) {
	t.Helper()
	dir := os.Getenv("MANA_STACK_DIR")
	if dir == "" {
		t.Fatal("MANA_STACK_DIR is not set; run via scripts/run-integration-tests.sh")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(dir, "mana"), args...)
	cmd.Env = []string{"DATABASE_URL=" + dbURL, "PATH=" + os.Getenv("PATH")}
	out, err := cmd.CombinedOutput()
	return string(out), err
}
