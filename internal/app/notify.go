package app

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/riverqueue/river"

	"github.com/mana/mana/internal/config"
	"github.com/mana/mana/internal/kek"
	"github.com/mana/mana/internal/notify"
	"github.com/mana/mana/internal/notify/delivery"
	"github.com/mana/mana/internal/notify/jwtauth"
	"github.com/mana/mana/internal/notify/mailer"
	"github.com/mana/mana/internal/notify/metrics"
	"github.com/mana/mana/internal/notify/push"
	"github.com/mana/mana/internal/notify/webhook"
	"github.com/mana/mana/internal/notifyapi"
)

// Workers per channel (contract §7.4): email 5, push 10, webhook 10.
// Sending holds no database connection, so on SQLite they do not compete
// for its one connection.
const (
	emailWorkers   = 5
	pushWorkers    = 10
	webhookWorkers = 10
)

// notifyPolicies is the retry policy of every channel.
func notifyPolicies(cfg config.Notify) delivery.Policies {
	return delivery.Policies{
		notify.ChannelEmail:   {MaxAttempts: cfg.EmailMaxAttempts, RetryBase: cfg.EmailRetryBase},
		notify.ChannelPush:    {MaxAttempts: cfg.PushMaxAttempts, RetryBase: cfg.PushRetryBase},
		notify.ChannelWebhook: {MaxAttempts: cfg.WebhookMaxAttempts, RetryBase: cfg.WebhookRetryBase},
	}
}

// notifyQueues are mana-notify's River queues with their worker counts.
func notifyQueues() map[string]river.QueueConfig {
	return map[string]river.QueueConfig{
		delivery.Queue:        {MaxWorkers: emailWorkers},
		delivery.PushQueue:    {MaxWorkers: pushWorkers},
		delivery.WebhookQueue: {MaxWorkers: webhookWorkers},
	}
}

// newSMTP is the mailer of SMTP_HOST/SMTP_PORT/SMTP_FROM.
func newSMTP(cfg config.Notify) (*mailer.SMTP, error) {
	smtp, err := mailer.New(mailer.Config{
		Host: cfg.SMTPHost, Port: cfg.SMTPPort, User: cfg.SMTPUser, Password: cfg.SMTPPassword,
		From: cfg.SMTPFrom, InsecureTLS: cfg.SMTPInsecureTLS,
	})
	if err != nil {
		return nil, fmt.Errorf("mana-notify configuration: SMTP_HOST/SMTP_PORT/SMTP_FROM: %w", err)
	}
	return smtp, nil
}

// notifyPart is mana-notify built on its store: the domain service, the API,
// the metrics and the delivery worker (which the caller registers with the
// job client's bundle).
type notifyPart struct {
	store   notify.Store
	service *notify.Service
	api     *notifyapi.API
	metrics *metrics.Notify
	worker  *delivery.Worker
}

// newNotifyPart builds mana-notify on its store (built with the same
// policies) and its metrics registry; mail is what email goes through (the
// SMTP mailer, or the local capture of `mana serve`); users authenticates
// the JWT routes; keys (nil: none) seal sensitive bodies until delivery.
func newNotifyPart(ctx context.Context, log *slog.Logger, cfg config.Notify, st notify.Store, met *metrics.Notify,
	mail delivery.Mailer, users notifyapi.Authenticator, keys notify.BodyKeys, started time.Time) (notifyPart, error) {
	if err := st.SeedSystemTemplates(ctx, notify.SystemTemplates()); err != nil {
		return notifyPart{}, fmt.Errorf("seed system templates: %w", err)
	}
	if err := met.WatchQueue(func(ctx context.Context) (metrics.QueueStats, error) {
		s, err := st.Stats(ctx, delivery.Queues())
		return metrics.QueueStats(s), err
	}); err != nil {
		return notifyPart{}, err
	}
	if cfg.WebhookSecret == "" {
		log.Warn("NOTIFY_WEBHOOK_SECRET is not set: webhook notifications will fail instead of going out unsigned")
	}
	outbound := &http.Client{Timeout: 30 * time.Second}
	channels := delivery.Channels{
		Mail:    mail,
		Push:    &push.Client{URL: cfg.ExpoPushURL, AccessToken: cfg.ExpoAccessToken, HTTP: outbound},
		Webhook: &webhook.Sender{Client: webhook.NewClient(cfg.WebhookAllowPrivate), Secret: []byte(cfg.WebhookSecret)},
	}
	policies := notifyPolicies(cfg)
	svc := notify.NewService(st, log, nil)
	worker := delivery.NewWorker(st, channels, met, log, policies)
	if keys != nil {
		svc.SealSensitiveBodies(keys)
		worker.OpenSealedBodiesWith(keys)
	} else {
		log.Warn("no KEK (MANA_AUTH_KEK): sensitive mail bodies (sign-in and reset links) are stored in clear until delivered")
	}
	api := notifyapi.New(notifyapi.Config{Store: st, Service: svc, Metrics: met, Log: log, ServiceKey: cfg.ServiceKey,
		MetricsToken: cfg.MetricsToken, MetricsElsewhere: cfg.MetricsAddr != "",
		CORSOrigins: cfg.CORSOrigins, Users: users, Started: started})
	return notifyPart{store: st, service: svc, api: api, metrics: met,
		worker: worker}, nil
}

// notifyKeys is the KEK ring of `mana serve notify` when MANA_AUTH_KEK is
// set (nil otherwise: no sealing).
func notifyKeys(cfg config.Notify) (notify.BodyKeys, error) {
	if cfg.KEK == nil {
		return nil, nil
	}
	ring, err := kek.NewRing(cfg.KEK, cfg.PreviousKEKs...)
	if err != nil {
		return nil, fmt.Errorf("MANA_AUTH_KEK / MANA_AUTH_KEK_PREVIOUS: %w", err)
	}
	return ring, nil
}

// remoteUsers authenticates notify's JWT routes against mana-auth over HTTP
// (`mana serve notify`): its JWKS, then /validate for revocation.
func remoteUsers(cfg config.Notify) notifyapi.Authenticator {
	return jwtauth.New(cfg.AuthURL, &http.Client{Timeout: 30 * time.Second}, cfg.JWKSRefetchInterval)
}
