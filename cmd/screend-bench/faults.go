package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"screend/cmd/screend-bench/internal/inventory"
)

// FaultResult is one fault scenario and what the checks found.
type FaultResult struct {
	Scenario string `json:"scenario"`
	Rounds   int    `json:"rounds"`
	// KillsAt are the seconds since the drop started of each SIGKILL (or
	// PostgreSQL restart).
	KillsAt []float64 `json:"faults_at_s,omitempty"`
	// Images is the number of image files dropped (bad ones included);
	// Recorded the rows in screend.images.
	Images         int            `json:"images"`
	Recorded       int            `json:"recorded"`
	States         map[string]int `json:"image_states"`
	Inventory      string         `json:"inventory"`
	Diff           inventory.Diff `json:"inventory_diff"`
	Pending        int            `json:"pending"`
	PlannedMoves   int            `json:"planned_moves"`
	Discovered     int            `json:"discovered"`
	Embeddings     int            `json:"embeddings"`
	EmbeddedImages int            `json:"embedded_images"`
	MaxAttempts    int            `json:"max_attempts"`
	Reprocessed    int            `json:"images_claimed_more_than_once"`
	Seconds        float64        `json:"seconds"`
	OK             bool           `json:"ok"`
	Problems       []string       `json:"problems,omitempty"`
}

type faultFlags struct {
	corpus    string
	rounds    int
	scenarios string
	rate      float64
	seed      uint64
	settle    time.Duration
	embedder  string
	screend   string
	work      string
	keep      bool
	pgRestart string
	timeout   time.Duration
	out       string
	minGap    time.Duration
	maxGap    time.Duration
}

func faultsCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("faults", flag.ContinueOnError)
	var f faultFlags
	fs.StringVar(&f.corpus, "corpus", "", "corpus folder (from screend-bench corpus)")
	fs.IntVar(&f.rounds, "rounds", 20, "SIGKILL rounds")
	fs.StringVar(&f.scenarios, "scenarios", "kill,pg-restart,two-instances", "which scenarios to run")
	fs.Float64Var(&f.rate, "rate", 0, "live drop rate in image files/s (default: spread over the kill rounds)")
	fs.Uint64Var(&f.seed, "seed", 1, "seed of the random kill moments")
	fs.DurationVar(&f.settle, "settle", 10*time.Second, "SCREEND_SETTLE for the daemon")
	fs.StringVar(&f.embedder, "embedder", "builtin", "builtin or the path of an ONNX model")
	fs.StringVar(&f.screend, "screend", "", "prebuilt screend binary (default: go build ./cmd/screend)")
	fs.StringVar(&f.work, "work", "", "parent folder of the work folders")
	fs.BoolVar(&f.keep, "keep", false, "keep work folders and databases")
	fs.StringVar(&f.pgRestart, "pg-restart-cmd", "", "command restarting PostgreSQL (default: pg_ctlcluster VERSION main restart, from pg_lsclusters)")
	fs.DurationVar(&f.timeout, "timeout", 30*time.Minute, "give up waiting for the daemon after this long")
	fs.DurationVar(&f.minGap, "min-gap", 500*time.Millisecond, "shortest time between a start and its kill")
	fs.DurationVar(&f.maxGap, "max-gap", 5*time.Second, "longest time between a start and its kill")
	fs.StringVar(&f.out, "out", "", "write the JSON report to FILE and the Markdown beside it")
	if err := parse(fs, args, stderr); err != nil {
		return err
	}
	if f.corpus == "" {
		return usageError{"--corpus is required"}
	}
	bin, cleanup, err := screendBinary(ctx, f.screend, f.work)
	if err != nil {
		return err
	}
	defer cleanup()
	f.screend = bin
	rep := newReport(append([]string{"faults"}, args...))
	rep.Settings = map[string]string{"SCREEND_EMBEDDER": f.embedder, "SCREEND_SETTLE": f.settle.String()}
	failed := false
	for _, sc := range strings.Split(f.scenarios, ",") {
		sc = strings.TrimSpace(sc)
		var res *FaultResult
		var err error
		switch sc {
		case "kill":
			res, err = faultRun(ctx, rep, f, sc)
		case "pg-restart", "two-instances":
			res, err = faultRun(ctx, rep, f, sc)
		case "":
			continue
		default:
			return usageError{fmt.Sprintf("unknown scenario %q", sc)}
		}
		if err != nil {
			rep.Problems = append(rep.Problems, fmt.Sprintf("%s: %v", sc, err))
			failed = true
		}
		if res != nil {
			rep.Faults = append(rep.Faults, res)
			if !res.OK {
				failed = true
				for _, p := range res.Problems {
					rep.Problems = append(rep.Problems, sc+": "+p)
				}
			}
		}
	}
	if err := rep.finish(f.out, stdout); err != nil {
		return err
	}
	if failed {
		return errFailed
	}
	return nil
}

// badFiles are files that are not valid images, dropped with the corpus so
// that quarantine moves happen during the faults.
func badFiles(corpusDir string) (map[string][]byte, error) {
	var sample []byte
	_ = filepathWalkFirstPNG(corpusDir, &sample)
	if len(sample) == 0 {
		return nil, fmt.Errorf("no PNG in %s", corpusDir)
	}
	return map[string][]byte{
		"zz_broken_empty.png":     {},
		"zz_broken_text.png":      []byte("this is not an image\n"),
		"zz_broken_truncated.png": sample[:len(sample)/2],
	}, nil
}

func filepathWalkFirstPNG(dir string, out *[]byte) error {
	return filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || len(*out) > 0 {
			return err
		}
		if strings.HasSuffix(path, ".png") {
			*out, err = os.ReadFile(path)
		}
		return err
	})
}

// faultRun runs one scenario on a fresh database and inbox.
func faultRun(ctx context.Context, rep *Report, f faultFlags, scenario string) (*FaultResult, error) {
	start := time.Now()
	env := []string{"SCREEND_EMBEDDER=" + f.embedder, "SCREEND_SETTLE=" + f.settle.String(), "SCREEND_SCAN_INTERVAL=15s"}
	h, err := newHarness(ctx, harnessOptions{Screend: f.screend, Work: f.work, Keep: f.keep, Env: env})
	if err != nil {
		return nil, err
	}
	defer h.Close()
	if rep.Machine.PostgreSQL == "" {
		rep.Machine.PostgreSQL = postgresVersion(ctx, h.dbURL)
	}
	res := &FaultResult{Scenario: scenario}
	dr, err := newDropper(f.corpus, h.inbox, 1, 0)
	if err != nil {
		return nil, err
	}
	bad, err := badFiles(f.corpus)
	if err != nil {
		return nil, err
	}
	// The inventory before: every file the drop delivers.
	var before inventory.Inventory
	addFile := func(rel string, data []byte) {
		sum := sha256.Sum256(data)
		before = append(before, inventory.File{Path: rel, Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:])})
	}
	for _, df := range dr.files {
		for _, p := range append([][2]string{{df.src, df.dst}}, df.companions...) {
			data, err := os.ReadFile(p[0])
			if err != nil {
				return nil, err
			}
			addFile(p[1], data)
		}
	}
	for _, p := range dr.projects {
		for name, data := range bad {
			addFile(p.dst+"/"+name, data)
		}
	}
	res.Images = len(dr.files) + len(bad)*len(dr.projects)

	rng := rand.New(rand.NewPCG(f.seed, uint64(len(scenario))))
	d, err := h.Start()
	if err != nil {
		return nil, err
	}
	if err := waitStarted(ctx, h, d); err != nil {
		return nil, err
	}
	dropStart := time.Now()
	// Bad files first, so they are in the middle of the faults.
	for _, p := range dr.projects {
		for name, data := range bad {
			dst := filepath.Join(h.inbox, p.dst, name)
			os.MkdirAll(filepath.Dir(dst), 0o755)
			if err := os.WriteFile(dst, data, 0o644); err != nil {
				return nil, err
			}
		}
	}
	dropErr := make(chan error, 1)
	switch scenario {
	case "kill":
		res.Rounds = f.rounds
		rate := f.rate
		if rate <= 0 {
			mean := (f.minGap + f.maxGap).Seconds() / 2
			rate = float64(len(dr.files)) / (float64(max(1, f.rounds)) * mean * 0.8)
		}
		go func() { dropErr <- dr.Drop(ctx, "live", rate, 0) }()
		for round := 0; round < f.rounds; round++ {
			gap := f.minGap + time.Duration(rng.Float64()*float64(f.maxGap-f.minGap))
			if err := sleepCtx(ctx, gap); err != nil {
				return nil, err
			}
			if exited, err := d.Exited(); exited {
				res.Problems = append(res.Problems, fmt.Sprintf("round %d: screend exited on its own: %v (log %s)", round+1, err, d.Log))
			}
			d.Kill()
			res.KillsAt = append(res.KillsAt, round1(time.Since(dropStart).Seconds()))
			if d, err = h.Start(); err != nil {
				return nil, err
			}
		}
	case "pg-restart":
		res.Rounds = 1
		go func() { dropErr <- dr.Drop(ctx, "cp", 0, 0) }()
		if err := sleepCtx(ctx, time.Duration(2+rng.IntN(4))*time.Second); err != nil {
			return nil, err
		}
		cmd, err := pgRestartCommand(f.pgRestart)
		if err != nil {
			return nil, err
		}
		res.KillsAt = append(res.KillsAt, round1(time.Since(dropStart).Seconds()))
		if err := runQuiet(ctx, cmd[0], cmd[1:]...); err != nil {
			return nil, fmt.Errorf("restart PostgreSQL: %w", err)
		}
		// Give the daemon the time it needs to notice and reconnect.
		if err := sleepCtx(ctx, 5*time.Second); err != nil {
			return nil, err
		}
		if exited, err := d.Exited(); exited {
			res.Problems = append(res.Problems, fmt.Sprintf("screend exited after PostgreSQL restarted: %v (log %s); restarted it", err, d.Log))
			if d, err = h.Start(); err != nil {
				return nil, err
			}
		}
	case "two-instances":
		res.Rounds = 1
		if _, err := h.Start(); err != nil {
			return nil, err
		}
		go func() { dropErr <- dr.Drop(ctx, "cp", 0, 0) }()
	}
	if err := <-dropErr; err != nil {
		return nil, fmt.Errorf("drop: %w", err)
	}
	if err := h.WaitIdle(ctx, res.Images, f.timeout); err != nil {
		res.Problems = append(res.Problems, err.Error())
	}
	h.mu.Lock()
	daemons := slices.Clone(h.daemons)
	h.mu.Unlock()
	for _, dp := range daemons {
		if exited, err := dp.Exited(); exited && err != nil && !isKilled(err) {
			res.Problems = append(res.Problems, fmt.Sprintf("screend %d exited: %v (log %s)", dp.Pid, err, dp.Log))
		}
		if err := dp.Stop(30 * time.Second); err != nil {
			res.Problems = append(res.Problems, err.Error())
		}
	}
	after, err := inventory.Take(h.inbox)
	if err != nil {
		return nil, err
	}
	res.Diff = inventory.Compare(before, after)
	res.Inventory = fmt.Sprintf("%d→%d files, %d lost, %d dup, %d extra, %d moved",
		res.Diff.Before, res.Diff.After, len(res.Diff.Lost), len(res.Diff.Duplicated), len(res.Diff.Extra), res.Diff.Moved)
	if !res.Diff.OK() {
		res.Problems = append(res.Problems, "inventory differs: "+res.Diff.String()+describeDiff(res.Diff))
	}
	if err := checkState(ctx, h, res); err != nil {
		return res, err
	}
	res.Seconds = round1(time.Since(start).Seconds())
	res.OK = len(res.Problems) == 0
	return res, nil
}

func describeDiff(d inventory.Diff) string {
	var parts []string
	for _, f := range d.Lost[:min(5, len(d.Lost))] {
		parts = append(parts, "lost "+f.Path)
	}
	for _, f := range d.Duplicated[:min(5, len(d.Duplicated))] {
		parts = append(parts, "duplicated "+f.Path)
	}
	for _, f := range d.Extra[:min(5, len(d.Extra))] {
		parts = append(parts, "extra "+f.Path)
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

func isKilled(err error) bool {
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode() == -1 // ended by a signal
	}
	return false
}

// checkState checks that nothing is left half-done in the database.
func checkState(ctx context.Context, h *harness, res *FaultResult) error {
	st, err := h.Status(ctx)
	if err != nil {
		return err
	}
	res.Pending = st.Pending
	res.States = st.Images
	conn, err := connect(ctx, h.dbURL)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	err = conn.QueryRow(ctx, `
		SELECT (SELECT count(*) FROM screend.images),
		       (SELECT count(*) FROM screend.file_moves WHERE state = 'planned'),
		       (SELECT count(*) FROM screend.images WHERE state = 'discovered'),
		       (SELECT count(*) FROM screend.embeddings),
		       (SELECT count(*) FROM screend.images WHERE state = 'embedded'),
		       (SELECT coalesce(max(attempts), 0) FROM screend.images),
		       (SELECT count(*) FROM screend.images WHERE attempts > 1)`).
		Scan(&res.Recorded, &res.PlannedMoves, &res.Discovered, &res.Embeddings, &res.EmbeddedImages, &res.MaxAttempts, &res.Reprocessed)
	if err != nil {
		return fmt.Errorf("check state: %w", err)
	}
	var distinct int
	if err := conn.QueryRow(ctx, `SELECT count(DISTINCT (project_id, rel_path)) FROM screend.images`).Scan(&distinct); err != nil {
		return fmt.Errorf("check state: %w", err)
	}
	if res.Pending != 0 {
		res.Problems = append(res.Problems, fmt.Sprintf("status pending %d, want 0", res.Pending))
	}
	if res.PlannedMoves != 0 {
		res.Problems = append(res.Problems, fmt.Sprintf("%d file moves still planned", res.PlannedMoves))
	}
	if res.Discovered != 0 {
		res.Problems = append(res.Problems, fmt.Sprintf("%d images still discovered", res.Discovered))
	}
	if res.Embeddings != res.EmbeddedImages {
		res.Problems = append(res.Problems, fmt.Sprintf("%d embeddings for %d embedded images", res.Embeddings, res.EmbeddedImages))
	}
	if res.Recorded != res.Images || distinct != res.Recorded {
		res.Problems = append(res.Problems, fmt.Sprintf("%d image rows (%d distinct paths) for %d files dropped", res.Recorded, distinct, res.Images))
	}
	if res.Scenario == "two-instances" && res.MaxAttempts > 1 {
		res.Problems = append(res.Problems, fmt.Sprintf("%d images were claimed more than once (max attempts %d) with two instances and no faults", res.Reprocessed, res.MaxAttempts))
	}
	return nil
}

func round1(v float64) float64 { return round(v, 1) }

func sleepCtx(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// pgRestartCommand is the command that restarts PostgreSQL.
func pgRestartCommand(flagValue string) ([]string, error) {
	if flagValue != "" {
		return strings.Fields(flagValue), nil
	}
	out, err := exec.Command("pg_lsclusters", "--no-header").Output()
	if err != nil {
		return nil, fmt.Errorf("find the PostgreSQL cluster (pg_lsclusters); pass --pg-restart-cmd: %w", err)
	}
	f := strings.Fields(string(out))
	if len(f) < 2 {
		return nil, fmt.Errorf("no PostgreSQL cluster in pg_lsclusters; pass --pg-restart-cmd")
	}
	return []string{"pg_ctlcluster", f[0], f[1], "restart"}, nil
}
