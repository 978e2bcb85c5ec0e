//go:build integration

package integration

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestHappyPath: register → mail → verify link → login → validate → /me/data →
// logout → token refused on both replicas.
//
// Guards and their negative controls:
//   - REGISTER / EMAIL_VERIFIED / LOGIN_SUCCESS / LOGOUT audit rows written in the
//     request's transaction (seed §3.6.3: inserts used to crash silently). Remove
//     an audit write, or make it asynchronous, and the exact-count assertion fails.
//   - Durable mail: exactly one auth_mail job is committed with the registration.
//     Send the mail outside the transaction (or not at all) and the job count is 0.
//   - Logout revokes the session (design §5.5): drop the revocation and
//     /validate keeps answering valid:true and /me/data 200 — on the replica
//     that did the logout or, with a per-process cache and no invalidation path,
//     on the other replica (auth2 validated the token before the logout;
//     it refuses within the revocation lag, polled).
func TestHappyPath(t *testing.T) {
	email := uniqueEmail("flow")
	u := register(t, authURL, email)

	if n := countEvents(t, u.ID, "REGISTER"); n != 1 {
		t.Fatalf("REGISTER events for %s = %d, want 1", u.ID, n)
	}
	if n := countMailJobs(t, email); n != 1 {
		t.Fatalf("auth_mail jobs for %s right after register = %d, want 1", email, n)
	}
	// The body (with the link) is sealed under the KEK, never in clear (audit F3).
	var subject, htmlBody, sealed, externalID string
	if err := db.QueryRow(context.Background(), `SELECT args->>'subject', coalesce(args->>'html', ''), coalesce(args->>'sealed', ''),
		args->>'external_id' FROM river.river_job WHERE kind = 'auth_mail' AND args->>'to' = $1`, email).Scan(&subject, &htmlBody, &sealed, &externalID); err != nil {
		t.Fatalf("read auth_mail job args: %v", err)
	}
	if subject == "" || htmlBody != "" || sealed == "" || externalID == "" {
		t.Fatalf("auth_mail job args: subject=%q external_id=%q html=%d bytes sealed=%d bytes; want the body sealed only",
			subject, externalID, len(htmlBody), len(sealed))
	}

	m := waitForMail(t, email, 1, 30*time.Second)
	if m.Subject != "E-Mail bestätigen — Mana" {
		t.Errorf("mail subject = %q, want %q", m.Subject, "E-Mail bestätigen — Mana")
	}
	if m.HTML == "" {
		t.Fatal("verification mail has an empty HTML body")
	}
	link := verifyURL(t, m)
	// BASE_URL of the stack's auth is authURL itself.
	if !strings.HasPrefix(link, authURL+"/api/auth/verify-email?token=") || !strings.HasSuffix(link, "&callbackURL=%2F") {
		t.Fatalf("verify link %q: want %s/api/auth/verify-email?token=<t>&callbackURL=%%2F", link, authURL)
	}

	r := getJSON(t, link)
	expectStatus(t, r, http.StatusFound)
	loc, err := url.Parse(r.Header.Get("Location"))
	if err != nil || loc.Path != "/" || loc.Query().Get("error") != "" {
		t.Fatalf("verify: Location = %q, want a redirect to / without error", r.Header.Get("Location"))
	}
	if !emailVerified(t, u.ID) {
		t.Fatal("email_verified is still false after following the verify link")
	}
	if n := countEvents(t, u.ID, "EMAIL_VERIFIED"); n != 1 {
		t.Fatalf("EMAIL_VERIFIED events = %d, want 1", n)
	}

	s := loginOK(t, authURL, u)
	// Two: following the link signed the user in (as the old service did),
	// then the login.
	if n := countEvents(t, u.ID, "LOGIN_SUCCESS"); n != 2 {
		t.Fatalf("LOGIN_SUCCESS events = %d, want 2 (verify link, login)", n)
	}

	for _, base := range []string{authURL, auth2URL} {
		v := validate(t, base, s.AccessToken)
		if !isValid(v) {
			t.Fatalf("validate on %s: want valid:true, got %s", base, v)
		}
		p := v.JSON["payload"]
		if jstr(p, "sub") != u.ID || jstr(p, "email") != email {
			t.Fatalf("validate payload sub/email = %q/%q, want %q/%q: %s", jstr(p, "sub"), jstr(p, "email"), u.ID, email, v)
		}
		if jstr(p, "iss") != authURL || !audIs(jget(p, "aud"), "mana") {
			t.Errorf("validate payload iss/aud = %v/%v, want %s/mana", jget(p, "iss"), jget(p, "aud"), authURL)
		}
		if jstr(p, "sid") == "" || jstr(p, "jti") == "" || jstr(p, "role") == "" || jstr(p, "tier") == "" {
			t.Errorf("validate payload lacks sid/jti/role/tier: %s", v)
		}
		if iat, exp := jnum(p, "iat"), jnum(p, "exp"); iat <= 0 || exp <= iat {
			t.Errorf("validate payload iat=%v exp=%v", iat, exp)
		}
	}

	me := getJSON(t, authURL+"/api/v1/me/data", bearer(s.AccessToken)...)
	expectStatus(t, me, http.StatusOK)
	if jstr(me.JSON, "user", "id") != u.ID || jget(me.JSON, "auth") == nil {
		t.Fatalf("/me/data: want user.id %s and an auth section: %s", u.ID, me)
	}

	// The seed's vault steps: /init returns masterKey, formatVersion, kekId;
	// /key returns the same key (on the other replica too).
	initR := postJSON(t, authURL+"/api/v1/me/encryption-vault/init", map[string]any{}, bearer(s.AccessToken)...)
	expectStatus(t, initR, http.StatusOK)
	if jstr(initR.JSON, "masterKey") == "" || jnum(initR.JSON, "formatVersion") != 1 || jstr(initR.JSON, "kekId") == "" {
		t.Fatalf("vault /init: want masterKey, formatVersion 1 and kekId: %s", initR)
	}
	keyR := getJSON(t, auth2URL+"/api/v1/me/encryption-vault/key", bearer(s.AccessToken)...)
	expectStatus(t, keyR, http.StatusOK)
	if jstr(keyR.JSON, "masterKey") != jstr(initR.JSON, "masterKey") {
		t.Fatalf("vault /key returned another key than /init: %s", keyR)
	}

	out := postJSON(t, authURL+"/api/v1/auth/logout", map[string]any{}, bearer(s.AccessToken)...)
	expectStatus(t, out, http.StatusOK)
	if ok, _ := out.JSON["success"].(bool); !ok {
		t.Fatalf("logout: want success:true: %s", out)
	}
	if n := countEvents(t, u.ID, "LOGOUT"); n != 1 {
		t.Fatalf("LOGOUT events = %d, want 1", n)
	}
	// The replica that logged out refuses at once, the other within the
	// revocation feed's lag.
	if v := validate(t, authURL, s.AccessToken); isValid(v) {
		t.Errorf("validate after logout: want valid:false, got %s", v)
	}
	if me := getJSON(t, authURL+"/api/v1/me/data", bearer(s.AccessToken)...); me.Status != http.StatusUnauthorized {
		t.Errorf("/me/data after logout: want 401, got %s", me)
	}
	refusedOnOtherReplica(t, "after logout", s.AccessToken)
	if n := mailCount(t, email); n != 1 {
		t.Errorf("mails to %s = %d, want exactly 1", email, n)
	}
}

func audIs(v any, want string) bool {
	switch a := v.(type) {
	case string:
		return a == want
	case []any:
		return len(a) == 1 && a[0] == want
	}
	return false
}
