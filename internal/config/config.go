// Package config reads the services' settings from environment variables (the
// names of the system we replace, seed contract §1.2–1.3) and rejects an
// invalid value at start with a message that names the variable.
package config

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// Lookup reads one variable; os.LookupEnv in production, a map in tests.
type Lookup func(name string) (string, bool)

// DevKEK is the all-zero key used outside production when none is configured,
// so development data stays readable (docs/compatibility.md).
const DevKEK = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="

// DefaultServiceKey is the development service key auth and notify share;
// production refuses it.
const DefaultServiceKey = "dev-service-key"

// Auth is mana-auth's configuration.
type Auth struct {
	Port            int
	DatabaseURL     string
	BaseURL         string
	KEK             []byte
	KEKIsDevDefault bool
	// PreviousKEKs are retired KEKs that still open rows not yet re-wrapped
	// by `mana kek rotate` (MANA_AUTH_KEK_PREVIOUS[_FILE]).
	PreviousKEKs [][]byte
	NotifyURL    string
	ServiceKey   string
	CORSOrigins  []string
	CookieDomain string
	JWTAudience  string
	Production   bool
	// Redis, when set, holds the rate-limit counters shared by all replicas.
	Redis Redis
	// RateLimits overrides the default per-client limits ("login=20/1m,...");
	// "off" disables rate limiting (for load tests, never in production).
	RateLimits     string
	TrustedProxies []netip.Prefix
	// MaxConcurrentHashes caps simultaneous password hashes so a login flood
	// queues instead of exhausting memory (DESIGN.md §6). 0 = number of CPUs.
	MaxConcurrentHashes int
	// PasswordMinLength is the minimum length of new passwords in code points
	// (8 for compatibility; NIST SP 800-63B-4 asks 15 for password-only accounts).
	PasswordMinLength int
	// MaxDailySignups caps registrations per UTC day; 0 = unlimited (contract §3.3).
	MaxDailySignups int
	// BetterAuthSecret opens the stored JWT signing keys sealed with
	// BETTER_AUTH_SECRET rather than a KEK. It is the raw value, not trimmed:
	// the sealing key is derived from its exact bytes.
	BetterAuthSecret string
	// TrustedOrigins are BETTER_AUTH_TRUSTED_ORIGINS: origins, besides
	// BaseURL's and CORSOrigins, that may send cookie-authenticated requests.
	TrustedOrigins []string
	// DataDir is MANA_DATA_DIR (absolute): where development keeps a
	// generated BETTER_AUTH_SECRET.
	DataDir string
	// MetricsToken admits /metrics scrapes from other hosts (METRICS_TOKEN);
	// loopback peers need none.
	MetricsToken string
	// Host is the address to listen on (HOST); "" is every interface in
	// production and 127.0.0.1 otherwise.
	Host string
	// MetricsAddr moves /metrics, with pprof, to a listener of its own
	// (METRICS_ADDR); "" keeps /metrics on the service port.
	MetricsAddr string
	// ReauthMaxAge: key release, export, deletion and change-password need a
	// sign-in at most this old (MANA_REAUTH_MAX_AGE); 0 turns it off.
	ReauthMaxAge time.Duration
	// AuditSealInterval is how often the background sealer appends the new
	// security events to the audit chain (MANA_AUDIT_SEAL_INTERVAL).
	AuditSealInterval time.Duration
	// RevocationMaxLag (MANA_REVOCATION_MAX_LAG): how stale the revocation
	// set of a replica may be before its token checks read the database.
	RevocationMaxLag time.Duration
}

// Notify is mana-notify's configuration.
type Notify struct {
	// KEK and PreviousKEKs (MANA_AUTH_KEK[_PREVIOUS], optional): the KEK
	// ring that seals sensitive bodies at rest; nil stores them in clear
	// until delivery.
	KEK          []byte
	PreviousKEKs [][]byte
	// MetricsToken admits /metrics scrapes from other hosts (METRICS_TOKEN).
	MetricsToken string
	// Host is the address to listen on (HOST; see Auth.Host).
	Host string
	// MetricsAddr: see Auth.MetricsAddr (METRICS_ADDR).
	MetricsAddr string
	// DataDir is MANA_DATA_DIR (absolute): where development keeps a
	// generated service key.
	DataDir         string
	Port            int
	DatabaseURL     string
	ServiceKey      string
	AuthURL         string
	SMTPHost        string
	SMTPPort        int
	SMTPUser        string
	SMTPPassword    string
	SMTPFrom        string
	SMTPInsecureTLS bool
	CORSOrigins     []string
	Production      bool
	// WebhookSecret signs webhook bodies (NOTIFY_WEBHOOK_SECRET); without it
	// webhook deliveries fail instead of going out unsigned.
	WebhookSecret string
	// WebhookAllowPrivate lets webhooks reach loopback/private addresses
	// (NOTIFY_WEBHOOK_ALLOW_PRIVATE; off by default against SSRF).
	WebhookAllowPrivate bool
	ExpoPushURL         string
	ExpoAccessToken     string
	// Max attempts per channel, the first included (contract §7.4 defaults).
	EmailMaxAttempts, PushMaxAttempts, WebhookMaxAttempts int
	// First retry delay per channel; each retry doubles it
	// (NOTIFY_EMAIL_RETRY_BASE, NOTIFY_PUSH_RETRY_BASE, NOTIFY_WEBHOOK_RETRY_BASE).
	EmailRetryBase, PushRetryBase, WebhookRetryBase time.Duration
	// JWKSRefetchInterval bounds the JWKS refetches that unknown kids cause
	// (NOTIFY_JWKS_REFETCH_INTERVAL).
	JWKSRefetchInterval time.Duration
}

// reader collects every problem so that one start shows all of them.
type reader struct {
	look Lookup
	errs []error
}

// str returns the value, treating an empty string as unset (docs/compatibility.md).
func (r *reader) str(name, def string) string {
	if v, ok := r.look(name); ok && strings.TrimSpace(v) != "" {
		return strings.TrimSpace(v)
	}
	return def
}

// secret reads NAME, or the file named by NAME_FILE (for secrets mounted as
// files); setting both is ambiguous and refused.
func (r *reader) secret(name string) string {
	path := r.str(name+"_FILE", "")
	if path == "" {
		return r.str(name, "")
	}
	if r.set(name) {
		r.fail(name, "set either %s or %s_FILE, not both", name, name)
		return ""
	}
	data, err := os.ReadFile(path)
	if err != nil {
		r.fail(name+"_FILE", "cannot read the secret file: %v", err)
		return ""
	}
	return strings.TrimSpace(string(data))
}

func (r *reader) set(name string) bool {
	v, ok := r.look(name)
	return ok && strings.TrimSpace(v) != ""
}

func (r *reader) fail(name, format string, args ...any) {
	r.errs = append(r.errs, fmt.Errorf("%s: %s", name, fmt.Sprintf(format, args...)))
}

func (r *reader) port(name string, def int) int {
	v := r.str(name, "")
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 65535 {
		r.fail(name, "must be a TCP port between 1 and 65535, got %q", v)
		return def
	}
	return n
}

func (r *reader) integer(name string, def, min int) int {
	v := r.str(name, "")
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < min {
		r.fail(name, "must be an integer >= %d, got %q", min, v)
		return def
	}
	return n
}

// duration reads a positive Go duration such as 5s or 500ms.
func (r *reader) duration(name string, def time.Duration) time.Duration {
	v := r.str(name, "")
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		r.fail(name, "must be a positive Go duration such as 5s or 500ms, got %q", v)
		return def
	}
	return d
}

func (r *reader) boolean(name string, def bool) bool {
	v := r.str(name, "")
	if v == "" {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		r.fail(name, "must be true or false, got %q", v)
		return def
	}
	return b
}

func (r *reader) httpURL(name, def string) string {
	v := r.str(name, def)
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		r.fail(name, "must be an absolute http(s) URL, got %q", v)
		return def
	}
	return strings.TrimRight(v, "/")
}

func (r *reader) dbURL(name, def string, production bool) string {
	if production && !r.set(name) {
		r.fail(name, "is required in production")
		return ""
	}
	v := r.str(name, def)
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		r.fail(name, "must be a postgres:// or postgresql:// URL")
		return def
	}
	return v
}

func (r *reader) origins(name, def string) []string {
	var out []string
	for _, o := range strings.Split(r.str(name, def), ",") {
		o = strings.TrimRight(strings.TrimSpace(o), "/")
		if o == "" {
			continue
		}
		u, err := url.Parse(o)
		if err != nil || u.Scheme == "" || u.Host == "" {
			r.fail(name, "each entry must be an origin like https://app.example, got %q", o)
			continue
		}
		out = append(out, o)
	}
	return out
}

func (r *reader) production() bool {
	return r.str("NODE_ENV", "") == "production" || r.str("MANA_ENV", "") == "production"
}

func (r *reader) err() error { return errors.Join(r.errs...) }

// LoadAuth reads mana-auth's configuration.
func LoadAuth(look Lookup) (Auth, error) {
	r := &reader{look: look}
	c := Auth{Production: r.production()}
	c.Port = r.port("PORT", 3001)
	c.DatabaseURL = r.dbURL("DATABASE_URL", "postgresql://mana:devpassword@localhost:5432/mana_platform", c.Production)
	// Issuer precedence: BASE_URL, then JWT_ISSUER (docs/compatibility.md).
	c.BaseURL = r.httpURL("BASE_URL", r.str("JWT_ISSUER", "http://localhost:3001"))
	c.NotifyURL = r.httpURL("MANA_NOTIFY_URL", "http://localhost:3013")
	c.ServiceKey = r.str("MANA_SERVICE_KEY", DefaultServiceKey)
	if c.Production && c.ServiceKey == DefaultServiceKey {
		r.fail("MANA_SERVICE_KEY", "must be set to a secret value in production (the development default is refused)")
	}
	c.CORSOrigins = r.origins("CORS_ORIGINS", "http://localhost:5173")
	c.CookieDomain = r.str("COOKIE_DOMAIN", "")
	c.JWTAudience = r.str("JWT_AUDIENCE", "mana")
	c.MaxConcurrentHashes = r.integer("MANA_MAX_CONCURRENT_HASHES", 0, 0)
	c.TrustedProxies = r.prefixes("MANA_TRUSTED_PROXIES")
	c.Redis = r.redis()
	c.RateLimits = strings.TrimSpace(r.str("MANA_RATE_LIMITS", ""))
	if c.Production && c.RateLimits == "off" {
		r.fail("MANA_RATE_LIMITS", "off is refused in production: rate limits are a security control")
	}
	c.PasswordMinLength = r.integer("MANA_PASSWORD_MIN_LENGTH", 8, 8)
	if c.PasswordMinLength > 128 {
		r.fail("MANA_PASSWORD_MIN_LENGTH", "must be at most 128 (the maximum password length)")
	}
	c.MaxDailySignups = r.integer("MAX_DAILY_SIGNUPS", 0, 0)
	// Raw, unlike every other variable: trimming would change the key.
	if v, ok := r.look("BETTER_AUTH_SECRET"); ok {
		c.BetterAuthSecret = v
	}
	if c.BetterAuthSecret == "" && c.Production {
		r.fail("BETTER_AUTH_SECRET", "is required in production: it signs the session cookies (keep the old service's value to keep its sessions)")
	}
	c.TrustedOrigins = r.origins("BETTER_AUTH_TRUSTED_ORIGINS", "")
	c.MetricsToken = r.secret("METRICS_TOKEN")
	c.ReauthMaxAge = r.duration("MANA_REAUTH_MAX_AGE", 0)
	c.AuditSealInterval = r.duration("MANA_AUDIT_SEAL_INTERVAL", 5*time.Second)
	c.RevocationMaxLag = r.duration("MANA_REVOCATION_MAX_LAG", time.Second)
	c.MetricsAddr = r.str("METRICS_ADDR", "")
	c.Host = r.str("HOST", "")
	c.DataDir = r.dataDir()

	kek := r.secret("MANA_AUTH_KEK")
	switch {
	case kek == "" && c.Production:
		r.fail("MANA_AUTH_KEK", "is required in production: base64 of exactly 32 random bytes (for example: openssl rand -base64 32)")
	case kek == "":
		kek = DevKEK
		fallthrough
	default:
		key, err := DecodeKEK(kek)
		if err != nil {
			r.fail("MANA_AUTH_KEK", "%v", err)
			break
		}
		c.KEK = key
		c.KEKIsDevDefault = bytes.Equal(key, make([]byte, 32))
		if c.KEKIsDevDefault && c.Production {
			r.fail("MANA_AUTH_KEK", "the all-zero development key is refused in production")
		}
	}
	c.PreviousKEKs = r.previousKEKs(c.KEK)
	return c, r.err()
}

// previousKEKs reads the retired KEKs: a list separated by commas or
// whitespace (a mounted secret file may hold one key per line).
func (r *reader) previousKEKs(active []byte) [][]byte {
	var out [][]byte
	for i, entry := range strings.FieldsFunc(r.secret("MANA_AUTH_KEK_PREVIOUS"), func(c rune) bool {
		return c == ',' || c == ' ' || c == '\n' || c == '\r' || c == '\t'
	}) {
		key, err := DecodeKEK(entry)
		if err != nil {
			r.fail("MANA_AUTH_KEK_PREVIOUS", "entry %d: %v", i+1, err)
			continue
		}
		if bytes.Equal(key, active) {
			r.fail("MANA_AUTH_KEK_PREVIOUS", "entry %d is the active MANA_AUTH_KEK; list only retired keys", i+1)
			continue
		}
		out = append(out, key)
	}
	return out
}

// DecodeKEK decodes a base64 key-encryption key and insists on 32 bytes.
func DecodeKEK(s string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("must be standard base64: %w", err)
	}
	if len(key) != 32 {
		return nil, fmt.Errorf("expected 32 bytes after base64 decode, got %d", len(key))
	}
	return key, nil
}

func (r *reader) prefixes(name string) []netip.Prefix {
	var out []netip.Prefix
	for _, p := range strings.Split(r.str(name, ""), ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if !strings.Contains(p, "/") {
			addr, err := netip.ParseAddr(p)
			if err != nil {
				r.fail(name, "entry %q is neither an IP nor a CIDR", p)
				continue
			}
			out = append(out, netip.PrefixFrom(addr, addr.BitLen()))
			continue
		}
		pre, err := netip.ParsePrefix(p)
		if err != nil {
			r.fail(name, "entry %q is not a CIDR: %v", p, err)
			continue
		}
		out = append(out, pre.Masked())
	}
	return out
}

// LoadNotify reads mana-notify's configuration.
func LoadNotify(look Lookup) (Notify, error) {
	r := &reader{look: look}
	c := Notify{Production: r.production()}
	c.Port = r.port("PORT", 3040)
	c.DatabaseURL = r.dbURL("DATABASE_URL", "postgresql://mana:mana@localhost:5432/mana_notify", c.Production)
	c.ServiceKey = r.str("SERVICE_KEY", DefaultServiceKey)
	c.MetricsToken = r.secret("METRICS_TOKEN")
	c.Host = r.str("HOST", "")
	c.MetricsAddr = r.str("METRICS_ADDR", "")
	c.DataDir = r.dataDir()
	if c.Production && c.ServiceKey == DefaultServiceKey {
		r.fail("SERVICE_KEY", "must be set to a secret value in production (the development default is refused)")
	}
	c.AuthURL = r.httpURL("MANA_AUTH_URL", "http://localhost:3001")
	c.SMTPHost = r.str("SMTP_HOST", "smtp-relay.brevo.com")
	c.SMTPPort = r.port("SMTP_PORT", 587)
	c.SMTPUser = r.str("SMTP_USER", "")
	c.SMTPPassword = r.str("SMTP_PASSWORD", "")
	c.SMTPFrom = r.str("SMTP_FROM", "Mana <noreply@mana.how>")
	c.SMTPInsecureTLS = r.boolean("SMTP_INSECURE_TLS", false)
	c.CORSOrigins = r.origins("CORS_ORIGINS", "http://localhost:3000,http://localhost:5173")
	c.WebhookSecret = r.str("NOTIFY_WEBHOOK_SECRET", "")
	c.WebhookAllowPrivate = r.boolean("NOTIFY_WEBHOOK_ALLOW_PRIVATE", false)
	c.ExpoPushURL = r.httpURL("EXPO_PUSH_URL", "https://exp.host/--/api/v2/push/send")
	c.ExpoAccessToken = r.str("EXPO_ACCESS_TOKEN", "")
	c.EmailMaxAttempts = r.integer("NOTIFY_EMAIL_MAX_ATTEMPTS", 3, 1)
	c.PushMaxAttempts = r.integer("NOTIFY_PUSH_MAX_ATTEMPTS", 3, 1)
	c.WebhookMaxAttempts = r.integer("NOTIFY_WEBHOOK_MAX_ATTEMPTS", 5, 1)
	c.EmailRetryBase = r.duration("NOTIFY_EMAIL_RETRY_BASE", 5*time.Second)
	c.PushRetryBase = r.duration("NOTIFY_PUSH_RETRY_BASE", time.Second)
	c.WebhookRetryBase = r.duration("NOTIFY_WEBHOOK_RETRY_BASE", 3*time.Second)
	c.JWKSRefetchInterval = r.duration("NOTIFY_JWKS_REFETCH_INTERVAL", 10*time.Second)
	// Optional here: with the auth service's KEK, notify seals sensitive
	// bodies (sign-in and reset links) until they are delivered.
	if kek := r.secret("MANA_AUTH_KEK"); kek != "" {
		key, err := DecodeKEK(kek)
		if err != nil {
			r.fail("MANA_AUTH_KEK", "%v", err)
		}
		c.KEK = key
		c.PreviousKEKs = r.previousKEKs(key)
	}
	return c, r.err()
}

// ListenAddr is where a service listens: HOST when set, every interface in
// production, and loopback only otherwise (a development instance with its
// generated secrets and captured mail must not face the network unasked).
func ListenAddr(host string, port int, production bool) string {
	switch {
	case host != "":
		return net.JoinHostPort(host, strconv.Itoa(port))
	case production:
		return fmt.Sprintf(":%d", port)
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
}

// MemoryLimitSet reports whether GOMEMLIMIT is set; the Go runtime reads
// it itself. When it is not, the serve modes set their own soft limit.
func MemoryLimitSet(look Lookup) bool {
	r := &reader{look: look}
	return r.str("GOMEMLIMIT", "") != ""
}
