package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mana/mana/internal/password"
)

// mailPoll is how often maillat asks Mailpit whether the mail has arrived.
const mailPoll = 5 * time.Millisecond

// mailWait bounds the wait for one mail; a mail later than this is an error.
const mailWait = 30 * time.Second

// runMailLat registers Samples users one after another and, for each, polls
// Mailpit's search API until the verification mail is there: the latency
// from sending the register request to the mail being visible.
func runMailLat(ctx context.Context, cfg Config, log *slog.Logger) (Result, error) {
	if cfg.Samples < 1 {
		return Result{}, fmt.Errorf("bench: maillat needs -samples >= 1")
	}
	api := newClient(cfg.BaseURL, 1, cfg.Timeout)
	mp := newClient(cfg.MailpitURL, 1, cfg.Timeout)
	res := baseResult(cfg)
	res.Concurrency = 1
	run := time.Now().UnixNano()
	var reg, mail []time.Duration
	var w window
	w.open(cfg)
	for i := range cfg.Samples {
		if ctx.Err() != nil {
			break
		}
		email := fmt.Sprintf("bench-ml-%d-%d@bench.test", run, i)
		t0 := time.Now()
		err := api.register(ctx, email, cfg.Password)
		reg = append(reg, time.Since(t0))
		res.Requests++
		if err == nil {
			var d time.Duration
			d, err = waitMail(ctx, mp, email, t0)
			if err == nil {
				mail = append(mail, d)
			}
		}
		if err != nil {
			res.Errors++
			if len(res.ErrorSamples) < 5 {
				res.ErrorSamples = append(res.ErrorSamples, err.Error())
			}
		}
	}
	w.close(&res, log)
	res.Latency = Summarize(mail)
	r := Summarize(reg)
	res.Register = &r
	res.Note = "latency = register sent -> mail visible in Mailpit (polled every 5 ms); register_latency = the request alone; sequential, so req/s is not a throughput"
	if ctx.Err() != nil {
		return res, fmt.Errorf("bench: interrupted: %w", ctx.Err())
	}
	return res, nil
}

// waitMail polls Mailpit until a message to email is listed.
func waitMail(ctx context.Context, mp *client, email string, t0 time.Time) (time.Duration, error) {
	path := "/api/v1/search?query=" + url.QueryEscape("to:"+email)
	deadline := t0.Add(mailWait)
	for {
		var out struct {
			MessagesCount int               `json:"messages_count"`
			Messages      []json.RawMessage `json:"messages"`
		}
		if err := mp.do(ctx, http.MethodGet, path, "", nil, &out); err != nil {
			return 0, fmt.Errorf("mailpit search: %w", err)
		}
		if out.MessagesCount > 0 || len(out.Messages) > 0 {
			return time.Since(t0), nil
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("no mail to %s within %s", email, mailWait)
		}
		select {
		case <-time.After(mailPoll):
		case <-ctx.Done():
			return 0, fmt.Errorf("waiting for mail: %w", ctx.Err())
		}
	}
}

// runHashLimit hashes with the project's own Hasher and parameters, as
// many hashes at once as CPUs (the server's default slot count), for the
// window: the ceiling for logins and sign-ups on this machine.
func runHashLimit(ctx context.Context, cfg Config, log *slog.Logger) (Result, error) {
	n := runtime.NumCPU()
	h := password.NewHasher(password.OWASP, n)
	res := baseResult(cfg)
	res.Concurrency = n
	measureFrom := time.Now().Add(cfg.Warmup)
	stopAt := measureFrom.Add(cfg.Duration)
	lat := make([][]time.Duration, n)
	var count atomic.Int64
	var wg sync.WaitGroup
	var firstErr atomic.Value
	for i := range n {
		wg.Go(func() {
			for ctx.Err() == nil {
				t0 := time.Now()
				if !t0.Before(stopAt) {
					return
				}
				if _, err := h.Hash(ctx, "bench-hash-limit-password"); err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
				if !t0.Before(measureFrom) {
					count.Add(1)
					lat[i] = append(lat[i], time.Since(t0))
				}
			}
		})
	}
	var w window
	time.Sleep(time.Until(measureFrom))
	cfg.ServerPIDs, cfg.PostgresCPU = nil, false
	w.open(cfg)
	wg.Wait()
	res.Requests = count.Load()
	w.close(&res, log)
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	res.Latency = Summarize(all)
	p := password.OWASP
	res.Note = fmt.Sprintf("argon2id m=%d KiB t=%d p=%d via password.Hasher, %d in parallel in the tool: rps = hashes/s, the login and sign-up ceiling",
		p.MemoryKiB, p.Time, p.Threads, n)
	if err, ok := firstErr.Load().(error); ok {
		return res, fmt.Errorf("bench: hash: %w", err)
	}
	return res, nil
}

// runSeed grows the tables by SQL for the growth comparison: SeedUsers
// users named like pool users (prefix bench-g-), each with a credential
// whose hash is copied from one real, API-registered user (so all of them
// sign in with -password), and SeedSessionsPerUser sessions each. It is
// idempotent: rows that exist are kept. Then ANALYZE, as a database that
// grew would have been.
func runSeed(ctx context.Context, cfg Config, log *slog.Logger) (Result, error) {
	res := baseResult(cfg)
	c := newClient(cfg.BaseURL, 1, cfg.Timeout)
	tmpl := cfg
	tmpl.PoolPrefix, tmpl.PoolSize = "bench-pool-", 1
	if err := EnsurePool(ctx, tmpl, c, log); err != nil {
		return res, err
	}
	conn, err := pgx.Connect(ctx, cfg.DatabaseURL)
	if err != nil {
		return res, fmt.Errorf("bench: connect to database: %w", err)
	}
	defer func() { _ = conn.Close(context.WithoutCancel(ctx)) }()
	t0 := time.Now()
	tmplEmail := poolEmail("bench-pool-", 1)
	steps := []struct {
		what string
		sql  string
		args []any
	}{
		{"users", `INSERT INTO auth.users (id, name, email, email_verified)
			SELECT 'bench-g-' || g, 'Bench', 'bench-g-' || g || '@bench.test', true
			FROM generate_series(1, $1::int) g ON CONFLICT DO NOTHING`, []any{cfg.SeedUsers}},
		{"credentials", `INSERT INTO auth.accounts (id, account_id, provider_id, user_id, password)
			SELECT 'bench-ga-' || g, 'bench-g-' || g, 'credential', 'bench-g-' || g,
				(SELECT a.password FROM auth.accounts a JOIN auth.users u ON u.id = a.user_id
				 WHERE u.email = $2 AND a.provider_id = 'credential')
			FROM generate_series(1, $1::int) g ON CONFLICT DO NOTHING`, []any{cfg.SeedUsers, tmplEmail}},
		{"sessions", `INSERT INTO auth.sessions (id, expires_at, token, user_id)
			SELECT 'bench-gs-' || g || '-' || k, now() + interval '7 days', 'bench-gt-' || g || '-' || k, 'bench-g-' || g
			FROM generate_series(1, $1::int) g, generate_series(1, $2::int) k ON CONFLICT DO NOTHING`, []any{cfg.SeedUsers, cfg.SeedSessionsPerUser}},
		{"analyze", `ANALYZE`, nil},
	}
	for _, s := range steps {
		t := time.Now()
		if _, err := conn.Exec(ctx, s.sql, s.args...); err != nil {
			return res, fmt.Errorf("bench: seed %s: %w", s.what, err)
		}
		log.Info("seeded", "what", s.what, "took", time.Since(t).Round(time.Millisecond))
	}
	var users, sessions int64
	if err := conn.QueryRow(ctx, `SELECT (SELECT count(*) FROM auth.users), (SELECT count(*) FROM auth.sessions)`).Scan(&users, &sessions); err != nil {
		return res, fmt.Errorf("bench: count seeded rows: %w", err)
	}
	res.Seconds = time.Since(t0).Seconds()
	res.Requests = users
	res.Note = fmt.Sprintf("seeded in %.1f s: the database now holds %d users and %d sessions", res.Seconds, users, sessions)
	return res, nil
}
