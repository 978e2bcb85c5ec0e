package notifysqlite_test

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mana/mana/internal/notify"
	"github.com/mana/mana/internal/notify/delivery"
	"github.com/mana/mana/internal/notify/metrics"
	"github.com/mana/mana/internal/notify/store"
	"github.com/mana/mana/internal/notify/store/sqlitestore"
)

// The SQLite backend satisfies what the HTTP API and the worker need.
var (
	_ notify.Store   = (*sqlitestore.Store)(nil)
	_ delivery.Store = (*sqlitestore.Store)(nil)
)

// The HTTP API on the SQLite backend: a send with a system template is
// stored, delivered by the worker with the rendered subject, and a repeat
// with the same externalId is deduplicated without a second mail.
func TestHTTPSendOnSQLite(t *testing.T) {
	mail := &fakeMailer{}
	r := start(t, filepath.Join(t.TempDir(), "mana.db"), mail)
	h := notify.NewHandler(notify.Config{Store: r.b.Store, Metrics: metrics.New(), Log: slog.New(slog.DiscardHandler),
		ServiceKey: "k", Started: time.Now()})
	send := func() (int, map[string]any) {
		req := httptest.NewRequest(http.MethodPost, "/api/v1/notifications/send", strings.NewReader(
			`{"channel":"email","appId":"mana-auth","recipient":"new@example.com","template":"auth-verification",
			  "externalId":"verify-1","data":{"userName":"Ada","verificationUrl":"https://mana.how/verify?t=1"}}`))
		req.Header.Set(notify.ServiceKeyHeader, "k")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		var body map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
			t.Fatalf("%d %s: %v", rec.Code, rec.Body, err)
		}
		return rec.Code, body
	}
	code, body := send()
	if code != http.StatusAccepted {
		t.Fatalf("send: %d %v", code, body)
	}
	id := body["notification"].(map[string]any)["id"].(string)
	waitStatus(t, r, id, store.StatusDelivered, 10*time.Second)
	if code, body := send(); code != http.StatusOK || body["deduplicated"] != true {
		t.Fatalf("repeat: %d %v", code, body)
	}
	r.stop()
	if got := mail.to(id); got != 1 {
		t.Fatalf("%d mails, want 1", got)
	}
	if e := mail.sent[0]; e.To != "new@example.com" || e.Subject != "E-Mail bestätigen - Mana" || !strings.Contains(e.HTML, "https://mana.how/verify?t=1") {
		t.Fatalf("mail %+v", e)
	}
}
