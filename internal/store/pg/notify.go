package pg

// mana-notify's persistence: notifications and their delivery attempts in
// the notify schema (seed contract §6.2).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mana/mana/internal/jobs"
	"github.com/mana/mana/internal/notify"
	"github.com/mana/mana/internal/notify/delivery"
)

// NotifyStore reads and writes the notify schema; it implements notify.Store.
type NotifyStore struct {
	pool     *pgxpool.Pool
	jobs     jobs.TxInserter[pgx.Tx]
	policies delivery.Policies
}

// NewNotifyStore returns a NotifyStore on pool that inserts each delivery
// job through inserter, in the transaction that writes its notification,
// with the channel's retry policy.
func NewNotifyStore(pool *pgxpool.Pool, inserter jobs.TxInserter[pgx.Tx], policies delivery.Policies) *NotifyStore {
	return &NotifyStore{pool: pool, jobs: inserter, policies: policies}
}

var _ notify.Store = (*NotifyStore)(nil)

// enqueue inserts the delivery job j in tx.
func (s *NotifyStore) enqueue(ctx context.Context, tx pgx.Tx, j notify.Job) error {
	args, opts := s.policies.Job(j)
	_, err := s.jobs.InsertTx(ctx, tx, args, opts)
	return err
}

// Ping runs a real query, so that health reflects whether the database answers.
func (s *NotifyStore) Ping(ctx context.Context) error {
	var one int
	if err := s.pool.QueryRow(ctx, `SELECT 1`).Scan(&one); err != nil {
		return fmt.Errorf("ping database: %w", err)
	}
	return nil
}

// Create stores n as pending and inserts its delivery job in the same transaction. With
// an ExternalID it claims the key in notify.idempotency_keys first-writer-wins:
// the unique key, not a read before the insert, decides, so two concurrent
// requests with one key can never both create a notification.
func (s *NotifyStore) Create(ctx context.Context, n notify.NewNotification) (created notify.Created, err error) {
	var data any // NULL unless there is data
	if n.Data != nil {
		b, err := json.Marshal(n.Data)
		if err != nil {
			return notify.Created{}, fmt.Errorf("encode notification data: %w", err)
		}
		data = string(b)
	}
	options, err := encodeOptions(n.Options)
	if err != nil {
		return notify.Created{}, err
	}
	if n.Priority == "" {
		n.Priority = notify.PriorityNormal
	}

	err = inTx(ctx, s.pool, func(tx pgx.Tx) error {
		var id string
		if err := tx.QueryRow(ctx, `
			INSERT INTO notify.notifications
			  (user_id, app_id, channel, subject, body, data, status, priority, recipient, external_id,
			   template_id, scheduled_for, options)
			VALUES (NULLIF($1, ''), $2, $3::notify.channel_type, NULLIF($4, ''), NULLIF($5, ''), $6::jsonb,
			        'pending', $7::notify.priority_type, NULLIF($8, ''), NULLIF($9, ''),
			        NULLIF($10, ''), $11, $12::jsonb)
			RETURNING id::text`,
			n.UserID, n.AppID, string(n.Channel), n.Subject, n.Body, data, string(n.Priority), n.Recipient, n.ExternalID,
			n.TemplateID, n.ScheduledFor, options,
		).Scan(&id); err != nil {
			return fmt.Errorf("insert notification: %w", err)
		}
		if n.ExternalID != "" {
			var claimedFor string
			err := tx.QueryRow(ctx, `
				INSERT INTO notify.idempotency_keys (external_id, notification_id) VALUES ($1, $2)
				ON CONFLICT (external_id) DO NOTHING
				RETURNING notification_id::text`, n.ExternalID, id).Scan(&claimedFor)
			switch {
			case errors.Is(err, pgx.ErrNoRows):
				// Another notification owns the key (its transaction has
				// committed: the insert waited for it). Read its id in a
				// fresh statement snapshot; rolling back drops our row.
				var existing string
				if err := tx.QueryRow(ctx, `SELECT notification_id::text FROM notify.idempotency_keys WHERE external_id = $1`,
					n.ExternalID).Scan(&existing); err != nil {
					return fmt.Errorf("read notification of external id: %w", err)
				}
				created = notify.Created{ID: existing, Deduplicated: true}
				return errDuplicate
			case err != nil:
				return fmt.Errorf("claim external id: %w", err)
			}
		}
		if err := s.enqueue(ctx, tx, n.Job(id)); err != nil {
			return fmt.Errorf("enqueue delivery of %s: %w", id, err)
		}
		created = notify.Created{ID: id}
		return nil
	})
	if err == errDuplicate { //nolint:errorlint // identity: a rollback failure joined to it is an error
		return created, nil
	}
	if err != nil {
		return notify.Created{}, fmt.Errorf("create notification: %w", err)
	}
	return created, nil
}

// NotificationOfExternalID returns the id of the notification that claimed
// externalID, or ErrNotFound. A send asks it first, so that a repeat is
// answered as the duplicate it is whatever has changed since (preferences,
// templates), as the contract's send flow does; Create's claim stays the
// guarantee under concurrency.
func (s *NotifyStore) NotificationOfExternalID(ctx context.Context, externalID string) (string, error) {
	var id string
	err := s.pool.QueryRow(ctx, `SELECT notification_id::text FROM notify.idempotency_keys WHERE external_id = $1`,
		externalID).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", notify.ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("look up external id: %w", err)
	}
	return id, nil
}

const notificationColumns = `id::text, user_id, app_id, channel::text, template_id, subject, body, status::text,
	priority::text, scheduled_for, recipient, external_id, attempts, delivered_at, error_message, created_at, updated_at,
	options, data`

func scanNotification(row pgx.Row) (notify.Notification, error) {
	var n notify.Notification
	var channel, status, priority string
	var options, data []byte
	err := row.Scan(&n.ID, &n.UserID, &n.AppID, &channel, &n.TemplateID, &n.Subject, &n.Body, &status,
		&priority, &n.ScheduledFor, &n.Recipient, &n.ExternalID, &n.Attempts, &n.DeliveredAt, &n.ErrorMessage,
		&n.CreatedAt, &n.UpdatedAt, &options, &data)
	if err != nil {
		return n, err
	}
	n.Channel, n.Status, n.Priority = notify.Channel(channel), notify.Status(status), notify.Priority(priority)
	if len(options) > 0 {
		if err := json.Unmarshal(options, &n.Options); err != nil {
			return n, fmt.Errorf("decode options of notification %s: %w", n.ID, err)
		}
	}
	if len(data) > 0 {
		if err := json.Unmarshal(data, &n.Data); err != nil {
			return n, fmt.Errorf("decode data of notification %s: %w", n.ID, err)
		}
	}
	return n, nil
}

// Get returns the notification with id, or ErrNotFound.
func (s *NotifyStore) Get(ctx context.Context, id string) (notify.Notification, error) {
	if !notify.IsUUID(id) {
		return notify.Notification{}, notify.ErrNotFound
	}
	n, err := scanNotification(s.pool.QueryRow(ctx,
		`SELECT `+notificationColumns+` FROM notify.notifications WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return notify.Notification{}, notify.ErrNotFound
	}
	if err != nil {
		return notify.Notification{}, fmt.Errorf("get notification %s: %w", id, err)
	}
	return n, nil
}

// Claim marks the notification processing and counts the attempt, unless it
// is delivered, cancelled or failed for good; then claimed is false and n
// holds its current state. The check and the update are one statement, so a
// concurrent cancel either wins or sees the row processing, never a half
// state. n.Attempts is the attempt's number over the notification's life, so
// a re-driven notification continues its numbering in delivery_logs.
func (s *NotifyStore) Claim(ctx context.Context, id string) (n notify.Notification, claimed bool, err error) {
	if !notify.IsUUID(id) {
		return notify.Notification{}, false, notify.ErrNotFound
	}
	n, err = scanNotification(s.pool.QueryRow(ctx, `
		UPDATE notify.notifications
		SET status = 'processing', attempts = attempts + 1, updated_at = now()
		WHERE id = $1 AND status IN ('pending', 'processing')
		RETURNING `+notificationColumns, id))
	if errors.Is(err, pgx.ErrNoRows) {
		n, err = s.Get(ctx, id)
		if err != nil {
			return notify.Notification{}, false, err
		}
		return n, false, nil
	}
	if err != nil {
		return notify.Notification{}, false, fmt.Errorf("claim notification %s: %w", id, err)
	}
	return n, true, nil
}

// RecordAttempt writes the delivery log row and the notification's new state
// in one transaction, so the log and the status never disagree.
func (s *NotifyStore) RecordAttempt(ctx context.Context, a notify.Attempt) error {
	var errorMessage *string
	if a.Err != nil {
		msg := a.Err.Error()
		errorMessage = &msg
	}
	return inTx(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `
			INSERT INTO notify.delivery_logs (notification_id, attempt_number, channel, success, error_message, duration_ms,
			                                  status_code, provider_id)
			VALUES ($1, $2, $3::notify.channel_type, $4, $5, $6, NULLIF($7, 0), NULLIF($8, ''))`,
			a.NotificationID, a.Number, string(a.Channel), a.Err == nil, errorMessage, a.Duration.Milliseconds(),
			a.StatusCode, a.ProviderID); err != nil {
			return fmt.Errorf("insert delivery log: %w", err)
		}
		tag, err := tx.Exec(ctx, `
			UPDATE notify.notifications
			SET status = $2::notify.notification_status,
			    delivered_at = CASE WHEN $2 = 'delivered' THEN now() ELSE delivered_at END,
			    error_message = $3,
			    body = CASE WHEN $4 THEN NULL ELSE body END,
			    data = CASE WHEN $4 THEN NULL ELSE data END,
			    updated_at = now()
			WHERE id = $1`, a.NotificationID, string(a.NextStatus), errorMessage, a.Purge)
		if err != nil {
			return fmt.Errorf("update notification status: %w", err)
		}
		if tag.RowsAffected() != 1 {
			return fmt.Errorf("update notification status: %w", notify.ErrNotFound)
		}
		return nil
	})
}

// errDuplicate rolls back a Create whose external id another notification
// already claimed.
var errDuplicate = errors.New("external id already claimed")
