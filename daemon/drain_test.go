package daemon

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// TestDrainContext: the drain context outlives its parent by the timeout
// at most, says so in the log when the timeout cut work short, and is
// quiet when the work finished in time.
func TestDrainContext(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name     string
		cancel   bool          // the parent ends
		timeout  time.Duration // the drain timeout
		wantDone bool          // the drain context ends before stop
	}{
		{"parent running", false, time.Millisecond, false},
		{"work finishes in time", true, time.Hour, false},
		{"timeout cuts work short", true, time.Millisecond, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var out bytes.Buffer
			log := slog.New(slog.NewTextHandler(&out, nil))
			parent, cancel := context.WithCancel(context.Background())
			defer cancel()
			drain, stop := drainContext(parent, c.timeout, log, "test work")
			if c.cancel {
				cancel()
			}
			select {
			case <-drain.Done():
				if !c.wantDone {
					t.Fatal("drain context ended with the timeout not reached")
				}
			case <-time.After(200 * time.Millisecond):
				if c.wantDone {
					t.Fatal("drain context still running 200ms after a 1ms timeout")
				}
			}
			stop()
			if drain.Err() == nil {
				t.Error("drain context still running after stop")
			}
			warned := strings.Contains(out.String(), "shutdown drain timed out") && strings.Contains(out.String(), "test work")
			if warned != c.wantDone {
				t.Errorf("log %q: warned %v, want %v", out.String(), warned, c.wantDone)
			}
		})
	}
}
