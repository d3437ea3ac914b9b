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
// A regroup reads every image of the project in no closed group, so
// rounds that would change nothing are skipped when no file was recorded
// in the project since its last regroup:
//   - while it could close nothing (group.MayClose: the project is
//     neither quiet enough nor settled), even if images were processed.
//     Otherwise a folder of 10,000 files copied in out of order would be
//     read whole twice a second until it settles. Files that went gone
//     meanwhile leave their groups at the next regroup that runs;
//   - when the settle check found it but this instance processed none of
//     its images since a regroup that could already close groups, for up
//     to recheckQuiet: the settle check finds every project with an open
//     group each second, during a long burst all of them. Groups another
//     instance made closable are closed within recheckQuiet.
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

// recheckQuiet is how long a project that nothing changed in is left
// alone after a regroup that could close groups (see grouper).
const recheckQuiet = 10 * time.Second

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
	pending := map[int64]bool{} // project -> touched (not only found settled)
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
				if _, ok := pending[id]; !ok {
					pending[id] = false // found settled, not touched
				}
			}
			g.settleChecked = time.Now()
		}
		for id, touched := range pending {
			if err := g.regroup(ctx, id, touched); err != nil {
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
// grouper); touched says whether files of it were recorded or processed
// here since the round before.
func (g *grouper) regroup(ctx context.Context, projectID int64, touched bool) error {
	if last, ok := g.last[projectID]; ok {
		fileAt, quiet, err := g.db.LastFile(ctx, projectID)
		if err != nil {
			return err
		}
		if fileAt.Equal(last.LastFileAt) {
			if !group.MayClose(quiet, g.cfg.Settle, last.InOrder) {
				return nil
			}
			// With the same last file, the time since the last regroup is
			// the growth of the quiet.
			couldClose := group.MayClose(last.Quiet, g.cfg.Settle, last.InOrder)
			if !touched && couldClose && quiet-last.Quiet < recheckQuiet {
				return nil
			}
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
