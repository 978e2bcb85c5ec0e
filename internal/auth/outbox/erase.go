package outbox

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/riverqueue/river"

	"github.com/mana/mana/internal/notifyapi"
)

// EraseArgs asks notify, in its own database, to erase a deleted account's
// rows. The job is written in the deletion's transaction, so a committed
// deletion always reaches notify (durable like mail). It names the user
// until it is done and River's retention removes it.
type EraseArgs struct {
	UserID string `json:"user_id"`
	Email  string `json:"email"`
}

// Kind names the job type in river_job.kind.
func (EraseArgs) Kind() string { return "auth_notify_erase" }

// InsertOpts routes the job to auth's queue of hand-offs to notify.
func (EraseArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: Queue, MaxAttempts: MaxAttempts}
}

// EraseWorker posts EraseArgs to notify's erase route.
type EraseWorker struct {
	river.WorkerDefaults[EraseArgs]
	NotifyURL  string
	ServiceKey string
	HTTP       *http.Client
	Log        *slog.Logger
}

// NextRetry backs off like the mail hand-off.
func (w *EraseWorker) NextRetry(job *river.Job[EraseArgs]) time.Time {
	return time.Now().Add(Backoff(job.Attempt))
}

// Timeout bounds one hand-off.
func (w *EraseWorker) Timeout(*river.Job[EraseArgs]) time.Duration { return 15 * time.Second }

// Work asks notify to erase the user's rows; 2xx is done, a refusal of the
// request itself cancels the job loudly, anything else is retried.
func (w *EraseWorker) Work(ctx context.Context, job *river.Job[EraseArgs]) error {
	err := postToNotify(ctx, w.HTTP, w.NotifyURL, w.ServiceKey, notifyapi.ErasePath,
		notifyapi.EraseRequest{UserID: job.Args.UserID, Email: job.Args.Email})
	if err == nil {
		w.Log.InfoContext(ctx, "notify erased a deleted account's data", "job_id", job.ID, "user_id", job.Args.UserID)
		return nil
	}
	var perm permanentError
	if errors.As(err, &perm) {
		w.Log.ErrorContext(ctx, "notify refused to erase a deleted account's data; giving up", "job_id", job.ID,
			"user_id", job.Args.UserID, "err", err)
		return river.JobCancel(err)
	}
	w.Log.WarnContext(ctx, "erasing a deleted account's notify data failed; will retry", "job_id", job.ID,
		"attempt", job.Attempt, "retry_in", Backoff(job.Attempt).String(), "err", err)
	return err
}

// EraseJob is the job asking notify to erase userID's rows.
func EraseJob(userID, email string) EraseArgs { return EraseArgs{UserID: userID, Email: email} }
