// Package store persists notifications and their delivery attempts in the
// notify schema of Postgres (seed contract §6.2).
package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Channel is notify.channel_type.
type Channel string

const (
	ChannelEmail   Channel = "email"
	ChannelPush    Channel = "push"
	ChannelWebhook Channel = "webhook"
)

// Status is notify.notification_status.
type Status string

const (
	StatusPending    Status = "pending"
	StatusProcessing Status = "processing"
	StatusDelivered  Status = "delivered"
	StatusFailed     Status = "failed"
	StatusCancelled  Status = "cancelled"
)

// Priority is notify.priority_type.
type Priority string

const (
	PriorityLow      Priority = "low"
	PriorityNormal   Priority = "normal"
	PriorityHigh     Priority = "high"
	PriorityCritical Priority = "critical"
)

// ErrNotFound means no notification has the id (a malformed id included).
var ErrNotFound = errors.New("notification not found")

// Notification is one row of notify.notifications; nil pointers are NULL.
// The data column is left out: no reader needs it yet and the contract never
// returns it.
type Notification struct {
	ID           string
	UserID       *string
	AppID        string
	Channel      Channel
	TemplateID   *string
	Subject      *string
	Body         *string
	Status       Status
	Priority     Priority
	ScheduledFor *time.Time
	Recipient    *string
	ExternalID   *string
	Attempts     int
	DeliveredAt  *time.Time
	ErrorMessage *string
	CreatedAt    time.Time
	UpdatedAt    time.Time
	// Options are the request's channel options (column options, ours).
	Options Options
	// Data is the request's data (template variables, push/webhook payload).
	// The API never returns it (contract §7.1).
	Data map[string]any
}

// Options are the per-channel delivery options of one notification.
type Options struct {
	Email   *EmailOptions   `json:"email,omitempty"`
	Push    *PushOptions    `json:"push,omitempty"`
	Webhook *WebhookOptions `json:"webhook,omitempty"`
}

// EmailOptions override the sender of one email.
type EmailOptions struct {
	From    string `json:"from,omitempty"`
	ReplyTo string `json:"replyTo,omitempty"`
}

// PushOptions are passed through to Expo.
type PushOptions struct {
	Sound     string `json:"sound,omitempty"`
	Badge     *int   `json:"badge,omitempty"`
	ChannelID string `json:"channelId,omitempty"`
}

// WebhookOptions shape the outgoing HTTP request.
type WebhookOptions struct {
	Method    string            `json:"method,omitempty"`
	Headers   map[string]string `json:"headers,omitempty"`
	TimeoutMS int               `json:"timeout,omitempty"`
}

// NewNotification is what Create stores. Empty strings and a nil Data are
// stored as NULL, as the old service did for absent fields.
type NewNotification struct {
	UserID     string
	AppID      string
	Channel    Channel
	Subject    string
	Body       string
	Recipient  string
	ExternalID string
	Priority   Priority
	Data       map[string]any
	// TemplateID is the slug of the template the subject and body came from.
	TemplateID string
	// ScheduledFor delays delivery; nil sends at once.
	ScheduledFor *time.Time
	Options      Options
}

// Job is the delivery job of one notification.
type Job struct {
	NotificationID string
	Channel        Channel
	Priority       Priority
	// ScheduledAt delays the job; zero runs it at once.
	ScheduledAt time.Time
}

// Enqueuer inserts a delivery job inside the store's own transaction tx, so
// that a state change and its job commit together or not at all (no lost
// email). Each backend is constructed with one for its transaction type
// (pgx.Tx here, *sql.Tx on SQLite), so callers never see a transaction.
type Enqueuer[TTx any] func(ctx context.Context, tx TTx, j Job) error

// Created is the outcome of Create.
type Created struct {
	ID string
	// Deduplicated is set when the externalId was already used: ID is then
	// the earlier notification and nothing new was stored or enqueued.
	Deduplicated bool
}

// Store reads and writes the notify schema.
type Store struct {
	pool    *pgxpool.Pool
	enqueue Enqueuer[pgx.Tx]
}

// New returns a Store on pool that inserts delivery jobs with enqueue.
func New(pool *pgxpool.Pool, enqueue Enqueuer[pgx.Tx]) *Store {
	return &Store{pool: pool, enqueue: enqueue}
}

// Ping runs a real query, so that health reflects whether the database answers.
func (s *Store) Ping(ctx context.Context) error {
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
func (s *Store) Create(ctx context.Context, n NewNotification) (created Created, err error) {
	var data any // NULL unless there is data
	if n.Data != nil {
		b, err := json.Marshal(n.Data)
		if err != nil {
			return Created{}, fmt.Errorf("encode notification data: %w", err)
		}
		data = string(b)
	}
	options, err := encodeOptions(n.Options)
	if err != nil {
		return Created{}, err
	}
	if n.Priority == "" {
		n.Priority = PriorityNormal
	}

	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return Created{}, fmt.Errorf("begin create notification: %w", err)
	}
	defer rollbackOnError(ctx, tx, &err)

	var id string
	err = tx.QueryRow(ctx, `
		INSERT INTO notify.notifications
		  (user_id, app_id, channel, subject, body, data, status, priority, recipient, external_id,
		   template_id, scheduled_for, options)
		VALUES (NULLIF($1, ''), $2, $3::notify.channel_type, NULLIF($4, ''), NULLIF($5, ''), $6::jsonb,
		        'pending', $7::notify.priority_type, NULLIF($8, ''), NULLIF($9, ''),
		        NULLIF($10, ''), $11, $12::jsonb)
		RETURNING id::text`,
		n.UserID, n.AppID, string(n.Channel), n.Subject, n.Body, data, string(n.Priority), n.Recipient, n.ExternalID,
		n.TemplateID, n.ScheduledFor, options,
	).Scan(&id)
	if err != nil {
		return Created{}, fmt.Errorf("insert notification: %w", err)
	}

	if n.ExternalID != "" {
		var claimedFor string
		err = tx.QueryRow(ctx, `
			INSERT INTO notify.idempotency_keys (external_id, notification_id) VALUES ($1, $2)
			ON CONFLICT (external_id) DO NOTHING
			RETURNING notification_id::text`, n.ExternalID, id).Scan(&claimedFor)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			// Another notification owns the key (its transaction has
			// committed: the insert waited for it). Read its id in a fresh
			// statement snapshot, then drop our row.
			var existing string
			if err = tx.QueryRow(ctx, `SELECT notification_id::text FROM notify.idempotency_keys WHERE external_id = $1`,
				n.ExternalID).Scan(&existing); err != nil {
				return Created{}, fmt.Errorf("read notification of external id: %w", err)
			}
			if err = tx.Rollback(ctx); err != nil {
				return Created{}, fmt.Errorf("roll back duplicate notification: %w", err)
			}
			return Created{ID: existing, Deduplicated: true}, nil
		case err != nil:
			return Created{}, fmt.Errorf("claim external id: %w", err)
		}
	}

	if err = s.enqueue(ctx, tx, n.Job(id)); err != nil {
		return Created{}, fmt.Errorf("enqueue delivery of %s: %w", id, err)
	}
	if err = tx.Commit(ctx); err != nil {
		return Created{}, fmt.Errorf("commit notification: %w", err)
	}
	return Created{ID: id}, nil
}

// NotificationOfExternalID returns the id of the notification that claimed
// externalID, or ErrNotFound. A send asks it first, so that a repeat is
// answered as the duplicate it is whatever has changed since (preferences,
// templates), as the contract's send flow does; Create's claim stays the
// guarantee under concurrency.
func (s *Store) NotificationOfExternalID(ctx context.Context, externalID string) (string, error) {
	var id string
	err := s.pool.QueryRow(ctx, `SELECT notification_id::text FROM notify.idempotency_keys WHERE external_id = $1`,
		externalID).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("look up external id: %w", err)
	}
	return id, nil
}

// Job is the delivery job of the notification n stored as id.
func (n NewNotification) Job(id string) Job {
	j := Job{NotificationID: id, Channel: n.Channel, Priority: n.Priority}
	if n.ScheduledFor != nil {
		j.ScheduledAt = *n.ScheduledFor
	}
	return j
}

// rollbackOnError rolls tx back when the function failed, and adds a failed
// rollback to the error instead of dropping it.
func rollbackOnError(ctx context.Context, tx pgx.Tx, err *error) {
	if *err == nil {
		return
	}
	if rbErr := tx.Rollback(context.WithoutCancel(ctx)); rbErr != nil && !errors.Is(rbErr, pgx.ErrTxClosed) {
		*err = errors.Join(*err, fmt.Errorf("roll back: %w", rbErr))
	}
}

const notificationColumns = `id::text, user_id, app_id, channel::text, template_id, subject, body, status::text,
	priority::text, scheduled_for, recipient, external_id, attempts, delivered_at, error_message, created_at, updated_at,
	options, data`

func scanNotification(row pgx.Row) (Notification, error) {
	var n Notification
	var channel, status, priority string
	var options, data []byte
	err := row.Scan(&n.ID, &n.UserID, &n.AppID, &channel, &n.TemplateID, &n.Subject, &n.Body, &status,
		&priority, &n.ScheduledFor, &n.Recipient, &n.ExternalID, &n.Attempts, &n.DeliveredAt, &n.ErrorMessage,
		&n.CreatedAt, &n.UpdatedAt, &options, &data)
	if err != nil {
		return n, err
	}
	n.Channel, n.Status, n.Priority = Channel(channel), Status(status), Priority(priority)
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
func (s *Store) Get(ctx context.Context, id string) (Notification, error) {
	if !IsUUID(id) {
		return Notification{}, ErrNotFound
	}
	n, err := scanNotification(s.pool.QueryRow(ctx,
		`SELECT `+notificationColumns+` FROM notify.notifications WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Notification{}, ErrNotFound
	}
	if err != nil {
		return Notification{}, fmt.Errorf("get notification %s: %w", id, err)
	}
	return n, nil
}

// Claim marks the notification processing and counts the attempt, unless it
// is delivered, cancelled or failed for good; then claimed is false and n
// holds its current state. The check and the update are one statement, so a
// concurrent cancel either wins or sees the row processing, never a half
// state. n.Attempts is the attempt's number over the notification's life, so
// a re-driven notification continues its numbering in delivery_logs.
func (s *Store) Claim(ctx context.Context, id string) (n Notification, claimed bool, err error) {
	if !IsUUID(id) {
		return Notification{}, false, ErrNotFound
	}
	n, err = scanNotification(s.pool.QueryRow(ctx, `
		UPDATE notify.notifications
		SET status = 'processing', attempts = attempts + 1, updated_at = now()
		WHERE id = $1 AND status IN ('pending', 'processing')
		RETURNING `+notificationColumns, id))
	if errors.Is(err, pgx.ErrNoRows) {
		n, err = s.Get(ctx, id)
		if err != nil {
			return Notification{}, false, err
		}
		return n, false, nil
	}
	if err != nil {
		return Notification{}, false, fmt.Errorf("claim notification %s: %w", id, err)
	}
	return n, true, nil
}

// Attempt is the outcome of one delivery attempt.
type Attempt struct {
	NotificationID string
	Number         int
	Channel        Channel
	// Err is the delivery failure, nil on success.
	Err      error
	Duration time.Duration
	// StatusCode is the webhook's HTTP status (0: none).
	StatusCode int
	// ProviderID is the provider's id of the message (Expo ticket id).
	ProviderID string
	// NextStatus is what the notification becomes: delivered, pending (a
	// retry follows) or failed (no attempt left).
	NextStatus Status
}

// RecordAttempt writes the delivery log row and the notification's new state
// in one transaction, so the log and the status never disagree.
func (s *Store) RecordAttempt(ctx context.Context, a Attempt) (err error) {
	var errorMessage *string
	if a.Err != nil {
		msg := a.Err.Error()
		errorMessage = &msg
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin record attempt: %w", err)
	}
	defer rollbackOnError(ctx, tx, &err)

	if _, err = tx.Exec(ctx, `
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
		    updated_at = now()
		WHERE id = $1`, a.NotificationID, string(a.NextStatus), errorMessage)
	if err != nil {
		return fmt.Errorf("update notification status: %w", err)
	}
	if tag.RowsAffected() != 1 {
		return fmt.Errorf("update notification status: %w", ErrNotFound)
	}
	if err = tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit attempt: %w", err)
	}
	return nil
}

// IsUUID reports whether s is a UUID in the 8-4-4-4-12 hex form Postgres
// prints. Checking it first answers a malformed id with not-found instead of
// a database error.
func IsUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}
