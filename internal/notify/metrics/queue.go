package metrics

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// QueueStats are read from the database at scrape time.
type QueueStats struct {
	Depth         map[string]int
	OldestPending time.Duration
	DeadLetters   int
}

// QueueReader reads the current backlog.
type QueueReader func(ctx context.Context) (QueueStats, error)

var (
	queueDepthDesc = prometheus.NewDesc("mana_notify_queue_depth",
		"Delivery jobs waiting to run (available, scheduled or retrying), by queue.", []string{"queue"}, nil)
	oldestPendingDesc = prometheus.NewDesc("mana_notify_queue_oldest_pending_seconds",
		"Age of the oldest delivery job that is due and not yet running.", nil, nil)
	deadLettersDesc = prometheus.NewDesc("mana_notify_dead_letters",
		"Notifications that failed for good (status failed); re-drive with `mana notify retry <id>`.", nil, nil)
)

// queueCollector queries at scrape time. A failed query is reported as an
// invalid metric, which fails the scrape (HTTPErrorOnError) instead of
// showing a stale or zero backlog.
type queueCollector struct {
	read    QueueReader
	timeout time.Duration
}

func (c queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- queueDepthDesc
	ch <- oldestPendingDesc
	ch <- deadLettersDesc
}

func (c queueCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	st, err := c.read(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(queueDepthDesc, fmt.Errorf("read queue stats: %w", err))
		return
	}
	for q, n := range st.Depth {
		ch <- prometheus.MustNewConstMetric(queueDepthDesc, prometheus.GaugeValue, float64(n), q)
	}
	ch <- prometheus.MustNewConstMetric(oldestPendingDesc, prometheus.GaugeValue, st.OldestPending.Seconds())
	ch <- prometheus.MustNewConstMetric(deadLettersDesc, prometheus.GaugeValue, float64(st.DeadLetters))
}

// WatchQueue adds the backlog gauges, read by read at every scrape.
func (m *Notify) WatchQueue(read QueueReader) error {
	if err := m.registry.Register(queueCollector{read: read, timeout: 3 * time.Second}); err != nil {
		return fmt.Errorf("register queue metrics: %w", err)
	}
	return nil
}
