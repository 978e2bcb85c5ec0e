package sqlitestore_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/mana/mana/internal/notify/store"
	"github.com/mana/mana/internal/notify/store/sqlitestore"
	"github.com/mana/mana/internal/notify/store/storetest"
	"github.com/mana/mana/internal/store/sqlitedb"
)

// openDB opens and migrates a fresh database file in the test's temp dir.
func openDB(t *testing.T) *sql.DB {
	t.Helper()
	ctx := context.Background()
	db, err := sqlitedb.Open(ctx, filepath.Join(t.TempDir(), "mana.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	if _, err := sqlitedb.Migrate(ctx, db, sqlitedb.Notify); err != nil {
		t.Fatal(err)
	}
	return db
}

// The conformance suite on SQLite (its Postgres run is in tests/integration).
func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, enqueue storetest.Enqueue) storetest.Store {
		return sqlitestore.New(openDB(t), func(ctx context.Context, _ *sql.Tx, j store.Job) error {
			return enqueue(ctx, j)
		})
	})
}
