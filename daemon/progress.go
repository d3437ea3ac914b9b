package daemon

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// Progress reports a long operation (the first scan of a large inbox,
// `import logs`, `train`). On a terminal it redraws one line with a bar,
// the count, the rate and the time left; otherwise (under systemd, in a
// pipe) it logs a line every LogEvery with done, total, rate and ETA, and
// one at the end. It is safe for concurrent use.
type Progress struct {
	w        io.Writer
	log      *slog.Logger
	name     string
	terminal bool
	// LogEvery is how often a log line is written when w is not a
	// terminal. Default: 10s.
	LogEvery time.Duration
	now      func() time.Time

	mu       sync.Mutex
	total    int
	done     int
	start    time.Time
	drawn    time.Time // last redraw (terminal)
	logged   time.Time // last log line (otherwise)
	width    int       // length of the last line drawn, to clear leftovers
	finished bool
}

// progressRedraw is the shortest time between two redraws on a terminal.
const progressRedraw = 100 * time.Millisecond

// progressBar is the width of the bar in characters.
const progressBar = 30

// NewProgress starts reporting the operation name of total items (0 or
// less when the total is not known yet) to w when it is a terminal, else
// to log.
func NewProgress(w io.Writer, log *slog.Logger, name string, total int) *Progress {
	return newProgress(w, log, name, total, IsTerminal(w), time.Now)
}

func newProgress(w io.Writer, log *slog.Logger, name string, total int, terminal bool, now func() time.Time) *Progress {
	start := now()
	p := &Progress{
		w: w, log: log, name: name, terminal: terminal, LogEvery: 10 * time.Second, now: now,
		total: total, start: start, logged: start,
	}
	if terminal {
		p.mu.Lock()
		p.draw(start)
		p.mu.Unlock()
	}
	return p
}

// SetTotal changes the number of items, for operations that learn it as
// they go.
func (p *Progress) SetTotal(total int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.total = total
}

// Add records n more items done.
func (p *Progress) Add(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.finished {
		return
	}
	p.done += n
	now := p.now()
	switch {
	case p.terminal && now.Sub(p.drawn) >= progressRedraw:
		p.draw(now)
	case !p.terminal && now.Sub(p.logged) >= p.LogEvery:
		p.logged = now
		done, total, rate, eta := p.stats(now)
		attrs := []any{"op", p.name, "done", done}
		if total > 0 {
			attrs = append(attrs, "total", total, "percent", percent(done, total))
		}
		attrs = append(attrs, "rate", roundRate(rate))
		if eta >= 0 {
			attrs = append(attrs, "eta", eta.Round(time.Second).String())
		}
		p.log.Info("progress", attrs...)
	}
}

// Done ends the report: the final line on a terminal, a summary log line
// otherwise. Later calls do nothing.
func (p *Progress) Done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.finished {
		return
	}
	p.finished = true
	now := p.now()
	if p.terminal {
		p.draw(now)
		fmt.Fprintln(p.w)
		return
	}
	done, _, rate, _ := p.stats(now)
	p.log.Info("done", "op", p.name, "done", done, "elapsed", now.Sub(p.start).Round(time.Millisecond).String(),
		"rate", roundRate(rate))
}

// stats returns the counts, the rate in items per second since the start
// and the estimated time left (-1 when unknown).
func (p *Progress) stats(now time.Time) (done, total int, rate float64, eta time.Duration) {
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

// draw redraws the terminal line: carriage return, the line, and spaces
// over what is left of a longer previous line.
func (p *Progress) draw(now time.Time) {
	p.drawn = now
	done, total, rate, eta := p.stats(now)
	var b strings.Builder
	b.WriteString(p.name)
	b.WriteByte(' ')
	if total > 0 {
		filled := min(progressBar*done/total, progressBar)
		b.WriteByte('[')
		b.WriteString(strings.Repeat("=", filled))
		b.WriteString(strings.Repeat(" ", progressBar-filled))
		fmt.Fprintf(&b, "] %3.0f%% %d/%d", percent(done, total), done, total)
	} else {
		fmt.Fprintf(&b, "%d", done)
	}
	fmt.Fprintf(&b, " %s/s", formatRate(rate))
	switch {
	case p.finished:
		fmt.Fprintf(&b, " in %s", formatClock(now.Sub(p.start)))
	case eta >= 0:
		fmt.Fprintf(&b, " %s left", formatClock(eta))
	}
	line := b.String()
	pad := max(p.width-len(line), 0)
	p.width = len(line)
	fmt.Fprintf(p.w, "\r%s%s", line, strings.Repeat(" ", pad))
}

func percent(done, total int) float64 {
	return min(100*float64(done)/float64(total), 100)
}

// roundRate keeps a rate readable in logs: two decimals below 10, whole
// numbers above.
func roundRate(r float64) float64 {
	if r < 10 {
		return float64(int(r*100+0.5)) / 100
	}
	return float64(int(r + 0.5))
}

func formatRate(r float64) string {
	if r < 10 {
		return fmt.Sprintf("%.1f", r)
	}
	return fmt.Sprintf("%.0f", r)
}

// formatClock prints a duration as m:ss or h:mm:ss.
func formatClock(d time.Duration) string {
	s := int(d.Round(time.Second).Seconds())
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}
