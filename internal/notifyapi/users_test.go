package notifyapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/mana/mana/internal/notify"

	"github.com/mana/mana/internal/notify/jwtauth"
	"github.com/mana/mana/internal/notify/metrics"
)

type fakeUsers struct{ err error }

func (f fakeUsers) Authenticate(context.Context, string) (jwtauth.User, error) {
	if f.err != nil {
		return jwtauth.User{}, f.err
	}
	return jwtauth.User{ID: "user-1"}, nil
}

type prefsStore struct {
	fakeStore
	err error
}

func (p *prefsStore) GetPreferences(context.Context, string) (notify.Preferences, error) {
	return notify.DefaultPreferences(), p.err
}

func getPrefs(t *testing.T, users Authenticator, st notify.Store, auth string) *httptest.ResponseRecorder {
	t.Helper()
	h := New(Config{Store: st, Metrics: metrics.New(), Log: slog.New(slog.DiscardHandler),
		ServiceKey: testKey, Users: users, Started: time.Now()}).Handler()
	req := httptest.NewRequest(http.MethodGet, "/api/v1/preferences", nil)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// Guards of requireUser: missing token and invalid token are the contract's
// 401s; a check that cannot run (mana-auth down) is 503, never a pass.
func TestRequireUser(t *testing.T) {
	st := &prefsStore{}
	for _, tc := range []struct {
		name   string
		users  Authenticator
		auth   string
		status int
		body   string
	}{
		{"missing", fakeUsers{}, "", 401, `{"error":"unauthorized: missing token"}` + "\n"},
		{"not bearer", fakeUsers{}, "Basic abc", 401, `{"error":"unauthorized: missing token"}` + "\n"},
		{"invalid", fakeUsers{err: jwtauth.ErrInvalid}, "Bearer x", 401, `{"error":"unauthorized: invalid token"}` + "\n"},
		{"auth down", fakeUsers{err: fmt.Errorf("%w: dial", jwtauth.ErrUnavailable)}, "Bearer x", 503, ""},
		{"no authenticator", nil, "Bearer x", 503, ""},
		{"valid", fakeUsers{}, "Bearer x", 200, ""},
	} {
		rec := getPrefs(t, tc.users, st, tc.auth)
		if rec.Code != tc.status || (tc.body != "" && rec.Body.String() != tc.body) {
			t.Errorf("%s: %d %q, want %d %q", tc.name, rec.Code, rec.Body, tc.status, tc.body)
		}
	}
	st.err = errors.New("db down")
	if rec := getPrefs(t, fakeUsers{}, st, "Bearer x"); rec.Code != 500 {
		t.Errorf("store error: %d", rec.Code)
	}
}
