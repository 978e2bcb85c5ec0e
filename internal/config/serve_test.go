package config

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestNotifyDurations(t *testing.T) {
	c, err := LoadNotify(env())
	if err != nil || c.EmailRetryBase != 5*time.Second || c.PushRetryBase != time.Second ||
		c.WebhookRetryBase != 3*time.Second || c.JWKSRefetchInterval != 10*time.Second {
		t.Fatalf("defaults: %+v, %v", c, err)
	}
	c, err = LoadNotify(env("NOTIFY_EMAIL_RETRY_BASE", " 50ms ", "NOTIFY_PUSH_RETRY_BASE", "2s",
		"NOTIFY_WEBHOOK_RETRY_BASE", "1m", "NOTIFY_JWKS_REFETCH_INTERVAL", "", "NOTIFY_EMAIL_MAX_ATTEMPTS", "4"))
	if err != nil || c.EmailRetryBase != 50*time.Millisecond || c.PushRetryBase != 2*time.Second ||
		c.WebhookRetryBase != time.Minute || c.JWKSRefetchInterval != 10*time.Second || c.EmailMaxAttempts != 4 {
		t.Fatalf("set (empty = unset): %+v, %v", c, err)
	}
	// Negative control: dropping the d <= 0 check in reader.duration lets "0s" and "-1s" through.
	for _, name := range []string{"NOTIFY_EMAIL_RETRY_BASE", "NOTIFY_PUSH_RETRY_BASE", "NOTIFY_WEBHOOK_RETRY_BASE", "NOTIFY_JWKS_REFETCH_INTERVAL"} {
		for _, bad := range []string{"5", "0s", "-1s", "soon"} {
			_, err := LoadNotify(env(name, bad))
			want := name + ": must be a positive Go duration such as 5s or 500ms, got " + `"` + bad + `"`
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("%s=%q: err = %v, want %q", name, bad, err, want)
			}
		}
	}
}

func TestBetterAuthSecretIsRaw(t *testing.T) {
	for _, v := range []string{"", "s3cret", " padded secret \n"} {
		c, err := LoadAuth(env("BETTER_AUTH_SECRET", v))
		if err != nil || c.BetterAuthSecret != v {
			t.Errorf("BETTER_AUTH_SECRET=%q: got %q, %v", v, c.BetterAuthSecret, err)
		}
	}
	if c, _ := LoadAuth(env()); c.BetterAuthSecret != "" {
		t.Errorf("unset: %q", c.BetterAuthSecret)
	}
}

// prodServe is a valid production configuration of `mana serve`.
func prodServe(kv ...string) Lookup {
	return env(append([]string{"NODE_ENV", "production", "DATABASE_URL", "postgres://db/mana", "MANA_AUTH_KEK", testKEK,
		"MANA_SERVICE_KEY", "a", "SERVICE_KEY", "n", "SMTP_HOST", "smtp.example", "BETTER_AUTH_SECRET", "s3cret"}, kv...)...)
}

func TestServeDefaults(t *testing.T) {
	s, err := LoadServe(env("PORT", "4000"))
	if err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs("mana-data")
	if s.LocalURL != "http://localhost:4000" || s.Auth.BaseURL != s.LocalURL || s.Notify.AuthURL != s.LocalURL ||
		s.Auth.Port != 4000 || s.Notify.Port != 4000 || s.DataDir != abs || s.SMTPSet || s.DatabaseSet {
		t.Fatalf("defaults: %+v", s)
	}
	// The standalone services keep their own defaults.
	if a, _ := LoadAuth(env("PORT", "4000")); a.BaseURL != "http://localhost:3001" {
		t.Errorf("LoadAuth BaseURL = %q", a.BaseURL)
	}

	s, err = LoadServe(env("JWT_ISSUER", "https://id.example", "MANA_AUTH_URL", "http://auth:3001/",
		"MANA_DATA_DIR", " /var/mana ", "SMTP_HOST", "mail", "DATABASE_URL", "postgres://db/x"))
	if err != nil {
		t.Fatal(err)
	}
	if s.LocalURL != "http://localhost:3001" || s.Auth.BaseURL != "https://id.example" || s.Notify.AuthURL != "http://auth:3001" ||
		s.DataDir != "/var/mana" || !s.SMTPSet || !s.DatabaseSet || s.Auth.DatabaseURL != "postgres://db/x" {
		t.Fatalf("configured: %+v", s)
	}
	s, err = LoadServe(env("BASE_URL", "https://a.example", "MANA_DATA_DIR", "rel", "SMTP_HOST", " ", "DATABASE_URL", ""))
	abs, _ = filepath.Abs("rel")
	if err != nil || s.Auth.BaseURL != "https://a.example" || s.DataDir != abs || s.SMTPSet || s.DatabaseSet {
		t.Fatalf("BASE_URL, relative dir, blank = unset: %+v %v", s, err)
	}
}

func TestServeProduction(t *testing.T) {
	s, err := LoadServe(prodServe())
	if err != nil || !s.Auth.Production || !s.SMTPSet || !s.DatabaseSet {
		t.Fatalf("valid production refused: %v %+v", err, s)
	}
	// Negative control: removing the SMTP_HOST check in LoadServe makes the
	// first case pass without an error.
	for name, tc := range map[string]struct {
		env  Lookup
		want []string
	}{
		"no SMTP_HOST": {prodServe("SMTP_HOST", ""),
			[]string{"SMTP_HOST: is required in production (without it mail is only captured locally)"}},
		// As `mana serve` always did: production needs PostgreSQL.
		"no DATABASE_URL": {prodServe("DATABASE_URL", ""), []string{"DATABASE_URL: is required in production"}},
		"everything at once": {env("MANA_ENV", "production", "NOTIFY_JWKS_REFETCH_INTERVAL", "0", "PORT", "x"),
			[]string{"SMTP_HOST: is required", "DATABASE_URL: is required", "MANA_AUTH_KEK", "NOTIFY_JWKS_REFETCH_INTERVAL", "PORT"}},
	} {
		_, err := LoadServe(tc.env)
		for _, want := range tc.want {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("%s: err = %v, want it to mention %q", name, err, want)
			}
		}
	}
	if _, err := LoadServe(env("SMTP_HOST", "")); err != nil {
		t.Errorf("development without SMTP_HOST (capture): %v", err)
	}
}

func TestCommand(t *testing.T) {
	abs, _ := filepath.Abs("mana-data")
	c, err := LoadCommand(env())
	if err != nil || c.DatabaseURL != "" || c.DataDir != abs {
		t.Fatalf("defaults: %+v %v", c, err)
	}
	c, err = LoadCommand(env("DATABASE_URL", " postgres://db/x ", "MANA_DATA_DIR", "/data"))
	if err != nil || c.DatabaseURL != "postgres://db/x" || c.DataDir != "/data" {
		t.Fatalf("set: %+v %v", c, err)
	}
	// Production mode does not make an operator command's DATABASE_URL required here.
	if c, err := LoadCommand(env("NODE_ENV", "production", "DATABASE_URL", "  ")); err != nil || c.DatabaseURL != "" {
		t.Fatalf("blank: %+v %v", c, err)
	}
}

func TestProbePort(t *testing.T) {
	for _, c := range []struct {
		port string
		want int
	}{{"", 3001}, {"3040", 3040}, {" 3040 ", 3040}} {
		got, err := ProbePort(env("PORT", c.port))
		if err != nil || got != c.want {
			t.Errorf("PORT=%q: %d, %v; want %d", c.port, got, err, c.want)
		}
	}
	if got, err := ProbePort(env()); err != nil || got != 3001 {
		t.Errorf("unset: %d %v", got, err)
	}
	for _, bad := range []string{"http", "0", "65536"} {
		if _, err := ProbePort(env("PORT", bad)); err == nil || !strings.HasPrefix(err.Error(), "PORT: ") {
			t.Errorf("PORT=%q: err = %v", bad, err)
		}
	}
}

// TestListenAddr (audit F7): development listens on loopback unless HOST
// says otherwise; production on every interface.
// Negative control: returning ":port" for development fails the first row.
func TestListenAddr(t *testing.T) {
	for _, c := range []struct {
		host       string
		production bool
		want       string
	}{
		{"", false, "127.0.0.1:3001"},
		{"", true, ":3001"},
		{"0.0.0.0", false, "0.0.0.0:3001"},
		{"::1", true, "[::1]:3001"},
	} {
		if got := ListenAddr(c.host, 3001, c.production); got != c.want {
			t.Errorf("ListenAddr(%q, production %v) = %q, want %q", c.host, c.production, got, c.want)
		}
	}
}
