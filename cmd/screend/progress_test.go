package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

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

// TestProgressDetectsTerminal gives newProgress a real terminal (a pty)
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

	p := newProgress(tty, slog.New(failHandler{t}), "scan", 3)
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
		if !strings.Contains(s, "scan") || !strings.Contains(s, "100%") || !strings.Contains(s, "3/3") {
			t.Errorf("terminal got %q, want a bar", s)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("nothing drawn on the terminal")
	}

	var out, logged bytes.Buffer
	p = newProgress(&out, slog.New(slog.NewTextHandler(&logged, nil)), "scan", 3)
	p.Add(3)
	p.Done()
	if out.Len() != 0 || !strings.Contains(logged.String(), "msg=done op=scan done=3") {
		t.Errorf("non-terminal: wrote %q, logged %q", out.String(), logged.String())
	}
}
