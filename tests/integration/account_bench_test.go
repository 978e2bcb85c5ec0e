//go:build integration

package integration

import (
	"net/http"
	"testing"
)

// Benchmarks of the account-lifecycle reads over real HTTP against the stack
// (figures, not assertions). Run them alone and briefly, e.g.:
//
//	source <stack dir>/env
//	go test -tags integration -run '^$' -bench 'Account' -benchtime 3s ./tests/integration/
//
// Each request is one HTTP round trip, the session check (one indexed read)
// and the endpoint's own query.
func benchGET(b *testing.B, path string, token string) {
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			var hdr []string
			if token != "" {
				hdr = bearer(token)
			}
			r, err := tryDo(http.MethodGet, authURL+path, nil, hdr...)
			if err != nil || r.Status != http.StatusOK {
				b.Errorf("GET %s: %v %v", path, err, r)
				return
			}
		}
	})
}

func BenchmarkAccountListSessions(b *testing.B) {
	u := verifiedUser(b, "bench-sessions")
	s := loginOK(b, authURL, u)
	loginOK(b, authURL, u)
	benchGET(b, "/api/v1/me/sessions", s.AccessToken)
}

func BenchmarkAccountSecurityEvents(b *testing.B) {
	u := verifiedUser(b, "bench-events")
	s := loginOK(b, authURL, u)
	execSQL(b, `INSERT INTO auth.security_events (user_id, event_type, metadata) SELECT $1, 'IT_FILLER', '{}' FROM generate_series(1, 100)`, u.ID)
	benchGET(b, "/api/v1/auth/security-events", s.AccessToken)
}

func BenchmarkAccountExport(b *testing.B) {
	u := verifiedUser(b, "bench-export")
	s := loginOK(b, authURL, u)
	benchGET(b, "/api/v1/me/data/export", s.AccessToken)
}

func BenchmarkAccountSignupStatus(b *testing.B) {
	benchGET(b, "/api/v1/auth/signup-status", "")
}
