package daemon

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"screend/scoring/group"
	"screend/sql"
)

// grouper forms groups live by the nearest-up rule. A project is regrouped
// whenever files of it are recorded or processed, and when it has been
// quiet for Settle. A group closes (its membership becomes final) once all
// its images are processed and either no file that could still arrive
// would change it or its project is settled; images in no group become
// single-image groups when the project settles.
//
// A regroup reads every image of the project in no closed group, so a
// round for a project that images were only processed in is skipped
// while it could close nothing (group.MayClose): no file was recorded
// since its last regroup, and the project is neither quiet enough nor
// settled. Otherwise a folder of 10,000 files copied in out of order
// would be read whole twice a second until it settles. Files that went
// gone meanwhile leave their groups at the next regroup that runs.
type grouper struct {
	cfg     Options
	db      *sql.DB
	log     *slog.Logger
	metrics *Metrics
	// closed is called when groups closed.
	closed func()
	wake   waker

	mu      sync.Mutex
	touched map[int64]bool // projects to regroup at the next round
	// settleChecked is when settled projects were last looked for.
	settleChecked time.Time
	// last is what the last regroup of each project saw; only Run uses it.
	last map[int64]sql.Regrouped
}

// settleCheck is how often projects are checked for having settled.
const settleCheck = time.Second

// regroupEvery is how often touched projects are regrouped: a busy project
// is regrouped a few times a second, not after every batch.
const regroupEvery = 500 * time.Millisecond

// Touch marks projects to be regrouped at the next round. It never blocks.
func (g *grouper) Touch(projects []int64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.touched == nil {
		g.touched = map[int64]bool{}
	}
	for _, id := range projects {
		g.touched[id] = true
	}
}

// Run regroups touched and settled projects every regroupEvery until ctx
// ends.
func (g *grouper) Run(ctx context.Context) error {
	pending := map[int64]bool{}
	g.wake.run(ctx, regroupEvery, func() bool {
		g.mu.Lock()
		for id := range g.touched {
			pending[id] = true
		}
		clear(g.touched)
		g.mu.Unlock()
		if time.Since(g.settleChecked) >= settleCheck {
			settled, err := g.db.ProjectsToSettle(ctx, min(group.BurstQuiet, g.cfg.Settle))
			if err != nil && ctx.Err() == nil {
				g.log.Error("find settled projects", "err", err)
			}
			for _, id := range settled {
				pending[id] = true
			}
			g.settleChecked = time.Now()
		}
		for id := range pending {
			if err := g.regroup(ctx, id); err != nil {
				if ctx.Err() == nil {
					g.log.Error("regroup", "project_id", id, "err", err)
				}
				continue
			}
			delete(pending, id)
		}
		return false
	})
	return nil
}

// regroup regroups a project unless the round would change nothing (see
// grouper).
func (g *grouper) regroup(ctx context.Context, projectID int64) error {
	if last, ok := g.last[projectID]; ok {
		fileAt, quiet, err := g.db.LastFile(ctx, projectID)
		if err != nil {
			return err
		}
		if fileAt.Equal(last.LastFileAt) && !group.MayClose(quiet, g.cfg.Settle, last.InOrder) {
			return nil
		}
	}
	r, err := g.db.Regroup(ctx, projectID, g.cfg.Settle)
	if err != nil {
		return err
	}
	if g.last == nil {
		g.last = map[int64]sql.Regrouped{}
	}
	g.last[projectID] = r
	if r.Closed > 0 {
		g.metrics.GroupsClosed.Add(float64(r.Closed))
		g.closed()
	}
	return nil
}
