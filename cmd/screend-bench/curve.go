package main

import (
	"screend"

	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"

	"screend/cmd/screend-bench/internal/corpus"
	"screend/scoring/embed"
	"screend/scoring/model"
	"screend/scoring/onnxrt"
	"screend/training"
)

// curveOptions configure the learning-curve benchmark.
type curveOptions struct {
	Corpus    string
	ReportDir string
	// Reviewed are the numbers of reviewed groups to train on: the oldest
	// N groups of the corpus's training photographs.
	Reviewed []int
	// Embedders are "builtin", "cnn" (the ONNX encoder Encoder) and "both"
	// (the two vectors, each L2-normalised, concatenated and normalised);
	// "cnn:VIEWS" and "both:VIEWS" have the encoder look at the views
	// VIEWS (embed.ParseViews names joined by "+", "cnn:full+subject"),
	// as SCREEND_EMBEDDER_VIEWS does.
	Embedders []string
	Encoder   string
	Seed      uint64
	Workers   int
	Target    float64
	Training  training.Config
}

// curvePoint is one training run of the curve, evaluated on every test group.
type curvePoint struct {
	Embedder     string             `json:"embedder"`
	Reviewed     int                `json:"reviewed"`
	TrainSeconds float64            `json:"train_seconds"`
	Thresholds   model.Thresholds   `json:"thresholds"`
	OutOfFold    training.Metrics   `json:"out_of_fold"`
	Test         training.Metrics   `json:"test"`
	Readiness    []model.Readiness  `json:"readiness"`
	Epochs       [3]int             `json:"epochs"`
	CropOffsets  map[string]float64 `json:"crop_offsets"`
	BoxShrink    float64            `json:"box_shrink"`
	Seconds      map[string]float64 `json:"seconds"`
	Config       training.Config    `json:"config"`
}

// curveResult is written as curve.json.
type curveResult struct {
	Command    string          `json:"command"`
	Started    time.Time       `json:"started"`
	Machine    Machine         `json:"machine"`
	LoadAfter  string          `json:"load_avg_at_end"`
	Manifest   corpus.Manifest `json:"manifest"`
	TrainPool  int             `json:"train_pool_groups"`
	TestGroups int             `json:"test_groups"`
	Points     []curvePoint    `json:"points"`
}

func curveCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("curve", flag.ContinueOnError)
	var o curveOptions
	fs.StringVar(&o.Corpus, "corpus", "", "corpus folder (screend-bench corpus; its test photographs are held out)")
	fs.StringVar(&o.ReportDir, "report", "", "folder for curve.json, curve.md and the plots (default CORPUS/curve-report)")
	reviewed := fs.String("reviewed", "100,300,1000,3000", "numbers of reviewed groups to train on")
	embedders := fs.String("embedders", "builtin", "comma-separated: builtin, cnn, both; cnn:VIEW+VIEW... and both:VIEW+VIEW... for the encoder's views (full, subject, subject-left, subject-right)")
	fs.StringVar(&o.Encoder, "encoder", "", "ONNX image encoder for cnn and both (with its preprocessor_config.json)")
	fs.Uint64Var(&o.Seed, "seed", 1, "training seed")
	fs.IntVar(&o.Workers, "workers", 2, "images embedded at once")
	fs.Float64Var(&o.Target, "target", 0.02, "error rate the thresholds are certified for")
	cfgFile := fs.String("training-config", "", "JSON file of training.Config fields to override")
	if err := parse(fs, args, stderr); err != nil {
		return err
	}
	if o.Corpus == "" {
		return usageError{"--corpus is required"}
	}
	for _, s := range strings.Split(*reviewed, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 10 {
			return usageError{fmt.Sprintf("bad --reviewed %q", s)}
		}
		o.Reviewed = append(o.Reviewed, n)
	}
	for _, e := range strings.Split(*embedders, ",") {
		e = strings.TrimSpace(e)
		base, views, _ := strings.Cut(e, ":")
		switch base {
		case "builtin", "cnn", "both":
			if base != "builtin" && o.Encoder == "" {
				return usageError{e + " needs --encoder"}
			}
			if views != "" {
				if base == "builtin" {
					return usageError{"views are the encoder's: " + e}
				}
				if _, err := embed.ParseViews(strings.ReplaceAll(views, "+", ",")); err != nil {
					return usageError{fmt.Sprintf("embedder %q: %v", e, err)}
				}
			}
			o.Embedders = append(o.Embedders, e)
		default:
			return usageError{fmt.Sprintf("unknown embedder %q", e)}
		}
	}
	if *cfgFile != "" {
		data, err := os.ReadFile(*cfgFile)
		if err != nil {
			return usageError{err.Error()}
		}
		if err := json.Unmarshal(data, &o.Training); err != nil {
			return usageError{fmt.Sprintf("training config %s: %v", *cfgFile, err)}
		}
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	cmd := "screend-bench curve " + strings.Join(args, " ")
	res, err := runCurve(ctx, o, cmd, log)
	if err != nil {
		return err
	}
	fmt.Fprint(stdout, res.Markdown())
	return nil
}

// runCurve embeds the corpus with every embedder asked for, trains on the
// oldest N groups of the training photographs for every N, and evaluates
// each model on all groups of the test photographs.
func runCurve(ctx context.Context, o curveOptions, cmd string, log *slog.Logger) (*curveResult, error) {
	if o.ReportDir == "" {
		o.ReportDir = filepath.Join(o.Corpus, "curve-report")
	}
	if o.Target == 0 {
		o.Target = model.DefaultTargetErrorRate
	}
	if _, err := onnxrt.Init(os.Getenv(onnxrt.LibEnv)); err != nil {
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
	res := &curveResult{Command: cmd, Started: time.Now().UTC(), Machine: readMachine(), Manifest: man}
	var trainT, testT []corpus.Truth
	for _, t := range truth {
		if t.Split == corpus.SplitTest {
			testT = append(testT, t)
		} else {
			trainT = append(trainT, t)
		}
	}
	// Reviews arrive in time order.
	slices.SortStableFunc(trainT, func(a, b corpus.Truth) int { return a.LastFileAt.Compare(b.LastFileAt) })
	res.TrainPool, res.TestGroups = len(trainT), len(testT)
	var files []string
	for _, t := range truth {
		files = append(files, t.Files...)
	}
	// Every view is embedded on its own (and cached); an embedder with
	// several views joins them as the ONNX embedder does.
	vecs := map[string]map[string]embedding{}
	need := map[string]bool{}
	for _, e := range o.Embedders {
		base, views := curveEmbedder(e)
		if base != "cnn" {
			need["builtin"] = true
		}
		for _, v := range views {
			need["view:"+v.Name] = base != "builtin"
		}
	}
	for name, ok := range need {
		if !ok {
			continue
		}
		var emb embed.Embedder = embed.NewBuiltin()
		if view, isView := strings.CutPrefix(name, "view:"); isView {
			vs, _ := embed.ParseViews(view)
			if emb, err = embed.NewONNX(o.Encoder, embed.ONNXOptions{IntraOpThreads: 1, Views: vs}); err != nil {
				return nil, err
			}
		}
		v, _, err := embedCorpus(ctx, o.Corpus, files, emb, o.Workers, log)
		emb.Close()
		if err != nil {
			return nil, err
		}
		vecs[name] = v
	}
	for _, e := range o.Embedders {
		base, views := curveEmbedder(e)
		if base == "builtin" {
			vecs[e] = vecs["builtin"]
			continue
		}
		parts := make([]map[string]embedding, len(views))
		for i, v := range views {
			parts[i] = vecs["view:"+v.Name]
		}
		cnn := parts[0]
		if len(parts) > 1 {
			cnn = joinEmbeddings(parts...)
		}
		vecs[e] = cnn
		if base == "both" {
			vecs[e] = joinEmbeddings(vecs["builtin"], cnn)
		}
	}
	for _, e := range o.Embedders {
		train, _, err := learnExamples(trainT, vecs[e])
		if err != nil {
			return nil, err
		}
		test, _, err := learnExamples(testT, vecs[e])
		if err != nil {
			return nil, err
		}
		for _, n := range o.Reviewed {
			if n > len(train) {
				log.Warn("fewer training groups than asked", "reviewed", n, "available", len(train))
				continue
			}
			pt, err := curveRun(ctx, o, e, train[:n], test, log)
			if err != nil {
				return nil, err
			}
			res.Points = append(res.Points, pt)
			if err := res.write(o.ReportDir); err != nil { // a long run shows its points as they come
				return nil, err
			}
			log.Info("curve point", "embedder", e, "reviewed", n, "coverage", pt.Test.Coverage,
				"auto_errors", pt.Test.AutoErrors, "auto_decided", pt.Test.AutoDecided, "seconds", pt.TrainSeconds)
		}
	}
	if err := res.write(o.ReportDir); err != nil {
		return nil, err
	}
	return res, nil
}

// write writes curve.json, curve.md and curve.png into dir.
func (r *curveResult) write(dir string) error {
	r.LoadAfter = readMachine().LoadAvg
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("curve report: %w", err)
	}
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encode curve: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "curve.json"), append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("write curve: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "curve.md"), []byte(r.Markdown()), 0o644); err != nil {
		return fmt.Errorf("write curve: %w", err)
	}
	return r.plot(filepath.Join(dir, "curve.png"))
}

// curveRun trains on train (every group cross-fitted, none held out) and
// evaluates the exported models through ONNX Runtime on test.
func curveRun(ctx context.Context, o curveOptions, emb string, train, test []training.Example, log *slog.Logger) (curvePoint, error) {
	cfg := o.Training
	cfg.EmbedderID, cfg.Seed, cfg.TargetErrorRate, cfg.HeldOut = emb, o.Seed, o.Target, -1
	if !strings.HasPrefix(emb, "cnn") { // builtin, and both: the built-in vector comes first
		cfg.Grid = embed.GridOf(embed.NewBuiltin().ID())
	}
	t0 := time.Now()
	tr, err := training.Train(ctx, train, cfg, log.With("embedder", emb, "reviewed", len(train)))
	if err != nil {
		return curvePoint{}, err
	}
	pt := curvePoint{Embedder: emb, Reviewed: len(train), TrainSeconds: time.Since(t0).Seconds(),
		Thresholds: tr.Params.Thresholds, OutOfFold: tr.Report.OutOfFold, Readiness: tr.Params.Readiness,
		Epochs: tr.Report.Epochs, CropOffsets: tr.Params.CropOffsets, BoxShrink: tr.Params.BoxShrink, Seconds: tr.Report.Seconds, Config: tr.Report.Config}
	b, err := model.NewBundle(tr.Ranker, tr.Crop, tr.Reject, tr.Params, 1)
	if err != nil {
		return curvePoint{}, err
	}
	defer b.Close()
	if pt.Test, err = training.Evaluate(ctx, b, test); err != nil {
		return curvePoint{}, err
	}
	return pt, nil
}

// curveEmbedder splits an embedder name of the curve, BASE[:VIEW+VIEW...],
// into its base and the encoder's views (the whole picture by default).
func curveEmbedder(name string) (string, []embed.View) {
	base, views, _ := strings.Cut(name, ":")
	vs, _ := embed.ParseViews(strings.ReplaceAll(views, "+", ",")) // checked when parsed
	return base, vs
}

// joinEmbeddings joins the embeddings of every file, each L2-normalised,
// and normalises the result.
func joinEmbeddings(parts ...map[string]embedding) map[string]embedding {
	out := make(map[string]embedding, len(parts[0]))
	k := float32(math.Sqrt(float64(len(parts))))
next:
	for f, x := range parts[0] {
		var v []float32
		for _, p := range parts {
			y, ok := p[f]
			if !ok {
				continue next
			}
			v = append(v, normalised(y.Vec)...)
		}
		for i := range v {
			v[i] /= k
		}
		out[f] = embedding{Vec: v, Width: x.Width, Height: x.Height}
	}
	return out
}

func normalised(v []float32) []float32 {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	n := float32(math.Sqrt(s))
	out := make([]float32, len(v))
	for i, x := range v {
		if n > 0 {
			out[i] = x / n
		}
	}
	return out
}

// Markdown renders the curve as a table.
func (r *curveResult) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Learning curve\n\n`%s`\n\n", r.Command)
	fmt.Fprintf(&b, "Machine: %s, %d cores, load %s at start, %s at end. Corpus: %d pictures in %d projects from %d photographs (%d test photographs); training pool %d groups, test %d groups (test photographs only).\n\n",
		r.Machine.CPUModel, r.Machine.Cores, r.Machine.LoadAvg, r.LoadAfter, r.Manifest.Pictures, len(r.Manifest.Projects), len(r.Manifest.Photos), len(r.Manifest.TestPhotos), r.TrainPool, r.TestGroups)
	b.WriteString("| embedder | reviewed | decided alone (test) | wrong among them | by kind (wrong) | thresholds | out-of-fold decided alone / wrong | selection (baseline) | anomalies | reject acc. (AUC) | crop-or-not | crop IoU | wrong among the most confident 10/20/30/50% (test) | train s |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, p := range r.Points {
		t, f := p.Test, p.OutOfFold
		fmt.Fprintf(&b, "| %s | %d | %s (%d of %d) | %d (%s, upper %s) | %s | %s | %s / %d | %s (%s) | %s of %d | %s (%.2f) | %s | %.3f | %s | %.0f |\n",
			p.Embedder, p.Reviewed, pct1(t.Coverage), t.AutoDecided, t.Groups, t.AutoErrors, pct1(t.AutoErrorRate), pct1(t.AutoErrorUpper),
			kindWrong(t), thresholdText(p.Thresholds), pct1(f.Coverage), f.AutoErrors,
			pct1(t.SelectionAccuracy), pct1(t.BaselineAccuracy), pct1(t.AnomalyAccuracy), t.Anomalies,
			pct1(t.RejectAccuracy), t.RejectAUC, pct1(t.CropAccuracy), t.CropIoU, mostConfidentText(t), p.TrainSeconds)
	}
	return b.String()
}

// mostConfidentText renders Metrics.MostConfidentError as "4.9 / 8.3 / 8.1 / 10.3%".
func mostConfidentText(m training.Metrics) string {
	parts := make([]string, len(m.MostConfidentError))
	for i, e := range m.MostConfidentError {
		parts[i] = fmt.Sprintf("%.1f", 100*e)
	}
	return strings.Join(parts, " / ") + "%"
}

func kindWrong(m training.Metrics) string {
	var parts []string
	for _, k := range []screend.OutcomeKind{screend.OutcomeSelect, screend.OutcomeCrop, screend.OutcomeReject} {
		parts = append(parts, fmt.Sprintf("%s %d (%d)", k, m.AutoByKind[k], m.AutoErrorsByKind[k]))
	}
	return strings.Join(parts, ", ")
}

func thresholdText(t model.Thresholds) string {
	f := func(v float64) string {
		if v > 1 {
			return "never"
		}
		return fmt.Sprintf("%.3f", v)
	}
	return f(t.Select) + " / " + f(t.Crop) + " / " + f(t.Reject)
}

// plot draws coverage, error and the reject model's AUC on the test groups
// against the reviewed groups, for every embedder.
func (r *curveResult) plot(path string) error {
	p := plot.New()
	p.Title.Text = "Learning curve on groups from unseen photographs"
	p.X.Label.Text = "reviewed groups (log scale)"
	p.Y.Label.Text = "share of test groups"
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = plot.LogTicks{}
	p.Y.Min, p.Y.Max = 0, 1
	var lines []interface{}
	byEmb := map[string][]curvePoint{}
	var order []string
	for _, pt := range r.Points {
		if _, ok := byEmb[pt.Embedder]; !ok {
			order = append(order, pt.Embedder)
		}
		byEmb[pt.Embedder] = append(byEmb[pt.Embedder], pt)
	}
	for _, e := range order {
		cov, errs, auc := plotter.XYs{}, plotter.XYs{}, plotter.XYs{}
		for _, pt := range byEmb[e] {
			cov = append(cov, plotter.XY{X: float64(pt.Reviewed), Y: pt.Test.Coverage})
			errs = append(errs, plotter.XY{X: float64(pt.Reviewed), Y: pt.Test.AutoErrorRate})
			auc = append(auc, plotter.XY{X: float64(pt.Reviewed), Y: pt.Test.RejectAUC})
		}
		lines = append(lines, e+" decided alone", cov, e+" wrong among them", errs, e+" reject AUC", auc)
	}
	if len(lines) == 0 {
		return nil
	}
	if err := plotutil.AddLinePoints(p, lines...); err != nil {
		return fmt.Errorf("plot curve: %w", err)
	}
	if err := p.Save(7*vg.Inch, 4.5*vg.Inch, path); err != nil {
		return fmt.Errorf("plot curve: %w", err)
	}
	return nil
}
