package storetest

// The notify part of the suite: every backend's notify.Store must pass it.
// A backend's test calls RunNotify with a way to open its store; the suite
// only uses values unique to the run, so it can share a database with
// running services.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/mana/mana/internal/jobs"
	"github.com/mana/mana/internal/notify"
	"github.com/mana/mana/internal/notify/delivery"
)

// OpenNotify returns the backend's notify store, inserting its delivery jobs
// through Inserter(rec) for the backend's transaction type.
type OpenNotify func(t *testing.T, rec *JobRecorder) notify.Store

// JobRecorder records the delivery jobs a store inserted. fail makes the
// next inserts fail; panicNext makes the next insert panic (inside the
// store's transaction).
type JobRecorder struct {
	mu        sync.Mutex
	list      []recordedJob
	fail      error
	panicNext bool
}

// recordedJob is one inserted delivery job.
type recordedJob struct {
	NotificationID string
	Queue          string
	Priority       int
	ScheduledAt    time.Time
}

// Inserter is rec as the jobs.TxInserter of a store whose transactions are
// TTx; the transaction itself is not used (nothing reaches a job table).
func Inserter[TTx any](rec *JobRecorder) jobs.TxInserter[TTx] { return inserter[TTx]{rec} }

type inserter[TTx any] struct{ rec *JobRecorder }

func (i inserter[TTx]) InsertTx(_ context.Context, _ TTx, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error) {
	return i.rec.insert(args, opts)
}

func (j *JobRecorder) insert(args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.panicNext {
		j.panicNext = false
		panic("storetest: panic while inserting a job")
	}
	if j.fail != nil {
		return nil, j.fail
	}
	a, ok := args.(delivery.Args)
	if !ok || opts == nil {
		return nil, fmt.Errorf("storetest: unexpected job %T %+v", args, opts)
	}
	j.list = append(j.list, recordedJob{NotificationID: a.NotificationID, Queue: opts.Queue, Priority: opts.Priority,
		ScheduledAt: opts.ScheduledAt})
	return &rivertype.JobInsertResult{}, nil
}

func (j *JobRecorder) of(id string) []recordedJob {
	j.mu.Lock()
	defer j.mu.Unlock()
	var out []recordedJob
	for _, job := range j.list {
		if job.NotificationID == id {
			out = append(out, job)
		}
	}
	return out
}

var runSeq atomic.Int64

// unique is a value no other run or test uses.
func unique(prefix string) string {
	return fmt.Sprintf("%s-%d-%d", prefix, time.Now().UnixNano(), runSeq.Add(1))
}

// RunNotify runs the notify suite against the backend.
func RunNotify(t *testing.T, open OpenNotify) {
	tests := []struct {
		name string
		fn   func(t *testing.T, st notify.Store, jobs *JobRecorder)
	}{
		{"CreateAndGet", testCreateAndGet},
		{"EnqueueFailureStoresNothing", testEnqueueFailureStoresNothing},
		{"ExternalIDDedupUnderConcurrency", testExternalIDDedup},
		{"CancelSemantics", testCancel},
		{"ConcurrentClaimsCountEachAttemptOnce", testConcurrentClaims},
		{"RecordAttemptsAndListFailures", testRecordAttempts},
		{"SensitiveBodyPurged", testSensitivePurge},
		{"Skip", testSkip},
		{"Redrive", testRedrive},
		{"Templates", testTemplates},
		{"Devices", testDevices},
		{"Preferences", testPreferences},
		{"Stats", testStats},
		{"PanicRollsBack", testNotifyPanicRollsBack},
		{"EraseUser", testEraseUser},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := &JobRecorder{}
			tc.fn(t, open(t, rec), rec)
		})
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func email(ext string) notify.NewNotification {
	return notify.NewNotification{AppID: "storetest", Channel: notify.ChannelEmail, Recipient: "u@example.com",
		Subject: "S", Body: "<p>B</p>", ExternalID: ext}
}

func mustCreate(t *testing.T, st notify.Store, n notify.NewNotification) string {
	t.Helper()
	c, err := st.Create(ctx(t), n)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if c.Deduplicated {
		t.Fatalf("create %+v was deduplicated", n)
	}
	return c.ID
}

func mustGet(t *testing.T, st notify.Store, id string) notify.Notification {
	t.Helper()
	n, err := st.Get(ctx(t), id)
	if err != nil {
		t.Fatalf("get %s: %v", id, err)
	}
	return n
}

// Guards: every column written by Create and read by Get (a dropped column
// fails the field comparison); the job carries channel, priority, schedule.
func testCreateAndGet(t *testing.T, st notify.Store, jobs *JobRecorder) {
	at := time.Now().Add(time.Hour).UTC().Truncate(time.Microsecond)
	badge := 3
	n := notify.NewNotification{UserID: unique("user"), AppID: "storetest", Channel: notify.ChannelPush,
		Subject: "Hi", Body: "Body", Recipient: "r", ExternalID: unique("ext"), Priority: notify.PriorityHigh,
		Data: map[string]any{"k": "v"}, TemplateID: "tpl", ScheduledFor: &at,
		Options: notify.Options{Push: &notify.PushOptions{Sound: "default", Badge: &badge}}}
	id := mustCreate(t, st, n)
	if !notify.IsUUID(id) {
		t.Fatalf("id %q is not a UUID", id)
	}
	got := mustGet(t, st, id)
	if got.Status != notify.StatusPending || got.Attempts != 0 || got.Channel != notify.ChannelPush ||
		got.Priority != notify.PriorityHigh || *got.UserID != n.UserID || got.AppID != "storetest" ||
		*got.Subject != "Hi" || *got.Body != "Body" || *got.Recipient != "r" || *got.ExternalID != n.ExternalID ||
		*got.TemplateID != "tpl" || got.ScheduledFor == nil || !got.ScheduledFor.Equal(at) ||
		got.DeliveredAt != nil || got.ErrorMessage != nil || got.Data["k"] != "v" ||
		got.Options.Push == nil || *got.Options.Push.Badge != 3 || got.CreatedAt.IsZero() {
		t.Fatalf("stored %+v", got)
	}
	js := jobs.of(id)
	if len(js) != 1 || js[0].Queue != delivery.QueueOf(notify.ChannelPush) || js[0].Priority != delivery.RiverPriority(notify.PriorityHigh) || !js[0].ScheduledAt.Equal(at) {
		t.Fatalf("jobs %+v", js)
	}
	// Absent fields are NULL; the priority defaults to normal.
	id2 := mustCreate(t, st, notify.NewNotification{AppID: "storetest", Channel: notify.ChannelEmail, Recipient: "x@example.com"})
	got2 := mustGet(t, st, id2)
	if got2.UserID != nil || got2.Subject != nil || got2.ExternalID != nil || got2.Data != nil || got2.ScheduledFor != nil ||
		got2.Options.Email != nil || got2.Priority != notify.PriorityNormal {
		t.Fatalf("absent fields stored as %+v", got2)
	}
	if js := jobs.of(id2); len(js) != 1 || !js[0].ScheduledAt.IsZero() {
		t.Fatalf("immediate job %+v", js)
	}
	if _, err := st.Get(ctx(t), strings.ToUpper(id)); err != nil {
		t.Fatalf("upper-case id: %v", err)
	}
	for _, bad := range []string{"nope", "00000000-0000-4000-8000-000000000000"} {
		if _, err := st.Get(ctx(t), bad); !errors.Is(err, notify.ErrNotFound) {
			t.Fatalf("get %q: %v, want ErrNotFound", bad, err)
		}
	}
}

// The row and its job commit together: when the job cannot be inserted,
// nothing is stored. Negative control: committing the row before calling
// the enqueuer makes the second Create come back deduplicated.
func testEnqueueFailureStoresNothing(t *testing.T, st notify.Store, jobs *JobRecorder) {
	ext := unique("ext")
	jobs.fail = errors.New("queue down")
	if _, err := st.Create(ctx(t), email(ext)); err == nil || !strings.Contains(err.Error(), "queue down") {
		t.Fatalf("create with a failing queue: %v", err)
	}
	jobs.fail = nil
	c, err := st.Create(ctx(t), email(ext))
	if err != nil || c.Deduplicated {
		t.Fatalf("after a failed create the external id is taken: %+v %v", c, err)
	}
}

// Concurrent creates with one externalId store one notification and one
// job; the unique key decides, not a read before the insert. Negative
// control: removing the idempotency-key insert lets every caller create.
func testExternalIDDedup(t *testing.T, st notify.Store, jobs *JobRecorder) {
	const callers = 8
	ext := unique("ext")
	var wg sync.WaitGroup
	results := make([]notify.Created, callers)
	errs := make([]error, callers)
	start := make(chan struct{})
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			results[i], errs[i] = st.Create(ctx(t), email(ext))
		}()
	}
	close(start)
	wg.Wait()
	created, ids := 0, map[string]bool{}
	for i := range callers {
		if errs[i] != nil {
			t.Fatalf("caller %d: %v", i, errs[i])
		}
		if !results[i].Deduplicated {
			created++
		}
		ids[results[i].ID] = true
	}
	if created != 1 || len(ids) != 1 {
		t.Fatalf("%d created, ids %v; want exactly one notification", created, ids)
	}
	for id := range ids {
		if n := len(jobs.of(id)); n != 1 {
			t.Fatalf("%d jobs for %s, want 1", n, id)
		}
		// The look-up a send makes first names the same notification.
		if got, err := st.NotificationOfExternalID(ctx(t), ext); err != nil || got != id {
			t.Fatalf("NotificationOfExternalID(%s) = %q, %v; want %s", ext, got, err, id)
		}
	}
	if got, err := st.NotificationOfExternalID(ctx(t), unique("unused")); !errors.Is(err, notify.ErrNotFound) {
		t.Fatalf("NotificationOfExternalID of an unused key = %q, %v; want ErrNotFound", got, err)
	}
}

// A cancelled notification cannot be claimed (its queued job then ends
// without delivering); only pending ones can be cancelled. Negative control:
// allowing 'cancelled' in Claim's status list fails the claim check.
func testCancel(t *testing.T, st notify.Store, _ *JobRecorder) {
	id := mustCreate(t, st, email(""))
	if err := st.Cancel(ctx(t), id); err != nil {
		t.Fatalf("cancel: %v", err)
	}
	n, claimed, err := st.Claim(ctx(t), id)
	if err != nil || claimed || n.Status != notify.StatusCancelled || n.Attempts != 0 {
		t.Fatalf("claim of a cancelled notification: claimed=%v %+v %v", claimed, n, err)
	}
	if err := st.Cancel(ctx(t), id); !errors.Is(err, notify.ErrNotPending) {
		t.Fatalf("second cancel: %v, want ErrNotPending", err)
	}
	processing := mustCreate(t, st, email(""))
	if _, ok, err := st.Claim(ctx(t), processing); err != nil || !ok {
		t.Fatalf("claim: %v %v", ok, err)
	}
	if err := st.Cancel(ctx(t), processing); !errors.Is(err, notify.ErrNotPending) {
		t.Fatalf("cancel while processing: %v, want ErrNotPending", err)
	}
	for _, bad := range []string{"nope", "00000000-0000-4000-8000-000000000000"} {
		if err := st.Cancel(ctx(t), bad); !errors.Is(err, notify.ErrNotFound) {
			t.Fatalf("cancel %q: %v, want ErrNotFound", bad, err)
		}
	}
	if _, _, err := st.Claim(ctx(t), "00000000-0000-4000-8000-000000000000"); !errors.Is(err, notify.ErrNotFound) {
		t.Fatalf("claim unknown: %v", err)
	}
}

// Concurrent claims each count their own attempt: the numbers are 1..N
// with no duplicate and the row ends at N (River runs one job per
// notification at a time; a claim after a crash must still number on).
// Negative control (run on SQLite): reading attempts with a SELECT and
// writing the value + 1 in a second statement gives duplicate numbers. After
// the final outcome no claim succeeds.
func testConcurrentClaims(t *testing.T, st notify.Store, _ *JobRecorder) {
	const claimers = 6
	id := mustCreate(t, st, email(""))
	var wg sync.WaitGroup
	numbers := make([]int, claimers)
	errs := make([]error, claimers)
	start := make(chan struct{})
	for i := range claimers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			n, ok, err := st.Claim(ctx(t), id)
			if err == nil && !ok {
				err = errors.New("not claimed")
			}
			numbers[i], errs[i] = n.Attempts, err
		}()
	}
	close(start)
	wg.Wait()
	seen := map[int]bool{}
	for i := range claimers {
		if errs[i] != nil {
			t.Fatalf("claimer %d: %v", i, errs[i])
		}
		if seen[numbers[i]] || numbers[i] < 1 || numbers[i] > claimers {
			t.Fatalf("attempt numbers %v: want each of 1..%d once", numbers, claimers)
		}
		seen[numbers[i]] = true
	}
	if n := mustGet(t, st, id); n.Attempts != claimers || n.Status != notify.StatusProcessing {
		t.Fatalf("after %d claims: %+v", claimers, n)
	}
	if err := st.RecordAttempt(ctx(t), notify.Attempt{NotificationID: id, Number: claimers, Channel: notify.ChannelEmail,
		NextStatus: notify.StatusDelivered}); err != nil {
		t.Fatal(err)
	}
	if n, ok, err := st.Claim(ctx(t), id); err != nil || ok || n.Status != notify.StatusDelivered {
		t.Fatalf("claim of a delivered notification: %v %+v %v", ok, n, err)
	}
}

// RecordAttempt moves the notification to its next state with the error;
// failed ones are listed newest first. Negative control: dropping the
// status update from RecordAttempt leaves the row processing.
func testRecordAttempts(t *testing.T, st notify.Store, _ *JobRecorder) {
	id := mustCreate(t, st, email(""))
	if _, ok, err := st.Claim(ctx(t), id); err != nil || !ok {
		t.Fatalf("claim: %v %v", ok, err)
	}
	if err := st.RecordAttempt(ctx(t), notify.Attempt{NotificationID: id, Number: 1, Channel: notify.ChannelEmail,
		Err: errors.New("smtp 451"), Duration: 12 * time.Millisecond, NextStatus: notify.StatusPending}); err != nil {
		t.Fatal(err)
	}
	if n := mustGet(t, st, id); n.Status != notify.StatusPending || n.ErrorMessage == nil || *n.ErrorMessage != "smtp 451" {
		t.Fatalf("after a retryable failure: %+v", n)
	}
	if _, ok, err := st.Claim(ctx(t), id); err != nil || !ok {
		t.Fatalf("second claim: %v %v", ok, err)
	}
	if err := st.RecordAttempt(ctx(t), notify.Attempt{NotificationID: id, Number: 2, Channel: notify.ChannelEmail,
		Err: errors.New("smtp 550"), StatusCode: 550, NextStatus: notify.StatusFailed}); err != nil {
		t.Fatal(err)
	}
	failed := mustGet(t, st, id)
	if failed.Status != notify.StatusFailed || failed.Attempts != 2 || *failed.ErrorMessage != "smtp 550" || failed.DeliveredAt != nil {
		t.Fatalf("after the last failure: %+v", failed)
	}
	// A later failure is listed before this one.
	later := mustCreate(t, st, email(""))
	if _, ok, err := st.Claim(ctx(t), later); err != nil || !ok {
		t.Fatalf("claim: %v %v", ok, err)
	}
	if err := st.RecordAttempt(ctx(t), notify.Attempt{NotificationID: later, Number: 1, Channel: notify.ChannelEmail,
		Err: errors.New("boom"), NextStatus: notify.StatusFailed}); err != nil {
		t.Fatal(err)
	}
	list, err := st.List(ctx(t), notify.StatusFailed, notify.MaxListLimit)
	if err != nil {
		t.Fatal(err)
	}
	pos := map[string]int{}
	for i, n := range list {
		if n.Status != notify.StatusFailed {
			t.Fatalf("list failed returned %s", n.Status)
		}
		pos[n.ID] = i + 1
	}
	if pos[id] == 0 || pos[later] == 0 || pos[later] > pos[id] {
		t.Fatalf("failures listed at %d (later) and %d (earlier); want both, later first", pos[later], pos[id])
	}
	if empty, err := st.List(ctx(t), notify.StatusProcessing, 1); err != nil || len(empty) > 1 {
		t.Fatalf("limit 1 returned %d: %v", len(empty), err)
	}
	delivered := mustCreate(t, st, email(""))
	if _, ok, err := st.Claim(ctx(t), delivered); err != nil || !ok {
		t.Fatalf("claim: %v %v", ok, err)
	}
	if err := st.RecordAttempt(ctx(t), notify.Attempt{NotificationID: delivered, Number: 1, Channel: notify.ChannelEmail,
		NextStatus: notify.StatusDelivered}); err != nil {
		t.Fatal(err)
	}
	if n := mustGet(t, st, delivered); n.Status != notify.StatusDelivered || n.DeliveredAt == nil || n.ErrorMessage != nil {
		t.Fatalf("delivered: %+v", n)
	}
	if err := st.RecordAttempt(ctx(t), notify.Attempt{NotificationID: "00000000-0000-4000-8000-000000000000", Number: 1,
		Channel: notify.ChannelEmail, NextStatus: notify.StatusDelivered}); err == nil {
		t.Fatal("recording an attempt of an unknown notification succeeded")
	}
}

// Skip cancels with the reason kept.
func testSkip(t *testing.T, st notify.Store, _ *JobRecorder) {
	id := mustCreate(t, st, email(""))
	if err := st.Skip(ctx(t), id, "quiet hours"); err != nil {
		t.Fatal(err)
	}
	if n := mustGet(t, st, id); n.Status != notify.StatusCancelled || n.ErrorMessage == nil || *n.ErrorMessage != "quiet hours" {
		t.Fatalf("skipped: %+v", n)
	}
	if err := st.Skip(ctx(t), "00000000-0000-4000-8000-000000000000", "x"); !errors.Is(err, notify.ErrNotFound) {
		t.Fatalf("skip unknown: %v", err)
	}
}

// Redrive puts a failed notification back to pending with a new job due at
// once; anything else is refused. Negative control: dropping the enqueue
// from Redrive fails the job count.
func testRedrive(t *testing.T, st notify.Store, jobs *JobRecorder) {
	at := time.Now().Add(time.Hour)
	n := email("")
	n.ScheduledFor = &at
	id := mustCreate(t, st, n)
	if err := st.Redrive(ctx(t), id); !errors.Is(err, notify.ErrNotFailed) {
		t.Fatalf("redrive pending: %v, want ErrNotFailed", err)
	}
	if _, ok, err := st.Claim(ctx(t), id); err != nil || !ok {
		t.Fatalf("claim: %v %v", ok, err)
	}
	if err := st.RecordAttempt(ctx(t), notify.Attempt{NotificationID: id, Number: 1, Channel: notify.ChannelEmail,
		Err: errors.New("x"), NextStatus: notify.StatusFailed}); err != nil {
		t.Fatal(err)
	}
	if err := st.Redrive(ctx(t), id); err != nil {
		t.Fatalf("redrive: %v", err)
	}
	got := mustGet(t, st, id)
	if got.Status != notify.StatusPending || got.Attempts != 1 {
		t.Fatalf("after redrive: %+v", got)
	}
	js := jobs.of(id)
	if len(js) != 2 || !js[1].ScheduledAt.IsZero() || js[1].Queue != delivery.QueueOf(notify.ChannelEmail) {
		t.Fatalf("jobs after redrive %+v", js)
	}
	// A failing enqueue leaves it failed.
	if _, ok, err := st.Claim(ctx(t), id); err != nil || !ok {
		t.Fatalf("claim: %v %v", ok, err)
	}
	if err := st.RecordAttempt(ctx(t), notify.Attempt{NotificationID: id, Number: 2, Channel: notify.ChannelEmail,
		Err: errors.New("x"), NextStatus: notify.StatusFailed}); err != nil {
		t.Fatal(err)
	}
	jobs.fail = errors.New("queue down")
	if err := st.Redrive(ctx(t), id); err == nil {
		t.Fatal("redrive with a failing queue succeeded")
	}
	jobs.fail = nil
	if got := mustGet(t, st, id); got.Status != notify.StatusFailed {
		t.Fatalf("redrive without a job changed the status to %s", got.Status)
	}
	if err := st.Redrive(ctx(t), "00000000-0000-4000-8000-000000000000"); !errors.Is(err, notify.ErrNotFound) {
		t.Fatalf("redrive unknown: %v", err)
	}
}

// System templates are seeded idempotently and are read-only; custom ones
// are created once per slug+locale, found with locale fallback, updated and
// deleted. Negative control: dropping `AND NOT is_system` from
// UpdateTemplate lets the system template change.
func testTemplates(t *testing.T, st notify.Store, _ *JobRecorder) {
	sys := unique("sys")
	seed := []notify.NewTemplate{{Slug: sys, Channel: notify.ChannelEmail, Subject: "Hallo {{.name}}",
		BodyTemplate: "<p>v1</p>", Locale: notify.DefaultLocale, Variables: []string{"name"}}}
	if err := st.SeedSystemTemplates(ctx(t), seed); err != nil {
		t.Fatal(err)
	}
	seed[0].BodyTemplate = "<p>v2</p>"
	if err := st.SeedSystemTemplates(ctx(t), seed); err != nil {
		t.Fatalf("seeding again: %v", err)
	}
	got, err := st.GetTemplate(ctx(t), sys, notify.DefaultLocale)
	if err != nil || !got.IsSystem || !got.IsActive || got.BodyTemplate != "<p>v2</p>" || string(got.Variables) != `["name"]` {
		t.Fatalf("system template %+v %v", got, err)
	}
	body := "<p>hacked</p>"
	if err := st.UpdateTemplate(ctx(t), sys, notify.DefaultLocale, notify.TemplateUpdate{BodyTemplate: &body}); !errors.Is(err, notify.ErrTemplateNotFound) {
		t.Fatalf("update of a system template: %v", err)
	}
	if err := st.DeleteTemplate(ctx(t), sys); !errors.Is(err, notify.ErrTemplateNotFound) {
		t.Fatalf("delete of a system template: %v", err)
	}
	if got, _ := st.GetTemplate(ctx(t), sys, notify.DefaultLocale); got.BodyTemplate != "<p>v2</p>" {
		t.Fatalf("system template changed to %q", got.BodyTemplate)
	}

	slug := unique("custom")
	if _, err := st.CreateTemplate(ctx(t), notify.NewTemplate{Slug: slug, AppID: "storetest", Channel: notify.ChannelEmail,
		Subject: "S", BodyTemplate: "en", Locale: "en-US"}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateTemplate(ctx(t), notify.NewTemplate{Slug: slug, Channel: notify.ChannelEmail,
		BodyTemplate: "again", Locale: "en-US"}); !errors.Is(err, notify.ErrTemplateExists) {
		t.Fatalf("duplicate create: %v", err)
	}
	// No de-DE version: the lookup falls back to the active en-US one.
	if found, err := st.FindActiveTemplate(ctx(t), slug, notify.DefaultLocale); err != nil || found.BodyTemplate != "en" {
		t.Fatalf("fallback lookup: %+v %v", found, err)
	}
	if _, err := st.CreateTemplate(ctx(t), notify.NewTemplate{Slug: slug, Channel: notify.ChannelEmail,
		BodyTemplate: "de", Locale: notify.DefaultLocale}); err != nil {
		t.Fatal(err)
	}
	if found, err := st.FindActiveTemplate(ctx(t), slug, notify.DefaultLocale); err != nil || found.BodyTemplate != "de" || found.IsSystem {
		t.Fatalf("exact lookup: %+v %v", found, err)
	}
	off := false
	if err := st.UpdateTemplate(ctx(t), slug, notify.DefaultLocale, notify.TemplateUpdate{IsActive: &off}); err != nil {
		t.Fatal(err)
	}
	if found, err := st.FindActiveTemplate(ctx(t), slug, notify.DefaultLocale); err != nil || found.BodyTemplate != "en" {
		t.Fatalf("lookup with the exact locale inactive: %+v %v", found, err)
	}
	all, err := st.ListTemplates(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	count := 0
	for _, tpl := range all {
		if tpl.Slug == slug {
			count++
		}
	}
	if count != 2 {
		t.Fatalf("list has %d rows of %s, want 2", count, slug)
	}
	if err := st.DeleteTemplate(ctx(t), slug); err != nil {
		t.Fatal(err)
	}
	if _, err := st.FindActiveTemplate(ctx(t), slug, "en-US"); !errors.Is(err, notify.ErrTemplateNotFound) {
		t.Fatalf("after delete: %v", err)
	}
}

// A push token belongs to the last user who registered it; deactivated
// devices are not listed.
func testDevices(t *testing.T, st notify.Store, _ *JobRecorder) {
	alice, bob, token := unique("alice"), unique("bob"), unique("ExponentPushToken")
	id, err := st.RegisterDevice(ctx(t), notify.NewDevice{UserID: alice, PushToken: token, TokenType: "expo", Platform: "ios"})
	if err != nil {
		t.Fatal(err)
	}
	ds, err := st.ListDevices(ctx(t), alice)
	if err != nil || len(ds) != 1 || ds[0].ID != id || ds[0].Platform == nil || *ds[0].Platform != "ios" ||
		ds[0].DeviceName != nil || !ds[0].IsActive || ds[0].LastSeenAt == nil {
		t.Fatalf("alice's devices %+v %v", ds, err)
	}
	again, err := st.RegisterDevice(ctx(t), notify.NewDevice{UserID: bob, PushToken: token, TokenType: "expo"})
	if err != nil || again != id {
		t.Fatalf("re-register: %s %v, want the same row %s", again, err, id)
	}
	if ds, _ := st.ListDevices(ctx(t), alice); len(ds) != 0 {
		t.Fatalf("token still listed for alice: %+v", ds)
	}
	if err := st.DeactivateDevice(ctx(t), alice, id); !errors.Is(err, notify.ErrDeviceNotFound) {
		t.Fatalf("alice deactivating bob's device: %v", err)
	}
	if err := st.DeactivateDevice(ctx(t), bob, id); err != nil {
		t.Fatal(err)
	}
	if ds, _ := st.ListDevices(ctx(t), bob); len(ds) != 0 {
		t.Fatalf("deactivated device listed: %+v", ds)
	}
	if _, err := st.RegisterDevice(ctx(t), notify.NewDevice{UserID: bob, PushToken: token, TokenType: "expo"}); err != nil {
		t.Fatal(err)
	}
	if err := st.DeactivateToken(ctx(t), token); err != nil {
		t.Fatal(err)
	}
	if ds, _ := st.ListDevices(ctx(t), bob); len(ds) != 0 {
		t.Fatalf("device of an unregistered token listed: %+v", ds)
	}
	if err := st.DeactivateDevice(ctx(t), bob, "nope"); !errors.Is(err, notify.ErrDeviceNotFound) {
		t.Fatalf("malformed id: %v", err)
	}
}

// Without a row the defaults answer; PUT keeps what it does not send.
func testPreferences(t *testing.T, st notify.Store, _ *JobRecorder) {
	user := unique("user")
	p, err := st.GetPreferences(ctx(t), user)
	if err != nil || p.Stored || !p.PushEnabled || p.EmailEnabled || p.Timezone != "Europe/Berlin" {
		t.Fatalf("defaults %+v %v", p, err)
	}
	yes, start, end := true, "22:00", "07:00"
	if err := st.PutPreferences(ctx(t), user, notify.PreferencesUpdate{EmailEnabled: &yes, QuietHoursEnabled: &yes,
		QuietHoursStart: &start, QuietHoursEnd: &end, CategoryPreferences: []byte(`{"news":false}`)}); err != nil {
		t.Fatal(err)
	}
	p, err = st.GetPreferences(ctx(t), user)
	if err != nil || !p.Stored || !p.EmailEnabled || !p.PushEnabled || !p.QuietHoursEnabled || *p.QuietHoursStart != "22:00" ||
		p.Timezone != "Europe/Berlin" || p.UserID != user || p.CreatedAt == nil || string(p.CategoryPreferences) == "" {
		t.Fatalf("stored %+v %v", p, err)
	}
	no, tz := false, "UTC"
	if err := st.PutPreferences(ctx(t), user, notify.PreferencesUpdate{PushEnabled: &no, Timezone: &tz}); err != nil {
		t.Fatal(err)
	}
	p, err = st.GetPreferences(ctx(t), user)
	if err != nil || p.PushEnabled || !p.EmailEnabled || p.Timezone != "UTC" || *p.QuietHoursEnd != "07:00" ||
		string(p.CategoryPreferences) == "" {
		t.Fatalf("after a partial update %+v %v", p, err)
	}
}

// testNotifyPanicRollsBack: a panic inside a store transaction (here from
// the job insert; recovered further up by the HTTP layer, which keeps
// serving) rolls the transaction back and releases its connection: the
// notification is not stored and the store answers the next call. On
// SQLite the transaction holds the only connection, which `mana serve`
// shares with auth, so without the rollback the whole server hangs.
// Negative control: without the recover-and-rollback in the store's inTx
// (internal/store/{pg,sqlite}/tx.go) the Ping below fails with "context
// deadline exceeded" on SQLite, and the Create after it on both backends.
func testNotifyPanicRollsBack(t *testing.T, st notify.Store, jobs *JobRecorder) {
	ext := unique("panic")
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("the panic did not propagate")
			}
		}()
		jobs.mu.Lock()
		jobs.panicNext = true
		jobs.mu.Unlock()
		c, err := st.Create(ctx(t), email(ext))
		t.Errorf("Create returned %+v, %v instead of panicking", c, err)
	}()
	deadline, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := st.Ping(deadline); err != nil {
		t.Fatalf("ping after a panic: %v", err)
	}
	if id, err := st.NotificationOfExternalID(deadline, ext); !errors.Is(err, notify.ErrNotFound) {
		t.Fatalf("the panicking transaction's notification was committed: %q, %v", id, err)
	}
	c, err := st.Create(deadline, email(ext))
	if err != nil || c.Deduplicated {
		t.Fatalf("create after a panic: %+v, %v", c, err)
	}
}

// Stats answers every queue asked (zero when it holds no job) and counts
// notifications that failed for good as dead letters. The queues are this
// run's own, so jobs of services sharing the database do not count.
// Negative controls: a Stats that leaves out the dead-letter count, or
// leaves a queue without jobs out of Depth, fails here.
func testStats(t *testing.T, st notify.Store, _ *JobRecorder) {
	queues := []string{unique("q"), unique("q")}
	id := mustCreate(t, st, email(""))
	if _, ok, err := st.Claim(ctx(t), id); err != nil || !ok {
		t.Fatalf("claim: %v %v", ok, err)
	}
	if err := st.RecordAttempt(ctx(t), notify.Attempt{NotificationID: id, Number: 1, Channel: notify.ChannelEmail,
		Err: errors.New("smtp 550"), NextStatus: notify.StatusFailed}); err != nil {
		t.Fatal(err)
	}
	s, err := st.Stats(ctx(t), queues)
	if err != nil {
		t.Fatalf("stats: %v", err)
	}
	for _, q := range queues {
		if d, ok := s.Depth[q]; !ok || d != 0 {
			t.Fatalf("depth of the empty queue %s = %d (present %v), want 0", q, d, ok)
		}
	}
	if s.OldestPending < 0 || s.DeadLetters < 1 {
		t.Fatalf("stats %+v: want no negative age and at least this run's dead letter", s)
	}
}

// testSensitivePurge (audit F3): a sensitive notification keeps its flag
// through the store, keeps its body while a retry may need it, and loses
// body and data with the final status in the same write.
// Negative control: RecordAttempt ignoring Purge keeps the body and fails
// "after delivery".
func testSensitivePurge(t *testing.T, st notify.Store, _ *JobRecorder) {
	n := email("")
	n.Data = map[string]any{"link": "secret"}
	n.Options.Sensitive = true
	id := mustCreate(t, st, n)
	if got := mustGet(t, st, id); !got.Options.Sensitive || got.Body == nil {
		t.Fatalf("stored: %+v; want the sensitive flag and the body", got)
	}
	for i, next := range []notify.Status{notify.StatusPending, notify.StatusDelivered} {
		if _, ok, err := st.Claim(ctx(t), id); err != nil || !ok {
			t.Fatalf("claim: %v %v", ok, err)
		}
		var sendErr error
		if next == notify.StatusPending {
			sendErr = errors.New("smtp 451")
		}
		if err := st.RecordAttempt(ctx(t), notify.Attempt{NotificationID: id, Number: i + 1, Channel: notify.ChannelEmail,
			Err: sendErr, NextStatus: next, Purge: next != notify.StatusPending}); err != nil {
			t.Fatal(err)
		}
		got := mustGet(t, st, id)
		switch next {
		case notify.StatusPending:
			if got.Body == nil || got.Data == nil {
				t.Fatalf("after a retryable failure: %+v; want the body kept for the retry", got)
			}
		default:
			if got.Body != nil || got.Data != nil || got.Status != notify.StatusDelivered {
				t.Fatalf("after delivery: %+v; want body and data purged", got)
			}
		}
	}
}

// testEraseUser: EraseUser removes the user's devices, preferences and the
// notifications to the user id or the address (any case), and nothing of
// anyone else; a second call finds nothing.
// Negative control: leaving out the recipient match keeps the mail sent to
// the address without a user id.
func testEraseUser(t *testing.T, st notify.Store, _ *JobRecorder) {
	user, other := unique("erase"), unique("keep")
	addr := strings.ToLower(user) + "@example.com"
	if _, err := st.RegisterDevice(ctx(t), notify.NewDevice{UserID: user, PushToken: unique("ExponentPushToken"), TokenType: "expo"}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.RegisterDevice(ctx(t), notify.NewDevice{UserID: other, PushToken: unique("ExponentPushToken"), TokenType: "expo"}); err != nil {
		t.Fatal(err)
	}
	yes := true
	for _, u := range []string{user, other} {
		if err := st.PutPreferences(ctx(t), u, notify.PreferencesUpdate{EmailEnabled: &yes}); err != nil {
			t.Fatal(err)
		}
	}
	toUser := email(unique("ext"))
	toUser.UserID = user
	toAddress := email(unique("ext"))
	toAddress.Recipient = strings.ToUpper(addr)
	toOther := email(unique("ext"))
	toOther.UserID = other
	ids := []string{mustCreate(t, st, toUser), mustCreate(t, st, toAddress)}
	kept := mustCreate(t, st, toOther)

	got, err := st.EraseUser(ctx(t), user, addr)
	if err != nil || got != (notify.Erased{Devices: 1, Preferences: 1, Notifications: 2}) {
		t.Fatalf("erase: %+v, %v; want 1 device, 1 preferences row, 2 notifications", got, err)
	}
	for _, id := range ids {
		if _, err := st.Get(ctx(t), id); !errors.Is(err, notify.ErrNotFound) {
			t.Fatalf("notification %s after erasure: %v, want not found", id, err)
		}
	}
	if ds, err := st.ListDevices(ctx(t), user); err != nil || len(ds) != 0 {
		t.Fatalf("devices after erasure: %+v, %v", ds, err)
	}
	if p, err := st.GetPreferences(ctx(t), user); err != nil || p.Stored {
		t.Fatalf("preferences after erasure: %+v, %v", p, err)
	}
	mustGet(t, st, kept)
	if ds, err := st.ListDevices(ctx(t), other); err != nil || len(ds) != 1 {
		t.Fatalf("the other user's devices: %+v, %v", ds, err)
	}
	if p, err := st.GetPreferences(ctx(t), other); err != nil || !p.Stored {
		t.Fatalf("the other user's preferences: %+v, %v", p, err)
	}
	if again, err := st.EraseUser(ctx(t), user, addr); err != nil || again != (notify.Erased{}) {
		t.Fatalf("second erasure: %+v, %v; want nothing", again, err)
	}
}
