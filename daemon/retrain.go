package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"screend"
	"time"

	"github.com/robfig/cron/v3"

	"screend/scoring/model"
	"screend/sql"
	"screend/training"
)

// DefaultMinGroups is the fewest distinct groups of human decisions a model
// is trained on; with fewer, training says so and registers nothing.
const DefaultMinGroups = 50

// ErrTooFewExamples is returned by Train when there are fewer than
// TrainOptions.MinGroups groups to learn from.
var ErrTooFewExamples = errors.New("too few examples")

// TrainOptions configures one training run.
type TrainOptions struct {
	// Embedder is the name (ID) of the embedder whose vectors are trained
	// on, as registered in screend.embedders, e.g. "builtin-v1".
	Embedder string
	// MinGroups is the fewest groups to train on (default DefaultMinGroups).
	MinGroups int
	// Training configures training; its EmbedderID is set from Embedder.
	Training training.Config
	// ReportDir, when set, receives the report (training.WriteReport) and
	// gate.json.
	ReportDir string
	// ProgressTo shows the training's progress as a bar when it is a
	// terminal; otherwise (or nil) progress goes to the log every 10 s.
	ProgressTo io.Writer
}

// ModelMetrics is what is stored as a model's metrics: the report without
// its curves, and the examples it was trained on. The promotion gate adds
// its verdict under "gate".
type ModelMetrics struct {
	Summary     model.Summary               `json:"summary"`
	EvaluatedOn string                      `json:"evaluated_on"`
	Split       training.SplitSummary       `json:"split"`
	Overall     training.Metrics            `json:"overall"`
	Projects    map[string]training.Metrics `json:"projects"`
	Thresholds  model.Thresholds            `json:"thresholds"`
	Examples    training.LoadSummary        `json:"examples"`
}

// TrainResult is what a training run did.
type TrainResult struct {
	Examples training.LoadSummary `json:"examples"`
	// ModelID is the registered model, 0 when none was registered.
	ModelID  int64               `json:"model_id,omitempty"`
	Metrics  *ModelMetrics       `json:"metrics,omitempty"`
	Gate     training.GateResult `json:"gate"`
	Promoted bool                `json:"promoted"`
	// Report is the full evaluation (not printed as JSON: it is long).
	Report *training.Report `json:"-"`
}

// Train trains models on every human decision embedded with
// opts.Embedder, registers them and promotes them when they pass the gate
// (training.Gate) against the active model on the new run's held-out
// groups; a candidate that fails is marked failed_gate. ONNX Runtime must be
// initialised. With fewer than opts.MinGroups groups it returns an error
// wrapping ErrTooFewExamples and registers nothing.
func Train(ctx context.Context, db *sql.DB, opts TrainOptions, log *slog.Logger) (TrainResult, error) {
	var out TrainResult
	if opts.MinGroups <= 0 {
		opts.MinGroups = DefaultMinGroups
	}
	embedderID, dim, ok, err := db.EmbedderByName(ctx, opts.Embedder)
	if err != nil {
		return out, err
	}
	if !ok {
		return out, fmt.Errorf("%w: nothing was embedded with %s yet", ErrTooFewExamples, opts.Embedder)
	}
	examples, sum, err := training.LoadExamples(ctx, db, embedderID)
	if err != nil {
		return out, err
	}
	out.Examples = sum
	log.Info("examples loaded", "embedder", opts.Embedder, "dim", dim, "examples", len(examples), "groups", sum.Groups,
		"review", sum.Review, "imported", sum.Imported, "skipped", sum.Skipped)
	if sum.Groups < opts.MinGroups {
		return out, fmt.Errorf("%w: %d groups of human decisions, at least %d needed", ErrTooFewExamples, sum.Groups, opts.MinGroups)
	}
	cfg := opts.Training
	cfg.EmbedderID = opts.Embedder
	if opts.ProgressTo == nil {
		opts.ProgressTo = io.Discard
	}
	progress := NewProgress(opts.ProgressTo, log, "train", 0)
	epochs := 0
	cfg.Progress = func(done, total int) {
		progress.SetTotal(total)
		progress.Add(done - epochs)
		epochs = done
	}
	res, err := training.Train(ctx, examples, cfg, log)
	progress.Done()
	if err != nil {
		return out, err
	}
	rep := res.Report
	out.Report = &rep
	out.Metrics = &ModelMetrics{
		Summary: res.Params.Evaluation, EvaluatedOn: rep.EvaluatedOn, Split: rep.Split, Overall: rep.Overall,
		Projects: rep.Projects, Thresholds: rep.Thresholds, Examples: sum,
	}
	if opts.ReportDir != "" {
		if err := training.WriteReport(opts.ReportDir, rep); err != nil {
			return out, err
		}
	}
	// Groups less like the training data than 99% of its groups are like
	// each other are flagged unfamiliar.
	res.Params.UnfamiliarDistance = training.FamiliarRadius(examples, 0.99, 300)
	params, err := model.MarshalParams(res.Params)
	if err != nil {
		return out, fmt.Errorf("encode params: %w", err)
	}
	metrics, err := json.Marshal(out.Metrics)
	if err != nil {
		return out, fmt.Errorf("encode metrics: %w", err)
	}
	out.ModelID, err = db.InsertModel(ctx, sql.Model{
		EmbedderID: embedderID, Ranker: res.Ranker, Crop: res.Crop, Reject: res.Reject,
		Params: params, Metrics: metrics, Examples: len(examples),
	})
	if err != nil {
		return out, err
	}
	log.Info("model registered", "model_id", out.ModelID)

	out.Gate, err = gate(ctx, db, embedderID, examples, res, rep.Config)
	if err != nil {
		return out, err
	}
	verdict, err := json.Marshal(out.Gate)
	if err != nil {
		return out, fmt.Errorf("encode gate: %w", err)
	}
	if opts.ReportDir != "" {
		if err := os.WriteFile(filepath.Join(opts.ReportDir, "gate.json"), append(verdict, '\n'), 0o644); err != nil {
			return out, fmt.Errorf("write gate: %w", err)
		}
	}
	if !out.Gate.Pass {
		log.Info("model not promoted", "model_id", out.ModelID, "reason", out.Gate.Reason)
		return out, db.FailModelGate(ctx, out.ModelID, verdict)
	}
	if err := db.SetModelGate(ctx, out.ModelID, verdict); err != nil {
		return out, err
	}
	if err := db.PromoteModel(ctx, out.ModelID); err != nil {
		return out, err
	}
	out.Promoted = true
	log.Info("model promoted", "model_id", out.ModelID, "reason", out.Gate.Reason)
	return out, nil
}

// gate runs the candidate and the active model through ONNX Runtime on the
// same held-out groups of the new run and compares them.
func gate(ctx context.Context, db *sql.DB, embedderID int32, examples []training.Example, res training.Result, cfg training.Config) (training.GateResult, error) {
	held, on := training.HeldOutExamples(examples, cfg.HeldOut)
	g := training.GateResult{On: on}
	cand, err := model.NewBundle(res.Ranker, res.Crop, res.Reject, res.Params, 1)
	if err != nil {
		return g, fmt.Errorf("open candidate: %w", err)
	}
	defer cand.Close()
	if g.Candidate, err = training.EvaluateBundle(ctx, cand, held, cfg.CropIoUMin); err != nil {
		return g, err
	}
	active, err := db.ActiveModel(ctx)
	if err != nil {
		return g, err
	}
	if active == nil {
		g.Pass, g.Reason = true, "no model is active"
		return g, nil
	}
	g.ActiveID = active.ID
	if active.EmbedderID != embedderID {
		g.Pass, g.Reason = true, fmt.Sprintf("the active model %d takes another embedder's vectors and cannot decide these groups", active.ID)
		return g, nil
	}
	p, err := model.UnmarshalParams(active.Params)
	if err == nil && p.EmbeddingDim != res.Params.EmbeddingDim {
		err = fmt.Errorf("it takes %d-d embeddings, not %d", p.EmbeddingDim, res.Params.EmbeddingDim)
	}
	var ab *model.Bundle
	if err == nil {
		ab, err = model.NewBundle(active.Ranker, active.Crop, active.Reject, p, 1)
	}
	if err != nil {
		// The daemon cannot use it either.
		g.Pass, g.Reason = true, fmt.Sprintf("the active model %d cannot be loaded (%v)", active.ID, err)
		return g, nil
	}
	defer ab.Close()
	ae, err := training.EvaluateBundle(ctx, ab, held, cfg.CropIoUMin)
	if err != nil {
		return g, err
	}
	g.Active = &ae
	g.Pass, g.Reason = training.Gate(g.Candidate, ae, cfg.TargetErrorRate)
	return g, nil
}

// retrainer trains new models on cfg.RetrainSchedule when enough new human
// decisions arrived, one instance at a time.
type retrainer struct {
	db           *sql.DB
	log          *slog.Logger
	sched        cron.Schedule // nil: disabled
	minDecisions int
	// now is the clock; wait blocks until t or ctx ends and reports
	// whether t was reached. Tests replace both.
	now  func() time.Time
	wait func(ctx context.Context, t time.Time) bool
	// train runs one training; newRetrainer sets it to Train.
	train func(ctx context.Context) (TrainResult, error)
}

// newRetrainer builds the retrainer for the embedder called embedder.
func newRetrainer(cfg Config, db *sql.DB, embedder string, log *slog.Logger) (*retrainer, error) {
	r := &retrainer{db: db, log: log, minDecisions: cfg.RetrainMinDecisions, now: time.Now, wait: waitUntil}
	if cfg.RetrainSchedule != "" {
		s, err := cron.ParseStandard(cfg.RetrainSchedule)
		if err != nil {
			return nil, fmt.Errorf("parse SCREEND_RETRAIN_SCHEDULE: %w", err)
		}
		r.sched = s
	}
	opts := TrainOptions{Embedder: embedder}
	r.train = func(ctx context.Context) (TrainResult, error) { return Train(ctx, db, opts, log) }
	return r, nil
}

// Run retrains at every scheduled time until ctx ends, and once at start
// when a scheduled run was missed (no model was registered since the last
// scheduled time before now). Failures are logged; they never stop the
// daemon. Training runs in this goroutine, apart from intake.
func (r *retrainer) Run(ctx context.Context) error {
	if r.sched == nil {
		r.log.Info("retraining disabled (SCREEND_RETRAIN_SCHEDULE is empty)")
		return nil
	}
	missed, err := r.missed(ctx)
	if err != nil && ctx.Err() == nil {
		r.log.Error("check for a missed retraining", "err", err)
	}
	if missed {
		r.attempt(ctx, "missed")
	}
	for ctx.Err() == nil {
		next := r.sched.Next(r.now())
		r.log.Info("next retraining", "at", next)
		if !r.wait(ctx, next) {
			break
		}
		r.attempt(ctx, "scheduled")
	}
	return nil
}

// missed reports whether a scheduled run passed since the newest model was
// registered (or whether no model was ever registered).
func (r *retrainer) missed(ctx context.Context) (bool, error) {
	last, ok, err := r.db.LastModelCreated(ctx)
	if err != nil || !ok {
		return err == nil, err
	}
	return !r.sched.Next(last).After(r.now()), nil
}

// attempt trains when enough new human decisions arrived and no other
// instance is training. It reports whether it trained.
func (r *retrainer) attempt(ctx context.Context, why string) bool {
	enough := func() bool {
		since, _, err := r.db.LastModelCreated(ctx)
		if err != nil {
			r.log.Error("retraining skipped", "err", err)
			return false
		}
		n, err := r.db.HumanDecisionsSince(ctx, since)
		if err != nil {
			r.log.Error("retraining skipped", "err", err)
			return false
		}
		if n < r.minDecisions {
			r.log.Info("retraining skipped: not enough new human decisions", "why", why, "new_decisions", n, "min", r.minDecisions)
			return false
		}
		return true
	}
	if !enough() {
		return false
	}
	conn, err := r.db.Pool.Acquire(ctx)
	if err != nil {
		r.log.Error("retraining skipped", "err", err)
		return false
	}
	defer conn.Release()
	var got bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1, 1)`, int32(screend.LockRetrain)).Scan(&got); err != nil {
		r.log.Error("retraining skipped: take lock", "err", err)
		return false
	}
	if !got {
		r.log.Info("retraining skipped: another instance is training", "why", why)
		return false
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1, 1)`, int32(screend.LockRetrain))
	// Another instance may have finished a run just before the lock was free.
	if !enough() {
		return false
	}
	start := r.now()
	r.log.Info("retraining started", "why", why)
	res, err := r.train(ctx)
	switch {
	case errors.Is(err, ErrTooFewExamples):
		r.log.Info("retraining skipped", "reason", err.Error())
		return false
	case err != nil:
		if ctx.Err() == nil {
			r.log.Error("retraining failed", "err", err)
		}
		return false
	}
	r.log.Info("retraining done", "model_id", res.ModelID, "promoted", res.Promoted, "gate", res.Gate.Reason,
		"seconds", r.now().Sub(start).Round(time.Second).Seconds())
	return true
}

// waitUntil blocks until t or until ctx ends; it reports whether t came.
func waitUntil(ctx context.Context, t time.Time) bool {
	timer := time.NewTimer(time.Until(t))
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}
