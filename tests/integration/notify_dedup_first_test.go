//go:build integration

package integration

import (
	"fmt"
	"net/http"
	"testing"
	"time"
)

// TestNotifyRepeatIsDedupedBeforePreferences: a repeated send (same
// externalId) is answered as the duplicate even when the user's preferences
// now block the channel, as the contract's send flow orders it (dedup, then
// preferences). A client retrying a send whose answer it lost must not be
// told "cancelled" for a notification that exists. Negative control: without
// the NotificationOfExternalID look-up at the top of accept (send.go) the
// repeat answers 200 {"notification":{"status":"cancelled","reason":"email
// notifications disabled by user"}}.
func TestNotifyRepeatIsDedupedBeforePreferences(t *testing.T) {
	u := verifiedUser(t, "dedupfirst")
	s := loginOK(t, authURL, u)
	send := func(ext string) *response {
		return postJSON(t, notifyURL+"/api/v1/notifications/send", map[string]any{
			"channel": "email", "appId": "it", "userId": u.ID, "recipient": u.Email,
			"subject": "s", "body": "<p>b</p>", "externalId": ext,
		}, svcKey()...)
	}
	ext := fmt.Sprintf("it-dedup-first-%d", time.Now().UnixNano())
	first := send(ext)
	expectStatus(t, first, http.StatusAccepted)
	id := jstr(first.JSON, "notification", "id")

	expectStatus(t, do(t, http.MethodPut, notifyURL+"/api/v1/preferences", map[string]any{"emailEnabled": false},
		bearer(s.AccessToken)...), http.StatusOK)
	// The preferences do block a new send now: the case below is not vacuous.
	fresh := send(ext + "-new")
	if fresh.Status != http.StatusOK || jstr(fresh.JSON, "notification", "status") != "cancelled" {
		t.Fatalf("new send with email disabled: want 200 cancelled, got %s", fresh)
	}

	again := send(ext)
	expectStatus(t, again, http.StatusOK)
	if dd, _ := again.JSON["deduplicated"].(bool); !dd || jstr(again.JSON, "notification", "id") != id ||
		jstr(again.JSON, "notification", "status") != "existing" {
		t.Fatalf("repeat of %s: want deduplicated:true, id %s, status existing: %s", ext, id, again)
	}
}
