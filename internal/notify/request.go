package notify

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/mail"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/mana/mana/internal/notify/store"
)

// Limits of the stored columns (contract §6.2), checked before any work so an
// oversized field is a clear 400 instead of a database error.
const (
	maxBodyBytes      = 1 << 20 // whole request and the body field
	maxSubjectChars   = 500
	maxAppIDChars     = 50
	maxExternalIDChar = 255
	maxRecipientChars = 500
	maxSlugChars      = 100
	maxLocaleChars    = 10
	maxTemplateBytes  = 256 << 10
	maxWebhookHeaders = 32
	maxHeaderBytes    = 4096
)

// SendRequest is the body of POST /api/v1/notifications/send (contract §7.1),
// of schedule (plus scheduledFor) and of each batch item.
type SendRequest struct {
	Channel        string                `json:"channel"`
	AppID          string                `json:"appId"`
	UserID         string                `json:"userId,omitempty"`
	Recipient      string                `json:"recipient,omitempty"`
	Recipients     []string              `json:"recipients,omitempty"`
	Template       string                `json:"template,omitempty"`
	Locale         string                `json:"locale,omitempty"` // ours: template locale, default de-DE
	Subject        string                `json:"subject,omitempty"`
	Body           string                `json:"body,omitempty"`
	Data           map[string]any        `json:"data,omitempty"`
	Priority       string                `json:"priority,omitempty"`
	ExternalID     string                `json:"externalId,omitempty"`
	EmailOptions   *EmailOptions         `json:"emailOptions,omitempty"`
	PushOptions    *store.PushOptions    `json:"pushOptions,omitempty"`
	WebhookOptions *store.WebhookOptions `json:"webhookOptions,omitempty"`
	ScheduledFor   string                `json:"scheduledFor,omitempty"`
}

// EmailOptions override the sender of one email.
type EmailOptions = store.EmailOptions

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

// validateSend checks req in a fixed order: first the contract's checks with
// its exact messages, then our limits, then what this increment delivers.
func validateSend(req *SendRequest) *apiError {
	// Contract §7.1, in this order.
	switch {
	case req.Channel == "":
		return invalid("channel is required")
	case req.Channel != string(store.ChannelEmail) && req.Channel != string(store.ChannelPush) &&
		req.Channel != string(store.ChannelWebhook):
		return invalid("channel must be email, push, or webhook")
	case req.AppID == "":
		return invalid("appId is required")
	case req.Recipient == "" && len(req.Recipients) == 0 && req.UserID == "":
		return invalid("recipient, recipients, or userId is required")
	case req.Template == "" && req.Body == "":
		return invalid("template or body is required")
	}

	// Column limits; characters as Postgres varchar counts them.
	switch {
	case utf8.RuneCountInString(req.AppID) > maxAppIDChars:
		return invalid("appId must be at most %d characters", maxAppIDChars)
	case utf8.RuneCountInString(req.Subject) > maxSubjectChars:
		return invalid("subject must be at most %d characters", maxSubjectChars)
	case utf8.RuneCountInString(req.ExternalID) > maxExternalIDChar:
		return invalid("externalId must be at most %d characters", maxExternalIDChar)
	case utf8.RuneCountInString(req.Recipient) > maxRecipientChars:
		return invalid("recipient must be at most %d characters", maxRecipientChars)
	case len(req.Body) > maxBodyBytes:
		return invalid("body must be at most %d bytes", maxBodyBytes)
	// Postgres text cannot hold NUL; refuse it here rather than fail in the insert.
	case utf8.RuneCountInString(req.Template) > maxSlugChars:
		return invalid("template must be at most %d characters", maxSlugChars)
	case utf8.RuneCountInString(req.Locale) > maxLocaleChars:
		return invalid("locale must be at most %d characters", maxLocaleChars)
	}
	// Postgres can store a NUL neither in text nor in jsonb (it refuses the
	// JSON escape \u0000); refuse it here rather than fail in the insert.
	for _, f := range [...]struct{ name, value string }{{"appId", req.AppID}, {"userId", req.UserID},
		{"recipient", req.Recipient}, {"subject", req.Subject}, {"body", req.Body}, {"externalId", req.ExternalID},
		{"template", req.Template}, {"locale", req.Locale}} {
		if strings.ContainsRune(f.value, 0) {
			return invalid("%s must not contain NUL characters", f.name)
		}
	}
	if jsonHasNUL(req.Data) {
		return invalid("data must not contain NUL characters")
	}
	if o := req.PushOptions; o != nil && strings.ContainsRune(o.Sound+o.ChannelID, 0) {
		return invalid("pushOptions must not contain NUL characters")
	}
	if o := req.EmailOptions; o != nil && strings.ContainsRune(o.From+o.ReplyTo, 0) {
		return invalid("emailOptions must not contain NUL characters")
	}
	switch store.Priority(req.Priority) {
	case "", store.PriorityLow, store.PriorityNormal, store.PriorityHigh, store.PriorityCritical:
	default:
		return invalid("priority must be low, normal, high, or critical")
	}

	switch store.Channel(req.Channel) {
	case store.ChannelEmail:
		return validateEmail(req)
	case store.ChannelPush:
		return validatePush(req)
	default:
		return validateWebhook(req)
	}
}

func validateEmail(req *SendRequest) *apiError {
	if req.Recipient == "" {
		return invalid("recipient is required for the email channel")
	}
	if !isBareAddress(req.Recipient) {
		return invalid("recipient must be a valid email address")
	}
	if o := req.EmailOptions; o != nil {
		if o.From != "" {
			if _, err := mail.ParseAddress(o.From); err != nil {
				return invalid("emailOptions.from must be a valid email address")
			}
		}
		if o.ReplyTo != "" {
			if _, err := mail.ParseAddress(o.ReplyTo); err != nil {
				return invalid("emailOptions.replyTo must be a valid email address")
			}
		}
	}
	return nil
}

// validatePush: a token as recipient, or a userId whose devices are looked up
// at delivery time.
func validatePush(req *SendRequest) *apiError {
	if req.Recipient == "" && req.UserID == "" {
		return invalid("recipient (push token) or userId is required for the push channel")
	}
	if o := req.PushOptions; o != nil && (len(o.Sound) > 100 || len(o.ChannelID) > 100) {
		return invalid("pushOptions.sound and pushOptions.channelId must be at most 100 characters")
	}
	return nil
}

func validateWebhook(req *SendRequest) *apiError {
	u, err := url.Parse(req.Recipient)
	if req.Recipient == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return invalid("recipient must be an http(s) URL for the webhook channel")
	}
	o := req.WebhookOptions
	if o == nil {
		return nil
	}
	switch strings.ToUpper(o.Method) {
	case "", http.MethodPost, http.MethodPut, http.MethodPatch:
	default:
		return invalid("webhookOptions.method must be POST, PUT, or PATCH")
	}
	o.Method = strings.ToUpper(o.Method)
	if o.TimeoutMS < 0 || o.TimeoutMS > 60000 {
		return invalid("webhookOptions.timeout must be between 0 and 60000 milliseconds")
	}
	if len(o.Headers) > maxWebhookHeaders {
		return invalid("webhookOptions.headers must have at most %d entries", maxWebhookHeaders)
	}
	for k, v := range o.Headers {
		if k == "" || len(k)+len(v) > maxHeaderBytes || strings.ContainsAny(k+v, "\r\n\x00") || strings.ContainsAny(k, " :") {
			return invalid("webhookOptions.headers has an invalid header %q", k)
		}
	}
	return nil
}

// jsonHasNUL reports whether a decoded JSON value holds a NUL in any string,
// object keys included, at any depth.
func jsonHasNUL(v any) bool {
	switch v := v.(type) {
	case string:
		return strings.ContainsRune(v, 0)
	case map[string]any:
		for k, e := range v {
			if strings.ContainsRune(k, 0) || jsonHasNUL(e) {
				return true
			}
		}
	case []any:
		for _, e := range v {
			if jsonHasNUL(e) {
				return true
			}
		}
	}
	return false
}

// rawJSONHasNUL is jsonHasNUL of raw JSON text; text that does not decode
// holds no NUL worth reporting (the caller has its own checks).
func rawJSONHasNUL(raw []byte) bool {
	if !bytes.Contains(raw, []byte(`\u0000`)) {
		return false // the only way JSON text can carry a NUL
	}
	var v any
	return json.Unmarshal(raw, &v) == nil && jsonHasNUL(v)
}

// isBareAddress accepts "user@example.com" only: the recipient is used as the
// SMTP envelope recipient, where a display name has no place.
func isBareAddress(s string) bool {
	a, err := mail.ParseAddress(s)
	return err == nil && a.Address == s && a.Name == ""
}
