package app

import (
	"strings"
)

// checklistFacts are what the production checklist of `mana serve` looks at.
type checklistFacts struct {
	DevKEK            bool // MANA_AUTH_KEK unset or the all-zero development key
	NoSMTP            bool // no SMTP_HOST: mail is captured locally
	SQLite            bool // the embedded database instead of PostgreSQL
	DefaultServiceKey bool // SERVICE_KEY is the shared development default
	Production        bool // NODE_ENV or MANA_ENV is production
	HTTPSBaseURL      bool // BASE_URL is https
	RateLimitsOff     bool // MANA_RATE_LIMITS=off
}

// productionChecklist lists, in a fixed order, what stands between this
// configuration and a production deployment; empty means nothing does.
func productionChecklist(f checklistFacts) []string {
	var unmet []string
	if f.DevKEK {
		unmet = append(unmet, "MANA_AUTH_KEK is the development key (32 zero bytes): secrets at rest are not protected")
	}
	if f.NoSMTP {
		unmet = append(unmet, "SMTP_HOST is not set: mail is captured locally and reaches nobody")
	}
	if f.SQLite {
		unmet = append(unmet, "DATABASE_URL is not set: data is in an embedded SQLite file (one process only, no replicas)")
	}
	if f.DefaultServiceKey {
		unmet = append(unmet, "SERVICE_KEY is the development default: anyone can send notifications through the API")
	}
	if f.RateLimitsOff {
		unmet = append(unmet, "MANA_RATE_LIMITS=off: no brute-force protection")
	}
	if !f.HTTPSBaseURL {
		unmet = append(unmet, "BASE_URL is not https: cookies and links travel in clear text")
	}
	if !f.Production {
		unmet = append(unmet, "NODE_ENV is not production: the production checks above are not enforced and /dev/mail is served")
	}
	return unmet
}

// startupBlock is the human-readable summary `mana serve` prints once it
// listens (besides the JSON logs).
type startupBlock struct {
	URL   string
	Data  string
	Mail  string
	Unmet []string
}

func (b startupBlock) String() string {
	var s strings.Builder
	s.WriteString("\n  mana is running: " + b.URL + "\n")
	s.WriteString("    data: " + b.Data + "\n")
	s.WriteString("    mail: " + b.Mail + "\n")
	if len(b.Unmet) == 0 {
		s.WriteString("    production checklist: all met\n")
		return s.String()
	}
	s.WriteString("    production checklist, not met:\n")
	for _, item := range b.Unmet {
		s.WriteString("      - " + item + "\n")
	}
	return s.String()
}
