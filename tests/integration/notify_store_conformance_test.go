//go:build integration

package integration

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/mana/mana/internal/notify/store"
	"github.com/mana/mana/internal/notify/store/storetest"
)

// TestNotifyStoreConformancePostgres runs the notify store's conformance
// suite (internal/notify/store/storetest) against the stack's Postgres; the
// same suite runs on SQLite in internal/notify/store/sqlitestore. Jobs are
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
	storetest.Run(t, func(t *testing.T, enqueue storetest.Enqueue) storetest.Store {
		return store.New(db, func(ctx context.Context, _ pgx.Tx, j store.Job) error { return enqueue(ctx, j) })
	})
}
