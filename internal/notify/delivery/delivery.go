// Package delivery is the durable email delivery job: a River worker that
// sends one stored notification per job, logs every attempt, and retries with
// exponential backoff until the notification is delivered or visibly failed.
package delivery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/riverqueue/river"

	"github.com/mana/mana/internal/notify/mailer"
	"github.com/mana/mana/internal/notify/metrics"
	"github.com/mana/mana/internal/notify/store"
)

const (
	// Kind names the job in River's tables.
	Kind = "notify_deliver"
	// Queue is the only queue mana-notify works. mana-auth shares the River
	// schema with its own queue, which this service must never fetch.
	Queue = "notify_email"
	// EmailMaxAttempts counts every attempt, the first included (contract §7.4).
	EmailMaxAttempts = 3
	// DefaultRetryBase is the first retry delay; it doubles per attempt.
	DefaultRetryBase = 5 * time.Second
	// recordTimeout bounds writing an attempt's outcome. It runs even when
	// the job's context is already cancelled: a sent email must be recorded.
	recordTimeout = 5 * time.Second
)

// Args identify the notification to deliver. The sender overrides travel in
// the job because the notifications table has no column for them.
type Args struct {
	NotificationID string `json:"notification_id"`
	From           string `json:"from,omitempty"`
	ReplyTo        string `json:"reply_to,omitempty"`
}

// Kind implements river.JobArgs.
func (Args) Kind() string { return Kind }

// InsertOpts are the options every delivery job is inserted with.
func InsertOpts() *river.InsertOpts {
	return &river.InsertOpts{Queue: Queue, MaxAttempts: EmailMaxAttempts}
}

// Store is the persistence the worker needs.
type Store interface {
	Claim(ctx context.Context, id string, attempt int) (store.Notification, bool, error)
	RecordAttempt(ctx context.Context, a store.Attempt) error
}

// Mailer sends one email.
type Mailer interface {
	Send(ctx context.Context, e mailer.Email) error
}

// Worker delivers email notifications.
type Worker struct {
	river.WorkerDefaults[Args]

	store   Store
	mailer  Mailer
	metrics *metrics.Notify
	log     *slog.Logger
	// RetryBase is the delay before the second attempt; each further retry
	// waits twice as long as the one before.
	RetryBase time.Duration
}

// NewWorker returns a worker; retryBase <= 0 means DefaultRetryBase.
func NewWorker(st Store, m Mailer, met *metrics.Notify, log *slog.Logger, retryBase time.Duration) *Worker {
	if retryBase <= 0 {
		retryBase = DefaultRetryBase
	}
	return &Worker{store: st, mailer: m, metrics: met, log: log, RetryBase: retryBase}
}

// Backoff is the wait after failed attempt number attempt (1-based):
// RetryBase × 2^(attempt-1), i.e. 5 s then 10 s with the default base.
func (w *Worker) Backoff(attempt int) time.Duration {
	if attempt < 1 {
		attempt = 1
	}
	if attempt > 20 { // far beyond EmailMaxAttempts; keeps the shift from overflowing
		attempt = 20
	}
	return w.RetryBase << (attempt - 1)
}

// NextRetry implements river.Worker; it replaces River's default policy
// (attempt^4 seconds) with the contract's backoff.
func (w *Worker) NextRetry(job *river.Job[Args]) time.Time {
	return time.Now().Add(w.Backoff(job.Attempt))
}

// nextStatus is the notification's state after an attempt.
func nextStatus(sendErr error, attempt, maxAttempts int) store.Status {
	switch {
	case sendErr == nil:
		return store.StatusDelivered
	case attempt >= maxAttempts:
		return store.StatusFailed
	default:
		return store.StatusPending
	}
}

// Work implements river.Worker. A returned error makes River retry the job
// (or discard it after the last attempt); the notification row always says
// which of the two happened.
func (w *Worker) Work(ctx context.Context, job *river.Job[Args]) error {
	id := job.Args.NotificationID
	log := w.log.With("notification_id", id, "job_id", job.ID, "attempt", job.Attempt, "max_attempts", job.MaxAttempts)

	n, claimed, err := w.store.Claim(ctx, id, job.Attempt)
	if errors.Is(err, store.ErrNotFound) {
		// Deleted after enqueueing: retrying cannot help.
		log.Error("notification to deliver does not exist; cancelling its job", "err", err)
		return river.JobCancel(fmt.Errorf("deliver notification %s: %w", id, err))
	}
	if err != nil {
		log.Error("claim notification for delivery", "err", err)
		return fmt.Errorf("deliver notification %s: %w", id, err)
	}
	if !claimed {
		log.Info("notification needs no delivery", "status", n.Status)
		return nil
	}

	start := time.Now()
	sendErr := w.deliver(ctx, n, job.Args)
	if n.Channel == store.ChannelEmail {
		w.metrics.EmailLatency.Observe(time.Since(start).Seconds())
		status := metrics.StatusSuccess
		if sendErr != nil {
			status = metrics.StatusFailed
		}
		w.metrics.EmailsSent.WithLabelValues(metrics.TemplateCustom, status).Inc()
	}

	next := nextStatus(sendErr, job.Attempt, job.MaxAttempts)
	var permanent *permanentError
	if errors.As(sendErr, &permanent) {
		next = store.StatusFailed // retrying cannot fix the stored notification
	}
	recordCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	recordErr := w.store.RecordAttempt(recordCtx, store.Attempt{
		NotificationID: n.ID, Number: job.Attempt, Channel: n.Channel,
		Err: sendErr, Duration: time.Since(start), NextStatus: next,
	})
	w.metrics.NotificationLatency.WithLabelValues(string(n.Channel)).Observe(time.Since(start).Seconds())

	if recordErr != nil {
		if sendErr == nil {
			// The retry will send again; the stable Message-ID lets the
			// receiver spot the duplicate. Better twice than never.
			log.Error("email sent but recording the delivery failed; the job will retry", "err", recordErr)
			return fmt.Errorf("record delivery of %s: %w", id, recordErr)
		}
		log.Error("delivery attempt failed and recording it failed too", "send_err", sendErr, "err", recordErr)
		return fmt.Errorf("deliver notification %s: %w", id, errors.Join(sendErr, recordErr))
	}

	switch next {
	case store.StatusDelivered:
		w.metrics.NotificationsSent.WithLabelValues(string(n.Channel), n.AppID).Inc()
		log.Info("notification delivered", "channel", n.Channel, "duration_ms", time.Since(start).Milliseconds())
		return nil
	case store.StatusFailed:
		log.Error("notification failed for good", "channel", n.Channel, "err", sendErr)
		if permanent != nil {
			w.metrics.NotificationsFailed.WithLabelValues(string(n.Channel), n.AppID, metrics.ErrorTypePermanent).Inc()
			return river.JobCancel(fmt.Errorf("deliver notification %s: %w", id, sendErr))
		}
		w.metrics.NotificationsFailed.WithLabelValues(string(n.Channel), n.AppID, metrics.ErrorTypeMaxRetries).Inc()
		return fmt.Errorf("deliver notification %s: %w", id, sendErr)
	default:
		log.Warn("delivery attempt failed; will retry", "channel", n.Channel, "err", sendErr,
			"retry_in", w.Backoff(job.Attempt).String())
		return fmt.Errorf("deliver notification %s: %w", id, sendErr)
	}
}

// permanentError marks a stored notification that no retry can deliver.
type permanentError struct{ reason string }

func (e *permanentError) Error() string { return e.reason }

// deliver sends n on its channel. A panic in the mailer is turned into a
// failed attempt (and logged with its stack) rather than left to unwind the
// worker with the notification stuck in processing.
func (w *Worker) deliver(ctx context.Context, n store.Notification, args Args) (err error) {
	defer func() {
		if p := recover(); p != nil {
			w.log.Error("panic while delivering notification", "notification_id", n.ID, "panic", fmt.Sprint(p),
				"stack", string(debug.Stack()))
			err = fmt.Errorf("panic while delivering: %v", p)
		}
	}()
	if n.Channel != store.ChannelEmail {
		return &permanentError{reason: fmt.Sprintf("channel %s is not implemented yet", n.Channel)}
	}
	if n.Recipient == nil || *n.Recipient == "" {
		return &permanentError{reason: "notification has no recipient"}
	}
	e := mailer.Email{NotificationID: n.ID, From: args.From, ReplyTo: args.ReplyTo, To: *n.Recipient}
	if n.Subject != nil {
		e.Subject = *n.Subject
	}
	if n.Body != nil {
		e.HTML = *n.Body
	}
	return w.mailer.Send(ctx, e)
}
