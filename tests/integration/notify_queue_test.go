//go:build integration

package integration

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestNotifyScheduleSurvivesRestartAndCancel guards the durable queue:
// scheduled sends are River jobs in Postgres, so they go out after a restart
// of mana-notify, and a cancelled one is never delivered even though its job
// is still queued. Negative controls: keep scheduled sends in memory (the
// seed's timers) and the mail never arrives after the restart; drop the
// status check in Claim (`WHERE ... status IN ('pending','processing')`) and
// the cancelled one is mailed (mail count 1, want 0).
func TestNotifyScheduleSurvivesRestartAndCancel(t *testing.T) {
	requireStackCtl(t)
	keep, cancelled := uniqueEmail("sched-keep"), uniqueEmail("sched-cancel")
	at := time.Now().Add(4 * time.Second).UTC().Format(time.RFC3339)
	req := func(to string) map[string]any {
		return map[string]any{"channel": "email", "appId": "it", "recipient": to, "subject": "später",
			"body": "<p>geplant</p>", "scheduledFor": at}
	}
	r := postJSON(t, notifyURL+"/api/v1/notifications/schedule", req(keep), svcKey()...)
	expectStatus(t, r, http.StatusAccepted)
	keepID := jstr(r.JSON, "notification", "id")
	if jstr(r.JSON, "notification", "status") != "pending" || jstr(r.JSON, "notification", "scheduledFor") != at {
		t.Fatalf("schedule answer: %s", r)
	}
	r = postJSON(t, notifyURL+"/api/v1/notifications/schedule", req(cancelled), svcKey()...)
	expectStatus(t, r, http.StatusAccepted)
	cancelID := jstr(r.JSON, "notification", "id")

	c := do(t, http.MethodDelete, notifyURL+"/api/v1/notifications/"+cancelID, nil, svcKey()...)
	expectStatus(t, c, http.StatusOK)
	if c.JSON["cancelled"] != true {
		t.Fatalf("cancel: %s", c)
	}
	// A second cancel finds nothing pending.
	expectError(t, do(t, http.MethodDelete, notifyURL+"/api/v1/notifications/"+cancelID, nil, svcKey()...),
		http.StatusNotFound, "NOT_FOUND", "notification not found or already processed")

	// Restart while both jobs wait for their time.
	stack(t, "stop", "notify")
	stack(t, "start", "notify")

	m := waitForMail(t, keep, 1, 60*time.Second)
	if m.Subject != "später" {
		t.Errorf("subject %q", m.Subject)
	}
	waitStatus(t, keepID, "delivered", 30*time.Second)
	eventually(t, 30*time.Second, "the cancelled notification's job has run", func() bool { return jobsFinished(t, cancelID) })
	if n := mailCount(t, cancelled); n != 0 {
		t.Fatalf("cancelled notification was mailed %d times", n)
	}
	if s := notificationStatus(t, notifyURL, cancelID); s != "cancelled" {
		t.Fatalf("cancelled notification has status %s", s)
	}
	if n := mailCount(t, keep); n != 1 {
		t.Fatalf("mails to %s = %d, want 1", keep, n)
	}

	// Bad schedules.
	bad := req(keep)
	bad["scheduledFor"] = "tomorrow"
	expectError(t, postJSON(t, notifyURL+"/api/v1/notifications/schedule", bad, svcKey()...), 400, "VALIDATION",
		"scheduledFor must be a valid RFC3339 timestamp")
	bad["scheduledFor"] = time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)
	expectError(t, postJSON(t, notifyURL+"/api/v1/notifications/schedule", bad, svcKey()...), 400, "VALIDATION",
		"scheduledFor must be in the future")
	expectError(t, do(t, http.MethodDelete, notifyURL+"/api/v1/notifications/not-a-uuid", nil, svcKey()...),
		http.StatusNotFound, "NOT_FOUND", "notification not found or already processed")
}

// TestNotifyBatch: 1–100 items, each accepted or refused on its own, with
// externalId dedup applying to batches too. Negative controls: remove the
// limit check and 101 items answer 202; dedup by read-then-insert or not at
// all and the repeated externalId gets a second id and a second mail.
func TestNotifyBatch(t *testing.T) {
	a, b := uniqueEmail("batch-a"), uniqueEmail("batch-b")
	ext := fmt.Sprintf("it-batch-%d", time.Now().UnixNano())
	first := sendOK(t, notifyURL, map[string]any{"channel": "email", "appId": "it", "recipient": a, "subject": "a",
		"body": "<p>a</p>", "externalId": ext})
	item := func(to, ext string) map[string]any {
		m := map[string]any{"channel": "email", "appId": "it", "recipient": to, "subject": "b", "body": "<p>b</p>"}
		if ext != "" {
			m["externalId"] = ext
		}
		return m
	}
	r := postJSON(t, notifyURL+"/api/v1/notifications/batch", map[string]any{"notifications": []any{
		item(b, ""), item(a, ext), map[string]any{"channel": "sms", "appId": "it", "recipient": b, "body": "x"},
	}}, svcKey()...)
	expectStatus(t, r, http.StatusAccepted)
	res, _ := r.JSON["results"].([]any)
	if len(res) != 3 || jnum(r.JSON, "succeeded") != 2 || jnum(r.JSON, "failed") != 1 {
		t.Fatalf("batch answer: %s", r)
	}
	if jstr(res[0], "status") != "pending" || jstr(res[0], "id") == "" {
		t.Errorf("item 0: %v", res[0])
	}
	if jstr(res[1], "status") != "existing" || jstr(res[1], "id") != first {
		t.Errorf("item 1 (repeated externalId): %v, want existing %s", res[1], first)
	}
	if jstr(res[2], "status") != "failed" || jstr(res[2], "error") != "channel must be email, push, or webhook" {
		t.Errorf("item 2: %v", res[2])
	}
	waitForMail(t, b, 1, 30*time.Second)
	waitStatus(t, first, "delivered", 30*time.Second)
	if n := mailCount(t, a); n != 1 {
		t.Errorf("mails to %s = %d, want 1", a, n)
	}

	expectError(t, postJSON(t, notifyURL+"/api/v1/notifications/batch", map[string]any{"notifications": []any{}}, svcKey()...),
		400, "VALIDATION", "notifications array is required")
	many := make([]any, 101)
	for i := range many {
		many[i] = item(b, "")
	}
	expectError(t, postJSON(t, notifyURL+"/api/v1/notifications/batch", map[string]any{"notifications": many}, svcKey()...),
		400, "VALIDATION", "maximum 100 notifications per batch")
	expectError(t, postJSON(t, notifyURL+"/api/v1/notifications/batch", "nope", svcKey()...), 400, "INVALID_BODY", "invalid request body")
}

// TestNotifySMTPOutage guards delivery retries: with the SMTP relay down every
// mail fails its first attempt (logged), and once it is back each arrives
// exactly once. Negative controls: return nil from Work on a send error
// (River completes the job) and no mail ever arrives; record the attempt
// outside the claim (no Claim status check) and mails can arrive twice.
func TestNotifySMTPOutage(t *testing.T) {
	requireStackCtl(t)
	stack(t, "stop", "mailpit")
	down := true
	t.Cleanup(func() {
		if down {
			if err := tryStack("start", "mailpit"); err != nil {
				t.Errorf("restart mailpit: %v", err)
			}
		}
	})
	const n = 5
	ids, tos := make([]string, n), make([]string, n)
	for i := range ids {
		tos[i] = uniqueEmail("smtp-down")
		ids[i] = sendOK(t, notifyURL, map[string]any{"channel": "email", "appId": "it", "recipient": tos[i],
			"subject": "trotzdem", "body": "<p>x</p>"})
	}
	// A sensitive mail (a link's secret, as auth sends them) waits sealed
	// under the KEK, never in clear (audit F3), and arrives in clear.
	secretTo := uniqueEmail("smtp-down-sealed")
	const secret = "it-link-secret-7f3a"
	sealed := sendOK(t, notifyURL, map[string]any{"channel": "email", "appId": "it", "recipient": secretTo,
		"subject": "link", "body": "<p>" + secret + "</p>", "sensitive": true})
	ids, tos = append(ids, sealed), append(tos, secretTo)
	for _, id := range ids {
		eventually(t, 30*time.Second, "a failed attempt of "+id, func() bool {
			return queryInt(t, `SELECT count(*) FROM notify.delivery_logs WHERE notification_id = $1 AND NOT success`, id) >= 1
		})
	}
	// Negative control: notify without a KEK (or Accept not sealing) stores
	// the body in clear and fails here.
	if n := queryInt(t, `SELECT count(*) FROM notify.notifications WHERE id = $1 AND body LIKE 'mana-sealed:v1:%'
		AND body NOT LIKE '%'||$2||'%'`, sealed, secret); n != 1 {
		t.Errorf("the pending sensitive body is not sealed")
	}
	stack(t, "start", "mailpit")
	down = false
	for i, id := range ids {
		waitStatus(t, id, "delivered", 60*time.Second)
		waitForMail(t, tos[i], 1, 30*time.Second)
	}
	if m := waitForMail(t, secretTo, 1, 30*time.Second); !strings.Contains(m.HTML, secret) {
		t.Errorf("the sealed mail arrived without its body in clear: %q", m.HTML)
	}
	for i, id := range ids {
		if c := mailCount(t, tos[i]); c != 1 {
			t.Errorf("mails to %s = %d, want exactly 1", tos[i], c)
		}
		if c := queryInt(t, `SELECT count(*) FROM notify.delivery_logs WHERE notification_id = $1 AND success`, id); c != 1 {
			t.Errorf("successful attempts of %s = %d, want 1", id, c)
		}
	}
}

// TestNotifyExactlyOnceTwoProcesses: two mana-notify processes on one
// database, sends spread over both, every notification delivered exactly
// once. Negative control: make Claim a plain read (no status update in the
// fetching statement) and run it with River's fetch replaced by a read of
// all available jobs — duplicates appear. With River's row locking and the
// claim, each mail count is 1.
func TestNotifyExactlyOnceTwoProcesses(t *testing.T) {
	requireStackCtl(t)
	stack(t, "start", "notify2")
	t.Cleanup(func() {
		if err := tryStack("stop", "notify2"); err != nil {
			t.Errorf("stop notify2: %v", err)
		}
	})
	// A burst lands on both processes' queues, but one process can fetch
	// every job before the other wakes: then another burst, up to three.
	const n, rounds = 40, 3
	var ids, tos []string
	for round := 1; ; round++ {
		burstIDs, burstTos := sendBurst(t, n)
		ids, tos = append(ids, burstIDs...), append(tos, burstTos...)
		for _, id := range burstIDs {
			waitStatus(t, id, "delivered", 60*time.Second)
		}
		// Both processes took part (otherwise this proves nothing about two).
		byProcess := queryInt(t, `SELECT count(DISTINCT attempted_by[1]) FROM river.river_job
			WHERE kind = 'notify_deliver' AND args->>'notification_id' = ANY($1)`, ids)
		t.Logf("burst %d: %d notifications worked by %d processes", round, len(ids), byProcess)
		if byProcess >= 2 {
			break
		}
		if round == rounds {
			t.Fatalf("all %d jobs of %d bursts were worked by one process; the test proves nothing about two", len(ids), rounds)
		}
	}
	for i, id := range ids {
		if c := mailCount(t, tos[i]); c != 1 {
			t.Errorf("mails to %s = %d, want exactly 1", tos[i], c)
		}
		if c := queryInt(t, `SELECT count(*) FROM notify.delivery_logs WHERE notification_id = $1`, id); c != 1 {
			t.Errorf("delivery_logs rows of %s = %d, want 1", id, c)
		}
	}
}

// sendBurst sends n mails at once, alternately to notify and notify2, and
// returns their notification ids and recipients.
func sendBurst(t *testing.T, n int) (ids, tos []string) {
	t.Helper()
	ids, tos = make([]string, n), make([]string, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		tos[i] = uniqueEmail("once")
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			base := notifyURL
			if i%2 == 1 {
				base = notify2URL
			}
			r, err := tryDo(http.MethodPost, base+"/api/v1/notifications/send", map[string]any{"channel": "email",
				"appId": "it", "recipient": tos[i], "subject": "einmal", "body": "<p>1</p>"}, svcKey()...)
			if err != nil || r.Status != http.StatusAccepted {
				errs <- fmt.Errorf("send %d: %v %v", i, err, r)
				return
			}
			ids[i] = jstr(r.JSON, "notification", "id")
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	return ids, tos
}
