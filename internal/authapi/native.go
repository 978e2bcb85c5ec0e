package authapi

import (
	"errors"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/mana/mana/internal/auth"
	"github.com/mana/mana/internal/httpx"
)

// The routes below are Better Auth's own (/api/auth/*), which the web apps
// call with the session cookie, and the cookie-to-token bridge. They share
// every rule with /api/v1/auth/*: one sign-in policy (lockout, rate limit,
// audit, verification) behind both doors.
func (a *API) nativeRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /api/auth/sign-in/email", a.signInEmail)
	mux.HandleFunc("POST /api/auth/sign-up/email", a.signUpEmail)
	mux.HandleFunc("GET /api/auth/get-session", a.getSession)
	mux.HandleFunc("POST /api/auth/get-session", func(w http.ResponseWriter, r *http.Request) {
		httpx.WriteJSON(w, r, http.StatusMethodNotAllowed, map[string]any{"code": "METHOD_NOT_ALLOWED_DEFER_SESSION_REQUIRED",
			"message": "POST method requires deferSessionRefresh to be enabled in session config"})
	})
	mux.HandleFunc("GET /api/auth/token", a.cookieToken)
	mux.HandleFunc("POST /api/auth/sign-out", a.signOut)
	mux.HandleFunc("POST /api/v1/auth/session-to-token", a.sessionToToken)
	// Passkeys are not offered yet: say so as JSON, as the old service did
	// when the plugin was off, instead of a text 404.
	mux.HandleFunc("GET /api/v1/auth/passkeys/capability", func(w http.ResponseWriter, r *http.Request) {
		httpx.WriteJSON(w, r, http.StatusOK, map[string]any{"enabled": false, "conditionalUIAvailable": false, "rpId": nil})
	})
	for _, p := range []string{"/api/v1/auth/passkeys", "/api/v1/auth/passkeys/", "/api/auth/passkey/"} {
		mux.HandleFunc(p, func(w http.ResponseWriter, r *http.Request) {
			apiError{status: http.StatusNotFound, code: "PASSKEY_NOT_ENABLED", message: "Passkey authentication is not enabled"}.write(w, r)
		})
	}
}

// nativeBody is a sign-in or sign-up body, as JSON or as a form post.
type nativeBody struct {
	Email       string `json:"email"`
	Password    string `json:"password"`
	Name        string `json:"name"`
	CallbackURL string `json:"callbackURL"`
	RememberMe  *bool  `json:"rememberMe"`
}

func decodeNative(w http.ResponseWriter, r *http.Request, in *nativeBody) error {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct != "application/x-www-form-urlencoded" && ct != "multipart/form-data" {
		return httpx.DecodeJSON(w, r, maxBody, in, false)
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	if err := r.ParseForm(); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return httpx.ErrBodyTooLarge
		}
		return httpx.ErrInvalidJSON
	}
	in.Email, in.Password, in.Name, in.CallbackURL = r.PostForm.Get("email"), r.PostForm.Get("password"),
		r.PostForm.Get("name"), r.PostForm.Get("callbackURL")
	if v := r.PostForm.Get("rememberMe"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return httpx.ErrInvalidJSON
		}
		in.RememberMe = &b
	}
	for _, v := range []string{in.Email, in.Password, in.Name, in.CallbackURL} {
		if strings.ContainsRune(v, 0) {
			return httpx.ErrInvalidJSON
		}
	}
	return nil
}

// nativeFail answers a sign-in failure with Better Auth's codes where its
// clients read them; every other outcome as on /api/v1/auth.
func (a *API) nativeFail(w http.ResponseWriter, r *http.Request, endpoint string, err error) {
	switch {
	case errors.Is(err, auth.ErrInvalidCredentials):
		apiError{status: http.StatusUnauthorized, code: "INVALID_EMAIL_OR_PASSWORD", message: "Invalid email or password"}.write(w, r)
	default:
		a.fail(w, r, endpoint, err)
	}
}

// nativeInput applies the sign-in door's origin rule, reads the body and
// checks its callbackURL; ok is false when an answer was written.
func (a *API) nativeInput(w http.ResponseWriter, r *http.Request, endpoint string) (in nativeBody, callback string, ok bool) {
	if e := a.origins.checkSignIn(r); e != nil {
		e.write(w, r)
		return in, "", false
	}
	if err := decodeNative(w, r, &in); err != nil {
		badBody(w, r, err)
		return in, "", false
	}
	callback, err := a.optionalCallback(in.CallbackURL)
	if err != nil {
		a.fail(w, r, endpoint, err)
		return in, "", false
	}
	return in, callback, true
}

func (a *API) signInEmail(w http.ResponseWriter, r *http.Request) {
	in, callback, ok := a.nativeInput(w, r, "/sign-in/email")
	if !ok {
		return
	}
	short := in.RememberMe != nil && !*in.RememberMe
	res, err := a.svc.SignIn(r.Context(), auth.SignInInput{Email: in.Email, Password: in.Password, ShortSession: short,
		Endpoint: "/sign-in/email"}, a.client(r))
	if errors.Is(err, auth.ErrSecondFactorRequired) {
		// The old service's answer: the client goes on to the second factor.
		a.logins.WithLabelValues("second_factor").Inc()
		httpx.WriteJSON(w, r, http.StatusOK, map[string]any{"twoFactorRedirect": true})
		return
	}
	if err != nil {
		a.logins.WithLabelValues(loginOutcome(err)).Inc()
		a.nativeFail(w, r, "/sign-in/email", err)
		return
	}
	a.logins.WithLabelValues("success").Inc()
	a.cookies.setSession(w, res.SessionToken, short)
	body := map[string]any{"redirect": callback != "", "token": res.SessionToken, "user": toUserJSON(res.User)}
	if callback != "" {
		body["url"] = callback
		w.Header().Set("Location", callback)
	}
	httpx.WriteJSON(w, r, http.StatusOK, body)
}

// optionalCallback checks a callbackURL when one was given.
func (a *API) optionalCallback(raw string) (string, error) {
	if raw == "" {
		return "", nil
	}
	return a.svc.CheckCallback(raw)
}

func (a *API) signUpEmail(w http.ResponseWriter, r *http.Request) {
	in, _, ok := a.nativeInput(w, r, "/sign-up/email")
	if !ok {
		return
	}
	u, err := a.svc.Register(r.Context(), auth.RegisterInput{Email: in.Email, Password: in.Password, Name: in.Name,
		CallbackURL: in.CallbackURL}, a.client(r))
	if err != nil {
		a.fail(w, r, "/sign-up/email", err)
		return
	}
	httpx.WriteJSON(w, r, http.StatusOK, map[string]any{"token": nil, "user": toUserJSON(u)})
}

// browserSession is the live session of the request's session cookie. A
// cookie that names no live session is expired in the answer.
func (a *API) browserSession(w http.ResponseWriter, r *http.Request) (auth.BrowserSession, error) {
	tok, ok := a.cookies.sessionToken(r)
	if !ok {
		if a.cookies.present(r) {
			a.cookies.expire(w)
		}
		return auth.BrowserSession{}, auth.ErrSessionInvalid
	}
	b, err := a.svc.SessionByToken(r.Context(), tok, !a.cookies.dontRemember(r))
	switch {
	case errors.Is(err, auth.ErrSessionInvalid):
		a.cookies.expire(w)
	case err == nil && b.Extended:
		a.cookies.setSession(w, tok, false)
	}
	return b, err
}

// writeSession answers get-session: the session and its user, with a fresh
// access token in the set-auth-jwt header (Better Auth's JWT plugin).
func (a *API) writeSession(w http.ResponseWriter, r *http.Request, b auth.BrowserSession, token string) {
	access, _, err := a.svc.AccessToken(r.Context(), b.SessionView)
	if err != nil {
		a.fail(w, r, "/get-session", err)
		return
	}
	w.Header().Set("set-auth-jwt", access)
	w.Header().Add("Access-Control-Expose-Headers", "set-auth-jwt")
	httpx.WriteJSON(w, r, http.StatusOK, map[string]any{"session": sessionJSON(b.Session, token), "user": toUserJSON(b.User)})
}

func sessionJSON(s auth.Session, token string) map[string]any {
	m := map[string]any{"id": s.ID, "expiresAt": s.ExpiresAt.UTC().Format(time.RFC3339Nano), "createdAt": s.CreatedAt.UTC(),
		"updatedAt": s.UpdatedAt.UTC(), "ipAddress": s.IP, "userAgent": s.UserAgent, "userId": s.UserID}
	if token != "" {
		m["token"] = token
	}
	return m
}

// getSession ignores any Authorization header: a stale Bearer that a fetch
// interceptor attaches must not hide the cookie.
func (a *API) getSession(w http.ResponseWriter, r *http.Request) {
	b, err := a.browserSession(w, r)
	if errors.Is(err, auth.ErrSessionInvalid) {
		httpx.WriteJSON(w, r, http.StatusOK, nil)
		return
	}
	if err != nil {
		a.fail(w, r, "/get-session", err)
		return
	}
	tok, _ := a.cookies.sessionToken(r)
	a.writeSession(w, r, b, tok)
}

func (a *API) cookieToken(w http.ResponseWriter, r *http.Request) {
	b, err := a.browserSession(w, r)
	if errors.Is(err, auth.ErrSessionInvalid) {
		httpx.WriteJSON(w, r, http.StatusUnauthorized, map[string]any{"code": "UNAUTHORIZED", "message": "Unauthorized"})
		return
	}
	if err != nil {
		a.fail(w, r, "/token", err)
		return
	}
	access, _, err := a.svc.AccessToken(r.Context(), b.SessionView)
	if err != nil {
		a.fail(w, r, "/token", err)
		return
	}
	httpx.WriteJSON(w, r, http.StatusOK, map[string]any{"token": access})
}

// signOut ends the cookie's session and clears the cookies. Any cookie
// makes it subject to the origin rule (a forged sign-out is still forged).
func (a *API) signOut(w http.ResponseWriter, r *http.Request) {
	if len(r.Cookies()) > 0 {
		if e := a.origins.check(r); e != nil {
			e.write(w, r)
			return
		}
	}
	if err := a.endCookieSession(w, r); err != nil {
		a.fail(w, r, "/sign-out", err)
		return
	}
	httpx.WriteJSON(w, r, http.StatusOK, map[string]any{"success": true})
}

// endCookieSession revokes the session the cookie names, if any, and
// expires the cookies. The caller has applied the origin rule.
func (a *API) endCookieSession(w http.ResponseWriter, r *http.Request) error {
	if tok, ok := a.cookies.sessionToken(r); ok {
		b, err := a.svc.SessionByToken(r.Context(), tok, false)
		switch {
		case err == nil:
			if err := a.svc.EndSession(r.Context(), b.SessionView, a.client(r)); err != nil {
				return err
			}
		case !errors.Is(err, auth.ErrSessionInvalid):
			return err
		}
	}
	a.cookies.expire(w)
	return nil
}

// cookieTokens answers a token pair for the cookie's session: an access
// token and a refresh token of the session's family. The caller has applied
// the origin rule.
func (a *API) cookieTokens(w http.ResponseWriter, r *http.Request, endpoint string, none apiError) {
	b, err := a.browserSession(w, r)
	if errors.Is(err, auth.ErrSessionInvalid) {
		none.write(w, r)
		return
	}
	if err != nil {
		a.fail(w, r, endpoint, err)
		return
	}
	access, _, err := a.svc.AccessToken(r.Context(), b.SessionView)
	if err != nil {
		a.fail(w, r, endpoint, err)
		return
	}
	refresh, err := a.svc.IssueRefreshToken(r.Context(), b.SessionView)
	if err != nil {
		a.fail(w, r, endpoint, err)
		return
	}
	httpx.WriteJSON(w, r, http.StatusOK, map[string]any{"accessToken": access, "refreshToken": refresh})
}

func (a *API) sessionToToken(w http.ResponseWriter, r *http.Request) {
	if e := a.origins.check(r); e != nil && a.cookies.present(r) {
		e.write(w, r)
		return
	}
	a.cookieTokens(w, r, "/session-to-token", apiError{status: http.StatusUnauthorized, code: "UNAUTHORIZED", message: "No valid session"})
}
