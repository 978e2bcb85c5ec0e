package delivery

import (
	"github.com/riverqueue/river"

	"github.com/mana/mana/internal/notify"
)

// Job is the River job that delivers j: its args and the options that put
// it on the channel's queue with the channel's max attempts (p), at the
// notification's priority and at j.ScheduledAt. The stores insert it with
// jobs.TxInserter in the transaction that writes the notification.
func (p Policies) Job(j notify.Job) (Args, *river.InsertOpts) {
	return Args{NotificationID: j.NotificationID}, p.InsertOpts(j.Channel, j.Priority, j.ScheduledAt)
}
