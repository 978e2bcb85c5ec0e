package notify

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/mana/mana/internal/httpx"
	"github.com/mana/mana/internal/notify/prefs"
	"github.com/mana/mana/internal/notify/render"
	"github.com/mana/mana/internal/notify/store"
)

const (
	maxBatchBytes = 5 << 20
	maxBatchItems = 100
)

// accepted is the outcome of accepting one notification.
type accepted struct {
	ID           string
	Deduplicated bool
	// Blocked is the preferences' reason when nothing was stored.
	Blocked string
}

// decodeBody decodes a JSON body with a limit and answers the error itself.
func decodeBody(w http.ResponseWriter, r *http.Request, limit int64, dst any, allowEmpty bool) bool {
	err := httpx.DecodeJSON(w, r, limit, dst, allowEmpty)
	if err == nil {
		return true
	}
	if errors.Is(err, httpx.ErrBodyTooLarge) {
		writeError(w, r, &apiError{Status: http.StatusRequestEntityTooLarge, Code: CodePayloadTooLarge,
			Message: "request body too large"})
		return false
	}
	writeError(w, r, &apiError{Status: http.StatusBadRequest, Code: CodeInvalidBody, Message: "invalid request body"})
	return false
}

func (a *api) internalError(w http.ResponseWriter, r *http.Request, what, message string, err error) {
	a.Log.ErrorContext(r.Context(), what, "err", err, "request_id", httpx.RequestIDFrom(r.Context()))
	writeError(w, r, &apiError{Status: http.StatusInternalServerError, Code: CodeInternal, Message: message})
}

// accept validates, checks preferences (when checkPrefs), renders the
// template and stores the notification with its delivery job in one
// transaction. A returned *apiError is the caller's fault; any other error
// is ours.
func (a *api) accept(ctx context.Context, req *SendRequest, scheduledFor *time.Time, checkPrefs bool) (accepted, *apiError, error) {
	if e := validateSend(req); e != nil {
		return accepted{}, e, nil
	}
	// A repeat is answered as the duplicate first (contract §7.1's send
	// flow): neither preferences nor templates changed since may turn a
	// retry into "cancelled" or an error for a notification that exists.
	if req.ExternalID != "" {
		id, err := a.Store.NotificationOfExternalID(ctx, req.ExternalID)
		switch {
		case err == nil:
			return accepted{ID: id, Deduplicated: true}, nil, nil
		case !errors.Is(err, store.ErrNotFound):
			return accepted{}, nil, err
		}
	}
	if checkPrefs && req.UserID != "" {
		p, err := a.Store.GetPreferences(ctx, req.UserID)
		if err != nil {
			return accepted{}, nil, err
		}
		reason, err := prefs.Blocked(p, store.Channel(req.Channel), a.Now())
		if err != nil {
			return accepted{}, nil, err
		}
		if reason != "" {
			return accepted{Blocked: reason}, nil, nil
		}
	}
	subject, body := req.Subject, req.Body
	if req.Template != "" {
		locale := req.Locale
		if locale == "" {
			locale = store.DefaultLocale
		}
		t, err := a.Store.FindActiveTemplate(ctx, req.Template, locale)
		if errors.Is(err, store.ErrTemplateNotFound) {
			return accepted{}, &apiError{Status: http.StatusBadRequest, Code: CodeTemplateNotFound,
				Message: "template not found: " + req.Template}, nil
		}
		if err != nil {
			return accepted{}, nil, err
		}
		out, err := render.Template(t, req.Data)
		if err != nil {
			// Visible, never "<no value>" in an inbox: the caller learns
			// which variable was missing and nothing is stored.
			a.Log.WarnContext(ctx, "template render failed at send", "template", req.Template, "err", err)
			return accepted{}, &apiError{Status: http.StatusUnprocessableEntity, Code: CodeTemplateRender,
				Message: err.Error()}, nil
		}
		if out.Subject != "" {
			subject = out.Subject
		}
		if out.Body != "" {
			body = out.Body
		}
	}
	channel := store.Channel(req.Channel)
	n := store.NewNotification{
		UserID: req.UserID, AppID: req.AppID, Channel: channel, Subject: subject, Body: body,
		Recipient: req.Recipient, ExternalID: req.ExternalID, Priority: store.Priority(req.Priority), Data: req.Data,
		TemplateID: req.Template, ScheduledFor: scheduledFor,
		Options: store.Options{Email: req.EmailOptions, Push: req.PushOptions, Webhook: req.WebhookOptions},
	}
	created, err := a.Store.Create(ctx, n)
	if err != nil {
		return accepted{}, nil, err
	}
	return accepted{ID: created.ID, Deduplicated: created.Deduplicated}, nil, nil
}

func (a *api) send(w http.ResponseWriter, r *http.Request) {
	var req SendRequest
	if !decodeBody(w, r, maxBodyBytes, &req, false) {
		return
	}
	req.ScheduledFor = "" // send is immediate; schedule has its own route
	res, e, err := a.accept(r.Context(), &req, nil, true)
	switch {
	case e != nil:
		writeError(w, r, e)
	case err != nil:
		a.internalError(w, r, "create notification", "failed to create notification", err)
	case res.Blocked != "":
		httpx.WriteJSON(w, r, http.StatusOK, map[string]any{
			"notification": map[string]string{"status": string(store.StatusCancelled), "reason": res.Blocked},
		})
	case res.Deduplicated:
		httpx.WriteJSON(w, r, http.StatusOK, map[string]any{
			"notification": map[string]string{"id": res.ID, "status": "existing"},
			"deduplicated": true,
		})
	default:
		httpx.WriteJSON(w, r, http.StatusAccepted, map[string]any{
			"notification": map[string]string{"id": res.ID, "status": string(store.StatusPending)},
		})
	}
}

// schedule stores the notification with a River job scheduled for its time:
// durable, so it survives restarts. Preferences are evaluated at delivery.
func (a *api) schedule(w http.ResponseWriter, r *http.Request) {
	var req SendRequest
	if !decodeBody(w, r, maxBodyBytes, &req, false) {
		return
	}
	at, err := time.Parse(time.RFC3339, req.ScheduledFor)
	if err != nil {
		writeError(w, r, invalid("scheduledFor must be a valid RFC3339 timestamp"))
		return
	}
	if !at.After(a.Now()) {
		writeError(w, r, invalid("scheduledFor must be in the future"))
		return
	}
	res, e, err := a.accept(r.Context(), &req, &at, false)
	switch {
	case e != nil:
		writeError(w, r, e)
	case err != nil:
		a.internalError(w, r, "schedule notification", "failed to schedule notification", err)
	case res.Deduplicated:
		httpx.WriteJSON(w, r, http.StatusOK, map[string]any{
			"notification": map[string]string{"id": res.ID, "status": "existing"},
			"deduplicated": true,
		})
	default:
		httpx.WriteJSON(w, r, http.StatusAccepted, map[string]any{
			"notification": map[string]string{"id": res.ID, "status": string(store.StatusPending),
				"scheduledFor": at.UTC().Format(time.RFC3339)},
		})
	}
}

type batchResult struct {
	ID     string `json:"id,omitempty"`
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
}

// batch accepts each item on its own (one transaction each): one bad item
// fails alone, with its reason in its result.
func (a *api) batch(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Notifications []SendRequest `json:"notifications"`
	}
	if !decodeBody(w, r, maxBatchBytes, &req, false) {
		return
	}
	if len(req.Notifications) == 0 {
		writeError(w, r, invalid("notifications array is required"))
		return
	}
	if len(req.Notifications) > maxBatchItems {
		writeError(w, r, invalid("maximum %d notifications per batch", maxBatchItems))
		return
	}
	results := make([]batchResult, len(req.Notifications))
	succeeded, failed := 0, 0
	for i := range req.Notifications {
		item := &req.Notifications[i]
		item.ScheduledFor = ""
		res, e, err := a.accept(r.Context(), item, nil, false)
		switch {
		case e != nil:
			results[i] = batchResult{Status: string(store.StatusFailed), Error: e.Message}
			failed++
		case err != nil:
			a.Log.ErrorContext(r.Context(), "create batch notification", "err", err, "index", i,
				"request_id", httpx.RequestIDFrom(r.Context()))
			results[i] = batchResult{Status: string(store.StatusFailed), Error: "failed to create notification"}
			failed++
		case res.Deduplicated:
			results[i] = batchResult{ID: res.ID, Status: "existing"}
			succeeded++
		default:
			results[i] = batchResult{ID: res.ID, Status: string(store.StatusPending)}
			succeeded++
		}
	}
	httpx.WriteJSON(w, r, http.StatusAccepted, map[string]any{"results": results, "succeeded": succeeded, "failed": failed})
}

func (a *api) cancel(w http.ResponseWriter, r *http.Request) {
	err := a.Store.Cancel(r.Context(), r.PathValue("id"))
	switch {
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrNotPending):
		writeError(w, r, &apiError{Status: http.StatusNotFound, Code: CodeNotFound,
			Message: "notification not found or already processed"})
	case err != nil:
		a.internalError(w, r, "cancel notification", "failed to cancel notification", err)
	default:
		httpx.WriteJSON(w, r, http.StatusOK, map[string]bool{"cancelled": true})
	}
}

// list lets operators see notifications by status, e.g. ?status=failed.
func (a *api) list(w http.ResponseWriter, r *http.Request) {
	status := store.Status(r.URL.Query().Get("status"))
	switch status {
	case store.StatusPending, store.StatusProcessing, store.StatusDelivered, store.StatusFailed, store.StatusCancelled:
	default:
		writeError(w, r, invalid("status must be pending, processing, delivered, failed, or cancelled"))
		return
	}
	limit := 100
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > store.MaxListLimit {
			writeError(w, r, invalid("limit must be between 1 and %d", store.MaxListLimit))
			return
		}
		limit = n
	}
	ns, err := a.Store.List(r.Context(), status, limit)
	if err != nil {
		a.internalError(w, r, "list notifications", "failed to list notifications", err)
		return
	}
	out := make([]notificationJSON, len(ns))
	for i, n := range ns {
		out[i] = toJSON(n)
	}
	httpx.WriteJSON(w, r, http.StatusOK, map[string]any{"notifications": out})
}
