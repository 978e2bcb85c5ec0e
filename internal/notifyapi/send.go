package notifyapi

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/mana/mana/internal/notify"

	"github.com/mana/mana/internal/httpx"
)

const (
	maxBatchBytes = 5 << 20
	maxBatchItems = 100
)

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

func (a *API) internalError(w http.ResponseWriter, r *http.Request, what, message string, err error) {
	a.Log.ErrorContext(r.Context(), what, "err", err, "request_id", httpx.RequestIDFrom(r.Context()))
	writeError(w, r, &apiError{Status: http.StatusInternalServerError, Code: CodeInternal, Message: message})
}

// acceptError answers a refused message with the contract's envelope (400
// VALIDATION or TEMPLATE_NOT_FOUND, 422 TEMPLATE_RENDER_FAILED); refused is
// false for any other error, which is ours.
func acceptError(err error) (e *apiError, refused bool) {
	var ve *notify.ValidationError
	var re *notify.RenderError
	switch {
	case errors.As(err, &ve):
		return invalid("%s", ve.Message), true
	case errors.Is(err, notify.ErrTemplateNotFound):
		return &apiError{Status: http.StatusBadRequest, Code: CodeTemplateNotFound, Message: err.Error()}, true
	case errors.As(err, &re):
		return &apiError{Status: http.StatusUnprocessableEntity, Code: CodeTemplateRender, Message: re.Error()}, true
	}
	return nil, false
}

func (a *API) send(w http.ResponseWriter, r *http.Request) {
	var req SendRequest
	if !decodeBody(w, r, maxBodyBytes, &req, false) {
		return
	}
	m := req.Message() // immediate: schedule has its own route
	m.CheckPreferences = true
	res, err := a.Service.Accept(r.Context(), m)
	e, refused := acceptError(err)
	switch {
	case refused:
		writeError(w, r, e)
	case err != nil:
		a.internalError(w, r, "create notification", "failed to create notification", err)
	case res.Blocked != "":
		httpx.WriteJSON(w, r, http.StatusOK, map[string]any{
			"notification": map[string]string{"status": string(notify.StatusCancelled), "reason": res.Blocked},
		})
	case res.Deduplicated:
		httpx.WriteJSON(w, r, http.StatusOK, map[string]any{
			"notification": map[string]string{"id": res.ID, "status": "existing"},
			"deduplicated": true,
		})
	default:
		httpx.WriteJSON(w, r, http.StatusAccepted, map[string]any{
			"notification": map[string]string{"id": res.ID, "status": string(notify.StatusPending)},
		})
	}
}

// schedule stores the notification with a River job scheduled for its time:
// durable, so it survives restarts. Preferences are evaluated at delivery.
func (a *API) schedule(w http.ResponseWriter, r *http.Request) {
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
	m := req.Message()
	m.ScheduledFor = &at // preferences are evaluated at delivery
	res, err := a.Service.Accept(r.Context(), m)
	e, refused := acceptError(err)
	switch {
	case refused:
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
			"notification": map[string]string{"id": res.ID, "status": string(notify.StatusPending),
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
func (a *API) batch(w http.ResponseWriter, r *http.Request) {
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
		res, err := a.Service.Accept(r.Context(), req.Notifications[i].Message())
		e, refused := acceptError(err)
		switch {
		case refused:
			results[i] = batchResult{Status: string(notify.StatusFailed), Error: e.Message}
			failed++
		case err != nil:
			a.Log.ErrorContext(r.Context(), "create batch notification", "err", err, "index", i,
				"request_id", httpx.RequestIDFrom(r.Context()))
			results[i] = batchResult{Status: string(notify.StatusFailed), Error: "failed to create notification"}
			failed++
		case res.Deduplicated:
			results[i] = batchResult{ID: res.ID, Status: "existing"}
			succeeded++
		default:
			results[i] = batchResult{ID: res.ID, Status: string(notify.StatusPending)}
			succeeded++
		}
	}
	httpx.WriteJSON(w, r, http.StatusAccepted, map[string]any{"results": results, "succeeded": succeeded, "failed": failed})
}

func (a *API) cancel(w http.ResponseWriter, r *http.Request) {
	err := a.Store.Cancel(r.Context(), r.PathValue("id"))
	switch {
	case errors.Is(err, notify.ErrNotFound), errors.Is(err, notify.ErrNotPending):
		writeError(w, r, &apiError{Status: http.StatusNotFound, Code: CodeNotFound,
			Message: "notification not found or already processed"})
	case err != nil:
		a.internalError(w, r, "cancel notification", "failed to cancel notification", err)
	default:
		// Both shapes: the contract's {"cancelled":true} and the notification
		// as it is now, which notify-client returns.
		n, err := a.Store.Get(r.Context(), r.PathValue("id"))
		if err != nil {
			a.internalError(w, r, "read cancelled notification", "failed to read the cancelled notification", err)
			return
		}
		httpx.WriteJSON(w, r, http.StatusOK, map[string]any{"cancelled": true, "notification": toJSON(n)})
	}
}

// list lets operators see notifications by status, e.g. ?status=failed.
func (a *API) list(w http.ResponseWriter, r *http.Request) {
	status := notify.Status(r.URL.Query().Get("status"))
	switch status {
	case notify.StatusPending, notify.StatusProcessing, notify.StatusDelivered, notify.StatusFailed, notify.StatusCancelled:
	default:
		writeError(w, r, invalid("status must be pending, processing, delivered, failed, or cancelled"))
		return
	}
	limit := 100
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > notify.MaxListLimit {
			writeError(w, r, invalid("limit must be between 1 and %d", notify.MaxListLimit))
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
