// Package progress reports a long operation (the first scan of a large
// inbox, `import logs`, training) in log lines: one every Every with the
// count, the total when known, the rate and the time left, and one at the
// end. On a terminal, cmd/screend draws a bar instead.
package progress

import (
	"log/slog"
	"math"
	"sync"
	"time"
)

// Log reports an operation in log lines. It is safe for concurrent use.
type Log struct {
	log  *slog.Logger
	name string
	// Every is how often a line is written. Default: 10s.
	Every time.Duration
	now   func() time.Time

	mu       sync.Mutex
	total    int
	done     int
	start    time.Time
	logged   time.Time
	finished bool
}

// NewLog starts reporting the operation name of total items (0 or less when
// the total is not known yet) to log.
func NewLog(log *slog.Logger, name string, total int) *Log {
	return newLog(log, name, total, time.Now)
}

func newLog(log *slog.Logger, name string, total int, now func() time.Time) *Log {
	start := now()
	return &Log{log: log, name: name, Every: 10 * time.Second, now: now, total: total, start: start, logged: start}
}

// SetTotal changes the number of items, for operations that learn it as
// they go.
func (p *Log) SetTotal(total int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.total = total
}

// Add records n more items done.
func (p *Log) Add(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.add(n)
}

// Set records that done of total items are done, for callbacks that count
// from the start (training.Config.Progress).
func (p *Log) Set(done, total int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.total = total
	p.add(done - p.done)
}

func (p *Log) add(n int) {
	if p.finished {
		return
	}
	p.done += n
	now := p.now()
	if now.Sub(p.logged) < p.Every {
		return
	}
	p.logged = now
	done, total, rate, eta := p.stats(now)
	attrs := []any{"op", p.name, "done", done}
	if total > 0 {
		attrs = append(attrs, "total", total, "percent", math.Min(100*float64(done)/float64(total), 100))
	}
	attrs = append(attrs, "rate", roundRate(rate))
	if eta >= 0 {
		attrs = append(attrs, "eta", eta.Round(time.Second).String())
	}
	p.log.Info("progress", attrs...)
}

// Done writes the summary line. Later calls do nothing.
func (p *Log) Done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.finished {
		return
	}
	p.finished = true
	now := p.now()
	done, _, rate, _ := p.stats(now)
	p.log.Info("done", "op", p.name, "done", done, "elapsed", now.Sub(p.start).Round(time.Millisecond).String(),
		"rate", roundRate(rate))
}

// stats returns the counts, the rate in items per second since the start
// and the estimated time left (-1 when unknown).
func (p *Log) stats(now time.Time) (done, total int, rate float64, eta time.Duration) {
	elapsed := now.Sub(p.start).Seconds()
	if elapsed > 0 {
		rate = float64(p.done) / elapsed
	}
	eta = -1
	if p.total > 0 && rate > 0 {
		left := max(p.total-p.done, 0)
		eta = time.Duration(float64(left) / rate * float64(time.Second))
	}
	return p.done, p.total, rate, eta
}

// roundRate keeps a rate readable in logs: two decimals below 10, whole
// numbers above.
func roundRate(r float64) float64 {
	if r < 10 {
		return math.Round(r*100) / 100
	}
	return math.Round(r)
}
