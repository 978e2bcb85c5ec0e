//go:build integration

package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/mana/mana/internal/password"
)

// timingSamples is the number of measured requests per class and route.
const timingSamples = 200

// TestEnumerationTiming measures whether the routes that must not reveal
// whether an address has an account take the same time for known and
// unknown addresses (audit F10, F11): forgot-password, resend-verification,
// register and sign-in (argon2id rows, wrapped legacy rows, and scrypt rows
// in the rollback window). Requests of the two classes are interleaved in
// one random order, after a warm-up, each from a quiet stack (settle); it prints medians, quartiles and the
// median ratio known/unknown. It prints figures and asserts nothing about
// them (a load run, not a timed test), so it runs only when asked:
// scripts/enumeration-timing.sh.
func TestEnumerationTiming(t *testing.T) {
	if os.Getenv("MANA_TIMING") == "" {
		t.Skip("a measurement; run scripts/enumeration-timing.sh")
	}
	n := timingSamples
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}, Timeout: 30 * time.Second}
	post := func(path string, body any) time.Duration {
		t.Helper()
		raw, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		settle(t)
		start := time.Now()
		resp, err := client.Post(authURL+path, "application/json", bytes.NewReader(raw))
		if err != nil {
			t.Fatalf("POST %s: %v", path, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		d := time.Since(start)
		if resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests {
			t.Fatalf("POST %s: %d", path, resp.StatusCode)
		}
		return d
	}
	fresh := func(prefix string) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = uniqueEmail(prefix)
		}
		return out
	}
	var verified, unverified, legacy []string
	for range n {
		verified = append(verified, verifiedUser(t, "timing-verified").Email)
		unverified = append(unverified, register(t, authURL, uniqueEmail("timing-unverified")).Email)
		legacy = append(legacy, verifiedUser(t, "timing-legacy").Email)
	}
	var report []string
	measure := func(route string, known, unknown []string, req func(email string) time.Duration) {
		t.Helper()
		for i := range 10 { // warm-up, not counted
			req(known[i])
			req(unknown[i])
		}
		// One random order of all 2n requests: what a request of either
		// class follows (and the worker load it left) is random too.
		order := make([]int, 2*n)
		for i := range order {
			order[i] = i
		}
		rand.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		k, u := make([]time.Duration, 0, n), make([]time.Duration, 0, n)
		for _, i := range order {
			if i < n {
				k = append(k, req(known[i]))
			} else {
				u = append(u, req(unknown[i-n]))
			}
		}
		mk, mu := quantile(k, 0.5), quantile(u, 0.5)
		line := fmt.Sprintf("%-34s known %7.2f ms [%6.2f–%6.2f]  unknown %7.2f ms [%6.2f–%6.2f]  ratio %.3f  (n=%d each)",
			route, ms(mk), ms(quantile(k, 0.25)), ms(quantile(k, 0.75)), ms(mu), ms(quantile(u, 0.25)), ms(quantile(u, 0.75)),
			float64(mk)/float64(mu), n)
		t.Log(line)
		report = append(report, line)
	}
	// The first fresh set feeds the warm-up too; each set is used once.
	measure("forgot-password", verified, fresh("timing-forgot"), func(e string) time.Duration {
		return post("/api/v1/auth/forgot-password", map[string]any{"email": e})
	})
	measure("resend-verification", unverified, fresh("timing-resend"), func(e string) time.Duration {
		return post("/api/v1/auth/resend-verification", map[string]any{"email": e})
	})
	measure("register", verified, fresh("timing-register"), func(e string) time.Duration {
		return post("/api/v1/auth/register", map[string]any{"email": e, "password": "Timing-" + e, "name": "Timing"})
	})
	login := func(e string) time.Duration {
		return post("/api/v1/auth/login", map[string]any{"email": e, "password": "not-the-password-" + e})
	}
	measure("login, argon2id row", unverified, fresh("timing-login"), login)

	// Legacy rows: one Better Auth scrypt hash for all (the cost is the
	// same for any), wrapped as finalization wraps it. Auth is restarted so
	// that it sees legacy rows at start and pads.
	ctx := context.Background()
	h := password.NewHasher(password.OWASP, 2)
	scryptHash, err := h.HashLegacy(ctx, "legacy-password")
	if err != nil {
		t.Fatal(err)
	}
	wrapped, err := h.Wrap(ctx, scryptHash)
	if err != nil {
		t.Fatal(err)
	}
	setLegacy := func(hash string) {
		execSQL(t, `UPDATE auth.accounts SET password = $1 WHERE provider_id = 'credential'
			AND user_id IN (SELECT id FROM auth.users WHERE email = ANY($2))`, hash, legacy)
	}
	setLegacy(wrapped)
	stack(t, "stop", "auth")
	stack(t, "start", "auth")
	measure("login, wrapped legacy row", legacy, fresh("timing-login-wrapped"), login)
	measure("login, argon2id row, legacy remain", verified, fresh("timing-login-padded"), login)

	// In the rollback window: scrypt rows and the scrypt dummy.
	setLegacy(scryptHash)
	execSQL(t, `UPDATE auth.mana_cutover SET state = 'window' WHERE id = 1`)
	defer execSQL(t, `UPDATE auth.mana_cutover SET state = 'finalized' WHERE id = 1`)
	measure("login in the window, scrypt row", legacy, fresh("timing-login-window"), login)

	if out := os.Getenv("MANA_TIMING_OUT"); out != "" {
		var b bytes.Buffer
		for _, l := range report {
			b.WriteString(l + "\n")
		}
		if err := os.WriteFile(out, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// settle waits until no job is waiting or running (the account requests,
// mail hand-offs and deliveries the previous sample caused), so that each
// sample starts from the same quiet stack and background work does not
// land on whichever class happens to come next.
func settle(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for queryInt(t, `SELECT count(*) FROM river.river_job WHERE state IN ('available', 'running')`) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the job queues did not drain within 30s")
		}
		time.Sleep(2 * time.Millisecond) // paces the poll
	}
}

func quantile(d []time.Duration, q float64) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[int(q*float64(len(s)-1))]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
