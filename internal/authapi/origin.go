package authapi

import (
	"net/http"
	"net/url"
	"strings"
)

// trustedOrigins is the set of origins a browser request may come from:
// BASE_URL's origin, CORS_ORIGINS and BETTER_AUTH_TRUSTED_ORIGINS.
type trustedOrigins map[string]bool

func newTrustedOrigins(lists ...[]string) trustedOrigins {
	t := trustedOrigins{}
	for _, list := range lists {
		for _, o := range list {
			if origin := originOf(o); origin != "" {
				t[origin] = true
			}
		}
	}
	return t
}

// originOf reduces a URL to its origin (scheme://host[:port]); "" when it has none.
func originOf(raw string) string {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Scheme == "" || u.Host == "" {
		return ""
	}
	return strings.ToLower(u.Scheme) + "://" + strings.ToLower(u.Host)
}

var (
	errMissingOrigin = apiError{status: http.StatusForbidden, code: "MISSING_OR_NULL_ORIGIN", message: "Missing or null Origin"}
	errInvalidOrigin = apiError{status: http.StatusForbidden, code: "INVALID_ORIGIN", message: "Invalid origin"}
	errCrossSiteNav  = apiError{status: http.StatusForbidden, code: "CROSS_SITE_NAVIGATION_LOGIN_BLOCKED",
		message: "Cross-site navigation login blocked. This request appears to be a CSRF attack."}
)

// check is the cross-site request forgery rule for a request that a cookie
// may authenticate: its Origin (else Referer) must be a trusted origin.
func (t trustedOrigins) check(r *http.Request) *apiError {
	origin := r.Header.Get("Origin")
	if origin == "" || origin == "null" {
		origin = originOf(r.Header.Get("Referer"))
	}
	if origin == "" || origin == "null" {
		return &errMissingOrigin
	}
	if !t[originOf(origin)] {
		return &errInvalidOrigin
	}
	return nil
}

// checkUnsafe applies check to a request that can change state (not GET,
// HEAD or OPTIONS); safe methods pass.
func (t trustedOrigins) checkUnsafe(r *http.Request) *apiError {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return nil
	}
	return t.check(r)
}

// checkSignIn is the rule of the doors that create a session from a form
// (sign-in, sign-up): a request with cookies must come from a trusted origin;
// one without cookies but with Fetch Metadata must not be a cross-site
// top-level navigation (a login CSRF through a form) and, when cross-site,
// must come from a trusted origin.
func (t trustedOrigins) checkSignIn(r *http.Request) *apiError {
	if len(r.Cookies()) > 0 {
		return t.check(r)
	}
	site := r.Header.Get("Sec-Fetch-Site")
	if site == "" {
		return nil // no browser metadata: not a browser, nothing to forge
	}
	if site == "cross-site" && r.Header.Get("Sec-Fetch-Mode") == "navigate" {
		return &errCrossSiteNav
	}
	if site == "cross-site" {
		return t.check(r)
	}
	return nil
}
