// Package notify is mana-notify's HTTP API (seed contract §7.1): health,
// metrics, and the service-key protected notification endpoints.
package notifyapi

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/mana/mana/internal/notify"

	"github.com/mana/mana/internal/httpx"
	"github.com/mana/mana/internal/notify/jwtauth"
	"github.com/mana/mana/internal/notify/metrics"
)

// Version is reported by /health (the contract's value).
const Version = "1.0.0"

// healthTimeout bounds the health query so a hung database answers unhealthy
// rather than hanging the probe.
const healthTimeout = 2 * time.Second

// Authenticator turns a bearer token into a user (jwtauth.Verifier).
type Authenticator interface {
	Authenticate(ctx context.Context, token string) (jwtauth.User, error)
}

// Config is what New needs.
type Config struct {
	Store notify.Store
	// Service accepts notifications; nil builds one over Store.
	Service     *notify.Service
	Metrics     *metrics.Notify
	Log         *slog.Logger
	ServiceKey  string
	CORSOrigins []string
	// MetricsToken admits /metrics scrapes from other hosts (METRICS_TOKEN).
	MetricsToken string
	// MetricsElsewhere: /metrics is served on METRICS_ADDR, not here.
	MetricsElsewhere bool
	// Users authenticates the JWT routes (devices, preferences).
	Users Authenticator
	// Started is when the service started, for the uptime in /health.
	Started time.Time
	// Now is the clock (tests); nil is time.Now.
	Now func() time.Time
}

// API serves mana-notify's routes.
type API struct {
	Config
}

// New builds the API.
func New(cfg Config) *API {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Service == nil {
		cfg.Service = notify.NewService(cfg.Store, cfg.Log, cfg.Now)
	}
	return &API{Config: cfg}
}

// Handler is the complete HTTP handler of mana-notify run on its own
// (`mana serve notify`): the routes, /health and /metrics, CORS, the access
// log and request ids.
func (a *API) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", a.health)
	if !a.MetricsElsewhere {
		mux.Handle("GET /metrics", httpx.MetricsGuard(a.MetricsToken, a.Metrics.Handler()))
	}
	a.Mount(mux)

	var h http.Handler = mux
	h = httpx.CORS(a.CORSOrigins, "Content-Type, Authorization, X-Service-Key", h)
	h = httpx.KnownMethods(h)
	h = httpx.Logging(a.Log, nil, h)
	return httpx.RequestID(h)
}

// Mount registers the notification, template, device and preference
// routes (not /health and /metrics, which the all-in-one server owns).
func (a *API) Mount(mux *http.ServeMux) {
	// Everything under these prefixes sits behind the service key, unknown
	// paths included, so an unauthenticated caller learns nothing about
	// which routes exist.
	internal := http.NewServeMux()
	internal.HandleFunc("POST /api/v1/notifications/send", a.send)
	internal.HandleFunc("POST /api/v1/notifications/schedule", a.schedule)
	internal.HandleFunc("POST /api/v1/notifications/batch", a.batch)
	internal.HandleFunc("GET /api/v1/notifications", a.list)
	internal.HandleFunc("GET /api/v1/notifications/{id}", a.get)
	internal.HandleFunc("DELETE /api/v1/notifications/{id}", a.cancel)
	internal.HandleFunc("GET /api/v1/templates", a.listTemplates)
	internal.HandleFunc("POST /api/v1/templates", a.createTemplate)
	internal.HandleFunc("POST /api/v1/templates/preview", a.previewCustom)
	internal.HandleFunc("GET /api/v1/templates/{slug}", a.getTemplate)
	internal.HandleFunc("PUT /api/v1/templates/{slug}", a.updateTemplate)
	internal.HandleFunc("DELETE /api/v1/templates/{slug}", a.deleteTemplate)
	internal.HandleFunc("POST /api/v1/templates/{slug}/preview", a.previewTemplate)
	internal.HandleFunc("POST "+ErasePath, a.eraseUser)
	withKey := RequireServiceKey(a.ServiceKey, internal)

	users := http.NewServeMux()
	users.HandleFunc("POST /api/v1/devices/register", a.registerDevice)
	users.HandleFunc("GET /api/v1/devices", a.listDevices)
	users.HandleFunc("DELETE /api/v1/devices/{id}", a.deleteDevice)
	users.HandleFunc("GET /api/v1/preferences", a.getPreferences)
	users.HandleFunc("PUT /api/v1/preferences", a.putPreferences)
	withUser := a.requireUser(users)

	mux.Handle("/api/v1/notifications", withKey)
	mux.Handle("/api/v1/notifications/", withKey)
	mux.Handle("/api/v1/templates", withKey)
	mux.Handle("/api/v1/templates/", withKey)
	mux.Handle("/api/v1/users/", withKey)
	mux.Handle("/api/v1/devices", withUser)
	mux.Handle("/api/v1/devices/", withUser)
	mux.Handle("/api/v1/preferences", withUser)
}

// ServiceKeyHeader carries the shared secret of internal callers.
const ServiceKeyHeader = "X-Service-Key"

// RequireServiceKey lets a request through only with the right X-Service-Key.
// The comparison is of SHA-256 digests in constant time, so neither the
// content nor the length of the key leaks through timing. The failure body
// is the contract's quirk: a JSON-looking string served as text/plain.
func RequireServiceKey(key string, next http.Handler) http.Handler {
	want := sha256.Sum256([]byte(key))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := sha256.Sum256([]byte(r.Header.Get(ServiceKeyHeader)))
		if key == "" || subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
			http.Error(w, `{"error":"unauthorized: invalid service key"}`, http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

type errorBody struct {
	Success bool        `json:"success"`
	Error   errorDetail `json:"error"`
}

type errorDetail struct {
	StatusCode int    `json:"statusCode"`
	Message    string `json:"message"`
	Code       string `json:"code"`
	Timestamp  string `json:"timestamp"`
}

func writeError(w http.ResponseWriter, r *http.Request, e *apiError) {
	httpx.WriteJSON(w, r, e.Status, errorBody{Error: errorDetail{
		StatusCode: e.Status, Message: e.Message, Code: e.Code,
		Timestamp: time.Now().UTC().Format(time.RFC3339),
	}})
}

// health answers 503 when the database query fails: a load balancer or
// orchestrator only reads the status code, so a 200 with status "unhealthy"
// in the body would hide a dead database.
func (a *API) health(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), healthTimeout)
	defer cancel()
	err := a.Store.Ping(ctx)
	status, code := "healthy", http.StatusOK
	if err != nil {
		a.Log.ErrorContext(r.Context(), "health check: database unreachable", "err", err)
		status, code = "unhealthy", http.StatusServiceUnavailable
	}
	httpx.WriteJSON(w, r, code, map[string]any{
		"status":    status,
		"version":   Version,
		"service":   "mana-notify",
		"uptime":    time.Since(a.Started).Seconds(),
		"timestamp": time.Now().UTC().Format(time.RFC3339),
		"services":  map[string]bool{"database": err == nil},
	})
}

// notificationJSON is the contract's view of a notification: absent optional
// fields are omitted, data is never returned.
type notificationJSON struct {
	ID           string     `json:"id"`
	UserID       *string    `json:"userId,omitempty"`
	AppID        string     `json:"appId"`
	Channel      string     `json:"channel"`
	TemplateID   *string    `json:"templateId,omitempty"`
	Subject      *string    `json:"subject,omitempty"`
	Body         *string    `json:"body,omitempty"`
	Status       string     `json:"status"`
	Priority     string     `json:"priority"`
	ScheduledFor *time.Time `json:"scheduledFor,omitempty"`
	Recipient    *string    `json:"recipient,omitempty"`
	ExternalID   *string    `json:"externalId,omitempty"`
	Attempts     int        `json:"attempts"`
	DeliveredAt  *time.Time `json:"deliveredAt,omitempty"`
	ErrorMessage *string    `json:"errorMessage,omitempty"`
	CreatedAt    time.Time  `json:"createdAt"`
	UpdatedAt    time.Time  `json:"updatedAt"`
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

func toJSON(n notify.Notification) notificationJSON {
	if n.Options.Sensitive {
		n.Body = nil // a sign-in or reset link: never handed out (the service key is no account takeover)
	}
	return notificationJSON{
		ID: n.ID, UserID: n.UserID, AppID: n.AppID, Channel: string(n.Channel), TemplateID: n.TemplateID,
		Subject: n.Subject, Body: n.Body, Status: string(n.Status), Priority: string(n.Priority),
		ScheduledFor: utcPtr(n.ScheduledFor), Recipient: n.Recipient, ExternalID: n.ExternalID,
		Attempts: n.Attempts, DeliveredAt: utcPtr(n.DeliveredAt), ErrorMessage: n.ErrorMessage,
		CreatedAt: n.CreatedAt.UTC(), UpdatedAt: n.UpdatedAt.UTC(),
	}
}

func (a *API) get(w http.ResponseWriter, r *http.Request) {
	n, err := a.Store.Get(r.Context(), r.PathValue("id"))
	if errors.Is(err, notify.ErrNotFound) {
		writeError(w, r, &apiError{Status: http.StatusNotFound, Code: CodeNotFound, Message: "notification not found"})
		return
	}
	if err != nil {
		a.Log.ErrorContext(r.Context(), "get notification", "err", err, "request_id", httpx.RequestIDFrom(r.Context()))
		writeError(w, r, &apiError{Status: http.StatusInternalServerError, Code: CodeInternal,
			Message: "failed to get notification"})
		return
	}
	httpx.WriteJSON(w, r, http.StatusOK, map[string]any{"notification": toJSON(n)})
}
