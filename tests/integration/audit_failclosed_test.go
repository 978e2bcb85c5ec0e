//go:build integration

package integration

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"
)

// Failure injection with the real database: a trigger, scoped to one test's
// e-mail address through public.it_sabotage, makes one table refuse writes.
// Nothing is mocked; the service sees a genuine Postgres error.
var sabotageOnce sync.Once

func installSabotage(t *testing.T) {
	t.Helper()
	sabotageOnce.Do(func() {
		ctx := context.Background()
		for _, stmt := range []string{
			`CREATE TABLE IF NOT EXISTS public.it_sabotage (email text NOT NULL, target text NOT NULL)`,
			`CREATE OR REPLACE FUNCTION public.it_sabotage_events() RETURNS trigger LANGUAGE plpgsql AS $$
			 BEGIN
			   IF EXISTS (SELECT 1 FROM public.it_sabotage s WHERE s.target = 'events' AND (
			        s.email = NEW.metadata->>'email' OR
			        s.email = (SELECT u.email FROM auth.users u WHERE u.id = NEW.user_id))) THEN
			     RAISE EXCEPTION 'integration test: security_events write refused';
			   END IF;
			   RETURN NEW;
			 END $$`,
			`CREATE OR REPLACE FUNCTION public.it_sabotage_attempts() RETURNS trigger LANGUAGE plpgsql AS $$
			 BEGIN
			   IF EXISTS (SELECT 1 FROM public.it_sabotage s WHERE s.target = 'attempts' AND s.email = NEW.email) THEN
			     RAISE EXCEPTION 'integration test: login_attempts write refused';
			   END IF;
			   RETURN NEW;
			 END $$`,
			`DROP TRIGGER IF EXISTS it_sabotage ON auth.security_events`,
			`CREATE TRIGGER it_sabotage BEFORE INSERT ON auth.security_events FOR EACH ROW EXECUTE FUNCTION public.it_sabotage_events()`,
			`DROP TRIGGER IF EXISTS it_sabotage ON auth.login_attempts`,
			`CREATE TRIGGER it_sabotage BEFORE INSERT ON auth.login_attempts FOR EACH ROW EXECUTE FUNCTION public.it_sabotage_attempts()`,
		} {
			if _, err := db.Exec(ctx, stmt); err != nil {
				t.Fatalf("install sabotage: %v\n%s", err, stmt)
			}
		}
	})
}

func sabotage(t *testing.T, email, target string) {
	t.Helper()
	installSabotage(t)
	if _, err := db.Exec(context.Background(), `INSERT INTO public.it_sabotage (email, target) VALUES ($1, $2)`, email, target); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := db.Exec(context.Background(), `DELETE FROM public.it_sabotage WHERE email = $1`, email); err != nil {
			t.Errorf("remove sabotage: %v", err)
		}
	})
}

// Guard: the LOGIN_FAILURE event and the login_attempts row commit together,
// and a failed audit write fails the request (fail closed).
// Negative control: ignoring the error of tx.InsertEvent in
// auth.Service.recordFailure turns this 503 into a 401 with an attempt row
// but no audit row — the old service's "audit rows vanished" bug.
func TestAuditWriteFailureFailsLogin(t *testing.T) {
	u := verifiedUser(t, "audit-fail")
	sabotage(t, u.Email, "events")

	r := login(t, authURL, u.Email, "definitely-not-the-password")
	expectStatus(t, r, http.StatusServiceUnavailable)
	if code := jstr(r.JSON, "code"); code != "SERVICE_UNAVAILABLE" {
		t.Fatalf("code = %q, want SERVICE_UNAVAILABLE: %s", code, r)
	}
	if _, ok := r.JSON["accessToken"]; ok {
		t.Fatalf("a failed audit write still produced a token: %s", r)
	}
	if n := countFailedAttempts(t, u.Email); n != 0 {
		t.Fatalf("login_attempts rows = %d, want 0: the attempt committed without its audit row", n)
	}
}

// Guard: a login attempt that cannot be recorded is never answered 401 (the
// old service swallowed the INSERT error and lockout never triggered).
// Negative control: ignoring the error of tx.InsertFailedAttempt makes this
// answer 401 with a LOGIN_FAILURE row and no attempt — lockout silently off.
func TestAttemptWriteFailureFailsClosed(t *testing.T) {
	u := verifiedUser(t, "attempt-fail")
	sabotage(t, u.Email, "attempts")

	r := login(t, authURL, u.Email, "definitely-not-the-password")
	expectStatus(t, r, http.StatusServiceUnavailable)
	if n := countEventsFor(t, u.ID, u.Email, "LOGIN_FAILURE"); n != 0 {
		t.Fatalf("LOGIN_FAILURE rows = %d, want 0 (rolled back with the attempt)", n)
	}
	// The correct password still works once the table accepts writes again:
	// the failure was not counted.
	if _, err := db.Exec(context.Background(), `DELETE FROM public.it_sabotage WHERE email = $1`, u.Email); err != nil {
		t.Fatal(err)
	}
	loginOK(t, authURL, u)
}

// Guard: registration, its REGISTER event and its outbox mail commit together,
// and a failed write answers 503 SERVICE_UNAVAILABLE like every other route
// whose store or audit write fails (not a 500 "unexpected error").
// Negative controls: ignoring the error of the REGISTER InsertEvent in
// auth.Service.Register answers 200 with a user, a mail job and no audit row;
// wrapping the transaction's error without auth.ErrUnavailable answers 500 INTERNAL.
func TestRegisterAuditFailureWritesNothing(t *testing.T) {
	email := uniqueEmail("register-audit-fail")
	sabotage(t, email, "events")

	r := postJSON(t, authURL+"/api/v1/auth/register", map[string]any{"email": email, "password": testPassword, "name": "X"})
	if r.Status != http.StatusServiceUnavailable || jstr(r.JSON, "code") != "SERVICE_UNAVAILABLE" {
		t.Fatalf("register with a failing audit write: want 503 SERVICE_UNAVAILABLE, got %s", r)
	}
	if n := queryInt(t, `SELECT count(*) FROM auth.users WHERE email = $1`, email); n != 0 {
		t.Fatalf("users rows = %d, want 0", n)
	}
	if n := countMailJobs(t, email); n != 0 {
		t.Fatalf("mail jobs = %d, want 0", n)
	}
}

// Guard: a verification link whose EMAIL_VERIFIED event cannot be written
// answers 503 SERVICE_UNAVAILABLE (not a redirect, not a 500), leaves the
// account unverified and the link unused: it works once writes work again.
// Negative control: wrapping the transaction's error in auth.Service.VerifyEmail
// without auth.ErrUnavailable answers 500 INTERNAL and this test fails.
func TestVerifyEmailAuditFailureIs503(t *testing.T) {
	u := register(t, authURL, uniqueEmail("verify-audit-fail"))
	link := verifyURL(t, waitForMail(t, u.Email, 1, 30*time.Second))
	sabotage(t, u.Email, "events")

	r := getJSON(t, link)
	if r.Status != http.StatusServiceUnavailable || jstr(r.JSON, "code") != "SERVICE_UNAVAILABLE" {
		t.Fatalf("verify link with a failing audit write: want 503 SERVICE_UNAVAILABLE, got %s", r)
	}
	if emailVerified(t, u.ID) {
		t.Fatal("the email was marked verified although its audit row was refused")
	}
	if _, err := db.Exec(context.Background(), `DELETE FROM public.it_sabotage WHERE email = $1`, u.Email); err != nil {
		t.Fatal(err)
	}
	expectStatus(t, getJSON(t, link), http.StatusFound)
	if !emailVerified(t, u.ID) {
		t.Fatal("the link did not verify once the audit write worked again")
	}
}
