// Package authapi is mana-auth's HTTP layer: it decodes and bounds input,
// calls the auth service, and maps its outcomes to the contract's JSON.
package authapi

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/mana/mana/internal/auth"
	"github.com/mana/mana/internal/httpx"
)

// apiError is the error envelope of DESIGN.md §5.1: error (legacy string or
// code), code, message, status, plus endpoint extras.
type apiError struct {
	status  int
	code    string
	legacy  string // "error" value when it differs from code
	message string
	extra   map[string]any
}

func (e apiError) write(w http.ResponseWriter, r *http.Request) {
	body := map[string]any{"error": e.code, "code": e.code, "message": e.message, "status": e.status}
	if e.legacy != "" {
		body["error"] = e.legacy
	}
	for k, v := range e.extra {
		body[k] = v
	}
	httpx.WriteJSON(w, r, e.status, body)
}

func validation(msg string) apiError {
	return apiError{status: http.StatusBadRequest, code: "VALIDATION", message: msg}
}

var errUnavailable = apiError{status: http.StatusServiceUnavailable, code: "SERVICE_UNAVAILABLE", message: "Service temporarily unavailable"}

// fail maps an error from the service to its response; unexpected errors are
// logged with their cause and answered 500 (or 503 when a dependency is down).
func (a *API) fail(w http.ResponseWriter, r *http.Request, endpoint string, err error) {
	var ve *auth.ValidationError
	var locked *auth.LockedError
	switch {
	case errors.As(err, &ve):
		apiError{status: http.StatusBadRequest, code: ve.Code, message: ve.Message}.write(w, r)
	case errors.As(err, &locked):
		secs := locked.RemainingSeconds()
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		apiError{status: http.StatusTooManyRequests, code: "ACCOUNT_LOCKED", legacy: "Account locked",
			message: "Account temporarily locked", extra: map[string]any{"remainingSeconds": secs, "retryAfterSec": secs}}.write(w, r)
	case errors.Is(err, auth.ErrInvalidCredentials):
		apiError{status: http.StatusUnauthorized, code: "INVALID_CREDENTIALS", message: "Invalid email or password"}.write(w, r)
	case errors.Is(err, auth.ErrEmailNotVerified):
		apiError{status: http.StatusForbidden, code: "EMAIL_NOT_VERIFIED", message: "Email not verified"}.write(w, r)
	case errors.Is(err, auth.ErrSecondFactorRequired):
		apiError{status: http.StatusForbidden, code: "TWO_FACTOR_REQUIRED",
			message: "This account has two-factor authentication: sign in with the second factor",
			extra:   map[string]any{"twoFactorRedirect": true}}.write(w, r)
	case errors.Is(err, auth.ErrSessionInvalid):
		apiError{status: http.StatusUnauthorized, code: "TOKEN_EXPIRED", message: "Session expired"}.write(w, r)
	case errors.Is(err, auth.ErrInvalidCallback):
		apiError{status: http.StatusForbidden, code: "INVALID_CALLBACK_URL", message: "Invalid callbackURL"}.write(w, r)
	case errors.Is(err, auth.ErrUserNotFound):
		apiError{status: http.StatusNotFound, code: "NOT_FOUND", legacy: "User not found", message: "User not found"}.write(w, r)
	case errors.Is(err, auth.ErrWrongPassword):
		apiError{status: http.StatusUnauthorized, code: "INVALID_CREDENTIALS", message: "Invalid password"}.write(w, r)
	case errors.Is(err, auth.ErrTokenInvalid):
		apiError{status: http.StatusBadRequest, code: "TOKEN_INVALID", message: "Invalid token"}.write(w, r)
	case errors.Is(err, auth.ErrTokenExpired):
		// 400 TOKEN_INVALID as the old reset endpoint answered; the message says why.
		apiError{status: http.StatusBadRequest, code: "TOKEN_INVALID", message: "Link expired"}.write(w, r)
	case errors.Is(err, auth.ErrSignupLimit):
		apiError{status: http.StatusTooManyRequests, code: "SIGNUP_LIMIT_REACHED",
			message: "Das tägliche Registrierungslimit ist erreicht. Versuche es morgen wieder."}.write(w, r)
	case errors.Is(err, auth.ErrSessionNotFound):
		apiError{status: http.StatusNotFound, code: "NOT_FOUND", message: "Session not found"}.write(w, r)
	case errors.Is(err, auth.ErrUnavailable):
		a.log.ErrorContext(r.Context(), "failing closed: dependency unavailable", "endpoint", endpoint, "err", err,
			"request_id", httpx.RequestIDFrom(r.Context()))
		errUnavailable.write(w, r)
	default:
		a.log.ErrorContext(r.Context(), "request failed", "endpoint", endpoint, "err", err,
			"request_id", httpx.RequestIDFrom(r.Context()))
		apiError{status: http.StatusInternalServerError, code: "INTERNAL", message: "Unexpected server error"}.write(w, r)
	}
}

// badBody answers a body that could not be read.
func badBody(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, httpx.ErrBodyTooLarge) {
		apiError{status: http.StatusRequestEntityTooLarge, code: "PAYLOAD_TOO_LARGE", message: "Request body too large"}.write(w, r)
		return
	}
	validation("Invalid JSON body").write(w, r)
}
