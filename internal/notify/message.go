package notify

import (
	"errors"
	"fmt"
	"net/http"
	"net/mail"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"
)

// Limits of the stored columns (contract §6.2), checked before any work so an
// oversized field is a clear refusal instead of a database error.
const (
	MaxBodyBytes       = 1 << 20 // the body field (and an HTTP request)
	MaxSubjectChars    = 500
	MaxAppIDChars      = 50
	MaxExternalIDChars = 255
	MaxRecipientChars  = 500
	MaxSlugChars       = 100
	MaxLocaleChars     = 10
	MaxTemplateBytes   = 256 << 10
	maxWebhookHeaders  = 32
	maxHeaderBytes     = 4096
)

// Message is one notification offered to the Service: the body of a send,
// a scheduled send or one batch item (contract §7.1), or a mail handed over
// in-process by mana-auth.
type Message struct {
	Channel    Channel
	AppID      string
	UserID     string
	Recipient  string
	Recipients []string
	// Template is the slug of a stored template; Locale picks its
	// translation (default DefaultLocale).
	Template       string
	Locale         string
	Subject        string
	Body           string
	Data           map[string]any
	Priority       Priority
	ExternalID     string
	EmailOptions   *EmailOptions
	PushOptions    *PushOptions
	WebhookOptions *WebhookOptions
	// ScheduledFor delays delivery; nil sends at once.
	ScheduledFor *time.Time
	// CheckPreferences evaluates the user's preferences at acceptance (an
	// immediate send); a scheduled send is checked at delivery instead.
	CheckPreferences bool
	// Sensitive marks a body that holds a secret (Options.Sensitive).
	Sensitive bool
}

// ValidationError is a message refused for what it is: sending it again
// cannot succeed.
type ValidationError struct{ Message string }

func (e *ValidationError) Error() string { return "invalid notification: " + e.Message }

func invalid(format string, args ...any) *ValidationError {
	return &ValidationError{Message: fmt.Sprintf(format, args...)}
}

// Rejected reports whether err refuses the message itself (invalid, an
// unknown template, a template that cannot be filled from its data), as
// opposed to a failure of ours that a retry may get past.
func Rejected(err error) bool {
	var ve *ValidationError
	var re *RenderError
	return errors.As(err, &ve) || errors.As(err, &re) || errors.Is(err, ErrTemplateNotFound)
}

// Validate checks the message in a fixed order: first the contract's checks with
// its exact messages, then our limits, then what this increment delivers.
func (req *Message) Validate() error {
	// Contract §7.1, in this order.
	switch {
	case req.Channel == "":
		return invalid("channel is required")
	case req.Channel != ChannelEmail && req.Channel != ChannelPush &&
		req.Channel != ChannelWebhook:
		return invalid("channel must be email, push, or webhook")
	case req.AppID == "":
		return invalid("appId is required")
	case req.Recipient == "" && len(req.Recipients) == 0 && req.UserID == "":
		return invalid("recipient, recipients, or userId is required")
	// A webhook's payload may be its data alone (notify-client sends it so).
	case req.Template == "" && req.Body == "" && (req.Channel != ChannelWebhook || len(req.Data) == 0):
		return invalid("template or body is required")
	}

	// Column limits; characters as Postgres varchar counts them.
	switch {
	case utf8.RuneCountInString(req.AppID) > MaxAppIDChars:
		return invalid("appId must be at most %d characters", MaxAppIDChars)
	case utf8.RuneCountInString(req.Subject) > MaxSubjectChars:
		return invalid("subject must be at most %d characters", MaxSubjectChars)
	case utf8.RuneCountInString(req.ExternalID) > MaxExternalIDChars:
		return invalid("externalId must be at most %d characters", MaxExternalIDChars)
	case utf8.RuneCountInString(req.Recipient) > MaxRecipientChars:
		return invalid("recipient must be at most %d characters", MaxRecipientChars)
	case len(req.Body) > MaxBodyBytes:
		return invalid("body must be at most %d bytes", MaxBodyBytes)
	// Postgres text cannot hold NUL; refuse it here rather than fail in the insert.
	case utf8.RuneCountInString(req.Template) > MaxSlugChars:
		return invalid("template must be at most %d characters", MaxSlugChars)
	case utf8.RuneCountInString(req.Locale) > MaxLocaleChars:
		return invalid("locale must be at most %d characters", MaxLocaleChars)
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
	if ContainsNUL(req.Data) {
		return invalid("data must not contain NUL characters")
	}
	if o := req.PushOptions; o != nil && strings.ContainsRune(o.Sound+o.ChannelID, 0) {
		return invalid("pushOptions must not contain NUL characters")
	}
	if o := req.EmailOptions; o != nil && strings.ContainsRune(o.From+o.ReplyTo, 0) {
		return invalid("emailOptions must not contain NUL characters")
	}
	switch req.Priority {
	case "", PriorityLow, PriorityNormal, PriorityHigh, PriorityCritical:
	default:
		return invalid("priority must be low, normal, high, or critical")
	}

	switch req.Channel {
	case ChannelEmail:
		return req.validateEmail()
	case ChannelPush:
		return req.validatePush()
	default:
		return req.validateWebhook()
	}
}

func (req *Message) validateEmail() error {
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
func (req *Message) validatePush() error {
	if req.Recipient == "" && req.UserID == "" {
		return invalid("recipient (push token) or userId is required for the push channel")
	}
	if o := req.PushOptions; o != nil && (len(o.Sound) > 100 || len(o.ChannelID) > 100) {
		return invalid("pushOptions.sound and pushOptions.channelId must be at most 100 characters")
	}
	return nil
}

func (req *Message) validateWebhook() error {
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

// ContainsNUL reports whether a decoded JSON value holds a NUL in any string,
// object keys included, at any depth.
func ContainsNUL(v any) bool {
	switch v := v.(type) {
	case string:
		return strings.ContainsRune(v, 0)
	case map[string]any:
		for k, e := range v {
			if strings.ContainsRune(k, 0) || ContainsNUL(e) {
				return true
			}
		}
	case []any:
		for _, e := range v {
			if ContainsNUL(e) {
				return true
			}
		}
	}
	return false
}

// isBareAddress accepts "user@example.com" only: the recipient is used as the
// SMTP envelope recipient, where a display name has no place.
func isBareAddress(s string) bool {
	a, err := mail.ParseAddress(s)
	return err == nil && a.Address == s && a.Name == ""
}
