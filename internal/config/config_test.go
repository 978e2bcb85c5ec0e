package config

import (
	"os"
	"strings"
	"testing"
)

func env(kv ...string) Lookup {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

const testKEK = "bWFuYS1pbnRlZ3JhdGlvbi10ZXN0LWtlay0zMmJ5dGU="

func TestAuthDefaultsInDevelopment(t *testing.T) {
	c, err := LoadAuth(env())
	if err != nil {
		t.Fatal(err)
	}
	if c.Port != 3001 || c.JWTAudience != "mana" || !c.KEKIsDevDefault || c.Production || c.BaseURL != "http://localhost:3001" {
		t.Fatalf("defaults = %+v", c)
	}
}

func TestAuthProductionRules(t *testing.T) {
	cases := map[string]struct {
		env  Lookup
		want string
	}{
		"missing KEK":      {env("NODE_ENV", "production", "DATABASE_URL", "postgres://x/y", "MANA_SERVICE_KEY", "s"), "MANA_AUTH_KEK: is required in production"},
		"short KEK":        {env("MANA_ENV", "production", "DATABASE_URL", "postgres://x/y", "MANA_SERVICE_KEY", "s", "MANA_AUTH_KEK", "AAAA"), "expected 32 bytes"},
		"zero KEK":         {env("NODE_ENV", "production", "DATABASE_URL", "postgres://x/y", "MANA_SERVICE_KEY", "s", "MANA_AUTH_KEK", DevKEK), "all-zero"},
		"no database":      {env("NODE_ENV", "production", "MANA_SERVICE_KEY", "s", "MANA_AUTH_KEK", testKEK), "DATABASE_URL: is required"},
		"default key":      {env("NODE_ENV", "production", "DATABASE_URL", "postgres://x/y", "MANA_AUTH_KEK", testKEK), "MANA_SERVICE_KEY"},
		"no cookie secret": {env("NODE_ENV", "production", "DATABASE_URL", "postgres://x/y", "MANA_SERVICE_KEY", "s", "MANA_AUTH_KEK", testKEK), "BETTER_AUTH_SECRET: is required in production"},
		"bad port":         {env("PORT", "eighty"), "PORT: must be a TCP port"},
		"bad base url":     {env("BASE_URL", "localhost:3001"), "BASE_URL"},
		"bad origin":       {env("CORS_ORIGINS", "http://ok.example,not a url"), "CORS_ORIGINS"},
		"bad proxy":        {env("MANA_TRUSTED_PROXIES", "10.0.0.0/33"), "MANA_TRUSTED_PROXIES"},
		"not base64":       {env("MANA_AUTH_KEK", "%%%"), "MANA_AUTH_KEK: must be standard base64"},
	}
	for name, tc := range cases {
		_, err := LoadAuth(tc.env)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want it to mention %q", name, err, tc.want)
		}
	}
	c, err := LoadAuth(env("NODE_ENV", "production", "DATABASE_URL", "postgres://x/y", "MANA_SERVICE_KEY", "s", "MANA_AUTH_KEK", testKEK, "BETTER_AUTH_SECRET", "s3cret"))
	if err != nil || c.KEKIsDevDefault || len(c.KEK) != 32 {
		t.Fatalf("valid production config refused: %v %+v", err, c)
	}
}

func TestNotifyConfig(t *testing.T) {
	c, err := LoadNotify(env("SMTP_PORT", "1026", "SMTP_INSECURE_TLS", "true"))
	if err != nil || c.SMTPPort != 1026 || !c.SMTPInsecureTLS || c.Port != 3040 {
		t.Fatalf("LoadNotify = %+v, %v", c, err)
	}
	if _, err := LoadNotify(env("SMTP_INSECURE_TLS", "sometimes")); err == nil || !strings.Contains(err.Error(), "SMTP_INSECURE_TLS") {
		t.Fatalf("bad bool: %v", err)
	}
	if c.EmailMaxAttempts != 3 || c.PushMaxAttempts != 3 || c.WebhookMaxAttempts != 5 ||
		c.ExpoPushURL != "https://exp.host/--/api/v2/push/send" || c.WebhookSecret != "" {
		t.Fatalf("notify defaults: %+v", c)
	}
	c, err = LoadNotify(env("NOTIFY_WEBHOOK_MAX_ATTEMPTS", "7", "EXPO_PUSH_URL", "http://127.0.0.1:3095/push", "NOTIFY_WEBHOOK_SECRET", "k"))
	if err != nil || c.WebhookMaxAttempts != 7 || c.ExpoPushURL != "http://127.0.0.1:3095/push" || c.WebhookSecret != "k" {
		t.Fatalf("notify settings: %+v %v", c, err)
	}
	for name, value := range map[string]string{"NOTIFY_EMAIL_MAX_ATTEMPTS": "0", "EXPO_PUSH_URL": "exp.host/push"} {
		if _, err := LoadNotify(env(name, value)); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s=%q accepted: %v", name, value, err)
		}
	}
}

func TestRetiredKEKs(t *testing.T) {
	const other = "b3RoZXItb2xkLWtlay1vZi0zMi1ieXRlcy1leGFjdGw=" // "other-old-kek-of-32-bytes-exactl"
	c, err := LoadAuth(env("MANA_AUTH_KEK", DevKEK, "MANA_AUTH_KEK_PREVIOUS", testKEK+" , "+other))
	if err != nil || len(c.PreviousKEKs) != 2 || string(c.PreviousKEKs[0]) != "mana-integration-test-kek-32byte" {
		t.Fatalf("list: %v %q", err, c.PreviousKEKs)
	}

	dir := t.TempDir()
	active := dir + "/kek"
	previous := dir + "/previous"
	if err := os.WriteFile(active, []byte(testKEK+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(previous, []byte(DevKEK+"\n"+other+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err = LoadAuth(env("MANA_AUTH_KEK_FILE", active, "MANA_AUTH_KEK_PREVIOUS_FILE", previous))
	if err != nil || string(c.KEK) != "mana-integration-test-kek-32byte" || len(c.PreviousKEKs) != 2 {
		t.Fatalf("files: %v", err)
	}

	for name, tc := range map[string]struct {
		env  Lookup
		want string
	}{
		"both set":        {env("MANA_AUTH_KEK", testKEK, "MANA_AUTH_KEK_FILE", active), "not both"},
		"missing file":    {env("MANA_AUTH_KEK_PREVIOUS_FILE", dir+"/nope"), "MANA_AUTH_KEK_PREVIOUS_FILE: cannot read"},
		"bad entry":       {env("MANA_AUTH_KEK_PREVIOUS", testKEK+",AAAA"), "MANA_AUTH_KEK_PREVIOUS: entry 2: expected 32 bytes"},
		"active repeated": {env("MANA_AUTH_KEK", testKEK, "MANA_AUTH_KEK_PREVIOUS", testKEK), "entry 1 is the active MANA_AUTH_KEK"},
	} {
		if _, err := LoadAuth(tc.env); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want it to mention %q", name, err, tc.want)
		}
	}
}

func TestAccountSettings(t *testing.T) {
	c, err := LoadAuth(env())
	if err != nil || c.PasswordMinLength != 8 || c.MaxDailySignups != 0 {
		t.Fatalf("defaults: min=%d signups=%d err=%v", c.PasswordMinLength, c.MaxDailySignups, err)
	}
	c, err = LoadAuth(env("MANA_PASSWORD_MIN_LENGTH", "15", "MAX_DAILY_SIGNUPS", "100"))
	if err != nil || c.PasswordMinLength != 15 || c.MaxDailySignups != 100 {
		t.Fatalf("set: min=%d signups=%d err=%v", c.PasswordMinLength, c.MaxDailySignups, err)
	}
	for _, bad := range [][]string{{"MANA_PASSWORD_MIN_LENGTH", "7"}, {"MANA_PASSWORD_MIN_LENGTH", "129"}, {"MAX_DAILY_SIGNUPS", "-1"}} {
		if _, err := LoadAuth(env(bad...)); err == nil || !strings.Contains(err.Error(), bad[0]) {
			t.Errorf("%s=%s: err = %v", bad[0], bad[1], err)
		}
	}
}
