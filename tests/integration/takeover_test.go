//go:build integration

package integration

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/mana/mana/internal/auth"
	"github.com/mana/mana/internal/config"
	"github.com/mana/mana/internal/kek"
	"github.com/mana/mana/internal/password"
	"github.com/mana/mana/internal/store/pg"
	"github.com/mana/mana/internal/token"
)

// fixtureDir holds what the original service wrote and answered
// (tests/fixtures/original/README.md; rebuilt by its build.sh).
const fixtureDir = "../fixtures/original"

type fixtureUser struct {
	Email, Password, UserID, LoginEmail     string
	AccessToken, RefreshToken, SessionToken string
	Cookie, DontRememberCookie, MasterKey   string
	Verification                            struct{ Link, Token string }
	Reset                                   struct{ Link, Token string }
	Stored                                  struct{ EmailVerified, TwoFactorEnabled bool }
}

type fixture struct {
	RecordedAt       time.Time
	BaseURL          string
	BetterAuthSecret string
	KEK              string
	TrustedOrigin    string
	JWKS             struct {
		Keys []map[string]any
	}
	Users  map[string]fixtureUser
	Spaces map[string][]struct {
		Slug, Name, MemberRole string
		Metadata               map[string]any
	}
}

func loadFixture(t *testing.T) fixture {
	t.Helper()
	data, err := os.ReadFile(fixtureDir + "/answers.json")
	if err != nil {
		t.Fatalf("read the fixture: %v", err)
	}
	var f fixture
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatalf("decode the fixture: %v", err)
	}
	if f.Users["alice"].UserID == "" || f.BetterAuthSecret == "" {
		t.Fatal("the fixture lacks alice or the secret")
	}
	return f
}

// legacyDatabase loads the original's dump into a fresh database and moves
// every expiry on by the fixture's age, as if the cut-over happened right
// after the recording (the sessions and reset rows would have lapsed).
// Tokens that carry their own expiry (access JWTs, verification links) are
// checked against a clock pinned to the recording instead.
func legacyDatabase(t *testing.T, f fixture) string {
	t.Helper()
	dump, err := os.ReadFile(fixtureDir + "/dump.sql")
	if err != nil {
		t.Fatal(err)
	}
	database := freshDatabase(t)
	pool := connectTo(t, database)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, string(dump)); err != nil {
		t.Fatalf("load the dump: %v", err)
	}
	age := time.Since(f.RecordedAt).Seconds()
	for _, q := range []string{
		`UPDATE auth.sessions SET expires_at = expires_at + make_interval(secs => $1)`,
		`UPDATE auth.verification SET expires_at = expires_at + make_interval(secs => $1)`,
	} {
		if _, err := pool.Exec(ctx, q, age); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	return database
}

// TestTakeover points mana at a database the original service wrote and
// checks that nothing a user holds is lost: passwords through both doors,
// browser cookies, the refresh tokens its clients keep (accepted once),
// vault master keys, its signing key and access tokens, its verification
// and reset links, and the two-factor user is not downgraded.
//
// Negative controls: the binary started with another BETTER_AUTH_SECRET
// fails "cookies" (run: alice's cookie answers null); with the TwoFactor
// check removed from SignIn, "both doors" fails at erin.
func TestTakeover(t *testing.T) {
	f := loadFixture(t)
	database := legacyDatabase(t, f)
	srv := startServe(t, serveEnv(database, t.TempDir(), freePort(t), "BASE_URL="+f.BaseURL,
		"BETTER_AUTH_SECRET="+f.BetterAuthSecret, "MANA_AUTH_KEK="+f.KEK, "CORS_ORIGINS="+f.TrustedOrigin,
		"MANA_RATE_LIMITS=off")...)
	base := srv.URL
	pool := connectTo(t, database)
	users := f.Users
	origin := []string{"Origin", f.TrustedOrigin}

	// Time-bound tokens first, on a clock pinned just after the recording,
	// in process on the same database (the binary has no clock to pin).
	t.Run("pinned clock", func(t *testing.T) {
		svc := pinnedService(t, f, database, f.RecordedAt.Add(time.Minute))
		ctx := context.Background()
		for _, name := range []string{"alice", "bob"} {
			p, err := svc.Authenticate(ctx, users[name].AccessToken)
			if err != nil || p.Claims.Sub != users[name].UserID {
				t.Fatalf("%s's access token of the original: %+v, %v", name, p.Claims, err)
			}
		}
		for _, name := range []string{"carol", "gina"} {
			v, err := svc.VerifyEmail(ctx, users[name].Verification.Token, auth.Client{})
			if err != nil || v.Session == nil || v.Session.User.ID != users[name].UserID {
				t.Fatalf("%s's verification link of the original: %+v, %v", name, v, err)
			}
			if _, err := svc.VerifyEmail(ctx, users[name].Verification.Token, auth.Client{}); err == nil {
				t.Fatalf("%s's verification link worked twice", name)
			}
		}
	})

	t.Run("signing key", func(t *testing.T) {
		r := getJSON(t, base+"/api/auth/jwks")
		keys, _ := r.JSON["keys"].([]any)
		want := f.JWKS.Keys[0]
		for _, k := range keys {
			if jstr(k, "kid") == want["kid"] && jstr(k, "x") == want["x"] && jstr(k, "kty") == "OKP" && jstr(k, "crv") == "Ed25519" {
				return
			}
		}
		t.Fatalf("the original's key %v is not published: %s", want["kid"], r)
	})

	t.Run("both doors", func(t *testing.T) {
		erinSessions := queryIntOn(t, pool, `SELECT count(*) FROM auth.sessions WHERE user_id = $1`, users["erin"].UserID)
		for _, c := range []struct {
			name, email   string
			login, native int
		}{
			{"alice", users["alice"].Email, 200, 200},
			{"bob", users["bob"].LoginEmail, 200, 200},
			{"dave", users["dave"].Email, 200, 200},
			{"frank", users["frank"].Email, 200, 200},
			{"carol", users["carol"].Email, 200, 200}, // verified by her link above
			{"erin", users["erin"].Email, 403, 200},
		} {
			body := map[string]string{"email": c.email, "password": users[c.name].Password}
			r := postJSON(t, base+"/api/v1/auth/login", body)
			expectStatus(t, r, c.login)
			if c.login == 200 && (jstr(r.JSON, "accessToken") == "" || jstr(r.JSON, "user", "id") != users[c.name].UserID) {
				t.Fatalf("%s /login: %s", c.name, r)
			}
			r = postJSON(t, base+"/api/auth/sign-in/email", body, origin...)
			expectStatus(t, r, c.native)
			if c.name == "erin" {
				if r.JSON["twoFactorRedirect"] != true || len(r.Header.Values("Set-Cookie")) != 0 {
					t.Fatalf("erin (two-factor) through the browser door: %s %v", r, r.Header)
				}
				continue
			}
			if !strings.Contains(r.Header.Get("Set-Cookie"), "mana.session_token=") {
				t.Fatalf("%s sign-in set no cookie: %v", c.name, r.Header)
			}
		}
		if n := queryIntOn(t, pool, `SELECT count(*) FROM auth.sessions WHERE user_id = $1`, users["erin"].UserID); n != erinSessions {
			t.Fatalf("erin (two-factor) got %d sessions from her password", n-erinSessions)
		}
	})

	t.Run("cookies", func(t *testing.T) {
		for _, c := range []struct {
			name, cookie string
			live         bool
		}{
			{"alice", users["alice"].Cookie, true},
			{"bob (don't remember)", users["bob"].Cookie + "; " + users["bob"].DontRememberCookie, true},
			{"frank (logged out)", users["frank"].Cookie, false},
		} {
			r := getJSON(t, base+"/api/v1/auth/session", "Cookie", c.cookie)
			expectStatus(t, r, http.StatusOK)
			if got := r.JSON != nil; got != c.live {
				t.Fatalf("%s's cookie of the original: live %v, want %v: %s", c.name, got, c.live, r)
			}
		}
		r := getJSON(t, base+"/api/auth/get-session", "Cookie", users["alice"].Cookie)
		if jstr(r.JSON, "user", "id") != users["alice"].UserID || !isValid(validate(t, base, r.Header.Get("set-auth-jwt"))) {
			t.Fatalf("get-session with alice's cookie: %s", r)
		}
	})

	t.Run("refresh tokens", func(t *testing.T) {
		for _, name := range []string{"alice", "bob"} {
			body := map[string]string{"refreshToken": users[name].RefreshToken}
			r := postJSON(t, base+"/api/v1/auth/refresh", body)
			expectStatus(t, r, http.StatusOK)
			next := jstr(r.JSON, "refreshToken")
			if next == "" || next == users[name].RefreshToken || jstr(r.JSON, "accessToken") == "" {
				t.Fatalf("%s's refresh token of the original: %s", name, r)
			}
			expectStatus(t, postJSON(t, base+"/api/v1/auth/refresh", map[string]string{"refreshToken": next}), http.StatusOK)
			expectStatus(t, postJSON(t, base+"/api/v1/auth/refresh", body), http.StatusUnauthorized)
		}
		expectStatus(t, postJSON(t, base+"/api/v1/auth/refresh", map[string]string{"refreshToken": users["frank"].RefreshToken}),
			http.StatusUnauthorized)
	})

	t.Run("vault", func(t *testing.T) {
		s := postJSON(t, base+"/api/v1/auth/login", map[string]string{"email": users["alice"].Email, "password": users["alice"].Password})
		r := getJSON(t, base+"/api/v1/me/encryption-vault/key", bearer(jstr(s.JSON, "accessToken"))...)
		expectStatus(t, r, http.StatusOK)
		if jstr(r.JSON, "masterKey") != users["alice"].MasterKey {
			t.Fatalf("alice's master key: %s, want %s", jstr(r.JSON, "masterKey"), users["alice"].MasterKey)
		}
	})

	t.Run("reset link", func(t *testing.T) {
		dave := users["dave"]
		link, err := url.Parse(dave.Reset.Link)
		if err != nil {
			t.Fatal(err)
		}
		r := do(t, http.MethodGet, base+link.RequestURI(), nil)
		loc, _ := url.Parse(r.Header.Get("Location"))
		if r.Status != http.StatusFound || loc == nil || loc.Query().Get("token") != dave.Reset.Token {
			t.Fatalf("dave's reset link of the original: %s (Location %q)", r, r.Header.Get("Location"))
		}
		const newPassword = "Dave-New-Passw0rd-2026"
		expectStatus(t, postJSON(t, base+"/api/v1/auth/reset-password", map[string]string{"token": dave.Reset.Token, "newPassword": newPassword}), http.StatusOK)
		expectStatus(t, postJSON(t, base+"/api/v1/auth/login", map[string]string{"email": dave.Email, "password": newPassword}), http.StatusOK)
		expectStatus(t, postJSON(t, base+"/api/v1/auth/reset-password", map[string]string{"token": dave.Reset.Token, "newPassword": newPassword + "x"}),
			http.StatusBadRequest)
	})

	t.Run("spaces", func(t *testing.T) {
		for name, spaces := range f.Spaces {
			var slug, role string
			err := pool.QueryRow(context.Background(), `SELECT o.slug, m.role FROM auth.members m JOIN auth.organizations o ON o.id = m.organization_id
				WHERE m.user_id = $1 AND o.metadata ->> 'type' = 'personal'`, users[name].UserID).Scan(&slug, &role)
			if err != nil || slug != spaces[0].Slug || role != "owner" {
				t.Fatalf("%s's personal Space: %q %q %v, want %q owner", name, slug, role, err, spaces[0].Slug)
			}
		}
		// A new user whose address's local part is taken gets the next slug.
		u := register(t, base, "alice@another.example")
		var slug string
		if err := pool.QueryRow(context.Background(), `SELECT o.slug FROM auth.members m JOIN auth.organizations o ON o.id = m.organization_id
			WHERE m.user_id = $1`, u.ID).Scan(&slug); err != nil || slug != "alice-2" {
			t.Fatalf("new user's Space slug %q, %v; want alice-2", slug, err)
		}
	})
}

// pinnedService is mana-auth's service on database with its clock at now.
func pinnedService(t *testing.T, f fixture, database string, now time.Time) *auth.Service {
	t.Helper()
	pool := connectTo(t, database)
	jobs, err := river.NewClient(riverpgxv5.New(pool), &river.Config{Schema: pg.RiverSchema})
	if err != nil {
		t.Fatal(err)
	}
	key, err := config.DecodeKEK(f.KEK)
	if err != nil {
		t.Fatal(err)
	}
	ring, err := kek.NewRing(key)
	if err != nil {
		t.Fatal(err)
	}
	store := pg.NewAuthStore(pool, jobs)
	clock := func() time.Time { return now }
	tokens, err := token.NewIssuer(context.Background(), token.Config{Store: store, Ring: ring, Issuer: f.BaseURL, Audience: "mana",
		BetterAuthSecret: f.BetterAuthSecret, Log: discardLogger(), Now: clock})
	if err != nil {
		t.Fatalf("token issuer on the original's keys: %v", err)
	}
	return auth.NewService(auth.Config{Store: store, Hasher: password.NewHasher(password.OWASP, 1), Tokens: tokens,
		BaseURL: f.BaseURL, Callbacks: auth.NewCallbackPolicy(f.BaseURL), LegacySecret: f.BetterAuthSecret, Now: clock, Log: discardLogger()})
}

func queryIntOn(t *testing.T, pool *pgxpool.Pool, q string, args ...any) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// runMana runs an operator command of the binary with exactly env (and
// PATH) and returns its combined output.
func runMana(t *testing.T, env []string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, manaBinary(t), args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestCutoverCommands: on the original's database mana starts in the
// rollback window (/health says so); `mana cutover status` counts the rows
// per format and calls the window rollback-safe; `mana kek rotate` is
// refused; `mana cutover finalize` runs while mana serves, ends the window
// and moves every row, and users keep signing in, their cookies stay live
// and their vault keys are the same; a second finalize has nothing to do.
// Tables the old deploy step drops (the cut-over state, the audit seals)
// are recreated by `mana migrate`; the audit chain verifies on the
// original's events.
//
// Negative controls: with the window check removed from RotateKEK the
// refusal check fails (rotate succeeds); without the seals' entry in
// pg.recreatedTable the cascade stays after `mana migrate` (run: fails at
// "the events' foreign key after migrate").
func TestCutoverCommands(t *testing.T) {
	f := loadFixture(t)
	database := legacyDatabase(t, f)
	env := serveEnv(database, t.TempDir(), freePort(t), "BASE_URL="+f.BaseURL, "BETTER_AUTH_SECRET="+f.BetterAuthSecret,
		"MANA_AUTH_KEK="+f.KEK, "CORS_ORIGINS="+f.TrustedOrigin, "MANA_RATE_LIMITS=off")
	srv := startServe(t, env...)
	base, alice := srv.URL, f.Users["alice"]
	if r := getJSON(t, base+"/health"); jstr(r.JSON, "cutover") != "window" {
		t.Fatalf("/health on the original's database: %s", r)
	}
	// A registration in the window, so a row written by mana is counted too.
	register(t, base, "window-user@another.example")

	status, err := runMana(t, env, "cutover", "status")
	if err != nil || !strings.Contains(status, "state: window") || !strings.Contains(status, "rollback-safe: yes") ||
		!strings.Contains(status, "argon2id, 0 scrypt wrapped") {
		t.Fatalf("cutover status in the window (%v):\n%s", err, status)
	}
	t.Logf("mana cutover status (window):\n%s", status)
	if out, err := runMana(t, env, "kek", "rotate"); err == nil || !strings.Contains(out, "rollback window is open") {
		t.Fatalf("kek rotate in the window: want a refusal, got %v:\n%s", err, out)
	}

	out, err := runMana(t, env, "cutover", "finalize")
	if err != nil || !strings.Contains(out, "rollback window is closed") || !strings.Contains(out, "rollback-safe: no") {
		t.Fatalf("cutover finalize (%v):\n%s", err, out)
	}
	t.Logf("mana cutover finalize:\n%s", out)
	if r := getJSON(t, base+"/health"); jstr(r.JSON, "cutover") != "finalized" {
		t.Fatalf("/health after finalize: %s", r)
	}
	for i := 0; i < 2; i++ { // wrapped hash, then the argon2id it was upgraded to
		r := postJSON(t, base+"/api/v1/auth/login", map[string]string{"email": alice.Email, "password": alice.Password})
		expectStatus(t, r, http.StatusOK)
		key := getJSON(t, base+"/api/v1/me/encryption-vault/key", bearer(jstr(r.JSON, "accessToken"))...)
		if jstr(key.JSON, "masterKey") != alice.MasterKey {
			t.Fatalf("alice's master key after finalize: %s", key)
		}
	}
	if r := getJSON(t, base+"/api/v1/auth/session", "Cookie", alice.Cookie); jstr(r.JSON, "user", "id") != alice.UserID {
		t.Fatalf("alice's cookie after finalize (token now stored hashed): %s", r)
	}
	again, err := runMana(t, env, "cutover", "finalize")
	if err != nil || !strings.Contains(again, "already closed") || !strings.Contains(again, "0 passwords wrapped") {
		t.Fatalf("second finalize (%v):\n%s", err, again)
	}
	status, err = runMana(t, env, "cutover", "status")
	if err != nil || !strings.Contains(status, "state: finalized") || !strings.Contains(status, "0 tokens stored as themselves") {
		t.Fatalf("cutover status after finalize (%v):\n%s", err, status)
	}
	t.Logf("mana cutover status (finalized):\n%s", status)

	// The old deploy step drops tables it does not know: mana recreates the
	// state, here finalized (no old formats are left).
	if _, err := connectTo(t, database).Exec(context.Background(), `DROP TABLE auth.mana_cutover`); err != nil {
		t.Fatal(err)
	}
	if out, err := runMana(t, env, "migrate"); err != nil {
		t.Fatalf("migrate after the state table was dropped (%v):\n%s", err, out)
	}
	if status, err := runMana(t, env, "cutover", "status"); err != nil || !strings.Contains(status, "state: finalized") {
		t.Fatalf("status after the state table was recreated (%v):\n%s", err, status)
	}

	// The audit chain (F19) covers the original's events (jsonb metadata it
	// wrote): `mana audit seal` and `verify`. The old deploy step would drop
	// the seals and re-add the events' cascade; `mana migrate` puts both
	// back as mana wants them and the chain starts afresh.
	auditOK := func(when string) {
		t.Helper()
		if out, err := runMana(t, env, "audit", "seal"); err != nil || !strings.HasPrefix(out, "audit seal: sealed") {
			t.Fatalf("mana audit seal %s (%v):\n%s", when, err, out)
		}
		out, err := runMana(t, env, "audit", "verify")
		if err != nil || !strings.HasSuffix(out, "ok\n") || strings.HasPrefix(out, "sealed: 0\n") {
			t.Fatalf("mana audit verify %s (%v):\n%s", when, err, out)
		}
	}
	auditOK("on the taken-over database")
	pool := connectTo(t, database)
	if _, err := pool.Exec(context.Background(), `DROP TABLE auth.security_event_seals;
		ALTER TABLE auth.security_events ADD CONSTRAINT security_events_user_id_users_id_fk
			FOREIGN KEY (user_id) REFERENCES auth.users (id) ON DELETE CASCADE`); err != nil {
		t.Fatal(err)
	}
	if out, err := runMana(t, env, "migrate"); err != nil {
		t.Fatalf("migrate after the seals were dropped (%v):\n%s", err, out)
	}
	var cascade bool
	if err := pool.QueryRow(context.Background(), `SELECT EXISTS (SELECT 1 FROM pg_constraint
		WHERE conname = 'security_events_user_id_users_id_fk')`).Scan(&cascade); err != nil || cascade {
		t.Fatalf("the events' foreign key after migrate: %v, %v; want it dropped again", cascade, err)
	}
	auditOK("after the seals were recreated")
}

// TestJWKSCommands (audit F16): `mana jwks rotate` adds a key, `mana jwks
// retire` refuses the last key that can sign, retires the old one once the
// new one signs (audited), and both are refused on a database in the
// cut-over's rollback window.
// Negative control: withIssuer without refuseInWindow lets the rotate on
// the original's database through.
func TestJWKSCommands(t *testing.T) {
	database := freshDatabase(t)
	env := serveEnv(database, t.TempDir(), freePort(t), "MANA_AUTH_KEK="+os.Getenv("TEST_KEK"))
	startServe(t, env...).stop(t) // migrated, with its first signing key
	pool := connectTo(t, database)
	var first string
	if err := pool.QueryRow(context.Background(), `SELECT id FROM auth.jwks`).Scan(&first); err != nil {
		t.Fatal(err)
	}
	if out, err := runMana(t, env, "jwks", "retire", first); err == nil || !strings.Contains(out, "last key that can sign") {
		t.Fatalf("retire the only key (%v):\n%s", err, out)
	}
	if out, err := runMana(t, env, "jwks", "rotate", "-prepublish", "0s"); err != nil || !strings.Contains(out, "published now") {
		t.Fatalf("rotate (%v):\n%s", err, out)
	}
	if out, err := runMana(t, env, "jwks", "retire", first, "-grace", "1m"); err != nil || !strings.Contains(out, "signs no more") {
		t.Fatalf("retire the old key (%v):\n%s", err, out)
	}
	var retired, events int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FILTER (WHERE not_after IS NOT NULL),
		(SELECT count(*) FROM auth.security_events WHERE event_type = 'SIGNING_KEY_RETIRED') FROM auth.jwks`).Scan(&retired, &events); err != nil ||
		retired != 1 || events != 1 {
		t.Fatalf("after retire: %d retired keys, %d events, %v; want 1 and 1", retired, events, err)
	}

	f := loadFixture(t)
	legacy := serveEnv(legacyDatabase(t, f), t.TempDir(), freePort(t), "BETTER_AUTH_SECRET="+f.BetterAuthSecret, "MANA_AUTH_KEK="+f.KEK)
	runMana(t, legacy, "migrate") //nolint:errcheck // checked through the next command's answer
	if out, err := runMana(t, legacy, "jwks", "rotate"); err == nil || !strings.Contains(out, "rollback window is open") {
		t.Fatalf("rotate in the rollback window (%v):\n%s", err, out)
	}
}
