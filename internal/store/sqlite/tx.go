package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// inTx is the one way this package writes: it runs fn in one transaction
// (BEGIN IMMEDIATE: the write lock is taken at once, see Open), commits when
// fn returns nil and rolls back otherwise. Every store method that writes
// goes through it, for both services.
//
// A panic in fn (recovered further up by the HTTP layer, which keeps
// serving) must not leave the transaction open: it holds the only
// connection and the write lock, which `mana serve` shares between auth and
// notify, so every later request of either would wait for ever. So it is
// rolled back before the panic goes on.
func inTx(ctx context.Context, db *sql.DB, fn func(*sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	defer func() {
		if p := recover(); p != nil {
			if rbErr := tx.Rollback(); rbErr != nil && !errors.Is(rbErr, sql.ErrTxDone) {
				panic(fmt.Errorf("%v (and rollback: %w)", p, rbErr))
			}
			panic(p)
		}
	}()
	if err := fn(tx); err != nil {
		if rbErr := tx.Rollback(); rbErr != nil && !errors.Is(rbErr, sql.ErrTxDone) {
			return errors.Join(err, fmt.Errorf("rollback: %w", rbErr))
		}
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}
