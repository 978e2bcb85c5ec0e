package notifyapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/mana/mana/internal/notify"
)

// maxBodyBytes bounds a request body: the contract's 1 MiB, which also
// bounds the body field (so notify's own body limit is not reached over HTTP).
const maxBodyBytes = notify.MaxBodyBytes

// SendRequest is the body of POST /api/v1/notifications/send (contract §7.1),
// of schedule (plus scheduledFor) and of each batch item.
type SendRequest struct {
	Channel        string                 `json:"channel"`
	AppID          string                 `json:"appId"`
	UserID         string                 `json:"userId,omitempty"`
	Recipient      string                 `json:"recipient,omitempty"`
	Recipients     []string               `json:"recipients,omitempty"`
	Template       string                 `json:"template,omitempty"`
	Locale         string                 `json:"locale,omitempty"` // ours: template locale, default de-DE
	Subject        string                 `json:"subject,omitempty"`
	Body           string                 `json:"body,omitempty"`
	Data           map[string]any         `json:"data,omitempty"`
	Priority       string                 `json:"priority,omitempty"`
	ExternalID     string                 `json:"externalId,omitempty"`
	EmailOptions   *notify.EmailOptions   `json:"emailOptions,omitempty"`
	PushOptions    *notify.PushOptions    `json:"pushOptions,omitempty"`
	WebhookOptions *notify.WebhookOptions `json:"webhookOptions,omitempty"`
	ScheduledFor   string                 `json:"scheduledFor,omitempty"`
	// Sensitive (ours): the body holds a secret; never returned by the
	// API, purged once the delivery is final.
	Sensitive bool `json:"sensitive,omitempty"`
}

// Message is the request as the domain takes it (ScheduledFor and
// CheckPreferences are the route's to set).
func (r SendRequest) Message() notify.Message {
	return notify.Message{Channel: notify.Channel(r.Channel), AppID: r.AppID, UserID: r.UserID, Recipient: r.Recipient,
		Recipients: r.Recipients, Template: r.Template, Locale: r.Locale, Subject: r.Subject, Body: r.Body, Data: r.Data,
		Priority: notify.Priority(r.Priority), ExternalID: r.ExternalID, EmailOptions: r.EmailOptions,
		PushOptions: r.PushOptions, WebhookOptions: r.WebhookOptions, Sensitive: r.Sensitive}
}

// RequestOf is the body that offers m over HTTP: what the old split
// deployment's callers (auth's outbox) send to POST /send.
func RequestOf(m notify.Message) SendRequest {
	r := SendRequest{Channel: string(m.Channel), AppID: m.AppID, UserID: m.UserID, Recipient: m.Recipient,
		Recipients: m.Recipients, Template: m.Template, Locale: m.Locale, Subject: m.Subject, Body: m.Body, Data: m.Data,
		Priority: string(m.Priority), ExternalID: m.ExternalID, EmailOptions: m.EmailOptions,
		PushOptions: m.PushOptions, WebhookOptions: m.WebhookOptions, Sensitive: m.Sensitive}
	if m.ScheduledFor != nil {
		r.ScheduledFor = m.ScheduledFor.UTC().Format(time.RFC3339)
	}
	return r
}

// apiError is a handler error: its status, machine code and message.
type apiError struct {
	Status  int
	Code    string
	Message string
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message) }

// Machine codes of the error body (our addition to the contract's envelope).
const (
	CodeValidation       = "VALIDATION"
	CodeInvalidBody      = "INVALID_BODY"
	CodeNotFound         = "NOT_FOUND"
	CodeTemplateNotFound = "TEMPLATE_NOT_FOUND"
	CodeTemplateRender   = "TEMPLATE_RENDER_FAILED"
	CodeTemplateExists   = "TEMPLATE_EXISTS"
	CodeUnavailable      = "SERVICE_UNAVAILABLE"
	CodePayloadTooLarge  = "PAYLOAD_TOO_LARGE"
	CodeInternal         = "INTERNAL"
)

func invalid(format string, args ...any) *apiError {
	return &apiError{Status: http.StatusBadRequest, Code: CodeValidation, Message: fmt.Sprintf(format, args...)}
}

// rawJSONHasNUL is notify.ContainsNUL of raw JSON text; text that does not
// decode holds no NUL worth reporting (the caller has its own checks).
func rawJSONHasNUL(raw []byte) bool {
	if !bytes.Contains(raw, []byte(`\u0000`)) {
		return false // the only way JSON text can carry a NUL
	}
	var v any
	return json.Unmarshal(raw, &v) == nil && notify.ContainsNUL(v)
}
