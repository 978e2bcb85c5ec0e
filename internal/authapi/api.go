package authapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mana/mana/internal/auth"
	"github.com/mana/mana/internal/httpx"
	"github.com/mana/mana/internal/token"
	"github.com/mana/mana/internal/vault"
)

// maxBody bounds every JSON body of this API; the largest legitimate one
// (email + 128-char password + name + callback) is far below it.
const maxBody = 64 << 10

// API serves mana-auth's routes.
type API struct {
	svc            *auth.Service
	tokens         *token.Issuer
	vault          *vault.Service
	log            *slog.Logger
	trustedProxies []netip.Prefix
	omitHealth     bool
	cookies        cookies
	origins        trustedOrigins
	// untrustedXFF warns once that X-Forwarded-For comes from a peer that
	// is not a trusted proxy (audit I9).
	untrustedXFF sync.Once
	reauthMaxAge time.Duration
	logins       *prometheus.CounterVec
}

// Config wires the API.
type Config struct {
	Service        *auth.Service
	Tokens         *token.Issuer
	Vault          *vault.Service
	Log            *slog.Logger
	TrustedProxies []netip.Prefix
	BaseURL        string
	// BetterAuthSecret signs the session cookies (the old service's key, so
	// its cookies stay valid).
	BetterAuthSecret string
	// CookieDomain shares the session cookie across subdomains (COOKIE_DOMAIN).
	CookieDomain string
	// Production marks the cookies Secure even on http.
	Production bool
	// TrustedOrigins may send cookie-authenticated requests, besides
	// BaseURL's origin: CORS_ORIGINS and BETTER_AUTH_TRUSTED_ORIGINS.
	TrustedOrigins []string
	// ReauthMaxAge gates key release, export, deletion and change-password
	// on a recent sign-in (MANA_REAUTH_MAX_AGE); 0 is off.
	ReauthMaxAge time.Duration
	Registry     *prometheus.Registry
	// OmitHealth leaves /health, /health/ready and /health/live to the host
	// (`mana serve` answers them for auth and notify together).
	OmitHealth bool
}

// New builds the API and registers its metrics.
func New(c Config) *API {
	a := &API{svc: c.Service, tokens: c.Tokens, vault: c.Vault, log: c.Log, trustedProxies: c.TrustedProxies,
		omitHealth: c.OmitHealth}
	a.cookies = newCookies(c.BetterAuthSecret, c.BaseURL, c.CookieDomain, c.Production)
	a.reauthMaxAge = c.ReauthMaxAge
	a.origins = newTrustedOrigins([]string{c.BaseURL}, c.TrustedOrigins)
	a.logins = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mana_auth_logins_total", Help: "Login outcomes.",
	}, []string{"outcome"})
	c.Registry.MustRegister(a.logins)
	return a
}

// Routes registers every route on mux.
func (a *API) Routes(mux *http.ServeMux) {
	mux.HandleFunc("POST /api/v1/auth/register", a.register)
	mux.HandleFunc("GET /api/auth/verify-email", a.verifyEmail)
	mux.HandleFunc("POST /api/v1/auth/resend-verification", a.resendVerification)
	mux.HandleFunc("POST /api/v1/auth/login", a.login)
	mux.HandleFunc("POST /api/v1/auth/validate", a.validate)
	mux.HandleFunc("POST /api/v1/auth/refresh", a.refresh)
	mux.HandleFunc("POST /api/v1/auth/logout", a.logout)
	mux.HandleFunc("GET /api/v1/auth/session", a.session)
	mux.HandleFunc("GET /api/v1/auth/profile", a.session)
	mux.HandleFunc("GET /api/auth/jwks", a.jwks)
	mux.HandleFunc("GET /api/v1/auth/jwks", a.jwks)
	mux.HandleFunc("GET /.well-known/jwks.json", a.jwks)
	a.nativeRoutes(mux)
	mux.Handle("GET /api/v1/me/data", a.requireBearer(a.meData))
	a.vaultRoutes(mux)
	a.accountRoutes(mux)
	// Anything else under /api/v1/me/ needs a token first (contract §1.5).
	mux.Handle("/api/v1/me/", a.requireBearer(func(w http.ResponseWriter, r *http.Request, _ auth.Principal) {
		http.NotFound(w, r)
	}))
	if a.omitHealth {
		return
	}
	mux.HandleFunc("GET /health", a.health)
	// Liveness and readiness apart (ASVS REL-03): a database outage makes
	// the process unready, not dead, so orchestrators do not restart it.
	mux.HandleFunc("GET /health/ready", a.health)
	mux.HandleFunc("GET /health/live", func(w http.ResponseWriter, r *http.Request) {
		httpx.WriteJSON(w, r, http.StatusOK, map[string]any{"status": "ok", "service": "mana-auth"})
	})
}

func (a *API) client(r *http.Request) auth.Client {
	if r.Header.Get("X-Forwarded-For") != "" && !httpx.FromTrustedProxy(r, a.trustedProxies) {
		a.untrustedXFF.Do(func() {
			a.log.Warn("X-Forwarded-For arrives from a peer that is not a trusted proxy: it is ignored, so every client "+
				"behind that proxy shares one rate-limit bucket; list the proxy in MANA_TRUSTED_PROXIES", "peer", r.RemoteAddr)
		})
	}
	ua := r.UserAgent()
	if len(ua) > 512 {
		ua = ua[:512]
	}
	return auth.Client{IP: httpx.ClientIP(r, a.trustedProxies), UserAgent: ua}
}

// ---- JSON shapes ------------------------------------------------------------

type userJSON struct {
	ID               string    `json:"id"`
	Name             string    `json:"name"`
	Email            string    `json:"email"`
	EmailVerified    bool      `json:"emailVerified"`
	Image            *string   `json:"image"`
	CreatedAt        time.Time `json:"createdAt"`
	UpdatedAt        time.Time `json:"updatedAt"`
	AccessTier       string    `json:"accessTier"`
	Kind             string    `json:"kind"`
	TwoFactorEnabled bool      `json:"twoFactorEnabled"`
}

func toUserJSON(u auth.User) userJSON {
	return userJSON{ID: u.ID, Name: u.Name, Email: u.Email, EmailVerified: u.EmailVerified, Image: u.Image,
		CreatedAt: u.CreatedAt.UTC(), UpdatedAt: u.UpdatedAt.UTC(), AccessTier: u.AccessTier, Kind: u.Kind, TwoFactorEnabled: u.TwoFactor}
}

// ---- handlers ---------------------------------------------------------------

func (a *API) register(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Email        string `json:"email"`
		Password     string `json:"password"`
		Name         string `json:"name"`
		SourceAppURL string `json:"sourceAppUrl"`
	}
	if err := httpx.DecodeJSON(w, r, maxBody, &in, false); err != nil {
		badBody(w, r, err)
		return
	}
	u, err := a.svc.Register(r.Context(), auth.RegisterInput{Email: in.Email, Password: in.Password, Name: in.Name, CallbackURL: in.SourceAppURL}, a.client(r))
	if err != nil {
		a.fail(w, r, "/register", err)
		return
	}
	httpx.WriteJSON(w, r, http.StatusOK, map[string]any{"token": nil, "user": toUserJSON(u)})
}

func (a *API) verifyEmail(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	callback, err := a.svc.CheckCallback(q.Get("callbackURL"))
	if err != nil {
		a.fail(w, r, "/verify-email", err)
		return
	}
	verified, err := a.svc.VerifyEmail(r.Context(), q.Get("token"), a.client(r))
	code := ""
	switch {
	case err == nil:
	case errors.Is(err, auth.ErrTokenInvalid):
		code = "INVALID_TOKEN"
	case errors.Is(err, auth.ErrTokenExpired):
		code = "TOKEN_EXPIRED"
	case errors.Is(err, auth.ErrUserNotFound):
		code = "USER_NOT_FOUND"
	default:
		// The database failed: say so rather than redirect as if the link were bad.
		a.fail(w, r, "/verify-email", err)
		return
	}
	if code != "" {
		http.Redirect(w, r, auth.WithQuery(callback, "error", code), http.StatusFound)
		return
	}
	if verified.Session != nil {
		// Verifying signs the user in, as the old service did.
		a.cookies.setSession(w, verified.SessionToken, false)
	}
	http.Redirect(w, r, callback, http.StatusFound)
}

func (a *API) resendVerification(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Email        string `json:"email"`
		SourceAppURL string `json:"sourceAppUrl"`
	}
	if err := httpx.DecodeJSON(w, r, maxBody, &in, false); err != nil {
		badBody(w, r, err)
		return
	}
	if err := a.svc.ResendVerification(r.Context(), in.Email, in.SourceAppURL, a.client(r)); err != nil {
		a.fail(w, r, "/resend-verification", err)
		return
	}
	httpx.WriteJSON(w, r, http.StatusOK, map[string]any{"success": true})
}

func (a *API) login(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Email    string `json:"email"`
		Password string `json:"password"`
	}
	if err := httpx.DecodeJSON(w, r, maxBody, &in, false); err != nil {
		badBody(w, r, err)
		return
	}
	res, err := a.svc.Login(r.Context(), in.Email, in.Password, a.client(r))
	if err != nil {
		a.logins.WithLabelValues(loginOutcome(err)).Inc()
		a.fail(w, r, "/login", err)
		return
	}
	a.logins.WithLabelValues("success").Inc()
	httpx.WriteJSON(w, r, http.StatusOK, map[string]any{
		"redirect": false, "token": res.RefreshToken, "user": toUserJSON(res.User),
		"accessToken": res.AccessToken, "refreshToken": res.RefreshToken,
	})
}

func loginOutcome(err error) string {
	var locked *auth.LockedError
	var ve *auth.ValidationError
	switch {
	case errors.As(err, &locked):
		return "locked"
	case errors.As(err, &ve):
		return "invalid_request"
	case errors.Is(err, auth.ErrInvalidCredentials):
		return "invalid_credentials"
	case errors.Is(err, auth.ErrEmailNotVerified):
		return "email_not_verified"
	case errors.Is(err, auth.ErrUnavailable):
		return "unavailable"
	}
	return "error"
}

func (a *API) validate(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Token string `json:"token"`
	}
	if err := httpx.DecodeJSON(w, r, maxBody, &in, false); err != nil {
		badBody(w, r, err)
		return
	}
	p, err := a.svc.Authenticate(r.Context(), in.Token)
	if errors.Is(err, auth.ErrSessionInvalid) {
		httpx.WriteJSON(w, r, http.StatusOK, map[string]any{"valid": false})
		return
	}
	if err != nil {
		a.fail(w, r, "/validate", err)
		return
	}
	// A valid token is the common case at high rates: its access-log line
	// goes to debug; refusals and errors stay at info and above.
	httpx.QuietOnSuccess(r.Context())
	httpx.WriteJSON(w, r, http.StatusOK, map[string]any{"valid": true, "payload": p.Payload})
}

// refresh rotates the body's refresh token; without one, the session cookie
// gets a fresh pair (an access token and a refresh token of its family).
func (a *API) refresh(w http.ResponseWriter, r *http.Request) {
	var in struct {
		RefreshToken string `json:"refreshToken"`
	}
	if err := httpx.DecodeJSON(w, r, maxBody, &in, true); err != nil {
		badBody(w, r, err)
		return
	}
	if in.RefreshToken == "" && a.cookies.present(r) {
		if e := a.origins.check(r); e != nil {
			e.write(w, r)
			return
		}
		a.cookieTokens(w, r, "/refresh", apiError{status: http.StatusUnauthorized, code: "TOKEN_EXPIRED", message: "Session expired"})
		return
	}
	out, err := a.svc.Refresh(r.Context(), in.RefreshToken, a.client(r))
	if err != nil {
		a.fail(w, r, "/refresh", err)
		return
	}
	httpx.WriteJSON(w, r, http.StatusOK, map[string]any{"accessToken": out.AccessToken, "refreshToken": out.RefreshToken})
}

func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	if !strings.HasPrefix(h, "Bearer ") {
		return "", false
	}
	return strings.TrimSpace(h[len("Bearer "):]), true
}

// logout ends the session named by a Bearer token or the body's refresh
// token; with neither, the session cookie's (origin rule applies).
func (a *API) logout(w http.ResponseWriter, r *http.Request) {
	var in struct {
		RefreshToken string `json:"refreshToken"`
	}
	if err := httpx.DecodeJSON(w, r, maxBody, &in, true); err != nil {
		badBody(w, r, err)
		return
	}
	access, hasBearer := bearer(r)
	if !hasBearer && in.RefreshToken == "" && a.cookies.present(r) {
		if e := a.origins.check(r); e != nil {
			e.write(w, r)
			return
		}
		if err := a.endCookieSession(w, r); err != nil {
			a.fail(w, r, "/logout", err)
			return
		}
		httpx.WriteJSON(w, r, http.StatusOK, map[string]any{"success": true})
		return
	}
	err := a.svc.Logout(r.Context(), auth.LogoutInput{AccessToken: access, RefreshToken: in.RefreshToken}, a.client(r))
	if errors.Is(err, auth.ErrSessionInvalid) {
		// Not a success that did nothing: the client learns its credential
		// names no session (an expired but genuine access token does).
		apiError{status: http.StatusUnauthorized, code: "INVALID_TOKEN",
			message: "No session to log out: the token is unknown or not authentic"}.write(w, r)
		return
	}
	if err != nil {
		a.fail(w, r, "/logout", err)
		return
	}
	httpx.WriteJSON(w, r, http.StatusOK, map[string]any{"success": true})
}

// session answers the caller's session: by a valid Bearer token, else by
// the session cookie (a stale Bearer does not hide a live cookie), else null.
func (a *API) session(w http.ResponseWriter, r *http.Request) {
	if access, ok := bearer(r); ok {
		p, err := a.svc.Authenticate(r.Context(), access)
		if err == nil {
			var view auth.SessionView
			if view, err = a.svc.SessionByID(r.Context(), p); err == nil {
				httpx.WriteJSON(w, r, http.StatusOK, map[string]any{"session": sessionJSON(view.Session, ""), "user": toUserJSON(view.User)})
				return
			}
		}
		if !errors.Is(err, auth.ErrSessionInvalid) {
			a.fail(w, r, "/session", err)
			return
		}
	}
	a.getSession(w, r)
}

func (a *API) jwks(w http.ResponseWriter, r *http.Request) {
	httpx.WriteJSON(w, r, http.StatusOK, a.tokens.JWKS())
}

// requireBearer admits a valid access token of a live session (a logged-out
// session's tokens are refused at once) and fails closed when it cannot check.
func (a *API) requireBearer(next func(http.ResponseWriter, *http.Request, auth.Principal)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		access, ok := bearer(r)
		if !ok {
			httpx.WriteJSON(w, r, http.StatusUnauthorized, map[string]any{"statusCode": 401, "code": "UNAUTHORIZED",
				"message": "Missing or invalid Authorization header"})
			return
		}
		a.withBearer(w, r, access, next)
	})
}

// withBearer authenticates an access token. An expired one answers
// TOKEN_EXPIRED, which the apps' fetch interceptor turns into a refresh.
func (a *API) withBearer(w http.ResponseWriter, r *http.Request, access string, next func(http.ResponseWriter, *http.Request, auth.Principal)) {
	p, err := a.svc.Authenticate(r.Context(), access)
	switch {
	case errors.Is(err, auth.ErrAccessExpired):
		httpx.WriteJSON(w, r, http.StatusUnauthorized, map[string]any{"statusCode": 401, "code": "TOKEN_EXPIRED",
			"error": "TOKEN_EXPIRED", "message": "Token expired"})
	case errors.Is(err, auth.ErrSessionInvalid):
		httpx.WriteJSON(w, r, http.StatusUnauthorized, map[string]any{"statusCode": 401, "code": "UNAUTHORIZED",
			"message": "Invalid or expired token"})
	case err != nil:
		a.fail(w, r, r.URL.Path, err)
	default:
		next(w, r, p)
	}
}

// recent admits a caller whose session was signed in at most ReauthMaxAge
// ago (the token's auth_time), for what hands out or destroys the most:
// key release, export, deletion, change-password (audit F18, CRY-10).
// Off when ReauthMaxAge is 0.
func (a *API) recent(next func(http.ResponseWriter, *http.Request, auth.Principal)) func(http.ResponseWriter, *http.Request, auth.Principal) {
	return func(w http.ResponseWriter, r *http.Request, p auth.Principal) {
		if a.reauthMaxAge > 0 {
			signedIn := time.Unix(p.Claims.AuthTime, 0)
			if p.Claims.AuthTime == 0 || a.svc.Now().Sub(signedIn) > a.reauthMaxAge {
				apiError{status: http.StatusUnauthorized, code: "REAUTH_REQUIRED",
					message: "Sign in again to do this: the last sign-in is too long ago",
					extra:   map[string]any{"maxAgeSeconds": int(a.reauthMaxAge / time.Second)}}.write(w, r)
				return
			}
		}
		next(w, r, p)
	}
}

// requireSession admits a Bearer token (checked as requireBearer does) or,
// without an Authorization header, the session cookie. A request the
// cookie authenticates that can change state must come from a trusted
// origin; a Bearer request is not affected by a cookie riding along.
func (a *API) requireSession(next func(http.ResponseWriter, *http.Request, auth.Principal)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if access, ok := bearer(r); ok {
			a.withBearer(w, r, access, next)
			return
		}
		if !a.cookies.present(r) {
			httpx.WriteJSON(w, r, http.StatusUnauthorized, map[string]any{"statusCode": 401, "code": "UNAUTHORIZED",
				"message": "Missing or invalid Authorization header"})
			return
		}
		if e := a.origins.checkUnsafe(r); e != nil {
			e.write(w, r)
			return
		}
		b, err := a.browserSession(w, r)
		if errors.Is(err, auth.ErrSessionInvalid) {
			httpx.WriteJSON(w, r, http.StatusUnauthorized, map[string]any{"statusCode": 401, "code": "UNAUTHORIZED",
				"message": "Invalid or expired session"})
			return
		}
		if err != nil {
			a.fail(w, r, r.URL.Path, err)
			return
		}
		next(w, r, b.Principal())
	})
}

// Ping checks auth's database, for a host's combined health check.
func (a *API) Ping(ctx context.Context) error { return a.svc.Ping(ctx) }

// CutoverState is "window" while the cut-over's rollback window is open,
// else "finalized" (reported by /health).
func (a *API) CutoverState(ctx context.Context) (string, error) {
	window, err := a.svc.RollbackWindow(ctx)
	if err != nil {
		return "", err
	}
	if window {
		return "window", nil
	}
	return "finalized", nil
}

func (a *API) health(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	state, err := a.CutoverState(ctx)
	if err == nil {
		err = a.svc.Ping(ctx)
	}
	if err != nil {
		a.log.ErrorContext(r.Context(), "health check failed", "err", err)
		httpx.WriteJSON(w, r, http.StatusServiceUnavailable, map[string]any{"status": "unhealthy", "service": "mana-auth",
			"timestamp": time.Now().UTC(), "checks": map[string]any{"database": false}})
		return
	}
	httpx.WriteJSON(w, r, http.StatusOK, map[string]any{"status": "ok", "service": "mana-auth",
		"timestamp": time.Now().UTC(), "checks": map[string]any{"database": true}, "cutover": state})
}
