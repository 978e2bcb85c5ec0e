package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/mana/mana/internal/auth"
	"github.com/mana/mana/internal/randid"
	"github.com/mana/mana/internal/store/sqlite"
)

// TestReopenKeepsData: what one process committed (a user, a session, a
// queued mail) is there after the database is closed and opened again, and
// a second migration run changes nothing.
// Negative control: opening a fresh file instead of the same one finds no
// user (the check reads through a new handle, not a cache).
func TestReopenKeepsData(t *testing.T) {
	ctx := context.Background()
	file := filepath.Join(t.TempDir(), "mana.db")
	now := time.Now().UTC()
	u := auth.User{ID: randid.UserID(), Name: "r", Email: "reopen@example.com", CreatedAt: now}
	s := auth.Session{ID: randid.UserID(), Token: randid.UserID(), UserID: u.ID, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}

	first := openBackend(t, file)
	err := first.Store.InTx(ctx, func(tx auth.Tx) error {
		if err := tx.InsertUser(ctx, u, "hash"); err != nil {
			return err
		}
		if err := tx.InsertSession(ctx, s); err != nil {
			return err
		}
		return tx.EnqueueMail(ctx, auth.Mail{To: u.Email, Subject: "s", HTML: "h", ExternalID: "x-" + u.ID})
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := first.Inspect.(inspector).db.Close(); err != nil {
		t.Fatal(err)
	}

	db, err := sqlite.Open(ctx, file)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if applied, err := sqlite.Migrate(ctx, db, sqlite.Auth); err != nil || len(applied) != 0 {
		t.Fatalf("migrating an up-to-date file applied %v, %v; want nothing", applied, err)
	}
	var users, sessions, jobs int
	err = db.QueryRowContext(ctx, `SELECT
		(SELECT count(*) FROM auth_users WHERE id = ?1),
		(SELECT count(*) FROM auth_sessions WHERE user_id = ?1),
		(SELECT count(*) FROM river_job WHERE kind = 'auth_mail' AND json_extract(args, '$.to') = ?2 AND state = 'available')`,
		u.ID, u.Email).Scan(&users, &sessions, &jobs)
	if err != nil {
		t.Fatal(err)
	}
	if users != 1 || sessions != 1 || jobs != 1 {
		t.Fatalf("after reopening: %d users, %d sessions, %d queued mails; want 1 each", users, sessions, jobs)
	}
}
