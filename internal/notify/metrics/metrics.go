// Package metrics holds mana-notify's Prometheus collectors (seed contract
// §7.8). They live in a registry built per service instance instead of the
// global default registry, so tests and several instances never share state.
package metrics

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Label values fixed by the contract.
const (
	// TemplateCustom is the only `template` label value until templates exist:
	// every email is a caller-provided subject and body.
	TemplateCustom = "custom"
	// ErrorTypeMaxRetries is the only `error_type` of notifications_failed_total:
	// a notification counts as failed once its last attempt failed.
	ErrorTypeMaxRetries = "max_retries"
	// ErrorTypePermanent is our addition: the notification can never be
	// delivered (e.g. no recipient), so it failed without using its retries.
	ErrorTypePermanent = "permanent"
	StatusSuccess      = "success"
	StatusFailed       = "failed"
)

// Notify is the set of collectors of one mana-notify instance.
type Notify struct {
	registry *prometheus.Registry

	NotificationsSent   *prometheus.CounterVec   // channel, app_id
	NotificationsFailed *prometheus.CounterVec   // channel, app_id, error_type
	EmailsSent          *prometheus.CounterVec   // template, status (one per attempt)
	EmailLatency        prometheus.Histogram     // duration of one SMTP send
	NotificationLatency *prometheus.HistogramVec // channel; duration of one delivery attempt
	PushSent            *prometheus.CounterVec   // platform, status (one per attempt)
	WebhooksSent        *prometheus.CounterVec   // status (one per attempt)
	PushLatency         prometheus.Histogram     // duration of one push request
}

// New builds the collectors and a registry holding them plus the Go runtime
// and process collectors.
func New() *Notify {
	m := &Notify{
		registry: prometheus.NewRegistry(),
		NotificationsSent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mana_notify_notifications_sent_total",
			Help: "Notifications delivered, by channel and app.",
		}, []string{"channel", "app_id"}),
		NotificationsFailed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mana_notify_notifications_failed_total",
			Help: "Notifications that failed for good, by channel, app and error type.",
		}, []string{"channel", "app_id", "error_type"}),
		EmailsSent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mana_notify_emails_sent_total",
			Help: "Email delivery attempts, by template and outcome.",
		}, []string{"template", "status"}),
		EmailLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "mana_notify_email_latency_seconds",
			Help:    "Duration of one SMTP send.",
			Buckets: []float64{.1, .5, 1, 2, 5, 10},
		}),
		NotificationLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "mana_notify_notification_latency_seconds",
			Help:    "Duration of one delivery attempt, by channel.",
			Buckets: []float64{.01, .05, .1, .5, 1, 2, 5, 10},
		}, []string{"channel"}),
		PushSent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mana_notify_push_sent_total",
			Help: "Push delivery attempts, by platform and outcome.",
		}, []string{"platform", "status"}),
		WebhooksSent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mana_notify_webhooks_sent_total",
			Help: "Webhook delivery attempts, by outcome.",
		}, []string{"status"}),
		PushLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "mana_notify_push_latency_seconds",
			Help:    "Duration of one push request.",
			Buckets: []float64{.01, .05, .1, .5, 1},
		}),
	}
	m.registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.NotificationsSent, m.NotificationsFailed, m.EmailsSent, m.EmailLatency, m.NotificationLatency,
		m.PushSent, m.WebhooksSent, m.PushLatency,
	)
	return m
}

// Handler serves the registry in the Prometheus text format. Collection
// errors are reported in the response (HTTPErrorOnError) rather than hidden
// behind a partial scrape.
func (m *Notify) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{ErrorHandling: promhttp.HTTPErrorOnError})
}

// Registry exposes the registry, e.g. for tests that gather the values.
func (m *Notify) Registry() *prometheus.Registry { return m.registry }
