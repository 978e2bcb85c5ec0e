//go:build integration

package integration

import (
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// BenchmarkNotifyEmailEndToEnd measures mana-notify's email path through the
// real stack: b.N sends (LOAD_CONCURRENCY callers, default 8) → Postgres + River → SMTP →
// Mailpit. It reports throughput (mails per second from the first send to
// the last arrival) and the send→Mailpit latency p50/p95, taken from
// Mailpit's own receive timestamp. Run against a stack (KEEP_STACK=1):
//
//	go test -tags integration -run '^$' -bench NotifyEmailEndToEnd -benchtime 300x ./tests/integration/
func BenchmarkNotifyEmailEndToEnd(b *testing.B) {
	run := fmt.Sprintf("load-%d", time.Now().UnixNano())
	n := b.N
	sent := make([]time.Time, n)
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	next := make(chan int)
	errs := make(chan error, n)
	callers, err := strconv.Atoi(envOr("LOAD_CONCURRENCY", "8"))
	if err != nil || callers < 1 {
		b.Fatalf("LOAD_CONCURRENCY must be a positive integer")
	}
	for w := 0; w < callers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				sent[i] = time.Now()
				r, err := tryDo(http.MethodPost, notifyURL+"/api/v1/notifications/send", map[string]any{"channel": "email",
					"appId": "load", "recipient": fmt.Sprintf("%s-%d@manatest.local", run, i),
					"subject": fmt.Sprintf("%s %d", run, i), "body": "<p>load</p>"}, svcKey()...)
				if err != nil || r.Status != http.StatusAccepted {
					errs <- fmt.Errorf("send %d: %v %v", i, err, r)
				}
			}
		}()
	}
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	acceptedIn := time.Since(start)

	// Collect Mailpit's receive time of every message of this run.
	arrived := map[int]time.Time{}
	deadline := time.Now().Add(2 * time.Minute)
	for len(arrived) < n {
		if time.Now().After(deadline) {
			b.Fatalf("only %d of %d mails arrived", len(arrived), n)
		}
		q := url.Values{"query": {"subject:" + run}, "limit": {strconv.Itoa(n + 10)}}
		r, err := tryDo(http.MethodGet, mailpitURL+"/api/v1/search?"+q.Encode(), nil)
		if err == nil && r.Status == http.StatusOK {
			msgs, _ := r.JSON["messages"].([]any)
			for _, m := range msgs {
				subj := jstr(m, "Subject")
				i, err := strconv.Atoi(strings.TrimPrefix(subj, run+" "))
				created, terr := time.Parse(time.RFC3339Nano, jstr(m, "Created"))
				if err == nil && terr == nil {
					arrived[i] = created
				}
			}
		}
		if len(arrived) < n {
			time.Sleep(200 * time.Millisecond)
		}
	}
	b.StopTimer()
	lat := make([]time.Duration, 0, n)
	last := start
	for i, at := range arrived {
		lat = append(lat, at.Sub(sent[i]))
		if at.After(last) {
			last = at
		}
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pct := func(p float64) time.Duration { return lat[int(p*float64(len(lat)-1))] }
	total := last.Sub(start)
	b.ReportMetric(float64(n)/total.Seconds(), "mails/s")
	b.ReportMetric(float64(pct(0.50).Milliseconds()), "p50-ms")
	b.ReportMetric(float64(pct(0.95).Milliseconds()), "p95-ms")
	b.Logf("%d callers, %d mails: accepted in %s (%.0f sends/s), all in Mailpit after %s: %.1f mails/s; send→Mailpit p50 %s p95 %s max %s",
		callers, n, acceptedIn.Round(time.Millisecond), float64(n)/acceptedIn.Seconds(), total.Round(time.Millisecond),
		float64(n)/total.Seconds(), pct(0.5).Round(time.Millisecond), pct(0.95).Round(time.Millisecond), lat[len(lat)-1].Round(time.Millisecond))
}
