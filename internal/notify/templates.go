package notify

import (
	"errors"
	"time"
)

// DefaultLocale is the locale of lookups that name none (contract §7.5).
const DefaultLocale = "de-DE"

// ErrTemplateNotFound: no (editable) template with that slug and locale.
var ErrTemplateNotFound = errors.New("template not found")

// ErrTemplateExists: the slug+locale pair is taken.
var ErrTemplateExists = errors.New("template already exists for this slug+locale")

// Template is one row of notify.templates.
type Template struct {
	ID           string
	Slug         string
	AppID        *string
	Channel      Channel
	Subject      *string
	BodyTemplate string
	Locale       string
	IsActive     bool
	IsSystem     bool
	Variables    []byte // raw JSON, nil when NULL
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// NewTemplate is what CreateTemplate stores.
type NewTemplate struct {
	Slug         string
	AppID        string
	Channel      Channel
	Subject      string
	BodyTemplate string
	Locale       string
	Variables    any // encoded as JSON; nil is NULL
}

// TemplateUpdate holds the fields PUT may change; nil keeps the value.
type TemplateUpdate struct {
	Subject      *string
	BodyTemplate *string
	IsActive     *bool
}
