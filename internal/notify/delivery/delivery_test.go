package delivery

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/mana/mana/internal/notify"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/mana/mana/internal/notify/mailer"
	"github.com/mana/mana/internal/notify/metrics"
)

const id = "0b9f5f4e-5f3e-4a43-9d6c-3f8f0c3e9a01"

type fakeStore struct {
	Store     // unused methods panic
	row       notify.Notification
	missing   bool
	claimErr  error
	recordErr error
	prefsErr  error
	prefs     *notify.Preferences
	skipErr   error
	skipped   []string
	claims    []int
	attempts  []notify.Attempt
}

func (f *fakeStore) Claim(_ context.Context, nid string) (notify.Notification, bool, error) {
	if f.claimErr != nil {
		return notify.Notification{}, false, f.claimErr
	}
	if f.missing || nid != f.row.ID {
		return notify.Notification{}, false, notify.ErrNotFound
	}
	if f.row.Status != notify.StatusPending && f.row.Status != notify.StatusProcessing {
		return f.row, false, nil
	}
	f.row.Status, f.row.Attempts = notify.StatusProcessing, f.row.Attempts+1
	f.claims = append(f.claims, f.row.Attempts)
	return f.row, true, nil
}

func (f *fakeStore) RecordAttempt(_ context.Context, a notify.Attempt) error {
	f.attempts = append(f.attempts, a)
	if f.recordErr != nil {
		return f.recordErr
	}
	f.row.Status = a.NextStatus
	return nil
}

func (f *fakeStore) GetPreferences(context.Context, string) (notify.Preferences, error) {
	if f.prefsErr != nil {
		return notify.Preferences{}, f.prefsErr
	}
	if f.prefs != nil {
		return *f.prefs, nil
	}
	return notify.Preferences{EmailEnabled: true, PushEnabled: true}, nil
}

func (f *fakeStore) Skip(_ context.Context, _ string, reason string) error {
	if f.skipErr != nil {
		return f.skipErr
	}
	f.skipped = append(f.skipped, reason)
	f.row.Status = notify.StatusCancelled
	return nil
}

type fakeMailer struct {
	err   error
	panic any
	sent  []mailer.Email
}

func (f *fakeMailer) Send(_ context.Context, e mailer.Email) error {
	if f.panic != nil {
		panic(f.panic)
	}
	f.sent = append(f.sent, e)
	return f.err
}

func pending() *fakeStore {
	subject, body, rcpt := "Betreff", "<p>Hallo</p>", "user@example.com"
	return &fakeStore{row: notify.Notification{ID: id, AppID: "mana-auth", Channel: notify.ChannelEmail,
		Subject: &subject, Body: &body, Recipient: &rcpt, Status: notify.StatusPending}}
}

func job(attempt int) *river.Job[Args] {
	return &river.Job[Args]{
		JobRow: &rivertype.JobRow{ID: 7, Attempt: attempt, MaxAttempts: EmailMaxAttempts},
		Args:   Args{NotificationID: id, From: "Other <other@test.local>", ReplyTo: "help@test.local"},
	}
}

func newWorker(st Store, m Mailer) (*Worker, *metrics.Notify) {
	met := metrics.New()
	return NewWorker(st, Channels{Mail: m}, met, slog.New(slog.DiscardHandler), DefaultPolicies()), met
}

// Guard: delivery.go `return w.policies.of(c).RetryBase << (attempt - 1)`.
func TestBackoff(t *testing.T) {
	w, _ := newWorker(&fakeStore{}, &fakeMailer{})
	for attempt, want := range map[int]time.Duration{1: 5 * time.Second, 2: 10 * time.Second, 3: 20 * time.Second, 0: 5 * time.Second} {
		if got := w.Backoff(notify.ChannelEmail, attempt); got != want {
			t.Errorf("Backoff(%d) = %v, want %v", attempt, got, want)
		}
	}
	// Contract §7.4: push 1 s, 2 s; webhook 3, 6, 12, 24 s.
	if w.Backoff(notify.ChannelPush, 2) != 2*time.Second || w.Backoff(notify.ChannelWebhook, 4) != 24*time.Second {
		t.Errorf("push/webhook backoff %v %v", w.Backoff(notify.ChannelPush, 2), w.Backoff(notify.ChannelWebhook, 4))
	}
	// The base is configurable (NOTIFY_EMAIL_RETRY_BASE); a zero policy
	// falls back to the default rather than retrying at once forever.
	w = NewWorker(&fakeStore{}, Channels{}, metrics.New(), slog.New(slog.DiscardHandler),
		Policies{notify.ChannelEmail: {MaxAttempts: 3, RetryBase: 100 * time.Millisecond}, notify.ChannelPush: {}})
	if got := w.Backoff(notify.ChannelEmail, 2); got != 200*time.Millisecond {
		t.Errorf("with base 100ms: Backoff(2) = %v", got)
	}
	if got := w.Backoff(notify.ChannelPush, 1); got != time.Second {
		t.Errorf("zero push policy: Backoff(1) = %v, want the default 1s", got)
	}
	// Guard: NextRetry must use Backoff, not River's default policy.
	before := time.Now()
	next := w.NextRetry(job(2))
	if next.Before(before.Add(200*time.Millisecond)) || next.After(time.Now().Add(200*time.Millisecond)) {
		t.Errorf("NextRetry %v is not now+200ms", next.Sub(before))
	}
}

func TestDeliverSuccess(t *testing.T) {
	st, m := pending(), &fakeMailer{}
	w, met := newWorker(st, m)
	if err := w.Work(context.Background(), job(1)); err != nil {
		t.Fatalf("Work: %v", err)
	}
	if len(m.sent) != 1 {
		t.Fatalf("sent %d emails", len(m.sent))
	}
	e := m.sent[0]
	if e.NotificationID != id || e.To != "user@example.com" || e.Subject != "Betreff" || e.HTML != "<p>Hallo</p>" ||
		e.From != "Other <other@test.local>" || e.ReplyTo != "help@test.local" {
		t.Fatalf("email %+v", e)
	}
	if len(st.claims) != 1 || st.claims[0] != 1 {
		t.Fatalf("claims %v, want attempt 1", st.claims)
	}
	if len(st.attempts) != 1 || st.attempts[0].NextStatus != notify.StatusDelivered || st.attempts[0].Err != nil ||
		st.attempts[0].Number != 1 || st.attempts[0].Channel != notify.ChannelEmail {
		t.Fatalf("attempts %+v", st.attempts)
	}
	if v := counterValue(t, met.NotificationsSent.WithLabelValues("email", "mana-auth")); v != 1 {
		t.Errorf("notifications_sent_total = %v", v)
	}
	if v := counterValue(t, met.EmailsSent.WithLabelValues("custom", "success")); v != 1 {
		t.Errorf("emails_sent_total{success} = %v", v)
	}
}

// A failed attempt with attempts left goes back to pending and returns the
// error so River retries. Guard: delivery.go `case attempt >= maxAttempts:`
// decides between pending and failed; `default: ... return fmt.Errorf(...)`
// returns the error (a nil would make River complete the job: mail lost).
func TestDeliverFailureRetries(t *testing.T) {
	st, m := pending(), &fakeMailer{err: errors.New("421 try later")}
	w, met := newWorker(st, m)
	err := w.Work(context.Background(), job(1))
	if err == nil || !strings.Contains(err.Error(), "421 try later") {
		t.Fatalf("Work = %v, want the send error", err)
	}
	var cancel *river.JobCancelError
	if errors.As(err, &cancel) {
		t.Fatal("a temporary failure cancelled the job")
	}
	a := st.attempts[0]
	if a.NextStatus != notify.StatusPending || a.Err == nil || a.Number != 1 {
		t.Fatalf("attempt %+v", a)
	}
	if v := counterValue(t, met.EmailsSent.WithLabelValues("custom", "failed")); v != 1 {
		t.Errorf("emails_sent_total{failed} = %v", v)
	}
	if v := counterValue(t, met.NotificationsFailed.WithLabelValues("email", "mana-auth", "max_retries")); v != 0 {
		t.Errorf("counted as failed before the last attempt")
	}
}

// The last attempt's failure marks the notification failed. Guard:
// delivery.go `case attempt >= maxAttempts: return notify.StatusFailed`.
func TestDeliverLastFailureMarksFailed(t *testing.T) {
	st, m := pending(), &fakeMailer{err: errors.New("550 no such user")}
	st.row.Attempts = EmailMaxAttempts - 1
	w, met := newWorker(st, m)
	if err := w.Work(context.Background(), job(EmailMaxAttempts)); err == nil {
		t.Fatal("Work = nil, want the send error")
	}
	if a := st.attempts[0]; a.NextStatus != notify.StatusFailed || a.Number != EmailMaxAttempts {
		t.Fatalf("attempt %+v", a)
	}
	if v := counterValue(t, met.NotificationsFailed.WithLabelValues("email", "mana-auth", "max_retries")); v != 1 {
		t.Errorf("notifications_failed_total = %v", v)
	}
}

// Guard: delivery.go `if !claimed { ... return nil }` — without it a
// cancelled or delivered notification would be sent (again).
func TestDeliverSkipsFinishedNotifications(t *testing.T) {
	for _, status := range []notify.Status{notify.StatusDelivered, notify.StatusCancelled, notify.StatusFailed} {
		st, m := pending(), &fakeMailer{}
		st.row.Status = status
		w, _ := newWorker(st, m)
		if err := w.Work(context.Background(), job(1)); err != nil {
			t.Fatalf("%s: Work = %v", status, err)
		}
		if len(m.sent) != 0 || len(st.attempts) != 0 {
			t.Fatalf("%s: sent %d, attempts %d", status, len(m.sent), len(st.attempts))
		}
	}
}

// Guard: delivery.go `if errors.Is(err, notify.ErrNotFound) { ... river.JobCancel`.
func TestDeliverMissingNotificationCancelsJob(t *testing.T) {
	st := pending()
	st.missing = true
	w, _ := newWorker(st, &fakeMailer{})
	var cancel *river.JobCancelError
	if err := w.Work(context.Background(), job(1)); !errors.As(err, &cancel) {
		t.Fatalf("Work = %v, want a JobCancel error", err)
	}
}

// A database failure before sending is returned (River retries) and nothing is sent.
func TestDeliverClaimErrorRetries(t *testing.T) {
	st, m := pending(), &fakeMailer{}
	st.claimErr = errors.New("connection refused")
	w, _ := newWorker(st, m)
	err := w.Work(context.Background(), job(1))
	var cancel *river.JobCancelError
	if err == nil || errors.As(err, &cancel) || len(m.sent) != 0 {
		t.Fatalf("Work = %v, sent %d", err, len(m.sent))
	}
}

// Sent but not recorded: the job must fail so River retries, never report
// success with the row stuck in processing. Guard: delivery.go
// `if recordErr != nil { if sendErr == nil { ... return fmt.Errorf(...)`.
func TestDeliverRecordFailureIsReturned(t *testing.T) {
	st, m := pending(), &fakeMailer{}
	st.recordErr = errors.New("connection reset")
	w, _ := newWorker(st, m)
	if err := w.Work(context.Background(), job(1)); err == nil || !strings.Contains(err.Error(), "connection reset") {
		t.Fatalf("Work = %v, want the record error", err)
	}
}

// A panicking mailer counts as a failed attempt. Guard: delivery.go
// `if p := recover(); p != nil {` in deliver (without it the panic escapes
// Work and no attempt is recorded).
func TestDeliverPanicIsAFailedAttempt(t *testing.T) {
	st, m := pending(), &fakeMailer{panic: "boom"}
	w, _ := newWorker(st, m)
	if err := w.Work(context.Background(), job(1)); err == nil || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("Work = %v", err)
	}
	if len(st.attempts) != 1 || st.attempts[0].NextStatus != notify.StatusPending {
		t.Fatalf("attempts %+v", st.attempts)
	}
}

// A notification without recipient can never be delivered: failed at once,
// the job cancelled. Guard: delivery.go `if n.Recipient == nil || *n.Recipient == "" {`.
func TestDeliverWithoutRecipientFailsPermanently(t *testing.T) {
	st, m := pending(), &fakeMailer{}
	st.row.Recipient = nil
	w, met := newWorker(st, m)
	var cancel *river.JobCancelError
	if err := w.Work(context.Background(), job(1)); !errors.As(err, &cancel) {
		t.Fatalf("Work = %v, want JobCancel", err)
	}
	if len(m.sent) != 0 || st.attempts[0].NextStatus != notify.StatusFailed {
		t.Fatalf("sent %d, attempts %+v", len(m.sent), st.attempts)
	}
	if v := counterValue(t, met.NotificationsFailed.WithLabelValues("email", "mana-auth", "permanent")); v != 1 {
		t.Errorf("notifications_failed_total{permanent} = %v", v)
	}
}

func TestArgsKindAndInsertOpts(t *testing.T) {
	if (Args{}).Kind() != "notify_deliver" {
		t.Error("kind")
	}
	// Guard: InsertOpts — another queue would be fetched by mana-auth's
	// client or by nobody.
	if o := InsertOpts(); o.Queue != "notify_email" || o.MaxAttempts != 3 {
		t.Errorf("opts %+v", o)
	}
	// Contract §7.4 attempts per channel, and the priority order.
	p := DefaultPolicies()
	if o := p.InsertOpts(notify.ChannelWebhook, notify.PriorityCritical, time.Time{}); o.Queue != "notify_webhook" || o.MaxAttempts != 5 || o.Priority != 1 {
		t.Errorf("webhook opts %+v", o)
	}
	if o := p.InsertOpts(notify.ChannelPush, notify.PriorityLow, time.Time{}); o.Queue != "notify_push" || o.MaxAttempts != 3 || o.Priority != 4 {
		t.Errorf("push opts %+v", o)
	}
}

// counterValue reads a counter directly (prometheus/testutil would need a
// module this project does not carry).
func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// A preferences read that fails is a recorded failed attempt: retried while
// attempts remain, failed for good after the last, never left in processing.
// Negative control: delivery.go returning `fmt.Errorf(...)` on the
// GetPreferences error instead of `w.finish(...)` records no attempt here.
func TestDeliverPreferencesReadErrorIsAFailedAttempt(t *testing.T) {
	for _, tc := range []struct {
		attempt int
		want    notify.Status
	}{{1, notify.StatusPending}, {EmailMaxAttempts, notify.StatusFailed}} {
		st, m := pending(), &fakeMailer{}
		user := "user-1"
		st.row.UserID, st.row.Attempts = &user, tc.attempt-1
		st.prefsErr = errors.New("connection refused")
		w, _ := newWorker(st, m)
		err := w.Work(context.Background(), job(tc.attempt))
		if err == nil || !strings.Contains(err.Error(), "connection refused") {
			t.Fatalf("attempt %d: Work = %v, want the preferences error", tc.attempt, err)
		}
		if len(m.sent) != 0 {
			t.Fatalf("attempt %d: sent %d mails without knowing the preferences", tc.attempt, len(m.sent))
		}
		if len(st.attempts) != 1 || st.attempts[0].NextStatus != tc.want || st.attempts[0].Err == nil {
			t.Fatalf("attempt %d: recorded %+v, want one failed attempt with next status %s", tc.attempt, st.attempts, tc.want)
		}
		if st.row.Status != tc.want {
			t.Fatalf("attempt %d: notification %s, want %s", tc.attempt, st.row.Status, tc.want)
		}
	}
}

// A blocked delivery whose skip cannot be written is a recorded failed
// attempt (retried, then failed for good), not a row left in processing; a
// skip that is written sends nothing and records no attempt. Negative
// control: delivery.go returning `fmt.Errorf("skip notification ...")` on
// the Skip error instead of `w.finish(...)` records no attempt here.
func TestDeliverBlockedSkip(t *testing.T) {
	user := "user-1"
	blocked := notify.Preferences{Stored: true, EmailEnabled: false, PushEnabled: true, Timezone: "UTC"}

	st, m := pending(), &fakeMailer{}
	st.row.UserID, st.prefs = &user, &blocked
	w, _ := newWorker(st, m)
	if err := w.Work(context.Background(), job(1)); err != nil || len(st.skipped) != 1 || len(st.attempts) != 0 || len(m.sent) != 0 {
		t.Fatalf("blocked: Work = %v, skipped %v, attempts %d, sent %d", err, st.skipped, len(st.attempts), len(m.sent))
	}

	st, m = pending(), &fakeMailer{}
	st.row.UserID, st.prefs, st.row.Attempts = &user, &blocked, EmailMaxAttempts-1
	st.skipErr = errors.New("disk I/O error")
	w, _ = newWorker(st, m)
	if err := w.Work(context.Background(), job(EmailMaxAttempts)); err == nil || !strings.Contains(err.Error(), "disk I/O error") {
		t.Fatalf("skip failing: Work = %v, want the skip error", err)
	}
	if len(m.sent) != 0 || len(st.attempts) != 1 || st.attempts[0].NextStatus != notify.StatusFailed || st.row.Status != notify.StatusFailed {
		t.Fatalf("skip failing on the last attempt: sent %d, attempts %+v, status %s; want one failed attempt, no mail",
			len(m.sent), st.attempts, st.row.Status)
	}
}
