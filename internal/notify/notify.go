// Package notify is mana-notify's domain: what a notification, a template, a
// device and a user's preferences are, the rules that decide whether and
// what to send (preferences, quiet hours, rendering), and the Service that
// accepts a notification. It imports no HTTP and no database package: the
// HTTP API is internal/notifyapi, persistence internal/store/{pg,sqlite}.
package notify

import (
	"errors"
	"time"
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
	// Sensitive: the body holds a secret (a sign-in or reset link). The API
	// never returns it, and it is purged once the delivery is final.
	Sensitive bool `json:"sensitive,omitempty"`
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
// stored as NULL: an absent field is NULL in the table (docs/compatibility.md).
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

// Created is the outcome of Create.
type Created struct {
	ID string
	// Deduplicated is set when the externalId was already used: ID is then
	// the earlier notification and nothing new was stored or enqueued.
	Deduplicated bool
}

// Job is the delivery job of the notification n stored as id.
func (n NewNotification) Job(id string) Job {
	j := Job{NotificationID: id, Channel: n.Channel, Priority: n.Priority}
	if n.ScheduledFor != nil {
		j.ScheduledAt = *n.ScheduledFor
	}
	return j
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
	// Purge empties the body and data with the status change (a sensitive
	// notification whose delivery is final).
	Purge bool
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

// ErrNotPending means the notification exists but is no longer pending.
var ErrNotPending = errors.New("notification is not pending")

// ErrNotFailed means a re-drive was asked for a notification that has not failed.
var ErrNotFailed = errors.New("notification has not failed")

// MaxListLimit bounds one page of List.
const MaxListLimit = 500

// RedriveJob is the job of a re-drive: due at once, whatever the original schedule.
func (n Notification) RedriveJob() Job {
	return Job{NotificationID: n.ID, Channel: n.Channel, Priority: n.Priority}
}

// QueueStats describe the delivery backlog for the metrics.
type QueueStats struct {
	// Depth counts jobs waiting to run (available, scheduled, retryable) per queue.
	Depth map[string]int
	// OldestPending is the age of the oldest job that is due but not yet run.
	OldestPending time.Duration
	// DeadLetters counts notifications that failed for good.
	DeadLetters int
}
