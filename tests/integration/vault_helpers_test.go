//go:build integration

package integration

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/mana/mana/internal/kek"
	"github.com/mana/mana/internal/vault"
)

const vaultPath = "/api/v1/me/encryption-vault"

// stackKEKs returns the stack's active KEK and the retired one its auth
// processes also know (scripts/stack.sh exports both).
func stackKEKs(t testing.TB) (active, previous []byte) {
	t.Helper()
	for _, v := range []struct {
		name string
		dst  *[]byte
	}{{"TEST_KEK", &active}, {"TEST_KEK_PREVIOUS", &previous}} {
		raw := os.Getenv(v.name)
		k, err := base64.StdEncoding.DecodeString(raw)
		if err != nil || len(k) != 32 {
			t.Fatalf("%s = %q is not base64 of 32 bytes (run via scripts/run-integration-tests.sh): %v", v.name, raw, err)
		}
		*v.dst = k
	}
	return active, previous
}

// stackRing is the ring the stack's auth processes use.
func stackRing(t testing.TB) *kek.Ring {
	t.Helper()
	active, previous := stackKEKs(t)
	r, err := kek.NewRing(active, previous)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// ringOf is a ring with one KEK, to write rows as a given key would.
func ringOf(t testing.TB, key []byte) *kek.Ring {
	t.Helper()
	r, err := kek.NewRing(key)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// vaultUser is a verified, logged-in user.
func vaultUser(t testing.TB, name string) (user, session) {
	t.Helper()
	u := verifiedUser(t, name)
	return u, loginOK(t, authURL, u)
}

// vaultCall sends one vault request with the session's bearer token.
func vaultCall(t testing.TB, base, method, path string, s session, body any) *response {
	t.Helper()
	return do(t, method, base+vaultPath+path, body, bearer(s.AccessToken)...)
}

// expectVaultError asserts status, machine code, and the contract's human
// `error` text (envelope C, seed contract §2.5).
func expectVaultError(t testing.TB, r *response, status int, code, text string) {
	t.Helper()
	expectStatus(t, r, status)
	if jstr(r.JSON, "code") != code || jstr(r.JSON, "error") != text {
		t.Fatalf("want code %q and error %q, got %s", code, text, r)
	}
}

// masterKeyOf decodes the masterKey of an /init, /key or /rotate answer.
func masterKeyOf(t testing.TB, r *response) []byte {
	t.Helper()
	expectStatus(t, r, 200)
	mk, err := base64.StdEncoding.DecodeString(jstr(r.JSON, "masterKey"))
	if err != nil || len(mk) != 32 {
		t.Fatalf("masterKey is not base64 of 32 bytes: %s", r)
	}
	if jnum(r.JSON, "formatVersion") != 1 || jstr(r.JSON, "kekId") == "" {
		t.Fatalf("want formatVersion 1 and a kekId: %s", r)
	}
	return mk
}

// vaultAudits counts a user's audit rows with an action, status and context
// ("-" matches NULL).
func vaultAudits(t testing.TB, userID, action string, status int, context string) int {
	t.Helper()
	if context == "-" {
		return queryInt(t, `SELECT count(*) FROM auth.encryption_vault_audit WHERE user_id = $1 AND action = $2 AND status = $3 AND context IS NULL`,
			userID, action, status)
	}
	return queryInt(t, `SELECT count(*) FROM auth.encryption_vault_audit WHERE user_id = $1 AND action = $2 AND status = $3 AND context LIKE $4`,
		userID, action, status, context)
}

func expectAudits(t testing.TB, userID, action string, status int, context string, want int) {
	t.Helper()
	if n := vaultAudits(t, userID, action, status, context); n != want {
		t.Fatalf("audit rows %s/%d/%s for %s = %d, want %d", action, status, context, userID, n, want)
	}
}

// insertUsers creates n bare auth.users rows (no password: for rows that
// only need an owner) and returns their ids.
func insertUsers(t testing.TB, prefix string, n int) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tag := fmt.Sprintf("%s%d", prefix, time.Now().UnixNano())
	rows, err := db.Query(ctx, `INSERT INTO auth.users (id, name, email)
		SELECT $1 || lpad(g::text, 6, '0'), 'Vault Test', $1 || lpad(g::text, 6, '0') || '@manatest.local'
		FROM generate_series(1, $2) g RETURNING id`, tag, n)
	if err != nil {
		t.Fatalf("insert %d users: %v", n, err)
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil || len(ids) != n {
		t.Fatalf("insert users: %d of %d, %v", len(ids), n, err)
	}
	return ids
}

// writeVaultRow stores a server-wrapped vault row directly, as the old
// service (scheme 1, kek_id env-v1) or a past KEK would have written it.
func writeVaultRow(t testing.TB, userID string, w vault.Wrapped) {
	t.Helper()
	if _, err := db.Exec(context.Background(), `INSERT INTO auth.encryption_vaults (user_id, wrapped_mk, wrap_iv, kek_id, wrap_scheme)
		VALUES ($1, $2, $3, $4, $5)`, userID, w.WrappedMK, w.WrapIV, w.KEKID, w.Scheme); err != nil {
		t.Fatalf("write vault row of %s: %v", userID, err)
	}
}

// legacyWrap wraps mk the way the old service did: no associated data, kek_id env-v1.
func legacyWrap(r *kek.Ring, mk []byte) vault.Wrapped {
	nonce, ct, _ := r.Wrap(mk, nil)
	return vault.Wrapped{WrappedMK: base64.StdEncoding.EncodeToString(ct), WrapIV: base64.StdEncoding.EncodeToString(nonce),
		KEKID: kek.LegacyID, Scheme: vault.SchemeNoAAD}
}

func randomKey(t testing.TB) []byte {
	t.Helper()
	k := make([]byte, 32)
	_, _ = rand.Read(k) // never fails (aborts instead)
	return k
}

// postRaw posts body exactly as given (for malformed JSON).
func postRaw(t testing.TB, u, body string, headers ...string) *response {
	t.Helper()
	return sendRaw(t, http.MethodPost, u, body, headers...)
}
