//go:build integration

// Package integration drives the real `mana` binary end to end: two mana-auth
// processes and mana-notify on one throwaway Postgres, mail captured by Mailpit.
// The stack is started by scripts/run-integration-tests.sh, which exports the
// environment read below. Every test uses its own e-mail addresses, so tests
// never depend on what else is in the database, and every count is exact.
package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

const testPassword = "TestPassword123!"

var (
	authURL    = envOr("AUTH_URL", "http://localhost:3091")
	auth2URL   = envOr("AUTH2_URL", "http://localhost:3093")
	notifyURL  = envOr("NOTIFY_URL", "http://127.0.0.1:3092")
	mailpitURL = envOr("MAILPIT_URL", "http://127.0.0.1:8026")
	dbURL      = envOr("TEST_DATABASE_URL", "postgresql://mana@127.0.0.1:5443/mana_platform?sslmode=disable")
	serviceKey = envOr("SERVICE_KEY", "test-service-key")
	stackCtl   = os.Getenv("MANA_STACK_CTL")

	db *pgxpool.Pool

	// client never follows redirects: the verify link's 302 is asserted as such.
	client = &http.Client{
		Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
		Transport: &http.Transport{
			Proxy:               nil,
			MaxIdleConnsPerHost: 64,
			IdleConnTimeout:     30 * time.Second,
		},
	}
)

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return strings.TrimRight(v, "/")
	}
	return def
}

func TestMain(m *testing.M) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	var err error
	db, err = pgxpool.New(ctx, dbURL)
	if err == nil {
		err = db.Ping(ctx)
	}
	cancel()
	if err != nil {
		fmt.Fprintf(os.Stderr, "integration: cannot reach TEST_DATABASE_URL %s: %v\n"+
			"Start the stack with scripts/run-integration-tests.sh (KEEP_STACK=1 keeps it up).\n", dbURL, err)
		os.Exit(1)
	}
	for _, u := range []string{authURL + "/health", auth2URL + "/health", notifyURL + "/health", mailpitURL + "/api/v1/messages"} {
		resp, err := client.Get(u)
		if err != nil || resp.StatusCode != http.StatusOK {
			fmt.Fprintf(os.Stderr, "integration: %s is not healthy (%v %v); start the stack with scripts/run-integration-tests.sh\n", u, err, statusOf(resp))
			os.Exit(1)
		}
		resp.Body.Close()
	}
	code := m.Run()
	db.Close()
	os.Exit(code)
}

func statusOf(r *http.Response) any {
	if r == nil {
		return nil
	}
	return r.Status
}

// ---------------------------------------------------------------------------
// Unique identities

var seq atomic.Int64

// uniqueEmail returns it-<name>-<unix nanos>-<seq>@manatest.local, lower case.
func uniqueEmail(name string) string {
	return fmt.Sprintf("it-%s-%d-%d@manatest.local", strings.ToLower(name), time.Now().UnixNano(), seq.Add(1))
}

// ---------------------------------------------------------------------------
// HTTP

// response is one HTTP answer: status, headers, raw body and the body decoded
// as a JSON object (nil when it is not one).
type response struct {
	Method, URL string
	Status      int
	Header      http.Header
	Body        []byte
	JSON        map[string]any
}

func (r *response) String() string {
	b := string(r.Body)
	if len(b) > 800 {
		b = b[:800] + "…"
	}
	return fmt.Sprintf("%s %s → %d %s", r.Method, r.URL, r.Status, b)
}

// do sends one request; headers are given as name, value pairs.
func do(t testing.TB, method, u string, body any, headers ...string) *response {
	t.Helper()
	r, err := tryDo(method, u, body, headers...)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	return r
}

// tryDo is do without a test: for goroutines and polling loops.
func tryDo(method, u string, body any, headers ...string) (*response, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	out := &response{Method: method, URL: u, Status: resp.StatusCode, Header: resp.Header, Body: raw}
	var m map[string]any
	if json.Unmarshal(raw, &m) == nil {
		out.JSON = m
	}
	return out, nil
}

func postJSON(t testing.TB, u string, body any, headers ...string) *response {
	t.Helper()
	return do(t, http.MethodPost, u, body, headers...)
}

func getJSON(t testing.TB, u string, headers ...string) *response {
	t.Helper()
	return do(t, http.MethodGet, u, nil, headers...)
}

func bearer(token string) []string { return []string{"Authorization", "Bearer " + token} }

// jget walks a decoded JSON value along object keys; nil when any step is missing.
func jget(v any, path ...string) any {
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

// jstr is jget as a string ("" when missing or not a string).
func jstr(v any, path ...string) string {
	s, _ := jget(v, path...).(string)
	return s
}

// jnum is jget as a number (-1 when missing or not a number).
func jnum(v any, path ...string) float64 {
	f, ok := jget(v, path...).(float64)
	if !ok {
		return -1
	}
	return f
}

func expectStatus(t testing.TB, r *response, want int) {
	t.Helper()
	if r.Status != want {
		t.Fatalf("want status %d, got %s", want, r)
	}
}

// ---------------------------------------------------------------------------
// Auth flows

type user struct {
	ID, Email, Password string
}

type session struct {
	AccessToken, RefreshToken string
	Body                      *response
}

// register registers a new account on base and returns it (not verified).
func register(t testing.TB, base, email string) user {
	t.Helper()
	r := postJSON(t, base+"/api/v1/auth/register", map[string]any{"email": email, "password": testPassword, "name": "Integration Test"})
	expectStatus(t, r, http.StatusOK)
	id := jstr(r.JSON, "user", "id")
	if id == "" {
		t.Fatalf("register: no user.id in %s", r)
	}
	if v, ok := jget(r.JSON, "user", "emailVerified").(bool); !ok || v {
		t.Fatalf("register: want user.emailVerified false, got %s", r)
	}
	return user{ID: id, Email: email, Password: testPassword}
}

// verifiedUser registers an account and marks it verified directly in the
// database (the verify link itself is exercised by the happy-path and verify tests).
func verifiedUser(t testing.TB, name string) user {
	t.Helper()
	u := register(t, authURL, uniqueEmail(name))
	tag, err := db.Exec(context.Background(), `UPDATE auth.users SET email_verified = true WHERE id = $1`, u.ID)
	if err != nil || tag.RowsAffected() != 1 {
		t.Fatalf("mark %s verified: rows=%d err=%v", u.Email, tag.RowsAffected(), err)
	}
	return u
}

func login(t testing.TB, base, email, password string) *response {
	t.Helper()
	return postJSON(t, base+"/api/v1/auth/login", map[string]any{"email": email, "password": password})
}

// loginOK logs in and asserts the success shape of the contract.
func loginOK(t testing.TB, base string, u user) session {
	t.Helper()
	r := login(t, base, u.Email, u.Password)
	expectStatus(t, r, http.StatusOK)
	if got := jstr(r.JSON, "user", "id"); got != u.ID {
		t.Fatalf("login: user.id = %q, want %q: %s", got, u.ID, r)
	}
	if redirect, ok := r.JSON["redirect"].(bool); !ok || redirect {
		t.Fatalf("login: want redirect false: %s", r)
	}
	s := session{AccessToken: jstr(r.JSON, "accessToken"), RefreshToken: jstr(r.JSON, "refreshToken"), Body: r}
	if n := len(strings.Split(s.AccessToken, ".")); s.AccessToken == "" || n != 3 {
		t.Fatalf("login: accessToken is not a 3-segment JWT: %s", r)
	}
	if s.RefreshToken == "" || jstr(r.JSON, "token") == "" {
		t.Fatalf("login: missing refreshToken or token: %s", r)
	}
	return s
}

// validate posts a token to /validate on base and returns the answer; it
// asserts status 200 (the contract answers 200 for valid and invalid tokens).
func validate(t testing.TB, base, token string) *response {
	t.Helper()
	r := postJSON(t, base+"/api/v1/auth/validate", map[string]any{"token": token})
	expectStatus(t, r, http.StatusOK)
	return r
}

func isValid(r *response) bool {
	v, _ := r.JSON["valid"].(bool)
	return v
}

// ---------------------------------------------------------------------------
// Database

func queryInt(t testing.TB, sql string, args ...any) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var n int
	if err := db.QueryRow(ctx, sql, args...).Scan(&n); err != nil {
		t.Fatalf("query %q %v: %v", sql, args, err)
	}
	return n
}

// countEvents counts auth.security_events of a type for a user id.
func countEvents(t testing.TB, userID, eventType string) int {
	t.Helper()
	return queryInt(t, `SELECT count(*) FROM auth.security_events WHERE user_id = $1 AND event_type = $2`, userID, eventType)
}

// countEventsFor counts events of a type that belong to an account: by user id
// or, for events written before the user is known, by metadata->>'email'.
func countEventsFor(t testing.TB, userID, email, eventType string) int {
	t.Helper()
	return queryInt(t, `SELECT count(*) FROM auth.security_events
		WHERE event_type = $3 AND (user_id = $1 OR metadata->>'email' = $2)`, userID, email, eventType)
}

// countFailedAttempts counts auth.login_attempts rows with successful=false for an email.
func countFailedAttempts(t testing.TB, email string) int {
	t.Helper()
	return queryInt(t, `SELECT count(*) FROM auth.login_attempts WHERE email = $1 AND successful = false`, email)
}

// countMailJobs counts durable auth_mail jobs addressed to an email.
func countMailJobs(t testing.TB, email string) int {
	t.Helper()
	return queryInt(t, `SELECT count(*) FROM river.river_job WHERE kind = 'auth_mail' AND args->>'to' = $1`, email)
}

// requestsSettled waits until the worker has decided every account request
// (forgot password, resend verification) recorded for email.
func requestsSettled(t testing.TB, email string) {
	t.Helper()
	eventually(t, 30*time.Second, "the account requests of "+email+" decided", func() bool {
		return queryInt(t, `SELECT count(*) FROM river.river_job WHERE kind = 'auth_request' AND args->>'email' = $1
			AND state NOT IN ('completed', 'cancelled', 'discarded')`, strings.ToLower(email)) == 0
	})
}

func emailVerified(t testing.TB, userID string) bool {
	t.Helper()
	var v bool
	if err := db.QueryRow(context.Background(), `SELECT email_verified FROM auth.users WHERE id = $1`, userID).Scan(&v); err != nil {
		t.Fatalf("read email_verified of %s: %v", userID, err)
	}
	return v
}

// ---------------------------------------------------------------------------
// Mailpit

type mail struct {
	ID, Subject, HTML, Text string
}

// mailCount is how many messages Mailpit holds for a recipient.
func mailCount(t testing.TB, to string) int {
	t.Helper()
	n, _, err := mailSearch(to)
	if err != nil {
		t.Fatalf("mailpit search %s: %v", to, err)
	}
	return n
}

func mailSearch(to string) (int, []string, error) {
	q := url.Values{"query": {fmt.Sprintf("to:%q", to)}}
	r, err := tryDo(http.MethodGet, mailpitURL+"/api/v1/search?"+q.Encode(), nil)
	if err != nil {
		return 0, nil, err
	}
	if r.Status != http.StatusOK || r.JSON == nil {
		return 0, nil, fmt.Errorf("unexpected answer %s", r)
	}
	var ids []string
	msgs, _ := r.JSON["messages"].([]any)
	for _, m := range msgs {
		if id := jstr(m, "ID"); id != "" {
			ids = append(ids, id)
		}
	}
	n, ok := r.JSON["messages_count"].(float64)
	if !ok {
		n = float64(len(ids))
	}
	return int(n), ids, nil
}

// waitForMail polls Mailpit until at least n messages for `to` exist and
// returns the newest one. It fails the test at the deadline.
func waitForMail(t testing.TB, to string, n int, timeout time.Duration) mail {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got, ids, err := mailSearch(to)
		if err == nil && got >= n && len(ids) > 0 {
			r := getJSON(t, mailpitURL+"/api/v1/message/"+url.PathEscape(ids[0]))
			expectStatus(t, r, http.StatusOK)
			return mail{ID: ids[0], Subject: jstr(r.JSON, "Subject"), HTML: jstr(r.JSON, "HTML"), Text: jstr(r.JSON, "Text")}
		}
		if time.Now().After(deadline) {
			t.Fatalf("mail #%d to %s did not arrive within %s (have %d, err %v)", n, to, timeout, got, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

var verifyURLRe = regexp.MustCompile(`https?://[^\s"'<>]+/api/auth/verify-email\?[^\s"'<>]+`)

// verifyURL extracts the verification link from a mail body (HTML-unescaped:
// attributes carry &amp;).
func verifyURL(t testing.TB, m mail) string {
	t.Helper()
	raw := verifyURLRe.FindString(m.HTML)
	if raw == "" {
		raw = verifyURLRe.FindString(m.Text)
	}
	if raw == "" {
		t.Fatalf("no verify-email link in mail %s: %q", m.ID, m.HTML)
	}
	return html.UnescapeString(raw)
}

// ---------------------------------------------------------------------------
// Polling and stack control

// eventually polls cond every 200 ms until it returns true or the deadline passes.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// stack runs `$MANA_STACK_CTL <action> <part>`; start returns once the part is
// healthy, stop once it is gone.
func stack(t testing.TB, action, part string) {
	t.Helper()
	if err := tryStack(action, part); err != nil {
		t.Fatal(err)
	}
}

func tryStack(action, part string) error {
	if stackCtl == "" {
		return fmt.Errorf("MANA_STACK_CTL is not set; run via scripts/run-integration-tests.sh")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, stackCtl, action, part)
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s %s: %v\n%s", stackCtl, action, part, err, out)
	}
	return nil
}

func requireStackCtl(t testing.TB) {
	t.Helper()
	if stackCtl == "" {
		t.Fatal("MANA_STACK_CTL is not set; run via scripts/run-integration-tests.sh")
	}
}
