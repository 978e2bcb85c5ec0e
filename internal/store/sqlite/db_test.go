package sqlite

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func TestOpenAndMigrate(t *testing.T) {
	ctx := context.Background()
	file := filepath.Join(t.TempDir(), "mana.db")
	db, err := Open(ctx, file)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	done, err := Migrate(ctx, db, Auth, Notify)
	if err != nil {
		t.Fatal(err)
	}
	if len(done) == 0 {
		t.Fatal("a fresh database applied nothing (River's schema at least)")
	}
	var fk int
	if err := db.QueryRowContext(ctx, `PRAGMA foreign_keys`).Scan(&fk); err != nil || fk != 1 {
		t.Fatalf("foreign_keys = %d, %v; want 1", fk, err)
	}
	// A second run is a no-op.
	again, err := Migrate(ctx, db, Auth, Notify)
	if err != nil || len(again) != 0 {
		t.Fatalf("second migrate applied %v, %v; want nothing", again, err)
	}
	var n int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM river_job`).Scan(&n); err != nil {
		t.Fatalf("river_job after migrate: %v", err)
	}
}

// Read-modify-write transactions from many goroutines lose no update: the
// immediate transaction lock serialises them.
// Negative control: with _txlock=deferred and more than one connection, some
// transactions fail with SQLITE_BUSY or updates are lost.
func TestTransactionsSerialise(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "c.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `CREATE TABLE c (n INTEGER NOT NULL); INSERT INTO c VALUES (0)`); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			tx, err := db.BeginTx(ctx, nil)
			if err != nil {
				t.Error(err)
				return
			}
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT n FROM c`).Scan(&n); err != nil {
				t.Error(err)
				tx.Rollback() //nolint:errcheck // test
				return
			}
			if _, err := tx.ExecContext(ctx, `UPDATE c SET n = ?`, n+1); err != nil {
				t.Error(err)
				tx.Rollback() //nolint:errcheck // test
				return
			}
			if err := tx.Commit(); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	var n int
	if err := db.QueryRowContext(ctx, `SELECT n FROM c`).Scan(&n); err != nil || n != 50 {
		t.Fatalf("counter = %d, %v; want 50", n, err)
	}
}

func TestTimestampsSortAsText(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `CREATE TABLE ts (at TEXT NOT NULL, maybe TEXT)`); err != nil {
		t.Fatal(err)
	}
	base := time.Date(2026, 11, 27, 4, 5, 6, 0, time.FixedZone("CET", 3600))
	// Whole seconds and sub-microsecond steps: variable-width formats
	// (RFC3339Nano drops trailing zeros) would sort these wrongly.
	times := []time.Time{base, base.Add(time.Nanosecond), base.Add(120 * time.Millisecond), base.Add(time.Second)}
	for i := len(times) - 1; i >= 0; i-- {
		if _, err := db.ExecContext(ctx, `INSERT INTO ts (at) VALUES (?)`, FormatTime(times[i])); err != nil {
			t.Fatal(err)
		}
	}
	rows, err := db.QueryContext(ctx, `SELECT at, maybe FROM ts WHERE at > ? ORDER BY at`, FormatTime(base))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []time.Time
	for rows.Next() {
		var at time.Time
		var maybe *time.Time
		if err := rows.Scan(Timestamp{&at}, NullTimestamp{&maybe}); err != nil {
			t.Fatal(err)
		}
		if maybe != nil {
			t.Fatalf("NULL scanned as %v", maybe)
		}
		got = append(got, at)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("got %d rows after base, want 3", len(got))
	}
	for i, g := range got {
		if !g.Equal(times[i+1]) {
			t.Fatalf("row %d = %v, want %v", i, g, times[i+1])
		}
	}
}
