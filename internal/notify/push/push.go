// Package push sends push notifications through the Expo push API
// (https://docs.expo.dev/push-notifications/sending-notifications/). The
// endpoint is configurable so tests point it at a local fake server.
package push

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// DefaultURL is Expo's send endpoint.
const DefaultURL = "https://exp.host/--/api/v2/push/send"

// Message is one Expo push message.
type Message struct {
	To        string         `json:"to"`
	Title     string         `json:"title,omitempty"`
	Body      string         `json:"body,omitempty"`
	Data      map[string]any `json:"data,omitempty"`
	Sound     string         `json:"sound,omitempty"`
	Badge     *int           `json:"badge,omitempty"`
	ChannelID string         `json:"channelId,omitempty"`
}

// Ticket is Expo's answer for one message.
type Ticket struct {
	Status  string `json:"status"` // "ok" or "error"
	ID      string `json:"id"`
	Message string `json:"message"`
	Details struct {
		Error string `json:"error"` // e.g. DeviceNotRegistered
	} `json:"details"`
}

// Client talks to the Expo push API.
type Client struct {
	URL         string
	AccessToken string // EXPO_ACCESS_TOKEN; optional
	HTTP        *http.Client
}

// MaxPerRequest is the most messages Expo accepts in one request; larger
// requests are refused whole.
const MaxPerRequest = 100

// Send posts msgs in requests of at most MaxPerRequest and returns one ticket
// per message, in order. When a later request fails, the error is returned
// and the whole send is retried by the caller: devices of earlier requests
// may then get the message twice (Expo has no idempotency key).
func (c *Client) Send(ctx context.Context, msgs []Message) ([]Ticket, error) {
	tickets := make([]Ticket, 0, len(msgs))
	for start := 0; start < len(msgs); start += MaxPerRequest {
		chunk := msgs[start:min(start+MaxPerRequest, len(msgs))]
		got, err := c.send(ctx, chunk)
		if err != nil {
			if start > 0 {
				return nil, fmt.Errorf("messages %d..%d of %d (earlier ones were sent): %w", start+1, start+len(chunk), len(msgs), err)
			}
			return nil, err
		}
		tickets = append(tickets, got...)
	}
	return tickets, nil
}

// send posts one request of at most MaxPerRequest messages.
func (c *Client) send(ctx context.Context, msgs []Message) ([]Ticket, error) {
	body, err := json.Marshal(msgs)
	if err != nil {
		return nil, fmt.Errorf("encode push messages: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.URL, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("build push request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if c.AccessToken != "" {
		req.Header.Set("Authorization", "Bearer "+c.AccessToken)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, fmt.Errorf("expo push: %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("read expo answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("expo push answered %d: %q", resp.StatusCode, truncate(raw))
	}
	var out struct {
		Data   []Ticket `json:"data"`
		Errors []struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"errors"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, fmt.Errorf("decode expo answer: %w", err)
	}
	if len(out.Errors) > 0 {
		return nil, fmt.Errorf("expo push error %s: %s", out.Errors[0].Code, out.Errors[0].Message)
	}
	if len(out.Data) != len(msgs) {
		return nil, fmt.Errorf("expo push: %d tickets for %d messages", len(out.Data), len(msgs))
	}
	return out.Data, nil
}

func truncate(b []byte) string {
	s := string(b)
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return strings.TrimSpace(s)
}
