// Package delivery is the durable delivery job: a River worker that delivers
// one stored notification per job on its channel (email, push, webhook), logs
// every attempt, and retries with exponential backoff until the notification
// is delivered or visibly failed.
package delivery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/mana/mana/internal/notify"

	"github.com/riverqueue/river"

	"github.com/mana/mana/internal/notify/mailer"
	"github.com/mana/mana/internal/notify/metrics"
	"github.com/mana/mana/internal/notify/push"
	"github.com/mana/mana/internal/notify/webhook"
)

const (
	// Kind names the job in River's tables.
	Kind = "notify_deliver"
	// Queue is the email queue. mana-auth shares the River schema with its
	// own queue, which this service must never fetch.
	Queue = "notify_email"
	// PushQueue and WebhookQueue keep slow webhooks from delaying mail.
	PushQueue    = "notify_push"
	WebhookQueue = "notify_webhook"
	// EmailMaxAttempts counts every attempt, the first included (contract §7.4).
	EmailMaxAttempts = 3
	// DefaultRetryBase is the first email retry delay; it doubles per attempt.
	DefaultRetryBase = 5 * time.Second
	// recordTimeout bounds writing an attempt's outcome. It runs even when
	// the job's context is already cancelled: a sent message must be recorded.
	recordTimeout = 5 * time.Second
)

// Policy is the retry rule of one channel.
type Policy struct {
	MaxAttempts int
	RetryBase   time.Duration
}

// Policies are the retry rules of every channel.
type Policies map[notify.Channel]Policy

// DefaultPolicies are the contract's (§7.4): email 3 attempts from 5 s, push
// 3 from 1 s, webhook 5 from 3 s.
func DefaultPolicies() Policies {
	return Policies{
		notify.ChannelEmail:   {MaxAttempts: EmailMaxAttempts, RetryBase: DefaultRetryBase},
		notify.ChannelPush:    {MaxAttempts: 3, RetryBase: time.Second},
		notify.ChannelWebhook: {MaxAttempts: 5, RetryBase: 3 * time.Second},
	}
}

// QueueOf is the River queue of a channel.
func QueueOf(c notify.Channel) string {
	switch c {
	case notify.ChannelPush:
		return PushQueue
	case notify.ChannelWebhook:
		return WebhookQueue
	}
	return Queue
}

// Queues lists every queue mana-notify works.
func Queues() []string { return []string{Queue, PushQueue, WebhookQueue} }

func channelOfQueue(q string) notify.Channel {
	switch q {
	case PushQueue:
		return notify.ChannelPush
	case WebhookQueue:
		return notify.ChannelWebhook
	}
	return notify.ChannelEmail
}

// Args identify the notification to deliver. From and ReplyTo are read only
// from jobs enqueued before options were stored with the notification.
type Args struct {
	NotificationID string `json:"notification_id"`
	From           string `json:"from,omitempty"`
	ReplyTo        string `json:"reply_to,omitempty"`
}

// Kind implements river.JobArgs.
func (Args) Kind() string { return Kind }

// InsertOpts are the options of a delivery job on channel c with the
// notification's priority; scheduledAt zero means now.
func (p Policies) InsertOpts(c notify.Channel, prio notify.Priority, scheduledAt time.Time) *river.InsertOpts {
	pol := p.of(c)
	return &river.InsertOpts{Queue: QueueOf(c), MaxAttempts: pol.MaxAttempts, ScheduledAt: scheduledAt,
		Priority: RiverPriority(prio)}
}

// RiverPriority maps a notification priority onto River's 1 (first) … 4:
// when a queue has a backlog, critical and high mail go out before bulk.
func RiverPriority(p notify.Priority) int {
	switch p {
	case notify.PriorityCritical:
		return 1
	case notify.PriorityHigh:
		return 2
	case notify.PriorityLow:
		return 4
	}
	return 3
}

func (p Policies) of(c notify.Channel) Policy {
	if pol, ok := p[c]; ok && pol.MaxAttempts > 0 && pol.RetryBase > 0 {
		return pol
	}
	return DefaultPolicies()[c]
}

// InsertOpts are the options of an immediate email job with the default policy.
func InsertOpts() *river.InsertOpts {
	return DefaultPolicies().InsertOpts(notify.ChannelEmail, notify.PriorityNormal, time.Time{})
}

// Store is the persistence the worker needs.
type Store interface {
	Claim(ctx context.Context, id string) (notify.Notification, bool, error)
	RecordAttempt(ctx context.Context, a notify.Attempt) error
	Skip(ctx context.Context, id, reason string) error
	GetPreferences(ctx context.Context, userID string) (notify.Preferences, error)
	ListDevices(ctx context.Context, userID string) ([]notify.Device, error)
	DeactivateToken(ctx context.Context, token string) error
}

// Mailer sends one email.
type Mailer interface {
	Send(ctx context.Context, e mailer.Email) error
}

// Pusher sends push messages.
type Pusher interface {
	Send(ctx context.Context, msgs []push.Message) ([]push.Ticket, error)
}

// Webhooker sends one webhook request.
type Webhooker interface {
	Send(ctx context.Context, r webhook.Request) (int, error)
}

// Channels are the senders of each channel.
type Channels struct {
	Mail    Mailer
	Push    Pusher
	Webhook Webhooker
}

// Worker delivers notifications.
type Worker struct {
	river.WorkerDefaults[Args]

	store    Store
	channels Channels
	metrics  *metrics.Notify
	log      *slog.Logger
	policies Policies
	now      func() time.Time
	// keys open sealed sensitive bodies (nil when notify has no KEK).
	keys notify.BodyKeys
}

// NewWorker returns a worker; a channel missing from policies uses its default.
func NewWorker(st Store, ch Channels, met *metrics.Notify, log *slog.Logger, policies Policies) *Worker {
	return &Worker{store: st, channels: ch, metrics: met, log: log, policies: policies, now: time.Now}
}

// OpenSealedBodiesWith gives the worker the keys of sealed bodies
// (notify.Service.SealSensitiveBodies). Call it before the job client starts.
func (w *Worker) OpenSealedBodiesWith(keys notify.BodyKeys) { w.keys = keys }

// Backoff is the wait after failed attempt number attempt (1-based) on
// channel c: RetryBase × 2^(attempt-1), e.g. 5 s then 10 s for email.
func (w *Worker) Backoff(c notify.Channel, attempt int) time.Duration {
	if attempt < 1 {
		attempt = 1
	}
	if attempt > 20 { // far beyond any max attempts; keeps the shift from overflowing
		attempt = 20
	}
	return w.policies.of(c).RetryBase << (attempt - 1)
}

// NextRetry implements river.Worker; it replaces River's default policy
// (attempt^4 seconds) with the contract's backoff of the job's channel.
func (w *Worker) NextRetry(job *river.Job[Args]) time.Time {
	return time.Now().Add(w.Backoff(channelOfQueue(job.Queue), job.Attempt))
}

// nextStatus is the notification's state after an attempt.
func nextStatus(sendErr error, attempt, maxAttempts int) notify.Status {
	switch {
	case sendErr == nil:
		return notify.StatusDelivered
	case attempt >= maxAttempts:
		return notify.StatusFailed
	default:
		return notify.StatusPending
	}
}

// outcome is what one delivery attempt produced besides its error.
type outcome struct {
	statusCode int
	providerID string
}

// Work implements river.Worker. A returned error makes River retry the job
// (or discard it after the last attempt); the notification row always says
// which of the two happened.
func (w *Worker) Work(ctx context.Context, job *river.Job[Args]) error {
	id := job.Args.NotificationID
	log := w.log.With("notification_id", id, "job_id", job.ID, "attempt", job.Attempt, "max_attempts", job.MaxAttempts)

	n, claimed, err := w.store.Claim(ctx, id)
	if errors.Is(err, notify.ErrNotFound) {
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

	// Preferences are evaluated now, not only when the send was accepted:
	// a scheduled send obeys the preferences of its delivery time.
	if n.UserID != nil && *n.UserID != "" {
		p, err := w.store.GetPreferences(ctx, *n.UserID)
		if err != nil {
			// A failed attempt like any other: returning before finish
			// left the claimed row in processing, and after the last
			// attempt River discarded the job with the row stuck there.
			log.Error("read preferences for delivery", "err", err)
			return w.finish(ctx, log, job, n, time.Now(), outcome{}, fmt.Errorf("read preferences: %w", err))
		}
		reason, err := notify.Blocked(p, n.Channel, w.now())
		if err != nil {
			// An unusable stored setting must not silently allow or drop:
			// the attempt fails visibly and is retried, then failed.
			log.Error("evaluate preferences", "err", err)
			return w.finish(ctx, log, job, n, time.Now(), outcome{}, fmt.Errorf("preferences: %w", err))
		}
		if reason != "" {
			if err := w.store.Skip(context.WithoutCancel(ctx), n.ID, reason); err != nil {
				// Recorded as a failed attempt, for the same reason as a
				// failed preferences read: never left in processing.
				log.Error("record skipped notification", "err", err)
				return w.finish(ctx, log, job, n, time.Now(), outcome{}, fmt.Errorf("record skip (%s): %w", reason, err))
			}
			log.Info("notification not delivered: blocked by the user's preferences", "reason", reason)
			return nil
		}
	}

	if n.Body != nil && notify.IsSealed(*n.Body) {
		body, err := notify.OpenBody(w.keys, *n.Body, deref(n.Recipient))
		if err != nil {
			// No retry brings the key back: failed for good, loudly.
			return w.finish(ctx, log, job, n, time.Now(), outcome{}, &permanentError{reason: err.Error()})
		}
		n.Body = &body
	}
	start := time.Now()
	out, sendErr := w.deliver(ctx, n, job.Args)
	return w.finish(ctx, log, job, n, start, out, sendErr)
}

// finish records the attempt, counts it, and tells River what to do next.
func (w *Worker) finish(ctx context.Context, log *slog.Logger, job *river.Job[Args], n notify.Notification,
	start time.Time, out outcome, sendErr error) error {
	id := n.ID
	elapsed := time.Since(start)
	w.observe(n.Channel, sendErr, elapsed)

	next := nextStatus(sendErr, job.Attempt, job.MaxAttempts)
	var permanent *permanentError
	if errors.As(sendErr, &permanent) {
		next = notify.StatusFailed // retrying cannot fix the stored notification
	}
	recordCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	recordErr := w.store.RecordAttempt(recordCtx, notify.Attempt{
		NotificationID: id, Number: n.Attempts, Channel: n.Channel,
		Err: sendErr, Duration: elapsed, NextStatus: next, StatusCode: out.statusCode, ProviderID: out.providerID,
		// A link in a delivered (or finally failed) mail is kept nowhere.
		Purge: n.Options.Sensitive && next != notify.StatusPending,
	})
	w.metrics.NotificationLatency.WithLabelValues(string(n.Channel)).Observe(elapsed.Seconds())

	if recordErr != nil {
		if sendErr == nil {
			// The retry will send again; the stable Message-ID lets the
			// receiver spot the duplicate. Better twice than never.
			log.Error("notification sent but recording the delivery failed; the job will retry", "err", recordErr)
			return fmt.Errorf("record delivery of %s: %w", id, recordErr)
		}
		log.Error("delivery attempt failed and recording it failed too", "send_err", sendErr, "err", recordErr)
		return fmt.Errorf("deliver notification %s: %w", id, errors.Join(sendErr, recordErr))
	}

	switch next {
	case notify.StatusDelivered:
		w.metrics.NotificationsSent.WithLabelValues(string(n.Channel), n.AppID).Inc()
		log.Info("notification delivered", "channel", n.Channel, "duration_ms", elapsed.Milliseconds())
		return nil
	case notify.StatusFailed:
		log.Error("notification failed for good", "channel", n.Channel, "err", sendErr)
		if permanent != nil {
			w.metrics.NotificationsFailed.WithLabelValues(string(n.Channel), n.AppID, metrics.ErrorTypePermanent).Inc()
			return river.JobCancel(fmt.Errorf("deliver notification %s: %w", id, sendErr))
		}
		w.metrics.NotificationsFailed.WithLabelValues(string(n.Channel), n.AppID, metrics.ErrorTypeMaxRetries).Inc()
		return fmt.Errorf("deliver notification %s: %w", id, sendErr)
	default:
		log.Warn("delivery attempt failed; will retry", "channel", n.Channel, "err", sendErr,
			"retry_in", w.Backoff(n.Channel, job.Attempt).String())
		return fmt.Errorf("deliver notification %s: %w", id, sendErr)
	}
}

func (w *Worker) observe(c notify.Channel, sendErr error, elapsed time.Duration) {
	status := metrics.StatusSuccess
	if sendErr != nil {
		status = metrics.StatusFailed
	}
	switch c {
	case notify.ChannelEmail:
		w.metrics.EmailLatency.Observe(elapsed.Seconds())
		w.metrics.EmailsSent.WithLabelValues(metrics.TemplateCustom, status).Inc()
	case notify.ChannelPush:
		w.metrics.PushLatency.Observe(elapsed.Seconds())
		w.metrics.PushSent.WithLabelValues("", status).Inc()
	case notify.ChannelWebhook:
		w.metrics.WebhooksSent.WithLabelValues(status).Inc()
	}
}

// permanentError marks a stored notification that no retry can deliver.
type permanentError struct{ reason string }

func (e *permanentError) Error() string { return e.reason }

// deliver sends n on its channel. A panic in a sender is turned into a
// failed attempt (and logged with its stack) rather than left to unwind the
// worker with the notification stuck in processing.
func (w *Worker) deliver(ctx context.Context, n notify.Notification, args Args) (out outcome, err error) {
	defer func() {
		if p := recover(); p != nil {
			w.log.Error("panic while delivering notification", "notification_id", n.ID, "panic", fmt.Sprint(p),
				"stack", string(debug.Stack()))
			err = fmt.Errorf("panic while delivering: %v", p)
		}
	}()
	switch n.Channel {
	case notify.ChannelEmail:
		return outcome{}, w.sendEmail(ctx, n, args)
	case notify.ChannelPush:
		return w.sendPush(ctx, n)
	case notify.ChannelWebhook:
		return w.sendWebhook(ctx, n)
	}
	return outcome{}, &permanentError{reason: fmt.Sprintf("unknown channel %q", n.Channel)}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func (w *Worker) sendEmail(ctx context.Context, n notify.Notification, args Args) error {
	if deref(n.Recipient) == "" {
		return &permanentError{reason: "notification has no recipient"}
	}
	e := mailer.Email{NotificationID: n.ID, From: args.From, ReplyTo: args.ReplyTo, To: *n.Recipient,
		Subject: deref(n.Subject), HTML: deref(n.Body)}
	if o := n.Options.Email; o != nil {
		e.From, e.ReplyTo = o.From, o.ReplyTo
	}
	return w.channels.Mail.Send(ctx, e)
}

// sendPush sends to the recipient token, or to every active device of the
// user. The attempt succeeds when at least one device accepted the message;
// tokens Expo reports as unregistered are switched off.
func (w *Worker) sendPush(ctx context.Context, n notify.Notification) (outcome, error) {
	var tokens []string
	if r := deref(n.Recipient); r != "" {
		tokens = []string{r}
	} else if u := deref(n.UserID); u != "" {
		devices, err := w.store.ListDevices(ctx, u)
		if err != nil {
			return outcome{}, fmt.Errorf("look up devices of user: %w", err)
		}
		for _, d := range devices {
			tokens = append(tokens, d.PushToken)
		}
	}
	if len(tokens) == 0 {
		return outcome{}, &permanentError{reason: "no push token: no recipient and no active device for the user"}
	}
	msgs := make([]push.Message, len(tokens))
	for i, t := range tokens {
		msgs[i] = push.Message{To: t, Title: deref(n.Subject), Body: deref(n.Body), Data: n.Data}
		if o := n.Options.Push; o != nil {
			msgs[i].Sound, msgs[i].Badge, msgs[i].ChannelID = o.Sound, o.Badge, o.ChannelID
		}
	}
	tickets, err := w.channels.Push.Send(ctx, msgs)
	if err != nil {
		return outcome{}, err
	}
	var out outcome
	var errs []error
	for i, t := range tickets {
		if t.Status == "ok" {
			if out.providerID == "" {
				out.providerID = t.ID
			}
			continue
		}
		errs = append(errs, fmt.Errorf("device %d: %s %s", i, t.Details.Error, t.Message))
		if t.Details.Error == "DeviceNotRegistered" {
			if err := w.store.DeactivateToken(ctx, tokens[i]); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if out.providerID == "" {
		return out, fmt.Errorf("push rejected for every device: %w", errors.Join(errs...))
	}
	if len(errs) > 0 {
		w.log.Warn("push rejected for some devices", "notification_id", n.ID, "err", errors.Join(errs...))
	}
	return out, nil
}

// WebhookPayload is the JSON body of a webhook call.
type WebhookPayload struct {
	ID        string         `json:"id"`
	AppID     string         `json:"appId"`
	UserID    string         `json:"userId,omitempty"`
	Subject   string         `json:"subject,omitempty"`
	Body      string         `json:"body,omitempty"`
	Data      map[string]any `json:"data,omitempty"`
	Priority  string         `json:"priority"`
	CreatedAt time.Time      `json:"createdAt"`
}

func (w *Worker) sendWebhook(ctx context.Context, n notify.Notification) (outcome, error) {
	url := deref(n.Recipient)
	if url == "" {
		return outcome{}, &permanentError{reason: "notification has no webhook URL"}
	}
	body, err := json.Marshal(WebhookPayload{ID: n.ID, AppID: n.AppID, UserID: deref(n.UserID), Subject: deref(n.Subject),
		Body: deref(n.Body), Data: n.Data, Priority: string(n.Priority), CreatedAt: n.CreatedAt.UTC()})
	if err != nil {
		return outcome{}, &permanentError{reason: fmt.Sprintf("encode webhook payload: %v", err)}
	}
	req := webhook.Request{NotificationID: n.ID, URL: url, Body: body}
	if o := n.Options.Webhook; o != nil {
		req.Method, req.Headers, req.Timeout = o.Method, o.Headers, time.Duration(o.TimeoutMS)*time.Millisecond
	}
	code, err := w.channels.Webhook.Send(ctx, req)
	return outcome{statusCode: code}, err
}
