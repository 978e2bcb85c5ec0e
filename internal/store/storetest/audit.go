package storetest

// The audit log's conformance (audit F19): append-only guards, the hash
// chain, erasure on account deletion, and tampering found by Verify.

import (
	"context"
	"crypto/rand"
	"strconv"
	"strings"
	"testing"

	"github.com/mana/mana/internal/audit"
	"github.com/mana/mana/internal/auth"
)

// AuditInspector runs statements on the audit tables of a backend. In q,
// {events}, {seals} and {users} name the tables, {metadata.f} is field f of
// the events' metadata as text, and $1… are the arguments.
type AuditInspector interface {
	// Exec runs q as the service would: through the guards (triggers).
	Exec(ctx context.Context, q string, args ...any) error
	// Bypass runs q with the guards off for this statement only (PostgreSQL:
	// session_replication_role = replica on its connection, as superuser;
	// SQLite: the triggers dropped and recreated around it), as an attacker
	// with the database's owner rights would.
	Bypass(ctx context.Context, q string, args ...any) error
	// Value reads one value of q's first row as text ("" for NULL).
	Value(ctx context.Context, q string, args ...any) (string, error)
}

// RunAudit runs the audit suite; newBackend must return a database of its
// own (the tampering cases break its chain for good), with Chain and Audit set.
func RunAudit(t *testing.T, newBackend func(t *testing.T) Backend) {
	tests := []struct {
		name string
		fn   func(*testing.T, Backend)
	}{
		{"AppendOnly", testAppendOnly},
		{"ChainSealsAndVerifies", testChainSealsAndVerifies},
		{"DeletionKeepsEventsPseudonymised", testDeletionKeepsEventsPseudonymised},
		{"TamperingDetected", testTamperingDetected},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newBackend(t)) })
	}
}

// insertEvent writes an event as the services do and returns its id.
func insertEvent(t *testing.T, b Backend, e audit.Event) string {
	t.Helper()
	ctx, cancel := background()
	defer cancel()
	marker := newEmail("event")
	if e.Metadata == nil {
		e.Metadata = map[string]any{}
	}
	e.Metadata["marker"] = marker
	if err := b.Store.InTx(ctx, func(tx auth.Tx) error { return tx.InsertEvent(ctx, e) }); err != nil {
		t.Fatalf("insert %s event: %v", e.Type, err)
	}
	id := value(t, b, `SELECT id FROM {events} WHERE {metadata.marker} = $1`, marker)
	if id == "" {
		t.Fatalf("the %s event just written is not found", e.Type)
	}
	return id
}

func value(t *testing.T, b Backend, q string, args ...any) string {
	t.Helper()
	ctx, cancel := background()
	defer cancel()
	v, err := b.Audit.Value(ctx, q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return v
}

func sealAll(t *testing.T, b Backend) int {
	t.Helper()
	ctx, cancel := background()
	defer cancel()
	n, busy, err := audit.SealPending(ctx, b.Chain, 3, rand.Reader)
	if err != nil || busy {
		t.Fatalf("seal: %d sealed, busy %v, %v", n, busy, err)
	}
	return n
}

func verify(t *testing.T, b Backend) audit.Report {
	t.Helper()
	ctx, cancel := background()
	defer cancel()
	r, err := audit.Verify(ctx, b.Chain)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	return r
}

func wantIntact(t *testing.T, r audit.Report, what string) {
	t.Helper()
	if r.Break != nil {
		t.Fatalf("%s: the chain does not verify: %s", what, r.Break)
	}
}

// testAppendOnly: the guards refuse changing an event's type, deleting an
// event or a seal, and changing a seal other than shredding its salt; they
// let an erasure (PII fields emptied, identity kept) and a shredding through.
// Negative control (run): without the UPDATE trigger on the events table
// (auth_security_events_update_guard / security_events_update_guard) the
// change of event_type goes through and this test fails.
func testAppendOnly(t *testing.T, b Backend) {
	ctx, cancel := background()
	defer cancel()
	id := insertEvent(t, b, audit.Event{UserID: "append-only-user", Type: audit.LoginSuccess, IP: "192.0.2.7", UserAgent: "ua",
		Metadata: map[string]any{"email": "x@example.com"}})
	sealAll(t, b)
	refused := []struct{ what, q string }{
		{"UPDATE of event_type", `UPDATE {events} SET event_type = 'LOGOUT' WHERE id = $1`},
		{"UPDATE of user_id with an erasure", `UPDATE {events} SET user_id = 'someone-else', ip_address = NULL, user_agent = NULL, metadata = '{}' WHERE id = $1`},
		{"UPDATE of ip_address to another value", `UPDATE {events} SET ip_address = '198.51.100.1' WHERE id = $1`},
		{"DELETE of the event", `DELETE FROM {events} WHERE id = $1`},
		{"UPDATE of a seal's link", `UPDATE {seals} SET link = pii_digest WHERE event_id = $1`},
		{"DELETE of a seal", `DELETE FROM {seals} WHERE event_id = $1`},
	}
	for _, r := range refused {
		if err := b.Audit.Exec(ctx, r.q, id); err == nil {
			t.Errorf("%s: allowed, want refused by the append-only guard", r.what)
		}
	}
	if got := value(t, b, `SELECT event_type FROM {events} WHERE id = $1`, id); got != audit.LoginSuccess {
		t.Fatalf("event_type = %q after the refused updates", got)
	}
	// An erasure and a shredding are what account deletion does.
	if err := b.Audit.Exec(ctx, `UPDATE {events} SET ip_address = NULL, user_agent = NULL, metadata = '{}' WHERE id = $1`, id); err != nil {
		t.Fatalf("erasure-shaped UPDATE refused: %v", err)
	}
	if err := b.Audit.Exec(ctx, `UPDATE {seals} SET pii_salt = NULL WHERE event_id = $1`, id); err != nil {
		t.Fatalf("shredding a seal's salt refused: %v", err)
	}
	if got := value(t, b, `SELECT count(*) FROM {events} WHERE id = $1 AND ip_address IS NULL AND user_agent IS NULL`, id); got != "1" {
		t.Fatalf("the erased event: count %s, want 1", got)
	}
}

// testChainSealsAndVerifies: every committed event gets one seal, in order;
// the chain verifies, and keeps verifying as it grows. Metadata with nested
// objects, numbers and non-ASCII text hashes alike on both backends (jsonb
// reorders keys; SQLite keeps the text).
func testChainSealsAndVerifies(t *testing.T, b Backend) {
	before := verify(t, b)
	wantIntact(t, before, "empty")
	for i := 0; i < 4; i++ {
		insertEvent(t, b, audit.Event{UserID: "chain-user", Type: audit.LoginFailure, IP: "192.0.2.1", UserAgent: "Mozilla/5.0 (Ü)",
			Metadata: map[string]any{"zeta": 1, "alpha": map[string]any{"b": []any{1.5, "x", nil, true}, "a": "ß"}, "n": i}})
	}
	insertEvent(t, b, audit.Event{Type: audit.SigningKeyCreated})
	n := sealAll(t, b)
	if n < 5 {
		t.Fatalf("sealed %d, want at least the 5 new events", n)
	}
	r := verify(t, b)
	wantIntact(t, r, "after the first seal")
	if r.Unsealed != 0 || r.Sealed != before.Sealed+n || r.Head.Seq != int64(r.Sealed) {
		t.Fatalf("report %+v after sealing %d (before %+v)", r, n, before)
	}
	if again := sealAll(t, b); again != 0 {
		t.Fatalf("a second seal run sealed %d, want 0", again)
	}
	insertEvent(t, b, audit.Event{UserID: "chain-user", Type: audit.Logout})
	if r := verify(t, b); r.Unsealed != 1 || r.Break != nil {
		t.Fatalf("one new event: report %+v, want it unsealed and the chain intact", r)
	}
	if n := sealAll(t, b); n != 1 {
		t.Fatalf("sealed %d, want 1", n)
	}
	r2 := verify(t, b)
	wantIntact(t, r2, "after the second seal")
	if r2.Sealed != r.Sealed+1 || r2.Unsealed != 0 {
		t.Fatalf("report %+v, want %d sealed, 0 unsealed", r2, r.Sealed+1)
	}
}

// testDeletionKeepsEventsPseudonymised: deleting an account keeps the
// user's events (pseudonymous user id only: IP, user agent and metadata
// erased) and erases the events that named the address before the user was
// known; the sealed ones lose their salt, and the chain still verifies.
// Negative controls (run on SQLite): without DeleteAccount's "pseudonymise
// events" step it fails at "still name the user or address"; without its
// "shred event salts" step at "keep their salt".
func testDeletionKeepsEventsPseudonymised(t *testing.T, b Backend) {
	e := newEnv(t, b, b.Store, policy)
	u, login := e.loggedIn(t, "audit-delete")
	wantWrong(t, wrongLogin(t, e, u.Email), 1)
	sealAll(t, b)
	// One more event after sealing: erased before it is ever sealed.
	wantWrong(t, wrongLogin(t, e, u.Email), 2)
	ctx, cancel := background()
	defer cancel()
	own := value(t, b, `SELECT count(*) FROM {events} WHERE user_id = $1`, u.ID)
	byMail := value(t, b, `SELECT count(*) FROM {events} WHERE user_id IS NULL AND {metadata.email} = $1`, u.Email)
	if own == "0" || byMail == "0" {
		t.Fatalf("setup: %s events of the user, %s naming the address; want some of each", own, byMail)
	}
	p, err := e.svc.Authenticate(ctx, login.AccessToken)
	if err != nil {
		t.Fatalf("authenticate: %v", err)
	}
	if _, err := e.svc.DeleteAccount(ctx, p); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if got := value(t, b, `SELECT count(*) FROM {events} WHERE user_id = $1`, u.ID); got != own {
		t.Fatalf("the user's events after deletion: %s, want the %s kept", got, own)
	}
	if got := value(t, b, `SELECT count(*) FROM {events} WHERE (user_id = $1 OR {metadata.email} = $2)
		AND (ip_address IS NOT NULL OR user_agent IS NOT NULL OR metadata <> '{}')`, u.ID, u.Email); got != "0" {
		t.Fatalf("%s events still name the user or address with personal data", got)
	}
	if got := value(t, b, `SELECT count(*) FROM {seals} s JOIN {events} e ON e.id = s.event_id
		WHERE e.user_id = $1 AND s.pii_salt IS NOT NULL`, u.ID); got != "0" {
		t.Fatalf("%s seals of the deleted user's events keep their salt", got)
	}
	sealAll(t, b)
	r := verify(t, b)
	wantIntact(t, r, "after the deletion")
	if r.Erased == 0 || r.Unsealed != 0 {
		t.Fatalf("report %+v, want erased seals and nothing unsealed", r)
	}
}

// testTamperingDetected tampers with sealed events as the database's owner
// would (guards off, or through what they allow), each time at an earlier
// seq than before, and Verify names that seq and the reason each time.
// Negative control: each case is a change Verify must see; the first case
// (salt shredded, row intact) passes the guards, so only the chain finds it.
func testTamperingDetected(t *testing.T, b Backend) {
	e := newEnv(t, b, b.Store, policy)
	u, _ := e.verifiedUser(t, "audit-tamper")
	ids := make([]string, 8)
	for i := range ids {
		ids[i] = insertEvent(t, b, audit.Event{UserID: u.ID, Type: audit.LoginSuccess, IP: "192.0.2." + strconv.Itoa(i+1), UserAgent: "tamper-ua",
			Metadata: map[string]any{"i": i}})
	}
	sealAll(t, b)
	wantIntact(t, verify(t, b), "before tampering")
	seq := func(id string) string { return value(t, b, `SELECT seq FROM {seals} WHERE event_id = $1`, id) }
	ctx, cancel := background()
	defer cancel()
	steps := []struct {
		name   string
		id     string
		bypass bool
		q      []string
		// at is the seal the break is reported at (default: id's).
		at     string
		reason string
	}{
		{"salt shredded, row intact", ids[7], false, []string{`UPDATE {seals} SET pii_salt = NULL WHERE event_id = $1`}, "", "salt shredded but the row is not erased"},
		{"erased while the user exists", ids[6], false, []string{`UPDATE {events} SET ip_address = NULL, user_agent = NULL, metadata = '{}' WHERE id = $1`,
			`UPDATE {seals} SET pii_salt = NULL WHERE event_id = $1`}, "", "PII erased while the user still exists"},
		{"erased, salt kept", ids[5], false, []string{`UPDATE {events} SET ip_address = NULL, user_agent = NULL, metadata = '{}' WHERE id = $1`}, "", "PII digest mismatch"},
		{"IP changed", ids[4], true, []string{`UPDATE {events} SET ip_address = '203.0.113.66' WHERE id = $1`}, "", "PII digest mismatch"},
		{"type changed", ids[3], true, []string{`UPDATE {events} SET event_type = 'LOGOUT' WHERE id = $1`}, "", "identity fields changed"},
		{"seal rewritten", ids[2], true, []string{`UPDATE {seals} SET link = pii_digest WHERE event_id = $1`}, "", "link mismatch"},
		{"event deleted", ids[1], true, []string{`DELETE FROM {events} WHERE id = $1`}, "", "event missing"},
		{"seal deleted", ids[0], true, []string{`DELETE FROM {seals} WHERE event_id = $1`}, ids[1], "seq gap"},
	}
	for _, s := range steps {
		at := s.at
		if at == "" {
			at = s.id
		}
		wantSeq := seq(at)
		for _, q := range s.q {
			run := b.Audit.Exec
			if s.bypass {
				run = b.Audit.Bypass
			}
			if err := run(ctx, q, s.id); err != nil {
				t.Fatalf("%s: %s: %v", s.name, q, err)
			}
		}
		r := verify(t, b)
		if r.Break == nil {
			t.Fatalf("%s: the chain still verifies (%+v)", s.name, r)
		}
		if strconv.FormatInt(r.Break.Seq, 10) != wantSeq || !strings.Contains(r.Break.Reason, s.reason) {
			t.Fatalf("%s: %s; want broken at seq %s: %s", s.name, r.Break, wantSeq, s.reason)
		}
	}
}
