package pg

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mana/mana/internal/notify"
)

func encodeOptions(o notify.Options) (any, error) {
	if o == (notify.Options{}) {
		return nil, nil // NULL
	}
	b, err := json.Marshal(o)
	if err != nil {
		return nil, fmt.Errorf("encode notification options: %w", err)
	}
	return string(b), nil
}

// Cancel marks a pending notification cancelled. Its job may still be queued
// (scheduled or waiting to retry); the worker's Claim refuses cancelled rows,
// so the job ends without delivering. A notification already being
// delivered, delivered or failed is ErrNotPending; an unknown id ErrNotFound.
func (s *NotifyStore) Cancel(ctx context.Context, id string) error {
	if !notify.IsUUID(id) {
		return notify.ErrNotFound
	}
	tag, err := s.pool.Exec(ctx, `
		UPDATE notify.notifications SET status = 'cancelled', updated_at = now()
		WHERE id = $1 AND status = 'pending'`, id)
	if err != nil {
		return fmt.Errorf("cancel notification %s: %w", id, err)
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	if _, err := s.Get(ctx, id); err != nil {
		return err
	}
	return notify.ErrNotPending
}

// Skip ends a claimed notification without delivering it (the user's
// preferences forbid it at delivery time): cancelled, with the reason kept in
// error_message so the decision is visible.
func (s *NotifyStore) Skip(ctx context.Context, id, reason string) error {
	tag, err := s.pool.Exec(ctx, `
		UPDATE notify.notifications SET status = 'cancelled', error_message = $2, updated_at = now()
		WHERE id = $1`, id, reason)
	if err != nil {
		return fmt.Errorf("skip notification %s: %w", id, err)
	}
	if tag.RowsAffected() != 1 {
		return fmt.Errorf("skip notification %s: %w", id, notify.ErrNotFound)
	}
	return nil
}

// List returns notifications with status, most recently updated first.
func (s *NotifyStore) List(ctx context.Context, status notify.Status, limit int) ([]notify.Notification, error) {
	if limit <= 0 || limit > notify.MaxListLimit {
		limit = notify.MaxListLimit
	}
	rows, err := s.pool.Query(ctx, `SELECT `+notificationColumns+` FROM notify.notifications
		WHERE status = $1::notify.notification_status ORDER BY updated_at DESC, id LIMIT $2`, string(status), limit)
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
// delivery job, with a fresh set of attempts, in the same transaction
// (`mana notify retry <id>`). Not failed: ErrNotFailed; unknown: ErrNotFound.
func (s *NotifyStore) Redrive(ctx context.Context, id string) error {
	if !notify.IsUUID(id) {
		return notify.ErrNotFound
	}
	return inTx(ctx, s.pool, func(tx pgx.Tx) error {
		n, err := scanNotification(tx.QueryRow(ctx, `
			UPDATE notify.notifications SET status = 'pending', updated_at = now()
			WHERE id = $1 AND status = 'failed'
			RETURNING `+notificationColumns, id))
		if errors.Is(err, pgx.ErrNoRows) {
			if _, err := s.Get(ctx, id); err != nil {
				return err
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

// Stats reads the backlog of the given River queues.
func (s *NotifyStore) Stats(ctx context.Context, queues []string) (notify.QueueStats, error) {
	st := notify.QueueStats{Depth: map[string]int{}}
	for _, q := range queues {
		st.Depth[q] = 0
	}
	rows, err := s.pool.Query(ctx, `SELECT queue, count(*) FROM `+pgx.Identifier{RiverSchema, "river_job"}.Sanitize()+`
		WHERE queue = ANY($1) AND state IN ('available', 'scheduled', 'retryable') GROUP BY queue`, queues)
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
	if err := s.pool.QueryRow(ctx, `SELECT COALESCE(EXTRACT(EPOCH FROM now() - min(scheduled_at)), 0)::float8
		FROM `+pgx.Identifier{RiverSchema, "river_job"}.Sanitize()+`
		WHERE queue = ANY($1) AND state IN ('available', 'retryable') AND scheduled_at <= now()`, queues).Scan(&oldest); err != nil {
		return st, fmt.Errorf("oldest pending job: %w", err)
	}
	st.OldestPending = time.Duration(oldest * float64(time.Second))
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM notify.notifications WHERE status = 'failed'`).Scan(&st.DeadLetters); err != nil {
		return st, fmt.Errorf("dead letters: %w", err)
	}
	return st, nil
}
