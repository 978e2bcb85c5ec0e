//go:build integration

package integration

import (
	"context"
	"crypto/sha256"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"testing"
	"time"
)

// Helpers of the account-lifecycle tests (issue 6).

const (
	resetSubject   = "Passwort zurücksetzen — Mana"
	changedSubject = "Passwort geändert — Mana"
	deletedSubject = "Konto gelöscht — Mana"
	// newPassword passes the policy (not common, not the email).
	newPassword = "Another-Secret-Passphrase-7"
)

// loginAs logs in with an explicit User-Agent so that tests can tell
// sessions apart and find the agent string in the database later.
func loginAs(t testing.TB, base string, u user, ua string) session {
	t.Helper()
	r := do(t, http.MethodPost, base+"/api/v1/auth/login", map[string]any{"email": u.Email, "password": u.Password}, "User-Agent", ua)
	expectStatus(t, r, http.StatusOK)
	return session{AccessToken: jstr(r.JSON, "accessToken"), RefreshToken: jstr(r.JSON, "refreshToken"), Body: r}
}

// withBearer returns header pairs with the bearer token and more pairs.
func withBearer(token string, more ...string) []string { return append(bearer(token), more...) }

// sessionLive reports whether a session's access token validates on both
// replicas and is admitted by /me/data.
func requireSessionLive(t testing.TB, what string, s session) {
	t.Helper()
	for _, base := range []string{authURL, auth2URL} {
		if r := validate(t, base, s.AccessToken); !isValid(r) {
			t.Fatalf("%s: access token refused on %s, want valid: %s", what, base, r)
		}
	}
	if r := getJSON(t, authURL+"/api/v1/me/data", bearer(s.AccessToken)...); r.Status != http.StatusOK {
		t.Fatalf("%s: /me/data = %s, want 200", what, r)
	}
}

// requireSessionDead asserts that a session's access token no longer
// validates on either replica, /me/data refuses it, and its refresh token
// cannot be used.
// revocationLag is the stack's MANA_REVOCATION_MAX_LAG (the default).
const revocationLag = time.Second

// refusedOnOtherReplica polls auth2 until it refuses the access token, on
// /validate and /me/data, within the revocation lag (plus a margin).
func refusedOnOtherReplica(t testing.TB, what, access string) {
	t.Helper()
	eventually(t, revocationLag+time.Second, what+": the access token refused on "+auth2URL, func() bool {
		return !isValid(validate(t, auth2URL, access)) &&
			getJSON(t, auth2URL+"/api/v1/me/data", bearer(access)...).Status == http.StatusUnauthorized
	})
}

func requireSessionDead(t testing.TB, what string, s session) {
	t.Helper()
	// The replica that revoked (the tests revoke through authURL) refuses
	// at once; another one within the revocation feed's lag
	// (MANA_REVOCATION_MAX_LAG, 1 s on the stack), polled with a margin.
	if r := validate(t, authURL, s.AccessToken); isValid(r) {
		t.Fatalf("%s: access token still valid on %s: %s", what, authURL, r)
	}
	refusedOnOtherReplica(t, what, s.AccessToken)
	if r := getJSON(t, authURL+"/api/v1/me/data", bearer(s.AccessToken)...); r.Status != http.StatusUnauthorized {
		t.Fatalf("%s: /me/data = %s, want 401", what, r)
	}
	if r := postJSON(t, authURL+"/api/v1/auth/refresh", map[string]any{"refreshToken": s.RefreshToken}); r.Status != http.StatusUnauthorized {
		t.Fatalf("%s: refresh = %s, want 401", what, r)
	}
}

// waitForSubject polls Mailpit until a message to `to` with the subject
// exists and returns the newest such message.
func waitForSubject(t testing.TB, to, subject string, timeout time.Duration) mail {
	t.Helper()
	deadline := time.Now().Add(timeout)
	q := url.Values{"query": {fmt.Sprintf("to:%q subject:%q", to, subject)}}
	for {
		r, err := tryDo(http.MethodGet, mailpitURL+"/api/v1/search?"+q.Encode(), nil)
		if err == nil && r.Status == http.StatusOK {
			msgs, _ := r.JSON["messages"].([]any)
			for _, m := range msgs {
				if jstr(m, "Subject") == subject {
					id := jstr(m, "ID")
					full := getJSON(t, mailpitURL+"/api/v1/message/"+url.PathEscape(id))
					expectStatus(t, full, http.StatusOK)
					return mail{ID: id, Subject: subject, HTML: jstr(full.JSON, "HTML"), Text: jstr(full.JSON, "Text")}
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no mail %q to %s within %s (last answer %v, err %v)", subject, to, timeout, r, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// countSubjectJobs counts outbox jobs to an address with a subject.
func countSubjectJobs(t testing.TB, to, subject string) int {
	t.Helper()
	return queryInt(t, `SELECT count(*) FROM river.river_job WHERE kind = 'auth_mail' AND args->>'to' = $1 AND args->>'subject' = $2`, to, subject)
}

var resetURLRe = regexp.MustCompile(`https?://[^\s"'<>]+/api/auth/reset-password/[^\s"'<>]+`)

// resetLinkFrom extracts the reset link of a reset mail (HTML-unescaped).
func resetLinkFrom(t testing.TB, m mail) string {
	t.Helper()
	raw := resetURLRe.FindString(m.HTML)
	if raw == "" {
		t.Fatalf("no reset-password link in mail %s: %q", m.ID, m.HTML)
	}
	return html.UnescapeString(raw)
}

// requestReset posts /forgot-password and returns the link of the mail that
// arrives (the n-th reset mail to the address).
func requestReset(t testing.TB, email, redirectTo string) string {
	t.Helper()
	before := countSubjectJobs(t, email, resetSubject)
	r := postJSON(t, authURL+"/api/v1/auth/forgot-password", map[string]any{"email": email, "redirectTo": redirectTo})
	expectSuccess(t, "forgot-password", r)
	requestsSettled(t, email)
	if got := countSubjectJobs(t, email, resetSubject); got != before+1 {
		t.Fatalf("forgot-password: reset mail jobs = %d once the request was decided, want %d", got, before+1)
	}
	m := waitForSubject(t, email, resetSubject, 30*time.Second)
	return resetLinkFrom(t, m)
}

// followReset GETs a reset link and returns the redirect target.
func followReset(t testing.TB, link string) *url.URL {
	t.Helper()
	r := getJSON(t, link)
	expectStatus(t, r, http.StatusFound)
	loc, err := url.Parse(r.Header.Get("Location"))
	if err != nil {
		t.Fatalf("reset link redirect: bad Location %q: %v", r.Header.Get("Location"), err)
	}
	return loc
}

// tokenOf returns the reset token in a link's path.
func tokenOf(t testing.TB, link string) string {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	const prefix = "/api/auth/reset-password/"
	if len(u.Path) <= len(prefix) {
		t.Fatalf("reset link without token: %s", link)
	}
	return u.Path[len(prefix):]
}

// sha256Of is how link tokens are stored.
func sha256Of(s string) []byte {
	sum := sha256.Sum256([]byte(s))
	return sum[:]
}

func resetPassword(t testing.TB, token, pw string) *response {
	t.Helper()
	return postJSON(t, authURL+"/api/v1/auth/reset-password", map[string]any{"token": token, "newPassword": pw})
}

func execSQL(t testing.TB, sql string, args ...any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := db.Exec(ctx, sql, args...); err != nil {
		t.Fatalf("exec %q %v: %v", sql, args, err)
	}
}

func queryString(t testing.TB, sql string, args ...any) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var s string
	if err := db.QueryRow(ctx, sql, args...).Scan(&s); err != nil {
		t.Fatalf("query %q %v: %v", sql, args, err)
	}
	return s
}

// expectSuccess asserts 200 {"success":true, …}.
func expectSuccess(t testing.TB, what string, r *response) {
	t.Helper()
	expectStatus(t, r, http.StatusOK)
	if r.JSON["success"] != true {
		t.Fatalf("%s: want {success:true}, got %s", what, r)
	}
}
