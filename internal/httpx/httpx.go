// Package httpx holds the HTTP plumbing both services share: JSON in and out
// with size limits, request ids, panic recovery, access logs and the client IP.
package httpx

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"
)

// WriteJSON writes v with the status. An encoding failure is logged: the
// header is already sent, so nothing better can be done for this response.
//
// Every answer of these services may carry a token, a key or personal data:
// none may be stored by a cache, and none may be sniffed as another type.
func WriteJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	if err := json.NewEncoder(w).Encode(v); err != nil {
		slog.ErrorContext(r.Context(), "write json response", "err", err, "path", r.URL.Path)
	}
}

// Body errors tell the caller what was wrong with the request body.
var (
	ErrBodyTooLarge = errors.New("request body too large")
	ErrInvalidJSON  = errors.New("invalid JSON body")
)

// DecodeJSON reads at most limit bytes of JSON into dst. An empty body decodes
// as an empty object when allowEmpty is set (clients post `{}` or nothing).
func DecodeJSON(w http.ResponseWriter, r *http.Request, limit int64, dst any, allowEmpty bool) error {
	body := http.MaxBytesReader(w, r.Body, limit)
	data, err := io.ReadAll(body)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return ErrBodyTooLarge
		}
		return fmt.Errorf("%w: %v", ErrInvalidJSON, err)
	}
	if len(strings.TrimSpace(string(data))) == 0 {
		if allowEmpty {
			return nil
		}
		return ErrInvalidJSON
	}
	if err := json.Unmarshal(data, dst); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidJSON, err)
	}
	if hasNULEscape(data) {
		// Valid JSON and valid UTF-8, but PostgreSQL refuses NUL in text and
		// jsonb: let through, it becomes a 5xx there (and is stored on SQLite).
		return fmt.Errorf("%w: a string contains the NUL character (\\u0000)", ErrInvalidJSON)
	}
	return nil
}

// hasNULEscape reports whether valid JSON data holds a \u0000 escape. JSON
// has no raw control characters in strings and no backslash outside them, so
// every backslash starts an escape; skipping the escaped character keeps an
// escaped backslash followed by "u0000" (the text \u0000) from matching.
func hasNULEscape(data []byte) bool {
	for i := 0; i < len(data); i++ {
		if data[i] != '\\' {
			continue
		}
		if bytes.HasPrefix(data[i+1:], []byte("u0000")) {
			return true
		}
		i++
	}
	return false
}

type ctxKey int

const requestIDKey ctxKey = 1

// RequestID echoes an incoming X-Request-Id (bounded) or makes one.
func RequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-Id")
		if id == "" || len(id) > 64 {
			var b [4]byte
			_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
			id = hex.EncodeToString(b[:])
		}
		w.Header().Set("X-Request-Id", id)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestIDKey, id)))
	})
}

// RequestIDFrom returns the request id set by RequestID.
func RequestIDFrom(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// Observe is called once per request with its route pattern, status and duration.
type Observe func(r *http.Request, pattern string, status int, d time.Duration)

// Logging writes one access-log line per request, recovers panics into a 500
// (the panic is logged with its value, never swallowed) and reports to observe.
func Logging(log *slog.Logger, observe Observe, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		quiet := new(bool)
		r = r.WithContext(context.WithValue(r.Context(), quietKey{}, quiet))
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				log.ErrorContext(r.Context(), "panic in handler", "panic", fmt.Sprint(p), "path", LogPath(r), "request_id", RequestIDFrom(r.Context()))
				if rec.status == 0 {
					WriteJSON(rec, r, http.StatusInternalServerError, map[string]any{"statusCode": 500, "message": "Internal server error", "code": "INTERNAL"})
				}
			}
			d := time.Since(start)
			if observe != nil {
				observe(r, r.Pattern, rec.status, d)
			}
			level := slog.LevelInfo
			switch {
			case rec.status >= 500:
				level = slog.LevelError
			case *quiet && rec.status < 400:
				level = slog.LevelDebug
			}
			log.Log(r.Context(), level, "request", "method", MethodLabel(r.Method), "path", LogPath(r), "status", rec.status,
				"duration_ms", float64(d.Microseconds())/1000, "request_id", RequestIDFrom(r.Context()))
		}()
		next.ServeHTTP(rec, r)
	})
}

// quietKey carries the flag QuietOnSuccess sets.
type quietKey struct{}

// QuietOnSuccess logs the request at debug level when it succeeds (status
// below 400): for routes called at high rates whose successes say nothing
// (the token check), so that the access log costs little at 10k requests
// per second. Failures are logged as always.
func QuietOnSuccess(ctx context.Context) {
	if q, ok := ctx.Value(quietKey{}).(*bool); ok {
		*q = true
	}
}

// knownMethods are the methods these services answer; any other is refused
// before it reaches a handler, a log line or a metric label.
var knownMethods = map[string]bool{http.MethodGet: true, http.MethodHead: true, http.MethodPost: true, http.MethodPut: true,
	http.MethodPatch: true, http.MethodDelete: true, http.MethodOptions: true}

// MethodLabel is the method as a label from a fixed set: a client cannot
// create new metric series or log values by inventing methods.
func MethodLabel(m string) string {
	if knownMethods[m] {
		return m
	}
	return "other"
}

// KnownMethods answers 405 to a method outside the fixed set.
func KnownMethods(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !knownMethods[r.Method] {
			WriteJSON(w, r, http.StatusMethodNotAllowed, map[string]any{"statusCode": 405, "code": "METHOD_NOT_ALLOWED",
				"message": "Method not allowed"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// MetricsGuard admits a scrape from a loopback peer (the socket address,
// never a forwarded one) or with "Authorization: Bearer <token>" when a token
// is configured (METRICS_TOKEN); anything else is 403. The metrics name
// routes and outcomes and size the process: not for the public.
func MetricsGuard(token string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if peerIsLoopback(r) || (token != "" && subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), []byte("Bearer "+token)) == 1) {
			next.ServeHTTP(w, r)
			return
		}
		WriteJSON(w, r, http.StatusForbidden, map[string]any{"statusCode": 403, "code": "FORBIDDEN",
			"message": "metrics are served to loopback peers or with the metrics token"})
	})
}

// LoopbackOnly serves loopback peers only (the socket address); others get 403.
func LoopbackOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !peerIsLoopback(r) {
			WriteJSON(w, r, http.StatusForbidden, map[string]any{"statusCode": 403, "code": "FORBIDDEN",
				"message": "served to loopback peers only"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

func peerIsLoopback(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	addr, err := netip.ParseAddr(host)
	return err == nil && addr.Unmap().IsLoopback()
}

// LogPath is the path to log: a secret in the path (a reset link's token)
// is written as its route pattern's wildcard, never as itself.
func LogPath(r *http.Request) string {
	if strings.Contains(r.Pattern, "{token") {
		if _, path, ok := strings.Cut(r.Pattern, " "); ok {
			return path
		}
		return r.Pattern
	}
	return r.URL.Path
}

// CORS answers preflights and sets the allow headers for listed origins only.
func CORS(origins []string, headers string, next http.Handler) http.Handler {
	allowed := make(map[string]bool, len(origins))
	for _, o := range origins {
		allowed[o] = true
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin != "" && allowed[origin] {
			h := w.Header()
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Allow-Credentials", "true")
			h.Add("Vary", "Origin")
			if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
				h.Set("Access-Control-Allow-Methods", "GET, HEAD, PUT, POST, DELETE, PATCH")
				h.Set("Access-Control-Allow-Headers", headers)
				w.WriteHeader(http.StatusNoContent)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// FromTrustedProxy reports whether the socket peer is one of the trusted proxies.
func FromTrustedProxy(r *http.Request, trusted []netip.Prefix) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	addr, err := netip.ParseAddr(host)
	return err == nil && isTrusted(addr.Unmap(), trusted)
}

// ClientIP returns the socket peer, or the right-most untrusted address of
// X-Forwarded-For when the peer is one of the trusted proxies (DESIGN.md §5.9).
func ClientIP(r *http.Request, trusted []netip.Prefix) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	peer = peer.Unmap()
	if !isTrusted(peer, trusted) {
		return peer.String()
	}
	hops := strings.Split(r.Header.Get("X-Forwarded-For"), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break
		}
		a = a.Unmap()
		if !isTrusted(a, trusted) {
			return a.String()
		}
	}
	return peer.String()
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
