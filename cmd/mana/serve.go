package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/riverqueue/river"

	"github.com/mana/mana/internal/config"
	"github.com/mana/mana/internal/httpx"
	"github.com/mana/mana/internal/notify"
	"github.com/mana/mana/internal/notify/delivery"
	"github.com/mana/mana/internal/notify/mailcapture"
	"github.com/mana/mana/internal/outbox"
)

const (
	// outboxWorkers hand auth's mail to notify.
	outboxWorkers = 4
	// defaultDataDir holds what `mana serve` keeps on disk: the SQLite
	// database (without DATABASE_URL) and captured mail (without SMTP_HOST).
	defaultDataDir = "mana-data"
)

// serveAll is `mana serve`: auth and notify in one process on one port,
// one /health, one /metrics, auth's mail handed to notify in-process.
func serveAll(ctx context.Context, log *slog.Logger, look config.Lookup, stderr func(string)) (err error) {
	started := time.Now()
	log = log.With("service", "mana")
	authCfg, errA := config.LoadAuth(look)
	notifyCfg, errN := config.LoadNotify(look)
	if err := errors.Join(errA, errN); err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	local := localURL(authCfg.Port)
	// One process: auth's links and notify's JWKS point at this port unless
	// configured otherwise.
	if !isSet(look, "BASE_URL") && !isSet(look, "JWT_ISSUER") {
		authCfg.BaseURL = local
	}
	if !isSet(look, "MANA_AUTH_URL") {
		notifyCfg.AuthURL = local
	}
	dataDir, err := filepath.Abs(setting(look, "MANA_DATA_DIR", defaultDataDir))
	if err != nil {
		return fmt.Errorf("MANA_DATA_DIR: %w", err)
	}
	policies, err := notifyPolicies(look, notifyCfg)
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	// One River client works every queue. Workers are registered once the
	// client exists (the stores insert their jobs through it); River reads
	// the bundle when it starts.
	workers := river.NewWorkers()
	queues := notifyQueues()
	queues[outbox.Queue] = river.QueueConfig{MaxWorkers: outboxWorkers}
	be, err := openBackend(ctx, log, look, dataDir, queues, workers, policies)
	if err != nil {
		return err
	}
	defer be.close()
	mail, mailWhere, capture, err := serveMailer(look, notifyCfg, dataDir, local, log)
	if err != nil {
		return err
	}

	jobs := be.jobs
	n, err := newNotifyParts(ctx, log.With("part", "notify"), look, notifyCfg, be.notify, policies, mail)
	if err != nil {
		return err
	}
	embedded := notify.NewEmbedded(n.handlerConfig(started))
	if err := errors.Join(
		river.AddWorkerSafely(workers, n.worker),
		river.AddWorkerSafely(workers, &outbox.Worker{Via: handOff{notify: embedded}, Log: log}),
	); err != nil {
		return fmt.Errorf("register workers: %w", err)
	}

	// One registry: notify's (with the Go and process collectors) takes
	// auth's collectors too, so nothing is registered twice.
	reg := n.metrics.Registry()
	a, err := newAuthAPI(ctx, log.With("part", "auth"), look, authCfg, be.auth, reg, true)
	if err != nil {
		return err
	}
	defer a.close()

	mux := http.NewServeMux()
	a.api.Routes(mux)
	embedded.Mount(mux)
	mux.Handle("GET /metrics", n.metrics.Handler())
	health := healthHandler(log, checksOf(a.api, n))
	mux.Handle("GET /health", health)
	mux.Handle("GET /health/ready", health)
	mux.HandleFunc("GET /health/live", func(w http.ResponseWriter, r *http.Request) {
		httpx.WriteJSON(w, r, http.StatusOK, map[string]any{"status": "ok", "service": "mana"})
	})
	if capture != nil && !authCfg.Production {
		mux.Handle("GET /dev/mail", capture.Handler(log))
	}
	origins := unionOrigins(authCfg.CORSOrigins, notifyCfg.CORSOrigins)
	handler := httpx.RequestID(httpx.Logging(log, observeHTTP(reg, "mana"),
		httpx.CORS(origins, authCORSHeaders, a.api.RateLimited(mux, a.limiter, a.rules))))

	if err := jobs.Start(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("start job client: %w", err)
	}
	defer func() {
		if stopErr := stopJobs(ctx, log, jobs); stopErr != nil {
			err = errors.Join(err, stopErr)
		}
	}()
	block := startupBlock{
		URL: local, Data: be.where, Mail: mailWhere,
		Unmet: productionChecklist(checklistFacts{
			DevKEK: authCfg.KEKIsDevDefault, NoSMTP: capture != nil, SQLite: be.sqlite,
			DefaultServiceKey: notifyCfg.ServiceKey == config.DefaultServiceKey,
			Production:        authCfg.Production, HTTPSBaseURL: strings.HasPrefix(authCfg.BaseURL, "https://"),
			RateLimitsOff: authCfg.RateLimits == "off",
		}),
	}
	return httpx.Serve(ctx, log, fmt.Sprintf(":%d", authCfg.Port), handler, func() {
		log.Info("mana ready", "startup_ms", time.Since(started).Milliseconds())
		stderr(block.String())
	})
}

// serveMailer is SMTP when SMTP_HOST is set, else the local capture under
// the data directory (refused in production: nobody would get the mail).
func serveMailer(look config.Lookup, cfg config.Notify, dataDir, serverURL string, log *slog.Logger) (delivery.Mailer, string, *mailcapture.Capture, error) {
	if isSet(look, "SMTP_HOST") {
		smtp, err := newSMTP(cfg)
		if err != nil {
			return nil, "", nil, err
		}
		return smtp, fmt.Sprintf("sent by SMTP via %s:%d (%s)", cfg.SMTPHost, cfg.SMTPPort, smtp.TLSMode()), nil, nil
	}
	if cfg.Production {
		return nil, "", nil, errors.New("SMTP_HOST: is required in production (without it mail is only captured locally)")
	}
	capture, err := mailcapture.New(filepath.Join(dataDir, "mail"), cfg.SMTPFrom, log)
	if err != nil {
		return nil, "", nil, err
	}
	return capture, "captured locally in " + capture.Dir() + ", shown at " + serverURL + "/dev/mail", capture, nil
}

// handOff delivers auth's outbox mail through the embedded notify: the
// same acceptance as POST /notifications/send (idempotent by externalId,
// stored with its delivery job in one transaction), without HTTP. The
// outbox job completes only after that transaction committed.
type handOff struct {
	notify *notify.Embedded
}

// Deliver implements outbox.Deliverer.
func (h handOff) Deliver(ctx context.Context, m outbox.MailArgs) error {
	_, err := h.notify.Send(ctx, notify.SendRequest{Channel: "email", AppID: outbox.AppID, Recipient: m.To,
		Subject: m.Subject, Body: m.HTML, ExternalID: m.ExternalID})
	var rejected *notify.RejectedError
	if errors.As(err, &rejected) {
		return outbox.Permanent(err)
	}
	return err
}

// healthChecks are the checks of `mana serve`'s /health, one per part.
type healthChecks struct {
	AuthDatabase, NotifyDatabase, NotifyQueue func(context.Context) error
}

// checksOf are the real checks: a query on each part's pool and on the queue.
func checksOf(authPart interface{ Ping(context.Context) error }, n notifyParts) healthChecks {
	return healthChecks{
		AuthDatabase:   authPart.Ping,
		NotifyDatabase: n.stores.store.Ping,
		NotifyQueue: func(ctx context.Context) error {
			_, err := n.stores.stats(ctx)
			return err
		},
	}
}

// healthHandler answers for both parts: 200 only when every check passes.
func healthHandler(log *slog.Logger, c healthChecks) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		authErr, notifyErr, queueErr := c.AuthDatabase(ctx), c.NotifyDatabase(ctx), c.NotifyQueue(ctx)
		status, code := "ok", http.StatusOK
		if err := errors.Join(authErr, notifyErr, queueErr); err != nil {
			log.ErrorContext(r.Context(), "health check failed", "err", err)
			status, code = "unhealthy", http.StatusServiceUnavailable
		}
		httpx.WriteJSON(w, r, code, map[string]any{"status": status, "service": "mana", "timestamp": time.Now().UTC(),
			"checks": map[string]any{
				"auth":   map[string]bool{"database": authErr == nil},
				"notify": map[string]bool{"database": notifyErr == nil, "queue": queueErr == nil},
			}})
	})
}

func isSet(look config.Lookup, name string) bool {
	v, ok := look(name)
	return ok && strings.TrimSpace(v) != ""
}

func setting(look config.Lookup, name, def string) string {
	if v, ok := look(name); ok && strings.TrimSpace(v) != "" {
		return strings.TrimSpace(v)
	}
	return def
}

func localURL(port int) string {
	return fmt.Sprintf("http://localhost:%d", port)
}

// redactURL hides the password of a database URL.
func redactURL(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "(unparsable DATABASE_URL)"
	}
	return u.Redacted()
}

func unionOrigins(lists ...[]string) []string {
	seen := map[string]bool{}
	var out []string
	for _, l := range lists {
		for _, o := range l {
			if !seen[o] {
				seen[o] = true
				out = append(out, o)
			}
		}
	}
	return out
}
