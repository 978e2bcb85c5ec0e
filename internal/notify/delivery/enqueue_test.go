package delivery

import (
	"testing"
	"time"

	"github.com/mana/mana/internal/notify"
)

// A notification's job goes on the channel's queue with the channel's max
// attempts, priority and schedule. Negative controls: ignoring j.ScheduledAt
// or j.Channel fails this test.
func TestJobFollowsThePolicy(t *testing.T) {
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	args, o := DefaultPolicies().Job(notify.Job{NotificationID: id, Channel: notify.ChannelWebhook,
		Priority: notify.PriorityCritical, ScheduledAt: at})
	if args.NotificationID != id {
		t.Fatalf("args %+v", args)
	}
	if o.Queue != WebhookQueue || o.MaxAttempts != 5 || o.Priority != 1 || !o.ScheduledAt.Equal(at) {
		t.Fatalf("insert opts %+v", o)
	}
}
