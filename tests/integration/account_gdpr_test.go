//go:build integration

package integration

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mana/mana/internal/audit"
	"github.com/mana/mana/internal/store/pg"
)

// TestDataExport: the §2.4 export is an attachment named after today's UTC
// date, pretty-printed, with the /me/data sections and the details the user
// is owed (sessions with IPs, security events newest first).
// Negative control: replacing UserSessions(…, true) by (…, false) in
// ExportData drops the revoked session and fails at "sessions".
func TestDataExport(t *testing.T) {
	u := verifiedUser(t, "export")
	old := loginAs(t, authURL, u, "it-export-old")
	expectStatus(t, postJSON(t, authURL+"/api/v1/auth/logout", map[string]any{"refreshToken": old.RefreshToken}), http.StatusOK)
	s := loginAs(t, authURL, u, "it-export-new")

	r := getJSON(t, authURL+"/api/v1/me/data/export", bearer(s.AccessToken)...)
	expectStatus(t, r, http.StatusOK)
	day := time.Now().UTC().Format("2006-01-02")
	if cd := r.Header.Get("Content-Disposition"); cd != `attachment; filename="meine-daten-`+day+`.json"` {
		t.Fatalf("Content-Disposition = %q", cd)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type = %q", ct)
	}
	if !strings.HasPrefix(string(r.Body), "{\n  \"") {
		t.Fatalf("export is not pretty-printed with 2 spaces: %.60q", r.Body)
	}
	if jstr(r.JSON, "exportVersion") != "2.0" || jstr(r.JSON, "exportedAt") == "" {
		t.Fatalf("export header fields: %s", r)
	}
	if jstr(r.JSON, "data", "user", "email") != u.Email || jstr(r.JSON, "data", "user", "id") != u.ID || jnum(r.JSON, "data", "auth", "sessionsCount") != 1 {
		t.Fatalf("export data section: %s", r)
	}
	sessions, _ := jget(r.JSON, "details", "sessions").([]any)
	if len(sessions) != 2 {
		t.Fatalf("export details.sessions: want 2 (one revoked), got %d: %s", len(sessions), r)
	}
	revoked := 0
	for _, s := range sessions {
		if jstr(s, "ipAddress") == "" || jstr(s, "createdAt") == "" || jstr(s, "expiresAt") == "" {
			t.Fatalf("export session without ipAddress/createdAt/expiresAt: %v", s)
		}
		if jstr(s, "revokedAt") != "" {
			revoked++
		}
	}
	if revoked != 1 {
		t.Fatalf("export sessions: want 1 revoked, got %d", revoked)
	}
	events, _ := jget(r.JSON, "details", "securityEvents").([]any)
	var types []string
	for _, e := range events {
		types = append(types, jstr(e, "eventType"))
	}
	if strings.Join(types, ",") != "LOGIN_SUCCESS,LOGOUT,LOGIN_SUCCESS,REGISTER" {
		t.Fatalf("export securityEvents (newest first) = %v", types)
	}
	for _, k := range []string{"passkeys", "apiKeys"} {
		if v, ok := jget(r.JSON, "details", k).([]any); !ok || len(v) != 0 {
			t.Fatalf("export details.%s: want [], got %v", k, jget(r.JSON, "details", k))
		}
	}
	expectStatus(t, getJSON(t, authURL+"/api/v1/me/data/export"), http.StatusUnauthorized)
}

// personalTables lists every base table of the schemas auth and river with,
// per table, how many rows mention any of the needles (in any column: the
// row is compared as text). Enumerating the catalogue, not a fixed list,
// means a table added later is checked too.
func personalTables(t testing.TB, needles []string, except map[string]string) map[string]int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rows, err := db.Query(ctx, `SELECT table_schema, table_name FROM information_schema.tables
		WHERE table_schema IN ('auth', 'river', 'notify') AND table_type = 'BASE TABLE' ORDER BY 1, 2`)
	if err != nil {
		t.Fatal(err)
	}
	type tbl struct{ schema, name string }
	tables, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (tbl, error) {
		var x tbl
		return x, r.Scan(&x.schema, &x.name)
	})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, tb := range tables {
		q := fmt.Sprintf(`SELECT count(*) FROM %s.%s x WHERE (strpos(lower(x::text), $1) > 0 OR strpos(x::text, $2) > 0 OR strpos(x::text, $3) > 0)`,
			pgx.Identifier{tb.schema}.Sanitize(), pgx.Identifier{tb.name}.Sanitize())
		if e := except[tb.schema+"."+tb.name]; e != "" {
			q += " AND NOT (" + e + ")"
		}
		var n int
		if err := db.QueryRow(ctx, q, needles[0], needles[1], needles[2]).Scan(&n); err != nil {
			t.Fatalf("scan %s.%s: %v", tb.schema, tb.name, err)
		}
		out[tb.schema+"."+tb.name] = n
	}
	if len(out) < 14 {
		t.Fatalf("catalogue lists only %d tables in auth and river: %v", len(out), out)
	}
	return out
}

// TestAccountDeletionLeavesNoPersonalData gives a user rows in every kind of
// table that can hold their data, deletes the account, and then scans every
// table of the auth and river schemas for the user id, the email and the
// user agent they used. Only the ACCOUNT_DELETED record (user id in its
// metadata, nothing else), the user's security events with their personal
// data erased (the pseudonymous user id in user_id only: audit F19) and the
// "account deleted" mail job may remain; the audit chain still verifies.
// The old access and refresh tokens stop working at once, on both replicas.
// Negative controls: removing the "pseudonymise events" step of
// pg.DeleteAccount fails with auth.security_events still naming the email;
// removing the "login attempts" step fails with auth.login_attempts;
// removing "queued mail" fails with river.river_job.
func TestAccountDeletionLeavesNoPersonalData(t *testing.T) {
	u := verifiedUser(t, "delete")
	ua := fmt.Sprintf("it-delete-agent-%d", time.Now().UnixNano())
	s1 := loginAs(t, authURL, u, ua)
	s2 := loginAs(t, auth2URL, u, ua)
	expectStatus(t, postJSON(t, authURL+"/api/v1/auth/refresh", map[string]any{"refreshToken": s2.RefreshToken}, "User-Agent", ua), http.StatusOK)
	// A failed login writes an attempt row and an event without user id but with the email and agent.
	r := do(t, http.MethodPost, authURL+"/api/v1/auth/login", map[string]any{"email": u.Email, "password": "wrong-" + ua}, "User-Agent", ua)
	expectStatus(t, r, http.StatusUnauthorized)
	expectStatus(t, postJSON(t, authURL+"/api/v1/auth/forgot-password", map[string]any{"email": u.Email}, "User-Agent", ua), http.StatusOK)
	requestsSettled(t, u.Email)
	// Rows this service does not write itself but a database taken over from the old one holds.
	execSQL(t, `INSERT INTO auth.encryption_vaults (user_id, wrapped_mk, wrap_iv) VALUES ($1, 'd3JhcHBlZA==', 'aXY=')`, u.ID)
	execSQL(t, `INSERT INTO auth.encryption_vault_audit (id, user_id, action, ip_address, user_agent, status) VALUES ($1, $2, 'init', '127.0.0.1', $3, 200)`, "aud-"+u.ID, u.ID, ua)
	execSQL(t, `INSERT INTO auth.organizations (id, name, slug, metadata) VALUES ($1, 'Personal', $2, '{"type":"personal"}')`, "org-"+u.ID, "slug-"+strings.ToLower(u.ID))
	execSQL(t, `INSERT INTO auth.members (id, organization_id, user_id, role) VALUES ($1, $2, $3, 'owner')`, "mem-"+u.ID, "org-"+u.ID, u.ID)
	execSQL(t, `INSERT INTO auth.verification (id, identifier, value, expires_at) VALUES ($1, 'reset-password:legacy', $2, now() + interval '1 hour')`, "ver-"+u.ID, u.ID)
	execSQL(t, `INSERT INTO auth.two_factor_auth (id, user_id, enabled) VALUES ($1, $2, true)`, "2fa-"+u.ID, u.ID)
	// notify's rows of the user: a push device, preferences (written through
	// notify's API in real life), and the mails notify stored (the
	// verification and reset mails, handed over by the outbox).
	execSQL(t, `INSERT INTO notify.devices (user_id, push_token, platform, device_name) VALUES ($1, $2, 'ios', $3)`,
		u.ID, "ExponentPushToken["+u.ID+"]", ua)
	execSQL(t, `INSERT INTO notify.preferences (user_id) VALUES ($1)`, u.ID)
	eventually(t, 30*time.Second, "the reset mail stored by notify", func() bool {
		return queryInt(t, `SELECT count(*) FROM notify.notifications WHERE recipient = $1`, u.Email) > 0
	})

	// The failed login's event, written before the user was known: kept, erased.
	var failureID string
	if err := db.QueryRow(context.Background(), `SELECT id::text FROM auth.security_events
		WHERE event_type = 'LOGIN_FAILURE' AND user_id IS NULL AND metadata->>'email' = $1`, strings.ToLower(u.Email)).Scan(&failureID); err != nil {
		t.Fatalf("setup: the failed login's event: %v", err)
	}
	ownEvents := queryInt(t, `SELECT count(*) FROM auth.security_events WHERE user_id = $1`, u.ID)

	needles := []string{strings.ToLower(u.Email), u.ID, ua}
	before := personalTables(t, needles, nil)
	for _, tb := range []string{"auth.users", "auth.sessions", "auth.accounts", "auth.link_tokens", "auth.login_attempts", "auth.security_events",
		"auth.encryption_vaults", "auth.encryption_vault_audit", "auth.members", "auth.organizations", "auth.verification", "auth.two_factor_auth", "river.river_job",
		"notify.devices", "notify.preferences", "notify.notifications"} {
		if before[tb] == 0 {
			t.Fatalf("setup: %s holds no row of the user, the check would prove nothing (%v)", tb, before)
		}
	}
	refreshRows := queryInt(t, `SELECT count(*) FROM auth.refresh_tokens rt JOIN auth.sessions s ON s.id = rt.session_id WHERE s.user_id = $1`, u.ID)
	if refreshRows != 3 {
		t.Fatalf("setup: refresh tokens = %d, want 3", refreshRows)
	}

	r = do(t, http.MethodDelete, authURL+"/api/v1/me/data", nil, withBearer(s1.AccessToken, "User-Agent", ua)...)
	expectStatus(t, r, http.StatusOK)
	if r.JSON["success"] != true || jget(r.JSON, "deletedFromAuth", "user") != true || jnum(r.JSON, "deletedFromAuth", "sessions") != 2 ||
		jnum(r.JSON, "deletedFromAuth", "accounts") != 1 || jnum(r.JSON, "totalDeleted") != 4 {
		t.Fatalf("DELETE /me/data: unexpected answer %s", r)
	}
	if p, _ := r.JSON["deletedFromProjects"].([]any); len(p) != 1 || jstr(p[0], "projectId") != "sync" {
		t.Fatalf("deletedFromProjects: %s", r)
	}

	requireSessionDead(t, "deleted user's session 1", s1)
	requireSessionDead(t, "deleted user's session 2", s2)
	if n := queryInt(t, `SELECT count(*) FROM auth.refresh_tokens rt WHERE NOT EXISTS (SELECT 1 FROM auth.sessions s WHERE s.id = rt.session_id)`); n != 0 {
		t.Fatalf("%d orphaned refresh tokens", n)
	}

	// The deletion mail is the one row that must still name the address, until it is sent.
	after := personalTables(t, needles, map[string]string{"river.river_job": fmt.Sprintf(`x.kind = 'auth_mail' AND x.args->>'subject' = '%s'`, deletedSubject),
		"notify.notifications": fmt.Sprintf(`x.subject = '%s'`, deletedSubject),
		// The deletion mail's idempotency key ("auth-account-deleted-<id>").
		"notify.idempotency_keys": fmt.Sprintf(`x.notification_id IN (SELECT id FROM notify.notifications WHERE subject = '%s')`, deletedSubject),
		// The user's own events stay, naming the user by id in user_id only.
		"auth.security_events": fmt.Sprintf(`x.user_id = '%s' AND x.ip_address IS NULL AND x.user_agent IS NULL
			AND (x.metadata IS NULL OR x.metadata = '{}'::jsonb)`, u.ID)})
	for tb, n := range after {
		if n != 0 && tb != "auth.security_events" {
			t.Errorf("after deletion %s still holds %d row(s) naming the user (id, email or user agent)", tb, n)
		}
	}
	// In security_events only the ACCOUNT_DELETED record may name the user, by id and nothing else.
	var meta []byte
	var ip, agent *string
	err := db.QueryRow(context.Background(), `SELECT metadata, ip_address, user_agent FROM auth.security_events
		WHERE event_type = 'ACCOUNT_DELETED' AND metadata->>'userId' = $1`, u.ID).Scan(&meta, &ip, &agent)
	if err != nil {
		t.Fatalf("ACCOUNT_DELETED record: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(meta, &m); err != nil || len(m) != 1 || ip != nil || agent != nil {
		t.Fatalf("ACCOUNT_DELETED record holds more than the user id: metadata=%s ip=%v ua=%v", meta, ip, agent)
	}
	if n := after["auth.security_events"]; n != 1 {
		t.Errorf("after deletion auth.security_events holds %d rows naming the user, want only the ACCOUNT_DELETED record", n)
	}
	// The failed-login event and the user's own events outlive the account,
	// without their personal data (audit F19: the log is append-only).
	if n := queryInt(t, `SELECT count(*) FROM auth.security_events WHERE id = $1 AND event_type = 'LOGIN_FAILURE'
		AND user_id IS NULL AND ip_address IS NULL AND user_agent IS NULL AND metadata = '{}'::jsonb`, failureID); n != 1 {
		t.Errorf("the LOGIN_FAILURE event %s is gone or keeps personal data; want it kept, erased", failureID)
	}
	if n := queryInt(t, `SELECT count(*) FROM auth.security_events WHERE user_id = $1`, u.ID); n != ownEvents {
		t.Errorf("the user's events after deletion: %d, want the %d kept (pseudonymised)", n, ownEvents)
	}
	if n := queryInt(t, `SELECT count(*) FROM auth.security_event_seals s JOIN auth.security_events e ON e.id = s.event_id
		WHERE (e.user_id = $1 OR e.id = $2::uuid) AND s.pii_salt IS NOT NULL`, u.ID, failureID); n != 0 {
		t.Errorf("%d seals of the erased events keep their salt", n)
	}
	chain := pg.NewAuthStore(db, nil)
	if _, _, err := audit.SealPending(context.Background(), chain, audit.DefaultSealBatch, rand.Reader); err != nil {
		t.Fatalf("seal: %v", err)
	}
	if r, err := audit.Verify(context.Background(), chain); err != nil || r.Break != nil {
		t.Errorf("the audit chain after the deletion: %+v, %v; want it intact", r, err)
	}
	if n := countSubjectJobs(t, u.Email, deletedSubject); n != 1 {
		t.Fatalf("account-deleted mail jobs = %d, want 1", n)
	}
	waitForSubject(t, u.Email, deletedSubject, 30*time.Second)

	// Deleting again with the dead token is refused; the login is gone.
	expectStatus(t, do(t, http.MethodDelete, authURL+"/api/v1/me/data", nil, bearer(s1.AccessToken)...), http.StatusUnauthorized)
	expectStatus(t, login(t, authURL, u.Email, u.Password), http.StatusUnauthorized)
}
