//go:build integration

package integration

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/mana/mana/internal/notify"
	"github.com/mana/mana/internal/notify/delivery"
	"github.com/mana/mana/internal/store/pg"
	"github.com/mana/mana/internal/store/storetest"
)

// TestNotifyStoreConformancePostgres runs the notify store's conformance
// suite (internal/store/storetest) against the stack's Postgres; the
// same suite runs on SQLite in internal/store/sqlite. Jobs are
// recorded, not inserted into River, so the running notify service never
// delivers these rows.
func TestNotifyStoreConformancePostgres(t *testing.T) {
	// The suite's rows are its own (app storetest, slugs sys-/custom-<n>-<n>);
	// removing them keeps the failure list and dead-letter gauge of the
	// other tests about their own rows.
	t.Cleanup(func() {
		ctx := context.Background()
		if _, err := db.Exec(ctx, `DELETE FROM notify.notifications WHERE app_id = 'storetest'`); err != nil {
			t.Errorf("clean up notifications: %v", err)
		}
		if _, err := db.Exec(ctx, `DELETE FROM notify.templates WHERE slug ~ '^(sys|custom)-[0-9]+-[0-9]+$'`); err != nil {
			t.Errorf("clean up templates: %v", err)
		}
	})
	storetest.RunNotify(t, func(t *testing.T, rec *storetest.JobRecorder) notify.Store {
		return pg.NewNotifyStore(db, storetest.Inserter[pgx.Tx](rec), delivery.DefaultPolicies())
	})
}
