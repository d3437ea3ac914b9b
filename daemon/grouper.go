package daemon

import (
	"context"
	"log/slog"
	"time"

	"screend"

	"screend/scoring/group"
	"screend/sql"
)

// grouper forms groups live by the nearest-up rule. A project is regrouped
// whenever files of it are recorded or processed, and when it has been
// quiet for Settle. A group closes (its membership becomes final) once all
// its images are processed and either no file that could still arrive
// would change it or its project is settled; images in no group become
// single-image groups when the project settles.
type grouper struct {
	cfg     Options
	db      *sql.DB
	log     *slog.Logger
	metrics *Metrics
	// closed is called when groups closed.
	closed func()
	dirty  chan int64
}

// settleCheck is how often projects are checked for having settled.
const settleCheck = time.Second

// regroupEvery is how often touched projects are regrouped.
const regroupEvery = 500 * time.Millisecond

// burstQuiet is how long a project must be quiet before a group that a
// later file ended is closed: files of a live pipeline come seconds to
// minutes apart, files copied in come in a burst.
const burstQuiet = 5 * time.Second

// Touch marks projects to be regrouped.
func (g *grouper) Touch(projects []int64) {
	for _, id := range projects {
		g.dirty <- id
	}
}

// Run regroups touched and settled projects until ctx ends.
func (g *grouper) Run(ctx context.Context) error {
	tick := time.NewTicker(regroupEvery)
	defer tick.Stop()
	pending := map[int64]bool{}
	var settleChecked time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case id := <-g.dirty:
			// Collected and regrouped at the next tick, so a busy project is
			// regrouped a few times a second, not after every batch.
			pending[id] = true
			continue
		case <-tick.C:
		}
		if time.Since(settleChecked) >= settleCheck {
			settled, err := g.db.ProjectsToSettle(ctx, min(burstQuiet, g.cfg.Settle))
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				g.log.Error("find settled projects", "err", err)
			}
			for _, id := range settled {
				pending[id] = true
			}
			settleChecked = time.Now()
		}
		for id := range pending {
			if err := g.regroup(ctx, id); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				g.log.Error("regroup", "project_id", id, "err", err)
				continue
			}
			delete(pending, id)
		}
	}
}

func (g *grouper) regroup(ctx context.Context, projectID int64) error {
	closed, err := g.db.Regroup(ctx, projectID, func(st sql.ProjectState) []sql.NewGroup {
		return formGroups(st, g.cfg.Settle)
	})
	if err != nil {
		return err
	}
	if closed > 0 {
		g.metrics.GroupsClosed.Add(float64(closed))
		g.closed()
	}
	return nil
}

// formGroups applies the nearest-up rule to a project's images that are in
// no final group and tells which groups are final.
//
// group.Form's Ended assumes later files sort after the ones present, as
// they do when a pipeline writes stage after stage, seconds to minutes
// apart. It is trusted only once the project has been quiet for a moment
// (burstQuiet: a folder being copied in is not) and only while its files
// were discovered in sort order; otherwise groups close when the project
// settles.
func formGroups(st sql.ProjectState, settle time.Duration) []sql.NewGroup {
	quiet := st.Now.Sub(st.LastFileAt)
	settled := quiet >= settle
	trustEnded := quiet >= min(burstQuiet, settle) && arrivedInOrder(st.Images)
	byPath := make(map[string]sql.ProjectImage, len(st.Images))
	paths := make([]string, 0, len(st.Images))
	for _, im := range st.Images {
		if _, dup := byPath[im.RelPath]; dup {
			continue // a second file at a path already taken waits for the first to be grouped
		}
		byPath[im.RelPath] = im
		paths = append(paths, im.RelPath)
	}
	groups, singles := group.Form(paths)
	var out []sql.NewGroup
	for _, g := range groups {
		ids := make([]int64, len(g.Paths))
		processed := true
		for i, p := range g.Paths {
			im := byPath[p]
			ids[i] = im.ID
			processed = processed && im.State != screend.ImageDiscovered
		}
		out = append(out, sql.NewGroup{ImageIDs: ids, Closed: processed && ((g.Ended && trustEnded) || settled)})
	}
	if settled {
		for _, p := range singles {
			if im := byPath[p]; im.State != screend.ImageDiscovered {
				out = append(out, sql.NewGroup{ImageIDs: []int64{im.ID}, Closed: true})
			}
		}
	}
	return out
}

// arrivedInOrder tells whether images, in discovery order (by id), were
// discovered in the sort order of the nearest-up rule.
func arrivedInOrder(images []sql.ProjectImage) bool {
	for i := 1; i < len(images); i++ {
		if group.Parse(images[i].RelPath).Compare(group.Parse(images[i-1].RelPath)) < 0 {
			return false
		}
	}
	return true
}
