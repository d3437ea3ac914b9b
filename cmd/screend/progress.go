package main

import (
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/schollz/progressbar/v3"

	"screend/internal/progress"
)

// progressReporter reports a long operation (`import logs`, `train`).
type progressReporter interface {
	// Add records n more items done.
	Add(n int)
	// Set records that done of total items are done.
	Set(done, total int)
	// Done ends the report.
	Done()
}

// newProgress reports the operation name of total items (0 when not known
// yet): as a bar with the count, rate and time left when w is a terminal,
// otherwise as log lines every 10 s (internal/progress).
func newProgress(w io.Writer, log *slog.Logger, name string, total int) progressReporter {
	if !isTerminal(w) {
		return progress.NewLog(log, name, total)
	}
	return newBar(w, name, total)
}

// bar is a progress bar on a terminal.
type bar struct{ b *progressbar.ProgressBar }

func newBar(w io.Writer, name string, total int) *bar {
	if total <= 0 {
		total = -1 // a spinner until the total is known
	}
	return &bar{progressbar.NewOptions(total,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(name),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(w) }),
	)}
}

func (b *bar) Add(n int) { _ = b.b.Add(n) }

func (b *bar) Set(done, total int) {
	if int64(total) != b.b.GetMax64() {
		b.b.ChangeMax(total)
	}
	_ = b.b.Set(done)
}

func (b *bar) Done() {
	if !b.b.IsFinished() {
		_ = b.b.Finish()
	}
}
