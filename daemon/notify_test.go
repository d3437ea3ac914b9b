package daemon_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"screend/cmd/screend/config"

	"screend/daemon"
)

// systemd is a fake systemd notification socket: it receives the datagrams
// a Notifier sends.
type systemd struct {
	addr string
	msgs chan string
}

// listenNotify listens on a unixgram socket, at a path or, for abstract,
// in the abstract namespace ("@..."), until the test ends.
func listenNotify(t *testing.T, abstract bool) *systemd {
	t.Helper()
	var addr string
	if abstract {
		addr = fmt.Sprintf("@screend-test-%d-%d", os.Getpid(), time.Now().UnixNano())
	} else {
		dir, err := os.MkdirTemp("", "sdn") // short: socket paths are limited to 108 bytes
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		addr = filepath.Join(dir, "notify")
	}
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	s := &systemd{addr: addr, msgs: make(chan string, 100)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			s.msgs <- string(buf[:n])
		}
	}()
	t.Cleanup(func() { conn.Close(); <-done })
	return s
}

// next returns the next message, failing the test after a timeout.
func (s *systemd) next(t *testing.T, timeout time.Duration) string {
	t.Helper()
	select {
	case m := <-s.msgs:
		return m
	case <-time.After(timeout):
		t.Fatalf("no notification within %s", timeout)
		return ""
	}
}

func lookupMap(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
}

// newNotifier is daemon.NewNotifier with exactly vars of the systemd
// variables set; the test must not be parallel (t.Setenv).
func newNotifier(t *testing.T, vars map[string]string) *daemon.Notifier {
	t.Helper()
	for _, k := range []string{"NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"} {
		t.Setenv(k, vars[k])
		if _, ok := vars[k]; !ok {
			os.Unsetenv(k)
		}
	}
	return daemon.NewNotifier()
}

func TestNotifySendsStates(t *testing.T) {
	for _, abstract := range []bool{false, true} {
		t.Run(fmt.Sprintf("abstract=%v", abstract), func(t *testing.T) {
			sd := listenNotify(t, abstract)
			n := newNotifier(t, map[string]string{"NOTIFY_SOCKET": sd.addr})
			if !n.Enabled() {
				t.Fatal("notifier disabled with NOTIFY_SOCKET set")
			}
			steps := []struct {
				send func() error
				want string
			}{
				{n.Ready, "READY=1"},
				{func() error { return n.Status("scanning\ninbox") }, "STATUS=scanning inbox"},
				{n.Watchdog, "WATCHDOG=1"},
				{n.Stopping, "STOPPING=1"},
			}
			for _, s := range steps {
				if err := s.send(); err != nil {
					t.Fatal(err)
				}
				if got := sd.next(t, 2*time.Second); got != s.want {
					t.Errorf("got %q, want %q", got, s.want)
				}
			}
		})
	}
}

func TestNotifyWithoutSocketIsNoOp(t *testing.T) {
	n := newNotifier(t, map[string]string{"WATCHDOG_USEC": "1000000"})
	if n.Enabled() || n.WatchdogTimeout() != 0 {
		t.Fatalf("enabled=%v watchdog=%s without NOTIFY_SOCKET", n.Enabled(), n.WatchdogTimeout())
	}
	for _, f := range []func() error{n.Ready, n.Watchdog, n.Stopping, func() error { return n.Status("x") }} {
		if err := f(); err != nil {
			t.Errorf("no-op notifier returned %v", err)
		}
	}
	w := daemon.NewWatchdog(n, nil, slog.New(slog.DiscardHandler))
	if err := w.Run(context.Background()); err != nil { // returns at once
		t.Fatal(err)
	}
}

func TestNotifySocketGoneIsAnError(t *testing.T) {
	n := newNotifier(t, map[string]string{"NOTIFY_SOCKET": filepath.Join(t.TempDir(), "none")})
	if err := n.Ready(); err == nil {
		t.Fatal("no error for a missing socket")
	}
}

func TestNotifyWatchdogTimeout(t *testing.T) {
	pid := strconv.Itoa(os.Getpid())
	for _, tc := range []struct {
		vars map[string]string
		want time.Duration
	}{
		{map[string]string{"NOTIFY_SOCKET": "/x", "WATCHDOG_USEC": "30000000"}, 30 * time.Second},
		{map[string]string{"NOTIFY_SOCKET": "/x", "WATCHDOG_USEC": "30000000", "WATCHDOG_PID": pid}, 30 * time.Second},
		{map[string]string{"NOTIFY_SOCKET": "/x", "WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}, 0},
		{map[string]string{"NOTIFY_SOCKET": "/x", "WATCHDOG_USEC": "bad"}, 0},
		{map[string]string{"NOTIFY_SOCKET": "/x"}, 0},
	} {
		if got := newNotifier(t, tc.vars).WatchdogTimeout(); got != tc.want {
			t.Errorf("%v: got %s, want %s", tc.vars, got, tc.want)
		}
	}
}

// TestWatchdogFeedsOnlyWhileHealthy runs the watchdog with WatchdogSec=200ms
// (a ping every 100ms) and a health function the test switches: WATCHDOG=1
// arrives while healthy, stops while unhealthy (a STATUS= says why), and
// resumes when healthy again.
func TestWatchdogFeedsOnlyWhileHealthy(t *testing.T) {
	sd := listenNotify(t, false)
	n := newNotifier(t, map[string]string{"NOTIFY_SOCKET": sd.addr, "WATCHDOG_USEC": "200000"})
	var sick atomic.Bool
	var calls atomic.Int64
	health := func(ctx context.Context) error {
		calls.Add(1)
		if _, ok := ctx.Deadline(); !ok {
			t.Error("health called without a deadline")
		}
		if sick.Load() {
			return errors.New("database unreachable")
		}
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- daemon.NewWatchdog(n, health, slog.New(slog.DiscardHandler)).Run(ctx) }()

	// Healthy: pings every 100ms.
	for range 3 {
		if got := sd.next(t, time.Second); got != "WATCHDOG=1" {
			t.Fatalf("healthy: got %q, want WATCHDOG=1", got)
		}
	}
	// Unhealthy: after at most one ping in flight, a status and no pings
	// for several intervals although health is still asked.
	sick.Store(true)
	deadline := time.After(time.Second)
	for got := ""; got != "STATUS=unhealthy: database unreachable"; {
		select {
		case got = <-sd.msgs:
			if got != "WATCHDOG=1" && got != "STATUS=unhealthy: database unreachable" {
				t.Fatalf("unhealthy: unexpected %q", got)
			}
		case <-deadline:
			t.Fatal("no STATUS=unhealthy within 1s")
		}
	}
	before := calls.Load()
	select {
	case got := <-sd.msgs:
		t.Fatalf("unhealthy: got %q, want silence", got)
	case <-time.After(500 * time.Millisecond):
	}
	if calls.Load()-before < 3 {
		t.Errorf("health asked %d times in 500ms while unhealthy, want >= 3", calls.Load()-before)
	}
	// Healthy again: status back to running, pings resume.
	sick.Store(false)
	if got := sd.next(t, time.Second); got != "STATUS=running" {
		t.Fatalf("recovered: got %q, want STATUS=running", got)
	}
	if got := sd.next(t, time.Second); got != "WATCHDOG=1" {
		t.Fatalf("recovered: got %q, want WATCHDOG=1", got)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

// unitFile is the systemd unit, relative to this package.
const unitFile = "../systemd/screend.service"

// systemdAnalyze returns the path of systemd-analyze or skips the test.
func systemdAnalyze(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not found (Debian package systemd; scripts/setup.sh installs it): unit not checked")
	}
	return path
}

// TestNotifyUnitVerifies runs `systemd-analyze verify` on the unit. Until
// screend is installed, ExecStart= points at this test binary so that the
// check of the executable passes.
func TestNotifyUnitVerifies(t *testing.T) {
	t.Parallel()
	analyze := systemdAnalyze(t)
	unit, err := os.ReadFile(unitFile)
	if err != nil {
		t.Fatal(err)
	}
	const bin = "/usr/local/bin/screend"
	if _, err := exec.LookPath(bin); err != nil {
		self, err := os.Executable()
		if err != nil {
			t.Fatal(err)
		}
		unit = []byte(strings.ReplaceAll(string(unit), "ExecStart="+bin+" ", "ExecStart="+self+" "))
	}
	path := filepath.Join(t.TempDir(), "screend.service")
	if err := os.WriteFile(path, unit, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", path).CombinedOutput()
	if err != nil || len(out) > 0 {
		t.Fatalf("systemd-analyze verify %s: %v\n%s", unitFile, err, out)
	}
}

// TestNotifyUnitSecurity requires `systemd-analyze security --offline=true`
// to rate the unit at most 2.5 ("OK" or better).
func TestNotifyUnitSecurity(t *testing.T) {
	t.Parallel()
	analyze := systemdAnalyze(t)
	out, err := exec.Command(analyze, "security", "--offline=true", "--no-pager", unitFile).CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze security --offline=true %s: %v\n%s", unitFile, err, out)
	}
	m := regexp.MustCompile(`Overall exposure level for screend\.service: ([0-9.]+) (\w+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no exposure level in:\n%s", out)
	}
	score, _ := strconv.ParseFloat(string(m[1]), 64)
	t.Logf("exposure level %.1f %s", score, m[2])
	if score > 2.5 {
		t.Errorf("exposure level %.1f %s, want at most 2.5:\n%s", score, m[2], out)
	}
}

// TestNotifyUnitShape checks what the daemon relies on, and that every
// setting of the unit is explained by the comment line above it.
func TestNotifyUnitShape(t *testing.T) {
	t.Parallel()
	f, err := os.Open(unitFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var settings []string
	prev := ""
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line != "" && !strings.HasPrefix(line, "#") && !strings.HasPrefix(line, "[") {
			settings = append(settings, line)
			if !strings.HasPrefix(prev, "#") {
				t.Errorf("%s:%d: %q has no comment above it", unitFile, n, line)
			}
		}
		prev = line
	}
	for _, want := range []string{"Type=notify", "NotifyAccess=main", "Restart=on-failure", "User=screend",
		"StateDirectory=screend", "ReadWritePaths=/srv/screend/inbox", "EnvironmentFile=-/etc/screend/screend.env",
		"ExecStart=/usr/local/bin/screend --config /etc/screend/screend.toml run", "Environment=SCREEND_LOG_FORMAT=plain",
		"MemoryDenyWriteExecute=yes", "RestartPreventExitStatus=2"} {
		if !slices.Contains(settings, want) {
			t.Errorf("unit lacks %s", want)
		}
	}
	if !slices.ContainsFunc(settings, func(s string) bool { return strings.HasPrefix(s, "WatchdogSec=") }) {
		t.Error("unit lacks WatchdogSec=")
	}
}

// TestNotifyExampleConfigLoads loads the example configuration and
// environment files as the service would: they must be valid, and the
// inbox must be writable under the unit.
func TestNotifyExampleConfigLoads(t *testing.T) {
	t.Parallel()
	vars := map[string]string{}
	envFile, err := os.ReadFile("../systemd/screend.env.example")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(envFile), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			vars[k] = v
		}
	}
	if len(vars) == 0 {
		t.Fatal("no variables in screend.env.example")
	}
	vars["SCREEND_LOG_FORMAT"] = "plain" // the unit's Environment=
	cfg, err := config.Load("../systemd/screend.toml.example", lookupMap(vars))
	if err != nil {
		t.Fatalf("example configuration: %v", err)
	}
	unit, err := os.ReadFile(unitFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, root := range cfg.Inbox {
		if !strings.Contains(string(unit), "\nReadWritePaths="+root+"\n") {
			t.Errorf("inbox %s of the example is not in the unit's ReadWritePaths=", root)
		}
	}
}

func TestNotifyNilNotifierIsNoOp(t *testing.T) {
	t.Parallel()
	var n *daemon.Notifier
	if n.Enabled() || n.WatchdogTimeout() != 0 || n.Ready() != nil || n.Stopping() != nil || n.Status("x") != nil {
		t.Fatal("nil notifier is not a no-op")
	}
	if err := daemon.NewWatchdog(n, nil, slog.New(slog.DiscardHandler)).Run(context.Background()); err != nil {
		t.Fatal(err)
	}
}
