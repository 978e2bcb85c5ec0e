package notifyapi

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mana/mana/internal/notify"

	"github.com/mana/mana/internal/httpx"
	"github.com/mana/mana/internal/notify/jwtauth"
)

type userKey struct{}

func userFrom(ctx context.Context) jwtauth.User {
	u, _ := ctx.Value(userKey{}).(jwtauth.User)
	return u
}

// requireUser admits requests with a valid, live mana-auth access token. The
// 401 bodies are the contract's plain-text quirk; when mana-auth cannot be
// asked the request fails closed with 503.
func (a *API) requireUser(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Get("Authorization")
		tok, ok := strings.CutPrefix(h, "Bearer ")
		if !ok || strings.TrimSpace(tok) == "" {
			http.Error(w, `{"error":"unauthorized: missing token"}`, http.StatusUnauthorized)
			return
		}
		if a.Users == nil {
			a.Log.ErrorContext(r.Context(), "JWT routes called but no authenticator is configured")
			writeError(w, r, &apiError{Status: http.StatusServiceUnavailable, Code: CodeUnavailable,
				Message: "token verification unavailable"})
			return
		}
		u, err := a.Users.Authenticate(r.Context(), strings.TrimSpace(tok))
		switch {
		case errors.Is(err, jwtauth.ErrInvalid):
			http.Error(w, `{"error":"unauthorized: invalid token"}`, http.StatusUnauthorized)
			return
		case err != nil:
			a.Log.ErrorContext(r.Context(), "verify access token", "err", err, "request_id", httpx.RequestIDFrom(r.Context()))
			writeError(w, r, &apiError{Status: http.StatusServiceUnavailable, Code: CodeUnavailable,
				Message: "token verification unavailable"})
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), userKey{}, u)))
	})
}

const maxPushTokenChars = 512

func (a *API) registerDevice(w http.ResponseWriter, r *http.Request) {
	var req struct {
		PushToken  string `json:"pushToken"`
		TokenType  string `json:"tokenType"`
		Platform   string `json:"platform"`
		DeviceName string `json:"deviceName"`
		AppID      string `json:"appId"`
	}
	if !decodeBody(w, r, 64<<10, &req, false) {
		return
	}
	if req.PushToken == "" {
		writeError(w, r, invalid("pushToken is required"))
		return
	}
	if req.TokenType == "" {
		req.TokenType = "expo"
	}
	for _, f := range []struct {
		name, value string
		max         int
	}{{"pushToken", req.PushToken, maxPushTokenChars}, {"tokenType", req.TokenType, 20}, {"platform", req.Platform, 20},
		{"deviceName", req.DeviceName, 100}, {"appId", req.AppID, notify.MaxAppIDChars}} {
		if utf8.RuneCountInString(f.value) > f.max || strings.ContainsRune(f.value, 0) {
			writeError(w, r, invalid("%s must be at most %d characters", f.name, f.max))
			return
		}
	}
	id, err := a.Store.RegisterDevice(r.Context(), notify.NewDevice{UserID: userFrom(r.Context()).ID,
		PushToken: req.PushToken, TokenType: req.TokenType, Platform: req.Platform, DeviceName: req.DeviceName, AppID: req.AppID})
	if err != nil {
		a.internalError(w, r, "register device", "failed to register device", err)
		return
	}
	httpx.WriteJSON(w, r, http.StatusCreated, map[string]any{"device": map[string]string{"id": id}})
}

func (a *API) listDevices(w http.ResponseWriter, r *http.Request) {
	ds, err := a.Store.ListDevices(r.Context(), userFrom(r.Context()).ID)
	if err != nil {
		a.internalError(w, r, "list devices", "failed to list devices", err)
		return
	}
	httpx.WriteJSON(w, r, http.StatusOK, map[string]any{"devices": ds})
}

func (a *API) deleteDevice(w http.ResponseWriter, r *http.Request) {
	err := a.Store.DeactivateDevice(r.Context(), userFrom(r.Context()).ID, r.PathValue("id"))
	if errors.Is(err, notify.ErrDeviceNotFound) {
		writeError(w, r, &apiError{Status: http.StatusNotFound, Code: CodeNotFound, Message: "device not found"})
		return
	}
	if err != nil {
		a.internalError(w, r, "delete device", "failed to delete device", err)
		return
	}
	httpx.WriteJSON(w, r, http.StatusOK, map[string]bool{"deleted": true})
}

func (a *API) getPreferences(w http.ResponseWriter, r *http.Request) {
	p, err := a.Store.GetPreferences(r.Context(), userFrom(r.Context()).ID)
	if err != nil {
		a.internalError(w, r, "get preferences", "failed to get preferences", err)
		return
	}
	httpx.WriteJSON(w, r, http.StatusOK, map[string]any{"preferences": p})
}

// putPreferences checks every value before storing, so a time zone or clock
// that delivery could not evaluate never reaches the database.
func (a *API) putPreferences(w http.ResponseWriter, r *http.Request) {
	var req notify.PreferencesUpdate
	if !decodeBody(w, r, 64<<10, &req, false) {
		return
	}
	for _, c := range []struct {
		name string
		v    *string
	}{{"quietHoursStart", req.QuietHoursStart}, {"quietHoursEnd", req.QuietHoursEnd}} {
		if c.v != nil && !notify.ValidClock(*c.v) {
			writeError(w, r, invalid("%s must be HH:MM", c.name))
			return
		}
	}
	if req.Timezone != nil {
		if utf8.RuneCountInString(*req.Timezone) > 50 || *req.Timezone == "" {
			writeError(w, r, invalid("timezone must be an IANA time zone name"))
			return
		}
		if _, err := time.LoadLocation(*req.Timezone); err != nil {
			writeError(w, r, invalid("timezone must be an IANA time zone name"))
			return
		}
	}
	if len(req.CategoryPreferences) > 0 && req.CategoryPreferences[0] != '{' && string(req.CategoryPreferences) != "null" {
		writeError(w, r, invalid("categoryPreferences must be an object"))
		return
	}
	if rawJSONHasNUL(req.CategoryPreferences) {
		writeError(w, r, invalid("categoryPreferences must not contain NUL characters"))
		return
	}
	if err := a.Store.PutPreferences(r.Context(), userFrom(r.Context()).ID, req); err != nil {
		a.internalError(w, r, "put preferences", "failed to save preferences", err)
		return
	}
	httpx.WriteJSON(w, r, http.StatusOK, map[string]bool{"updated": true})
}

// ErasePath is where mana-auth asks notify to erase a deleted account's
// rows when notify keeps its own database (service key).
const ErasePath = "/api/v1/users/erase"

// EraseRequest is the body of POST ErasePath.
type EraseRequest struct {
	UserID string `json:"userId"`
	Email  string `json:"email"`
}

// eraseUser removes a deleted account's devices, preferences and
// notifications. Repeating it is harmless (the outbox retries until 2xx).
func (a *API) eraseUser(w http.ResponseWriter, r *http.Request) {
	var req EraseRequest
	if !decodeBody(w, r, 16<<10, &req, false) {
		return
	}
	if req.UserID == "" {
		writeError(w, r, invalid("userId is required"))
		return
	}
	for _, f := range []struct {
		name, value string
		max         int
	}{{"userId", req.UserID, 255}, {"email", req.Email, 320}} {
		if utf8.RuneCountInString(f.value) > f.max || strings.ContainsRune(f.value, 0) {
			writeError(w, r, invalid("%s must be at most %d characters", f.name, f.max))
			return
		}
	}
	erased, err := a.Store.EraseUser(r.Context(), req.UserID, req.Email)
	if err != nil {
		a.internalError(w, r, "erase user", "failed to erase the user's data", err)
		return
	}
	a.Log.InfoContext(r.Context(), "erased a deleted account's notify data", "user_id", req.UserID,
		"devices", erased.Devices, "preferences", erased.Preferences, "notifications", erased.Notifications)
	httpx.WriteJSON(w, r, http.StatusOK, map[string]any{"success": true, "erased": erased})
}
