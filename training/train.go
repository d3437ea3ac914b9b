package training

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sort"
	"time"

	"screend/scoring/embed"
	"screend/scoring/model"
)

// Config configures Train. Zero fields take their defaults.
type Config struct {
	// EmbedderID is stored in the models' Params (required).
	EmbedderID string `json:"embedder_id"`
	// Grid is the embedding's region layout the local-change meta
	// features compare stages with (default embed.GridOf(EmbedderID)).
	Grid embed.Grid `json:"grid"`
	// HeldOut is the newest share of each project's groups held out for
	// testing (the promotion gate), never fitted or calibrated on (default
	// 0.15; negative: none, and the metrics are the out-of-fold ones).
	HeldOut float64 `json:"held_out"`
	// Folds is the number of cross-fitting folds (default 5).
	Folds int `json:"folds"`
	// RecentGroups is how many of the newest cross-fitted groups readiness
	// looks at (default 500).
	RecentGroups int `json:"recent_groups"`
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
	// LocalChangeWeight multiplies the standardised local-change meta
	// features in the networks' input (default 64). That a stage which
	// changed in one place only is broken is known beforehand; weighted
	// up, it is learnt from a few dozen anomalies before the embedding's
	// hundreds of columns, and weight decay does not shrink it away with
	// them. Chosen on the out-of-fold results of training groups (see the
	// README's learning curve).
	LocalChangeWeight float64 `json:"local_change_weight"`
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
	// (Folds+1)*3*MaxEpochs epochs of the fits are done.
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
	def(&c.HeldOut, 0.15)
	if c.HeldOut < 0 {
		c.HeldOut = 0
	}
	def(&c.AnomalyWeight, 5)
	def(&c.BoxWeight, 5)
	def(&c.LocalChangeWeight, 64)
	def(&c.LearningRate, 1e-3)
	def(&c.WeightDecay, 0.5)
	def(&c.TargetErrorRate, model.DefaultTargetErrorRate)
	def(&c.CropIoUMin, model.DefaultCropIoUMin)
	defI(&c.BatchGroups, 32)
	defI(&c.MaxEpochs, 60)
	defI(&c.Patience, 6)
	defI(&c.VerifyGroups, 64)
	defI(&c.Folds, 5)
	defI(&c.RecentGroups, 500)
	if c.Seed == 0 {
		c.Seed = 1
	}
	if len(c.Grid.Blocks) == 0 {
		c.Grid = embed.GridOf(c.EmbedderID)
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
	case c.LocalChangeWeight <= 0:
		return fmt.Errorf("local_change_weight %v must be positive", c.LocalChangeWeight)
	case c.BatchGroups < 0 || c.MaxEpochs < 0 || c.Patience < 0 || c.VerifyGroups < 0:
		return errors.New("batch_groups, max_epochs, patience and verify_groups must not be negative")
	case c.Folds < 2:
		return fmt.Errorf("folds %d must be at least 2", c.Folds)
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

// SplitSummary counts the groups of each set: Train are cross-fitted
// (their out-of-fold outputs calibrate and certify, and the shipped
// networks are refit on all of them), Test only evaluate.
type SplitSummary struct {
	Train int `json:"train"`
	Test  int `json:"test"`
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
	// EvaluatedOn says which groups the metrics come from: "test", or
	// "out_of_fold" when there is no test set (every group judged by
	// networks and thresholds that never saw it).
	EvaluatedOn string `json:"evaluated_on"`
	// OutOfFold are the metrics of every cross-fitted group, judged out of
	// fold with thresholds certified on the other folds.
	OutOfFold Metrics `json:"out_of_fold"`
	// Readiness is the per-kind readiness stored with the model.
	Readiness []model.Readiness `json:"readiness"`
	// Epochs are the epochs of the refit ranker, crop and reject networks
	// (the median of the folds' early stopping).
	Epochs [3]int `json:"epochs"`
	// CropOffsets are the per-project crop offsets.
	CropOffsets map[string]float64 `json:"crop_offsets"`
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
	// were cross-fitted (and calibrated out of fold), Evaluated gave the
	// metrics above.
	Groups GroupSets `json:"groups"`
}

// GroupSets lists group keys ("project/key") per set, sorted.
type GroupSets struct {
	Train     []string `json:"train"`
	Evaluated []string `json:"evaluated"`
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
		"cross_fitted_groups", rep.Split.Train, "test_groups", rep.Split.Test, "folds", cfg.Folds)
	if len(split.Train) == 0 {
		return Result{}, errors.New("train: no training groups")
	}

	// Cross-fit: every group's out-of-fold outputs, from networks that never saw it.
	t0 := time.Now()
	folds := assignFolds(examples, split.Train, cfg.Folds)
	total := (cfg.Folds + 1) * 3 * cfg.MaxEpochs
	progress := func(done int) {
		if cfg.Progress != nil {
			cfg.Progress(min(done, total), total)
		}
	}
	items, epochs, err := crossFit(ctx, examples, split.Train, folds, cfg.Folds, cfg, log, progress)
	if err != nil {
		return Result{}, fmt.Errorf("train: %w", err)
	}
	phase("cross_fit", t0)

	// Refit on all of them, each network for the median of its folds' epochs.
	t0 = time.Now()
	final := [3]int{median(epochs[0]), median(epochs[1]), median(epochs[2])}
	refit, err := fitModels(ctx, examples, split.Train, nil, &final, cfg, log, func(d int) { progress(cfg.Folds*3*cfg.MaxEpochs + d) })
	if err != nil {
		return Result{}, fmt.Errorf("train: %w", err)
	}
	progress(total)
	m := refit.m
	rep.Losses = refit.curves
	rep.Epochs = final
	phase("refit", t0)

	// Calibrate and certify on the out-of-fold outputs of every group.
	t0 = time.Now()
	base := model.DefaultParams(cfg.EmbedderID, e)
	base.TargetErrorRate, base.CropIoUMin, base.Grid = cfg.TargetErrorRate, cfg.CropIoUMin, cfg.Grid
	p := calibrate(items, base, cfg.CropIoUMin)
	rep.Temperature, rep.CropPlatt, rep.RejectPlatt, rep.Thresholds = p.Temperature, p.CropPlatt, p.RejectPlatt, p.Thresholds
	rep.CropOffsets = p.CropOffsets
	// Judge every group with what the other folds certified.
	judged := crossCertify(items, base, cfg.CropIoUMin)
	rep.OutOfFold = evaluate(judged, cfg.CropIoUMin)
	p.Readiness = readiness(judged, p, cfg.RecentGroups)
	rep.Readiness = p.Readiness
	log.Info("calibrated", "temperature", p.Temperature, "crop_platt", p.CropPlatt, "reject_platt", p.RejectPlatt,
		"threshold_select", p.Thresholds.Select, "threshold_crop", p.Thresholds.Crop, "threshold_reject", p.Thresholds.Reject,
		"out_of_fold_coverage", rep.OutOfFold.Coverage, "out_of_fold_auto_errors", rep.OutOfFold.AutoErrors)
	phase("calibrate", t0)
	calib := make([]*Example, 0, len(items))
	for _, it := range items {
		calib = append(calib, it.ex)
	}

	// Evaluate on the test groups.
	t0 = time.Now()
	var test []*Example
	for _, i := range split.Test {
		test = append(test, &examples[i])
	}
	rep.Groups = GroupSets{Train: groupKeys(calib), Evaluated: groupKeys(test)}
	rep.EvaluatedOn = "test"
	var evalItems []evalItem
	if len(test) == 0 {
		rep.EvaluatedOn = "out_of_fold"
		evalItems = judged
		rep.Groups.Evaluated = rep.Groups.Train
	} else {
		evalItems = decideAll(m, test, p)
	}
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
	if res.Ranker, res.Crop, res.Reject, err = m.export(e); err != nil {
		return Result{}, fmt.Errorf("train: %w", err)
	}
	var groups [][]model.Image
	for _, it := range evalItems {
		if len(groups) >= cfg.VerifyGroups {
			break
		}
		groups = append(groups, it.ex.Images)
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
	count(s.Test, func(x *SplitSummary) { x.Test++ })
	return all, per
}
