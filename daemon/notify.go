package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	sd "github.com/coreos/go-systemd/v22/daemon"
)

// Notifier tells systemd about the service's state with the sd_notify
// protocol (github.com/coreos/go-systemd/v22/daemon), on the socket named by
// $NOTIFY_SOCKET. When NOTIFY_SOCKET is unset, as outside a Type=notify unit,
// every method does nothing and returns nil; so does a nil *Notifier. A
// Notifier is safe for concurrent use.
type Notifier struct {
	enabled bool
	// watchdog is the unit's WatchdogSec= (from WATCHDOG_USEC), zero when
	// the watchdog is off or meant for another process (WATCHDOG_PID).
	watchdog time.Duration
}

// NewNotifier reads NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID from the
// environment.
func NewNotifier() *Notifier {
	n := &Notifier{enabled: os.Getenv("NOTIFY_SOCKET") != ""}
	if n.enabled {
		n.watchdog, _ = sd.SdWatchdogEnabled(false) // a bad value: no watchdog
	}
	return n
}

// Enabled tells whether systemd listens to the notifier.
func (n *Notifier) Enabled() bool { return n != nil && n.enabled }

// WatchdogTimeout is the unit's WatchdogSec=: systemd kills the service when
// no WATCHDOG=1 arrives for that long. Zero means no watchdog.
func (n *Notifier) WatchdogTimeout() time.Duration {
	if !n.Enabled() {
		return 0
	}
	return n.watchdog
}

// Ready tells systemd that start-up is complete (READY=1): for screend,
// once the database, schema, models and watches are up.
func (n *Notifier) Ready() error { return n.Send(sd.SdNotifyReady) }

// Stopping tells systemd that the service is shutting down (STOPPING=1).
func (n *Notifier) Stopping() error { return n.Send(sd.SdNotifyStopping) }

// Watchdog tells systemd that the service is alive and well (WATCHDOG=1).
func (n *Notifier) Watchdog() error { return n.Send(sd.SdNotifyWatchdog) }

// Status sets the one-line status `systemctl status` shows (STATUS=...).
func (n *Notifier) Status(text string) error {
	return n.Send("STATUS=" + strings.ReplaceAll(text, "\n", " "))
}

// Send sends the assignments (such as "READY=1") in one datagram.
func (n *Notifier) Send(assignments ...string) error {
	if !n.Enabled() {
		return nil
	}
	if _, err := sd.SdNotify(false, strings.Join(assignments, "\n")); err != nil {
		return fmt.Errorf("notify systemd: %w", err)
	}
	return nil
}

// HealthFunc reports whether the daemon is doing its job. It returns nil
// when the database answers and the pipeline either made progress recently
// or has nothing to do (nothing pending, or only work waiting for a human or
// for a project to settle); otherwise an error that says what is wrong in a
// short lower-case phrase, shown in /healthz and `systemctl status`. Slow
// but progressing work is healthy. It is called every few seconds by the
// Watchdog and on every /healthz request, possibly concurrently, so it must
// be cheap, safe for concurrent use, free of side effects (a call must not
// reset a "progress since the last call" state), and return by ctx's
// deadline.
type HealthFunc func(ctx context.Context) error

// Watchdog keeps systemd's watchdog fed while the daemon is healthy: every
// half WatchdogSec it asks the HealthFunc and sends WATCHDOG=1 only when the
// answer is nil. An unhealthy daemon thus gets no pings and is killed
// (SIGABRT, which makes the Go runtime dump every goroutine to the journal)
// and restarted by systemd once WatchdogSec has passed.
type Watchdog struct {
	notifier *Notifier
	health   HealthFunc
	log      *slog.Logger
}

// NewWatchdog builds the watchdog; health nil means always healthy.
func NewWatchdog(n *Notifier, health HealthFunc, log *slog.Logger) *Watchdog {
	if health == nil {
		health = func(context.Context) error { return nil }
	}
	return &Watchdog{notifier: n, health: health, log: log}
}

// Run feeds the watchdog until ctx ends. Without a watchdog (WatchdogSec=
// unset, or not under systemd) it returns nil at once.
func (w *Watchdog) Run(ctx context.Context) error {
	timeout := w.notifier.WatchdogTimeout()
	if timeout <= 0 {
		return nil
	}
	every := timeout / 2
	w.log.Debug("watchdog on", "timeout", timeout, "every", every)
	tick := time.NewTicker(every)
	defer tick.Stop()
	var lastErr error
	healthy := true
	for {
		cctx, cancel := context.WithTimeout(ctx, every)
		err := w.health(cctx)
		cancel()
		if ctx.Err() != nil {
			return nil
		}
		switch {
		case err == nil:
			if !healthy {
				w.log.Info("healthy again; feeding the watchdog")
				w.status("running")
			}
			if err := w.notifier.Watchdog(); err != nil {
				w.log.Warn("feed watchdog", "err", err)
			}
		case healthy || err.Error() != lastErr.Error():
			w.log.Warn("unhealthy; not feeding the watchdog", "err", err, "restart_after", timeout)
			w.status("unhealthy: " + err.Error())
		}
		healthy, lastErr = err == nil, err
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

func (w *Watchdog) status(text string) {
	if err := w.notifier.Status(text); err != nil {
		w.log.Warn("set systemd status", "err", err)
	}
}
