package training_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"screend"
	"screend/scoring/onnxrt/onnxrttest"
	"screend/sql"
	"screend/sql/sqltest"
	"screend/training"
	"screend/training/trainingtest"
)

func modelState(t *testing.T, db *sql.DB, id int64) screend.ModelState {
	t.Helper()
	m, err := db.Model(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return m.State
}

// crippled trains models that have learnt nothing (one epoch at a
// vanishing learning rate): worse than any trained model.
var crippled = training.Config{MaxEpochs: 1, LearningRate: 1e-12, TargetErrorRate: 0.05}

func TestRunPromotesOnlyWhatPassesTheGate(t *testing.T) {
	t.Parallel()
	onnxrttest.Init(t)
	ctx := context.Background()
	db := sqltest.New(t)
	log := slog.New(slog.NewTextHandler(t.Output(), nil))
	trainingtest.Seed(t, db, trainingtest.Options{Groups: 300})

	// too few groups: nothing registered
	_, err := training.Run(ctx, db, training.RunOptions{Embedder: "test-v1", MinGroups: 301}, log)
	if !errors.Is(err, training.ErrTooFewExamples) {
		t.Fatalf("Run with 300 of 301 groups: %v, want training.ErrTooFewExamples", err)
	}
	if ms, _ := db.ListModels(ctx); len(ms) != 0 {
		t.Fatalf("%d models registered", len(ms))
	}
	_, err = training.Run(ctx, db, training.RunOptions{Embedder: "unknown-v1"}, log)
	if !errors.Is(err, training.ErrTooFewExamples) {
		t.Fatalf("Run with an unknown embedder: %v, want training.ErrTooFewExamples", err)
	}

	// a first model is promoted whatever it is worth: there is nothing to compare
	bad, err := training.Run(ctx, db, training.RunOptions{Embedder: "test-v1", Training: crippled}, log)
	if err != nil {
		t.Fatal(err)
	}
	if !bad.Promoted || bad.Gate.Active != nil {
		t.Fatalf("first model: promoted %v, gate %+v", bad.Promoted, bad.Gate)
	}

	// a better model replaces it
	dir := t.TempDir()
	good, err := training.Run(ctx, db, training.RunOptions{Embedder: "test-v1", Training: training.Config{TargetErrorRate: 0.05}, ReportDir: dir}, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("gate: %+v", good.Gate)
	if !good.Promoted || good.Gate.Active == nil || good.Gate.ActiveID != bad.ModelID {
		t.Fatalf("better model: promoted %v, gate %+v", good.Promoted, good.Gate)
	}
	if good.Gate.Candidate.Groups != good.Gate.Active.Groups || good.Gate.Candidate.Groups == 0 {
		t.Fatalf("not compared on the same groups: %+v", good.Gate)
	}
	if modelState(t, db, bad.ModelID) != screend.ModelRetired || modelState(t, db, good.ModelID) != screend.ModelActive {
		t.Fatalf("states after promotion: %s, %s", modelState(t, db, bad.ModelID), modelState(t, db, good.ModelID))
	}
	for _, f := range []string{"report.json", "gate.json", "risk_coverage.png", "reliability.png", "losses.png"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("report: %v", err)
		}
	}

	// a worse model is registered but not promoted
	worse, err := training.Run(ctx, db, training.RunOptions{Embedder: "test-v1", Training: crippled}, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("gate: %+v", worse.Gate)
	if worse.Promoted || worse.Gate.Pass || worse.Gate.ActiveID != good.ModelID {
		t.Fatalf("worse model: promoted %v, gate %+v", worse.Promoted, worse.Gate)
	}
	if modelState(t, db, worse.ModelID) != screend.ModelFailedGate || modelState(t, db, good.ModelID) != screend.ModelActive {
		t.Fatalf("states after the gate: %s, %s", modelState(t, db, worse.ModelID), modelState(t, db, good.ModelID))
	}
	m, _ := db.Model(ctx, worse.ModelID)
	if !bytes.Contains(m.Metrics, []byte(`"gate"`)) || !bytes.Contains(m.Metrics, []byte(`"summary"`)) {
		t.Errorf("metrics of the failed model lack the gate or summary: %s", m.Metrics)
	}
}
