package notify

import "context"

// Store is mana-notify's persistence, declared once. The Service, the HTTP
// API (internal/notifyapi), the delivery worker (a narrow part of it), `mana
// notify retry` and start-up seeding use it; internal/store/pg and
// internal/store/sqlite implement it, and internal/store/storetest holds both
// to one behaviour.
//
// A method that writes a notification also inserts its delivery job, in the
// same transaction: the store is built with the job inserter, so no caller
// ever sees a transaction.
type Store interface {
	// Create stores n as pending with its delivery job. A repeated
	// ExternalID answers the earlier notification (Deduplicated) and stores
	// nothing: the unique key decides, also under concurrency.
	Create(ctx context.Context, n NewNotification) (Created, error)
	// NotificationOfExternalID is the notification that claimed an
	// externalId, or ErrNotFound.
	NotificationOfExternalID(ctx context.Context, externalID string) (string, error)
	// Get is the notification with id, or ErrNotFound (a malformed id too).
	Get(ctx context.Context, id string) (Notification, error)
	// Cancel marks a pending notification cancelled: ErrNotPending when it
	// is past pending, ErrNotFound when unknown.
	Cancel(ctx context.Context, id string) error
	// List is the newest notifications with status, at most limit (≤ MaxListLimit).
	List(ctx context.Context, status Status, limit int) ([]Notification, error)
	// Claim marks the notification processing and counts the attempt,
	// unless it is delivered, cancelled or failed (claimed false).
	Claim(ctx context.Context, id string) (n Notification, claimed bool, err error)
	// RecordAttempt writes the delivery log row and the new status together.
	RecordAttempt(ctx context.Context, a Attempt) error
	// Skip cancels a claimed notification with the preferences' reason.
	Skip(ctx context.Context, id, reason string) error
	// Redrive puts a failed notification back to pending with a new job:
	// ErrNotFailed when it has not failed.
	Redrive(ctx context.Context, id string) error
	// Stats is the backlog of the given job queues, for the metrics.
	Stats(ctx context.Context, queues []string) (QueueStats, error)
	// Ping runs a real query.
	Ping(ctx context.Context) error

	// SeedSystemTemplates inserts or refreshes the read-only system templates.
	SeedSystemTemplates(ctx context.Context, ts []NewTemplate) error
	// FindActiveTemplate is the active template of slug in locale, falling
	// back to DefaultLocale; ErrTemplateNotFound otherwise.
	FindActiveTemplate(ctx context.Context, slug, locale string) (Template, error)
	GetTemplate(ctx context.Context, slug, locale string) (Template, error)
	ListTemplates(ctx context.Context) ([]Template, error)
	// CreateTemplate: ErrTemplateExists for a taken slug and locale.
	CreateTemplate(ctx context.Context, t NewTemplate) (string, error)
	UpdateTemplate(ctx context.Context, slug, locale string, u TemplateUpdate) error
	DeleteTemplate(ctx context.Context, slug string) error

	RegisterDevice(ctx context.Context, d NewDevice) (string, error)
	ListDevices(ctx context.Context, userID string) ([]Device, error)
	DeactivateDevice(ctx context.Context, userID, id string) error
	// DeactivateToken retires a push token the provider reported dead.
	DeactivateToken(ctx context.Context, token string) error
	GetPreferences(ctx context.Context, userID string) (Preferences, error)
	PutPreferences(ctx context.Context, userID string, u PreferencesUpdate) error
	// EraseUser removes every row of a deleted account in one transaction:
	// its push devices, its preferences, and the notifications to the user
	// id or the address (their delivery logs and idempotency keys go with
	// them). Erasing again finds nothing and succeeds.
	EraseUser(ctx context.Context, userID, email string) (Erased, error)
}

// Erased counts what EraseUser removed.
type Erased struct {
	Devices       int64 `json:"devices"`
	Preferences   int64 `json:"preferences"`
	Notifications int64 `json:"notifications"`
}
