package delivery

import (
	"context"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/mana/mana/internal/notify/store"
)

type recordingInserter struct {
	tx   string
	args []river.JobArgs
	opts []*river.InsertOpts
}

func (r *recordingInserter) InsertTx(_ context.Context, tx string, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error) {
	r.tx = tx
	r.args, r.opts = append(r.args, args), append(r.opts, opts)
	return &rivertype.JobInsertResult{}, nil
}

// The store's enqueuer inserts in the transaction it is handed, on the
// channel's queue with the channel's max attempts, priority and schedule.
// Negative controls: ignoring j.ScheduledAt or j.Channel fails this test.
func TestEnqueuerUsesTheStoresTransactionAndThePolicy(t *testing.T) {
	jobs := &recordingInserter{}
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	enqueue := Enqueuer[string](jobs, DefaultPolicies())
	if err := enqueue(context.Background(), "tx-1", store.Job{NotificationID: id, Channel: store.ChannelWebhook,
		Priority: store.PriorityCritical, ScheduledAt: at}); err != nil {
		t.Fatal(err)
	}
	if jobs.tx != "tx-1" || len(jobs.args) != 1 || jobs.args[0].(Args).NotificationID != id {
		t.Fatalf("inserted %+v in %q", jobs.args, jobs.tx)
	}
	if o := jobs.opts[0]; o.Queue != WebhookQueue || o.MaxAttempts != 5 || o.Priority != 1 || !o.ScheduledAt.Equal(at) {
		t.Fatalf("insert opts %+v", o)
	}
}
