package progress

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// fakeClock is a clock the test moves.
type fakeClock struct{ t time.Time }

func newFakeClock() *fakeClock               { return &fakeClock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)} }
func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func TestLogLines(t *testing.T) {
	t.Parallel()
	c := newFakeClock()
	var out bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&out, nil))
	p := newLog(log, "train", 1000, c.now)
	for range 4 { // 5s per step: lines at 10s and 20s
		c.advance(5 * time.Second)
		p.Add(100)
	}
	c.advance(5 * time.Second)
	p.Set(500, 1200)
	p.Done()
	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("%v: %q", err, l)
		}
		delete(m, "time")
		lines = append(lines, m)
	}
	want := []map[string]any{
		{"level": "INFO", "msg": "progress", "op": "train", "done": 200.0, "total": 1000.0, "percent": 20.0, "rate": 20.0, "eta": "40s"},
		{"level": "INFO", "msg": "progress", "op": "train", "done": 400.0, "total": 1000.0, "percent": 40.0, "rate": 20.0, "eta": "30s"},
		{"level": "INFO", "msg": "done", "op": "train", "done": 500.0, "elapsed": "25s", "rate": 20.0},
	}
	if got, exp := fmt.Sprint(lines), fmt.Sprint(want); got != exp {
		t.Errorf("log lines\n got %s\nwant %s", got, exp)
	}
}
