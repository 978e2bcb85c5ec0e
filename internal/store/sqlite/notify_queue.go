package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mana/mana/internal/notify"
)

// Cancel marks a pending notification cancelled; the worker's Claim refuses
// cancelled rows, so a still queued job ends without delivering. Not pending:
// notify.ErrNotPending; unknown id: notify.ErrNotFound.
func (s *NotifyStore) Cancel(ctx context.Context, id string) error {
	if !notify.IsUUID(id) {
		return notify.ErrNotFound
	}
	res, err := s.db.ExecContext(ctx, `
		UPDATE notify_notifications SET status = 'cancelled', updated_at = ?
		WHERE id = lower(?) AND status = 'pending'`, s.ts(), id)
	if err != nil {
		return fmt.Errorf("cancel notification %s: %w", id, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("cancel notification %s: %w", id, err)
	}
	if n == 1 {
		return nil
	}
	if _, err := s.Get(ctx, id); err != nil {
		return err
	}
	return notify.ErrNotPending
}

// Skip ends a claimed notification without delivering it (the user's
// preferences forbid it at delivery time), with the reason in error_message.
func (s *NotifyStore) Skip(ctx context.Context, id, reason string) error {
	res, err := s.db.ExecContext(ctx, `
		UPDATE notify_notifications SET status = 'cancelled', error_message = ?, updated_at = ?
		WHERE id = lower(?)`, reason, s.ts(), id)
	if err != nil {
		return fmt.Errorf("skip notification %s: %w", id, err)
	}
	return oneRow(res, fmt.Errorf("skip notification %s: %w", id, notify.ErrNotFound))
}

// List returns notifications with status, most recently updated first.
func (s *NotifyStore) List(ctx context.Context, status notify.Status, limit int) ([]notify.Notification, error) {
	if limit <= 0 || limit > notify.MaxListLimit {
		limit = notify.MaxListLimit
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+notificationColumns+` FROM notify_notifications
		WHERE status = ? ORDER BY updated_at DESC, id LIMIT ?`, string(status), limit)
	if err != nil {
		return nil, fmt.Errorf("list %s notifications: %w", status, err)
	}
	defer rows.Close()
	out := []notify.Notification{}
	for rows.Next() {
		n, err := scanNotification(rows)
		if err != nil {
			return nil, fmt.Errorf("scan notification: %w", err)
		}
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list %s notifications: %w", status, err)
	}
	return out, nil
}

// Redrive puts a failed notification back to pending and enqueues a new
// delivery job, due at once, in the same transaction (`mana notify retry`).
// Not failed: notify.ErrNotFailed; unknown: notify.ErrNotFound.
func (s *NotifyStore) Redrive(ctx context.Context, id string) error {
	if !notify.IsUUID(id) {
		return notify.ErrNotFound
	}
	return inTx(ctx, s.db, func(tx *sql.Tx) error {
		n, err := scanNotification(tx.QueryRowContext(ctx, `
			UPDATE notify_notifications SET status = 'pending', updated_at = ?
			WHERE id = lower(?) AND status = 'failed'
			RETURNING `+notificationColumns, s.ts(), id))
		if errors.Is(err, sql.ErrNoRows) {
			// Inside the transaction only the transaction may be asked (one
			// connection): distinguish unknown from not failed here.
			var exists bool
			if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM notify_notifications WHERE id = lower(?))`,
				id).Scan(&exists); err != nil {
				return fmt.Errorf("redrive notification %s: %w", id, err)
			}
			if !exists {
				return notify.ErrNotFound
			}
			return notify.ErrNotFailed
		}
		if err != nil {
			return fmt.Errorf("redrive notification %s: %w", id, err)
		}
		if err := s.enqueue(ctx, tx, n.RedriveJob()); err != nil {
			return fmt.Errorf("enqueue redrive of %s: %w", id, err)
		}
		return nil
	})
}

// Stats reads the backlog of the given River queues (river_job lives in the
// same file; River's SQLite driver keeps its times as text julianday reads).
func (s *NotifyStore) Stats(ctx context.Context, queues []string) (notify.QueueStats, error) {
	st := notify.QueueStats{Depth: map[string]int{}}
	if len(queues) == 0 {
		return st, nil
	}
	args := make([]any, len(queues))
	for i, q := range queues {
		st.Depth[q] = 0
		args[i] = q
	}
	in := "(" + strings.Repeat("?, ", len(queues)-1) + "?)"
	rows, err := s.db.QueryContext(ctx, `SELECT queue, count(*) FROM river_job
		WHERE queue IN `+in+` AND state IN ('available', 'scheduled', 'retryable') GROUP BY queue`, args...)
	if err != nil {
		return st, fmt.Errorf("queue depth: %w", err)
	}
	for rows.Next() {
		var q string
		var n int
		if err := rows.Scan(&q, &n); err != nil {
			rows.Close()
			return st, fmt.Errorf("queue depth: %w", err)
		}
		st.Depth[q] = n
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return st, fmt.Errorf("queue depth: %w", err)
	}
	var oldest float64
	if err := s.db.QueryRowContext(ctx, `SELECT COALESCE((julianday('now') - julianday(min(scheduled_at))) * 86400.0, 0)
		FROM river_job WHERE queue IN `+in+` AND state IN ('available', 'retryable')
		AND julianday(scheduled_at) <= julianday('now')`, args...).Scan(&oldest); err != nil {
		return st, fmt.Errorf("oldest pending job: %w", err)
	}
	st.OldestPending = time.Duration(oldest * float64(time.Second))
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM notify_notifications WHERE status = 'failed'`).
		Scan(&st.DeadLetters); err != nil {
		return st, fmt.Errorf("dead letters: %w", err)
	}
	return st, nil
}
