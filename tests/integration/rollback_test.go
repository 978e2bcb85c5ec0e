//go:build integration

package integration

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// TestRollbackToOriginal is the proof of the cut-over's rollback window: mana
// serves a database the original wrote (the fixture), users do what they do
// (register and verify, change and reset passwords, sign in and out, open a
// vault), mana is stopped, and THE ORIGINAL (Better Auth 1.6 on Bun, installed
// from ../shared/original by tests/original/install.sh, started by
// tests/original/run.sh) is started on the same database. Everything mana did
// must hold there: every password mana wrote signs in, every session mana
// ended is refused, the cookie mana issued and did not end is live, and every
// vault opens with the master key mana handed out.
//
// Controls ("harness/…") show the harness itself works on the mana-migrated
// database: frank (whom mana never touched) signs in with his password,
// erin's cookie from the original (never touched either) is live, and the
// original registers, verifies (its mail goes to a stub here), signs in and
// gives a vault to a new user. The check that alice's signed-out mana cookie
// is refused passes as well when the original cannot read mana's cookies at
// all; it means something together with N1's kept cookie being live.
//
// The checks are independent subtests (t.Errorf); the vault checks get their
// access token from a sign-in on the original when that works, else from a
// session the test writes itself (row + signed cookie → GET /api/auth/token),
// so that they report on the vault whatever the passwords do. On failure the
// test logs the formats mana left (hashes, session tokens, vault wraps) and
// the original's errors.
//
// Budget: about 3 s warm; a cold cache (MANA_TEST_CACHE empty) adds Bun and
// `bun install`, a few seconds more.
func TestRollbackToOriginal(t *testing.T) {
	start := time.Now()
	root := rcRepoRoot(t)
	installed, err := rcScript(filepath.Join(root, "tests", "original", "install.sh"))
	if err != nil {
		t.Fatalf("installing the original: %v", err)
	}
	tInstall := time.Since(start)

	f := loadFixture(t)
	x := loadRollbackFixture(t)
	users := f.Users
	origin := []string{"Origin", f.TrustedOrigin}
	checkCookieSigning(t, f.BetterAuthSecret, x.Users["alice"].SessionToken, users["alice"].Cookie)

	database := legacyDatabase(t, f)
	pool := connectTo(t, database)

	// ─── The window: mana serves the original's database ─────────────
	mana := startServe(t, serveEnv(database, t.TempDir(), freePort(t), "BASE_URL="+f.BaseURL,
		"BETTER_AUTH_SECRET="+f.BetterAuthSecret, "MANA_AUTH_KEK="+f.KEK, "CORS_ORIGINS="+f.TrustedOrigin,
		"MANA_RATE_LIMITS=off")...)
	base := mana.URL
	tManaUp := time.Since(start)

	// N1: a new user registers, verifies through the mailed link, logs in,
	// opens a vault, and signs in through the browser door (cookie kept).
	n1 := register(t, base, uniqueEmail("rollback-n1"))
	followLink(t, base, waitForVerifyLink(t, base, n1.Email), http.StatusFound)
	n1Session := loginOK(t, base, n1)
	r := postJSON(t, base+"/api/v1/me/encryption-vault/init", nil, bearer(n1Session.AccessToken)...)
	expectStatus(t, r, http.StatusOK)
	n1MasterKey := jstr(r.JSON, "masterKey")
	if n1MasterKey == "" {
		t.Fatalf("N1's vault init gave no masterKey: %s", r)
	}
	r = getJSON(t, base+"/api/v1/me/encryption-vault/key", bearer(n1Session.AccessToken)...)
	expectStatus(t, r, http.StatusOK)
	if got := jstr(r.JSON, "masterKey"); got != n1MasterKey {
		t.Fatalf("N1's vault key on mana %q, init gave %q", got, n1MasterKey)
	}
	n1Cookie := browserSignIn(t, base, n1.Email, n1.Password, origin)
	expectSessionOf(t, base, n1Cookie, n1.ID)

	// bob changes his password (his cookie of the original is one of his
	// other sessions, which a change revokes).
	bob := users["bob"]
	const bobNew = "Bob-Rollback-Passw0rd-2026"
	bobCookie := bob.Cookie + "; " + bob.DontRememberCookie
	s := loginOK(t, base, user{ID: bob.UserID, Email: bob.LoginEmail, Password: bob.Password})
	r = postJSON(t, base+"/api/v1/auth/change-password", map[string]string{"currentPassword": bob.Password, "newPassword": bobNew},
		bearer(s.AccessToken)...)
	expectStatus(t, r, http.StatusOK)
	bobCookieRevoked := sessionIsNull(t, base, bobCookie)

	// dave resets his password through mana's mail (a reset revokes all his
	// sessions, among them his verification session of the original).
	dave := users["dave"]
	const daveNew = "Dave-Rollback-Passw0rd-2026"
	r = postJSON(t, base+"/api/v1/auth/forgot-password", map[string]string{"email": dave.Email, "redirectTo": f.TrustedOrigin + "/reset"})
	expectStatus(t, r, http.StatusOK)
	resp := followLink(t, base, waitForMailLink(t, base, dave.Email, "/reset-password/"), http.StatusFound)
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || loc.Query().Get("token") == "" {
		t.Fatalf("dave's reset link on mana redirected to %q", resp.Header.Get("Location"))
	}
	r = postJSON(t, base+"/api/v1/auth/reset-password", map[string]string{"token": loc.Query().Get("token"), "newPassword": daveNew})
	expectStatus(t, r, http.StatusOK)
	daveCookie := x.Users["dave"].VerifyEmailSessionCookie
	daveCookieRevoked := sessionIsNull(t, base, daveCookie)

	// alice signs in through the browser door and out again, logs out the
	// cookie the original gave her, and reads her vault on mana.
	alice := users["alice"]
	aliceManaCookie := browserSignIn(t, base, alice.Email, alice.Password, origin)
	r = postJSON(t, base+"/api/auth/sign-out", nil, append([]string{"Cookie", aliceManaCookie}, origin...)...)
	expectStatus(t, r, http.StatusOK)
	if !sessionIsNull(t, base, aliceManaCookie) {
		t.Fatal("mana still answers alice's signed-out cookie")
	}
	r = postJSON(t, base+"/api/v1/auth/logout", nil, append([]string{"Cookie", alice.Cookie}, origin...)...)
	expectStatus(t, r, http.StatusOK)
	if !sessionIsNull(t, base, alice.Cookie) {
		t.Fatal("mana still answers alice's logged-out cookie of the original")
	}
	s = loginOK(t, base, user{ID: alice.UserID, Email: alice.Email, Password: alice.Password})
	r = getJSON(t, base+"/api/v1/me/encryption-vault/key", bearer(s.AccessToken)...)
	expectStatus(t, r, http.StatusOK)
	if got := jstr(r.JSON, "masterKey"); got != alice.MasterKey {
		t.Fatalf("alice's vault key on mana %q, want %q", got, alice.MasterKey)
	}

	mana.stop(t)
	tWindow := time.Since(start)
	formats := storedFormats(pool)

	// ─── Roll back: the original on the same database ───────────────
	stub := newOriginalStub(t)
	orig := startOriginal(t, root, installed, "DATABASE_URL="+database, "BETTER_AUTH_SECRET="+f.BetterAuthSecret,
		"MANA_AUTH_KEK="+f.KEK, "CORS_ORIGINS="+f.TrustedOrigin, "ORIGINAL_STUB_URL="+stub.URL)
	ob := orig.URL
	tOrigUp := time.Since(start)

	// signIn is the original's /api/v1/auth/login; it returns the access token ("" when refused).
	signIn := func(t *testing.T, who, email, password string, wantID string) string {
		t.Helper()
		r := postJSON(t, ob+"/api/v1/auth/login", map[string]string{"email": email, "password": password})
		if r.Status != http.StatusOK || jstr(r.JSON, "accessToken") == "" || jstr(r.JSON, "user", "id") != wantID {
			t.Errorf("the original refuses %s: %s", who, r)
			return ""
		}
		return jstr(r.JSON, "accessToken")
	}
	refused := func(t *testing.T, who, email, password string) {
		t.Helper()
		r := postJSON(t, ob+"/api/v1/auth/login", map[string]string{"email": email, "password": password})
		if r.Status != http.StatusUnauthorized {
			t.Errorf("the original answers %s: %s; want 401", who, r)
		}
	}
	tokens := map[string]string{}

	t.Run("harness/untouched user frank signs in", func(t *testing.T) {
		signIn(t, "frank's password", users["frank"].Email, users["frank"].Password, users["frank"].UserID)
	})
	t.Run("harness/untouched cookie of erin is live", func(t *testing.T) {
		liveOn(t, ob, "erin's cookie of the original", x.Users["erin"].VerifyTotpCookie, users["erin"].UserID)
	})

	t.Run("harness/the original registers, verifies and signs in a new user, who opens a vault", func(t *testing.T) {
		n2 := uniqueEmail("rollback-n2")
		r := postJSON(t, ob+"/api/v1/auth/register", map[string]string{"email": n2, "password": testPassword, "name": "Rollback N2"})
		if r.Status != http.StatusOK {
			t.Fatalf("register on the original: %s", r)
		}
		var link string
		eventually(t, 15*time.Second, "the original's verification mail to "+n2, func() bool {
			link = stub.mailLink(n2, "/api/auth/verify-email?")
			return link != ""
		})
		u, err := url.Parse(link)
		if err != nil {
			t.Fatal(err)
		}
		if r := getJSON(t, ob+u.RequestURI()); r.Status != http.StatusFound || strings.Contains(r.Header.Get("Location"), "error") {
			t.Fatalf("the original's verification link: %s (Location %q)", r, r.Header.Get("Location"))
		}
		r = postJSON(t, ob+"/api/v1/auth/login", map[string]string{"email": n2, "password": testPassword})
		tok := jstr(r.JSON, "accessToken")
		if r.Status != http.StatusOK || tok == "" {
			t.Fatalf("sign-in on the original: %s", r)
		}
		r = postJSON(t, ob+"/api/v1/me/encryption-vault/init", nil, bearer(tok)...)
		mk := jstr(r.JSON, "masterKey")
		if r.Status != http.StatusOK || mk == "" {
			t.Fatalf("vault init on the original: %s", r)
		}
		if r = getJSON(t, ob+"/api/v1/me/encryption-vault/key", bearer(tok)...); r.Status != http.StatusOK || jstr(r.JSON, "masterKey") != mk {
			t.Errorf("vault key on the original: %s; want %s", r, mk)
		}
	})

	t.Run("signs in/N1 registered on mana", func(t *testing.T) {
		tokens["n1"] = signIn(t, "N1's password (set on mana)", n1.Email, n1.Password, n1.ID)
	})
	t.Run("signs in/bob with the password changed on mana", func(t *testing.T) {
		signIn(t, "bob's new password", bob.LoginEmail, bobNew, bob.UserID)
	})
	t.Run("signs in/dave with the password reset on mana", func(t *testing.T) {
		signIn(t, "dave's new password", dave.Email, daveNew, dave.UserID)
	})
	t.Run("signs in/alice with her password after signing in on mana", func(t *testing.T) {
		tokens["alice"] = signIn(t, "alice's password", alice.Email, alice.Password, alice.UserID)
	})
	t.Run("refused/bob's old password", func(t *testing.T) {
		refused(t, "bob's old password", bob.LoginEmail, bob.Password)
	})
	t.Run("refused/dave's old password", func(t *testing.T) {
		refused(t, "dave's old password", dave.Email, dave.Password)
	})

	t.Run("sessions/alice's cookie from mana, signed out on mana, is refused", func(t *testing.T) {
		deadOn(t, ob, "alice's cookie signed in and out on mana", aliceManaCookie)
	})
	t.Run("sessions/alice's cookie of the original, logged out on mana, is refused", func(t *testing.T) {
		deadOn(t, ob, "alice's cookie of the original logged out on mana", alice.Cookie)
	})
	t.Run("sessions/bob's cookie of the original, revoked by his password change, is refused", func(t *testing.T) {
		if !bobCookieRevoked {
			t.Skip("mana did not revoke bob's other sessions on the password change")
		}
		deadOn(t, ob, "bob's cookie of the original", bobCookie)
	})
	t.Run("sessions/dave's cookie of the original, revoked by his reset, is refused", func(t *testing.T) {
		if !daveCookieRevoked {
			t.Skip("mana did not revoke dave's sessions on the reset")
		}
		deadOn(t, ob, "dave's cookie of the original", daveCookie)
	})
	t.Run("sessions/N1's cookie from mana, not signed out, is live", func(t *testing.T) {
		liveOn(t, ob, "N1's cookie from mana", n1Cookie, n1.ID)
	})

	vaultKey := func(t *testing.T, who, userID, want string) {
		t.Helper()
		tok := tokens[who]
		if tok == "" {
			t.Logf("%s has no access token from a sign-in on the original; using a session written by the test", who)
			var err error
			if tok, err = testSessionToken(pool, ob, f.BetterAuthSecret, userID); err != nil {
				t.Errorf("an access token for %s from the original: %v", who, err)
				return
			}
		}
		r := getJSON(t, ob+"/api/v1/me/encryption-vault/key", bearer(tok)...)
		if r.Status != http.StatusOK || jstr(r.JSON, "masterKey") != want {
			t.Errorf("%s's vault on the original: %s; want masterKey %s", who, r, want)
		}
	}
	t.Run("vault/N1's vault made on mana opens with mana's master key", func(t *testing.T) {
		vaultKey(t, "n1", n1.ID, n1MasterKey)
	})
	t.Run("vault/alice's vault, read on mana, still opens", func(t *testing.T) {
		vaultKey(t, "alice", alice.UserID, alice.MasterKey)
	})

	orig.stop(t)
	if stub.count() > 0 {
		t.Logf("the original called the notify/credits stub %d times: %s", stub.count(), stub.summary())
	}
	if t.Failed() {
		t.Logf("what mana left in the database: %s", formats)
		t.Logf("the original's errors and warnings (its log without the request lines):\n%s", originalProblems(orig.logs.String(), 150))
	}
	t.Logf("rollback: install %s, mana up %s, window done %s, original up %s, all %s",
		tInstall.Round(time.Millisecond), tManaUp.Round(time.Millisecond), tWindow.Round(time.Millisecond),
		tOrigUp.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
}

// storedFormats summarises, for the failure report, the formats mana left in
// the database: the cut-over state, password hashes, session tokens, vault
// wraps and signing keys.
func storedFormats(pool *pgxpool.Pool) string {
	var out []string
	for _, q := range []struct{ what, sql string }{
		{"cut-over state", `SELECT string_agg(state, ',') FROM auth.mana_cutover`},
		{"password hashes (scrypt/argon2id/other)", `SELECT count(*) FILTER (WHERE password ~ '^[0-9a-f]{32}:[0-9a-f]{128}$') || '/' ||
			count(*) FILTER (WHERE password LIKE '$argon2id$%') || '/' ||
			count(*) FILTER (WHERE password !~ '^[0-9a-f]{32}:[0-9a-f]{128}$' AND password NOT LIKE '$argon2id$%')
			FROM auth.accounts WHERE password IS NOT NULL`},
		{"sessions (live/expired, tokens sha256:…)", `SELECT count(*) FILTER (WHERE expires_at > now()) || '/' || count(*) FILTER (WHERE expires_at <= now()) ||
			', ' || count(*) FILTER (WHERE token LIKE 'sha256:%') FROM auth.sessions`},
		{"vault wraps (user:scheme:kek)", `SELECT string_agg(user_id || ':' || wrap_scheme || ':' || kek_id, ' ') FROM auth.encryption_vaults`},
		{"signing keys (all, with kek_id)", `SELECT count(*) || ', ' || count(kek_id) FROM auth.jwks`},
	} {
		var v *string
		err := pool.QueryRow(context.Background(), q.sql).Scan(&v)
		switch {
		case err != nil:
			out = append(out, q.what+": "+err.Error())
		case v == nil:
			out = append(out, q.what+": none")
		default:
			out = append(out, q.what+": "+*v)
		}
	}
	return strings.Join(out, "; ")
}

// rollbackFixture is what TestRollbackToOriginal reads from answers.json
// beyond loadFixture's fixtureUser.
type rollbackFixture struct {
	Users map[string]struct {
		SessionToken             string
		VerifyEmailSessionCookie string
		VerifyTotpCookie         string
	}
}

func loadRollbackFixture(t *testing.T) rollbackFixture {
	t.Helper()
	data, err := os.ReadFile(fixtureDir + "/answers.json")
	if err != nil {
		t.Fatal(err)
	}
	var x rollbackFixture
	if err := json.Unmarshal(data, &x); err != nil {
		t.Fatal(err)
	}
	if x.Users["dave"].VerifyEmailSessionCookie == "" || x.Users["erin"].VerifyTotpCookie == "" || x.Users["alice"].SessionToken == "" {
		t.Fatal("the fixture lacks dave's verification cookie, erin's TOTP cookie or alice's session token")
	}
	return x
}

// ---------------------------------------------------------------------------
// Browser sessions

// browserSignIn signs in through POST /api/auth/sign-in/email and returns the
// session cookie ("mana.session_token=…").
func browserSignIn(t *testing.T, base, email, password string, origin []string) string {
	t.Helper()
	r := postJSON(t, base+"/api/auth/sign-in/email", map[string]string{"email": email, "password": password}, origin...)
	expectStatus(t, r, http.StatusOK)
	for _, c := range r.Header.Values("Set-Cookie") {
		if v, _, _ := strings.Cut(c, ";"); strings.HasPrefix(v, "mana.session_token=") && v != "mana.session_token=" {
			return v
		}
	}
	t.Fatalf("sign-in of %s set no session cookie: %v", email, r.Header.Values("Set-Cookie"))
	return ""
}

// sessionIsNull reports whether GET /api/auth/get-session answers 200 null for cookie.
func sessionIsNull(t *testing.T, base, cookie string) bool {
	t.Helper()
	r := getJSON(t, base+"/api/auth/get-session", "Cookie", cookie)
	return r.Status == http.StatusOK && strings.TrimSpace(string(r.Body)) == "null"
}

func expectSessionOf(t *testing.T, base, cookie, userID string) {
	t.Helper()
	r := getJSON(t, base+"/api/auth/get-session", "Cookie", cookie)
	if r.Status != http.StatusOK || jstr(r.JSON, "user", "id") != userID {
		t.Fatalf("get-session on %s: %s; want user %s", base, r, userID)
	}
}

func liveOn(t *testing.T, base, what, cookie, userID string) {
	t.Helper()
	r := getJSON(t, base+"/api/auth/get-session", "Cookie", cookie)
	if r.Status != http.StatusOK || jstr(r.JSON, "user", "id") != userID || jstr(r.JSON, "session", "userId") != userID {
		t.Errorf("%s on the original: %s; want the session of %s", what, r, userID)
	}
}

func deadOn(t *testing.T, base, what, cookie string) {
	t.Helper()
	if r := getJSON(t, base+"/api/auth/get-session", "Cookie", cookie); r.Status != http.StatusOK || strings.TrimSpace(string(r.Body)) != "null" {
		t.Errorf("%s on the original: %s; want 200 null", what, r)
	}
}

// signedCookie is Better Auth's session cookie for a session token:
// token "." base64(HMAC-SHA256(secret, token)), URI-encoded.
func signedCookie(secret, token string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(token))
	return "mana.session_token=" + url.QueryEscape(token+"."+base64.StdEncoding.EncodeToString(m.Sum(nil)))
}

// checkCookieSigning holds signedCookie to a cookie the original set.
func checkCookieSigning(t *testing.T, secret, token, cookie string) {
	t.Helper()
	if got := signedCookie(secret, token); got != cookie {
		t.Fatalf("signedCookie(%q) = %q, the original set %q", token, got, cookie)
	}
}

// testSessionToken writes a session of userID in the original's format
// (token in the clear) and exchanges its signed cookie for an access token
// at the original's GET /api/auth/token.
func testSessionToken(pool *pgxpool.Pool, base, secret, userID string) (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	token := hex.EncodeToString(b)[:32]
	_, err := pool.Exec(context.Background(), `INSERT INTO auth.sessions (id, token, user_id, expires_at)
		VALUES ($1, $2, $3, now() + interval '1 hour')`, "rollback-test-"+token[:16], token, userID)
	if err != nil {
		return "", fmt.Errorf("write a session: %w", err)
	}
	r, err := tryDo(http.MethodGet, base+"/api/auth/token", nil, "Cookie", signedCookie(secret, token))
	if err != nil {
		return "", err
	}
	if r.Status != http.StatusOK || jstr(r.JSON, "token") == "" {
		return "", fmt.Errorf("GET /api/auth/token with the test's session: %s", r)
	}
	return jstr(r.JSON, "token"), nil
}

// ---------------------------------------------------------------------------
// Mail links on mana

// followLink GETs a mailed link's path and query on base (mail links name
// BASE_URL, not the test's port) and asserts the status.
func followLink(t *testing.T, base, link string, want int) *response {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil {
		t.Fatalf("link %q: %v", link, err)
	}
	r := getJSON(t, base+u.RequestURI())
	expectStatus(t, r, want)
	return r
}

// waitForMailLink polls /dev/mail until a mail to addr holds a link containing part.
func waitForMailLink(t *testing.T, base, addr, part string) string {
	t.Helper()
	var link string
	eventually(t, 30*time.Second, "a mail to "+addr+" with a "+part+" link", func() bool {
		for _, links := range devMailLinks(t, base, addr) {
			for _, l := range links {
				if strings.Contains(l, part) {
					link = l
					return true
				}
			}
		}
		return false
	})
	return link
}

// ---------------------------------------------------------------------------
// The original

// originalProc is the original mana-auth, run by tests/original/run.sh.
type originalProc struct {
	URL      string
	cmd      *exec.Cmd
	logs     *lockedBuffer
	done     chan error
	stopOnce sync.Once
}

// startOriginal starts the installed original on a free port with env
// (DATABASE_URL, BETTER_AUTH_SECRET, MANA_AUTH_KEK, …; see run.sh) and
// returns once GET /health answers 200. It is stopped when the test ends.
func startOriginal(t *testing.T, root, installed string, env ...string) *originalProc {
	t.Helper()
	port := freePort(t)
	cmd := exec.Command("bash", filepath.Join(root, "tests", "original", "run.sh"))
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "ORIGINAL_DIR=" + installed,
		fmt.Sprintf("PORT=%d", port)}, env...)
	// Its own process group: stop reaches anything Bun may start.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	p := &originalProc{URL: fmt.Sprintf("http://127.0.0.1:%d", port), cmd: cmd, logs: &lockedBuffer{}, done: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = p.logs, p.logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start the original: %v", err)
	}
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() { p.stop(t) })
	awaitHealthy(t, "the original", p.URL+"/health", p.done, p.logs, 60*time.Second)
	return p
}

// stop ends the original's process group (SIGTERM, then SIGKILL after 10 s)
// and waits for it; calling it again does nothing.
func (p *originalProc) stop(t *testing.T) {
	t.Helper()
	p.stopOnce.Do(func() { p.terminate(t) })
}

func (p *originalProc) terminate(t *testing.T) {
	t.Helper()
	pgid := p.cmd.Process.Pid
	if err := syscall.Kill(-pgid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		t.Errorf("SIGTERM to the original: %v", err)
	}
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-p.done
		t.Errorf("the original was still running 10s after SIGTERM (killed):\n%s", rcTail([]byte(p.logs.String()), 40))
	}
	// Whatever else is left in the group.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
}

// originalProblems is the original's log reduced to its blocks (a line that
// starts in column 0 and its indented continuation) that name an error or a
// warning, at most max lines.
func originalProblems(log string, max int) string {
	var out, block []string
	flush := func() {
		if len(block) > 0 && (strings.Contains(block[0], "ERROR") || strings.Contains(block[0], "WARN") ||
			strings.Contains(strings.ToLower(block[0]), "error")) {
			out = append(out, block...)
		}
		block = nil
	}
	for _, l := range strings.Split(log, "\n") {
		if l != "" && l[0] != ' ' && l[0] != '\t' && l[0] != '}' {
			flush()
		}
		block = append(block, l)
	}
	flush()
	if len(out) > max {
		out = append(out[:max], fmt.Sprintf("… (%d more lines)", len(out)-max))
	}
	return strings.Join(out, "\n")
}

// originalStub stands in for mana-notify, mana-credits, mana-subscriptions
// and mana-mail: it records every request and answers 200 JSON.
type originalStub struct {
	*httptest.Server
	mu   sync.Mutex
	seen []stubRequest
}

type stubRequest struct{ method, path, body string }

func newOriginalStub(t *testing.T) *originalStub {
	t.Helper()
	s := &originalStub{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.seen = append(s.seen, stubRequest{r.Method, r.URL.Path, string(body)})
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"id":"stub","status":"sent","success":true}`))
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *originalStub) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.seen)
}

func (s *originalStub) summary() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, r := range s.seen {
		out = append(out, r.method+" "+r.path)
	}
	return strings.Join(out, ", ")
}

// mailLink is the first link containing part in a mail the original sent
// (POST /api/v1/notifications/send {recipient, body}) to recipient.
func (s *originalStub) mailLink(recipient, part string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.seen {
		var m struct{ Recipient, Body string }
		if r.path != "/api/v1/notifications/send" || json.Unmarshal([]byte(r.body), &m) != nil || m.Recipient != recipient {
			continue
		}
		for _, h := range hrefRe.FindAllStringSubmatch(m.Body, -1) {
			if strings.Contains(h[1], part) {
				return html.UnescapeString(h[1])
			}
		}
	}
	return ""
}
