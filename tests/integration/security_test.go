//go:build integration

package integration

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mana/mana/internal/randid"
)

// TestMadeUpMethodsCreateNoSeries (audit F1): 50 requests with invented
// methods are refused with 405 and add at most one series (method "other")
// to the request counter, not one per method.
// Negative control: labelling with r.Method in observeHTTP again makes the
// series count grow by 50.
func TestMadeUpMethodsCreateNoSeries(t *testing.T) {
	series := func() int {
		r := do(t, http.MethodGet, authURL+"/metrics", nil)
		expectStatus(t, r, http.StatusOK)
		return strings.Count(string(r.Body), "mana_auth_http_requests_total{")
	}
	series() // the scrape itself is counted once it has answered
	before := series()
	for i := 0; i < 50; i++ {
		req, err := http.NewRequest(fmt.Sprintf("M%d%s", i, randid.ID(8)), authURL+"/api/v1/auth/login", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Fatalf("made-up method %s: %d, want 405", req.Method, resp.StatusCode)
		}
	}
	if after := series(); after > before+1 {
		t.Fatalf("request series %d → %d after 50 made-up methods; want at most one more", before, after)
	}
}

// TestResetTokenNotLogged (audit F2, F3): a reset link's token is in no
// job's arguments, notify's copy of the mail loses its body once
// delivered, and opening the link leaves no trace of the token in the
// access log (the route's pattern is logged instead).
// Negative controls: logging r.URL.Path again puts the token in auth.log;
// a nil MailSealer in newAuthPart leaves it in river_job.
func TestResetTokenNotLogged(t *testing.T) {
	dir := os.Getenv("MANA_STACK_DIR")
	if dir == "" {
		t.Fatal("MANA_STACK_DIR is not set: run through scripts/run-integration-tests.sh")
	}
	u := verifiedUser(t, "log-redaction")
	link := requestReset(t, u.Email, "http://localhost:5173/reset")
	tok := tokenOf(t, link)
	followReset(t, link)
	// Audit F3: the link is in no job's arguments (sealed under the KEK),
	// and notify purges the mail's body once it is delivered.
	if n := queryInt(t, `SELECT count(*) FROM river.river_job WHERE args::text LIKE '%' || $1 || '%'`, tok); n != 0 {
		t.Fatalf("%d job(s) hold the reset token in clear", n)
	}
	eventually(t, 30*time.Second, "the reset mail's body purged after delivery", func() bool {
		return queryInt(t, `SELECT count(*) FROM notify.notifications WHERE recipient = $1 AND status = 'delivered'
			AND subject = $2 AND body IS NULL`, u.Email, resetSubject) == 1
	})
	if n := queryInt(t, `SELECT count(*) FROM notify.notifications WHERE body LIKE '%' || $1 || '%'`, tok); n != 0 {
		t.Fatalf("notify keeps the reset token in %d body/bodies", n)
	}
	logFile := filepath.Join(dir, "logs", "auth.log")
	var seen bool
	eventually(t, 10*time.Second, "the reset request in the access log", func() bool {
		data, err := os.ReadFile(logFile)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(data), tok) {
			t.Fatalf("the reset token is in %s", logFile)
		}
		seen = regexp.MustCompile(`"path":"/api/auth/reset-password/\{token\}"`).Match(data)
		return seen
	})
}

// TestMetricsAddr (audit F17): with METRICS_ADDR, /metrics and the Go
// profiler are on their own listener and the service port has no /metrics.
// Negative control: mounting /metrics on the service mux regardless fails
// the first check.
func TestMetricsAddr(t *testing.T) {
	admin := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	p := startServe(t, serveEnv(freshDatabase(t), t.TempDir(), freePort(t), "METRICS_ADDR="+admin)...)
	if r := do(t, http.MethodGet, p.URL+"/metrics", nil); r.Status != http.StatusNotFound {
		t.Fatalf("/metrics on the service port with METRICS_ADDR set: %d, want 404", r.Status)
	}
	r := do(t, http.MethodGet, "http://"+admin+"/metrics", nil)
	if r.Status != http.StatusOK || !strings.Contains(string(r.Body), "mana_http_requests_total") {
		t.Fatalf("/metrics on METRICS_ADDR: %d %.200s", r.Status, r.Body)
	}
	if r := do(t, http.MethodGet, "http://"+admin+"/debug/pprof/", nil); r.Status != http.StatusOK {
		t.Fatalf("pprof on METRICS_ADDR: %d", r.Status)
	}
}
