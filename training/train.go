package training

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sort"
	"time"

	"screend/scoring/model"
)

// Config configures Train. Zero fields take their defaults.
type Config struct {
	// EmbedderID is stored in the models' Params (required).
	EmbedderID string `json:"embedder_id"`
	// HeldOut is the newest share of each project's groups held out, two
	// thirds for calibration and one third for testing (default 0.2).
	HeldOut float64 `json:"held_out"`
	// AnomalyWeight weights anomaly groups in the ranker's loss (default 5).
	AnomalyWeight float64 `json:"anomaly_weight"`
	// BoxWeight weights the crop box's squared error against crop-or-not
	// cross-entropy (default 5).
	BoxWeight float64 `json:"box_weight"`
	// RankerHidden, CropHidden and RejectHidden are the hidden layer sizes
	// (defaults [32 16], [64 32], [32 16]).
	RankerHidden []int `json:"ranker_hidden"`
	CropHidden   []int `json:"crop_hidden"`
	RejectHidden []int `json:"reject_hidden"`
	// LearningRate is Adam's step size (default 1e-3).
	LearningRate float64 `json:"learning_rate"`
	// WeightDecay is the decoupled weight decay per step, relative to the
	// learning rate (default 0.5: the networks overfit within a few epochs
	// and a stronger decay makes their confidences less extreme).
	WeightDecay float64 `json:"weight_decay"`
	// BatchGroups is the number of groups per optimisation step (default 32).
	BatchGroups int `json:"batch_groups"`
	// MaxEpochs bounds the epochs per model (default 60).
	MaxEpochs int `json:"max_epochs"`
	// Patience is the epochs without improvement of the validation loss
	// before stopping early (default 6).
	Patience int `json:"patience"`
	// Seed makes training deterministic (default 1).
	Seed uint64 `json:"seed"`
	// TargetErrorRate is the error rate the thresholds are set for (default 0.02).
	TargetErrorRate float64 `json:"target_error_rate"`
	// CropIoUMin is the IoU with the human's box an automatic crop needs to
	// count as right (default 0.5).
	CropIoUMin float64 `json:"crop_iou_min"`
	// VerifyGroups is the number of held-out groups on which the exported
	// ONNX models are checked against the Go forward pass (default 64).
	VerifyGroups int `json:"verify_groups"`
	// Progress, when set, is told after every epoch how many of the at most
	// 3*MaxEpochs epochs of the three models are done (a model that stops
	// early counts all of its epochs).
	Progress func(done, total int) `json:"-"`
}

func (c Config) withDefaults() Config {
	def := func(v *float64, d float64) {
		if *v == 0 {
			*v = d
		}
	}
	defI := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.HeldOut, 0.2)
	def(&c.AnomalyWeight, 5)
	def(&c.BoxWeight, 5)
	def(&c.LearningRate, 1e-3)
	def(&c.WeightDecay, 0.5)
	def(&c.TargetErrorRate, model.DefaultTargetErrorRate)
	def(&c.CropIoUMin, model.DefaultCropIoUMin)
	defI(&c.BatchGroups, 32)
	defI(&c.MaxEpochs, 60)
	defI(&c.Patience, 6)
	defI(&c.VerifyGroups, 64)
	if c.Seed == 0 {
		c.Seed = 1
	}
	if c.RankerHidden == nil {
		c.RankerHidden = []int{32, 16}
	}
	if c.CropHidden == nil {
		c.CropHidden = []int{64, 32}
	}
	if c.RejectHidden == nil {
		c.RejectHidden = []int{32, 16}
	}
	return c
}

// Validate checks the configuration (after defaults).
func (c Config) Validate() error {
	c = c.withDefaults()
	switch {
	case c.EmbedderID == "":
		return errors.New("embedder_id is required")
	case c.HeldOut < 0 || c.HeldOut >= 1:
		return fmt.Errorf("held_out %v must be in [0, 1)", c.HeldOut)
	case c.TargetErrorRate <= 0 || c.TargetErrorRate >= 1:
		return fmt.Errorf("target_error_rate %v must be in (0, 1)", c.TargetErrorRate)
	case c.CropIoUMin < 0 || c.CropIoUMin > 1:
		return fmt.Errorf("crop_iou_min %v must be in [0, 1]", c.CropIoUMin)
	case c.AnomalyWeight < 0 || c.BoxWeight < 0 || c.LearningRate < 0 || c.WeightDecay < 0:
		return errors.New("anomaly_weight, box_weight, learning_rate and weight_decay must not be negative")
	case c.BatchGroups < 0 || c.MaxEpochs < 0 || c.Patience < 0 || c.VerifyGroups < 0:
		return errors.New("batch_groups, max_epochs, patience and verify_groups must not be negative")
	}
	for _, h := range [][]int{c.RankerHidden, c.CropHidden, c.RejectHidden} {
		for _, v := range h {
			if v <= 0 {
				return fmt.Errorf("hidden layer size %d must be positive", v)
			}
		}
	}
	return nil
}

// SplitSummary counts the groups of each set.
type SplitSummary struct {
	Train       int `json:"train"`
	Calibration int `json:"calibration"`
	Test        int `json:"test"`
}

// Report is the evaluation of a training run, JSON-serialisable.
type Report struct {
	// Generated is when the run ended.
	Generated time.Time `json:"generated"`
	// Config is the configuration used, defaults filled in.
	Config Config `json:"config"`
	// EmbeddingDim is E.
	EmbeddingDim int `json:"embedding_dim"`
	// Split counts the groups per set, overall and per project.
	Split         SplitSummary            `json:"split"`
	SplitProjects map[string]SplitSummary `json:"split_projects"`
	// EvaluatedOn says which held-out set the metrics come from: "test",
	// or "calibration" when the test set is empty (then optimistic).
	EvaluatedOn string `json:"evaluated_on"`
	// Overall and Projects are the held-out metrics.
	Overall  Metrics            `json:"overall"`
	Projects map[string]Metrics `json:"projects"`
	// Params are the calibration and thresholds found.
	Temperature float64          `json:"temperature"`
	CropPlatt   model.Platt      `json:"crop_platt"`
	RejectPlatt model.Platt      `json:"reject_platt"`
	Thresholds  model.Thresholds `json:"thresholds"`
	// RiskCoverage is the evaluated set's risk-coverage curve of the outcome
	// confidence (groups of two images or more).
	RiskCoverage []RiskPoint `json:"risk_coverage"`
	// Reliability and ReliabilityUncalibrated are the reliability diagrams
	// of the outcome confidence after and before calibration.
	Reliability             []Bin `json:"reliability"`
	ReliabilityUncalibrated []Bin `json:"reliability_uncalibrated"`
	// Losses are the per-epoch loss curves per model.
	Losses map[string][]EpochLoss `json:"losses"`
	// ExportMaxDiff is the largest relative difference between ONNX Runtime
	// and the Go forward pass seen in the export check.
	ExportMaxDiff float64 `json:"export_max_diff"`
	// Seconds is the wall time of each phase.
	Seconds map[string]float64 `json:"seconds"`
	// Groups lists the groups ("project/key") of each set as used: Train
	// fitted the networks, Calibration early stopping, calibration and
	// thresholds, Evaluated the metrics above.
	Groups GroupSets `json:"groups"`
}

// GroupSets lists group keys ("project/key") per set, sorted.
type GroupSets struct {
	Train       []string `json:"train"`
	Calibration []string `json:"calibration"`
	Evaluated   []string `json:"evaluated"`
}

// groupKeys returns the distinct "project/key" of examples, sorted.
func groupKeys(examples []*Example) []string {
	seen := map[string]bool{}
	out := []string{}
	for _, e := range examples {
		k := e.Project + "/" + e.GroupKey
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// Result is what Train produces: the three ONNX models, their parameters
// and the evaluation.
type Result struct {
	Ranker, Crop, Reject []byte
	Params               model.Params
	Report               Report
}

// Train trains, calibrates, evaluates and exports the three models on
// examples. ONNX Runtime must be initialised (onnxrt.Init): the exported
// models are reloaded through it and Train fails unless their outputs equal
// the Go forward pass.
func Train(ctx context.Context, examples []Example, cfg Config, log *slog.Logger) (Result, error) {
	start := time.Now()
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return Result{}, fmt.Errorf("train: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "training")
	if len(examples) == 0 {
		return Result{}, errors.New("train: no examples")
	}
	e := len(examples[0].Images)
	if e > 0 {
		e = len(examples[0].Images[0].Embedding)
	}
	for _, ex := range examples {
		if err := ex.validate(e); err != nil {
			return Result{}, fmt.Errorf("train: example %s/%s: %w", ex.Project, ex.GroupKey, err)
		}
	}
	rep := Report{Config: cfg, EmbeddingDim: e, Seconds: map[string]float64{}, Losses: map[string][]EpochLoss{}}
	phase := func(name string, t0 time.Time) { rep.Seconds[name] = time.Since(t0).Seconds() }

	split := SplitExamples(examples, cfg.HeldOut)
	rep.Split, rep.SplitProjects = summarise(examples, split)
	log.Info("training started", "examples", len(examples), "embedding_dim", e,
		"train_groups", rep.Split.Train, "calibration_groups", rep.Split.Calibration, "test_groups", rep.Split.Test)
	if len(split.Train) == 0 {
		return Result{}, errors.New("train: no training groups")
	}

	t0 := time.Now()
	st := fitStandardizer(examples, split.Train, inputDim(e))
	trainDS := newDataset(examples, split.Train, st)
	calibDS := newDataset(examples, split.Calibration, st)
	phase("features", t0)

	m := &models{st: st}
	for i, job := range []struct {
		t      task
		hidden []int
		dst    **mlp
	}{
		{rankerTask(cfg.AnomalyWeight), cfg.RankerHidden, &m.ranker},
		{cropTask(cfg.BoxWeight), cfg.CropHidden, &m.crop},
		{rejectTask(), cfg.RejectHidden, &m.reject},
	} {
		t0 := time.Now()
		epochDone := func(epoch int) {
			if cfg.Progress != nil {
				cfg.Progress(i*cfg.MaxEpochs+epoch, 3*cfg.MaxEpochs)
			}
		}
		net, curve, err := fit(ctx, job.t, job.hidden, trainDS, calibDS, cfg, log, epochDone)
		if err != nil {
			return Result{}, err
		}
		epochDone(cfg.MaxEpochs)
		*job.dst = net
		rep.Losses[job.t.name] = curve
		phase("train_"+job.t.name, t0)
	}

	// Calibrate on the calibration groups (the training groups when there are none).
	t0 = time.Now()
	calib := calibDS.ex
	if len(calib) == 0 {
		log.Warn("no calibration groups: calibrating on the training groups")
		calib = trainDS.ex
	}
	p := model.DefaultParams(cfg.EmbedderID, e)
	p.TargetErrorRate, p.CropIoUMin = cfg.TargetErrorRate, cfg.CropIoUMin
	items := decideAll(m, calib, p)
	var scores [][]float64
	var chosen []int
	var cz, rz []float64
	var cy, ry []bool
	for _, it := range items {
		ex := it.ex
		var zr float64
		for _, v := range it.raw.RejectLogits {
			zr += float64(v)
		}
		rz = append(rz, zr/float64(len(ex.Images)))
		ry = append(ry, ex.Rejected())
		if ex.Rejected() {
			continue
		}
		if ex.CropLabelled() {
			cz = append(cz, float64(it.raw.CropLogits[ex.Chosen]))
			cy = append(cy, ex.Cropped())
		}
		if len(ex.Images) >= 2 {
			scores = append(scores, it.out.Scores)
			chosen = append(chosen, ex.Chosen)
		}
	}
	p.Temperature = fitTemperature(scores, chosen)
	p.CropPlatt = fitPlatt(cz, cy)
	p.RejectPlatt = fitPlatt(rz, ry)
	p.Thresholds = thresholds(decideAll(m, calib, p), cfg.TargetErrorRate, cfg.CropIoUMin)
	rep.Temperature, rep.CropPlatt, rep.RejectPlatt, rep.Thresholds = p.Temperature, p.CropPlatt, p.RejectPlatt, p.Thresholds
	log.Info("calibrated", "temperature", p.Temperature, "crop_platt", p.CropPlatt, "reject_platt", p.RejectPlatt,
		"threshold_select", p.Thresholds.Select, "threshold_crop", p.Thresholds.Crop, "threshold_reject", p.Thresholds.Reject)
	phase("calibrate", t0)

	// Evaluate on the test groups.
	t0 = time.Now()
	var test []*Example
	for _, i := range split.Test {
		test = append(test, &examples[i])
	}
	rep.EvaluatedOn = "test"
	if len(test) == 0 {
		rep.EvaluatedOn = "calibration"
		test = calib
	}
	rep.Groups = GroupSets{Train: groupKeys(trainDS.ex), Calibration: groupKeys(calib), Evaluated: groupKeys(test)}
	evalItems := decideAll(m, test, p)
	rep.Overall = evaluate(evalItems, cfg.CropIoUMin)
	byProject := map[string][]evalItem{}
	for _, it := range evalItems {
		byProject[it.ex.Project] = append(byProject[it.ex.Project], it)
	}
	rep.Projects = map[string]Metrics{}
	for _, k := range sortedKeys(byProject) {
		rep.Projects[k] = evaluate(byProject[k], cfg.CropIoUMin)
	}
	var conf, uconf []float64
	var right []bool
	for _, it := range evalItems {
		if len(it.ex.Images) < 2 {
			continue
		}
		conf = append(conf, it.out.Confidence)
		uconf = append(uconf, it.unc.Confidence)
		right = append(right, outcomeRight(it.out, it.ex, cfg.CropIoUMin))
	}
	rep.RiskCoverage = riskCoverage(conf, right)
	rep.Reliability, _ = Reliability(conf, right, 10)
	rep.ReliabilityUncalibrated, _ = Reliability(uconf, right, 10)
	o := rep.Overall
	p.Evaluation = model.Summary{
		TrainedAt: time.Now().UTC(), TrainGroups: rep.Split.Train, TestGroups: o.Groups,
		SelectionAccuracy: o.SelectionAccuracy, AnomalyAccuracy: o.AnomalyAccuracy, NormalAccuracy: o.NormalAccuracy,
		BaselineAccuracy: o.BaselineAccuracy, RejectAccuracy: o.RejectAccuracy, CropAccuracy: o.CropAccuracy,
		CropIoU: o.CropIoU, OutcomeAccuracy: o.OutcomeAccuracy, ECE: o.ECE, Coverage: o.Coverage,
		AutoErrorRate: o.AutoErrorRate, AutoErrorRateUpper: o.AutoErrorUpper,
	}
	log.Info("evaluated", "on", rep.EvaluatedOn, "groups", o.Groups, "selection_accuracy", o.SelectionAccuracy,
		"baseline_accuracy", o.BaselineAccuracy, "anomaly_accuracy", o.AnomalyAccuracy, "reject_accuracy", o.RejectAccuracy,
		"crop_iou", o.CropIoU, "ece", o.ECE, "coverage", o.Coverage, "auto_error_rate", o.AutoErrorRate)
	phase("evaluate", t0)

	// Export and check the ONNX models against the Go forward pass.
	t0 = time.Now()
	res := Result{Params: p}
	var err error
	if res.Ranker, res.Crop, res.Reject, err = m.export(e); err != nil {
		return Result{}, fmt.Errorf("train: %w", err)
	}
	var groups [][]model.Image
	for _, ex := range test {
		if len(groups) >= cfg.VerifyGroups {
			break
		}
		groups = append(groups, ex.Images)
	}
	if rep.ExportMaxDiff, err = m.verifyExport(ctx, res.Ranker, res.Crop, res.Reject, p, groups); err != nil {
		return Result{}, fmt.Errorf("train: %w", err)
	}
	phase("export", t0)
	rep.Seconds["total"] = time.Since(start).Seconds()
	rep.Generated = time.Now().UTC()
	res.Report = rep
	log.Info("training done", "seconds", math.Round(rep.Seconds["total"]*10)/10, "export_max_diff", rep.ExportMaxDiff)
	return res, nil
}

// summarise counts the distinct groups of each set, overall and per project.
func summarise(examples []Example, s Split) (SplitSummary, map[string]SplitSummary) {
	per := map[string]SplitSummary{}
	var all SplitSummary
	count := func(idx []int, f func(*SplitSummary)) {
		seen := map[[2]string]bool{}
		for _, i := range idx {
			k := [2]string{examples[i].Project, examples[i].GroupKey}
			if seen[k] {
				continue
			}
			seen[k] = true
			ps := per[k[0]]
			f(&ps)
			per[k[0]] = ps
			f(&all)
		}
	}
	count(s.Train, func(x *SplitSummary) { x.Train++ })
	count(s.Calibration, func(x *SplitSummary) { x.Calibration++ })
	count(s.Test, func(x *SplitSummary) { x.Test++ })
	return all, per
}
