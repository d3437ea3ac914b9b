package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"screend"

	"github.com/robfig/cron/v3"

	"screend/internal/progress"
	"screend/sql"
	"screend/training"
)

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
	// train runs one training; newRetrainer sets it to training.Run.
	train func(ctx context.Context) (training.RunResult, error)
}

// newRetrainer builds the retrainer for the embedder called embedder.
func newRetrainer(cfg Options, db *sql.DB, embedder string, log *slog.Logger) (*retrainer, error) {
	r := &retrainer{db: db, log: log, minDecisions: cfg.RetrainMinDecisions, now: time.Now, wait: waitUntil}
	if cfg.RetrainSchedule != "" {
		s, err := cron.ParseStandard(cfg.RetrainSchedule)
		if err != nil {
			return nil, fmt.Errorf("parse SCREEND_RETRAIN_SCHEDULE: %w", err)
		}
		r.sched = s
	}
	r.train = func(ctx context.Context) (training.RunResult, error) {
		p := progress.NewLog(log, "train", 0)
		defer p.Done()
		return training.Run(ctx, db, training.RunOptions{Embedder: embedder, Progress: p.Set}, log)
	}
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
	unlock, got, err := r.db.TryLock(ctx, screend.LockRetrain, 1)
	if err != nil {
		r.log.Error("retraining skipped: take lock", "err", err)
		return false
	}
	if !got {
		r.log.Info("retraining skipped: another instance is training", "why", why)
		return false
	}
	defer unlock()
	// Another instance may have finished a run just before the lock was free.
	if !enough() {
		return false
	}
	start := r.now()
	r.log.Info("retraining started", "why", why)
	res, err := r.train(ctx)
	switch {
	case errors.Is(err, training.ErrTooFewExamples):
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
