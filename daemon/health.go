package daemon

import (
	"context"
	"fmt"
	"sync"
	"time"
)

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
	if err := h.d.db.Ping(ctx); err != nil {
		return fmt.Errorf("database unreachable: %w", err)
	}
	count := h.d.metrics.Progress()
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
	if st.Pending > st.Unseen {
		return fmt.Errorf("no progress for %s with %d items pending", since.Round(time.Second), st.Pending)
	}
	return nil
}
