//go:build integration

package integration

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"
)

// TestAccountDeletionErasesNotifyElsewhere (audit F6): in the split
// deployment with notify on a database of its own, deleting an account
// reaches notify through its API, by a job that committed with the
// deletion: the user's push device, preferences and notifications (to the
// user id or the address) are gone from notify's database; only the
// "account deleted" mail to the address may remain until sent. Two
// processes on two fresh databases of the stack's server.
// Negative control: DeleteAccount not enqueueing the erasure leaves the
// device row and times out below.
func TestAccountDeletionErasesNotifyElsewhere(t *testing.T) {
	notifyDB, authDB := freshDatabase(t), freshDatabase(t)
	notifyPort, authPort := freePort(t), freePort(t)
	authBase := fmt.Sprintf("http://127.0.0.1:%d", authPort)
	_, notifyEnv := partEnv(t, "notify", "PORT", fmt.Sprint(notifyPort), "DATABASE_URL", notifyDB, "MANA_AUTH_URL", authBase)
	notifyProc := startServeArgs(t, []string{"serve", "notify"}, notifyEnv...)
	_, authEnv := partEnv(t, "auth", "PORT", fmt.Sprint(authPort), "DATABASE_URL", authDB, "MANA_NOTIFY_URL", notifyProc.URL,
		"BASE_URL", authBase)
	authProc := startServeArgs(t, []string{"serve", "auth"}, authEnv...)
	authPool, notifyPool := connectTo(t, authDB), connectTo(t, notifyDB)
	count := func(q string, args ...any) int {
		t.Helper()
		var n int
		if err := notifyPool.QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return n
	}

	u := register(t, authProc.URL, uniqueEmail("split-erase"))
	if _, err := authPool.Exec(context.Background(), `UPDATE auth.users SET email_verified = true WHERE id = $1`, u.ID); err != nil {
		t.Fatal(err)
	}
	s := loginAs(t, authProc.URL, u, "it-split-erase")
	expectStatus(t, postJSON(t, notifyProc.URL+"/api/v1/devices/register", map[string]any{"pushToken": "ExponentPushToken[" + u.ID + "]"},
		bearer(s.AccessToken)...), http.StatusCreated)
	expectStatus(t, do(t, http.MethodPut, notifyProc.URL+"/api/v1/preferences", map[string]any{"emailEnabled": true},
		bearer(s.AccessToken)...), http.StatusOK)
	eventually(t, 30*time.Second, "the verification mail stored by notify", func() bool {
		return count(`SELECT count(*) FROM notify.notifications WHERE lower(recipient) = $1`, u.Email) == 1
	})

	expectStatus(t, do(t, http.MethodDelete, authProc.URL+"/api/v1/me/data", nil, bearer(s.AccessToken)...), http.StatusOK)
	eventually(t, 30*time.Second, "notify's rows of the deleted user erased", func() bool {
		return count(`SELECT count(*) FROM notify.devices WHERE user_id = $1`, u.ID) == 0 &&
			count(`SELECT count(*) FROM notify.preferences WHERE user_id = $1`, u.ID) == 0 &&
			count(`SELECT count(*) FROM notify.notifications WHERE (user_id = $1 OR lower(recipient) = $2)
				AND subject NOT LIKE '%gelöscht%'`, u.ID, u.Email) == 0
	})
	// The job completes once notify's answer is back (River marks it a
	// moment after the rows are gone).
	eventually(t, 30*time.Second, "the erasure job completed", func() bool {
		var state string
		err := authPool.QueryRow(context.Background(), `SELECT state FROM river.river_job WHERE kind = 'auth_notify_erase'
			AND args->>'user_id' = $1`, u.ID).Scan(&state)
		return err == nil && state == "completed"
	})
}
