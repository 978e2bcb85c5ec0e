//go:build integration

package integration

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestResendVerification guards resend-verification: it always answers
// 200 {"success":true} (no account enumeration) and mails only existing,
// unverified accounts. Negative controls: answering differently for unknown
// addresses fails the status/body checks; mailing unknown or verified
// addresses adds an auth_mail job where 0 (or still 1) is expected; not
// mailing at all leaves Mailpit at one message.
func TestResendVerification(t *testing.T) {
	u := register(t, authURL, uniqueEmail("resend"))
	waitForMail(t, u.Email, 1, 30*time.Second)

	resend := func(email string) {
		t.Helper()
		r := postJSON(t, authURL+"/api/v1/auth/resend-verification", map[string]any{"email": email})
		expectStatus(t, r, http.StatusOK)
		if ok, _ := r.JSON["success"].(bool); !ok {
			t.Fatalf("resend-verification %s: want success:true: %s", email, r)
		}
	}

	resend(u.Email)
	second := waitForMail(t, u.Email, 2, 30*time.Second)
	verifyURL(t, second) // the resent mail carries a link too
	if n := mailCount(t, u.Email); n != 2 {
		t.Fatalf("mails after one resend = %d, want 2", n)
	}
	if n := countMailJobs(t, u.Email); n != 2 {
		t.Fatalf("auth_mail jobs after one resend = %d, want 2", n)
	}

	unknown := uniqueEmail("resend-unknown")
	resend(unknown)
	requestsSettled(t, unknown)
	if n := countMailJobs(t, unknown); n != 0 {
		t.Fatalf("resend to an unknown address enqueued %d auth_mail jobs, want 0", n)
	}

	v := verifiedUser(t, "resend-verified")
	resend(v.Email)
	requestsSettled(t, v.Email)
	if n := countMailJobs(t, v.Email); n != 1 {
		t.Fatalf("auth_mail jobs for a verified account after resend = %d, want 1 (the registration's)", n)
	}
}

// TestDuplicateRegistration guards the generic duplicate answer (seed §0.9):
// registering an existing address answers 200 with the same shape and a
// different, fake id, and writes nothing — no user, no REGISTER row, no mail
// job. The job count is checked right after the response because the job is
// written in the request's transaction. Negative controls: answering 409
// leaks which addresses exist; sending mail again gives 2 jobs; writing the
// fake id's REGISTER row (or a second user) fails the counts.
func TestDuplicateRegistration(t *testing.T) {
	email := uniqueEmail("dup")
	first := register(t, authURL, email)

	for _, again := range []string{email, strings.ToUpper(email)} {
		r := postJSON(t, authURL+"/api/v1/auth/register", map[string]any{"email": again, "password": "AnotherPassword456!", "name": "Someone Else"})
		expectStatus(t, r, http.StatusOK)
		fake := jstr(r.JSON, "user", "id")
		if fake == "" || fake == first.ID {
			t.Fatalf("duplicate register as %q: want a different fake user.id, got %q (real %q)", again, fake, first.ID)
		}
		if _, ok := r.JSON["token"]; !ok || r.JSON["token"] != nil {
			t.Fatalf("duplicate register: want token:null: %s", r)
		}
		if v, ok := jget(r.JSON, "user", "emailVerified").(bool); !ok || v {
			t.Fatalf("duplicate register: want user.emailVerified false: %s", r)
		}
		if n := countMailJobs(t, email); n != 1 {
			t.Fatalf("auth_mail jobs for %s after a duplicate register = %d, want 1", email, n)
		}
		if n := countEvents(t, fake, "REGISTER"); n != 0 {
			t.Fatalf("REGISTER events for the fake id = %d, want 0", n)
		}
	}
	if n := countEvents(t, first.ID, "REGISTER"); n != 1 {
		t.Fatalf("REGISTER events for the real id = %d, want 1", n)
	}
	if n := queryInt(t, `SELECT count(*) FROM auth.users WHERE lower(email) = $1`, email); n != 1 {
		t.Fatalf("users with email %s = %d, want 1", email, n)
	}
	// The original password still works; the duplicate attempt changed nothing.
	if _, err := db.Exec(context.Background(), `UPDATE auth.users SET email_verified = true WHERE id = $1`, first.ID); err != nil {
		t.Fatal(err)
	}
	loginOK(t, authURL, first)
}
