package config

import (
	"errors"
	"fmt"
	"path/filepath"
)

// DefaultDataDir is MANA_DATA_DIR's default, relative to the working
// directory: where `mana serve` keeps the SQLite database (without
// DATABASE_URL) and captured mail (without SMTP_HOST).
const DefaultDataDir = "mana-data"

// DefaultProbePort is the port `mana probe` asks when PORT is unset
// (mana-auth's and `mana serve`'s default).
const DefaultProbePort = 3001

// Serve is the configuration of `mana serve`: auth and notify in one
// process on one port.
type Serve struct {
	// Auth is mana-auth's configuration with the all-in-one defaults: BaseURL
	// is LocalURL unless BASE_URL or JWT_ISSUER is set.
	Auth Auth
	// Notify is mana-notify's configuration with the all-in-one defaults:
	// AuthURL is LocalURL unless MANA_AUTH_URL is set, and Port is Auth.Port
	// (one port for both route sets).
	Notify Notify
	// DataDir is MANA_DATA_DIR (default DefaultDataDir), absolute.
	DataDir string
	// SMTPSet: SMTP_HOST is set (non-empty), so mail goes out over SMTP;
	// otherwise it is captured under DataDir (refused in production).
	// Notify.SMTPHost still holds mana-notify's default when this is false.
	SMTPSet bool
	// DatabaseSet: DATABASE_URL is set (non-empty), so both parts use
	// PostgreSQL (Auth.DatabaseURL); otherwise the SQLite file under DataDir.
	DatabaseSet bool
	// LocalURL is http://localhost:<Auth.Port>, this process's own URL.
	LocalURL string
}

// LoadServe reads the configuration of `mana serve`: LoadAuth and
// LoadNotify (every problem of both reported at once), then the all-in-one
// differences. Production mode refuses a missing SMTP_HOST (mail would only
// be captured locally) and, through LoadAuth and LoadNotify, a missing
// DATABASE_URL, so the embedded SQLite file is never used in production mode.
func LoadServe(look Lookup) (Serve, error) {
	a, errA := LoadAuth(look)
	n, errN := LoadNotify(look)
	r := &reader{look: look}
	s := Serve{Auth: a, Notify: n, LocalURL: fmt.Sprintf("http://localhost:%d", a.Port)}
	// One process: auth's links and notify's JWKS point at this port unless
	// configured otherwise.
	if !r.set("BASE_URL") && !r.set("JWT_ISSUER") {
		s.Auth.BaseURL = s.LocalURL
	}
	if !r.set("MANA_AUTH_URL") {
		s.Notify.AuthURL = s.LocalURL
	}
	s.Notify.Port = a.Port
	s.DataDir = r.dataDir()
	s.SMTPSet = r.set("SMTP_HOST")
	s.DatabaseSet = r.set("DATABASE_URL")
	if !s.SMTPSet && r.production() {
		r.fail("SMTP_HOST", "is required in production (without it mail is only captured locally)")
	}
	return s, errors.Join(errA, errN, r.err())
}

// Command is what the operator commands (`mana migrate`, `mana kek rotate`,
// `mana notify retry`) need besides LoadAuth or LoadNotify: where the data is.
type Command struct {
	// DatabaseURL is DATABASE_URL, "" when unset. `mana migrate` requires it;
	// without it `kek rotate` and `notify retry` use the SQLite file of
	// `mana serve` under DataDir when it exists.
	DatabaseURL string
	// DataDir is MANA_DATA_DIR (default DefaultDataDir), absolute.
	DataDir string
}

// LoadCommand reads the configuration shared by the operator commands.
func LoadCommand(look Lookup) (Command, error) {
	r := &reader{look: look}
	c := Command{DatabaseURL: r.str("DATABASE_URL", ""), DataDir: r.dataDir()}
	return c, r.err()
}

// ProbePort is the port `mana probe` asks without a URL: PORT, default
// DefaultProbePort, read like `mana serve` reads it so both agree.
func ProbePort(look Lookup) (int, error) {
	r := &reader{look: look}
	port := r.port("PORT", DefaultProbePort)
	return port, r.err()
}

// dataDir is MANA_DATA_DIR made absolute.
func (r *reader) dataDir() string {
	dir, err := filepath.Abs(r.str("MANA_DATA_DIR", DefaultDataDir))
	if err != nil {
		r.fail("MANA_DATA_DIR", "%v", err)
		return ""
	}
	return dir
}
