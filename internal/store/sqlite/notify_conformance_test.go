package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/mana/mana/internal/notify"
	"github.com/mana/mana/internal/notify/delivery"
	"github.com/mana/mana/internal/store/sqlite"
	"github.com/mana/mana/internal/store/storetest"
)

// openDB opens and migrates a fresh database file in the test's temp dir.
func openDB(t *testing.T) *sql.DB {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "mana.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	if _, err := sqlite.Migrate(ctx, db, sqlite.Notify); err != nil {
		t.Fatal(err)
	}
	return db
}

// The notify conformance suite on SQLite (its Postgres run is in tests/integration).
func TestNotifyConformance(t *testing.T) {
	storetest.RunNotify(t, func(t *testing.T, rec *storetest.JobRecorder) notify.Store {
		return sqlite.NewNotifyStore(openDB(t), storetest.Inserter[*sql.Tx](rec), delivery.DefaultPolicies())
	})
}
