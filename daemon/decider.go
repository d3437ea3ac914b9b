package daemon

import (
	"context"
	"log/slog"
	"time"

	"screend/sql"
)

// decider scores closed groups. Without an active model every group is
// flagged for review with the reason no_model: nothing is decided on
// guesswork.
type decider struct {
	cfg        Config
	db         *sql.DB
	log        *slog.Logger
	metrics    *Metrics
	embedderID int32
	wake       chan struct{}
	// decided is called when groups were decided and have files to move.
	decided func()
}

// decidePoll is how often closed groups are looked for without a wake-up.
const decidePoll = 2 * time.Second

// Wake tells the decider that groups may have closed.
func (d *decider) Wake() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Run scores closed groups until ctx ends.
func (d *decider) Run(ctx context.Context) error {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-d.wake:
		case <-timer.C:
		}
		for ctx.Err() == nil {
			scored, err := d.db.ScoreClosedGroups(ctx, d.embedderID, 32, d.score)
			if err != nil {
				if ctx.Err() == nil {
					d.log.Error("score groups", "err", err)
				}
				break
			}
			decided := false
			for _, s := range scored {
				switch s.State {
				case sql.GroupFlagged:
					d.metrics.GroupsFlagged.Inc()
				case sql.GroupDecided:
					d.metrics.GroupsDecided.WithLabelValues(s.Outcome).Inc()
					decided = true
				}
			}
			if decided {
				d.decided()
			}
			if len(scored) == 0 {
				break
			}
		}
		timer.Reset(decidePoll)
	}
}

// score turns a group into a suggestion.
func (d *decider) score(g sql.GroupToScore) sql.Scored {
	reasons := []string{"no_model"}
	if len(g.Images) == 1 {
		reasons = append(reasons, "single_image")
	}
	d.log.Info("flagged", "group_id", g.ID, "project", g.Project, "images", len(g.Images), "reasons", reasons)
	return sql.Scored{State: sql.GroupFlagged, Reasons: reasons}
}
