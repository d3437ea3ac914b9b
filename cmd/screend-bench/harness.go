package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"screend/internal/procid"
)

// harnessOptions configure a harness.
type harnessOptions struct {
	// Screend is a prebuilt screend binary; empty builds one from the module.
	Screend string
	// Work is the parent of the work folder; default the temp folder.
	Work string
	// Keep keeps the work folder and the database afterwards.
	Keep bool
	// Env are extra SCREEND_* settings for the daemon (name=value).
	Env []string
}

// harness is one fresh database, one fresh inbox and the daemons run on them.
type harness struct {
	opts     harnessOptions
	bin      string
	work     string
	inbox    string
	adminURL string
	me       procid.ID
	db       *benchDB
	dbURL    string
	env      []string
	// postmaster is the PID of the PostgreSQL server of dbURL when it runs
	// on this machine (0 if not), whose CPU the daemons' samples record.
	postmaster int

	mu      sync.Mutex
	daemons []*daemonProc
	nextLog int
}

// connect opens one connection.
func connect(ctx context.Context, u string) (*pgx.Conn, error) {
	c, err := pgx.Connect(ctx, u)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", redact(u), err)
	}
	return c, nil
}

func redact(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(database)"
	}
	if _, ok := p.User.Password(); ok {
		p.User = url.UserPassword(p.User.Username(), "xxxxx")
	}
	return p.String()
}

// withDatabase returns u with its database name replaced.
func withDatabase(u, name string) (string, error) {
	p, err := url.Parse(u)
	if err != nil {
		return "", fmt.Errorf("parse database url: %w", err)
	}
	if p.Path == "" || p.Path == "/" {
		q := p.Query()
		if q.Has("dbname") {
			q.Set("dbname", name)
			p.RawQuery = q.Encode()
			return p.String(), nil
		}
	}
	p.Path = "/" + name
	return p.String(), nil
}

// templateDB is the database fresh bench databases are cloned from: the
// test database the setup script made (vector extension, not migrated).
const templateDB = "screend_test"

// newHarness builds screend (unless given), creates a database and an inbox.
func newHarness(ctx context.Context, opts harnessOptions) (*harness, error) {
	base := os.Getenv("TEST_DATABASE_URL")
	if base == "" {
		return nil, usageError{"TEST_DATABASE_URL is not set (source var/env)"}
	}
	// What the harness does beside the run: sweeping what dead runs left.
	log := slog.New(slog.NewTextHandler(os.Stderr, nil)).With("component", "harness")
	me, err := procid.Self()
	if err != nil {
		return nil, err
	}
	sweepWorkDirs(opts.Work, me, procid.Alive, log)
	h := &harness{opts: opts, me: me}
	if h.work, err = makeWorkDir(opts.Work, "screend-bench-", me); err != nil {
		return nil, err
	}
	started := false
	defer func() {
		if !started {
			h.drop()
		}
	}()
	h.inbox = filepath.Join(h.work, "inbox")
	if err := os.MkdirAll(h.inbox, 0o755); err != nil {
		return nil, err
	}
	h.bin = opts.Screend
	if h.bin == "" {
		h.bin = filepath.Join(h.work, "screend")
		if err := buildScreend(ctx, h.bin); err != nil {
			return nil, err
		}
	}
	if h.adminURL, err = withDatabase(base, "postgres"); err != nil {
		return nil, err
	}
	if h.db, err = createBenchDB(ctx, h.adminURL, benchDBPrefix, templateDB, me, log); err != nil {
		return nil, err
	}
	if h.dbURL, err = withDatabase(base, h.db.name); err != nil {
		return nil, err
	}
	h.postmaster = findPostmaster(ctx, h.dbURL)
	cfg := filepath.Join(h.work, "screend.toml")
	if err := os.WriteFile(cfg, []byte("# empty: settings come from the environment\n"), 0o644); err != nil {
		return nil, err
	}
	h.env = []string{
		"SCREEND_DATABASE_URL=" + h.dbURL,
		"SCREEND_INBOX=" + h.inbox,
		"SCREEND_LISTEN=", "SCREEND_REVIEW_LISTEN=",
		"SCREEND_RETRAIN_SCHEDULE=",
		"SCREEND_LOG_FORMAT=json",
	}
	h.env = append(h.env, opts.Env...)
	started = true
	return h, nil
}

// screendBinary returns the prebuilt binary given, or builds one into a
// temporary folder under work (every scenario of a run shares it); cleanup
// removes what it built.
func screendBinary(ctx context.Context, given, work string) (bin string, cleanup func(), err error) {
	if given != "" {
		return given, func() {}, nil
	}
	me, err := procid.Self()
	if err != nil {
		return "", nil, err
	}
	dir, err := makeWorkDir(work, "screend-bench-bin-", me)
	if err != nil {
		return "", nil, err
	}
	bin = filepath.Join(dir, "screend")
	if err := buildScreend(ctx, bin); err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	return bin, func() { os.RemoveAll(dir) }, nil
}

// buildScreend builds ./cmd/screend of the module the bench belongs to.
func buildScreend(ctx context.Context, out string) error {
	var dir bytes.Buffer
	cmd := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Dir}}")
	cmd.Stdout = &dir
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("find the screend module (run from inside it, or pass --screend): %w", err)
	}
	build := exec.CommandContext(ctx, "go", "build", "-o", out, "./cmd/screend")
	build.Dir = strings.TrimSpace(dir.String())
	if b, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/screend: %w: %s", err, b)
	}
	return nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Close stops every daemon, drops the database and removes the work
// folder (unless kept).
func (h *harness) Close() {
	h.mu.Lock()
	ds := h.daemons
	h.mu.Unlock()
	for _, d := range ds {
		d.Stop(30 * time.Second)
	}
	if h.opts.Keep {
		err := h.db.Keep()
		if err == nil {
			err = markWorkDir(h.work, commentKept, h.me)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "screend-bench: %v\n", err)
		}
		fmt.Fprintf(os.Stderr, "kept %s and database %s\n", h.work, h.db.name)
		return
	}
	h.drop()
}

// drop drops the database (if made) and removes the work folder.
func (h *harness) drop() {
	if h.db != nil {
		if err := h.db.Drop(); err != nil {
			fmt.Fprintf(os.Stderr, "screend-bench: %v\n", err)
		}
	}
	os.RemoveAll(h.work)
}

// daemonProc is one `screend run` subprocess, with its /proc samples.
type daemonProc struct {
	cmd  *exec.Cmd
	Pid  int
	Log  string
	done chan struct{}
	err  error

	// postmaster is the local PostgreSQL server's PID, or 0.
	postmaster int

	mu         sync.Mutex
	peakRSSkB  int64
	cpuTicks   int64
	startedAt  time.Time
	finishedAt time.Time
	// cpu holds a sample of the daemon's and the machine's CPU time per
	// /proc poll, to measure them over part of the run (cpuBetween).
	cpu []cpuSample
}

// cpuSample is the CPU ticks at a moment of the daemon, of the machine
// (busy, all CPUs, /proc/stat), of the PostgreSQL cluster (0 if it is not
// on this machine), of the bench's own process, and of the bench's
// children that ended (the copy, `screend status`).
type cpuSample struct {
	at                   time.Time
	daemon, all          int64
	postgres             int64
	bench, benchChildren int64
}

// cpuCores are the CPU cores used on average over an interval.
type cpuCores struct {
	Seconds  float64
	Daemon   float64
	Machine  float64
	Postgres float64
	// Bench is the bench's own process and its children other than the
	// daemon (the copy, `screend status`).
	Bench float64
}

// clkTck is the kernel's clock tick for /proc/PID/stat times.
const clkTck = 100

// Start starts a daemon with the harness's environment and extra settings.
func (h *harness) Start(extra ...string) (*daemonProc, error) {
	h.mu.Lock()
	h.nextLog++
	logPath := filepath.Join(h.work, fmt.Sprintf("screend-%02d.log", h.nextLog))
	h.mu.Unlock()
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(h.bin, "--config", filepath.Join(h.work, "screend.toml"), "run")
	cmd.Env = append(append(os.Environ(), h.env...), extra...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group (signals to the bench are not the daemon's),
	// killed when the bench dies, even by SIGKILL: an orphan daemon would
	// hold connections to the bench's database and use the machine.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start screend: %w", err)
	}
	d := &daemonProc{cmd: cmd, Pid: cmd.Process.Pid, Log: logPath, done: make(chan struct{}), startedAt: time.Now(),
		postmaster: h.postmaster}
	go func() {
		d.err = cmd.Wait()
		logf.Close()
		d.mu.Lock()
		d.finishedAt = time.Now()
		d.mu.Unlock()
		close(d.done)
	}()
	go d.sample()
	h.mu.Lock()
	h.daemons = append(h.daemons, d)
	h.mu.Unlock()
	return d, nil
}

// sample polls /proc/PID/status (VmHWM) and /proc/PID/stat (CPU time)
// until the process ends.
func (d *daemonProc) sample() {
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		d.readProc()
		select {
		case <-d.done:
			return
		case <-tick.C:
		}
	}
}

func (d *daemonProc) readProc() {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", d.Pid))
	if err != nil {
		return
	}
	var hwm int64
	for _, line := range strings.Split(string(status), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			f := strings.Fields(line)
			if len(f) >= 2 {
				hwm, _ = strconv.ParseInt(f[1], 10, 64)
			}
		}
	}
	ticks, _, _ := procTicks(d.Pid)
	busy := machineBusyTicks()
	var pg int64
	if d.postmaster > 0 {
		pg = clusterTicks(d.postmaster)
	}
	bench, benchChildren, _ := procTicks(os.Getpid())
	d.mu.Lock()
	d.peakRSSkB = max(d.peakRSSkB, hwm)
	if ticks > d.cpuTicks {
		d.cpuTicks = ticks
	}
	if ticks > 0 && busy > 0 {
		d.cpu = append(d.cpu, cpuSample{at: time.Now(), daemon: ticks, all: busy, postgres: pg,
			bench: bench, benchChildren: benchChildren})
	}
	d.mu.Unlock()
}

// machineBusyTicks returns the CPU ticks all CPUs spent busy (not idle or
// waiting for I/O) since boot, or 0.
func machineBusyTicks() int64 {
	stat, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(stat), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0
	}
	var busy int64
	for i, v := range f[1:9] {
		n, _ := strconv.ParseInt(v, 10, 64)
		if i != 3 && i != 4 { // idle, iowait
			busy += n
		}
	}
	return busy
}

// cpuBetween returns the cores the daemon, the whole machine, PostgreSQL
// and the bench used on average between from and to, from the samples
// nearest to them (all 0 if there are none in between).
func (d *daemonProc) cpuBetween(from, to time.Time) cpuCores {
	d.mu.Lock()
	defer d.mu.Unlock()
	var a, b *cpuSample
	for i := range d.cpu {
		s := &d.cpu[i]
		if a == nil && !s.at.Before(from) {
			a = s
		}
		if !s.at.After(to) {
			b = s
		}
	}
	if a == nil || b == nil || !b.at.After(a.at) {
		return cpuCores{}
	}
	secs := b.at.Sub(a.at).Seconds()
	cores := func(x, y int64) float64 { return float64(y-x) / clkTck / secs }
	c := cpuCores{Seconds: secs, Daemon: cores(a.daemon, b.daemon), Machine: cores(a.all, b.all),
		Bench: cores(a.bench+a.benchChildren, b.bench+b.benchChildren)}
	if a.postgres > 0 && b.postgres > 0 {
		c.Postgres = cores(a.postgres, b.postgres)
	}
	return c
}

// Usage returns the peak RSS (MB) and the CPU seconds used so far.
func (d *daemonProc) Usage() (peakMB, cpuSeconds float64) {
	d.readProc()
	d.mu.Lock()
	defer d.mu.Unlock()
	return float64(d.peakRSSkB) / 1024, float64(d.cpuTicks) / clkTck
}

// Kill sends SIGKILL and waits for the process to end.
func (d *daemonProc) Kill() {
	d.readProc()
	_ = d.cmd.Process.Signal(syscall.SIGKILL)
	<-d.done
}

// Stop sends SIGTERM and waits; after timeout it kills.
func (d *daemonProc) Stop(timeout time.Duration) error {
	select {
	case <-d.done:
		return nil
	default:
	}
	d.readProc()
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
		return nil
	case <-time.After(timeout):
		d.Kill()
		return fmt.Errorf("screend %d did not stop within %s; killed", d.Pid, timeout)
	}
}

// Exited tells whether the process has ended, and how.
func (d *daemonProc) Exited() (bool, error) {
	select {
	case <-d.done:
		return true, d.err
	default:
		return false, nil
	}
}

// status runs `screend status --json` against the harness's database.
type daemonStatus struct {
	Images  map[string]int `json:"images"`
	Groups  map[string]int `json:"groups"`
	Pending int            `json:"pending"`
}

func (h *harness) Status(ctx context.Context) (daemonStatus, error) {
	var st daemonStatus
	cmd := exec.CommandContext(ctx, h.bin, "--config", filepath.Join(h.work, "screend.toml"), "status", "--json")
	cmd.Env = append(os.Environ(), h.env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return st, fmt.Errorf("screend status: %w: %s", err, strings.TrimSpace(errb.String()))
	}
	if err := json.Unmarshal(out.Bytes(), &st); err != nil {
		return st, fmt.Errorf("screend status: %w", err)
	}
	return st, nil
}

// errTimeout means the daemon did not become idle in time.
var errTimeout = errors.New("timed out")

// WaitIdle waits until the daemon recorded at least images files, none is
// still discovered, and status says pending 0. While images wait to be
// processed it looks only at their count, once a second on a connection
// it keeps: `screend status` is a process and a connection of its own
// each time (about 0.13 CPU s on the 2-core development machine, half of
// it PostgreSQL's start of a backend), which during a drop measured the
// bench rather than the daemon.
func (h *harness) WaitIdle(ctx context.Context, images int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var conn *pgx.Conn
	defer func() {
		if conn != nil {
			conn.Close(context.WithoutCancel(ctx))
		}
	}()
	for {
		if conn == nil {
			conn, _ = connect(ctx, h.dbURL) // nil while the server restarts: then status says
		}
		recorded := true
		if conn != nil {
			var total, discovered int
			err := conn.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE state = 'discovered') FROM screend.images`).
				Scan(&total, &discovered)
			if err != nil {
				conn.Close(context.WithoutCancel(ctx))
				conn = nil
			}
			recorded = err != nil || total >= images && discovered == 0
		}
		var st daemonStatus
		var err error
		if recorded {
			st, err = h.Status(ctx)
			if err == nil {
				total := 0
				for _, n := range st.Images {
					total += n
				}
				if total >= images && st.Images["discovered"] == 0 && st.Pending == 0 {
					return nil
				}
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("waiting for the daemon to be idle: %w (last status %+v, err %v)", errTimeout, st, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}
