package daemon

import (
	"context"
	"log/slog"
	"time"
)

// drainContext returns the context of work already under way when ctx
// ends: it outlives ctx by at most timeout, then ends too, with a warning
// naming what was cut short. Work cut short is safe to stop: its state is
// in the database and the next start (or another instance) finishes it.
// stop releases the context once the work is done; it must be called.
func drainContext(ctx context.Context, timeout time.Duration, log *slog.Logger, what string) (drain context.Context, stop func()) {
	drain, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		select {
		case <-done:
			return
		case <-ctx.Done():
		}
		timer := time.NewTimer(timeout)
		defer timer.Stop()
		select {
		case <-done:
		case <-timer.C:
			log.Warn("shutdown drain timed out; the rest is finished at the next start", "work", what, "timeout", timeout)
			cancel()
		}
	}()
	return drain, func() {
		close(done)
		<-finished
		cancel()
	}
}
