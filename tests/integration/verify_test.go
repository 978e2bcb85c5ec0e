//go:build integration

package integration

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestVerifyLinkSingleUse guards single-use verification links (design §5.6;
// the seed's links were stateless JWTs valid for an hour, replayable).
// Negative control: stop consuming the token on use and the second GET
// redirects to / again instead of carrying ?error=INVALID_TOKEN.
func TestVerifyLinkSingleUse(t *testing.T) {
	u := register(t, authURL, uniqueEmail("verify-once"))
	link := verifyURL(t, waitForMail(t, u.Email, 1, 30*time.Second))

	first := getJSON(t, link)
	expectStatus(t, first, http.StatusFound)
	if loc := first.Header.Get("Location"); locationError(t, loc) != "" {
		t.Fatalf("first use: Location %q carries an error", loc)
	}
	if !emailVerified(t, u.ID) {
		t.Fatal("email_verified is false after the first use of the link")
	}

	second := getJSON(t, link)
	expectStatus(t, second, http.StatusFound)
	if loc := second.Header.Get("Location"); locationError(t, loc) != "INVALID_TOKEN" {
		t.Fatalf("second use: Location %q, want ?error=INVALID_TOKEN", loc)
	}
	if n := countEvents(t, u.ID, "EMAIL_VERIFIED"); n != 1 {
		t.Fatalf("EMAIL_VERIFIED events after two uses = %d, want 1", n)
	}
}

// TestVerifyEvilCallback guards the open-redirect check on callbackURL. A
// foreign callbackURL is refused with 403 INVALID_CALLBACK_URL and has no
// effect: the account stays unverified and the link stays usable.
// Negative control: drop the allow-list check and the answer is a 302 to
// https://evil.example/ (and the account is verified by a refused request).
func TestVerifyEvilCallback(t *testing.T) {
	u := register(t, authURL, uniqueEmail("verify-evil"))
	link := verifyURL(t, waitForMail(t, u.Email, 1, 30*time.Second))
	pu, err := url.Parse(link)
	if err != nil {
		t.Fatalf("parse %q: %v", link, err)
	}
	q := pu.Query()
	q.Set("callbackURL", "https://evil.example/")
	pu.RawQuery = q.Encode()

	r := getJSON(t, pu.String())
	expectStatus(t, r, http.StatusForbidden)
	if jstr(r.JSON, "code") != "INVALID_CALLBACK_URL" {
		t.Fatalf("evil callbackURL: want code INVALID_CALLBACK_URL: %s", r)
	}
	if loc := r.Header.Get("Location"); strings.Contains(loc, "evil.example") {
		t.Fatalf("evil callbackURL: Location points to %q", loc)
	}
	if emailVerified(t, u.ID) {
		t.Fatal("a refused verify request verified the account")
	}

	// The refused request must not have burnt the single-use token.
	ok := getJSON(t, link)
	expectStatus(t, ok, http.StatusFound)
	if loc := ok.Header.Get("Location"); locationError(t, loc) != "" {
		t.Fatalf("genuine link after a refused attempt: Location %q carries an error", loc)
	}
	if !emailVerified(t, u.ID) {
		t.Fatal("email_verified is false after following the genuine link")
	}
}

// locationError returns the error query parameter of a redirect target and
// fails when the target is not our own path.
func locationError(t *testing.T, loc string) string {
	t.Helper()
	pu, err := url.Parse(loc)
	if err != nil || loc == "" {
		t.Fatalf("bad Location %q: %v", loc, err)
	}
	if pu.Host != "" && "http://"+pu.Host != authURL {
		t.Fatalf("Location %q leaves the service", loc)
	}
	if pu.Path != "/" {
		t.Fatalf("Location %q: want path /", loc)
	}
	return pu.Query().Get("error")
}
