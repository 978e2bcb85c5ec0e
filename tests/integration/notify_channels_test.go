//go:build integration

package integration

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestNotifyWebhookSignedRetriedAndRedriven: a webhook is signed with
// HMAC-SHA256 of its exact body (verified here by the receiver), retried on a
// 5xx with every attempt logged with its status code, failed for good after
// its attempts with error_message kept, listed under ?status=failed, and
// re-driven by `mana notify retry <id>`. Negative controls: drop the
// signature header and the receiver's check fails; return nil on a non-2xx
// and the first attempt counts as delivered (1 log row, want 2).
func TestNotifyWebhookSignedRetriedAndRedriven(t *testing.T) {
	hook := startFake(t, "127.0.0.1:0", func(n int, _ []byte) (int, any) {
		if n == 1 {
			return http.StatusInternalServerError, map[string]string{"error": "try again"}
		}
		return http.StatusOK, map[string]bool{"ok": true}
	})
	id := sendOK(t, notifyURL, map[string]any{"channel": "webhook", "appId": "it", "recipient": hook.URL + "/hook",
		"subject": "Hook", "body": "hello", "data": map[string]any{"k": "v"},
		"webhookOptions": map[string]any{"method": "PUT", "headers": map[string]string{"X-Custom": "1"}, "timeout": 2000}})
	waitStatus(t, id, "delivered", 30*time.Second)
	reqs := hook.requests()
	if len(reqs) != 2 {
		t.Fatalf("webhook requests = %d, want 2 (one 500, one 200)", len(reqs))
	}
	for i, r := range reqs {
		mac := hmac.New(sha256.New, []byte(webhookSecret))
		mac.Write(r.Body)
		want := "sha256=" + hex.EncodeToString(mac.Sum(nil))
		if got := r.Header.Get("X-Mana-Signature"); !hmac.Equal([]byte(got), []byte(want)) {
			t.Fatalf("request %d: signature %q does not verify (want %q)", i, got, want)
		}
		if r.Header.Get("X-Custom") != "1" || r.Header.Get("X-Mana-Notification-Id") != id {
			t.Errorf("request %d headers %v", i, r.Header)
		}
		var payload map[string]any
		if err := json.Unmarshal(r.Body, &payload); err != nil || payload["id"] != id || payload["body"] != "hello" ||
			jstr(payload, "data", "k") != "v" {
			t.Errorf("request %d payload %s (%v)", i, r.Body, err)
		}
	}
	if c := queryInt(t, `SELECT count(*) FROM notify.delivery_logs WHERE notification_id = $1 AND NOT success AND status_code = 500`, id); c != 1 {
		t.Errorf("failed attempt rows with status 500 = %d, want 1", c)
	}
	if c := queryInt(t, `SELECT count(*) FROM notify.delivery_logs WHERE notification_id = $1 AND success AND status_code = 200`, id); c != 1 {
		t.Errorf("successful attempt rows with status 200 = %d, want 1", c)
	}

	// Always failing: 5 attempts, then failed with the cause kept.
	var healthy atomic.Bool
	down := startFake(t, "127.0.0.1:0", func(int, []byte) (int, any) {
		if healthy.Load() {
			return http.StatusNoContent, nil
		}
		return http.StatusBadGateway, map[string]string{"error": "down"}
	})
	failedID := sendOK(t, notifyURL, map[string]any{"channel": "webhook", "appId": "it", "recipient": down.URL, "body": "x"})
	waitStatus(t, failedID, "failed", 60*time.Second)
	g := getJSON(t, notifyURL+"/api/v1/notifications/"+failedID, svcKey()...)
	if msg := jstr(g.JSON, "notification", "errorMessage"); !strings.Contains(msg, "502") || jnum(g.JSON, "notification", "attempts") != 5 {
		t.Fatalf("failed notification: %s", g)
	}
	if c := queryInt(t, `SELECT count(*) FROM notify.delivery_logs WHERE notification_id = $1`, failedID); c != 5 {
		t.Fatalf("delivery_logs rows = %d, want 5", c)
	}
	l := getJSON(t, notifyURL+"/api/v1/notifications?status=failed&limit=500", svcKey()...)
	expectStatus(t, l, http.StatusOK)
	if !strings.Contains(string(l.Body), failedID) {
		t.Fatalf("failed notification %s not in the failure list", failedID)
	}
	expectError(t, getJSON(t, notifyURL+"/api/v1/notifications?status=lost", svcKey()...), 400, "VALIDATION", "")

	// The backlog gauges read the database at scrape time: the dead-letter
	// gauge equals the failed rows right now.
	mr := getJSON(t, notifyURL+"/metrics")
	expectStatus(t, mr, http.StatusOK)
	wantDead := fmt.Sprintf("mana_notify_dead_letters %d\n", queryInt(t, `SELECT count(*) FROM notify.notifications WHERE status = 'failed'`))
	for _, want := range []string{wantDead, `mana_notify_queue_depth{queue="notify_webhook"}`, "mana_notify_queue_oldest_pending_seconds",
		`mana_notify_webhooks_sent_total{status="failed"}`} {
		if !strings.Contains(string(mr.Body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}

	// Re-drive: not failed → refused; failed → delivered once the receiver is healthy.
	if out, err := manaCmd(t, "notify", "retry", id); err == nil || !strings.Contains(out, "has not failed") {
		t.Fatalf("retry of a delivered notification: err=%v out=%s", err, out)
	}
	healthy.Store(true)
	if out, err := manaCmd(t, "notify", "retry", failedID); err != nil {
		t.Fatalf("mana notify retry: %v\n%s", err, out)
	}
	waitStatus(t, failedID, "delivered", 30*time.Second)
	if c := queryInt(t, `SELECT max(attempt_number) FROM notify.delivery_logs WHERE notification_id = $1`, failedID); c != 6 {
		t.Errorf("re-driven attempt number = %d, want 6 (numbering continues)", c)
	}
}

// TestNotifyTemplates covers the template API and rendering: system templates
// seeded and protected, custom CRUD, preview, locale fallback, HTML escaping
// of user data and missing variables refused. Negative controls: render email
// bodies with text/template and the <script> arrives unescaped; drop
// missingkey=error and preview answers 200 with "<no value>".
func TestNotifyTemplates(t *testing.T) {
	base := notifyURL + "/api/v1/templates"
	l := getJSON(t, base, svcKey()...)
	expectStatus(t, l, http.StatusOK)
	system := 0
	for _, tpl := range l.JSON["templates"].([]any) {
		if jget(tpl, "isSystem") == true {
			system++
		}
	}
	if system != 5 {
		t.Fatalf("system templates = %d, want 5", system)
	}
	g := getJSON(t, base+"/auth-welcome", svcKey()...)
	expectStatus(t, g, http.StatusOK)
	if jstr(g.JSON, "template", "subject") != "Willkommen bei Mana!" || jstr(g.JSON, "template", "locale") != "de-DE" {
		t.Fatalf("auth-welcome: %s", g)
	}
	expectError(t, getJSON(t, base+"/auth-welcome?locale=xx-XX", svcKey()...), 404, "NOT_FOUND", "template not found")
	expectError(t, do(t, http.MethodPut, base+"/auth-welcome", map[string]any{"subject": "x"}, svcKey()...),
		404, "NOT_FOUND", "template not found or is a system template")
	expectError(t, do(t, http.MethodDelete, base+"/auth-welcome", nil, svcKey()...),
		404, "NOT_FOUND", "template not found or is a system template")

	// Escaping at preview and in the inbox.
	p := postJSON(t, base+"/auth-welcome/preview", map[string]any{"data": map[string]any{
		"userName": `<script>alert(1)</script>`, "loginUrl": "javascript:alert(2)"}}, svcKey()...)
	expectStatus(t, p, http.StatusOK)
	body := jstr(p.JSON, "body")
	if strings.Contains(body, "<script>") || !strings.Contains(body, "&lt;script&gt;") || strings.Contains(body, `href="javascript:`) {
		t.Fatalf("preview does not escape: %s", body)
	}
	expectError(t, postJSON(t, base+"/auth-welcome/preview", map[string]any{"data": map[string]any{"userName": "x"}}, svcKey()...),
		400, "TEMPLATE_RENDER_FAILED", "")
	to := uniqueEmail("tpl")
	id := sendOK(t, notifyURL, map[string]any{"channel": "email", "appId": "it", "recipient": to, "template": "auth-welcome",
		"data": map[string]any{"userName": `<img src=x onerror=alert(1)>`, "loginUrl": "https://mana.how/login"}})
	m := waitForMail(t, to, 1, 30*time.Second)
	if m.Subject != "Willkommen bei Mana!" || strings.Contains(m.HTML, "<img src=x") || !strings.Contains(m.HTML, "&lt;img") {
		t.Fatalf("templated mail not escaped: subject %q html %q", m.Subject, m.HTML)
	}
	if n := getJSON(t, notifyURL+"/api/v1/notifications/"+id, svcKey()...); jstr(n.JSON, "notification", "templateId") != "auth-welcome" {
		t.Errorf("templateId not stored: %s", n)
	}
	// A missing variable at send: refused, nothing stored, never "<no value>".
	missing := uniqueEmail("tpl-missing")
	expectError(t, postJSON(t, notifyURL+"/api/v1/notifications/send", map[string]any{"channel": "email", "appId": "it",
		"recipient": missing, "template": "auth-welcome", "data": map[string]any{"userName": "x"}}, svcKey()...),
		422, "TEMPLATE_RENDER_FAILED", "")
	if c := queryInt(t, `SELECT count(*) FROM notify.notifications WHERE recipient = $1`, missing); c != 0 {
		t.Fatalf("refused templated send stored %d rows", c)
	}
	expectError(t, postJSON(t, notifyURL+"/api/v1/notifications/send", map[string]any{"channel": "email", "appId": "it",
		"recipient": missing, "template": "no-such-template"}, svcKey()...), 400, "TEMPLATE_NOT_FOUND", "")

	// Custom template CRUD, with a locale fallback at send.
	slug := fmt.Sprintf("it-custom-%d", time.Now().UnixNano())
	c := postJSON(t, base, map[string]any{"slug": slug, "channel": "email", "subject": "Hi {{.name}}",
		"bodyTemplate": "<p>{{.name}}</p>", "locale": "en-US", "variables": []string{"name"}}, svcKey()...)
	expectStatus(t, c, http.StatusCreated)
	expectError(t, postJSON(t, base, map[string]any{"slug": slug, "channel": "email", "bodyTemplate": "x", "locale": "en-US"}, svcKey()...),
		409, "TEMPLATE_EXISTS", "template already exists for this slug+locale")
	expectError(t, postJSON(t, base, map[string]any{"slug": slug}, svcKey()...), 400, "VALIDATION", "slug, channel, and bodyTemplate are required")
	expectError(t, postJSON(t, base, map[string]any{"slug": slug + "-bad", "channel": "email", "bodyTemplate": "{{.x"}, svcKey()...), 400, "VALIDATION", "")
	ct := getJSON(t, base+"/"+slug+"?locale=en-US", svcKey()...)
	expectStatus(t, ct, http.StatusOK)
	// JSON as stored (the old service served base64 of the bytes; notify-client reads an object).
	if v, _ := json.Marshal(jget(ct.JSON, "template", "variables")); string(v) != `["name"]` {
		t.Errorf("variables = %s", v)
	}
	up := do(t, http.MethodPut, base+"/"+slug+"?locale=en-US", map[string]any{"subject": "Hello {{.name}}"}, svcKey()...)
	expectStatus(t, up, http.StatusOK)
	to2 := uniqueEmail("tpl-custom")
	sendOK(t, notifyURL, map[string]any{"channel": "email", "appId": "it", "recipient": to2, "template": slug, "data": map[string]any{"name": "Ann"}})
	if m := waitForMail(t, to2, 1, 30*time.Second); m.Subject != "Hello Ann" {
		t.Errorf("custom template (en-US via fallback) subject %q", m.Subject)
	}
	pv := postJSON(t, base+"/preview", map[string]any{"subject": "S {{.a}}", "bodyTemplate": "<b>{{.a}}</b>", "data": map[string]any{"a": "<i>"}}, svcKey()...)
	expectStatus(t, pv, http.StatusOK)
	if jstr(pv.JSON, "subject") != "S <i>" || jstr(pv.JSON, "body") != "<b>&lt;i&gt;</b>" {
		t.Errorf("custom preview %s", pv)
	}
	expectError(t, postJSON(t, base+"/preview", map[string]any{"bodyTemplate": "{{if}}"}, svcKey()...), 400, "VALIDATION", "")
	expectStatus(t, do(t, http.MethodDelete, base+"/"+slug, nil, svcKey()...), http.StatusOK)
	expectError(t, do(t, http.MethodDelete, base+"/"+slug, nil, svcKey()...), 404, "NOT_FOUND", "")
}

// TestNotifyPushDevicesPreferences: devices and preferences behind JWT auth
// verified against mana-auth's JWKS with revocation checked; push through a
// local fake Expo server to the user's devices; preferences applied at send
// and, for scheduled sends, at delivery time. Negative controls: trust the
// token's claims without the signature (the seed's way) and the forged token
// is accepted; skip the /validate call and the logged-out token still works;
// evaluate preferences only at schedule time and the scheduled push reaches Expo.
func TestNotifyPushDevicesPreferences(t *testing.T) {
	expo := startFake(t, expoFakeAddr, func(_ int, body []byte) (int, any) {
		var msgs []map[string]any
		_ = json.Unmarshal(body, &msgs)
		data := make([]map[string]any, len(msgs))
		for i := range msgs {
			data[i] = map[string]any{"status": "ok", "id": fmt.Sprintf("ticket-%d", i)}
		}
		return http.StatusOK, map[string]any{"data": data}
	})
	u := verifiedUser(t, "push")
	s := loginOK(t, authURL, u)
	dev := notifyURL + "/api/v1/devices"

	// Auth failures.
	r := getJSON(t, dev)
	if r.Status != 401 || !strings.Contains(string(r.Body), "unauthorized: missing token") {
		t.Fatalf("no token: %s", r)
	}
	parts := strings.Split(s.AccessToken, ".")
	forged := parts[0] + "." + parts[1] + "." + strings.Repeat("A", len(parts[2]))
	for name, tok := range map[string]string{"garbage": "x.y.z", "forged signature": forged} {
		if r := getJSON(t, dev, bearer(tok)...); r.Status != 401 || !strings.Contains(string(r.Body), "unauthorized: invalid token") {
			t.Fatalf("%s: %s", name, r)
		}
	}

	token := fmt.Sprintf("ExponentPushToken[it-%d]", time.Now().UnixNano())
	reg := postJSON(t, dev+"/register", map[string]any{"pushToken": token, "platform": "ios", "deviceName": "Phone"}, bearer(s.AccessToken)...)
	expectStatus(t, reg, http.StatusCreated)
	devID := jstr(reg.JSON, "device", "id")
	expectError(t, postJSON(t, dev+"/register", map[string]any{}, bearer(s.AccessToken)...), 400, "VALIDATION", "pushToken is required")
	ls := getJSON(t, dev, bearer(s.AccessToken)...)
	expectStatus(t, ls, http.StatusOK)
	if d, _ := ls.JSON["devices"].([]any); len(d) != 1 || jstr(d[0], "pushToken") != token {
		t.Fatalf("devices: %s", ls)
	}

	// Push by userId → the fake Expo gets the user's token.
	id := sendOK(t, notifyURL, map[string]any{"channel": "push", "appId": "it", "userId": u.ID, "subject": "Titel", "body": "Text",
		"pushOptions": map[string]any{"sound": "default", "badge": 3}})
	waitStatus(t, id, "delivered", 30*time.Second)
	reqs := expo.requests()
	if len(reqs) != 1 {
		t.Fatalf("expo requests = %d, want 1", len(reqs))
	}
	var msgs []map[string]any
	if err := json.Unmarshal(reqs[0].Body, &msgs); err != nil || len(msgs) != 1 || msgs[0]["to"] != token ||
		msgs[0]["title"] != "Titel" || msgs[0]["sound"] != "default" || msgs[0]["badge"] != float64(3) {
		t.Fatalf("expo got %s (%v)", reqs[0].Body, err)
	}
	if c := queryInt(t, `SELECT count(*) FROM notify.delivery_logs WHERE notification_id = $1 AND success AND provider_id = 'ticket-0'`, id); c != 1 {
		t.Errorf("delivery log with the Expo ticket id = %d, want 1", c)
	}

	// Preferences: defaults, then push off → a send is refused with the reason.
	pr := getJSON(t, notifyURL+"/api/v1/preferences", bearer(s.AccessToken)...)
	expectStatus(t, pr, http.StatusOK)
	if jget(pr.JSON, "preferences", "pushEnabled") != true || jget(pr.JSON, "preferences", "emailEnabled") != false ||
		jstr(pr.JSON, "preferences", "timezone") != "Europe/Berlin" {
		t.Fatalf("default preferences: %s", pr)
	}
	expectError(t, do(t, http.MethodPut, notifyURL+"/api/v1/preferences", map[string]any{"quietHoursStart": "25:00"}, bearer(s.AccessToken)...),
		400, "VALIDATION", "quietHoursStart must be HH:MM")
	expectError(t, do(t, http.MethodPut, notifyURL+"/api/v1/preferences", map[string]any{"timezone": "Mars/Base"}, bearer(s.AccessToken)...),
		400, "VALIDATION", "timezone must be an IANA time zone name")

	// A push scheduled while allowed, then push switched off before its time:
	// evaluated at delivery → cancelled with the reason, Expo never called.
	sch := postJSON(t, notifyURL+"/api/v1/notifications/schedule", map[string]any{"channel": "push", "appId": "it", "userId": u.ID,
		"body": "später", "scheduledFor": time.Now().Add(3 * time.Second).UTC().Format(time.RFC3339)}, svcKey()...)
	expectStatus(t, sch, http.StatusAccepted)
	schID := jstr(sch.JSON, "notification", "id")
	expectStatus(t, do(t, http.MethodPut, notifyURL+"/api/v1/preferences", map[string]any{"pushEnabled": false}, bearer(s.AccessToken)...), http.StatusOK)
	b := postJSON(t, notifyURL+"/api/v1/notifications/send", map[string]any{"channel": "push", "appId": "it", "userId": u.ID, "body": "x"}, svcKey()...)
	expectStatus(t, b, http.StatusOK)
	if jstr(b.JSON, "notification", "status") != "cancelled" || jstr(b.JSON, "notification", "reason") != "push notifications disabled by user" {
		t.Fatalf("blocked send: %s", b)
	}
	waitStatus(t, schID, "cancelled", 30*time.Second)
	if g := getJSON(t, notifyURL+"/api/v1/notifications/"+schID, svcKey()...); jstr(g.JSON, "notification", "errorMessage") != "push notifications disabled by user" {
		t.Errorf("scheduled push skipped without reason: %s", g)
	}
	if n := len(expo.requests()); n != 1 {
		t.Fatalf("expo requests = %d, want still 1", n)
	}
	pr = getJSON(t, notifyURL+"/api/v1/preferences", bearer(s.AccessToken)...)
	if jget(pr.JSON, "preferences", "pushEnabled") != false || jget(pr.JSON, "preferences", "emailEnabled") != false {
		t.Fatalf("stored preferences: %s", pr)
	}

	// Delete the device; a second delete and another user's id are 404.
	expectStatus(t, do(t, http.MethodDelete, dev+"/"+devID, nil, bearer(s.AccessToken)...), http.StatusOK)
	expectError(t, do(t, http.MethodDelete, dev+"/"+devID, nil, bearer(s.AccessToken)...), 404, "NOT_FOUND", "device not found")

	// Logout revokes the session: its still-unexpired token is refused.
	out := postJSON(t, authURL+"/api/v1/auth/logout", map[string]any{}, bearer(s.AccessToken)...)
	expectStatus(t, out, http.StatusOK)
	if r := getJSON(t, dev, bearer(s.AccessToken)...); r.Status != 401 {
		t.Fatalf("token of a logged-out session: %s", r)
	}
}

// TestNotifyJWTFailsClosedWhenAuthDown: with mana-auth unreachable the
// revocation check cannot run, so a token with a valid signature (its key is
// cached) is answered 503, never let through. Negative control: treat a
// transport error of /validate as "valid" and the request answers 200.
func TestNotifyJWTFailsClosedWhenAuthDown(t *testing.T) {
	requireStackCtl(t)
	s := loginOK(t, authURL, verifiedUser(t, "jwt-down"))
	expectStatus(t, getJSON(t, notifyURL+"/api/v1/preferences", bearer(s.AccessToken)...), http.StatusOK) // caches the JWKS
	stack(t, "stop", "auth")
	up := false
	t.Cleanup(func() {
		if !up {
			if err := tryStack("start", "auth"); err != nil {
				t.Errorf("restart auth: %v", err)
			}
		}
	})
	expectError(t, getJSON(t, notifyURL+"/api/v1/preferences", bearer(s.AccessToken)...), http.StatusServiceUnavailable,
		"SERVICE_UNAVAILABLE", "token verification unavailable")
	stack(t, "start", "auth")
	up = true
	expectStatus(t, getJSON(t, notifyURL+"/api/v1/preferences", bearer(s.AccessToken)...), http.StatusOK)
}
