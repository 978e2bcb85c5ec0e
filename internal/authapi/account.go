package authapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/mana/mana/internal/auth"
	"github.com/mana/mana/internal/httpx"
)

// accountRoutes registers the account-lifecycle endpoints (issue 6).
func (a *API) accountRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/v1/auth/signup-status", a.signupStatus)
	mux.HandleFunc("POST /api/v1/auth/forgot-password", a.forgotPassword)
	mux.HandleFunc("GET /api/auth/reset-password/{token}", a.resetPasswordLink)
	mux.HandleFunc("POST /api/v1/auth/reset-password", a.resetPassword)
	// The /api/v1/auth routes the old service served to the session cookie
	// take a Bearer token or the cookie.
	mux.Handle("POST /api/v1/auth/change-password", a.requireSession(a.recent(a.changePassword)))
	mux.Handle("POST /api/v1/auth/logout-all", a.requireSession(a.logoutAll))
	mux.Handle("POST /api/v1/auth/profile", a.requireSession(a.authProfile))
	mux.Handle("GET /api/v1/auth/security-events", a.requireSession(a.securityEvents))
	mux.Handle("GET /api/v1/auth/sessions", a.requireSession(a.authSessions))
	mux.Handle("DELETE /api/v1/auth/sessions/{id}", a.requireSession(a.revokeSession))
	mux.Handle("GET /api/v1/me/sessions", a.requireBearer(a.listSessions))
	mux.Handle("DELETE /api/v1/me/sessions/{id}", a.requireBearer(a.revokeSession))
	mux.Handle("PATCH /api/v1/me/profile", a.requireBearer(a.meProfile))
	mux.Handle("GET /api/v1/me/data/export", a.requireBearer(a.recent(a.exportData)))
	mux.Handle("DELETE /api/v1/me/data", a.requireBearer(a.recent(a.deleteData)))
}

func (a *API) signupStatus(w http.ResponseWriter, r *http.Request) {
	st, err := a.svc.SignupStatus(r.Context())
	if err != nil {
		a.fail(w, r, "/signup-status", err)
		return
	}
	if st.Limit <= 0 {
		httpx.WriteJSON(w, r, http.StatusOK, map[string]any{"registrationOpen": true, "spotsRemaining": nil,
			"totalToday": 0, "limit": 0, "resetsAt": ""})
		return
	}
	httpx.WriteJSON(w, r, http.StatusOK, map[string]any{"registrationOpen": st.Open(), "spotsRemaining": st.Remaining(),
		"totalToday": st.TotalToday, "limit": st.Limit, "resetsAt": st.ResetsAt.UTC().Format(time.RFC3339)})
}

// forgotPassword always answers {"success":true} (even to a bad body: no
// enumeration), unless the reset could not be recorded — then 503, because
// a mail that was never queued must not look sent.
func (a *API) forgotPassword(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Email      string `json:"email"`
		RedirectTo string `json:"redirectTo"`
	}
	if err := httpx.DecodeJSON(w, r, maxBody, &in, true); err != nil {
		if errors.Is(err, httpx.ErrBodyTooLarge) {
			badBody(w, r, err)
			return
		}
		httpx.WriteJSON(w, r, http.StatusOK, map[string]any{"success": true})
		return
	}
	if err := a.svc.ForgotPassword(r.Context(), in.Email, in.RedirectTo, a.client(r)); err != nil {
		a.fail(w, r, "/forgot-password", err)
		return
	}
	httpx.WriteJSON(w, r, http.StatusOK, map[string]any{"success": true})
}

// resetPasswordLink is the reset mail's link (contract §9.4): it checks the
// token and sends the browser to the client's page with ?token=, or with
// ?error=INVALID_TOKEN. The callback must be allowed (no open redirect).
func (a *API) resetPasswordLink(w http.ResponseWriter, r *http.Request) {
	callback, err := a.svc.CheckCallback(r.URL.Query().Get("callbackURL"))
	if err != nil {
		a.fail(w, r, "/reset-password-link", err)
		return
	}
	secret := r.PathValue("token")
	err = a.svc.CheckResetToken(r.Context(), secret)
	switch {
	case err == nil:
		http.Redirect(w, r, auth.WithQuery(callback, "token", secret), http.StatusFound)
	case errors.Is(err, auth.ErrTokenInvalid), errors.Is(err, auth.ErrTokenExpired):
		http.Redirect(w, r, auth.WithQuery(callback, "error", "INVALID_TOKEN"), http.StatusFound)
	default:
		a.fail(w, r, "/reset-password-link", err)
	}
}

func (a *API) resetPassword(w http.ResponseWriter, r *http.Request) {
	var in struct {
		NewPassword string `json:"newPassword"`
		Token       string `json:"token"`
	}
	if err := httpx.DecodeJSON(w, r, maxBody, &in, false); err != nil {
		badBody(w, r, err)
		return
	}
	if err := a.svc.ResetPassword(r.Context(), in.Token, in.NewPassword, a.client(r)); err != nil {
		a.fail(w, r, "/reset-password", err)
		return
	}
	httpx.WriteJSON(w, r, http.StatusOK, map[string]any{"success": true})
}

func (a *API) changePassword(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	var in struct {
		CurrentPassword string `json:"currentPassword"`
		NewPassword     string `json:"newPassword"`
	}
	if err := httpx.DecodeJSON(w, r, maxBody, &in, false); err != nil {
		badBody(w, r, err)
		return
	}
	err := a.svc.ChangePassword(r.Context(), p, auth.ChangePasswordInput{CurrentPassword: in.CurrentPassword, NewPassword: in.NewPassword}, a.client(r))
	if err != nil {
		a.fail(w, r, "/change-password", err)
		return
	}
	httpx.WriteJSON(w, r, http.StatusOK, map[string]any{"success": true})
}

func (a *API) logoutAll(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	n, err := a.svc.LogoutAll(r.Context(), p, a.client(r))
	if err != nil {
		a.fail(w, r, "/logout-all", err)
		return
	}
	httpx.WriteJSON(w, r, http.StatusOK, map[string]any{"success": true, "revokedSessions": n})
}

func (a *API) listSessions(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	list, err := a.svc.ListSessions(r.Context(), p)
	if err != nil {
		a.fail(w, r, "/me/sessions", err)
		return
	}
	httpx.WriteJSON(w, r, http.StatusOK, map[string]any{"sessions": sessionList(list)})
}

// authSessions is GET /api/v1/auth/sessions: the settings page's shape, a
// bare array.
func (a *API) authSessions(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	list, err := a.svc.ListSessions(r.Context(), p)
	if err != nil {
		a.fail(w, r, "/sessions", err)
		return
	}
	httpx.WriteJSON(w, r, http.StatusOK, sessionList(list))
}

// sessionList is the caller's sessions as both session routes list them.
func sessionList(list []auth.UserSession) []map[string]any {
	out := make([]map[string]any, 0, len(list))
	for _, s := range list {
		device := s.DeviceName
		if device == "" {
			device = s.UserAgent
		}
		out = append(out, map[string]any{"id": s.ID, "device": device, "deviceName": nullable(s.DeviceName),
			"userAgent": nullable(s.UserAgent), "ipAddress": nullable(s.IP), "createdAt": s.CreatedAt.UTC(),
			"lastActivityAt": s.LastActive, "expiresAt": s.ExpiresAt.UTC(), "current": s.Current, "deviceId": nullable(s.DeviceID)})
	}
	return out
}

func (a *API) revokeSession(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	if err := a.svc.RevokeSession(r.Context(), p, r.PathValue("id"), a.client(r)); err != nil {
		a.fail(w, r, "/me/sessions/{id}", err)
		return
	}
	httpx.WriteJSON(w, r, http.StatusOK, map[string]any{"success": true})
}

// profileFields are the editable profile fields in both profile bodies.
type profileFields struct {
	Name                 *string `json:"name"`
	Image                *string `json:"image"`
	FeedbackShowRealName *bool   `json:"feedbackShowRealName"`
}

func (f profileFields) patch() auth.ProfilePatch {
	return auth.ProfilePatch{Name: f.Name, Image: f.Image, FeedbackShowRealName: f.FeedbackShowRealName}
}

// meProfile is PATCH /api/v1/me/profile (contract §2.4). Its errors keep the
// human text in "error", the contract's shape for the /me routes.
func (a *API) meProfile(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	var in profileFields
	if err := httpx.DecodeJSON(w, r, maxBody, &in, false); err != nil {
		badBody(w, r, err)
		return
	}
	out, err := a.svc.UpdateProfile(r.Context(), p, in.patch(), a.client(r))
	var ve *auth.ValidationError
	switch {
	case errors.As(err, &ve):
		apiError{status: http.StatusBadRequest, code: ve.Code, legacy: ve.Message, message: ve.Message}.write(w, r)
		return
	case errors.Is(err, auth.ErrNoProfileFields):
		apiError{status: http.StatusBadRequest, code: "VALIDATION", legacy: "no fields to update", message: "no fields to update"}.write(w, r)
		return
	case err != nil:
		a.fail(w, r, "PATCH /me/profile", err)
		return
	}
	httpx.WriteJSON(w, r, http.StatusOK, map[string]any{"name": out.Name, "image": out.Image, "feedbackShowRealName": out.FeedbackShowRealName})
}

// authProfile is POST /api/v1/auth/profile (contract §2.2): name and image;
// the email cannot be changed here.
func (a *API) authProfile(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	var in struct {
		profileFields
		Email *string `json:"email"`
	}
	if err := httpx.DecodeJSON(w, r, maxBody, &in, false); err != nil {
		badBody(w, r, err)
		return
	}
	if in.Email != nil {
		apiError{status: http.StatusBadRequest, code: "EMAIL_CAN_NOT_BE_UPDATED", message: "Email can not be updated"}.write(w, r)
		return
	}
	_, err := a.svc.UpdateProfile(r.Context(), p, in.patch(), a.client(r))
	if errors.Is(err, auth.ErrNoProfileFields) {
		validation("no fields to update").write(w, r)
		return
	}
	if err != nil {
		a.fail(w, r, "POST /profile", err)
		return
	}
	httpx.WriteJSON(w, r, http.StatusOK, map[string]any{"status": true})
}

func (a *API) securityEvents(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	limit, _ := strconv.Atoi(r.URL.Query().Get("limit")) // absent or bad: the default
	events, err := a.svc.SecurityEvents(r.Context(), p, limit)
	if err != nil {
		a.fail(w, r, "/security-events", err)
		return
	}
	out := make([]map[string]any, 0, len(events))
	for _, e := range events {
		out = append(out, map[string]any{"id": e.ID, "eventType": e.Type, "ipAddress": nullable(e.IP),
			"userAgent": nullable(e.UserAgent), "metadata": e.Metadata, "createdAt": e.CreatedAt.UTC()})
	}
	// A bare array: the settings page (shared-auth) is the route's only client.
	httpx.WriteJSON(w, r, http.StatusOK, out)
}

// exportData is GET /api/v1/me/data/export (contract §2.4): a pretty-printed
// attachment. Passkeys and API keys are not stored by this service: empty lists.
func (a *API) exportData(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	e, err := a.svc.ExportData(r.Context(), p)
	if err != nil {
		a.fail(w, r, "/me/data/export", err)
		return
	}
	sessions := make([]map[string]any, 0, len(e.Sessions))
	for _, s := range e.Sessions {
		sessions = append(sessions, map[string]any{"id": s.ID, "createdAt": s.CreatedAt.UTC(), "expiresAt": s.ExpiresAt.UTC(),
			"ipAddress": nullable(s.IP), "userAgent": nullable(s.UserAgent), "deviceName": nullable(s.DeviceName),
			"lastActivityAt": s.LastActive, "revokedAt": s.RevokedAt})
	}
	events := make([]map[string]any, 0, len(e.Events))
	for _, ev := range e.Events {
		events = append(events, map[string]any{"eventType": ev.Type, "ipAddress": nullable(ev.IP), "createdAt": ev.CreatedAt.UTC()})
	}
	now := a.svc.Now().UTC()
	body, err := json.MarshalIndent(map[string]any{
		"exportedAt": now, "exportVersion": "2.0", "data": meDataBody(e.AccountData),
		"details": map[string]any{"sessions": sessions, "passkeys": []any{}, "apiKeys": []any{}, "securityEvents": events},
	}, "", "  ")
	if err != nil {
		a.fail(w, r, "/me/data/export", err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Disposition", `attachment; filename="meine-daten-`+now.Format("2006-01-02")+`.json"`)
	w.WriteHeader(http.StatusOK)
	if _, err := w.Write(append(body, '\n')); err != nil {
		a.log.WarnContext(r.Context(), "write export", "err", err)
	}
}

// deleteData is DELETE /api/v1/me/data (contract §2.4). The sync and credits
// services are not wired in: their entry says so instead of claiming success.
func (a *API) deleteData(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	d, err := a.svc.DeleteAccount(r.Context(), p)
	if err != nil {
		a.fail(w, r, "DELETE /me/data", err)
		return
	}
	total := d.Sessions + d.Accounts
	if d.UserDeleted {
		total++
	}
	httpx.WriteJSON(w, r, http.StatusOK, map[string]any{
		"success": true,
		"deletedFromProjects": []map[string]any{{"projectId": "sync", "projectName": "Sync-Daten", "success": false,
			"error": "Sync-Datenbank nicht konfiguriert"}},
		"deletedFromAuth": map[string]any{"sessions": d.Sessions, "accounts": d.Accounts, "credits": 0, "user": d.UserDeleted},
		"totalDeleted":    total,
	})
}

// nullable writes "" as JSON null.
func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}
