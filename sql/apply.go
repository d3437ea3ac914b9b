package sql

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"screend"
)

// Decision is what was decided for a group, automatically or by a human.
type Decision struct {
	ID            int64
	Outcome       screend.OutcomeKind
	ChosenImageID int64 // 0 for reject
	// Crop is the box as stored: elements may be NULL (nil), which the
	// applier refuses.
	Crop       []*float32
	Automatic  bool
	DecidedBy  string
	Confidence *float32
	ModelID    *int64
}

// ApplyImage is an image of a group whose decision is being applied.
type ApplyImage struct {
	ID   int64
	Path string
}

// DecidedGroup is a decided group with everything needed to plan its moves.
type DecidedGroup struct {
	ID          int64
	ProjectName string
	// ProjectRoot is the watched root the project is a folder of.
	ProjectRoot string
	Decision    Decision
	Images      []ApplyImage
}

// NextDecidedGroup returns the oldest decided group that is not waiting
// for a retry after a failed attempt to plan it, or false when there is
// none. It takes no lock: JournalMoves checks that the group is still
// decided, so two instances planning the same group store one plan.
func (db *DB) NextDecidedGroup(ctx context.Context) (DecidedGroup, bool, error) {
	var g DecidedGroup
	var name []byte
	err := db.pool.QueryRow(ctx, `
		SELECT g.group_id, screend.fs_path(p.name, p.name_raw), p.root, d.decision_id, d.outcome, coalesce(d.chosen_image_id, 0), d.crop,
			d.automatic, d.decided_by, d.confidence, d.model_id
		FROM screend.groups g
		JOIN screend.projects p USING (project_id)
		JOIN screend.decisions d USING (group_id)
		WHERE g.state = 'decided' AND (g.retry_after IS NULL OR g.retry_after <= now())
		ORDER BY g.group_id
		LIMIT 1`).Scan(&g.ID, &name, &g.ProjectRoot, &g.Decision.ID, &g.Decision.Outcome,
		&g.Decision.ChosenImageID, &g.Decision.Crop, &g.Decision.Automatic, &g.Decision.DecidedBy,
		&g.Decision.Confidence, &g.Decision.ModelID)
	if errors.Is(err, pgx.ErrNoRows) {
		return g, false, nil
	}
	if err != nil {
		return g, false, fmt.Errorf("read next decided group: %w", err)
	}
	g.ProjectName = string(name)
	rows, err := db.pool.Query(ctx, `
		SELECT i.image_id, screend.fs_path(i.path, i.path_raw) FROM screend.group_images gi JOIN screend.images i USING (image_id)
		WHERE gi.group_id = $1 ORDER BY gi.position`, g.ID)
	if err != nil {
		return g, false, fmt.Errorf("read images of group %d: %w", g.ID, err)
	}
	g.Images, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (ApplyImage, error) {
		var im ApplyImage
		var path []byte
		err := r.Scan(&im.ID, &path)
		im.Path = string(path)
		return im, err
	})
	if err != nil {
		return g, false, fmt.Errorf("read images of group %d: %w", g.ID, err)
	}
	return g, true, nil
}

// JournalMoves journals the moves that carry out a decided group's
// decision, claimed by instance, and marks the group applying (applied
// when there is nothing to move), in one transaction; the caller then
// carries the moves out. In a dry run the decision is marked as not acted
// on. It returns false, storing nothing, when the group is no longer
// decided (another instance took it).
func (db *DB) JournalMoves(ctx context.Context, instance int32, groupID int64, moves []Move, dryRun bool) ([]Move, bool, error) {
	stored := false
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		state := screend.GroupApplying
		if len(moves) == 0 {
			state = screend.GroupApplied
		}
		tag, err := tx.Exec(ctx, `
			UPDATE screend.groups SET state = $2, error = NULL, retry_after = NULL
			WHERE group_id = $1 AND state = 'decided'`, groupID, state)
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		stored = true
		if dryRun {
			if _, err := tx.Exec(ctx, `UPDATE screend.decisions SET dry_run = true WHERE group_id = $1`, groupID); err != nil {
				return err
			}
		}
		return insertMoves(ctx, tx, instance, moves)
	})
	if err != nil {
		return nil, false, fmt.Errorf("journal moves of group %d: %w", groupID, err)
	}
	if !stored {
		return nil, false, nil
	}
	return moves, true, nil
}

// FailGroup records why a decided group's moves could not be planned. With
// retry 0 the failure is final (state failed); otherwise the group stays
// decided and is tried again after retry.
func (db *DB) FailGroup(ctx context.Context, groupID int64, reason string, retry time.Duration) error {
	var err error
	if retry == 0 {
		_, err = db.pool.Exec(ctx, `
			UPDATE screend.groups SET state = 'failed', error = $2, retry_after = NULL
			WHERE group_id = $1 AND state = 'decided'`, groupID, ReadablePath(reason))
	} else {
		_, err = db.pool.Exec(ctx, `
			UPDATE screend.groups SET error = $2, retry_after = now() + $3::interval
			WHERE group_id = $1 AND state = 'decided'`, groupID, ReadablePath(reason), retry)
	}
	if err != nil {
		return fmt.Errorf("record failure of group %d: %w", groupID, err)
	}
	return nil
}

// FailGroupsOfMissingProject marks the groups of a project whose folder
// dir is gone (renamed or deleted) that still wait for a human or for
// their moves as failed, so that they leave the review queue with a
// reason. It returns how many it marked.
func (db *DB) FailGroupsOfMissingProject(ctx context.Context, projectID int64, dir string) (int64, error) {
	tag, err := db.pool.Exec(ctx, `
		UPDATE screend.groups SET state = 'failed', retry_after = NULL,
			error = format('project folder %s is gone (renamed or deleted)', $2::text)
		WHERE project_id = $1 AND state IN ('flagged', 'decided')`, projectID, ReadablePath(dir))
	if err != nil {
		return 0, fmt.Errorf("fail groups of missing project %s: %w", ReadablePath(dir), err)
	}
	return tag.RowsAffected(), nil
}

// WaitingProject is a project with groups waiting for a human or for
// their moves.
type WaitingProject struct {
	ID   int64
	Root string
	Name string
}

// ProjectsWaiting returns the projects that have groups waiting for a
// human or for their moves.
func (db *DB) ProjectsWaiting(ctx context.Context) ([]WaitingProject, error) {
	rows, err := db.pool.Query(ctx, `
		SELECT p.project_id, p.root, screend.fs_path(p.name, p.name_raw) FROM screend.projects p
		WHERE EXISTS (SELECT 1 FROM screend.groups g WHERE g.project_id = p.project_id AND g.state IN ('flagged', 'decided'))`)
	if err != nil {
		return nil, fmt.Errorf("read projects with waiting groups: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (WaitingProject, error) {
		var p WaitingProject
		var name []byte
		err := r.Scan(&p.ID, &p.Root, &name)
		p.Name = string(name)
		return p, err
	})
	if err != nil {
		return nil, fmt.Errorf("read projects with waiting groups: %w", err)
	}
	return out, nil
}
