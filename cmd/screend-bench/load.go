package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"screend/cmd/screend-bench/internal/corpus"
)

// LoadResult is one load run measured from the database and /proc.
type LoadResult struct {
	Mode string `json:"mode"`
	// Incomplete tells that the daemon was not idle by the timeout: the
	// numbers are of what it did until then.
	Incomplete bool   `json:"incomplete,omitempty"`
	Embedder   string `json:"embedder"`
	Copies     int    `json:"copies"`
	// DropRate is the live/slow writer's rate (image files/s), 0 for bulk.
	DropRate float64 `json:"drop_rate_per_s,omitempty"`
	// DropStarted is when the first byte was copied, to line up samplers
	// of one's own (perf, /proc) with the drop.
	DropStarted time.Time `json:"drop_started"`
	// DropSeconds is how long dropping the files took.
	DropSeconds float64 `json:"drop_seconds"`
	Images      int     `json:"images"`
	Embedded    int     `json:"embedded"`
	Duplicates  int     `json:"duplicates"`
	Quarantined int     `json:"quarantined"`
	// Rate is embedded images per second from the first file recorded to
	// the last embedding stored.
	Rate float64 `json:"embedded_per_s"`
	// WindowSeconds is that interval.
	WindowSeconds float64 `json:"window_seconds"`
	// VsDecodeOnly and VsCombined are Rate over the limits measured in the
	// same run.
	VsDecodeOnly float64 `json:"vs_decode_only,omitempty"`
	VsCombined   float64 `json:"vs_combined_limit,omitempty"`
	// Latency is from a group's last file (dropped by the bench, or recorded
	// by the daemon for bulk copies) to its flag or decision.
	Latency Percentiles `json:"latency_s"`
	// LatencyAfterEmbed is from the group's last embedding stored to its
	// flag or decision: the grouping and deciding part of Latency.
	LatencyAfterEmbed Percentiles `json:"latency_after_embed_s"`
	Groups            int         `json:"groups"`
	Flagged           int         `json:"flagged"`
	Decided           int         `json:"decided"`
	TruthGroups       int         `json:"truth_groups"`
	GroupsAsTruth     int         `json:"groups_matching_truth"`
	PeakRSSMB         float64     `json:"peak_rss_mb"`
	CPUSeconds        float64     `json:"cpu_seconds"`
	// CPUCores is CPUSeconds over the daemon's whole run time.
	CPUCores float64 `json:"cpu_avg_cores"`
	// CPUPerImage is CPUSeconds over the images embedded; CPUEfficiency is
	// the limits' combined CPU cost of an image over it (1 = the daemon
	// spends nothing beyond decoding and inference). Both hold when other
	// work shares the machine, unlike rates.
	CPUPerImage   float64 `json:"cpu_s_per_image"`
	CPUEfficiency float64 `json:"cpu_efficiency_vs_combined,omitempty"`
	IdleSeconds   float64 `json:"drop_start_to_idle_s"`
	// From the first byte copied (the drop's start): seconds to the last
	// embedding stored and to the last group flagged or decided (which
	// includes the grouping rule's waits: SCREEND_SETTLE for files copied
	// out of order), and the images/s over the first, beside the limit.
	DropToEmbeddedSeconds float64 `json:"drop_start_to_last_embedding_s"`
	DropToDecidedSeconds  float64 `json:"drop_start_to_last_group_decided_or_flagged_s"`
	DropRateEmbedded      float64 `json:"drop_start_embedded_per_s"`
	DropVsDecodeOnly      float64 `json:"drop_start_vs_decode_only,omitempty"`
	DropVsCombined        float64 `json:"drop_start_vs_combined_limit,omitempty"`
	// DropDaemonCores and DropMachineCores are the CPU cores the daemon and
	// the whole machine (every process: PostgreSQL, the bench, cp, and
	// whatever else runs) used on average from the first byte copied to
	// the last embedding: what was left of the machine is where the
	// daemon waited.
	DropDaemonCores  float64 `json:"drop_start_daemon_cores,omitempty"`
	DropMachineCores float64 `json:"drop_start_machine_busy_cores,omitempty"`
	// DropCPU is who spent the machine's CPU over the same interval, in
	// CPU seconds per image embedded: on a machine kept busy, the drop's
	// rate is its cores over the sum.
	DropCPU *dropCPU `json:"drop_start_cpu_s_per_image,omitempty"`
	// DecodeCPU is the limits' CPU seconds per image of decoding alone
	// (read, hash, decode with the decoder the daemon uses); CPUVsDecode is
	// CPUPerImage over it.
	DecodeCPU   float64 `json:"decode_only_cpu_s_per_image,omitempty"`
	CPUVsDecode float64 `json:"cpu_vs_decode_only,omitempty"`
}

// dropCPU is the CPU seconds per image embedded that each part of the
// machine spent from the first byte copied to the last embedding.
type dropCPU struct {
	// Machine is every process: the sum of the others.
	Machine float64 `json:"machine"`
	Daemon  float64 `json:"daemon"`
	// Postgres is the whole PostgreSQL cluster of the bench's database
	// (backends, WAL writer, checkpointer, autovacuum, and the short
	// connections of `screend status`, and whatever other databases of
	// the server do meanwhile); absent when it is not on this machine,
	// and then part of Other.
	Postgres float64 `json:"postgres,omitempty"`
	// Bench is the bench's own process and its children other than the
	// daemon: the copy and `screend status`.
	Bench float64 `json:"bench"`
	// Other is the rest: other work on the machine, the kernel's threads.
	Other float64 `json:"other"`
}

// newDropCPU turns the cores used over an interval into CPU seconds per
// image.
func newDropCPU(c cpuCores, images int) *dropCPU {
	if c.Seconds == 0 || images == 0 {
		return nil
	}
	per := func(cores float64) float64 { return round(cores*c.Seconds/float64(images), 4) }
	return &dropCPU{Machine: per(c.Machine), Daemon: per(c.Daemon), Postgres: per(c.Postgres), Bench: per(c.Bench),
		Other: per(max(0, c.Machine-c.Daemon-c.Postgres-c.Bench))}
}

// Percentiles of a distribution.
type Percentiles struct {
	N   int     `json:"n"`
	P50 float64 `json:"p50"`
	P95 float64 `json:"p95"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

func percentiles(v []float64) Percentiles {
	if len(v) == 0 {
		return Percentiles{}
	}
	s := slices.Clone(v)
	sort.Float64s(s)
	q := func(p float64) float64 { return round(s[min(len(s)-1, int(p*float64(len(s)-1)+0.5))], 2) }
	return Percentiles{N: len(s), P50: q(0.5), P95: q(0.95), P99: q(0.99), Max: round(s[len(s)-1], 2)}
}

type loadFlags struct {
	corpus     string
	mode       string
	rate       float64
	embedder   string
	threads    int
	lanes      int
	settle     time.Duration
	copies     int
	limit      int
	chunkDelay time.Duration
	screend    string
	work       string
	keep       bool
	noLimits   bool
	limitFiles int
	timeout    time.Duration
	out        string
	extraEnv   envList
}

// envList is a repeatable NAME=VALUE flag.
type envList []string

func (e *envList) String() string { return strings.Join(*e, " ") }

func (e *envList) Set(v string) error {
	if !strings.Contains(v, "=") {
		return fmt.Errorf("want NAME=VALUE, got %q", v)
	}
	*e = append(*e, v)
	return nil
}

func (f *loadFlags) define(fs *flag.FlagSet) {
	fs.StringVar(&f.corpus, "corpus", "", "corpus folder (from screend-bench corpus)")
	fs.StringVar(&f.mode, "mode", "cp", "how files arrive: live, cp, rsync or slow")
	fs.Float64Var(&f.rate, "rate", 5, "live and slow modes: image files per second")
	fs.StringVar(&f.embedder, "embedder", "builtin", "builtin or the path of an ONNX model")
	fs.IntVar(&f.threads, "threads", 0, "ONNX intra-op threads (default: the daemon's setting)")
	fs.IntVar(&f.lanes, "lanes", 0, "ONNX inference lanes (default: the daemon's setting)")
	fs.DurationVar(&f.settle, "settle", 20*time.Second, "SCREEND_SETTLE for the daemon")
	fs.IntVar(&f.copies, "copies", 1, "drop the corpus this many times, as distinct projects")
	fs.IntVar(&f.limit, "limit", 0, "live and slow modes: drop only the first N image files (0: all)")
	fs.DurationVar(&f.chunkDelay, "chunk-delay", 50*time.Millisecond, "slow mode: pause between 256 KiB chunks")
	fs.StringVar(&f.screend, "screend", "", "prebuilt screend binary (default: go build ./cmd/screend)")
	fs.StringVar(&f.work, "work", "", "parent folder of the work folder (inbox, logs)")
	fs.BoolVar(&f.keep, "keep", false, "keep the work folder and database")
	fs.BoolVar(&f.noLimits, "no-limits", false, "skip measuring the limits")
	fs.IntVar(&f.limitFiles, "limit-files", 300, "measure the limits on at most this many files")
	fs.DurationVar(&f.timeout, "timeout", 60*time.Minute, "give up waiting for the daemon after this long")
	fs.StringVar(&f.out, "out", "", "write the JSON report to FILE and the Markdown beside it")
	fs.Var(&f.extraEnv, "daemon-env", "NAME=VALUE in the daemon's environment only (repeatable), e.g. GOMEMLIMIT=256MiB or SCREEND_BATCH_SIZE=8")
}

func loadCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	var f loadFlags
	f.define(fs)
	if err := parse(fs, args, stderr); err != nil {
		return err
	}
	if f.corpus == "" {
		return usageError{"--corpus is required"}
	}
	if !slices.Contains([]string{"live", "cp", "rsync", "slow"}, f.mode) {
		return usageError{fmt.Sprintf("unknown mode %q", f.mode)}
	}
	rep := newReport(append([]string{"load"}, args...))
	cfg, err := benchConfig(f.embedder, f.threads, f.lanes)
	if err != nil {
		return err
	}
	var lim *Limits
	if !f.noLimits {
		if lim, err = measureLimits(ctx, cfg, f.corpus, f.limitFiles); err != nil {
			return err
		}
		rep.Limits = append(rep.Limits, lim)
	}
	res, err := runLoad(ctx, rep, f, lim)
	if res != nil {
		rep.Loads = append(rep.Loads, res)
	}
	if err != nil {
		rep.Problems = append(rep.Problems, err.Error())
	}
	if ferr := rep.finish(f.out, stdout); ferr != nil {
		return ferr
	}
	if err != nil {
		return err
	}
	return nil
}

// daemonEnv are the daemon settings of a load.
func (f loadFlags) daemonEnv() []string {
	env := []string{"SCREEND_EMBEDDER=" + f.embedder, "SCREEND_SETTLE=" + f.settle.String()}
	if f.threads > 0 {
		env = append(env, fmt.Sprintf("SCREEND_INTRA_OP_THREADS=%d", f.threads))
	}
	if f.lanes > 0 {
		env = append(env, fmt.Sprintf("SCREEND_INFERENCE_LANES=%d", f.lanes))
	}
	return append(env, f.extraEnv...)
}

// runLoad runs one load: fresh database and inbox, one daemon, one drop.
func runLoad(ctx context.Context, rep *Report, f loadFlags, lim *Limits) (*LoadResult, error) {
	h, err := newHarness(ctx, harnessOptions{Screend: f.screend, Work: f.work, Keep: f.keep, Env: f.daemonEnv()})
	if err != nil {
		return nil, err
	}
	defer h.Close()
	rep.Machine.PostgreSQL = postgresVersion(ctx, h.dbURL)
	rep.Settings = map[string]string{"SCREEND_EMBEDDER": f.embedder, "SCREEND_SETTLE": f.settle.String()}
	if f.threads > 0 {
		rep.Settings["SCREEND_INTRA_OP_THREADS"] = fmt.Sprint(f.threads)
	}
	if f.lanes > 0 {
		rep.Settings["SCREEND_INFERENCE_LANES"] = fmt.Sprint(f.lanes)
	}
	for _, kv := range f.extraEnv {
		k, v, _ := strings.Cut(kv, "=")
		rep.Settings[k] = v
	}
	d, err := h.Start()
	if err != nil {
		return nil, err
	}
	if err := waitStarted(ctx, h, d); err != nil {
		return nil, err
	}
	dropper, err := newDropper(f.corpus, h.inbox, f.copies, f.limit)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	if err := dropper.Drop(ctx, f.mode, f.rate, f.chunkDelay); err != nil {
		return nil, err
	}
	dropSeconds := time.Since(start).Seconds()
	// A run that times out is still measured, as far as it got.
	waitErr := h.WaitIdle(ctx, dropper.Images(), f.timeout)
	if waitErr != nil && !errors.Is(waitErr, errTimeout) {
		return nil, fmt.Errorf("%w (daemon log: %s)", waitErr, d.Log)
	}
	idle := time.Since(start).Seconds()
	peak, cpu := d.Usage()
	res, err := measureLoad(ctx, h, dropper)
	if err != nil {
		return nil, err
	}
	if err := measureFromDrop(ctx, h, start, res); err != nil {
		return nil, err
	}
	if res.DropToEmbeddedSeconds > 0 {
		c := d.cpuBetween(start, start.Add(time.Duration(res.DropToEmbeddedSeconds*float64(time.Second))))
		res.DropDaemonCores, res.DropMachineCores = round(c.Daemon, 2), round(c.Machine, 2)
		res.DropCPU = newDropCPU(c, res.Embedded)
	}
	res.Mode, res.Embedder, res.Copies = f.mode, f.embedder, f.copies
	if f.mode == "live" || f.mode == "slow" {
		res.DropRate = f.rate
	}
	res.DropStarted = start
	res.DropSeconds = round(dropSeconds, 1)
	res.IdleSeconds = round(idle, 1)
	res.PeakRSSMB = round(peak, 0)
	res.CPUSeconds = round(cpu, 1)
	res.CPUCores = round(cpu/time.Since(d.startedAt).Seconds(), 2)
	if res.Embedded > 0 {
		res.CPUPerImage = round(cpu/float64(res.Embedded), 4)
		if lim != nil && res.CPUPerImage > 0 {
			res.CPUEfficiency = round(lim.CombinedCPU/res.CPUPerImage, 3)
		}
	}
	if lim != nil {
		res.VsDecodeOnly = round(res.Rate/lim.DecodeOnly, 3)
		res.VsCombined = round(res.Rate/lim.Combined, 3)
		res.DropVsDecodeOnly = round(res.DropRateEmbedded/lim.DecodeOnly, 3)
		res.DropVsCombined = round(res.DropRateEmbedded/lim.Combined, 3)
		res.DecodeCPU = lim.DecodeCPU
		if lim.DecodeCPU > 0 {
			res.CPUVsDecode = round(res.CPUPerImage/lim.DecodeCPU, 3)
		}
	}
	if exited, err := d.Exited(); exited {
		return res, fmt.Errorf("screend exited during the load: %v (log %s)", err, d.Log)
	}
	if waitErr != nil {
		res.Incomplete = true
		return res, fmt.Errorf("measured incomplete, %d of %d images embedded: %w (daemon log: %s)", res.Embedded, dropper.Images(), waitErr, d.Log)
	}
	return res, nil
}

// measureFromDrop fills in the times counted from the drop's start: the
// database's clock is this machine's.
func measureFromDrop(ctx context.Context, h *harness, start time.Time, res *LoadResult) error {
	conn, err := connect(ctx, h.dbURL)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	var embedded, decided *time.Time
	err = conn.QueryRow(ctx, `
		SELECT (SELECT max(created_at) FROM screend.embeddings),
		       (SELECT max(coalesce(g.flagged_at, d.decided_at)) FROM screend.groups g
		        LEFT JOIN screend.decisions d ON d.group_id = g.group_id)`).Scan(&embedded, &decided)
	if err != nil {
		return fmt.Errorf("measure from drop: %w", err)
	}
	if embedded != nil {
		res.DropToEmbeddedSeconds = round(embedded.Sub(start).Seconds(), 2)
		res.DropRateEmbedded = round(float64(res.Embedded)/embedded.Sub(start).Seconds(), 2)
	}
	if decided != nil {
		res.DropToDecidedSeconds = round(decided.Sub(start).Seconds(), 2)
	}
	return nil
}

// waitStarted waits until the daemon has migrated the database and
// registered itself.
func waitStarted(ctx context.Context, h *harness, d *daemonProc) error {
	// Opening a 350 MB model takes over a minute on a busy machine.
	deadline := time.Now().Add(5 * time.Minute)
	for time.Now().Before(deadline) {
		if exited, err := d.Exited(); exited {
			log, _ := os.ReadFile(d.Log)
			return fmt.Errorf("screend exited at start: %v: %s", err, tail(string(log), 2000))
		}
		if conn, err := connect(ctx, h.dbURL); err == nil {
			var n int
			err = conn.QueryRow(ctx, `SELECT count(*) FROM screend.instances`).Scan(&n)
			conn.Close(ctx)
			if err == nil && n > 0 {
				return nil
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("screend did not start within five minutes (log %s)", d.Log)
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// measureLoad reads the results of a load from the database.
func measureLoad(ctx context.Context, h *harness, dr *dropper) (*LoadResult, error) {
	conn, err := connect(ctx, h.dbURL)
	if err != nil {
		return nil, err
	}
	defer conn.Close(ctx)
	res := &LoadResult{}
	var first, last *time.Time
	err = conn.QueryRow(ctx, `
		SELECT count(*),
		       count(*) FILTER (WHERE state = 'embedded'),
		       count(*) FILTER (WHERE state = 'duplicate'),
		       count(*) FILTER (WHERE state = 'quarantined'),
		       min(discovered_at),
		       (SELECT max(created_at) FROM screend.embeddings)
		FROM screend.images`).Scan(&res.Images, &res.Embedded, &res.Duplicates, &res.Quarantined, &first, &last)
	if err != nil {
		return nil, fmt.Errorf("measure load: %w", err)
	}
	if first != nil && last != nil && last.After(*first) {
		res.WindowSeconds = round(last.Sub(*first).Seconds(), 2)
		res.Rate = round(float64(res.Embedded)/last.Sub(*first).Seconds(), 2)
	}
	rows, err := conn.Query(ctx, `
		SELECT g.group_id, g.state, coalesce(g.flagged_at, d.decided_at),
		       array_agg(p.name || '/' || i.rel_path ORDER BY gi.position),
		       array_agg(i.discovered_at ORDER BY gi.position),
		       max(i.processed_at)
		FROM screend.groups g
		JOIN screend.group_images gi ON gi.group_id = g.group_id
		JOIN screend.images i ON i.image_id = gi.image_id
		JOIN screend.projects p ON p.project_id = i.project_id
		LEFT JOIN screend.decisions d ON d.group_id = g.group_id
		GROUP BY g.group_id, g.state, g.flagged_at, d.decided_at`)
	if err != nil {
		return nil, fmt.Errorf("measure load: %w", err)
	}
	defer rows.Close()
	var lat, latEmbed []float64
	got := map[string]bool{}
	for rows.Next() {
		var id int64
		var state string
		var at *time.Time
		var files []string
		var discovered []time.Time
		var processed *time.Time
		if err := rows.Scan(&id, &state, &at, &files, &discovered, &processed); err != nil {
			return nil, fmt.Errorf("measure load: %w", err)
		}
		res.Groups++
		switch state {
		case "flagged":
			res.Flagged++
		case "decided", "applied":
			res.Decided++
		}
		if len(files) > 1 {
			got[strings.Join(files, "|")] = true
		}
		if at == nil {
			continue
		}
		var arrival time.Time
		for i, f := range files {
			t, ok := dr.arrived(f)
			if !ok {
				t = discovered[i]
			}
			if t.After(arrival) {
				arrival = t
			}
		}
		lat = append(lat, at.Sub(arrival).Seconds())
		if processed != nil {
			latEmbed = append(latEmbed, at.Sub(*processed).Seconds())
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("measure load: %w", err)
	}
	res.Latency = percentiles(lat)
	res.LatencyAfterEmbed = percentiles(latEmbed)
	for _, tg := range dr.truthGroups {
		res.TruthGroups++
		if got[tg] {
			res.GroupsAsTruth++
		}
	}
	return res, nil
}

// dropper puts a corpus into an inbox the ways users do.
type dropper struct {
	corpus   string
	inbox    string
	projects []dropProject
	// files are the image files in the order of their timestamps, with
	// their companions, as paths relative to the inbox.
	files       []dropFile
	truthGroups []string

	mu      sync.Mutex
	arrival map[string]time.Time
}

type dropProject struct{ src, dst string }

type dropFile struct {
	src, dst   string // absolute source, inbox-relative destination
	companions [][2]string
}

func newDropper(corpusDir, inbox string, copies, limit int) (*dropper, error) {
	entries, err := os.ReadDir(corpusDir)
	if err != nil {
		return nil, fmt.Errorf("read corpus: %w", err)
	}
	d := &dropper{corpus: corpusDir, inbox: inbox, arrival: map[string]time.Time{}}
	var names []string
	for _, e := range entries {
		if e.IsDir() && !strings.HasPrefix(e.Name(), "__") && !strings.HasPrefix(e.Name(), ".") {
			names = append(names, e.Name())
		}
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("no project folders in %s", corpusDir)
	}
	copies = max(1, copies)
	truth, _ := corpus.ReadTruth(corpusDir) // optional
	rels, err := corpus.ImageFiles(corpusDir)
	if err != nil {
		return nil, err
	}
	for c := 1; c <= copies; c++ {
		rename := func(p string) string {
			if c == 1 {
				return p
			}
			return fmt.Sprintf("%s_c%d", p, c)
		}
		for _, n := range names {
			d.projects = append(d.projects, dropProject{src: filepath.Join(corpusDir, n), dst: rename(n)})
		}
		for _, rel := range rels {
			proj, rest, _ := strings.Cut(filepath.ToSlash(rel), "/")
			df := dropFile{src: filepath.Join(corpusDir, rel), dst: rename(proj) + "/" + rest}
			stem := strings.TrimSuffix(filepath.Join(corpusDir, rel), filepath.Ext(rel))
			matches, _ := filepath.Glob(globEscape(stem) + ".*")
			for _, m := range matches {
				if m != df.src {
					r, _ := filepath.Rel(corpusDir, m)
					p2, rest2, _ := strings.Cut(filepath.ToSlash(r), "/")
					df.companions = append(df.companions, [2]string{m, rename(p2) + "/" + rest2})
				}
			}
			d.files = append(d.files, df)
		}
		for _, t := range truth {
			var fs []string
			for _, f := range t.Files {
				p, rest, _ := strings.Cut(f, "/")
				fs = append(fs, rename(p)+"/"+rest)
			}
			d.truthGroups = append(d.truthGroups, strings.Join(fs, "|"))
		}
	}
	// Live order: by the timestamp in the name across projects and copies.
	slices.SortStableFunc(d.files, func(a, b dropFile) int {
		return strings.Compare(filepath.Base(a.dst), filepath.Base(b.dst))
	})
	if limit > 0 && limit < len(d.files) {
		d.files = d.files[:limit]
		d.truthGroups = nil // a partial drop cuts groups
	}
	return d, nil
}

func globEscape(s string) string {
	r := strings.NewReplacer("[", `\[`, "]", `\]`, "*", `\*`, "?", `\?`)
	return r.Replace(s)
}

// Images is the number of image files the drop delivers.
func (d *dropper) Images() int { return len(d.files) }

func (d *dropper) arrived(rel string) (time.Time, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	t, ok := d.arrival[rel]
	return t, ok
}

// Drop delivers the files in the given mode.
func (d *dropper) Drop(ctx context.Context, mode string, rate float64, chunkDelay time.Duration) error {
	switch mode {
	case "cp":
		for _, p := range d.projects {
			// "cp -r SRC/. DST" copies the folder's contents whether or not
			// DST exists yet.
			if err := runQuiet(ctx, "cp", "-r", p.src+"/.", filepath.Join(d.inbox, p.dst)); err != nil {
				return err
			}
		}
	case "rsync":
		if _, err := exec.LookPath("rsync"); err != nil {
			return fmt.Errorf("rsync is not installed (apt-get install rsync): %w", err)
		}
		for _, p := range d.projects {
			if err := runQuiet(ctx, "rsync", "-a", p.src+"/", filepath.Join(d.inbox, p.dst)+"/"); err != nil {
				return err
			}
		}
	case "live", "slow":
		interval := time.Duration(float64(time.Second) / max(rate, 0.001))
		next := time.Now()
		for _, f := range d.files {
			if err := sleepUntil(ctx, next); err != nil {
				return err
			}
			next = next.Add(interval)
			for _, c := range f.companions {
				if err := d.place(c[0], c[1], mode, chunkDelay); err != nil {
					return err
				}
			}
			if err := d.place(f.src, f.dst, mode, chunkDelay); err != nil {
				return err
			}
			d.mu.Lock()
			d.arrival[f.dst] = time.Now()
			d.mu.Unlock()
		}
	default:
		return fmt.Errorf("unknown mode %q", mode)
	}
	return nil
}

func sleepUntil(ctx context.Context, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err()
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// place copies src to the inbox-relative dst: live writes a temporary
// dot-file and renames it into place; slow writes the final name in
// 256 KiB chunks with a pause between them.
func (d *dropper) place(src, rel, mode string, chunkDelay time.Duration) error {
	dst := filepath.Join(d.inbox, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	if mode == "live" {
		tmp := filepath.Join(filepath.Dir(dst), "."+filepath.Base(dst)+".part")
		if err := os.WriteFile(tmp, data, 0o644); err != nil {
			return err
		}
		return os.Rename(tmp, dst)
	}
	f, err := os.Create(dst)
	if err != nil {
		return err
	}
	const chunk = 256 << 10
	for off := 0; off < len(data); off += chunk {
		if _, err := f.Write(data[off:min(off+chunk, len(data))]); err != nil {
			f.Close()
			return err
		}
		if off+chunk < len(data) {
			time.Sleep(chunkDelay)
		}
	}
	return f.Close()
}
