//go:build integration

package integration

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"html"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mana/mana/internal/store/sqlite"
)

// The tests in this file start `mana serve` (auth and notify in one
// process) themselves, each on a fresh database of the stack's Postgres, on
// a free port, with no SMTP_HOST: mail is captured under MANA_DATA_DIR and
// read back from GET /dev/mail.

// serveProc is one running `mana serve`.
type serveProc struct {
	URL  string
	cmd  *exec.Cmd
	logs *lockedBuffer
	done chan error
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// manaBinary is the binary the stack built.
func manaBinary(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("MANA_STACK_DIR")
	if dir == "" {
		t.Fatal("MANA_STACK_DIR is not set: run through scripts/run-integration-tests.sh")
	}
	return filepath.Join(dir, "mana")
}

// freshDatabase creates an empty database on the stack's Postgres and
// returns its URL; it is dropped when the test ends.
func freshDatabase(t *testing.T) string {
	t.Helper()
	name := fmt.Sprintf("serve_%d", time.Now().UnixNano())
	ctx := context.Background()
	if _, err := db.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		if _, err := db.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startServe runs `mana serve` with only the given environment (plus PATH),
// so nothing of the test's own environment leaks in, and returns once
// /health answers 200.
func startServe(t *testing.T, env ...string) *serveProc {
	t.Helper()
	return startServeArgs(t, []string{"serve"}, append([]string{"PATH=" + os.Getenv("PATH")}, env...)...)
}

// startServeArgs runs the binary with args and exactly env, and returns once
// /health answers 200 on the env's PORT.
func startServeArgs(t *testing.T, args []string, env ...string) *serveProc {
	t.Helper()
	cmd := exec.Command(manaBinary(t), args...)
	cmd.Env = env
	p := &serveProc{cmd: cmd, logs: &lockedBuffer{}, done: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = p.logs, p.logs
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, "PORT="); ok {
			p.URL = "http://127.0.0.1:" + v
		}
	}
	if p.URL == "" {
		t.Fatal("startServe needs PORT")
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start mana serve: %v", err)
	}
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			p.stop(t)
		}
	})
	awaitHealthy(t, "mana serve", p.URL+"/health", p.done, p.logs, 30*time.Second)
	return p
}

// awaitHealthy polls url until it answers 200 (a poll, not a sleep: the
// interval only paces it); it fails when the process (done) exits first or
// the deadline passes, showing its logs.
func awaitHealthy(t *testing.T, what, url string, done chan error, logs fmt.Stringer, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		select {
		case err := <-done:
			done <- err
			t.Fatalf("%s exited during start (%v):\n%s", what, err, logs)
		default:
		}
		if r, err := tryDo(http.MethodGet, url, nil); err == nil && r.Status == http.StatusOK {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not healthy after %s:\n%s", what, within, logs)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stop sends SIGTERM and waits for a clean exit.
func (p *serveProc) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Fatalf("SIGTERM: %v", err)
	}
	select {
	case err := <-p.done:
		if err != nil {
			t.Fatalf("mana serve did not exit cleanly after SIGTERM (%v):\n%s", err, p.logs)
		}
	case <-time.After(30 * time.Second):
		if err := p.cmd.Process.Kill(); err != nil {
			t.Errorf("kill: %v", err)
		}
		t.Fatalf("mana serve still running 30s after SIGTERM:\n%s", p.logs)
	}
}

// serveEnv is the development configuration of `mana serve` on database.
func serveEnv(database, dataDir string, port int, more ...string) []string {
	return append([]string{"DATABASE_URL=" + database, "MANA_DATA_DIR=" + dataDir, fmt.Sprintf("PORT=%d", port),
		"SERVICE_KEY=" + serviceKey}, more...)
}

var (
	articleRe = regexp.MustCompile(`(?s)<article>(.*?)</article>`)
	hrefRe    = regexp.MustCompile(`<a href="([^"]*)">`)
)

// devMailLinks reads GET /dev/mail and returns the links of the messages to
// addr, newest message first.
func devMailLinks(t *testing.T, base, addr string) [][]string {
	t.Helper()
	r := getJSON(t, base+"/dev/mail")
	expectStatus(t, r, http.StatusOK)
	var out [][]string
	for _, a := range articleRe.FindAllStringSubmatch(string(r.Body), -1) {
		if !strings.Contains(a[1], "To "+html.EscapeString(addr)+" ") {
			continue
		}
		var links []string
		for _, h := range hrefRe.FindAllStringSubmatch(a[1], -1) {
			links = append(links, html.UnescapeString(h[1]))
		}
		out = append(out, links)
	}
	return out
}

// waitForVerifyLink polls /dev/mail until a verification mail to addr is there.
func waitForVerifyLink(t *testing.T, base, addr string) string {
	t.Helper()
	var link string
	eventually(t, 30*time.Second, "verification mail to "+addr+" on /dev/mail", func() bool {
		for _, links := range devMailLinks(t, base, addr) {
			for _, l := range links {
				if strings.Contains(l, "/api/auth/verify-email?") {
					link = l
					return true
				}
			}
		}
		return false
	})
	return link
}

// registerAndVerify registers addr, follows the verification link from
// /dev/mail (asserting its redirect) and logs in.
func registerAndVerify(t *testing.T, base, addr string) (user, session) {
	t.Helper()
	u := register(t, base, addr)
	link := waitForVerifyLink(t, base, addr)
	if !strings.HasPrefix(link, base+"/") && !strings.HasPrefix(link, strings.Replace(base, "127.0.0.1", "localhost", 1)+"/") {
		t.Fatalf("verify link %q does not point at this server %s", link, base)
	}
	lu, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	r := getJSON(t, base+lu.RequestURI())
	expectStatus(t, r, http.StatusFound)
	if loc := r.Header.Get("Location"); strings.Contains(loc, "error") {
		t.Fatalf("verify redirected with an error: %s", loc)
	}
	return u, loginOK(t, base, u)
}

// The all-in-one server does the whole journey of a new user: register,
// read the mail on /dev/mail (auth → in-process hand-off → notify →
// delivery worker → local capture), verify, log in, validate, vault, log out.
// Negative control: handOff.Deliver returning nil without calling notify
// (run, see the report) times out waiting for the verification mail.
// serveBackends are the two persistence backends of `mana serve`: a fresh
// Postgres database (DATABASE_URL), and the embedded SQLite file under
// MANA_DATA_DIR that is used when DATABASE_URL is empty.
var serveBackends = []struct {
	name     string
	database func(t *testing.T) string
}{
	{"postgres", freshDatabase},
	{"sqlite", func(*testing.T) string { return "" }},
}

func TestServeEndToEnd(t *testing.T) {
	for _, b := range serveBackends {
		t.Run(b.name, func(t *testing.T) { serveEndToEnd(t, b.database(t)) })
	}
}

func serveEndToEnd(t *testing.T, database string) {
	port := freePort(t)
	p := startServe(t, serveEnv(database, t.TempDir(), port)...)

	h := getJSON(t, p.URL+"/health")
	for _, part := range [][]string{{"auth", "database"}, {"notify", "database"}, {"notify", "queue"}} {
		if ok, _ := jget(h.JSON, append([]string{"checks"}, part...)...).(bool); !ok {
			t.Fatalf("/health lacks %v=true: %s", part, h)
		}
	}
	addr := uniqueEmail("serve")
	u, s := registerAndVerify(t, p.URL, addr)

	v := validate(t, p.URL, s.AccessToken)
	if !isValid(v) || jstr(v.JSON, "payload", "sub") != u.ID {
		t.Fatalf("validate: want valid for %s, got %s", u.ID, v)
	}
	initR := postJSON(t, p.URL+"/api/v1/me/encryption-vault/init", map[string]any{}, bearer(s.AccessToken)...)
	expectStatus(t, initR, http.StatusOK)
	keyR := getJSON(t, p.URL+"/api/v1/me/encryption-vault/key", bearer(s.AccessToken)...)
	expectStatus(t, keyR, http.StatusOK)
	if k := jstr(initR.JSON, "masterKey"); k == "" || jstr(keyR.JSON, "masterKey") != k {
		t.Fatalf("vault /key differs from /init: %s / %s", initR, keyR)
	}
	expectStatus(t, postJSON(t, p.URL+"/api/v1/auth/logout", map[string]any{}, bearer(s.AccessToken)...), http.StatusOK)
	if v := validate(t, p.URL, s.AccessToken); isValid(v) {
		t.Fatalf("validate after logout: want valid:false, got %s", v)
	}
	if n := len(devMailLinks(t, p.URL, addr)); n != 1 {
		t.Errorf("mails to %s on /dev/mail = %d, want exactly 1", addr, n)
	}

	// One /metrics for both parts.
	m := getJSON(t, p.URL+"/metrics")
	expectStatus(t, m, http.StatusOK)
	for _, want := range []string{"mana_auth_logins_total", "mana_notify_emails_sent_total", "mana_http_requests_total", "go_goroutines"} {
		if !bytes.Contains(m.Body, []byte(want)) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if !strings.Contains(p.logs.String(), `"verify_link":"`) {
		t.Errorf("the verify link was not logged:\n%s", p.logs)
	}
	if out := p.logs.String(); !strings.Contains(out, "mana is running: http://localhost:") || !strings.Contains(out, "SMTP_HOST is not set") {
		t.Errorf("start-up block missing or incomplete:\n%s", out)
	}
}

// Nothing is lost across a restart: users, live and revoked sessions, and
// mail still queued. The queued mail is made deterministic by making the
// capture fail (its directory replaced by a file) so the delivery job is
// waiting for its retry when the process stops.
// Negative control: mailcapture.Send swallowing its write error (run, see
// the report) marks the mail delivered, and the test times out waiting for
// the failed attempt.
func TestServeRestartKeepsUsersSessionsAndQueuedMail(t *testing.T) {
	for _, b := range serveBackends {
		t.Run(b.name, func(t *testing.T) { serveRestart(t, b.database(t)) })
	}
}

func serveRestart(t *testing.T, database string) {
	dataDir, port := t.TempDir(), freePort(t)
	env := serveEnv(database, dataDir, port, "NOTIFY_EMAIL_RETRY_BASE=1s", "NOTIFY_EMAIL_MAX_ATTEMPTS=20")
	p := startServe(t, env...)

	u, live := registerAndVerify(t, p.URL, uniqueEmail("serve-live"))
	revoked := loginOK(t, p.URL, u)
	expectStatus(t, postJSON(t, p.URL+"/api/v1/auth/logout", map[string]any{}, bearer(revoked.AccessToken)...), http.StatusOK)

	mailDir := filepath.Join(dataDir, "mail")
	if err := os.RemoveAll(mailDir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(mailDir, []byte("not a directory"), 0o600); err != nil {
		t.Fatal(err)
	}
	queued := uniqueEmail("serve-queued")
	register(t, p.URL, queued)
	eventually(t, 30*time.Second, "a failed delivery attempt of the mail to "+queued, func() bool {
		n, err := pendingAttempts(t, database, dataDir, queued)
		return err == nil && n >= 1
	})
	p.stop(t)

	if err := os.Remove(mailDir); err != nil {
		t.Fatal(err)
	}
	p = startServe(t, env...)
	if v := validate(t, p.URL, live.AccessToken); !isValid(v) {
		t.Fatalf("live session lost across restart: %s", v)
	}
	if v := validate(t, p.URL, revoked.AccessToken); isValid(v) {
		t.Fatalf("revoked session valid again after restart: %s", v)
	}
	r := postJSON(t, p.URL+"/api/v1/auth/refresh", map[string]any{"refreshToken": live.RefreshToken})
	expectStatus(t, r, http.StatusOK)
	loginOK(t, p.URL, u)
	waitForVerifyLink(t, p.URL, queued)
}

// /dev/mail shows mail sent through notify's own API (service key) with
// hostile content: the page carries no live script and no javascript: link.
// Negative control: mailcapture's page built with text/template (run, see
// the report) makes this fail on "<script>".
func TestServeDevMailEscapesHTML(t *testing.T) {
	p := startServe(t, serveEnv(freshDatabase(t), t.TempDir(), freePort(t))...)
	addr := uniqueEmail("serve-xss")
	r := postJSON(t, p.URL+"/api/v1/notifications/send", map[string]any{
		"channel": "email", "appId": "it", "recipient": addr, "subject": `<script>alert("s")</script>`,
		"body": `<p><script>alert("b")</script><a href="javascript:alert(1)">x</a><a href="https://ok.example/?a=1&amp;b=2">ok</a></p>`,
	}, "X-Service-Key", serviceKey)
	expectStatus(t, r, http.StatusAccepted)
	eventually(t, 30*time.Second, "the mail to "+addr+" on /dev/mail", func() bool {
		return len(devMailLinks(t, p.URL, addr)) == 1
	})
	page := getJSON(t, p.URL+"/dev/mail")
	body := string(page.Body)
	if strings.Contains(body, "<script") || strings.Contains(body, `href="javascript:`) {
		t.Fatalf("/dev/mail carries live markup from mail content:\n%s", body)
	}
	if links := devMailLinks(t, p.URL, addr)[0]; len(links) != 1 || links[0] != "https://ok.example/?a=1&b=2" {
		t.Fatalf("links = %v, want only the https one", links)
	}
}

// In production mode /dev/mail does not exist, and without SMTP_HOST the
// server refuses to start rather than capture mail nobody reads.
// Negative control: without serveMailer's production refusal (run, see the
// report) the server starts and the first check fails.
func TestServeProductionHasNoDevMail(t *testing.T) {
	database, dataDir := freshDatabase(t), t.TempDir()
	prod := []string{"NODE_ENV=production", "MANA_AUTH_KEK=" + os.Getenv("TEST_KEK"), "MANA_SERVICE_KEY=prod-test-key",
		"BETTER_AUTH_SECRET=" + os.Getenv("BETTER_AUTH_SECRET")}

	// Bounded: a server that starts anyway must fail the test, not hang it.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, manaBinary(t), "serve")
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, append(serveEnv(database, dataDir, freePort(t)), prod...)...)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || !strings.Contains(string(out), "SMTP_HOST: is required in production") {
		t.Fatalf("production without SMTP_HOST: want a refusal naming SMTP_HOST, got err=%v:\n%s", err, out)
	}

	// SMTP is never contacted here: nothing is sent.
	p := startServe(t, append(serveEnv(database, dataDir, freePort(t)), append(prod, "SMTP_HOST=127.0.0.1", "SMTP_PORT=9")...)...)
	r := getJSON(t, p.URL+"/dev/mail")
	expectStatus(t, r, http.StatusNotFound)
	if strings.Contains(p.logs.String(), "/dev/mail is served") {
		t.Errorf("production start-up block claims /dev/mail is served:\n%s", p.logs)
	}
}

// pendingAttempts reads the attempts of the pending notification to
// recipient, from Postgres (database) or from the SQLite file in dataDir.
func pendingAttempts(t *testing.T, database, dataDir, recipient string) (int, error) {
	t.Helper()
	var attempts int
	if database != "" {
		err := connectTo(t, database).QueryRow(context.Background(),
			`SELECT attempts FROM notify.notifications WHERE recipient = $1 AND status = 'pending'`, recipient).Scan(&attempts)
		return attempts, err
	}
	db, err := sqlite.Open(context.Background(), filepath.Join(dataDir, "mana.db"))
	if err != nil {
		return 0, err
	}
	defer db.Close()
	err = db.QueryRowContext(context.Background(),
		`SELECT attempts FROM notify_notifications WHERE recipient = ? AND status = 'pending'`, recipient).Scan(&attempts)
	return attempts, err
}

// One SQLite data directory, one process: a second `mana serve` on the same
// MANA_DATA_DIR is refused with a message, while the first keeps serving.
// Negative control: without lockDataDir in openSQLite the second process
// starts and this test fails.
func TestServeSQLiteRefusesSecondProcess(t *testing.T) {
	dataDir := t.TempDir()
	first := startServe(t, serveEnv("", dataDir, freePort(t))...)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, manaBinary(t), "serve")
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, serveEnv("", dataDir, freePort(t))...)
	out, err := cmd.CombinedOutput()
	if err == nil || ctx.Err() != nil || !strings.Contains(string(out), "in use by another mana process") {
		t.Fatalf("second mana serve on %s: err=%v, want a refusal naming the other process; output:\n%s", dataDir, err, out)
	}
	expectStatus(t, getJSON(t, first.URL+"/health"), http.StatusOK)
}

// connectTo opens a pool on database, closed when the test ends.
func connectTo(t *testing.T, database string) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), database)
	if err != nil {
		t.Fatalf("connect %s: %v", database, err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// `mana kek rotate` works on the SQLite data of `mana serve`: refused while
// the service runs (one process per data directory), then, with the service
// stopped, it re-wraps the vault so that the service starts with only the
// new KEK and returns the same master key.
// Negative control: kekCmd's SQLite branch returning without rotating fails
// at the output check (run); were that check gone, the restart with only
// the new KEK would be refused by the start-up ring check.
func TestServeSQLiteKEKRotate(t *testing.T) {
	dataDir, port := t.TempDir(), freePort(t)
	oldKEK := base64.StdEncoding.EncodeToString([]byte("sqlite-rotation-test-old-kek-32b"))
	newKEK := base64.StdEncoding.EncodeToString([]byte("sqlite-rotation-test-new-kek-32b"))
	p := startServe(t, serveEnv("", dataDir, port, "MANA_AUTH_KEK="+oldKEK)...)
	u, s := registerAndVerify(t, p.URL, uniqueEmail("sqlite-kek"))
	initR := postJSON(t, p.URL+vaultPath+"/init", map[string]any{}, bearer(s.AccessToken)...)
	expectStatus(t, initR, http.StatusOK)
	key := jstr(initR.JSON, "masterKey")

	rotate := func() (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, manaBinary(t), "kek", "rotate")
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "MANA_DATA_DIR=" + dataDir, "MANA_AUTH_KEK=" + newKEK,
			"MANA_AUTH_KEK_PREVIOUS=" + oldKEK}
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := rotate(); err == nil || !strings.Contains(out, "in use by another mana process") {
		t.Fatalf("kek rotate while mana serve runs: err=%v, want a refusal; output:\n%s", err, out)
	}
	p.stop(t)
	out, err := rotate()
	if err != nil || !strings.Contains(out, "1 vaults re-wrapped") {
		t.Fatalf("kek rotate on the stopped service's data: err=%v; output:\n%s", err, out)
	}
	t.Logf("mana kek rotate on SQLite:\n%s", out)

	p = startServe(t, serveEnv("", dataDir, port, "MANA_AUTH_KEK="+newKEK)...)
	s = loginOK(t, p.URL, u)
	keyR := getJSON(t, p.URL+vaultPath+"/key", bearer(s.AccessToken)...)
	expectStatus(t, keyR, http.StatusOK)
	if got := jstr(keyR.JSON, "masterKey"); got != key {
		t.Fatalf("master key after rotation = %q, want %q", got, key)
	}
}
