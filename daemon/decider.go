package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"screend"

	"screend/scoring/model"
	"screend/sql"
)

// decider scores closed groups with the active model and decides those it
// is sure of; the rest are flagged for review with their reasons. Without
// an active model every group is flagged no_model: nothing is decided on
// guesswork. A newly promoted model is picked up at the next round.
//
// A round reads top to bottom:
//
//  1. open the active model when it changed (loadModel);
//  2. claim closed groups (sql.ClaimClosedGroups); a claim of an instance
//     that stops before storing is taken over like its other claims;
//  3. for each group, read its images and conflicts (sql.LoadClosedGroup),
//     run the model and the familiarity check (sql.TrainingImageWithin)
//     outside any transaction, and judge the evidence (model.Judge, pure);
//  4. store the score, and the decision of a decided group
//     (sql.StoreScore).
type decider struct {
	cfg        Options
	db         *sql.DB
	log        *slog.Logger
	metrics    *Metrics
	embedder   string // the embedder's ID, which a model must have been trained on
	embedderID int32
	wake       waker
	instance   func() int32
	// decided is called when groups were decided and have files to move.
	decided func()

	bundle  *model.Bundle
	modelID int64
}

// decidePoll is how often closed groups and the active model are looked at
// without a wake-up.
const decidePoll = 2 * time.Second

// closedGroupsPerRound bounds the groups one round claims.
const closedGroupsPerRound = 32

// Run scores closed groups until ctx ends.
func (d *decider) Run(ctx context.Context) error {
	defer d.closeBundle()
	d.wake.run(ctx, decidePoll, func() bool { return d.round(ctx) })
	return nil
}

// round claims closed groups, scores them and stores their scores. It
// reports whether more groups may be waiting.
func (d *decider) round(ctx context.Context) bool {
	if err := d.loadModel(ctx); err != nil && ctx.Err() == nil {
		d.log.Error("load active model; groups are flagged until it loads", "err", err)
	}
	instance := d.instance()
	claimed, err := d.db.ClaimClosedGroups(ctx, instance, closedGroupsPerRound)
	if err != nil {
		if ctx.Err() == nil {
			d.log.Error("claim closed groups", "err", err)
		}
		return false
	}
	decided := false
	for _, c := range claimed {
		g, err := d.db.LoadClosedGroup(ctx, c, d.embedderID)
		if err != nil {
			if ctx.Err() == nil {
				d.log.Error("read closed group", "group_id", c.ID, "err", err)
			}
			return false
		}
		s := d.score(ctx, g)
		if ctx.Err() != nil {
			return false // a model or familiarity error of shutting down is not stored
		}
		stored, err := d.db.StoreScore(ctx, instance, g.ID, s)
		if err != nil {
			if ctx.Err() == nil {
				d.log.Error("store score", "group_id", g.ID, "err", err)
			}
			return false
		}
		if !stored {
			continue // resolved by a human, or taken over meanwhile
		}
		switch s.State {
		case screend.GroupFlagged:
			d.metrics.GroupsFlagged.Inc()
		case screend.GroupDecided:
			d.metrics.GroupsDecided.WithLabelValues(string(s.Outcome)).Inc()
			decided = true
		}
	}
	if decided {
		d.decided()
	}
	return len(claimed) > 0
}

// loadModel opens the active model when it changed since the last round.
func (d *decider) loadModel(ctx context.Context) error {
	id, err := d.db.ActiveModelID(ctx)
	if err != nil || id == d.modelID {
		return err
	}
	d.closeBundle()
	if id == 0 {
		d.log.Info("no active model; every group is flagged for review")
		return nil
	}
	m, err := d.db.ActiveModel(ctx)
	if err != nil || m == nil {
		return err
	}
	p, err := model.UnmarshalParams(m.Params)
	if err != nil {
		return fmt.Errorf("model %d: %w", m.ID, err)
	}
	if p.EmbedderID != d.embedder {
		d.modelID = id
		d.log.Warn("active model was trained on another embedder; groups are flagged no_model",
			"model_id", id, "model_embedder", p.EmbedderID, "embedder", d.embedder)
		return nil
	}
	d.cfg.Thresholds.Apply(&p.Thresholds)
	b, err := model.NewBundle(m.Ranker, m.Crop, m.Reject, p, d.cfg.IntraOpThreads)
	if err != nil {
		return fmt.Errorf("model %d: %w", m.ID, err)
	}
	d.bundle, d.modelID = b, id
	d.log.Info("model loaded", "model_id", id, "thresholds", fmt.Sprintf("%+v", p.Thresholds))
	return nil
}

func (d *decider) closeBundle() {
	if d.bundle != nil {
		d.bundle.Close()
		d.bundle = nil
	}
	d.modelID = 0
}

// unfamiliar tells whether the embedding is farther from every image of the
// training data than the model's familiar radius.
func (d *decider) unfamiliar(ctx context.Context, v []float32) (bool, error) {
	radius := d.bundle.Params().UnfamiliarDistance
	if radius <= 0 {
		return false, nil
	}
	near, err := d.db.TrainingImageWithin(ctx, d.embedderID, v, radius)
	if err != nil {
		return false, err
	}
	return !near, nil
}

// score turns a group into a suggestion, and a decision when the model is
// sure enough and nothing speaks against it (model.Judge).
func (d *decider) score(ctx context.Context, g sql.ClosedGroup) sql.Score {
	ev := model.Evidence{Images: len(g.Images), Conflict: g.Conflict}
	out, err := d.run(ctx, g, &ev)
	if err != nil {
		d.log.Error("score group", "group_id", g.ID, "err", err)
	}
	if out != nil && out.Chosen >= 0 && out.Chosen < len(g.Images) {
		im := g.Images[out.Chosen]
		ev.CropTooSmall = out.CropTooSmall(im.Width, im.Height)
	}
	v := model.Judge(ev, out)
	s := sql.Score{State: screend.GroupFlagged, Reasons: v.Reasons}
	if v.Decided {
		s.State = screend.GroupDecided
	}
	if out == nil {
		d.log.Info("flagged", "group_id", g.ID, "project", g.Project, "images", len(g.Images), "reasons", v.Reasons)
		return s
	}
	s.Outcome, s.Confidence, s.ModelID = out.Kind, float32(out.Confidence), d.modelID
	if out.Kind != screend.OutcomeReject {
		s.ChosenImageID = g.Images[out.Chosen].ID
	}
	// A flagged group keeps the suggested box for the reviewer; a decided
	// one only when it is cropped.
	if !v.Decided || out.Kind == screend.OutcomeCrop {
		s.Crop = out.Box.Float32s()
	}
	s.Scores = make(map[int64]float32, len(g.Images))
	for i, im := range g.Images {
		s.Scores[im.ID] = float32(out.Scores[i])
	}
	d.log.Info("scored", "group_id", g.ID, "project", g.Project, "outcome", out.Kind,
		"confidence", fmt.Sprintf("%.3f", out.Confidence), "model_version", d.modelID,
		"decided", v.Decided, "reasons", v.Reasons)
	return s
}

// run gathers the evidence on a group and runs the model on it when it can:
// it returns the model's outcome, or nil when there is no model, an image
// has no embedding or the model failed (said in ev).
func (d *decider) run(ctx context.Context, g sql.ClosedGroup, ev *model.Evidence) (*model.Outcome, error) {
	if d.bundle == nil {
		ev.NoModel = true
		return nil, nil
	}
	imgs := make([]model.Image, len(g.Images))
	for i, im := range g.Images {
		if im.Embedding == nil {
			ev.NoEmbedding = true
			return nil, nil
		}
		imgs[i] = model.Image{Embedding: im.Embedding, Stage: im.Stage, Width: im.Width, Height: im.Height}
	}
	out, err := d.bundle.Decide(ctx, g.Project, imgs)
	if err != nil {
		ev.ModelError = true
		return nil, err
	}
	ev.Unfamiliar, err = d.unfamiliar(ctx, g.Images[out.Chosen].Embedding)
	if err != nil {
		ev.FamiliarityError = true
		return &out, fmt.Errorf("familiarity check: %w", err)
	}
	return &out, nil
}
