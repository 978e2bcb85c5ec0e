// Package sqlitestore is the notify store on the embedded SQLite backend
// (migrations/sqlite/notify): the same methods and semantics as the Postgres
// store in the parent package, which also holds the shared types. Its
// functions mirror the Postgres ones in name and order so the two read side
// by side.
//
// Concurrency: the database handle has one connection and every transaction
// takes the write lock at BEGIN (sqlitedb.Open), so transactions run one at
// a time; what Postgres gets from row locks and unique-index waits holds here
// because nothing interleaves. That is true inside one process only: one data
// file must be used by one process (no multi-process guarantees).
package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/mana/mana/internal/notify/store"
	"github.com/mana/mana/internal/store/sqlitedb"
)

// Store reads and writes the notify_ tables.
type Store struct {
	db      *sql.DB
	enqueue store.Enqueuer[*sql.Tx]
	now     func() time.Time
}

// New returns a Store on db (opened with sqlitedb.Open and migrated with
// sqlitedb.Notify) that inserts delivery jobs with enqueue.
func New(db *sql.DB, enqueue store.Enqueuer[*sql.Tx]) *Store {
	return &Store{db: db, enqueue: enqueue, now: time.Now}
}

// ts is the current time as stored: SQLite has no now(), times come from Go.
func (s *Store) ts() string { return sqlitedb.FormatTime(s.now()) }

// Ping runs a real query, so that health reflects whether the database answers.
func (s *Store) Ping(ctx context.Context) error {
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
func (s *Store) Create(ctx context.Context, n store.NewNotification) (created store.Created, err error) {
	data, err := encodeJSON(n.Data, n.Data == nil)
	if err != nil {
		return store.Created{}, fmt.Errorf("encode notification data: %w", err)
	}
	opts := n.Options
	options, err := encodeJSON(opts, opts.Email == nil && opts.Push == nil && opts.Webhook == nil)
	if err != nil {
		return store.Created{}, fmt.Errorf("encode notification options: %w", err)
	}
	if n.Priority == "" {
		n.Priority = store.PriorityNormal
	}

	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return store.Created{}, fmt.Errorf("begin create notification: %w", err)
	}
	defer rollbackOnError(tx, &err)

	id, now := sqlitedb.NewUUID(), s.ts()
	if _, err = tx.ExecContext(ctx, `
		INSERT INTO notify_notifications
		  (id, user_id, app_id, channel, subject, body, data, status, priority, recipient, external_id,
		   template_id, scheduled_for, options, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?, ?)`,
		id, sqlitedb.Null(n.UserID), n.AppID, string(n.Channel), sqlitedb.Null(n.Subject), sqlitedb.Null(n.Body), data,
		string(n.Priority), sqlitedb.Null(n.Recipient), sqlitedb.Null(n.ExternalID), sqlitedb.Null(n.TemplateID),
		sqlitedb.NullTime(n.ScheduledFor), options, now, now); err != nil {
		return store.Created{}, fmt.Errorf("insert notification: %w", err)
	}

	if n.ExternalID != "" {
		var claimedFor string
		err = tx.QueryRowContext(ctx, `
			INSERT INTO notify_idempotency_keys (external_id, notification_id, created_at) VALUES (?, ?, ?)
			ON CONFLICT (external_id) DO NOTHING
			RETURNING notification_id`, n.ExternalID, id, now).Scan(&claimedFor)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			// Another notification owns the key: answer with it and drop ours.
			var existing string
			if err = tx.QueryRowContext(ctx, `SELECT notification_id FROM notify_idempotency_keys WHERE external_id = ?`,
				n.ExternalID).Scan(&existing); err != nil {
				return store.Created{}, fmt.Errorf("read notification of external id: %w", err)
			}
			if err = tx.Rollback(); err != nil {
				return store.Created{}, fmt.Errorf("roll back duplicate notification: %w", err)
			}
			return store.Created{ID: existing, Deduplicated: true}, nil
		case err != nil:
			return store.Created{}, fmt.Errorf("claim external id: %w", err)
		}
	}

	if err = s.enqueue(ctx, tx, n.Job(id)); err != nil {
		return store.Created{}, fmt.Errorf("enqueue delivery of %s: %w", id, err)
	}
	if err = tx.Commit(); err != nil {
		return store.Created{}, fmt.Errorf("commit notification: %w", err)
	}
	return store.Created{ID: id}, nil
}

// NotificationOfExternalID returns the id of the notification that claimed
// externalID, or store.ErrNotFound (see the Postgres store).
func (s *Store) NotificationOfExternalID(ctx context.Context, externalID string) (string, error) {
	var id string
	err := s.db.QueryRowContext(ctx, `SELECT notification_id FROM notify_idempotency_keys WHERE external_id = ?`,
		externalID).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", store.ErrNotFound
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

// rollbackOnError rolls tx back when the function failed, and adds a failed
// rollback to the error instead of dropping it.
func rollbackOnError(tx *sql.Tx, err *error) {
	if *err == nil {
		return
	}
	if rbErr := tx.Rollback(); rbErr != nil && !errors.Is(rbErr, sql.ErrTxDone) {
		*err = errors.Join(*err, fmt.Errorf("roll back: %w", rbErr))
	}
}

const notificationColumns = `id, user_id, app_id, channel, template_id, subject, body, status,
	priority, scheduled_for, recipient, external_id, attempts, delivered_at, error_message, created_at, updated_at,
	options, data`

// row is *sql.Row or *sql.Rows.
type row interface{ Scan(dest ...any) error }

func scanNotification(r row) (store.Notification, error) {
	var n store.Notification
	var channel, status, priority string
	var options, data sql.NullString
	err := r.Scan(&n.ID, &n.UserID, &n.AppID, &channel, &n.TemplateID, &n.Subject, &n.Body, &status,
		&priority, sqlitedb.NullTimestamp{T: &n.ScheduledFor}, &n.Recipient, &n.ExternalID, &n.Attempts,
		sqlitedb.NullTimestamp{T: &n.DeliveredAt}, &n.ErrorMessage,
		sqlitedb.Timestamp{T: &n.CreatedAt}, sqlitedb.Timestamp{T: &n.UpdatedAt}, &options, &data)
	if err != nil {
		return n, err
	}
	n.Channel, n.Status, n.Priority = store.Channel(channel), store.Status(status), store.Priority(priority)
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

// Get returns the notification with id, or store.ErrNotFound.
func (s *Store) Get(ctx context.Context, id string) (store.Notification, error) {
	if !store.IsUUID(id) {
		return store.Notification{}, store.ErrNotFound
	}
	n, err := scanNotification(s.db.QueryRowContext(ctx,
		`SELECT `+notificationColumns+` FROM notify_notifications WHERE id = lower(?)`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Notification{}, store.ErrNotFound
	}
	if err != nil {
		return store.Notification{}, fmt.Errorf("get notification %s: %w", id, err)
	}
	return n, nil
}

// Claim marks the notification processing and counts the attempt, unless it
// is delivered, cancelled or failed for good; then claimed is false and n
// holds its current state. Check and update are one statement, as on Postgres.
func (s *Store) Claim(ctx context.Context, id string) (n store.Notification, claimed bool, err error) {
	if !store.IsUUID(id) {
		return store.Notification{}, false, store.ErrNotFound
	}
	n, err = scanNotification(s.db.QueryRowContext(ctx, `
		UPDATE notify_notifications
		SET status = 'processing', attempts = attempts + 1, updated_at = ?
		WHERE id = lower(?) AND status IN ('pending', 'processing')
		RETURNING `+notificationColumns, s.ts(), id))
	if errors.Is(err, sql.ErrNoRows) {
		n, err = s.Get(ctx, id)
		if err != nil {
			return store.Notification{}, false, err
		}
		return n, false, nil
	}
	if err != nil {
		return store.Notification{}, false, fmt.Errorf("claim notification %s: %w", id, err)
	}
	return n, true, nil
}

// RecordAttempt writes the delivery log row and the notification's new state
// in one transaction, so the log and the status never disagree.
func (s *Store) RecordAttempt(ctx context.Context, a store.Attempt) (err error) {
	var errorMessage *string
	if a.Err != nil {
		msg := a.Err.Error()
		errorMessage = &msg
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin record attempt: %w", err)
	}
	defer rollbackOnError(tx, &err)

	now := s.ts()
	var statusCode any
	if a.StatusCode != 0 {
		statusCode = a.StatusCode
	}
	if _, err = tx.ExecContext(ctx, `
		INSERT INTO notify_delivery_logs (id, notification_id, attempt_number, channel, success, error_message,
		                                  duration_ms, status_code, provider_id, created_at)
		VALUES (?, lower(?), ?, ?, ?, ?, ?, ?, ?, ?)`,
		sqlitedb.NewUUID(), a.NotificationID, a.Number, string(a.Channel), a.Err == nil, errorMessage, a.Duration.Milliseconds(),
		statusCode, sqlitedb.Null(a.ProviderID), now); err != nil {
		return fmt.Errorf("insert delivery log: %w", err)
	}
	res, err := tx.ExecContext(ctx, `
		UPDATE notify_notifications
		SET status = ?1,
		    delivered_at = CASE WHEN ?1 = 'delivered' THEN ?2 ELSE delivered_at END,
		    error_message = ?3,
		    updated_at = ?2
		WHERE id = lower(?4)`, string(a.NextStatus), now, errorMessage, a.NotificationID)
	if err != nil {
		return fmt.Errorf("update notification status: %w", err)
	}
	if err = oneRow(res, fmt.Errorf("update notification status: %w", store.ErrNotFound)); err != nil {
		return err
	}
	if err = tx.Commit(); err != nil {
		return fmt.Errorf("commit attempt: %w", err)
	}
	return nil
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
