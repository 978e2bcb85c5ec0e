package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"

	"github.com/mana/mana/internal/auth"
	"github.com/mana/mana/internal/randid"
	"github.com/mana/mana/internal/store/sqlite"
	"github.com/mana/mana/internal/store/storetest"
	"github.com/mana/mana/internal/vault"
)

// personalRows counts, per table of the file (every table the catalogue
// lists, so a table added later is checked too), the rows in which any
// column mentions a needle. JSONB columns (River's args) are compared as
// JSON text. except excludes rows by a condition per table.
func personalRows(t *testing.T, db *sql.DB, needles []string, except map[string]string) map[string]int {
	t.Helper()
	ctx := context.Background()
	out := map[string]int{}
	for _, table := range names(t, db, `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`) {
		var parts []string
		for _, c := range names(t, db, `SELECT name FROM pragma_table_info(?)`, table) {
			parts = append(parts, fmt.Sprintf(`CASE WHEN typeof("%[1]s") = 'blob' AND json_valid("%[1]s", 8) THEN json("%[1]s") ELSE coalesce(CAST("%[1]s" AS TEXT), '') END`, c))
		}
		row := "lower(" + strings.Join(parts, " || '|' || ") + ")"
		var match []string
		args := []any{}
		for _, n := range needles {
			match = append(match, "instr("+row+", ?) > 0")
			args = append(args, strings.ToLower(n))
		}
		q := fmt.Sprintf(`SELECT count(*) FROM "%s" WHERE (%s)`, table, strings.Join(match, " OR "))
		if e := except[table]; e != "" {
			q += " AND NOT (" + e + ")"
		}
		var n int
		if err := db.QueryRowContext(ctx, q, args...).Scan(&n); err != nil {
			t.Fatalf("scan %s: %v", table, err)
		}
		out[table] = n
	}
	return out
}

// names runs a query of one text column.
func names(t *testing.T, db *sql.DB, q string, args ...any) []string {
	t.Helper()
	rows, err := db.QueryContext(context.Background(), q, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestAccountDeletionLeavesNoPersonalData (SQLite twin of the integration
// test of that name): a user with rows in every kind of table that can hold
// their data is deleted; then every table of the file is scanned for the
// user id, the email, the IP and the user agent. Only the ACCOUNT_DELETED
// record (the user id in its metadata), the user's erased security events
// (the pseudonymous user id in user_id, nothing else: audit F19), the
// "account deleted" mail job and, since this file has no notify tables,
// the job asking notify to erase the user's rows there may remain.
// Negative control: DeleteAccount without its "pseudonymise events" step
// leaves the user's events and the pre-login LOGIN_FAILURE event with the
// email, IP and agent.
func TestAccountDeletionLeavesNoPersonalData(t *testing.T) {
	ctx := context.Background()
	b := newBackend(t)
	db := b.Inspect.(inspector).db
	svc, vaults := storetest.Services(t, b)
	email, pw := strings.ToLower("gdpr-"+randid.ID(8)+"@example.com"), "Gdpr-"+randid.Secret()
	ip, agent := "192.0.2.77", "needle-agent/"+randid.ID(6)
	client := auth.Client{IP: ip, UserAgent: agent}
	u, err := svc.Register(ctx, auth.RegisterInput{Email: email, Password: pw}, client)
	if err != nil {
		t.Fatal(err)
	}
	// Verify directly (the link itself is covered by the conformance suite).
	now := sqlite.FormatTime(u.CreatedAt)
	if _, err := db.ExecContext(ctx, `UPDATE auth_users SET email_verified = 1 WHERE id = ?`, u.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Login(ctx, email, "Wrong-"+randid.ID(8), client); err == nil {
		t.Fatal("wrong password accepted")
	}
	login, err := svc.Login(ctx, email, pw, client)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Login(ctx, email, "Wrong-"+randid.ID(8), client); err == nil {
		t.Fatal("wrong password accepted")
	}
	if err := svc.ForgotPassword(ctx, email, "", client); err != nil {
		t.Fatal(err)
	}
	if _, err := vaults.Init(ctx, u.ID, vault.Client{IP: ip, UserAgent: agent}); err != nil {
		t.Fatal(err)
	}
	// Rows only the old service wrote: a reset row and a personal space.
	for _, q := range []string{
		`INSERT INTO auth_verification (id, identifier, value, expires_at, created_at, updated_at) VALUES ('v-` + u.ID + `', 'reset-password:x', ?1, ?2, ?2, ?2)`,
		`INSERT INTO auth_organizations (id, name, metadata, created_at, updated_at) VALUES ('o-' || ?1, 'personal', '{"type":"personal"}', ?2, ?2)`,
		`INSERT INTO auth_members (id, organization_id, user_id, role, created_at) VALUES ('m-' || ?1, 'o-' || ?1, ?1, 'owner', ?2)`,
	} {
		if _, err := db.ExecContext(ctx, q, u.ID, now); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	needles := []string{u.ID, email, ip, agent}
	before := personalRows(t, db, needles, nil)
	for _, table := range []string{"auth_users", "auth_sessions", "auth_accounts", "auth_login_attempts", "auth_security_events",
		"auth_link_tokens", "auth_encryption_vaults", "auth_encryption_vault_audit", "auth_verification", "auth_members", "river_job"} {
		if before[table] == 0 {
			t.Fatalf("set-up left no row naming the user in %s: %v", table, before)
		}
	}

	p, err := svc.Authenticate(ctx, login.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.DeleteAccount(ctx, p); err != nil {
		t.Fatalf("delete: %v", err)
	}
	after := personalRows(t, db, needles, map[string]string{
		"river_job": `(kind = 'auth_mail' AND json_extract(args, '$.subject') LIKE '%gelöscht%') OR kind = 'auth_notify_erase'`,
		"auth_security_events": `(event_type = 'ACCOUNT_DELETED' AND ip_address IS NULL AND user_agent IS NULL)
			OR (user_id IS NOT NULL AND ip_address IS NULL AND user_agent IS NULL AND metadata = '{}')`,
	})
	for table, n := range after {
		if n != 0 {
			t.Errorf("after deletion %s holds %d rows naming the user", table, n)
		}
	}
	var organizations int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM auth_organizations WHERE id = 'o-' || ?`, u.ID).Scan(&organizations); err != nil || organizations != 0 {
		t.Errorf("personal space after deletion: %d, %v; want 0", organizations, err)
	}
}
