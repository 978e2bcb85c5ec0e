package outbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/riverqueue/river"

	"github.com/mana/mana/internal/auth"
)

// RequestQueue is the River queue of account requests (forgot password,
// resend verification): short database work, apart from mail hand-offs
// that may wait on notify.
const RequestQueue = "auth_request"

// requestMaxAttempts retries a request through a database outage of about
// an hour (backoff capped at maxBackoff) before it is discarded.
const requestMaxAttempts = 20

// RequestArgs is a recorded account request.
type RequestArgs struct {
	What      string `json:"request"`
	Email     string `json:"email"`
	Redirect  string `json:"redirect,omitempty"`
	IP        string `json:"ip,omitempty"`
	UserAgent string `json:"user_agent,omitempty"`
}

// Kind names the job type in river_job.kind.
func (RequestArgs) Kind() string { return "auth_request" }

// InsertOpts routes the job to the request queue.
func (RequestArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: RequestQueue, MaxAttempts: requestMaxAttempts}
}

// RequestJob is the job of r, inserted by the stores with jobs.TxInserter.
func RequestJob(r auth.AccountRequest) RequestArgs {
	return RequestArgs{What: string(r.Kind), Email: r.Email, Redirect: r.Redirect, IP: r.IP, UserAgent: r.UserAgent}
}

// Request is the account request the job holds.
func (a RequestArgs) Request() auth.AccountRequest {
	return auth.AccountRequest{Kind: auth.RequestKind(a.What), Email: a.Email, Redirect: a.Redirect, IP: a.IP, UserAgent: a.UserAgent}
}

// RequestHandler decides account requests (auth.Service).
type RequestHandler interface {
	HandleAccountRequest(ctx context.Context, r auth.AccountRequest) error
}

// RequestWorker decides recorded account requests.
type RequestWorker struct {
	river.WorkerDefaults[RequestArgs]
	// Handler is set before the job client starts.
	Handler RequestHandler
	Log     *slog.Logger
}

// NextRetry backs off like the mail outbox.
func (w *RequestWorker) NextRetry(job *river.Job[RequestArgs]) time.Time {
	return time.Now().Add(Backoff(job.Attempt))
}

// Timeout bounds one decision (a few queries and one transaction).
func (w *RequestWorker) Timeout(*river.Job[RequestArgs]) time.Duration { return 30 * time.Second }

// Work decides the request. A kind this version does not know is cancelled
// loudly; any other error is retried.
func (w *RequestWorker) Work(ctx context.Context, job *river.Job[RequestArgs]) error {
	if w.Handler == nil {
		return errors.New("account request worker: no handler configured")
	}
	err := w.Handler.HandleAccountRequest(ctx, job.Args.Request())
	if errors.Is(err, auth.ErrUnknownRequest) {
		w.Log.ErrorContext(ctx, "account request cancelled", "job_id", job.ID, "request", job.Args.What, "error", err)
		return river.JobCancel(err)
	}
	if err != nil {
		return fmt.Errorf("account request %d (%s): %w", job.ID, job.Args.What, err)
	}
	return nil
}
