package main

import (
	"bufio"
	"context"
	"encoding/gob"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"screend"

	"golang.org/x/sync/errgroup"

	"screend/cmd/screend-bench/internal/corpus"
	"screend/scoring/embed"
	"screend/scoring/imagefile"
	"screend/scoring/model"
	"screend/scoring/onnxrt"
	"screend/training"
)

// learnOptions configure the learning benchmark.
type learnOptions struct {
	// Corpus is a folder written by corpus.Generate.
	Corpus string
	// ReportDir receives report.json, the plots, learn.json and summary.md
	// (default CORPUS/learn-report).
	ReportDir string
	// Seed is the training seed (default 1).
	Seed uint64
	// Workers decode and embed images at once (default 2).
	Workers int
	// HeldOut is the newest share of each project's groups held out for
	// testing (default 0.3).
	HeldOut float64
	// Target is the error rate the thresholds are set for (default 0.02).
	Target float64
	// ONNXRuntimeLib is the ONNX Runtime library (default
	// $SCREEND_ONNXRUNTIME_LIB); Train reloads the exported models with it.
	ONNXRuntimeLib string
	// Training overrides training settings other than the seed, held-out
	// share and target (tests make it small); ConfigFile is where they were
	// read from, for the report.
	Training   training.Config
	ConfigFile string
}

// learnResult is the benchmark's outcome, written as learn.json.
type learnResult struct {
	Command  string          `json:"command"`
	Started  time.Time       `json:"started"`
	Machine  Machine         `json:"machine"`
	Corpus   string          `json:"corpus"`
	Manifest corpus.Manifest `json:"manifest"`
	// Sizes are the stage-1 sizes found in the corpus, e.g. "256x256": 2001.
	Sizes map[string]int `json:"stage1_sizes"`
	// Embedder is the embedder's ID; Embedded the images embedded now and
	// Cached those read from the cache file.
	Embedder     string  `json:"embedder"`
	Embedded     int     `json:"embedded"`
	Cached       int     `json:"cached"`
	EmbedSeconds float64 `json:"embed_seconds"`
	TrainSeconds float64 `json:"train_seconds"`
	TotalSeconds float64 `json:"total_seconds"`
	// Examples counts the groups by what the human did.
	Examples exampleCounts `json:"examples"`
	// Split is the group count per set; Disjoint reports that no group used
	// for fitting (training or calibration) was evaluated.
	Split    training.SplitSummary `json:"split"`
	Disjoint bool                  `json:"disjoint"`
	// Overall are the held-out test metrics; Projects per project.
	Overall    training.Metrics            `json:"overall"`
	Projects   map[string]training.Metrics `json:"projects"`
	Thresholds model.Thresholds            `json:"thresholds"`
	// Training is the training configuration used, defaults filled in.
	Training training.Config `json:"training"`
	Targets  []learnTarget   `json:"targets"`
}

// learnTarget is one goal of issue 5 checked against a measurement.
type learnTarget struct {
	Name  string `json:"name"`
	Value string `json:"value"`
	Goal  string `json:"goal"`
	Met   bool   `json:"met"`
}

type exampleCounts struct {
	Groups    int `json:"groups"`
	Images    int `json:"images"`
	Rejects   int `json:"rejects"`
	Crops     int `json:"crops"`
	NoopCrops int `json:"noop_crops"`
	Approves  int `json:"approves"`
	Anomalies int `json:"anomalies"`
}

func learnCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("learn", flag.ContinueOnError)
	var o learnOptions
	fs.StringVar(&o.Corpus, "corpus", "", "corpus folder (screend-bench corpus)")
	fs.StringVar(&o.ReportDir, "report", "", "folder for the report (default CORPUS/learn-report)")
	fs.Uint64Var(&o.Seed, "seed", 1, "training seed")
	fs.IntVar(&o.Workers, "workers", 2, "images decoded and embedded at once")
	fs.Float64Var(&o.HeldOut, "held-out", 0.3, "newest share of each project's groups held out for testing")
	fs.Float64Var(&o.Target, "target", 0.02, "error rate the thresholds are set for")
	cfgFile := fs.String("training-config", "", "JSON file of training.Config fields to override (hidden sizes, weights, epochs...)")
	if err := parse(fs, args, stderr); err != nil {
		return err
	}
	if o.Corpus == "" {
		return usageError{"--corpus is required"}
	}
	if *cfgFile != "" {
		data, err := os.ReadFile(*cfgFile)
		if err != nil {
			return usageError{err.Error()}
		}
		if err := json.Unmarshal(data, &o.Training); err != nil {
			return usageError{fmt.Sprintf("training config %s: %v", *cfgFile, err)}
		}
		c := o.Training
		c.EmbedderID = "check"
		if err := c.Validate(); err != nil {
			return usageError{fmt.Sprintf("training config %s: %v", *cfgFile, err)}
		}
		o.ConfigFile = *cfgFile
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	res, err := runLearn(ctx, o, log)
	if err != nil {
		return err
	}
	fmt.Fprint(stdout, res.Markdown())
	return nil
}

// runLearn embeds the corpus, trains on its truth and writes the report.
func runLearn(ctx context.Context, o learnOptions, log *slog.Logger) (*learnResult, error) {
	start := time.Now()
	if o.ReportDir == "" {
		o.ReportDir = filepath.Join(o.Corpus, "learn-report")
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	if o.Workers < 1 {
		o.Workers = 2
	}
	if o.HeldOut == 0 {
		o.HeldOut = 0.3
	}
	if o.Target == 0 {
		o.Target = model.DefaultTargetErrorRate
	}
	if o.ONNXRuntimeLib == "" {
		o.ONNXRuntimeLib = os.Getenv(onnxrt.LibEnv)
	}
	if _, err := onnxrt.Init(o.ONNXRuntimeLib); err != nil {
		return nil, fmt.Errorf("init onnx runtime (set SCREEND_ONNXRUNTIME_LIB): %w", err)
	}
	man, err := corpus.ReadManifest(o.Corpus)
	if err != nil {
		return nil, err
	}
	truth, err := corpus.ReadTruth(o.Corpus)
	if err != nil {
		return nil, err
	}
	cmd := fmt.Sprintf("screend-bench learn --corpus %s --report %s --seed %d --held-out %g --target %g", o.Corpus, o.ReportDir, o.Seed, o.HeldOut, o.Target)
	if o.ConfigFile != "" {
		cmd += " --training-config " + o.ConfigFile
	}
	res := &learnResult{
		Command: cmd,
		Started: start.UTC(), Machine: readMachine(), Corpus: o.Corpus, Manifest: man, Sizes: map[string]int{},
	}

	// Embed every image of the truth (cached).
	var files []string
	for _, t := range truth {
		files = append(files, t.Files...)
		res.Sizes[fmt.Sprintf("%dx%d", t.Width, t.Height)]++
	}
	emb := embed.NewBuiltin()
	res.Embedder = emb.ID()
	t0 := time.Now()
	vecs, cached, err := embedCorpus(ctx, o.Corpus, files, emb, o.Workers, log)
	if err != nil {
		return nil, err
	}
	res.EmbedSeconds = time.Since(t0).Seconds()
	res.Cached, res.Embedded = cached, len(vecs)-cached

	examples, counts, err := learnExamples(truth, vecs)
	if err != nil {
		return nil, err
	}
	res.Examples = counts

	cfg := o.Training
	cfg.EmbedderID, cfg.Seed, cfg.HeldOut, cfg.TargetErrorRate = emb.ID(), o.Seed, o.HeldOut, o.Target
	t0 = time.Now()
	tr, err := training.Train(ctx, examples, cfg, log)
	if err != nil {
		return nil, err
	}
	res.TrainSeconds = time.Since(t0).Seconds()
	rep := tr.Report
	res.Split, res.Overall, res.Projects, res.Thresholds, res.Training = rep.Split, rep.Overall, rep.Projects, rep.Thresholds, rep.Config
	res.Disjoint = rep.EvaluatedOn == "test" && disjoint(rep.Groups.Evaluated, rep.Groups.Train)
	ov := rep.Overall
	res.Targets = []learnTarget{
		{Name: "held-out test groups, never fitted on", Value: fmt.Sprintf("%d (disjoint: %v)", ov.Groups, res.Disjoint), Goal: "disjoint", Met: res.Disjoint},
		{Name: "selection accuracy vs highest-stage baseline", Value: fmt.Sprintf("%s vs %s", pct1(ov.SelectionAccuracy), pct1(ov.BaselineAccuracy)), Goal: "beats baseline", Met: ov.SelectionAccuracy > ov.BaselineAccuracy},
		{Name: "anomaly accuracy", Value: pct1(ov.AnomalyAccuracy), Goal: ">= 70%", Met: ov.AnomalyAccuracy >= 0.7},
		{Name: fmt.Sprintf("coverage at a %s error target", pct1(o.Target)), Value: fmt.Sprintf("%s (%d of %d groups, %d wrong, Wilson upper %s)", pct1(ov.Coverage), ov.AutoDecided, ov.Groups, ov.AutoErrors, pct1(ov.AutoErrorUpper)), Goal: ">= 60%", Met: ov.Coverage >= 0.6},
	}
	res.TotalSeconds = time.Since(start).Seconds()

	if err := training.WriteReport(o.ReportDir, rep); err != nil {
		return nil, err
	}
	data, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode learn result: %w", err)
	}
	if err := os.WriteFile(filepath.Join(o.ReportDir, "learn.json"), append(data, '\n'), 0o644); err != nil {
		return nil, fmt.Errorf("write learn result: %w", err)
	}
	if err := os.WriteFile(filepath.Join(o.ReportDir, "summary.md"), []byte(res.Markdown()), 0o644); err != nil {
		return nil, fmt.Errorf("write summary: %w", err)
	}
	return res, nil
}

// disjoint reports whether no key of a is in any of bs.
func disjoint(a []string, bs ...[]string) bool {
	seen := map[string]bool{}
	for _, b := range bs {
		for _, k := range b {
			seen[k] = true
		}
	}
	for _, k := range a {
		if seen[k] {
			return false
		}
	}
	return true
}

// learnExamples turns the corpus truth into training examples, one group
// per picture.
func learnExamples(truth []corpus.Truth, vecs map[string]embedding) ([]training.Example, exampleCounts, error) {
	var c exampleCounts
	out := make([]training.Example, 0, len(truth))
	for _, t := range truth {
		ex := training.Example{Project: t.Project, GroupKey: fmt.Sprintf("picture-%06d", t.Picture), Time: t.LastFileAt, Chosen: -1}
		for k, f := range t.Files {
			v, ok := vecs[f]
			if !ok {
				return nil, c, fmt.Errorf("no embedding for %s", f)
			}
			ex.Images = append(ex.Images, model.Image{Embedding: v.Vec, Stage: t.Stages[k], Width: v.Width, Height: v.Height})
			if f == t.Chosen {
				ex.Chosen = k
			}
		}
		c.Groups++
		c.Images += len(t.Files)
		switch t.Decision {
		case corpus.Reject:
			c.Rejects++
			ex.Chosen = -1
		case corpus.Crop, corpus.Approve:
			if ex.Chosen < 0 {
				return nil, c, fmt.Errorf("picture %d: chosen file %q not in the group", t.Picture, t.Chosen)
			}
			if t.Decision == corpus.Approve {
				c.Approves++
				break
			}
			if len(t.Crop) != 4 {
				return nil, c, fmt.Errorf("picture %d: crop %v", t.Picture, t.Crop)
			}
			box := screend.Box{t.Crop[0], t.Crop[1], t.Crop[2], t.Crop[3]}
			ex.Crop = &box
			c.Crops++
			if box.IsFullFrame() {
				c.NoopCrops++
			}
		default:
			return nil, c, fmt.Errorf("picture %d: unknown decision %q", t.Picture, t.Decision)
		}
		if ex.Anomaly() {
			c.Anomalies++
		}
		out = append(out, ex)
	}
	return out, c, nil
}

// embedding is one image's embedding and size.
type embedding struct {
	Vec           []float32
	Width, Height int
	Size, ModTime int64 // of the file, to notice a changed corpus
}

// embeddingCache is the file the embeddings are cached in, in the corpus.
type embeddingCache struct {
	Embedder string
	Images   map[string]embedding
}

func cachePath(dir, embedderID string) string {
	return filepath.Join(dir, "embeddings."+embedderID+".gob")
}

// embedCorpus returns the embedding of every file (relative to dir),
// reading what it can from the cache file and embedding the rest with
// workers goroutines; it rewrites the cache when something was embedded.
func embedCorpus(ctx context.Context, dir string, files []string, emb embed.Embedder, workers int, log *slog.Logger) (map[string]embedding, int, error) {
	cache := embeddingCache{Embedder: emb.ID(), Images: map[string]embedding{}}
	path := cachePath(dir, emb.ID())
	if f, err := os.Open(path); err == nil {
		var c embeddingCache
		err := gob.NewDecoder(bufio.NewReader(f)).Decode(&c)
		f.Close()
		if err == nil && c.Embedder == emb.ID() {
			cache = c
		} else {
			log.Warn("embedding cache unreadable, embedding again", "path", path, "err", err)
		}
	}
	out := make(map[string]embedding, len(files))
	var todo []string
	for _, f := range files {
		st, err := os.Stat(filepath.Join(dir, filepath.FromSlash(f)))
		if err != nil {
			return nil, 0, fmt.Errorf("embed corpus: %w", err)
		}
		if c, ok := cache.Images[f]; ok && c.Size == st.Size() && c.ModTime == st.ModTime().UnixNano() {
			out[f] = c
			continue
		}
		todo = append(todo, f)
	}
	cached := len(out)
	if len(todo) == 0 {
		return out, cached, nil
	}
	log.Info("embedding", "images", len(todo), "cached", cached, "workers", workers)
	var mu sync.Mutex
	var done atomic.Int64
	last := time.Now()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(workers)
	for _, f := range todo {
		g.Go(func() error {
			if err := gctx.Err(); err != nil {
				return err
			}
			p := filepath.Join(dir, filepath.FromSlash(f))
			st, err := os.Stat(p)
			if err != nil {
				return fmt.Errorf("embed corpus: %w", err)
			}
			img, info, err := imagefile.Open(gctx, p, 0, nil) // the corpus's PNGs: native pixels are Go's exactly
			if err != nil {
				return err
			}
			in, err := emb.Preprocess(img)
			imagefile.Recycle(img)
			if err != nil {
				return fmt.Errorf("embed %s: %w", p, err)
			}
			vs, err := emb.Embed(gctx, [][]float32{in})
			if err != nil {
				return fmt.Errorf("embed %s: %w", p, err)
			}
			e := embedding{Vec: vs[0], Width: info.Width, Height: info.Height, Size: st.Size(), ModTime: st.ModTime().UnixNano()}
			mu.Lock()
			out[f] = e
			if n := done.Add(1); time.Since(last) > 30*time.Second {
				last = time.Now()
				log.Info("embedding", "done", n, "of", len(todo))
			}
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, 0, err
	}
	// Keep the cache's other entries (another corpus size, say) only if
	// their files still exist; write atomically.
	cache.Images = out
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return nil, 0, fmt.Errorf("write embedding cache: %w", err)
	}
	bw := bufio.NewWriter(f)
	if err := gob.NewEncoder(bw).Encode(cache); err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("write embedding cache: %w", err)
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("write embedding cache: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, 0, fmt.Errorf("write embedding cache: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return nil, 0, fmt.Errorf("write embedding cache: %w", err)
	}
	return out, cached, nil
}

// Markdown renders the result as the benchmark's summary.
func (r *learnResult) Markdown() string {
	var b strings.Builder
	m, ov := r.Manifest, r.Overall
	fmt.Fprintf(&b, "# Learning benchmark (issue 5)\n\n`%s`\n\n", r.Command)
	fmt.Fprintf(&b, "Machine: %s, %d cores, %.0f GB, load %s at start, %s.\n\n", r.Machine.CPUModel, r.Machine.Cores, r.Machine.MemoryGB, r.Machine.LoadAvg, r.Machine.GoVersion)
	b.WriteString("## Corpus\n\n| | |\n|---|---|\n")
	fmt.Fprintf(&b, "| folder | %s |\n| generator seed | %d |\n| pictures (groups) | %d in %d projects |\n", r.Corpus, m.Seed, m.Pictures, len(m.Projects))
	fmt.Fprintf(&b, "| photographs | %d (%s) |\n", len(m.Photos), photoFolders(m.Photos))
	fmt.Fprintf(&b, "| stage-1 sizes | %s (the pipeline's are 1024x1024, 832x1216, 1216x832; only the embeddings matter here) |\n", sizesText(r.Sizes))
	fmt.Fprintf(&b, "| images | %d (%.1f GB), generated in %s |\n", m.Images, float64(m.Bytes)/1e9, m.GeneratedIn)
	fmt.Fprintf(&b, "| shapes | %s |\n", mapText(m.Shapes))
	c := r.Examples
	fmt.Fprintf(&b, "| decisions | %d reject, %d crop (%d full-frame no-ops, taught as no crop), %d approve |\n", c.Rejects, c.Crops, c.NoopCrops, c.Approves)
	fmt.Fprintf(&b, "| anomalies | %d (%s of groups) |\n\n", c.Anomalies, pct1(float64(c.Anomalies)/float64(max(c.Groups, 1))))
	b.WriteString("## Measurement\n\n| | |\n|---|---|\n")
	fmt.Fprintf(&b, "| embedder | %s, in process, %d images embedded now, %d from the cache, %.0f s |\n", r.Embedder, r.Embedded, r.Cached, r.EmbedSeconds)
	fmt.Fprintf(&b, "| split (groups) | %d cross-fitted (out-of-fold outputs calibrate), %d test (the newest groups of each project) |\n", r.Split.Train, r.Split.Test)
	fmt.Fprintf(&b, "| test groups disjoint from training and calibration | %v |\n", r.Disjoint)
	tc := r.Training
	fmt.Fprintf(&b, "| training | seed %d; MLPs ranker %v, crop %v, reject %v; anomaly weight %g, box weight %g; lr %g, weight decay %g, batch %d groups, at most %d epochs, patience %d |\n",
		tc.Seed, tc.RankerHidden, tc.CropHidden, tc.RejectHidden, tc.AnomalyWeight, tc.BoxWeight, tc.LearningRate, tc.WeightDecay, tc.BatchGroups, tc.MaxEpochs, tc.Patience)
	fmt.Fprintf(&b, "| time | embedding %.0f s, training (with calibration, evaluation, ONNX export check) %.0f s, total %.0f s |\n\n", r.EmbedSeconds, r.TrainSeconds, r.TotalSeconds)
	fmt.Fprintf(&b, "## Held-out test groups (%d)\n\n| metric | model | highest-stage baseline |\n|---|---|---|\n", ov.Groups)
	fmt.Fprintf(&b, "| selection accuracy (%d kept groups of 2+ images) | %s | %s |\n", ov.Ranked, pct1(ov.SelectionAccuracy), pct1(ov.BaselineAccuracy))
	fmt.Fprintf(&b, "| anomaly groups (%d) | %s | %s |\n", ov.Anomalies, pct1(ov.AnomalyAccuracy), pct1(ov.BaselineAnomalyAccuracy))
	fmt.Fprintf(&b, "| normal groups (%d) | %s | %s |\n", ov.Ranked-ov.Anomalies, pct1(ov.NormalAccuracy), pct1(ov.BaselineNormalAccuracy))
	fmt.Fprintf(&b, "| reject accuracy (%d groups) | %s | |\n", ov.Groups, pct1(ov.RejectAccuracy))
	fmt.Fprintf(&b, "| crop-or-not accuracy (%d kept) | %s | |\n", ov.CropLabelled, pct1(ov.CropAccuracy))
	fmt.Fprintf(&b, "| crop IoU (%d cropped) | %.3f | |\n", ov.Cropped, ov.CropIoU)
	fmt.Fprintf(&b, "| whole outcome right | %s | |\n", pct1(ov.OutcomeAccuracy))
	fmt.Fprintf(&b, "| calibration error (ECE, 10 bins) | %.3f (uncalibrated %.3f) | |\n", ov.ECE, ov.ECEUncalibrated)
	fmt.Fprintf(&b, "| decided alone | %s (%d: %s) | |\n", pct1(ov.Coverage), ov.AutoDecided, kindText(ov.AutoByKind))
	fmt.Fprintf(&b, "| wrong among them | %d (%s, Wilson 95%% upper %s; %s) | |\n\n", ov.AutoErrors, pct1(ov.AutoErrorRate), pct1(ov.AutoErrorUpper), kindText(ov.AutoErrorsByKind))
	fmt.Fprintf(&b, "Thresholds (certified on the out-of-fold decisions): select %.3f, crop %.3f, reject %.3f.\n\n", r.Thresholds.Select, r.Thresholds.Crop, r.Thresholds.Reject)
	b.WriteString("## Targets\n\n| target | value | goal | met |\n|---|---|---|---|\n")
	for _, t := range r.Targets {
		fmt.Fprintf(&b, "| %s | %s | %s | %v |\n", t.Name, t.Value, t.Goal, t.Met)
	}
	return b.String()
}

func photoFolders(photos []string) string {
	seen := map[string]bool{}
	var names []string
	for _, p := range photos {
		n := strings.SplitN(filepath.ToSlash(p), "/", 2)[0]
		if parts := strings.Split(filepath.ToSlash(p), "/"); len(parts) >= 4 {
			n = parts[len(parts)-4] // usr/share/wallpapers/NAME/contents/images/x.jpg
		}
		if !seen[n] {
			seen[n] = true
			names = append(names, n)
		}
	}
	slices.Sort(names)
	if len(names) > 12 {
		return strings.Join(names[:12], ", ") + ", ..."
	}
	return strings.Join(names, ", ")
}

func sizesText(m map[string]int) string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	var parts []string
	for _, k := range ks {
		parts = append(parts, fmt.Sprintf("%s: %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

func mapText[K ~string](m map[K]int) string {
	var ks []string
	for k := range m {
		ks = append(ks, string(k))
	}
	slices.Sort(ks)
	var parts []string
	for _, k := range ks {
		parts = append(parts, fmt.Sprintf("(%s) %d", k, m[K(k)]))
	}
	return strings.Join(parts, ", ")
}

func kindText(m map[screend.OutcomeKind]int) string {
	return fmt.Sprintf("%d select, %d crop, %d reject", m[screend.OutcomeSelect], m[screend.OutcomeCrop], m[screend.OutcomeReject])
}

// pct1 formats a share as a percentage with one decimal.
func pct1(v float64) string { return fmt.Sprintf("%.1f%%", 100*v) }
