package app

import (
	"bytes"
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/mana/mana/internal/audit"
	"github.com/mana/mana/internal/auth"
	"github.com/mana/mana/internal/store/sqlite"
)

// TestAuditCommands runs `mana audit seal` and `mana audit verify` on the
// SQLite data of `mana serve`: verify counts unsealed events and says ok,
// seal seals them, and after a seal's salt is shredded while its row keeps
// its data (which the guards allow) verify names that seq and event and
// fails. Negative control (run): AuditVerify printing the break but
// returning nil fails at "want ErrChainBroken".
func TestAuditCommands(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	look := func(k string) (string, bool) {
		if k == "MANA_DATA_DIR" {
			return dir, true
		}
		return "", false
	}
	db, _, closeDB, err := openDataDir(ctx, dir, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sqlite.Migrate(ctx, db, sqlite.Auth, sqlite.Notify); err != nil {
		t.Fatal(err)
	}
	st := sqlite.NewAuthStore(db, nil)
	for _, typ := range []string{audit.LoginFailure, audit.SigningKeyCreated} {
		if err := st.InTx(ctx, func(tx auth.Tx) error {
			return tx.InsertEvent(ctx, audit.Event{Type: typ, IP: "192.0.2.1", Metadata: map[string]any{"email": "cmd@example.com"}})
		}); err != nil {
			t.Fatal(err)
		}
	}
	if err := closeDB(); err != nil {
		t.Fatal(err)
	}

	run := func(fn func(context.Context, *bytes.Buffer) error) (string, error) {
		t.Helper()
		var out bytes.Buffer
		err := fn(ctx, &out)
		return out.String(), err
	}
	verify := func(ctx context.Context, out *bytes.Buffer) error { return AuditVerify(ctx, out, look) }
	seal := func(ctx context.Context, out *bytes.Buffer) error { return AuditSeal(ctx, out, look) }

	if out, err := run(verify); err != nil || !strings.Contains(out, "unsealed: 2") || !strings.HasSuffix(out, "ok\n") {
		t.Fatalf("verify before sealing: %v\n%s", err, out)
	}
	if out, err := run(seal); err != nil || !strings.Contains(out, "sealed 2") {
		t.Fatalf("seal: %v\n%s", err, out)
	}
	out, err := run(verify)
	if err != nil || !strings.Contains(out, "sealed: 2\nerased: 0\nunsealed: 0\n") || !regexp.MustCompile(`head: seq 2 link [0-9a-f]{64}\nok\n$`).MatchString(out) {
		t.Fatalf("verify after sealing: %v\n%s", err, out)
	}

	db, _, closeDB, err = openDataDir(ctx, dir, false)
	if err != nil {
		t.Fatal(err)
	}
	var id string
	if err := db.QueryRowContext(ctx, `SELECT event_id FROM auth_security_event_seals WHERE seq = 1`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `UPDATE auth_security_event_seals SET pii_salt = NULL WHERE seq = 1`); err != nil {
		t.Fatal(err)
	}
	if err := closeDB(); err != nil {
		t.Fatal(err)
	}
	out, err = run(verify)
	if !errors.Is(err, ErrChainBroken) {
		t.Fatalf("verify of a tampered chain: %v, want ErrChainBroken\n%s", err, out)
	}
	if want := "broken at seq 1 (event " + id + "): salt shredded but the row is not erased\n"; !strings.HasSuffix(out, want) {
		t.Fatalf("verify output:\n%s\nwant it to end with %q", out, want)
	}
}
