package notifysqlite_test

import (
	"context"
	"database/sql"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/mana/mana/internal/notify/delivery"
	"github.com/mana/mana/internal/notify/mailer"
	"github.com/mana/mana/internal/notify/metrics"
	"github.com/mana/mana/internal/notify/notifysqlite"
	"github.com/mana/mana/internal/notify/store"
	"github.com/mana/mana/internal/store/sqlitedb"
)

// fakeMailer records what the worker sends; it is called from River's
// worker goroutines.
type fakeMailer struct {
	mu   sync.Mutex
	sent []mailer.Email
}

func (f *fakeMailer) Send(_ context.Context, e mailer.Email) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sent = append(f.sent, e)
	return nil
}

func (f *fakeMailer) to(id string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, e := range f.sent {
		if e.NotificationID == id {
			n++
		}
	}
	return n
}

// running is one process's life on the data file: the database, the
// backend and its started job client.
type running struct {
	db *sql.DB
	b  *notifysqlite.Backend
}

func start(t testing.TB, file string, mail *fakeMailer) *running {
	t.Helper()
	ctx := context.Background()
	db, err := sqlitedb.Open(ctx, file)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sqlitedb.Migrate(ctx, db, sqlitedb.Notify); err != nil {
		t.Fatal(err)
	}
	b, err := notifysqlite.New(ctx, db, notifysqlite.Config{Channels: delivery.Channels{Mail: mail},
		Metrics: metrics.New(), Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Jobs.Start(ctx); err != nil {
		t.Fatal(err)
	}
	r := &running{db: db, b: b}
	t.Cleanup(r.stop)
	return r
}

// stop is a clean shutdown: River finishes in-flight jobs, then the file is
// closed. Stopping twice is harmless.
func (r *running) stop() {
	if r.db == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.b.Jobs.Stop(ctx); err != nil {
		panic(err)
	}
	if err := r.db.Close(); err != nil {
		panic(err)
	}
	r.db = nil
}

// waitStatus polls until the notification has status, up to a deadline.
func waitStatus(t *testing.T, st *running, id string, want store.Status, within time.Duration) store.Notification {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		n, err := st.b.Store.Get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if n.Status == want {
			return n
		}
		if time.Now().After(deadline) {
			t.Fatalf("notification %s is %s after %s, want %s", id, n.Status, within, want)
		}
		time.Sleep(20 * time.Millisecond) // polling interval, not synchronisation
	}
}

func count(t *testing.T, db *sql.DB, q string, args ...any) int {
	t.Helper()
	var n int
	if err := db.QueryRow(q, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func newEmail(scheduled *time.Time) store.NewNotification {
	return store.NewNotification{AppID: "mana-auth", Channel: store.ChannelEmail, Recipient: "new@example.com",
		Subject: "Willkommen", Body: "<p>Hallo</p>", ScheduledFor: scheduled}
}

// A notification stored through the store is delivered by the River worker
// on the SQLite client exactly once: one mail, one delivery log, one
// completed job. A scheduled one survives closing and reopening the file
// (a restart) and is delivered then, not before its time.
// Negative controls: an enqueuer that inserts no job (delivery.Enqueuer
// replaced by a no-op) leaves the first notification pending until the
// deadline; inserting the job outside the store's transaction cannot be
// expressed (the store hands its *sql.Tx to the enqueuer).
func TestDeliveryOnSQLiteExactlyOnceAndAcrossRestart(t *testing.T) {
	file := filepath.Join(t.TempDir(), "mana.db")
	mail := &fakeMailer{}
	first := start(t, file, mail)
	ctx := context.Background()

	c, err := first.b.Store.Create(ctx, newEmail(nil))
	if err != nil {
		t.Fatal(err)
	}
	n := waitStatus(t, first, c.ID, store.StatusDelivered, 10*time.Second)
	if n.Attempts != 1 || n.DeliveredAt == nil {
		t.Fatalf("delivered notification %+v", n)
	}

	at := time.Now().Add(2 * time.Second)
	scheduled, err := first.b.Store.Create(ctx, newEmail(&at))
	if err != nil {
		t.Fatal(err)
	}
	first.stop() // waits for in-flight jobs, then closes the file

	if got := mail.to(c.ID); got != 1 {
		t.Fatalf("immediate notification sent %d times, want 1", got)
	}
	if got := mail.to(scheduled.ID); got != 0 {
		t.Fatalf("scheduled notification sent %d times before its time", got)
	}

	after := &fakeMailer{}
	second := start(t, file, after)
	n = waitStatus(t, second, scheduled.ID, store.StatusDelivered, 15*time.Second)
	if n.DeliveredAt.Before(at) {
		t.Fatalf("delivered at %s, before its time %s", n.DeliveredAt, at)
	}
	if n, err := second.b.Store.Get(ctx, c.ID); err != nil || n.Status != store.StatusDelivered || n.Attempts != 1 {
		t.Fatalf("first notification after restart: %+v %v", n, err)
	}
	second.stop()
	if got := after.to(scheduled.ID); got != 1 {
		t.Fatalf("scheduled notification sent %d times after the restart, want 1", got)
	}
	if got := after.to(c.ID); got != 0 {
		t.Fatalf("the delivered notification was sent again after the restart (%d)", got)
	}

	// The file, reopened once more, holds one log row and one completed job
	// per notification.
	db, err := sqlitedb.Open(ctx, file)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, id := range []string{c.ID, scheduled.ID} {
		if got := count(t, db, `SELECT count(*) FROM notify_delivery_logs WHERE notification_id = ? AND success = 1`, id); got != 1 {
			t.Errorf("%s: %d successful delivery logs, want 1", id, got)
		}
		if got := count(t, db, `SELECT count(*) FROM river_job WHERE kind = ? AND json_extract(args, '$.notification_id') = ?
			AND state = 'completed'`, delivery.Kind, id); got != 1 {
			t.Errorf("%s: %d completed jobs, want 1", id, got)
		}
	}
}

// The queue gauges read River's SQLite tables: with the client not started,
// a due job waits (its age counts) and a scheduled one only adds depth.
// Negative control: a time format julianday cannot read makes the age 0.
func TestQueueStatsOnSQLite(t *testing.T) {
	ctx := context.Background()
	db, err := sqlitedb.Open(ctx, filepath.Join(t.TempDir(), "mana.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := sqlitedb.Migrate(ctx, db, sqlitedb.Notify); err != nil {
		t.Fatal(err)
	}
	b, err := notifysqlite.New(ctx, db, notifysqlite.Config{Metrics: metrics.New(), Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Now().Add(time.Hour)
	if _, err := b.Store.Create(ctx, newEmail(&at)); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Store.Create(ctx, newEmail(nil)); err != nil {
		t.Fatal(err)
	}
	// Poll until the due job's age shows (julianday has millisecond steps).
	deadline := time.Now().Add(5 * time.Second)
	for {
		s, err := b.QueueStats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if s.Depth[delivery.Queue] != 2 || s.Depth[delivery.PushQueue] != 0 || s.DeadLetters != 0 || s.OldestPending > time.Minute {
			t.Fatalf("stats %+v", s)
		}
		if s.OldestPending > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the due job's age stays 0: %+v", s)
		}
		time.Sleep(20 * time.Millisecond) // polling interval
	}
}

// A cancelled notification's queued job runs and ends without a mail.
// Negative control: letting Claim take cancelled rows sends the mail.
func TestCancelledScheduledNotificationIsNotSent(t *testing.T) {
	mail := &fakeMailer{}
	r := start(t, filepath.Join(t.TempDir(), "mana.db"), mail)
	ctx := context.Background()
	at := time.Now().Add(500 * time.Millisecond)
	c, err := r.b.Store.Create(ctx, newEmail(&at))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.b.Store.Cancel(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for count(t, r.db, `SELECT count(*) FROM river_job WHERE json_extract(args, '$.notification_id') = ? AND state = 'completed'`, c.ID) != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the cancelled notification's job never ran")
		}
		time.Sleep(20 * time.Millisecond) // polling interval
	}
	r.stop()
	if got := mail.to(c.ID); got != 0 {
		t.Fatalf("cancelled notification sent %d times", got)
	}
}
