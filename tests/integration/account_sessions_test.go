//go:build integration

package integration

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// TestSessionsListAndRevoke: the caller sees their live sessions (device,
// IP, created, last used, current flag) and ends one; its tokens stop
// working on both replicas, the others stay. Another user's session id is
// indistinguishable from an unknown one and stays live.
// Negative control: removing the `sess.UserID != p.Claims.Sub` check in
// RevokeSession lets the caller end the stranger's session and fails at
// "stranger's session".
func TestSessionsListAndRevoke(t *testing.T) {
	u := verifiedUser(t, "sessions")
	me := loginAs(t, authURL, u, "it-sessions-laptop")
	phone := loginAs(t, auth2URL, u, "it-sessions-phone")

	r := getJSON(t, authURL+"/api/v1/me/sessions", bearer(me.AccessToken)...)
	expectStatus(t, r, http.StatusOK)
	list, _ := r.JSON["sessions"].([]any)
	if len(list) != 2 {
		t.Fatalf("want 2 sessions, got %s", r)
	}
	var phoneID string
	current := 0
	for _, s := range list {
		if jget(s, "current") == true {
			current++
			if jstr(s, "device") != "it-sessions-laptop" {
				t.Fatalf("current session is not the caller's: %v", s)
			}
		}
		if jstr(s, "device") == "it-sessions-phone" {
			phoneID = jstr(s, "id")
		}
		for _, k := range []string{"id", "ipAddress", "createdAt", "lastActivityAt", "expiresAt"} {
			if jstr(s, k) == "" {
				t.Fatalf("session entry without %s: %v", k, s)
			}
		}
	}
	if current != 1 || phoneID == "" {
		t.Fatalf("want exactly one current session and the phone listed: %s", r)
	}

	stranger := verifiedUser(t, "sessions-stranger")
	theirs := loginAs(t, authURL, stranger, "it-sessions-stranger")
	theirID := queryString(t, `SELECT id FROM auth.sessions WHERE user_id = $1`, stranger.ID)
	r = do(t, http.MethodDelete, authURL+"/api/v1/me/sessions/"+theirID, nil, bearer(me.AccessToken)...)
	expectStatus(t, r, http.StatusNotFound)
	requireSessionLive(t, "stranger's session", theirs)

	r = do(t, http.MethodDelete, authURL+"/api/v1/me/sessions/"+phoneID, nil, bearer(me.AccessToken)...)
	expectStatus(t, r, http.StatusOK)
	requireSessionDead(t, "revoked phone session", phone)
	requireSessionLive(t, "caller's session", me)
	if n := countEvents(t, u.ID, "SESSION_REVOKED"); n != 1 {
		t.Fatalf("SESSION_REVOKED events = %d, want 1", n)
	}
	r = do(t, http.MethodDelete, authURL+"/api/v1/me/sessions/"+phoneID, nil, bearer(me.AccessToken)...)
	expectStatus(t, r, http.StatusNotFound)

	r = getJSON(t, authURL+"/api/v1/me/sessions", bearer(me.AccessToken)...)
	if list, _ := r.JSON["sessions"].([]any); len(list) != 1 {
		t.Fatalf("after revoking one of two: want 1 session, got %s", r)
	}
	expectStatus(t, getJSON(t, authURL+"/api/v1/me/sessions"), http.StatusUnauthorized)
}

// TestLogoutAll: every session of the user, the caller's included, ends at
// once on both replicas; other users are untouched.
// Negative control: passing the caller's session id as exceptID in
// LogoutAll fails at "caller's own session".
func TestLogoutAll(t *testing.T) {
	u := verifiedUser(t, "logoutall")
	var all []session
	for i := 0; i < 3; i++ {
		all = append(all, loginAs(t, authURL, u, fmt.Sprintf("it-logoutall-%d", i)))
	}
	bystander := verifiedUser(t, "logoutall-bystander")
	theirs := loginOK(t, authURL, bystander)

	r := postJSON(t, authURL+"/api/v1/auth/logout-all", nil, bearer(all[1].AccessToken)...)
	expectStatus(t, r, http.StatusOK)
	if r.JSON["success"] != true || jnum(r.JSON, "revokedSessions") != 3 {
		t.Fatalf("logout-all: want {success:true, revokedSessions:3}, got %s", r)
	}
	requireSessionDead(t, "caller's own session", all[1])
	requireSessionDead(t, "session 0", all[0])
	requireSessionDead(t, "session 2", all[2])
	requireSessionLive(t, "another user's session", theirs)
	if n := countEvents(t, u.ID, "LOGOUT_ALL"); n != 1 {
		t.Fatalf("LOGOUT_ALL events = %d, want 1", n)
	}
}

// TestProfileUpdates: PATCH /me/profile trims and bounds the name and
// answers the §2.4 shape; POST /auth/profile answers {status:true} and
// refuses an email change; both write PROFILE_UPDATED.
// Negative control: removing the 1–80 check in UpdateProfile lets the
// 81-character name through (200 instead of 400).
func TestProfileUpdates(t *testing.T) {
	u := verifiedUser(t, "profile")
	s := loginOK(t, authURL, u)
	me := authURL + "/api/v1/me/profile"

	r := do(t, http.MethodPatch, me, map[string]any{"name": "  Ada Lovelace  ", "image": "https://img.example/a.png", "feedbackShowRealName": true}, bearer(s.AccessToken)...)
	expectStatus(t, r, http.StatusOK)
	if jstr(r.JSON, "name") != "Ada Lovelace" || jstr(r.JSON, "image") != "https://img.example/a.png" || r.JSON["feedbackShowRealName"] != true {
		t.Fatalf("PATCH profile: got %s", r)
	}
	if got := queryString(t, `SELECT name || '|' || coalesce(image, '') || '|' || feedback_show_real_name::text FROM auth.users WHERE id = $1`, u.ID); got != "Ada Lovelace|https://img.example/a.png|true" {
		t.Fatalf("stored profile = %q", got)
	}
	for _, bad := range []map[string]any{{"name": strings.Repeat("n", 81)}, {"name": "   "}, {}} {
		r = do(t, http.MethodPatch, me, bad, bearer(s.AccessToken)...)
		expectStatus(t, r, http.StatusBadRequest)
		if jstr(r.JSON, "code") != "VALIDATION" || jstr(r.JSON, "error") == "VALIDATION" {
			t.Fatalf("PATCH %v: want 400 VALIDATION with the reason in error, got %s", bad, r)
		}
	}

	r = postJSON(t, authURL+"/api/v1/auth/profile", map[string]any{"name": "Countess"}, bearer(s.AccessToken)...)
	expectStatus(t, r, http.StatusOK)
	if r.JSON["status"] != true {
		t.Fatalf("POST /auth/profile: want {status:true}, got %s", r)
	}
	r = postJSON(t, authURL+"/api/v1/auth/profile", map[string]any{"email": "other@manatest.local"}, bearer(s.AccessToken)...)
	expectStatus(t, r, http.StatusBadRequest)
	if jstr(r.JSON, "code") != "EMAIL_CAN_NOT_BE_UPDATED" {
		t.Fatalf("email change via profile: got %s", r)
	}
	if got := queryString(t, `SELECT name || '|' || email FROM auth.users WHERE id = $1`, u.ID); got != "Countess|"+u.Email {
		t.Fatalf("stored name|email = %q", got)
	}
	if n := countEvents(t, u.ID, "PROFILE_UPDATED"); n != 2 {
		t.Fatalf("PROFILE_UPDATED events = %d, want 2", n)
	}
	expectStatus(t, do(t, http.MethodPatch, me, map[string]any{"name": "x"}), http.StatusUnauthorized)
}

// TestSecurityEvents: the caller's own newest 50 events, newest first; the
// old service answered 500 on every call.
// Negative control: dropping `WHERE user_id = $1` from UserEvents shows other
// users' events and fails at "foreign event".
func TestSecurityEvents(t *testing.T) {
	u := verifiedUser(t, "secevents")
	s := loginAs(t, authURL, u, "it-secevents-ua")
	other := verifiedUser(t, "secevents-other")
	loginOK(t, authURL, other)

	r := getJSON(t, authURL+"/api/v1/auth/security-events", bearer(s.AccessToken)...)
	expectStatus(t, r, http.StatusOK)
	// A bare array: the settings page (shared-auth) is the route's client.
	var events []any
	if err := json.Unmarshal(r.Body, &events); err != nil {
		t.Fatalf("security-events: want a JSON array: %v: %s", err, r)
	}
	if len(events) != 2 || jstr(events[0], "eventType") != "LOGIN_SUCCESS" || jstr(events[1], "eventType") != "REGISTER" {
		t.Fatalf("want [LOGIN_SUCCESS, REGISTER], got %s", r)
	}
	if jstr(events[0], "userAgent") != "it-secevents-ua" || jstr(events[0], "ipAddress") == "" || jstr(events[0], "createdAt") == "" {
		t.Fatalf("event fields: %v", events[0])
	}

	execSQL(t, `INSERT INTO auth.security_events (user_id, event_type, metadata, created_at)
		SELECT $1, 'IT_FILLER', jsonb_build_object('n', g), now() + g * interval '1 millisecond' FROM generate_series(1, 60) g`, u.ID)
	r = getJSON(t, authURL+"/api/v1/auth/security-events", bearer(s.AccessToken)...)
	events = nil
	if err := json.Unmarshal(r.Body, &events); err != nil || len(events) == 0 {
		t.Fatalf("security-events: want a non-empty JSON array: %v: %s", err, r)
	}
	if len(events) != 50 || jnum(events[0], "metadata", "n") != 60 || jnum(events[49], "metadata", "n") != 11 {
		t.Fatalf("want the newest 50 (n=60…11), got %d events starting %v", len(events), events[0])
	}
	for _, e := range events {
		if jstr(e, "eventType") != "IT_FILLER" {
			t.Fatalf("foreign event or wrong order: %v", e)
		}
	}
	expectStatus(t, getJSON(t, authURL+"/api/v1/auth/security-events"), http.StatusUnauthorized)
}
