package notify

import (
	"errors"
	"strings"
	"testing"
)

// validEmail is a request that passes every check; each case breaks one thing.
func validEmail() Message {
	return Message{Channel: ChannelEmail, AppID: "mana-auth", Recipient: "user@example.com",
		Subject: "Hallo", Body: "<p>Hi</p>"}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(r *Message)
		message string
		// guard names the line of validateSend whose removal makes the case fail.
		guard string
	}{
		{"channel missing", func(r *Message) { r.Channel = "" }, "channel is required",
			`case req.Channel == "":`},
		{"channel unknown", func(r *Message) { r.Channel = "sms" }, "channel must be email, push, or webhook",
			`case req.Channel != string(ChannelEmail) && ...`},
		{"appId missing", func(r *Message) { r.AppID = "" }, "appId is required",
			`case req.AppID == "":`},
		{"no recipient at all", func(r *Message) { r.Recipient = "" }, "recipient, recipients, or userId is required",
			`case req.Recipient == "" && len(req.Recipients) == 0 && req.UserID == "":`},
		{"no template nor body", func(r *Message) { r.Body = "" }, "template or body is required",
			`case req.Template == "" && req.Body == "" && ...`},
		{"email with data only", func(r *Message) { r.Body, r.Data = "", map[string]any{"a": 1.0} }, "template or body is required",
			`req.Channel != ChannelWebhook ||`},
		{"webhook without body or data", func(r *Message) { r.Channel, r.Recipient, r.Body = "webhook", "https://hook.example/x", "" },
			"template or body is required", `len(req.Data) == 0`},
		// The contract's order: channel is checked before appId, appId before recipient.
		{"order: channel before appId", func(r *Message) { r.Channel, r.AppID = "", "" }, "channel is required",
			`the order of the first switch`},
		{"order: appId before recipient", func(r *Message) { r.AppID, r.Recipient = "", "" }, "appId is required",
			`the order of the first switch`},
		{"appId too long", func(r *Message) { r.AppID = strings.Repeat("a", 51) }, "appId must be at most 50 characters",
			`case utf8.RuneCountInString(req.AppID) > maxAppIDChars:`},
		{"subject too long", func(r *Message) { r.Subject = strings.Repeat("ü", 501) }, "subject must be at most 500 characters",
			`case utf8.RuneCountInString(req.Subject) > maxSubjectChars:`},
		{"externalId too long", func(r *Message) { r.ExternalID = strings.Repeat("x", 256) }, "externalId must be at most 255 characters",
			`case utf8.RuneCountInString(req.ExternalID) > maxExternalIDChar:`},
		{"recipient too long", func(r *Message) { r.Recipient = strings.Repeat("a", 490) + "@example.com" }, "recipient must be at most 500 characters",
			`case utf8.RuneCountInString(req.Recipient) > maxRecipientChars:`},
		{"body too long", func(r *Message) { r.Body = strings.Repeat("b", 1<<20+1) }, "body must be at most 1048576 bytes",
			`case len(req.Body) > maxBodyBytes:`},
		{"NUL in body", func(r *Message) { r.Body = "a\x00b" }, "body must not contain NUL characters",
			`if strings.ContainsRune(f.value, 0) {`},
		{"NUL in locale", func(r *Message) { r.Template, r.Locale = "auth-welcome", "de\x00" }, "locale must not contain NUL characters",
			`{"locale", req.Locale}`},
		{"NUL in a data value", func(r *Message) { r.Data = map[string]any{"a": []any{1.0, map[string]any{"b": "\x00"}}} },
			"data must not contain NUL characters", `if jsonHasNUL(req.Data) {`},
		{"NUL in a data key", func(r *Message) { r.Data = map[string]any{"a\x00": "x"} },
			"data must not contain NUL characters", `strings.ContainsRune(k, 0)` + " in jsonHasNUL"},
		{"NUL in push options", func(r *Message) {
			r.Channel, r.Recipient, r.PushOptions = "push", "ExponentPushToken[x]", &PushOptions{ChannelID: "a\x00"}
		}, "pushOptions must not contain NUL characters", `strings.ContainsRune(o.Sound+o.ChannelID, 0)`},
		{"unknown priority", func(r *Message) { r.Priority = "urgent" }, "priority must be low, normal, high, or critical",
			`default: return invalid("priority must be ...")`},
		{"push without token or user", func(r *Message) { r.Channel, r.Recipient = "push", ""; r.Recipients = []string{"x"} },
			"recipient (push token) or userId is required for the push channel", `if req.Recipient == "" && req.UserID == "" {`},
		{"webhook to a non-URL", func(r *Message) { r.Channel = "webhook" }, "recipient must be an http(s) URL for the webhook channel",
			`if req.Recipient == "" || err != nil || (u.Scheme != "http" ...`},
		{"webhook GET", func(r *Message) {
			r.Channel, r.Recipient, r.WebhookOptions = "webhook", "https://hook.example/x", &WebhookOptions{Method: "GET"}
		}, "webhookOptions.method must be POST, PUT, or PATCH", `case "", http.MethodPost, ...`},
		{"webhook header injection", func(r *Message) {
			r.Channel, r.Recipient = "webhook", "https://hook.example/x"
			r.WebhookOptions = &WebhookOptions{Headers: map[string]string{"X-A": "v\r\nX-B: y"}}
		}, `webhookOptions.headers has an invalid header "X-A"`, `strings.ContainsAny(k+v, "\r\n\x00")`},
		{"webhook timeout", func(r *Message) {
			r.Channel, r.Recipient, r.WebhookOptions = "webhook", "https://hook.example/x", &WebhookOptions{TimeoutMS: 600000}
		}, "webhookOptions.timeout must be between 0 and 60000 milliseconds", `if o.TimeoutMS < 0 || o.TimeoutMS > 60000 {`},
		{"email to userId only", func(r *Message) { r.Recipient, r.UserID = "", "user-1" }, "recipient is required for the email channel",
			`if req.Recipient == "" {`},
		{"recipient not an address", func(r *Message) { r.Recipient = "not-an-address" }, "recipient must be a valid email address",
			`if !isBareAddress(req.Recipient) {`},
		{"recipient with display name", func(r *Message) { r.Recipient = "Bob <bob@example.com>" }, "recipient must be a valid email address",
			`return err == nil && a.Address == s && a.Name == ""`},
		{"recipient with header injection", func(r *Message) { r.Recipient = "a@example.com\r\nBcc: x@example.com" }, "recipient must be a valid email address",
			`if !isBareAddress(req.Recipient) {`},
		{"bad from", func(r *Message) { r.EmailOptions = &EmailOptions{From: "nobody"} }, "emailOptions.from must be a valid email address",
			`if _, err := mail.ParseAddress(o.From); err != nil {`},
		{"bad replyTo", func(r *Message) { r.EmailOptions = &EmailOptions{ReplyTo: "@@"} }, "emailOptions.replyTo must be a valid email address",
			`if _, err := mail.ParseAddress(o.ReplyTo); err != nil {`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := validEmail()
			tt.edit(&req)
			var ve *ValidationError
			err := req.Validate()
			if err == nil {
				t.Fatalf("accepted; the guard %s is missing", tt.guard)
			}
			if !errors.As(err, &ve) || ve.Message != tt.message || !Rejected(err) {
				t.Fatalf("got %v, want %q (guard: %s)", err, tt.message, tt.guard)
			}
		})
	}
}

func TestValidateAccepts(t *testing.T) {
	for name, edit := range map[string]func(r *Message){
		"minimal":            func(r *Message) {},
		"limits exactly":     func(r *Message) { r.AppID, r.Subject = strings.Repeat("a", 50), strings.Repeat("ü", 500) },
		"priority":           func(r *Message) { r.Priority = "high" },
		"template with body": func(r *Message) { r.Template = "auth-welcome" },
		"sender overrides": func(r *Message) {
			r.EmailOptions = &EmailOptions{From: "Mana <a@b.example>", ReplyTo: "c@d.example"}
		},
		"recipients plus one rcpt": func(r *Message) { r.Recipients = []string{"x@example.com"} },
		"template without body":    func(r *Message) { r.Body, r.Template = "", "auth-welcome" },
		"push to a user":           func(r *Message) { r.Channel, r.Recipient, r.UserID = "push", "", "user-1" },
		"webhook": func(r *Message) {
			r.Channel, r.Recipient = "webhook", "https://hook.example/x"
			r.WebhookOptions = &WebhookOptions{Method: "put", TimeoutMS: 500, Headers: map[string]string{"X-A": "b"}}
		},
	} {
		req := validEmail()
		edit(&req)
		if err := req.Validate(); err != nil {
			t.Errorf("%s: rejected: %v", name, err)
		}
	}
}

// TestWebhookDataAlone: a webhook's payload may be its data alone, as
// notify-client sends it (negative control: the "webhook without body or
// data" case above keeps the data requirement).
func TestWebhookDataAlone(t *testing.T) {
	m := Message{Channel: ChannelWebhook, AppID: "app", Recipient: "https://hook.example/x", Data: map[string]any{"event": "x"}}
	if err := m.Validate(); err != nil {
		t.Fatalf("webhook with data only: %v", err)
	}
}
