package daemon

import (
	"context"
	"time"
)

// waker runs a component's work in rounds: at start, whenever another part
// says there may be work (Wake), and every poll interval, for what other
// instances did.
type waker chan struct{}

func newWaker() waker { return make(waker, 1) }

// Wake asks for a round soon; wake-ups while one is pending merge.
func (w waker) Wake() {
	select {
	case w <- struct{}{}:
	default:
	}
}

// run calls step until ctx ends: at once, then on every wake-up and every
// poll, repeating it while it reports that more work may be waiting.
func (w waker) run(ctx context.Context, poll time.Duration, step func() (more bool)) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-w:
		case <-timer.C:
		}
		for ctx.Err() == nil && step() {
		}
		timer.Reset(poll)
	}
}
