package sqlite

// mana-notify's persistence on SQLite (migrations/sqlite/notify): the same
// methods and semantics as internal/store/pg's NotifyStore, in the same
// order, so the two read side by side. Transactions run one at a time (see
// the package comment), which is what Postgres gets from row locks and
// unique-index waits.

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/mana/mana/internal/jobs"
	"github.com/mana/mana/internal/notify"
	"github.com/mana/mana/internal/notify/delivery"
)

// NotifyStore reads and writes the notify_ tables; it implements notify.Store.
type NotifyStore struct {
	db       *sql.DB
	jobs     jobs.TxInserter[*sql.Tx]
	policies delivery.Policies
	now      func() time.Time
}

// NewNotifyStore returns a NotifyStore on db (opened with Open and migrated
// with Notify) that inserts each delivery job through inserter, in the
// transaction that writes its notification, with the channel's retry policy.
func NewNotifyStore(db *sql.DB, inserter jobs.TxInserter[*sql.Tx], policies delivery.Policies) *NotifyStore {
	return &NotifyStore{db: db, jobs: inserter, policies: policies, now: time.Now}
}

var _ notify.Store = (*NotifyStore)(nil)

// enqueue inserts the delivery job j in tx.
func (s *NotifyStore) enqueue(ctx context.Context, tx *sql.Tx, j notify.Job) error {
	args, opts := s.policies.Job(j)
	_, err := s.jobs.InsertTx(ctx, tx, args, opts)
	return err
}

// ts is the current time as stored: SQLite has no now(), times come from Go.
func (s *NotifyStore) ts() string { return FormatTime(s.now()) }

// Ping runs a real query, so that health reflects whether the database answers.
func (s *NotifyStore) Ping(ctx context.Context) error {
	var one int
	if err := s.db.QueryRowContext(ctx, `SELECT 1`).Scan(&one); err != nil {
		return fmt.Errorf("ping database: %w", err)
	}
	return nil
}

// Create stores n as pending and inserts its delivery job in the same
// transaction. With an ExternalID it claims the key in
// notify_idempotency_keys: the unique key decides, not a read before the
// insert (the write lock taken at BEGIN serialises the two anyway).
func (s *NotifyStore) Create(ctx context.Context, n notify.NewNotification) (created notify.Created, err error) {
	data, err := encodeJSON(n.Data, n.Data == nil)
	if err != nil {
		return notify.Created{}, fmt.Errorf("encode notification data: %w", err)
	}
	opts := n.Options
	options, err := encodeJSON(opts, opts == (notify.Options{}))
	if err != nil {
		return notify.Created{}, fmt.Errorf("encode notification options: %w", err)
	}
	if n.Priority == "" {
		n.Priority = notify.PriorityNormal
	}

	err = inTx(ctx, s.db, func(tx *sql.Tx) error {
		id, now := NewUUID(), s.ts()
		if _, err := tx.ExecContext(ctx, `
			INSERT INTO notify_notifications
			  (id, user_id, app_id, channel, subject, body, data, status, priority, recipient, external_id,
			   template_id, scheduled_for, options, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?, ?)`,
			id, Null(n.UserID), n.AppID, string(n.Channel), Null(n.Subject), Null(n.Body), data,
			string(n.Priority), Null(n.Recipient), Null(n.ExternalID), Null(n.TemplateID),
			NullTime(n.ScheduledFor), options, now, now); err != nil {
			return fmt.Errorf("insert notification: %w", err)
		}
		if n.ExternalID != "" {
			var claimedFor string
			err := tx.QueryRowContext(ctx, `
				INSERT INTO notify_idempotency_keys (external_id, notification_id, created_at) VALUES (?, ?, ?)
				ON CONFLICT (external_id) DO NOTHING
				RETURNING notification_id`, n.ExternalID, id, now).Scan(&claimedFor)
			switch {
			case errors.Is(err, sql.ErrNoRows):
				// Another notification owns the key: answer with it;
				// rolling back drops ours.
				var existing string
				if err := tx.QueryRowContext(ctx, `SELECT notification_id FROM notify_idempotency_keys WHERE external_id = ?`,
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
// externalID, or notify.ErrNotFound (see the Postgres store).
func (s *NotifyStore) NotificationOfExternalID(ctx context.Context, externalID string) (string, error) {
	var id string
	err := s.db.QueryRowContext(ctx, `SELECT notification_id FROM notify_idempotency_keys WHERE external_id = ?`,
		externalID).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", notify.ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("look up external id: %w", err)
	}
	return id, nil
}

// encodeJSON is v as JSON text, or NULL when null is set.
func encodeJSON(v any, null bool) (any, error) {
	if null {
		return nil, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return string(b), nil
}

const notificationColumns = `id, user_id, app_id, channel, template_id, subject, body, status,
	priority, scheduled_for, recipient, external_id, attempts, delivered_at, error_message, created_at, updated_at,
	options, data`

// row is *sql.Row or *sql.Rows.
type row interface{ Scan(dest ...any) error }

func scanNotification(r row) (notify.Notification, error) {
	var n notify.Notification
	var channel, status, priority string
	var options, data sql.NullString
	err := r.Scan(&n.ID, &n.UserID, &n.AppID, &channel, &n.TemplateID, &n.Subject, &n.Body, &status,
		&priority, NullTimestamp{T: &n.ScheduledFor}, &n.Recipient, &n.ExternalID, &n.Attempts,
		NullTimestamp{T: &n.DeliveredAt}, &n.ErrorMessage,
		Timestamp{T: &n.CreatedAt}, Timestamp{T: &n.UpdatedAt}, &options, &data)
	if err != nil {
		return n, err
	}
	n.Channel, n.Status, n.Priority = notify.Channel(channel), notify.Status(status), notify.Priority(priority)
	if options.Valid {
		if err := json.Unmarshal([]byte(options.String), &n.Options); err != nil {
			return n, fmt.Errorf("decode options of notification %s: %w", n.ID, err)
		}
	}
	if data.Valid {
		if err := json.Unmarshal([]byte(data.String), &n.Data); err != nil {
			return n, fmt.Errorf("decode data of notification %s: %w", n.ID, err)
		}
	}
	return n, nil
}

// Get returns the notification with id, or notify.ErrNotFound.
func (s *NotifyStore) Get(ctx context.Context, id string) (notify.Notification, error) {
	if !notify.IsUUID(id) {
		return notify.Notification{}, notify.ErrNotFound
	}
	n, err := scanNotification(s.db.QueryRowContext(ctx,
		`SELECT `+notificationColumns+` FROM notify_notifications WHERE id = lower(?)`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return notify.Notification{}, notify.ErrNotFound
	}
	if err != nil {
		return notify.Notification{}, fmt.Errorf("get notification %s: %w", id, err)
	}
	return n, nil
}

// Claim marks the notification processing and counts the attempt, unless it
// is delivered, cancelled or failed for good; then claimed is false and n
// holds its current state. Check and update are one statement, as on Postgres.
func (s *NotifyStore) Claim(ctx context.Context, id string) (n notify.Notification, claimed bool, err error) {
	if !notify.IsUUID(id) {
		return notify.Notification{}, false, notify.ErrNotFound
	}
	n, err = scanNotification(s.db.QueryRowContext(ctx, `
		UPDATE notify_notifications
		SET status = 'processing', attempts = attempts + 1, updated_at = ?
		WHERE id = lower(?) AND status IN ('pending', 'processing')
		RETURNING `+notificationColumns, s.ts(), id))
	if errors.Is(err, sql.ErrNoRows) {
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
	return inTx(ctx, s.db, func(tx *sql.Tx) error {

		now := s.ts()
		var statusCode any
		if a.StatusCode != 0 {
			statusCode = a.StatusCode
		}
		if _, err := tx.ExecContext(ctx, `
			INSERT INTO notify_delivery_logs (id, notification_id, attempt_number, channel, success, error_message,
			                                  duration_ms, status_code, provider_id, created_at)
			VALUES (?, lower(?), ?, ?, ?, ?, ?, ?, ?, ?)`,
			NewUUID(), a.NotificationID, a.Number, string(a.Channel), a.Err == nil, errorMessage, a.Duration.Milliseconds(),
			statusCode, Null(a.ProviderID), now); err != nil {
			return fmt.Errorf("insert delivery log: %w", err)
		}
		res, err := tx.ExecContext(ctx, `
			UPDATE notify_notifications
			SET status = ?1,
			    delivered_at = CASE WHEN ?1 = 'delivered' THEN ?2 ELSE delivered_at END,
			    error_message = ?3,
			    body = CASE WHEN ?5 THEN NULL ELSE body END,
			    data = CASE WHEN ?5 THEN NULL ELSE data END,
			    updated_at = ?2
			WHERE id = lower(?4)`, string(a.NextStatus), now, errorMessage, a.NotificationID, a.Purge)
		if err != nil {
			return fmt.Errorf("update notification status: %w", err)
		}
		if err := oneRow(res, fmt.Errorf("update notification status: %w", notify.ErrNotFound)); err != nil {
			return err
		}
		return nil
	})
}

// oneRow returns nil when res changed at least one row, else none.
func oneRow(res sql.Result, none error) error {
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("rows affected: %w", err)
	}
	if n == 0 {
		return none
	}
	return nil
}

// errDuplicate rolls back a Create whose external id another notification
// already claimed.
var errDuplicate = errors.New("external id already claimed")
