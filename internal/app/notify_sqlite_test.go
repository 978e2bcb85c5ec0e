package app

// mana-notify's delivery on the embedded SQLite backend, built as `mana
// serve` builds it (openSQLite with notifyQueues and the delivery worker on
// the same River client). Ported from the deleted
// internal/notify/notifysqlite tests; what they assert is unchanged.

import (
	"context"
	"database/sql"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/mana/mana/internal/notify"
	"github.com/mana/mana/internal/notify/delivery"
	"github.com/mana/mana/internal/notify/mailer"
	"github.com/mana/mana/internal/notify/metrics"
	"github.com/mana/mana/internal/store/sqlite"
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

func (f *fakeMailer) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.sent)
}

// running is one process's life on the data directory: the backend (which
// holds the directory's lock) and, when started, its job client working
// notify's queues with the delivery worker.
type running struct {
	t       testing.TB
	be      backend
	started bool
	closed  bool
}

// openNotify opens dir as `mana serve` does without DATABASE_URL and
// registers the delivery worker (mail to mail); start starts the job client.
func openNotify(t testing.TB, dir string, mail *fakeMailer, start bool) *running {
	t.Helper()
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	policies := delivery.DefaultPolicies()
	workers := river.NewWorkers()
	be, err := openSQLite(ctx, log, backendOptions{dataDir: dir, queues: notifyQueues(), workers: workers,
		policies: policies})
	if err != nil {
		t.Fatal(err)
	}
	r := &running{t: t, be: be}
	t.Cleanup(r.stop)
	if err := river.AddWorkerSafely(workers, delivery.NewWorker(be.notify, delivery.Channels{Mail: mail},
		metrics.New(), log, policies)); err != nil {
		t.Fatal(err)
	}
	if start {
		if err := be.jobs.Start(ctx); err != nil {
			t.Fatal(err)
		}
		r.started = true
	}
	return r
}

// stop is a clean shutdown: River finishes in-flight jobs, then the file is
// closed and the directory unlocked. Stopping twice is harmless.
func (r *running) stop() {
	if r.closed {
		return
	}
	r.closed = true
	if r.started {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := r.be.jobs.Stop(ctx); err != nil {
			r.t.Fatalf("stop job client: %v", err)
		}
	}
	r.be.close()
}

// peek is a second, read-only use of the data file while the backend runs
// (the directory lock is the process's; SQLite's WAL lets a reader in).
func peek(t testing.TB, dir string) *sql.DB {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(dir, sqliteFile))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() }) //nolint:errcheck // a read-only handle
	return db
}

// waitStatus polls until the notification has status, up to a deadline.
func waitStatus(t *testing.T, r *running, id string, want notify.Status, within time.Duration) notify.Notification {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		n, err := r.be.notify.Get(context.Background(), id)
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

func newEmail(scheduled *time.Time) notify.NewNotification {
	return notify.NewNotification{AppID: "mana-auth", Channel: notify.ChannelEmail, Recipient: "new@example.com",
		Subject: "Willkommen", Body: "<p>Hallo</p>", ScheduledFor: scheduled}
}

// A notification stored through the store is delivered by the River worker
// on the SQLite client exactly once: one mail, one delivery log, one
// completed job. A scheduled one survives closing and reopening the data
// directory (a restart) and is delivered then, not before its time.
// Negative controls: a store that inserts no job (NotifyStore.enqueue in
// internal/store/sqlite/notify.go returning nil without s.jobs.InsertTx)
// leaves the first notification pending until the deadline; inserting the
// job outside the store's transaction cannot be expressed (the store hands
// its *sql.Tx to the jobs.TxInserter).
func TestDeliveryOnSQLiteExactlyOnceAndAcrossRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	mail := &fakeMailer{}
	first := openNotify(t, dir, mail, true)
	ctx := context.Background()

	c, err := first.be.notify.Create(ctx, newEmail(nil))
	if err != nil {
		t.Fatal(err)
	}
	n := waitStatus(t, first, c.ID, notify.StatusDelivered, 10*time.Second)
	if n.Attempts != 1 || n.DeliveredAt == nil {
		t.Fatalf("delivered notification %+v", n)
	}

	at := time.Now().Add(2 * time.Second)
	scheduled, err := first.be.notify.Create(ctx, newEmail(&at))
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
	second := openNotify(t, dir, after, true)
	n = waitStatus(t, second, scheduled.ID, notify.StatusDelivered, 15*time.Second)
	if n.DeliveredAt.Before(at) {
		t.Fatalf("delivered at %s, before its time %s", n.DeliveredAt, at)
	}
	if n, err := second.be.notify.Get(ctx, c.ID); err != nil || n.Status != notify.StatusDelivered || n.Attempts != 1 {
		t.Fatalf("first notification after restart: %+v %v", n, err)
	}
	second.stop()
	if got := after.to(scheduled.ID); got != 1 {
		t.Fatalf("scheduled notification sent %d times after the restart, want 1", got)
	}
	if got := after.to(c.ID); got != 0 {
		t.Fatalf("the delivered notification was sent again after the restart (%d)", got)
	}

	// The file, reopened once more (the lock is free again), holds one log
	// row and one completed job per notification.
	db, _, closeDB, err := openDataDir(ctx, dir, false)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := closeDB(); err != nil {
			t.Error(err)
		}
	}()
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
// Negative control: a time format julianday cannot read makes the age 0
// (e.g. julianday(min(scheduled_at) || 'x') in NotifyStore.Stats,
// internal/store/sqlite/notify_queue.go: the poll runs into its deadline).
func TestQueueStatsOnSQLite(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := openNotify(t, t.TempDir(), &fakeMailer{}, false)
	at := time.Now().Add(time.Hour)
	if _, err := r.be.notify.Create(ctx, newEmail(&at)); err != nil {
		t.Fatal(err)
	}
	if _, err := r.be.notify.Create(ctx, newEmail(nil)); err != nil {
		t.Fatal(err)
	}
	// Poll until the due job's age shows (julianday has millisecond steps).
	deadline := time.Now().Add(5 * time.Second)
	for {
		// What newNotifyPart hands to metrics.WatchQueue.
		st, err := r.be.notify.Stats(ctx, delivery.Queues())
		if err != nil {
			t.Fatal(err)
		}
		s := metrics.QueueStats(st)
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
// Negative control: letting Claim take cancelled rows (adding 'cancelled'
// to `status IN ('pending', 'processing')` in NotifyStore.Claim,
// internal/store/sqlite/notify.go) sends the mail.
func TestCancelledScheduledNotificationIsNotSent(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	mail := &fakeMailer{}
	r := openNotify(t, dir, mail, true)
	db := peek(t, dir)
	ctx := context.Background()
	at := time.Now().Add(500 * time.Millisecond)
	c, err := r.be.notify.Create(ctx, newEmail(&at))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.be.notify.Cancel(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for count(t, db, `SELECT count(*) FROM river_job WHERE json_extract(args, '$.notification_id') = ? AND state = 'completed'`, c.ID) != 1 {
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
