package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// fakeClock is a clock the test moves.
type fakeClock struct{ t time.Time }

func newFakeClock() *fakeClock               { return &fakeClock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)} }
func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

// failHandler fails the test on any log record: a terminal gets a bar, not
// log lines.
type failHandler struct{ t *testing.T }

func (failHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h failHandler) Handle(_ context.Context, r slog.Record) error {
	h.t.Errorf("logged %q for a terminal", r.Message)
	return nil
}
func (h failHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h failHandler) WithGroup(string) slog.Handler      { return h }

func TestProgressTerminalBar(t *testing.T) {
	t.Parallel()
	c := newFakeClock()
	var out bytes.Buffer
	p := newProgress(&out, slog.New(slog.DiscardHandler), "scan", 100, true, c.now)
	want := "\rscan [                              ]   0% 0/100 0.0/s"

	c.advance(time.Second)
	p.Add(10)
	want += "\rscan [===                           ]  10% 10/100 10/s 0:09 left"
	c.advance(10 * time.Millisecond) // too soon to redraw
	p.Add(5)
	c.advance(990 * time.Millisecond)
	p.Add(85)
	want += "\rscan [==============================] 100% 100/100 50/s 0:00 left"
	p.Done()
	want += "\rscan [==============================] 100% 100/100 50/s in 0:02  \n"
	p.Add(1) // after Done: nothing
	p.Done()
	if got := out.String(); got != want {
		t.Errorf("terminal output\n got %q\nwant %q", got, want)
	}
}

func TestProgressTerminalUnknownTotal(t *testing.T) {
	t.Parallel()
	c := newFakeClock()
	var out bytes.Buffer
	p := newProgress(&out, slog.New(slog.DiscardHandler), "import", 0, true, c.now)
	c.advance(4 * time.Second)
	p.Add(2)
	if got, want := out.String(), "\rimport 0 0.0/s\rimport 2 0.5/s"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestProgressLogLines(t *testing.T) {
	t.Parallel()
	c := newFakeClock()
	var out bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&out, nil))
	p := newProgress(&out, log, "train", 1000, false, c.now)
	for range 4 { // 5s per step: lines at 10s and 20s
		c.advance(5 * time.Second)
		p.Add(100)
	}
	c.advance(5 * time.Second)
	p.SetTotal(1200)
	p.Add(100)
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

// TestProgressDetectsTerminal gives NewProgress a real terminal (a pty)
// and a buffer: the pty gets the bar, the buffer's progress goes to the log.
func TestProgressDetectsTerminal(t *testing.T) {
	t.Parallel()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal to test with: %v", err)
	}
	defer master.Close()
	if err := unix.IoctlSetPointerInt(int(master.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(master.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	tty, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer tty.Close()

	p := NewProgress(tty, slog.New(failHandler{t}), "scan", 3)
	p.Add(3)
	p.Done()
	got := make(chan string, 1)
	go func() {
		var all []byte
		buf := make([]byte, 1024)
		for !bytes.Contains(all, []byte("\n")) {
			k, err := master.Read(buf)
			if err != nil {
				break
			}
			all = append(all, buf[:k]...)
		}
		got <- string(all)
	}()
	select {
	case s := <-got:
		if !strings.HasPrefix(s, "\rscan [") || !strings.Contains(s, "100% 3/3") {
			t.Errorf("terminal got %q, want a bar", s)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("nothing drawn on the terminal")
	}

	var out, logged bytes.Buffer
	p = NewProgress(&out, slog.New(slog.NewTextHandler(&logged, nil)), "scan", 3)
	p.Add(3)
	p.Done()
	if out.Len() != 0 || !strings.Contains(logged.String(), "msg=done op=scan done=3") {
		t.Errorf("non-terminal: wrote %q, logged %q", out.String(), logged.String())
	}
}
