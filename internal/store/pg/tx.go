package pg

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// beginner is what a transaction starts from: the pool, or one connection
// that holds a session lock (migrations).
type beginner interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}

// inTx is the one way this package writes: it runs fn in one transaction,
// commits when fn returns nil and rolls back otherwise. Every store method
// that writes goes through it, for both services.
//
// A panic in fn (recovered further up by the HTTP layer, which keeps
// serving) must not leave the transaction open: it would keep its pooled
// connection, its row locks and its advisory locks (a login lock blocks
// every later login of that email) for the life of the process. So it is
// rolled back before the panic goes on.
func inTx(ctx context.Context, db beginner, fn func(pgx.Tx) error) error {
	tx, err := db.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	defer func() {
		if p := recover(); p != nil {
			if rbErr := tx.Rollback(context.WithoutCancel(ctx)); rbErr != nil && !errors.Is(rbErr, pgx.ErrTxClosed) {
				panic(fmt.Errorf("%v (and rollback: %w)", p, rbErr))
			}
			panic(p)
		}
	}()
	if err := fn(tx); err != nil {
		if rbErr := tx.Rollback(context.WithoutCancel(ctx)); rbErr != nil && !errors.Is(rbErr, pgx.ErrTxClosed) {
			return errors.Join(err, fmt.Errorf("rollback: %w", rbErr))
		}
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}
