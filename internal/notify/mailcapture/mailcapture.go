// Package mailcapture is the local mail sink of `mana serve` without
// SMTP_HOST: instead of sending, the delivery worker stores each message as a
// file under the data directory, where GET /dev/mail shows it. It implements
// the same Send as the SMTP mailer, so delivery, its log and its retries are
// identical whichever of the two is configured.
package mailcapture

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/mana/mana/internal/notify/mailer"
)

// Message is one captured mail.
type Message struct {
	NotificationID string    `json:"notificationId"`
	From           string    `json:"from"`
	ReplyTo        string    `json:"replyTo,omitempty"`
	To             string    `json:"to"`
	Subject        string    `json:"subject"`
	HTML           string    `json:"html"`
	CapturedAt     time.Time `json:"capturedAt"`
}

// Links are the http(s) targets of the message's anchors, in order.
func (m Message) Links() []string { return Links(m.HTML) }

// Capture stores mail in a directory, one JSON file per message.
type Capture struct {
	dir  string
	from string // the default sender, as SMTP_FROM for the real mailer
	log  *slog.Logger
	now  func() time.Time
}

// New creates dir when missing (readable by the owner only: mail holds
// one-time links) and returns a Capture writing there.
func New(dir, defaultFrom string, log *slog.Logger) (*Capture, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("mail capture directory: %w", err)
	}
	return &Capture{dir: dir, from: defaultFrom, log: log, now: time.Now}, nil
}

// Dir is where the messages are.
func (c *Capture) Dir() string { return c.dir }

// Send stores e durably (written, synced, then renamed into place, so a
// crash never leaves half a message), and logs it; the link of a
// verification mail is logged too, so a developer can follow it from the
// console.
func (c *Capture) Send(ctx context.Context, e mailer.Email) error {
	m := Message{NotificationID: e.NotificationID, From: e.From, ReplyTo: e.ReplyTo, To: e.To, Subject: e.Subject,
		HTML: e.HTML, CapturedAt: c.now().UTC()}
	if m.From == "" {
		m.From = c.from
	}
	data, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode captured mail: %w", err)
	}
	name := fmt.Sprintf("%020d-%s.json", m.CapturedAt.UnixNano(), safeName(e.NotificationID))
	if err := writeFileSynced(filepath.Join(c.dir, name), data); err != nil {
		return fmt.Errorf("capture mail: %w", err)
	}
	attrs := []any{"to", m.To, "subject", m.Subject, "notification_id", m.NotificationID, "file", name}
	if link := verifyLink(m.Links()); link != "" {
		attrs = append(attrs, "verify_link", link)
	}
	c.log.InfoContext(ctx, "mail captured locally, not sent (no SMTP_HOST); see GET /dev/mail", attrs...)
	return nil
}

// List returns up to limit messages, newest first. A file that cannot be
// read or decoded is returned as a message whose Subject says so, rather
// than hidden.
func (c *Capture) List(limit int) ([]Message, error) {
	entries, err := os.ReadDir(c.dir)
	if err != nil {
		return nil, fmt.Errorf("list captured mail: %w", err)
	}
	var names []string
	for _, e := range entries {
		if e.Type().IsRegular() && strings.HasSuffix(e.Name(), ".json") {
			names = append(names, e.Name())
		}
	}
	// Names start with the zero-padded capture time: reverse order is newest first.
	slices.Sort(names)
	slices.Reverse(names)
	if len(names) > limit {
		names = names[:limit]
	}
	out := make([]Message, 0, len(names))
	for _, name := range names {
		m, err := readMessage(filepath.Join(c.dir, name))
		if err != nil {
			c.log.Error("unreadable captured mail", "file", name, "err", err)
			m = Message{Subject: "(unreadable captured mail " + name + ": " + err.Error() + ")"}
		}
		out = append(out, m)
	}
	return out, nil
}

func readMessage(path string) (Message, error) {
	var m Message
	data, err := os.ReadFile(path)
	if err != nil {
		return m, err
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return m, fmt.Errorf("decode: %w", err)
	}
	return m, nil
}

func writeFileSynced(path string, data []byte) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".capture-*.tmp")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, os.Remove(tmp.Name()))
		}
	}()
	if _, err = tmp.Write(data); err != nil {
		return errors.Join(err, tmp.Close())
	}
	if err = tmp.Sync(); err != nil {
		return errors.Join(err, tmp.Close())
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	if err = os.Chmod(tmp.Name(), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// safeName keeps a notification id usable as part of a file name.
func safeName(id string) string {
	b := []byte(id)
	out := b[:0]
	for _, ch := range b {
		if ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '-' {
			out = append(out, ch)
		}
	}
	if len(out) > 64 {
		out = out[:64]
	}
	if len(out) == 0 {
		return "mail"
	}
	return string(out)
}

var hrefRe = regexp.MustCompile(`(?i)href\s*=\s*(?:"([^"]*)"|'([^']*)')`)

// Links extracts the http(s) targets of the anchors in an HTML body; any
// other scheme (javascript:, data:) is dropped.
func Links(body string) []string {
	var out []string
	for _, m := range hrefRe.FindAllStringSubmatch(body, -1) {
		link := strings.TrimSpace(html.UnescapeString(m[1] + m[2]))
		lower := strings.ToLower(link)
		if strings.HasPrefix(lower, "http://") || strings.HasPrefix(lower, "https://") {
			out = append(out, link)
		}
	}
	return out
}

func verifyLink(links []string) string {
	for _, l := range links {
		if strings.Contains(l, "/verify-email") {
			return l
		}
	}
	return ""
}
