package notify

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mana/mana/internal/notify/delivery"
	"github.com/mana/mana/internal/notify/store"
)

// Redriver is the store side of a re-drive.
type Redriver interface {
	Redrive(ctx context.Context, id string, enqueue func(ctx context.Context, tx pgx.Tx, n store.Notification) error) error
}

// Redrive puts one failed notification back on its queue with a fresh set of
// attempts (`mana notify retry <id>`): the status change and the new job
// commit together. Not failed → store.ErrNotFailed; unknown → store.ErrNotFound.
func Redrive(ctx context.Context, st Redriver, jobs JobInserter, policies delivery.Policies, id string) error {
	return st.Redrive(ctx, id, func(ctx context.Context, tx pgx.Tx, n store.Notification) error {
		_, err := jobs.InsertTx(ctx, tx, delivery.Args{NotificationID: n.ID}, policies.InsertOpts(n.Channel, n.Priority, time.Time{}))
		return err
	})
}
