// Package webhook delivers a notification as an HTTP request to the
// recipient URL, signed with HMAC-SHA256 over the exact body bytes so the
// receiver can tell the request came from mana-notify and was not altered.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

const (
	// SignatureHeader carries "sha256=<hex HMAC-SHA256 of the body>".
	SignatureHeader = "X-Mana-Signature"
	// TimestampHeader is the send time (unix seconds), covered by the
	// signature of the body's own "timestamp" field.
	TimestampHeader = "X-Mana-Timestamp"
	// IDHeader names the notification, the same on every retry.
	IDHeader = "X-Mana-Notification-Id"
	// DefaultTimeout applies when the request gives none.
	DefaultTimeout = 10 * time.Second
	// MaxTimeout caps a caller's timeout so a worker is never held for long.
	MaxTimeout = 60 * time.Second
)

// Sign returns the value of SignatureHeader for body.
func Sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Verify reports whether sig is the signature of body (constant time).
func Verify(secret, body []byte, sig string) bool {
	return hmac.Equal([]byte(Sign(secret, body)), []byte(sig))
}

// Request is one webhook call.
type Request struct {
	NotificationID string
	URL            string
	Method         string // default POST
	Headers        map[string]string
	Timeout        time.Duration // 0: DefaultTimeout
	Body           []byte        // JSON
}

// Sender sends webhooks.
type Sender struct {
	Client *http.Client
	Secret []byte
}

// Send performs the request. It returns the HTTP status (0 when none came)
// and an error for a transport failure or a non-2xx answer.
func (s *Sender) Send(ctx context.Context, r Request) (int, error) {
	method := r.Method
	if method == "" {
		method = http.MethodPost
	}
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	if timeout > MaxTimeout {
		timeout = MaxTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, r.URL, bytes.NewReader(r.Body))
	if err != nil {
		return 0, fmt.Errorf("build webhook request: %w", err)
	}
	for k, v := range r.Headers {
		req.Header.Set(k, v)
	}
	// Ours last: a caller's header must not replace the signature.
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "mana-notify")
	req.Header.Set(IDHeader, r.NotificationID)
	req.Header.Set(TimestampHeader, strconv.FormatInt(time.Now().Unix(), 10))
	if len(s.Secret) == 0 {
		// Unsigned webhooks would let anyone impersonate us to receivers.
		return 0, fmt.Errorf("webhook secret not configured (NOTIFY_WEBHOOK_SECRET): refusing to send unsigned")
	}
	req.Header.Set(SignatureHeader, Sign(s.Secret, r.Body))
	resp, err := s.Client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			ue.URL = Redact(r.URL) // the transport error repeats the URL
		}
		return 0, fmt.Errorf("webhook %s %s: %w", method, Redact(r.URL), err)
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512)) // for the error message only
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, fmt.Errorf("webhook %s %s answered %d: %q", method, Redact(r.URL), resp.StatusCode, snippet)
	}
	return resp.StatusCode, nil
}

// Redact is a webhook URL as errors and logs may show it: scheme and host
// only. Receivers put secrets in the path, query and user info (a Slack
// hook's path is its key; audit I6).
func Redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "(unparsable URL)"
	}
	out := u.Scheme + "://" + u.Host
	if u.Path != "" && u.Path != "/" || u.RawQuery != "" {
		out += "/…"
	}
	return out
}
