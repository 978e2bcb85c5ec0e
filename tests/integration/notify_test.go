//go:build integration

package integration

import (
	"fmt"
	"net/http"
	"testing"
	"time"
)

// TestNotifySendDedupDeliver guards mana-notify's send path: the service key,
// externalId deduplication, delivery over SMTP and the delivery log.
// Negative controls: without the dedup the second send answers 202 with a new
// id and two mails land; without the delivery log there is no success row;
// without the key check the wrong-key requests are accepted.
func TestNotifySendDedupDeliver(t *testing.T) {
	to := uniqueEmail("notify")
	ext := fmt.Sprintf("it-notify-%d", time.Now().UnixNano())
	req := map[string]any{
		"channel": "email", "appId": "it", "recipient": to,
		"subject": "s", "body": "<p>hi</p>", "externalId": ext,
	}
	key := []string{"X-Service-Key", serviceKey}

	r := postJSON(t, notifyURL+"/api/v1/notifications/send", req, key...)
	expectStatus(t, r, http.StatusAccepted)
	id := jstr(r.JSON, "notification", "id")
	if id == "" || jstr(r.JSON, "notification", "status") != "pending" {
		t.Fatalf("send: want notification.id and status pending: %s", r)
	}

	d := postJSON(t, notifyURL+"/api/v1/notifications/send", req, key...)
	expectStatus(t, d, http.StatusOK)
	if dd, _ := d.JSON["deduplicated"].(bool); !dd || jstr(d.JSON, "notification", "id") != id {
		t.Fatalf("second send with the same externalId: want deduplicated:true and id %s: %s", id, d)
	}

	var last *response
	eventually(t, 30*time.Second, "notification "+id+" delivered", func() bool {
		last = getJSON(t, notifyURL+"/api/v1/notifications/"+id, key...)
		return last.Status == http.StatusOK && jstr(last.JSON, "notification", "status") == "delivered"
	})
	if n := queryInt(t, `SELECT count(*) FROM notify.delivery_logs WHERE notification_id = $1 AND success`, id); n != 1 {
		t.Fatalf("successful delivery_logs rows for %s = %d, want 1", id, n)
	}
	m := waitForMail(t, to, 1, 30*time.Second)
	if m.Subject != "s" {
		t.Errorf("delivered mail subject = %q, want %q", m.Subject, "s")
	}
	if n := mailCount(t, to); n != 1 {
		t.Errorf("mails to %s = %d, want exactly 1 (dedup)", to, n)
	}
	if n := queryInt(t, `SELECT count(*) FROM notify.notifications WHERE external_id = $1`, ext); n != 1 {
		t.Errorf("notifications with externalId %s = %d, want 1", ext, n)
	}
}

// TestNotifyServiceKey guards the service-key middleware: a wrong or missing
// X-Service-Key is 401 and creates nothing. Negative control: remove the
// middleware and the sends answer 202 and rows appear.
func TestNotifyServiceKey(t *testing.T) {
	to := uniqueEmail("notify-key")
	ext := fmt.Sprintf("it-notify-key-%d", time.Now().UnixNano())
	req := map[string]any{
		"channel": "email", "appId": "it", "recipient": to,
		"subject": "s", "body": "<p>hi</p>", "externalId": ext,
	}
	for name, hdr := range map[string][]string{
		"wrong key": {"X-Service-Key", "not-the-service-key"},
		"no key":    nil,
	} {
		r := postJSON(t, notifyURL+"/api/v1/notifications/send", req, hdr...)
		if r.Status != http.StatusUnauthorized {
			t.Errorf("send with %s: want 401, got %s", name, r)
		}
		g := getJSON(t, notifyURL+"/api/v1/notifications/00000000-0000-0000-0000-000000000000", hdr...)
		if g.Status != http.StatusUnauthorized {
			t.Errorf("get with %s: want 401, got %s", name, g)
		}
	}
	if n := queryInt(t, `SELECT count(*) FROM notify.notifications WHERE external_id = $1 OR recipient = $2`, ext, to); n != 0 {
		t.Fatalf("refused sends created %d notifications", n)
	}
}
