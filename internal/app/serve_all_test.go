package app

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/mana/mana/internal/config"
)

// allInOne is `mana serve`'s composition (buildBoth, allWorkers, allRoutes)
// on a SQLite data directory, with mail going to a fake mailer.
type allInOne struct {
	be      backend
	handler http.Handler
	mail    *fakeMailer
	stopped bool
}

func newAllInOne(t *testing.T) *allInOne {
	t.Helper()
	ctx := context.Background()
	env := map[string]string{"MANA_DATA_DIR": t.TempDir(), "MANA_RATE_LIMITS": "off"}
	cfg, err := config.LoadServe(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	workers := river.NewWorkers()
	be, err := openSQLite(ctx, log, backendOptions{dataDir: cfg.DataDir, queues: allQueues(), workers: workers,
		policies: notifyPolicies(cfg.Notify)})
	if err != nil {
		t.Fatal(err)
	}
	mail := &fakeMailer{}
	a, n, err := buildBoth(ctx, log, cfg, be, mail, time.Now())
	if err != nil {
		be.close()
		t.Fatal(err)
	}
	if err := allWorkers(workers, log, a, n); err != nil {
		t.Fatal(err)
	}
	if err := be.jobs.Start(ctx); err != nil {
		t.Fatal(err)
	}
	s := &allInOne{be: be, handler: allRoutes(log, cfg, a, n, nil), mail: mail}
	t.Cleanup(func() {
		s.stop(t)
		a.close()
	})
	return s
}

// stop stops the job client and closes the database; twice is harmless.
func (s *allInOne) stop(t *testing.T) {
	if s.stopped {
		return
	}
	s.stopped = true
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.be.jobs.Stop(ctx); err != nil {
		t.Errorf("stop job client: %v", err)
	}
	s.be.close()
}

func (s *allInOne) do(t *testing.T, method, path, bearer, body string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	rec := httptest.NewRecorder()
	s.handler.ServeHTTP(rec, req)
	return rec
}

// mailTo polls the fake mailer until a mail to addr arrives.
func (s *allInOne) mailTo(t *testing.T, addr string) string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		s.mail.mu.Lock()
		for _, e := range s.mail.sent {
			if e.To == addr {
				s.mail.mu.Unlock()
				return e.HTML
			}
		}
		s.mail.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatalf("no mail to %s within 15 s", addr)
		}
		time.Sleep(20 * time.Millisecond) // polling interval, not synchronisation
	}
}

var verifyToken = regexp.MustCompile(`token=([^&"]+)`)

// login registers addr, follows the verification mail (auth's outbox →
// in-process hand-off → notify's delivery worker → mailer) and signs in.
func (s *allInOne) login(t *testing.T, addr string) string {
	t.Helper()
	const password = "Serve-All-Passw0rd-7"
	if rec := s.do(t, "POST", "/api/v1/auth/register", "",
		`{"email":"`+addr+`","password":"`+password+`","name":"A"}`); rec.Code != http.StatusOK {
		t.Fatalf("register: %d %s", rec.Code, rec.Body)
	}
	m := verifyToken.FindStringSubmatch(s.mailTo(t, addr))
	if m == nil {
		t.Fatal("no token in the verification mail")
	}
	tok, err := url.QueryUnescape(strings.ReplaceAll(m[1], "&amp;", "&"))
	if err != nil {
		t.Fatal(err)
	}
	if rec := s.do(t, "GET", "/api/auth/verify-email?token="+url.QueryEscape(tok), "", ""); rec.Code != http.StatusFound ||
		strings.Contains(rec.Header().Get("Location"), "error=") {
		t.Fatalf("verify: %d %s", rec.Code, rec.Header().Get("Location"))
	}
	return s.signIn(t, addr, password)
}

func (s *allInOne) signIn(t *testing.T, addr, password string) string {
	t.Helper()
	rec := s.do(t, "POST", "/api/v1/auth/login", "", `{"email":"`+addr+`","password":"`+password+`"}`)
	if rec.Code != http.StatusOK {
		t.Fatalf("login: %d %s", rec.Code, rec.Body)
	}
	var out struct {
		AccessToken string `json:"accessToken"`
	}
	if err := json.NewDecoder(rec.Body).Decode(&out); err != nil || out.AccessToken == "" {
		t.Fatalf("login answer: %v", err)
	}
	return out.AccessToken
}

// In `mana serve` notify's JWT routes are checked by auth in the same
// process: a live session's token is admitted, a garbage token and a
// logged-out session's token are 401 (the session is checked, not only the
// signature), and a check that cannot run is 503, never a pass. The mail of
// the registration crosses from auth to notify in-process on the way.
// Negative controls (both run): inProcessUsers admitting
// auth.ErrSessionInvalid lets the garbage token through (200); mapping every
// error of auth.Authenticate to jwtauth.ErrInvalid answers 401, not 503.
func TestServeAllChecksNotifyTokensInProcess(t *testing.T) {
	s := newAllInOne(t)
	access := s.login(t, "inprocess@example.com")
	if rec := s.do(t, "GET", "/api/v1/preferences", access, ""); rec.Code != http.StatusOK {
		t.Fatalf("preferences with a live token: %d %s", rec.Code, rec.Body)
	}
	if rec := s.do(t, "GET", "/api/v1/preferences", "not-a-token", ""); rec.Code != http.StatusUnauthorized {
		t.Fatalf("preferences with a garbage token: %d %s", rec.Code, rec.Body)
	}
	other := s.signIn(t, "inprocess@example.com", "Serve-All-Passw0rd-7")
	if rec := s.do(t, "POST", "/api/v1/auth/logout", access, ""); rec.Code != http.StatusOK {
		t.Fatalf("logout: %d %s", rec.Code, rec.Body)
	}
	if rec := s.do(t, "GET", "/api/v1/devices", access, ""); rec.Code != http.StatusUnauthorized {
		t.Fatalf("devices with a logged-out session's token: %d %s", rec.Code, rec.Body)
	}
	s.stop(t) // the database is closed: the session cannot be checked
	rec := s.do(t, "GET", "/api/v1/preferences", other, "")
	body, _ := io.ReadAll(rec.Body)
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("preferences while auth cannot check: %d %s, want 503", rec.Code, body)
	}
}
