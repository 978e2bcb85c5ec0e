// Package outbox hands mail recorded by auth transactions to mana-notify.
// The entry is a River job inserted in the same transaction as the user or
// token it belongs to, so a committed registration always has its mail; the
// job retries with backoff for as long as notify is unreachable.
package outbox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/riverqueue/river"

	"github.com/mana/mana/internal/auth"
	"github.com/mana/mana/internal/notify"
	"github.com/mana/mana/internal/notifyapi"
)

// Queue is the River queue of auth's outbox; notify uses its own.
const Queue = "auth_mail"

// AppID is the appId of auth's notifications in mana-notify.
const AppID = "mana-auth"

// MaxAttempts with backoff capped at maxBackoff keeps retrying for about
// four hours before the job is discarded (and visible as such in river_job).
const (
	MaxAttempts = 60
	maxBackoff  = 5 * time.Minute
)

// MailArgs is the outbox entry.
type MailArgs struct {
	To         string `json:"to"`
	Subject    string `json:"subject"`
	HTML       string `json:"html"`
	ExternalID string `json:"external_id"`
	// Sealed is the body sealed under the KEK named KEKID (HTML is then
	// empty): the link in it is never in the job table in clear.
	Sealed []byte `json:"sealed,omitempty"`
	KEKID  string `json:"kek_id,omitempty"`
}

// Opener opens sealed bodies (the KEK ring).
type Opener interface {
	Open(kekID string, sealed, aad []byte) ([]byte, error)
}

// Opened is m with its body in clear, for the hand-off.
func (m MailArgs) Opened(o Opener) (MailArgs, error) {
	if len(m.Sealed) == 0 {
		return m, nil
	}
	if o == nil {
		return MailArgs{}, errors.New("the mail body is sealed and no KEK ring is configured")
	}
	html, err := o.Open(m.KEKID, m.Sealed, auth.MailAAD(m.ExternalID))
	if err != nil {
		return MailArgs{}, fmt.Errorf("open the sealed mail body (KEK %s): %w", m.KEKID, err)
	}
	m.HTML, m.Sealed, m.KEKID = string(html), nil, ""
	return m, nil
}

// Message is the mail as mana-notify accepts it: the one mapping of an
// outbox entry, used in-process (`mana serve`) and over HTTP alike.
func (m MailArgs) Message() notify.Message {
	// Sensitive: verification and reset mails carry their link's secret.
	return notify.Message{Channel: notify.ChannelEmail, AppID: AppID, Recipient: m.To, Subject: m.Subject,
		Body: m.HTML, ExternalID: m.ExternalID, Sensitive: true}
}

// Kind names the job type in river_job.kind.
func (MailArgs) Kind() string { return "auth_mail" }

// InsertOpts routes the job to auth's queue.
func (MailArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: Queue, MaxAttempts: MaxAttempts}
}

// Job is the outbox entry of m: the stores insert it with jobs.TxInserter
// in the transaction that records the mail (River reads its queue and
// attempts from MailArgs.InsertOpts).
func Job(m auth.Mail) MailArgs {
	return MailArgs{To: m.To, Subject: m.Subject, HTML: m.HTML, ExternalID: m.ExternalID, Sealed: m.SealedHTML, KEKID: m.KEKID}
}

// Deliverer hands one mail to mana-notify. An error wrapped by Permanent
// cancels the job; any other error retries it.
type Deliverer interface {
	Deliver(ctx context.Context, m MailArgs) error
}

// Worker delivers MailArgs to mana-notify: through Via when set (the
// in-process hand-off of `mana serve`), else by POST to NotifyURL.
type Worker struct {
	river.WorkerDefaults[MailArgs]
	NotifyURL  string
	ServiceKey string
	HTTP       *http.Client
	Via        Deliverer
	// Opener opens sealed bodies; nil for outboxes that seal nothing.
	Opener Opener
	Log    *slog.Logger
}

// NextRetry backs off exponentially from one second up to maxBackoff.
func (w *Worker) NextRetry(job *river.Job[MailArgs]) time.Time {
	return time.Now().Add(Backoff(job.Attempt))
}

// Backoff is the delay after the given (1-based) failed attempt.
func Backoff(attempt int) time.Duration {
	if attempt < 1 {
		attempt = 1
	}
	if attempt > 20 {
		return maxBackoff
	}
	d := time.Second << (attempt - 1)
	if d > maxBackoff {
		return maxBackoff
	}
	return d
}

// Timeout bounds one hand-off.
func (w *Worker) Timeout(*river.Job[MailArgs]) time.Duration { return 15 * time.Second }

// permanentError is a rejection that a retry cannot fix.
type permanentError struct{ error }

// Unwrap keeps the cause reachable through errors.Is/As.
func (p permanentError) Unwrap() error { return p.error }

// Permanent marks err as a refusal of the mail itself: the job is cancelled
// (loudly) instead of retried.
func Permanent(err error) error { return permanentError{err} }

// Work posts the mail to notify. 2xx (including a deduplicated 200) is done;
// a refusal of the mail itself (400, 413, 422) is permanent and cancels the
// job loudly; anything else, including a wrong service key, is retried.
func (w *Worker) Work(ctx context.Context, job *river.Job[MailArgs]) error {
	args, err := job.Args.Opened(w.Opener)
	if err != nil {
		// No retry opens it (the KEK is gone from the ring): loudly cancelled.
		w.Log.ErrorContext(ctx, "outbox mail cannot be opened; giving up", "job_id", job.ID, "err", err)
		return river.JobCancel(err)
	}
	if w.Via != nil {
		err = w.Via.Deliver(ctx, args)
	} else {
		err = w.send(ctx, args)
	}
	if err == nil {
		return nil
	}
	var perm permanentError
	if errors.As(err, &perm) {
		w.Log.ErrorContext(ctx, "notify rejected an outbox mail; giving up", "job_id", job.ID, "to", job.Args.To, "err", err)
		return river.JobCancel(err)
	}
	w.Log.WarnContext(ctx, "outbox mail hand-off failed; will retry", "job_id", job.ID, "attempt", job.Attempt,
		"retry_in", Backoff(job.Attempt).String(), "err", err)
	return err
}

func (w *Worker) send(ctx context.Context, m MailArgs) error {
	return postToNotify(ctx, w.HTTP, w.NotifyURL, w.ServiceKey, "/api/v1/notifications/send", notifyapi.RequestOf(m.Message()))
}

// postToNotify posts body as JSON to notify's path with the service key.
// 2xx is done; a refusal of the body itself (400, 413, 422) is permanent,
// since retrying the same body cannot succeed; anything else is retryable,
// auth failures (401/403) included: a fixed service key delivers them.
func postToNotify(ctx context.Context, client *http.Client, baseURL, serviceKey, path string, body any) error {
	raw, err := json.Marshal(body)
	if err != nil {
		return permanentError{fmt.Errorf("encode the request: %w", err)}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, baseURL+path, bytes.NewReader(raw))
	if err != nil {
		return permanentError{fmt.Errorf("build request: %w", err)}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(notifyapi.ServiceKeyHeader, serviceKey)
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("post to notify: %w", err)
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512)) // best effort: only for the error message
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return nil
	case resp.StatusCode == 400 || resp.StatusCode == 413 || resp.StatusCode == 422:
		return permanentError{fmt.Errorf("notify answered %d: %s", resp.StatusCode, snippet)}
	default:
		return fmt.Errorf("notify answered %d: %s", resp.StatusCode, snippet)
	}
}
