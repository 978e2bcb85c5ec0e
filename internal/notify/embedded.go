package notify

import (
	"context"
	"fmt"
	"net/http"
)

// Embedded is mana-notify inside another process (`mana serve`): its API
// routes for a shared mux, and Send for in-process callers.
type Embedded struct{ a *api }

// NewEmbedded builds the embedded service; cfg is as for NewHandler
// (CORSOrigins and Metrics are the host's business and ignored).
func NewEmbedded(cfg Config) *Embedded { return &Embedded{a: newAPI(cfg)} }

// Mount registers the API routes on mux, without /health and /metrics.
func (e *Embedded) Mount(mux *http.ServeMux) { e.a.mount(mux) }

// Accepted is the outcome of Send.
type Accepted struct {
	ID           string
	Deduplicated bool
	// Blocked is the preferences' reason when nothing was stored.
	Blocked string
}

// RejectedError is a notification refused for what it is (the 4xx answers
// of POST /send): sending it again cannot succeed.
type RejectedError struct {
	Status  int
	Code    string
	Message string
}

func (e *RejectedError) Error() string {
	return fmt.Sprintf("notification rejected (%d %s): %s", e.Status, e.Code, e.Message)
}

// Send accepts req exactly as POST /api/v1/notifications/send does (same
// validation, preferences, idempotency by ExternalID, and the notification
// stored with its delivery job in one transaction), without the HTTP hop.
func (e *Embedded) Send(ctx context.Context, req SendRequest) (Accepted, error) {
	req.ScheduledFor = ""
	res, rejected, err := e.a.accept(ctx, &req, nil, true)
	if rejected != nil {
		return Accepted{}, &RejectedError{Status: rejected.Status, Code: rejected.Code, Message: rejected.Message}
	}
	if err != nil {
		return Accepted{}, fmt.Errorf("accept notification: %w", err)
	}
	return Accepted(res), nil
}
