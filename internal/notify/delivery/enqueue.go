package delivery

import (
	"context"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/mana/mana/internal/notify/store"
)

// TxInserter inserts a job inside a transaction of type TTx:
// *river.Client[pgx.Tx] on Postgres, *river.Client[*sql.Tx] on SQLite.
type TxInserter[TTx any] interface {
	InsertTx(ctx context.Context, tx TTx, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error)
}

// Enqueuer is the store's way of inserting a delivery job in its own
// transaction: the job of j's channel and priority, on the channel's queue
// with the channel's max attempts (policies), at j.ScheduledAt.
func Enqueuer[TTx any](jobs TxInserter[TTx], policies Policies) store.Enqueuer[TTx] {
	return func(ctx context.Context, tx TTx, j store.Job) error {
		_, err := jobs.InsertTx(ctx, tx, Args{NotificationID: j.NotificationID},
			policies.InsertOpts(j.Channel, j.Priority, j.ScheduledAt))
		return err
	}
}
