package notifyapi_test

// The HTTP API on a real store: a temporary SQLite file, migrated for
// mana-notify, with River on the same file. Every test of this package that
// needs a database builds it here (newEnv); handler_test.go keeps its fake
// store for what is about HTTP alone.

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riversqlite"

	"github.com/mana/mana/internal/jobs"
	"github.com/mana/mana/internal/notify"
	"github.com/mana/mana/internal/notify/delivery"
	"github.com/mana/mana/internal/notify/jwtauth"
	"github.com/mana/mana/internal/notify/mailer"
	"github.com/mana/mana/internal/notify/metrics"
	"github.com/mana/mana/internal/notifyapi"
	"github.com/mana/mana/internal/store/sqlite"
)

// The SQLite store satisfies what the HTTP API and the worker need, and
// River's SQLite client is the store's job inserter.
var (
	_ notify.Store             = (*sqlite.NotifyStore)(nil)
	_ delivery.Store           = (*sqlite.NotifyStore)(nil)
	_ jobs.TxInserter[*sql.Tx] = (*river.Client[*sql.Tx])(nil)
	_ notifyapi.Authenticator  = fakeUsers{}
	_ delivery.Mailer          = (*fakeMailer)(nil)
)

const serviceKey = "sqlite-test-service-key"

// Tokens the fake authenticator knows: "user:<id>" is that user, badToken
// is refused (401), downToken cannot be checked (503).
const (
	badToken  = "bad"
	downToken = "down"
)

// fakeUsers stands in for mana-auth's token check.
type fakeUsers struct{}

func (fakeUsers) Authenticate(_ context.Context, tok string) (jwtauth.User, error) {
	switch {
	case tok == downToken:
		return jwtauth.User{}, fmt.Errorf("%w: dial tcp: connection refused", jwtauth.ErrUnavailable)
	case strings.HasPrefix(tok, "user:"):
		return jwtauth.User{ID: strings.TrimPrefix(tok, "user:")}, nil
	}
	return jwtauth.User{}, jwtauth.ErrInvalid
}

// fakeMailer records what the worker sends; it is called from River's
// worker goroutines.
type fakeMailer struct {
	mu   sync.Mutex
	sent []mailer.Email
}

func (f *fakeMailer) Send(_ context.Context, e mailer.Email) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sent = append(f.sent, e)
	return nil
}

func (f *fakeMailer) to(id string) []mailer.Email {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []mailer.Email
	for _, e := range f.sent {
		if e.NotificationID == id {
			out = append(out, e)
		}
	}
	return out
}

type envOptions struct {
	// deliver starts a River client working the email queue with the
	// delivery worker (mail to env.mail); otherwise the client only inserts.
	deliver bool
	// now is the API's clock (nil: time.Now).
	now func() time.Time
}

// env is the API on one temporary SQLite file.
type env struct {
	t     *testing.T
	db    *sql.DB
	store *sqlite.NotifyStore
	h     http.Handler
	mail  *fakeMailer
	jobs  *river.Client[*sql.Tx]
	// stopped: the job client was stopped and the file closed.
	stopped bool
}

// newEnv opens and migrates a fresh file, seeds the system templates (as
// start-up does) and builds the API with a fake authenticator.
func newEnv(t *testing.T, o envOptions) *env {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "mana.db"))
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, db: db}
	t.Cleanup(e.stop)
	if _, err := sqlite.Migrate(ctx, db, sqlite.Notify); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	policies := delivery.DefaultPolicies()
	cfg := &river.Config{}
	var workers *river.Workers
	if o.deliver {
		// As the app: the worker is added once the client and the store
		// exist; River reads the bundle when it starts.
		workers = river.NewWorkers()
		cfg = &river.Config{Queues: map[string]river.QueueConfig{delivery.Queue: {MaxWorkers: 5}},
			Workers: workers, Logger: log, FetchCooldown: 10 * time.Millisecond,
			FetchPollInterval: 200 * time.Millisecond}
	}
	e.jobs, err = river.NewClient(riversqlite.New(db), cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.store = sqlite.NewNotifyStore(db, e.jobs, policies)
	if err := e.store.SeedSystemTemplates(ctx, notify.SystemTemplates()); err != nil {
		t.Fatal(err)
	}
	if o.deliver {
		e.mail = &fakeMailer{}
		if err := river.AddWorkerSafely(workers, delivery.NewWorker(e.store, delivery.Channels{Mail: e.mail},
			metrics.New(), log, policies)); err != nil {
			t.Fatal(err)
		}
		if err := e.jobs.Start(ctx); err != nil {
			t.Fatal(err)
		}
	}
	e.h = notifyapi.New(notifyapi.Config{Store: e.store, Metrics: metrics.New(), Log: log, ServiceKey: serviceKey,
		Users: fakeUsers{}, Started: time.Now(), Now: o.now}).Handler()
	return e
}

// stop stops the job client (in-flight jobs finish) and closes the file.
// Stopping twice is harmless.
func (e *env) stop() {
	if e.stopped {
		return
	}
	e.stopped = true
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.jobs.Stop(ctx); err != nil { // nil when never started
		e.t.Errorf("stop job client: %v", err)
	}
	if err := e.db.Close(); err != nil {
		e.t.Errorf("close database: %v", err)
	}
}

// request is one call of the API.
type request struct {
	method, path, body string
	// key is the X-Service-Key; bearer the token of Authorization.
	key, bearer string
}

func (e *env) serve(r request) *httptest.ResponseRecorder {
	e.t.Helper()
	req := httptest.NewRequest(r.method, r.path, strings.NewReader(r.body))
	if r.key != "" {
		req.Header.Set(notifyapi.ServiceKeyHeader, r.key)
	}
	if r.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+r.bearer)
	}
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	return rec
}

// svc calls a service-key route with the right key.
func (e *env) svc(method, path, body string) *httptest.ResponseRecorder {
	e.t.Helper()
	return e.serve(request{method: method, path: path, body: body, key: serviceKey})
}

// as calls a JWT route as user.
func (e *env) as(user, method, path, body string) *httptest.ResponseRecorder {
	e.t.Helper()
	return e.serve(request{method: method, path: path, body: body, bearer: "user:" + user})
}

// count runs a count(*) query on the file.
func (e *env) count(q string, args ...any) int {
	e.t.Helper()
	var n int
	if err := e.db.QueryRow(q, args...).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

// jsonOf decodes a JSON object answer.
func jsonOf(t *testing.T, rec *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
		t.Fatalf("%d: answer is not a JSON object: %v: %q", rec.Code, err, rec.Body.String())
	}
	return v
}

// obj is the object at key of v (nil when absent or not an object).
func obj(v map[string]any, key string) map[string]any {
	o, _ := v[key].(map[string]any)
	return o
}

// errorOf checks the envelope of a handler error and returns its code and
// message: {"success":false,"error":{"statusCode","message","code","timestamp"}}.
func errorOf(t *testing.T, rec *httptest.ResponseRecorder) (code, message string) {
	t.Helper()
	body := jsonOf(t, rec)
	e := obj(body, "error")
	if body["success"] != false || e == nil || e["statusCode"] != float64(rec.Code) {
		t.Fatalf("%d: not the error envelope: %s", rec.Code, rec.Body)
	}
	if ts, _ := e["timestamp"].(string); !strings.HasSuffix(ts, "Z") {
		t.Fatalf("timestamp %q is not RFC3339 UTC", ts)
	}
	code, _ = e["code"].(string)
	message, _ = e["message"].(string)
	return code, message
}

// errorCase is one refused request and its answer; message "" is not checked.
type errorCase struct {
	name, method, path, body string
	status                   int
	code, message            string
}

// checkErrors runs refused requests through call and checks each answer.
func checkErrors(t *testing.T, cases []errorCase, call func(method, path, body string) *httptest.ResponseRecorder) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := call(c.method, c.path, c.body)
			if rec.Code != c.status {
				t.Fatalf("%s %s: status %d, want %d: %s", c.method, c.path, rec.Code, c.status, rec.Body)
			}
			code, message := errorOf(t, rec)
			if code != c.code || (c.message != "" && message != c.message) {
				t.Fatalf("%s %s: %s %q, want %s %q", c.method, c.path, code, message, c.code, c.message)
			}
		})
	}
}

// waitStatus polls the store until the notification has status.
func (e *env) waitStatus(id string, want notify.Status, within time.Duration) notify.Notification {
	e.t.Helper()
	deadline := time.Now().Add(within)
	for {
		n, err := e.store.Get(context.Background(), id)
		if err != nil {
			e.t.Fatal(err)
		}
		if n.Status == want {
			return n
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("notification %s is %s after %s, want %s", id, n.Status, within, want)
		}
		time.Sleep(20 * time.Millisecond) // polling interval, not synchronisation
	}
}

// The HTTP API on the SQLite backend: a send with a system template is
// stored, delivered by the worker with the rendered subject, and a repeat
// with the same externalId is deduplicated without a second mail.
func TestHTTPSendOnSQLite(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{deliver: true})
	send := func() (int, map[string]any) {
		rec := e.svc(http.MethodPost, "/api/v1/notifications/send",
			`{"channel":"email","appId":"mana-auth","recipient":"new@example.com","template":"auth-verification",
			  "externalId":"verify-1","data":{"userName":"Ada","verificationUrl":"https://mana.how/verify?t=1"}}`)
		return rec.Code, jsonOf(t, rec)
	}
	code, body := send()
	if code != http.StatusAccepted {
		t.Fatalf("send: %d %v", code, body)
	}
	id, _ := obj(body, "notification")["id"].(string)
	e.waitStatus(id, notify.StatusDelivered, 10*time.Second)
	if code, body := send(); code != http.StatusOK || body["deduplicated"] != true {
		t.Fatalf("repeat: %d %v", code, body)
	}
	e.stop()
	sent := e.mail.to(id)
	if len(sent) != 1 {
		t.Fatalf("%d mails, want 1", len(sent))
	}
	if m := sent[0]; m.To != "new@example.com" || m.Subject != "E-Mail bestätigen - Mana" || !strings.Contains(m.HTML, "https://mana.how/verify?t=1") {
		t.Fatalf("mail %+v", m)
	}
}
