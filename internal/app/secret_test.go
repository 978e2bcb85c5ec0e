package app

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/mana/mana/internal/config"
)

// TestBetterAuthSecret: a configured secret is used as given; in
// development without one, one is generated once, kept owner-only in the
// data directory and reused (sessions survive a restart); production
// without one refuses.
// Negative control: generating without reading the file first gives a new
// secret on the second call and fails "reused".
func TestBetterAuthSecret(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if s, err := betterAuthSecret(log, config.Auth{BetterAuthSecret: " raw "}); err != nil || s != " raw " {
		t.Fatalf("configured: %q %v", s, err)
	}
	dir := filepath.Join(t.TempDir(), "data")
	first, err := betterAuthSecret(log, config.Auth{DataDir: dir})
	if err != nil || len(first) < 40 {
		t.Fatalf("generated: %q %v", first, err)
	}
	info, err := os.Stat(filepath.Join(dir, betterAuthSecretFile))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("secret file: %v %v; want mode 0600", info, err)
	}
	if again, err := betterAuthSecret(log, config.Auth{DataDir: dir}); err != nil || again != first {
		t.Fatalf("reused: %q %v, want %q", again, err, first)
	}
	if _, err := betterAuthSecret(log, config.Auth{Production: true, DataDir: dir}); err == nil {
		t.Fatal("production without BETTER_AUTH_SECRET was accepted")
	}
}
