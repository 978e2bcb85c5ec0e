//go:build integration

package integration

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mana/mana/internal/kek"
	"github.com/mana/mana/internal/randid"
	"github.com/mana/mana/internal/vault"
)

// manaEnv is the auth processes' environment (the stack's auth.env), with
// overrides, for running the stack's own `mana` binary.
func manaEnv(t testing.TB, overrides ...string) (bin string, env []string) {
	t.Helper()
	return partEnv(t, "auth", overrides...)
}

// partEnv is the environment of the stack's part (auth, notify, …) with
// overrides (name, value pairs), and the binary.
func partEnv(t testing.TB, part string, overrides ...string) (bin string, env []string) {
	t.Helper()
	dir := os.Getenv("MANA_STACK_DIR")
	if dir == "" {
		t.Fatal("MANA_STACK_DIR is not set; run via scripts/run-integration-tests.sh")
	}
	raw, err := os.ReadFile(filepath.Join(dir, part+".env"))
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{}
	var order []string
	for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		k, v, _ := strings.Cut(line, "=")
		if _, seen := vars[k]; !seen {
			order = append(order, k)
		}
		vars[k] = v
	}
	for i := 0; i+1 < len(overrides); i += 2 {
		if _, seen := vars[overrides[i]]; !seen {
			order = append(order, overrides[i])
		}
		vars[overrides[i]] = overrides[i+1]
	}
	env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for _, k := range order {
		env = append(env, k+"="+vars[k])
	}
	return filepath.Join(dir, "mana"), env
}

// vaultPopulation is a set of users whose vault rows were written under the
// retired KEK: half the old service's way (env-v1, no associated data), half
// by a previous mana-auth (kek-<id>, user-bound).
type vaultPopulation struct {
	ids  []string
	keys map[string][]byte
}

func populateOldKEK(t testing.TB, ids []string) vaultPopulation {
	t.Helper()
	_, previous := stackKEKs(t)
	old := ringOf(t, previous)
	p := vaultPopulation{ids: ids, keys: map[string][]byte{}}
	rows := make([][]any, 0, len(ids))
	for i, id := range ids {
		mk := randomKey(t)
		p.keys[id] = mk
		w := legacyWrap(old, mk)
		if i%2 == 1 {
			var err error
			if w, err = vault.WrapKey(old, id, mk); err != nil {
				t.Fatal(err)
			}
		}
		rows = append(rows, []any{id, w.WrappedMK, w.WrapIV, w.KEKID, int16(w.Scheme)})
	}
	n, err := db.CopyFrom(context.Background(), pgx.Identifier{"auth", "encryption_vaults"},
		[]string{"user_id", "wrapped_mk", "wrap_iv", "kek_id", "wrap_scheme"}, pgx.CopyFromRows(rows))
	if err != nil || int(n) != len(ids) {
		t.Fatalf("copy %d vault rows: %d, %v", len(ids), n, err)
	}
	return p
}

// expectRotated checks every row of the population is under the active KEK
// and scheme, still holds the same master key, and was re-wrapped exactly
// once (one kek_rewrap audit row each).
func expectRotated(t testing.TB, p vaultPopulation) {
	t.Helper()
	ring := stackRing(t)
	active := ringOf(t, func() []byte { a, _ := stackKEKs(t); return a }()) // the new KEK alone
	rows, err := db.Query(context.Background(), `SELECT v.user_id, v.wrapped_mk, v.wrap_iv, v.kek_id, v.wrap_scheme,
			(SELECT count(*) FROM auth.encryption_vault_audit a WHERE a.user_id = v.user_id AND a.action = 'kek_rewrap')
		FROM auth.encryption_vaults v WHERE v.user_id = ANY($1)`, p.ids)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	seen := 0
	for rows.Next() {
		var id string
		var w vault.Wrapped
		var scheme int16
		var audits int
		if err := rows.Scan(&id, &w.WrappedMK, &w.WrapIV, &w.KEKID, &scheme, &audits); err != nil {
			t.Fatal(err)
		}
		w.Scheme = int(scheme)
		seen++
		if w.KEKID != ring.ActiveID() || w.Scheme != vault.SchemeUserAAD || audits != 1 {
			t.Fatalf("user %s after rotation: kek_id %s scheme %d, %d kek_rewrap audits; want %s, 2, 1", id, w.KEKID, w.Scheme, audits, ring.ActiveID())
		}
		// Opens with the new KEK alone: the old one can now leave the ring.
		mk, err := vault.UnwrapKey(active, id, w)
		if err != nil || !bytes.Equal(mk, p.keys[id]) {
			t.Fatalf("user %s: master key changed by rotation (%v)", id, err)
		}
	}
	if err := rows.Err(); err != nil || seen != len(p.ids) {
		t.Fatalf("rows after rotation: %d of %d, %v", seen, len(p.ids), err)
	}
}

var rateRe = regexp.MustCompile(`(\d+) vaults re-wrapped.* ([0-9.]+) vaults/s\n?$`)

// TestKEKRotation: `mana kek rotate` moves 1,000 vaults and a signing key
// from the retired KEK to the active one while both auth replicas keep
// answering /key, with zero errors; the keys are unchanged; every re-wrap is
// audited once; a second run has nothing left to do.
//
// Negative controls: drop the FOR UPDATE/compare-and-set in RewrapVaults or
// the retired KEK from the replicas' ring (MANA_AUTH_KEK_PREVIOUS in
// stack.sh) and /key errors appear during rotation; skip the audit insert
// and expectRotated fails on "0 kek_rewrap audits".
func TestKEKRotation(t *testing.T) {
	const total, live = 1000, 8
	_, previous := stackKEKs(t)
	old := ringOf(t, previous)

	// Live users (with sessions) whose vaults are among the 1,000.
	type liveUser struct {
		u user
		s session
	}
	var lives []liveUser
	for i := 0; i < live; i++ {
		u, s := vaultUser(t, fmt.Sprintf("kekrot%d", i))
		lives = append(lives, liveUser{u, s})
	}
	ids := insertUsers(t, "itkr", total-live)
	for _, l := range lives {
		ids = append(ids, l.u.ID)
	}
	pop := populateOldKEK(t, ids)

	// A signing key sealed under the retired KEK (old created_at: it never
	// becomes the one that signs).
	_, priv, _ := ed25519.GenerateKey(nil)
	kid := randid.ID(32)
	sealed, oldID := old.Seal(priv.Seed(), []byte("auth.jwks:"+kid))
	pub := priv.Public().(ed25519.PublicKey)
	if _, err := db.Exec(context.Background(), `INSERT INTO auth.jwks (id, public_key, private_key, kek_id, created_at) VALUES ($1, $2, $3, $4, '2000-01-01')`,
		kid, fmt.Sprintf(`{"crv":"Ed25519","x":"%s","kty":"OKP"}`, base64.RawURLEncoding.EncodeToString(pub)),
		base64.StdEncoding.EncodeToString(sealed), oldID); err != nil {
		t.Fatal(err)
	}
	// Other tests count the stack's signing keys: leave only its own.
	t.Cleanup(func() {
		if _, err := db.Exec(context.Background(), `DELETE FROM auth.jwks WHERE id = $1`, kid); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})

	// Concurrent /key load on both replicas until the rotation is over.
	var requests, failures atomic.Int64
	var firstFailure atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i, l := range lives {
		wg.Add(1)
		go func() {
			defer wg.Done()
			base := []string{authURL, auth2URL}[i%2]
			for {
				select {
				case <-stop:
					return
				default:
				}
				r, err := tryDo("GET", base+vaultPath+"/key", nil, bearer(l.s.AccessToken)...)
				requests.Add(1)
				ok := err == nil && r.Status == 200
				if ok {
					mk, derr := base64.StdEncoding.DecodeString(jstr(r.JSON, "masterKey"))
					ok = derr == nil && bytes.Equal(mk, pop.keys[l.u.ID])
				}
				if !ok {
					failures.Add(1)
					firstFailure.CompareAndSwap(nil, fmt.Sprintf("%v %v", err, r))
				}
			}
		}()
	}
	eventually(t, 10*time.Second, "the /key load to start", func() bool { return requests.Load() >= live })

	bin, env := manaEnv(t)
	cmd := exec.Command(bin, "kek", "rotate", "-batch", "250")
	cmd.Env = env
	before := requests.Load()
	start := time.Now()
	out, err := cmd.CombinedOutput()
	elapsed := time.Since(start)
	during := requests.Load() - before
	close(stop)
	wg.Wait()
	t.Logf("mana kek rotate output:\n%s", out)
	if err != nil {
		t.Fatalf("mana kek rotate: %v", err)
	}
	t.Logf("rotation wall time %s (process incl. start-up); %d /key requests during it, %d in all, %d failed",
		elapsed.Round(time.Millisecond), during, requests.Load(), failures.Load())
	if failures.Load() != 0 {
		t.Fatalf("%d /key requests failed during rotation; first: %v", failures.Load(), firstFailure.Load())
	}
	if during == 0 {
		t.Fatal("no /key request ran during the rotation: the load did not overlap it")
	}
	if m := rateRe.FindSubmatch(bytes.TrimSpace(out)); m == nil {
		t.Fatalf("no summary line with a rate in the output")
	} else {
		t.Logf("measured rate: %s vaults/s (%s vaults re-wrapped in this run)", m[2], m[1])
	}
	expectRotated(t, pop)

	var jwkKEK string
	if err := db.QueryRow(context.Background(), `SELECT kek_id FROM auth.jwks WHERE id = $1`, kid).Scan(&jwkKEK); err != nil || jwkKEK != stackRing(t).ActiveID() {
		t.Fatalf("signing key %s: kek_id %q (%v), want the active KEK", kid, jwkKEK, err)
	}
	if n := queryInt(t, `SELECT count(*) FROM auth.security_events WHERE event_type = 'KEK_REWRAP' AND metadata->>'kid' = $1`, kid); n != 1 {
		t.Fatalf("KEK_REWRAP events for %s = %d, want 1", kid, n)
	}
	// Nothing is left under the retired KEK anywhere: a second run re-wraps nothing.
	cmd2 := exec.Command(bin, "kek", "rotate")
	cmd2.Env = env
	again, err := cmd2.CombinedOutput()
	if err != nil || !strings.Contains(string(again), " 0 vaults re-wrapped") || !strings.Contains(string(again), "0 signing keys re-sealed") {
		t.Fatalf("second run: %v\n%s", err, again)
	}
}

// TestKEKRotateResumesAfterCrash: the rotation is killed (SIGKILL) right after
// its first batch commits; a second run finishes the job and re-wraps every
// remaining row exactly once.
//
// Negative control: make RewrapVaults re-wrap rows already under the active
// KEK (drop the vault.Current check in Rotate) and expectRotated reports
// 2 kek_rewrap audits for the rows of the first batch.
func TestKEKRotateResumesAfterCrash(t *testing.T) {
	pop := populateOldKEK(t, insertUsers(t, "itkc", 300))
	bin, env := manaEnv(t)

	cmd := exec.Command(bin, "kek", "rotate", "-batch", "20")
	cmd.Env = env
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var first strings.Builder
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		first.WriteString(sc.Text() + "\n")
		if strings.Contains(sc.Text(), "vaults re-wrapped") {
			_ = cmd.Process.Kill() // the crash
			break
		}
	}
	_ = cmd.Wait() // killed: the error is the signal, expected
	t.Logf("first run, killed after its first batch:\n%s", first.String())
	done := queryInt(t, `SELECT count(*) FROM auth.encryption_vault_audit WHERE user_id = ANY($1) AND action = 'kek_rewrap'`, pop.ids)
	if done >= len(pop.ids) {
		t.Fatalf("the first run finished all %d rows before it was killed: nothing left to resume", done)
	}

	resume := exec.Command(bin, "kek", "rotate", "-batch", "20")
	resume.Env = env
	out, err := resume.CombinedOutput()
	t.Logf("second run (%d of %d rows were done before the crash):\n%s", done, len(pop.ids), out)
	if err != nil {
		t.Fatalf("resumed rotation: %v", err)
	}
	expectRotated(t, pop)
}

// TestKEKStartupRefusesMissingKEK: mana-auth refuses to start while a row is
// wrapped under a KEK that is not in its ring, and says how many rows and
// how to rotate.
//
// Negative control: remove the kekrotate.CheckRing call from serveAuth and
// the process starts serving (the test kills it at the deadline and fails).
func TestKEKStartupRefusesMissingKEK(t *testing.T) {
	gone := randomKey(t)
	ids := insertUsers(t, "itks", 1)
	w, err := vault.WrapKey(ringOf(t, gone), ids[0], randomKey(t))
	if err != nil {
		t.Fatal(err)
	}
	writeVaultRow(t, ids[0], w)
	t.Cleanup(func() {
		if _, err := db.Exec(context.Background(), `DELETE FROM auth.users WHERE id = $1`, ids[0]); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	bin, env := manaEnv(t, "PORT", fmt.Sprint(port))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "serve", "auth")
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("mana serve auth kept running with a row under the unconfigured KEK %s:\n%s", kek.ID(gone), out)
	}
	want := fmt.Sprintf("KEK %s is not configured but still wraps 1 vault rows and 0 signing keys", kek.ID(gone))
	if err == nil || !strings.Contains(string(out), want) || !strings.Contains(string(out), "mana kek rotate") {
		t.Fatalf("want a failed start naming %q and `mana kek rotate`, got %v:\n%s", want, err, out)
	}
}
