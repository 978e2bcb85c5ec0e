// Package jobs names the one seam through which state changes and durable
// work meet: a job inserted in the caller's own transaction, so that the row
// and its job commit together or not at all (no lost mail, no orphan job).
package jobs

import (
	"context"
	"fmt"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// TxInserter inserts a job inside the transaction tx of the caller. It is
// River's InsertTx: *river.Client[pgx.Tx] implements it on PostgreSQL and
// *river.Client[*sql.Tx] on SQLite; the stores take one for their own
// transaction type and never expose the transaction.
type TxInserter[TTx any] interface {
	InsertTx(ctx context.Context, tx TTx, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error)
}

// Insert inserts args as a job in the caller's transaction tx; what names
// the job in the error.
func Insert[TTx any](ctx context.Context, ins TxInserter[TTx], tx TTx, args river.JobArgs, what string) error {
	if _, err := ins.InsertTx(ctx, tx, args, nil); err != nil {
		return fmt.Errorf("enqueue %s: %w", what, err)
	}
	return nil
}
