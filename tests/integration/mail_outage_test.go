//go:build integration

package integration

import (
	"context"
	"testing"
	"time"
)

// TestMailSurvivesNotifyOutage guards durable mail (design §5.7): a
// registration made while mana-notify is down still gets its verification
// mail once notify is back. The auth_mail job is committed with the
// registration, fails while notify is unreachable, and is retried with
// backoff. Negative controls: send the mail fire-and-forget (the seed's way)
// and there is no job and no mail ever; give up after the failed attempt and
// the mail never arrives after the restart.
func TestMailSurvivesNotifyOutage(t *testing.T) {
	requireStackCtl(t)
	stack(t, "stop", "notify")
	notifyDown := true
	t.Cleanup(func() {
		if notifyDown {
			if err := tryStack("start", "notify"); err != nil {
				t.Errorf("restart notify in cleanup: %v", err)
			}
		}
	})

	u := register(t, authURL, uniqueEmail("notify-down"))
	if n := countMailJobs(t, u.Email); n != 1 {
		t.Fatalf("auth_mail jobs right after register = %d, want 1", n)
	}
	if n := mailCount(t, u.Email); n != 0 {
		t.Fatalf("Mailpit already has %d mails for %s while notify is down", n, u.Email)
	}
	// Wait until auth has actually tried and failed (the job records the error),
	// so the mail below can only come from a retry.
	eventually(t, 60*time.Second, "a failed delivery attempt of the auth_mail job", func() bool {
		var attempts, errs int
		err := db.QueryRow(context.Background(), `SELECT attempt, coalesce(array_length(errors, 1), 0)
			FROM river.river_job WHERE kind = 'auth_mail' AND args->>'to' = $1`, u.Email).Scan(&attempts, &errs)
		return err == nil && attempts >= 1 && errs >= 1
	})
	if n := mailCount(t, u.Email); n != 0 {
		t.Fatalf("Mailpit has %d mails for %s while notify is down", n, u.Email)
	}

	stack(t, "start", "notify")
	notifyDown = false

	m := waitForMail(t, u.Email, 1, 90*time.Second)
	verifyURL(t, m)
	if m.Subject != "E-Mail bestätigen — Mana" {
		t.Errorf("mail subject = %q", m.Subject)
	}
	if n := mailCount(t, u.Email); n != 1 {
		t.Errorf("mails to %s = %d, want exactly 1", u.Email, n)
	}
}
