package daemon

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// progressMetrics are the counters that move whenever the daemon gets work
// done; health watches their sum.
var progressMetrics = map[string]bool{
	"screend_files_discovered_total":  true,
	"screend_files_embedded_total":    true,
	"screend_files_duplicate_total":   true,
	"screend_files_quarantined_total": true,
	"screend_groups_closed_total":     true,
	"screend_groups_decided_total":    true,
	"screend_groups_flagged_total":    true,
	"screend_groups_resolved_total":   true,
	"screend_groups_failed_total":     true,
	"screend_file_moves_total":        true,
}

// health tells whether the daemon is healthy: its database answers and its
// pipeline is making progress or has nothing to do. It is safe for
// concurrent use (/healthz and the watchdog ask at once).
type health struct {
	d          *Daemon
	stallAfter time.Duration

	mu         sync.Mutex
	count      float64
	lastChange time.Time
}

// Check returns nil when healthy, else what is wrong.
func (h *health) Check(ctx context.Context) error {
	if err := h.d.db.Pool.Ping(ctx); err != nil {
		return fmt.Errorf("database unreachable: %w", err)
	}
	count, err := h.d.progressCount()
	if err != nil {
		return err
	}
	now := time.Now()
	h.mu.Lock()
	if count != h.count || h.lastChange.IsZero() {
		h.count, h.lastChange = count, now
	}
	since := now.Sub(h.lastChange)
	h.mu.Unlock()
	if since < h.stallAfter {
		return nil
	}
	st, err := h.d.db.ReadStatus(ctx)
	if err != nil {
		return err
	}
	if st.Pending > 0 {
		return fmt.Errorf("no progress for %s with %d items pending", since.Round(time.Second), st.Pending)
	}
	return nil
}

// progressCount sums the progress counters.
func (d *Daemon) progressCount() (float64, error) {
	families, err := d.metrics.Registry.Gather()
	if err != nil {
		return 0, fmt.Errorf("read metrics: %w", err)
	}
	sum := 0.0
	for _, f := range families {
		if progressMetrics[f.GetName()] {
			for _, m := range f.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum, nil
}
