package training

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"screend/scoring/model"
	"screend/sql"
)

// DefaultMinGroups is the fewest distinct groups of human decisions a model
// is trained on; with fewer, training says so and registers nothing.
const DefaultMinGroups = 50

// ErrTooFewExamples is returned by Run when there are fewer than
// RunOptions.MinGroups groups to learn from.
var ErrTooFewExamples = errors.New("too few examples")

// RunOptions configures one training run.
type RunOptions struct {
	// Embedder is the name (ID) of the embedder whose vectors are trained
	// on, as registered in screend.embedders, e.g. "builtin-v2".
	Embedder string
	// MinGroups is the fewest groups to train on (default DefaultMinGroups).
	MinGroups int
	// Training configures training; its EmbedderID is set from Embedder
	// and its Progress from Progress.
	Training Config
	// ReportDir, when set, receives the report (WriteReport) and gate.json.
	ReportDir string
	// Progress, when set, is told how many of the epochs are done (see
	// Config.Progress).
	Progress func(done, total int)
}

// ModelMetrics is what is stored as a model's metrics: the report without
// its curves, and the examples it was trained on. The promotion gate adds
// its verdict under "gate".
type ModelMetrics struct {
	Summary     model.Summary      `json:"summary"`
	EvaluatedOn string             `json:"evaluated_on"`
	Split       SplitSummary       `json:"split"`
	Overall     Metrics            `json:"overall"`
	Projects    map[string]Metrics `json:"projects"`
	Thresholds  model.Thresholds   `json:"thresholds"`
	Examples    LoadSummary        `json:"examples"`
}

// RunResult is what a training run did.
type RunResult struct {
	Examples LoadSummary `json:"examples"`
	// ModelID is the registered model, 0 when none was registered.
	ModelID  int64         `json:"model_id,omitempty"`
	Metrics  *ModelMetrics `json:"metrics,omitempty"`
	Gate     GateResult    `json:"gate"`
	Promoted bool          `json:"promoted"`
	// Report is the full evaluation (not printed as JSON: it is long).
	Report *Report `json:"-"`
}

// Run turns the human decisions into a promoted model: it trains models on
// every human decision embedded with opts.Embedder (Train), evaluates them,
// registers them, and promotes them when they pass the gate (Gate) against
// the active model on the new run's held-out groups; a candidate that fails
// is marked failed_gate. ONNX Runtime must be initialised. With fewer than
// opts.MinGroups groups it returns an error wrapping ErrTooFewExamples and
// registers nothing. `screend train` and the daemon's scheduled retraining
// both call it.
func Run(ctx context.Context, db *sql.DB, opts RunOptions, log *slog.Logger) (RunResult, error) {
	var out RunResult
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
	examples, sum, err := LoadExamples(ctx, db, embedderID)
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
	cfg.Progress = opts.Progress
	res, err := Train(ctx, examples, cfg, log)
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
		if err := WriteReport(opts.ReportDir, rep); err != nil {
			return out, err
		}
	}
	// Groups less like the training data than 99% of its groups are like
	// each other are flagged unfamiliar.
	res.Params.UnfamiliarDistance = FamiliarRadius(examples, 0.99, 300)
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

	out.Gate, err = gateAgainstActive(ctx, db, embedderID, examples, res, rep.Config)
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
