package daemon

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"screend/sql"
)

// applier carries out decided groups. A round reads top to bottom:
//
//  1. finish the journaled moves that are due: retries after a failure,
//     and moves an instance journaled but lost track of (it was killed, or
//     its database connection was lost);
//  2. fail the waiting groups of projects whose folder is gone;
//  3. fetch the next decided group (sql.NextDecidedGroup);
//  4. decide where each of its files goes (planMoves, a pure function of
//     the group and folder listings made before, outside any transaction);
//  5. store the plan in the journal (sql.JournalMoves), then carry it out.
//
// A group whose decision cannot be carried out gets its reason recorded
// (state failed) and the applier moves on to the next.
type applier struct {
	cfg      Options
	db       *sql.DB
	log      *slog.Logger
	metrics  *Metrics
	moves    *mover
	wake     waker
	instance func() int32

	lastSweep time.Time
}

// Timings of the applier: how often decided groups and due moves are
// looked for without a wake-up (a human resolution also wakes the applier
// through LISTEN), how often project folders are checked, and when a group
// whose folders could not be listed is tried again.
const (
	applyPoll       = 2 * time.Second
	projectSweep    = 30 * time.Second
	groupRetryAfter = 10 * time.Second
)

// dueMovesPerRound bounds the journaled moves one round carries out.
const dueMovesPerRound = 100

// errCannotApply marks a group whose decision can never be carried out:
// its group fails for good.
var errCannotApply = errors.New("decision cannot be applied")

// Run applies decided groups until ctx ends.
func (a *applier) Run(ctx context.Context) error {
	// The round under way when ctx ends is finished, within DrainTimeout:
	// its moves are journaled, and a half-moved group only makes the next
	// round (or the next start) do the rest.
	work, stopDrain := drainContext(ctx, a.cfg.DrainTimeout, a.log, "journaled file moves")
	defer stopDrain()
	a.wake.run(ctx, applyPoll, func() bool {
		a.finishDueMoves(work)
		a.sweepMissingProjects(work)
		return a.applyNext(work)
	})
	return nil
}

// finishDueMoves carries out the journaled moves that are due, in order; a
// group's later moves wait while an earlier one waits for a retry.
func (a *applier) finishDueMoves(ctx context.Context) {
	moves, err := a.db.ClaimDueMoves(ctx, a.instance(), dueMovesPerRound)
	if err != nil {
		a.log.Error("read due file moves", "err", err)
		return
	}
	stopped := map[int64]bool{}
	for _, mv := range moves {
		if mv.GroupID != nil && stopped[*mv.GroupID] {
			continue
		}
		done, err := a.moves.Do(ctx, mv)
		if err != nil {
			a.log.Error("record file move", "move_id", mv.ID, "err", err)
		}
		if !done && mv.GroupID != nil {
			stopped[*mv.GroupID] = true
		}
	}
}

// sweepMissingProjects fails the groups waiting for a human or for their
// moves in projects whose folder was renamed or deleted (while the root
// holding it is there), so they leave the review queue with a reason.
func (a *applier) sweepMissingProjects(ctx context.Context) {
	if time.Since(a.lastSweep) < projectSweep {
		return
	}
	a.lastSweep = time.Now()
	projects, err := a.db.ProjectsWaiting(ctx)
	if err != nil {
		a.log.Error("check project folders", "err", err)
		return
	}
	for _, p := range projects {
		if _, err := os.Stat(p.Root); err != nil {
			continue // an unmounted root says nothing about its projects
		}
		dir := filepath.Join(p.Root, p.Name)
		if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
			continue
		}
		n, err := a.db.FailGroupsOfMissingProject(ctx, p.ID, dir)
		if err != nil {
			a.log.Error("fail groups of a missing project", "project", sql.ReadablePath(p.Name), "err", err)
			continue
		}
		a.metrics.GroupsFailed.Add(float64(n))
		a.log.Warn("project folder gone; its waiting groups failed", "folder", sql.ReadablePath(dir), "groups", n)
	}
}

// applyNext plans, journals and carries out the next decided group. It
// reports whether another group may be waiting.
func (a *applier) applyNext(ctx context.Context) bool {
	g, found, err := a.db.NextDecidedGroup(ctx)
	if err != nil {
		a.log.Error("read next decided group", "err", err)
		return false
	}
	if !found {
		return false
	}
	moves, err := a.plan(g)
	if err != nil {
		a.fail(ctx, g, err)
		return true
	}
	moves, stored, err := a.db.JournalMoves(ctx, a.instance(), g.ID, moves, a.cfg.DryRun)
	if err != nil {
		a.log.Error("journal moves", "group_id", g.ID, "err", err)
		return false
	}
	if !stored {
		return true // another instance took it
	}
	for _, mv := range moves {
		done, err := a.moves.Do(ctx, mv)
		if err != nil {
			a.log.Error("record file move", "move_id", mv.ID, "err", err)
		}
		if !done {
			break // the rest follow in order once this one is done
		}
	}
	if !g.Decision.Automatic {
		a.metrics.GroupsResolved.Inc()
	}
	a.log.Info("applied", "group_id", g.ID, "project", g.ProjectName, "outcome", g.Decision.Outcome,
		"decided_by", g.Decision.DecidedBy, "files", len(moves), "dry_run", a.cfg.DryRun)
	return true
}

// plan lists the folders a group's moves touch and decides where each file
// goes. Nothing is planned in a dry run.
func (a *applier) plan(g sql.DecidedGroup) ([]sql.Move, error) {
	if a.cfg.DryRun {
		return nil, nil
	}
	project := filepath.Join(g.ProjectRoot, g.ProjectName)
	if _, err := os.Stat(project); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: project folder %s is gone (renamed or deleted)", errCannotApply, project)
	}
	listing, err := listFolders(foldersToList(g))
	if err != nil {
		return nil, err
	}
	return planMoves(g, listing)
}

// fail records why a group could not be planned: for good when its
// decision can never be carried out, else to be tried again.
func (a *applier) fail(ctx context.Context, g sql.DecidedGroup, err error) {
	retry := groupRetryAfter
	if errors.Is(err, errCannotApply) {
		retry = 0
		a.metrics.GroupsFailed.Inc()
		a.log.Error("group cannot be applied", "group_id", g.ID, "project", g.ProjectName, "err", err)
	} else {
		a.log.Warn("group not applied; retrying", "group_id", g.ID, "project", g.ProjectName, "retry_in", retry, "err", err)
	}
	if err := a.db.FailGroup(ctx, g.ID, err.Error(), retry); err != nil {
		a.log.Error("record group failure", "group_id", g.ID, "err", err)
	}
}
