//go:build integration

package integration

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/mana/mana/internal/kek"
)

// TestVaultEndpoints walks every vault endpoint and error code of contract
// §2.5 with the zero-knowledge rules of §5.7, checking the audit rows of §5.6.
//
// Guards and their negative controls:
//   - Failure audits persist (DESIGN.md §5 item 8): make vault.Service.do
//     return the refusal from inside the transaction (the old service's
//     rollback) and the failed_fetch/404, rotate/409, zk_enable/400 … counts are 0.
//   - ZK rules: drop the ZeroKnowledge check in Rotate or ClearRecoveryWrap and
//     the 409s become 200s; drop the recovery check in EnableZeroKnowledge and
//     the 400 RECOVERY_WRAP_MISSING becomes 200 (and the CHECK constraint 500s).
//   - Bearer of a live session: /key without a token is 401.
func TestVaultEndpoints(t *testing.T) {
	u, s := vaultUser(t, "vault")

	if r := do(t, http.MethodGet, authURL+vaultPath+"/key", nil); r.Status != http.StatusUnauthorized {
		t.Fatalf("/key without a token: want 401, got %s", r)
	}
	st := vaultCall(t, authURL, "GET", "/status", s, nil)
	expectStatus(t, st, 200)
	if st.JSON["vaultExists"] != false || st.JSON["hasRecoveryWrap"] != false || st.JSON["zeroKnowledge"] != false ||
		st.JSON["recoverySetAt"] != nil {
		t.Fatalf("status without a vault: %s", st)
	}

	// No vault yet: every operation that needs one says so, and audits it.
	expectVaultError(t, vaultCall(t, authURL, "GET", "/key", s, nil), 404, "VAULT_NOT_INITIALISED", "vault not initialised")
	expectAudits(t, u.ID, "failed_fetch", 404, "not-initialised", 1)
	expectVaultError(t, vaultCall(t, authURL, "POST", "/recovery-wrap", s, map[string]any{"recoveryWrappedMk": "w", "recoveryIv": "i"}),
		404, "VAULT_NOT_INITIALISED", "vault not initialised")
	expectAudits(t, u.ID, "recovery_set", 404, "no-vault", 1)
	expectVaultError(t, vaultCall(t, authURL, "DELETE", "/recovery-wrap", s, nil), 404, "VAULT_NOT_INITIALISED", "vault not initialised")
	expectAudits(t, u.ID, "recovery_clear", 404, "no-vault", 1)
	expectVaultError(t, vaultCall(t, authURL, "POST", "/zero-knowledge", s, map[string]any{"enable": true}), 404, "VAULT_NOT_INITIALISED", "vault not initialised")
	expectAudits(t, u.ID, "zk_enable", 404, "no-vault", 1)

	// init creates, then is idempotent (also on the other replica).
	mk := masterKeyOf(t, vaultCall(t, authURL, "POST", "/init", s, map[string]any{"ignored": true}))
	expectAudits(t, u.ID, "init", 201, "created", 1)
	if got := masterKeyOf(t, vaultCall(t, auth2URL, "POST", "/init", s, nil)); !bytes.Equal(got, mk) {
		t.Fatal("second /init returned another key")
	}
	expectAudits(t, u.ID, "init", 200, "already-exists", 1)
	k := vaultCall(t, auth2URL, "GET", "/key", s, nil)
	if got := masterKeyOf(t, k); !bytes.Equal(got, mk) {
		t.Fatal("/key returned another key than /init")
	}
	if jstr(k.JSON, "kekId") != stackRing(t).ActiveID() {
		t.Fatalf("kekId = %q, want the active KEK %s", jstr(k.JSON, "kekId"), stackRing(t).ActiveID())
	}
	expectAudits(t, u.ID, "fetch", 200, "-", 1)
	var scheme int
	if err := db.QueryRow(context.Background(), `SELECT wrap_scheme FROM auth.encryption_vaults WHERE user_id = $1`, u.ID).Scan(&scheme); err != nil || scheme != 2 {
		t.Fatalf("new row's wrap_scheme = %d (%v), want 2 (user-bound)", scheme, err)
	}

	// rotate: a new key; /key follows.
	mk2 := masterKeyOf(t, vaultCall(t, authURL, "POST", "/rotate", s, nil))
	if bytes.Equal(mk2, mk) {
		t.Fatal("/rotate returned the old key")
	}
	expectAudits(t, u.ID, "rotate", 200, "-", 1)
	if got := masterKeyOf(t, vaultCall(t, authURL, "GET", "/key", s, nil)); !bytes.Equal(got, mk2) {
		t.Fatal("/key after /rotate is not the new key")
	}

	// Recovery wrap: validation, set, clear.
	const recRequired = "recoveryWrappedMk and recoveryIv are required (base64 strings)"
	for _, body := range []any{map[string]any{}, map[string]any{"recoveryWrappedMk": "w"}, map[string]any{"recoveryWrappedMk": "", "recoveryIv": "i"},
		map[string]any{"recoveryWrappedMk": 5, "recoveryIv": "i"}, "not an object"} {
		expectVaultError(t, vaultCall(t, authURL, "POST", "/recovery-wrap", s, body), 400, "BAD_REQUEST", recRequired)
	}
	long := strings.Repeat("a", 5000)
	if r := vaultCall(t, authURL, "POST", "/recovery-wrap", s, map[string]any{"recoveryWrappedMk": long, "recoveryIv": "i"}); r.Status != 400 || jstr(r.JSON, "code") != "BAD_REQUEST" {
		t.Fatalf("5000-char recoveryWrappedMk: want 400 BAD_REQUEST, got %s", r)
	}
	expect := func(r *response) {
		t.Helper()
		expectStatus(t, r, 200)
		if r.JSON["ok"] != true {
			t.Fatalf("want ok:true: %s", r)
		}
	}
	expect(vaultCall(t, authURL, "POST", "/recovery-wrap", s, map[string]any{"recoveryWrappedMk": "d3JhcHBlZA==", "recoveryIv": "aXY="}))
	expectAudits(t, u.ID, "recovery_set", 200, "-", 1)
	st = vaultCall(t, authURL, "GET", "/status", s, nil)
	if st.JSON["vaultExists"] != true || st.JSON["hasRecoveryWrap"] != true || jstr(st.JSON, "recoverySetAt") == "" {
		t.Fatalf("status with a recovery wrap: %s", st)
	}
	expect(vaultCall(t, authURL, "DELETE", "/recovery-wrap", s, nil))
	expectAudits(t, u.ID, "recovery_clear", 200, "-", 1)

	// Zero-knowledge: input validation, then the rules.
	for body, text := range map[string]string{
		`{}`:                                  "`enable: boolean` is required",
		`{"enable":"yes"}`:                    "`enable: boolean` is required",
		`not json`:                            "`enable: boolean` is required",
		`{"enable":false}`:                    "`masterKey: base64` is required when disabling zero-knowledge",
		`{"enable":false,"masterKey":"AAAA"}`: "masterKey must decode to 32 bytes",
		`{"enable":false,"masterKey":"%%%"}`:  "masterKey must decode to 32 bytes",
	} {
		r := postRaw(t, authURL+vaultPath+"/zero-knowledge", body, bearer(s.AccessToken)...)
		expectVaultError(t, r, 400, "BAD_REQUEST", text)
	}
	expectVaultError(t, vaultCall(t, authURL, "POST", "/zero-knowledge", s, map[string]any{"enable": true}), 400,
		"RECOVERY_WRAP_MISSING", "set a recovery wrap before enabling zero-knowledge")
	expectAudits(t, u.ID, "zk_enable", 400, "no-recovery-wrap", 1)

	expect(vaultCall(t, authURL, "POST", "/recovery-wrap", s, map[string]any{"recoveryWrappedMk": "cmVjb3Zlcnk=", "recoveryIv": "cml2"}))
	zk := vaultCall(t, authURL, "POST", "/zero-knowledge", s, map[string]any{"enable": true})
	expect(zk)
	if zk.JSON["zeroKnowledge"] != true {
		t.Fatalf("enable: %s", zk)
	}
	expectAudits(t, u.ID, "zk_enable", 200, "-", 1)
	var wrapped *string
	if err := db.QueryRow(context.Background(), `SELECT wrapped_mk FROM auth.encryption_vaults WHERE user_id = $1`, u.ID).Scan(&wrapped); err != nil || wrapped != nil {
		t.Fatalf("zero-knowledge row still holds a server wrap (%v)", err)
	}
	for _, path := range []string{"/key", "/init"} {
		method := map[string]string{"/key": "GET", "/init": "POST"}[path]
		r := vaultCall(t, authURL, method, path, s, nil)
		expectStatus(t, r, 200)
		if r.JSON["requiresRecoveryCode"] != true || jstr(r.JSON, "recoveryWrappedMk") != "cmVjb3Zlcnk=" || jstr(r.JSON, "recoveryIv") != "cml2" ||
			jnum(r.JSON, "formatVersion") != 1 || r.JSON["masterKey"] != nil {
			t.Fatalf("%s in zero-knowledge mode: %s", path, r)
		}
	}
	expectAudits(t, u.ID, "fetch", 200, "zk-recovery-blob", 1)
	expectAudits(t, u.ID, "init", 200, "already-exists-zk", 1)
	expectVaultError(t, vaultCall(t, authURL, "POST", "/rotate", s, nil), 409, "ZK_ROTATE_FORBIDDEN", "cannot rotate in zero-knowledge mode")
	expectAudits(t, u.ID, "rotate", 409, "zk-rotate-forbidden", 1)
	expectVaultError(t, vaultCall(t, authURL, "DELETE", "/recovery-wrap", s, nil), 409, "ZK_ACTIVE",
		"cannot clear recovery wrap while zero-knowledge is active")
	expectAudits(t, u.ID, "recovery_clear", 409, "zk-active", 1)
	expect(vaultCall(t, authURL, "POST", "/zero-knowledge", s, map[string]any{"enable": true}))
	expectAudits(t, u.ID, "zk_enable", 200, "already-enabled", 1)

	// Leaving zero-knowledge: the client supplies the key, /key returns it.
	mk3 := randomKey(t)
	off := vaultCall(t, authURL, "POST", "/zero-knowledge", s, map[string]any{"enable": false, "masterKey": base64.StdEncoding.EncodeToString(mk3)})
	expect(off)
	if off.JSON["zeroKnowledge"] != false {
		t.Fatalf("disable: %s", off)
	}
	expectAudits(t, u.ID, "zk_disable", 200, "-", 1)
	if got := masterKeyOf(t, vaultCall(t, auth2URL, "GET", "/key", s, nil)); !bytes.Equal(got, mk3) {
		t.Fatal("/key after leaving zero-knowledge is not the supplied key")
	}
	expect(vaultCall(t, authURL, "POST", "/zero-knowledge", s, map[string]any{"enable": false, "masterKey": base64.StdEncoding.EncodeToString(mk)}))
	expectAudits(t, u.ID, "zk_disable", 200, "already-disabled", 1)

	// rotate without a vault creates one.
	u2, s2 := vaultUser(t, "vault-rot")
	masterKeyOf(t, vaultCall(t, authURL, "POST", "/rotate", s2, nil))
	expectAudits(t, u2.ID, "rotate", 201, "init-on-rotate", 1)
	// Every audit row carries the client's user agent.
	if n := queryInt(t, `SELECT count(*) FROM auth.encryption_vault_audit WHERE user_id = $1 AND user_agent IS NULL`, u.ID); n != 0 {
		t.Fatalf("%d audit rows without user agent", n)
	}
}

// TestVaultSwapRefused: a wrapped key copied into another user's row does not
// unwrap (the user id is bound as associated data), and the failure is
// audited as failed_fetch/500.
//
// Negative control: make vault.associatedData return nil for SchemeUserAAD
// (the old scheme) and bob's /key answers 200 with alice's key.
func TestVaultSwapRefused(t *testing.T) {
	alice, sa := vaultUser(t, "vault-alice")
	bob, sb := vaultUser(t, "vault-bob")
	aliceKey := masterKeyOf(t, vaultCall(t, authURL, "POST", "/init", sa, nil))
	masterKeyOf(t, vaultCall(t, authURL, "POST", "/init", sb, nil))
	// Bob's row stays unreadable; remove it so a later `mana kek rotate` in
	// this database does not stop on it.
	t.Cleanup(func() {
		if _, err := db.Exec(context.Background(), `DELETE FROM auth.encryption_vaults WHERE user_id = $1`, bob.ID); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})

	tag, err := db.Exec(context.Background(), `UPDATE auth.encryption_vaults b SET wrapped_mk = a.wrapped_mk, wrap_iv = a.wrap_iv,
		kek_id = a.kek_id, wrap_scheme = a.wrap_scheme FROM auth.encryption_vaults a WHERE a.user_id = $1 AND b.user_id = $2`, alice.ID, bob.ID)
	if err != nil || tag.RowsAffected() != 1 {
		t.Fatalf("copy alice's wrap into bob's row: %v", err)
	}
	r := vaultCall(t, authURL, "GET", "/key", sb, nil)
	if r.Status != 500 || jstr(r.JSON, "masterKey") != "" {
		t.Fatalf("bob's /key with alice's wrap: want 500 and no key, got %s", r)
	}
	expectAudits(t, bob.ID, "failed_fetch", 500, "unwrap-failed:%", 1)
	if got := masterKeyOf(t, vaultCall(t, authURL, "GET", "/key", sa, nil)); !bytes.Equal(got, aliceKey) {
		t.Fatal("alice's own key changed")
	}
}

// TestVaultLegacyRows: rows written the old way (no associated data, kek_id
// env-v1) still read, under the active KEK and under a retired one.
//
// Negative control: resolve kek.LegacyID to the active KEK only (the old
// single-KEK behaviour) and the row under the retired KEK answers 500.
func TestVaultLegacyRows(t *testing.T) {
	active, previous := stackKEKs(t)
	for name, key := range map[string][]byte{"active": active, "retired": previous} {
		u, s := vaultUser(t, "vault-legacy-"+name)
		mk := randomKey(t)
		writeVaultRow(t, u.ID, legacyWrap(ringOf(t, key), mk))
		for _, base := range []string{authURL, auth2URL} {
			r := vaultCall(t, base, "GET", "/key", s, nil)
			if got := masterKeyOf(t, r); !bytes.Equal(got, mk) {
				t.Fatalf("%s legacy row on %s: another key", name, base)
			}
			if jstr(r.JSON, "kekId") != kek.LegacyID {
				t.Fatalf("kekId = %q, want %s", jstr(r.JSON, "kekId"), kek.LegacyID)
			}
		}
		if got := masterKeyOf(t, vaultCall(t, authURL, "POST", "/init", s, nil)); !bytes.Equal(got, mk) {
			t.Fatalf("%s legacy row: /init returned another key", name)
		}
	}
}

// TestVaultCheckConstraints: the database refuses inconsistent rows by the
// constraint names of contract §5.8 (and the wrap-scheme check of 0004).
// Negative control: drop a constraint in 0002 and its insert succeeds.
func TestVaultCheckConstraints(t *testing.T) {
	ids := insertUsers(t, "itvc", 4)
	cases := []struct {
		constraint, sql string
	}{
		{"encryption_vaults_has_wrap", `INSERT INTO auth.encryption_vaults (user_id) VALUES ($1)`},
		{"encryption_vaults_wrap_iv_pair", `INSERT INTO auth.encryption_vaults (user_id, wrapped_mk) VALUES ($1, 'w')`},
		{"encryption_vaults_zk_consistency", `INSERT INTO auth.encryption_vaults (user_id, wrapped_mk, wrap_iv, recovery_wrapped_mk, recovery_iv, zero_knowledge)
			VALUES ($1, 'w', 'i', 'r', 'ri', true)`},
		{"encryption_vaults_wrap_scheme_known", `INSERT INTO auth.encryption_vaults (user_id, wrapped_mk, wrap_iv, wrap_scheme) VALUES ($1, 'w', 'i', 3)`},
	}
	for i, c := range cases {
		_, err := db.Exec(context.Background(), c.sql, ids[i])
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "23514" || pgErr.ConstraintName != c.constraint {
			t.Errorf("%s: want check violation of it, got %v", c.constraint, err)
		}
	}
	// A consistent zero-knowledge row is accepted.
	if _, err := db.Exec(context.Background(), `INSERT INTO auth.encryption_vaults (user_id, recovery_wrapped_mk, recovery_iv, zero_knowledge)
		VALUES ($1, 'r', 'ri', true)`, ids[0]); err != nil {
		t.Fatalf("consistent zero-knowledge row refused: %v", err)
	}
}

// Parallel first /init calls of one user, on both replicas, create one vault:
// every caller gets the same master key and one row exists.
// Negative control: without the per-user advisory lock in
// pg.VaultStore.InUserTx, two calls both see no row and insert; the loser
// fails on the primary key (a 500 here) or the callers see different keys.
func TestVaultConcurrentInit(t *testing.T) {
	u, s := vaultUser(t, "vaultrace")
	const callers = 16
	type answer struct {
		status int
		key    string
		err    error
	}
	answers := make(chan answer, callers)
	for i := range callers {
		base := authURL
		if i%2 == 1 {
			base = auth2URL
		}
		go func() {
			r, err := tryDo(http.MethodPost, base+vaultPath+"/init", map[string]any{}, bearer(s.AccessToken)...)
			if err != nil {
				answers <- answer{err: err}
				return
			}
			answers <- answer{status: r.Status, key: jstr(r.JSON, "masterKey")}
		}()
	}
	keys := map[string]int{}
	for range callers {
		a := <-answers
		if a.err != nil || a.status != http.StatusOK || a.key == "" {
			t.Fatalf("concurrent /init: status %d, key %q, err %v", a.status, a.key, a.err)
		}
		keys[a.key]++
	}
	if len(keys) != 1 {
		t.Fatalf("concurrent /init returned %d different master keys, want 1", len(keys))
	}
	if n := queryInt(t, `SELECT count(*) FROM auth.encryption_vaults WHERE user_id = $1`, u.ID); n != 1 {
		t.Fatalf("%d vault rows, want 1", n)
	}
}
