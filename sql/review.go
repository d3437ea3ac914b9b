package sql

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"screend"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// ReviewItem is one row of screend.review_queue.
type ReviewItem struct {
	GroupID          int64                `json:"group_id"`
	Project          string               `json:"project"`
	FlaggedAt        time.Time            `json:"flagged_at"`
	Reasons          []screend.Reason     `json:"reasons"`
	Confidence       *float32             `json:"confidence"`
	SuggestedOutcome *screend.OutcomeKind `json:"suggested_outcome"`
	SuggestedImageID *int64               `json:"suggested_image_id"`
	SuggestedCrop    []float32            `json:"suggested_crop"`
	ModelID          *int64               `json:"model_id"`
	Images           []json.RawMessage    `json:"images"`
}

// ReviewQueue returns the groups waiting for a human, most useful first.
func (db *DB) ReviewQueue(ctx context.Context, limit int) ([]ReviewItem, error) {
	rows, err := db.pool.Query(ctx, `
		SELECT group_id, project, flagged_at, reasons, confidence, suggested_outcome,
			suggested_image_id, suggested_crop, model_id, images
		FROM screend.review_queue LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("read review queue: %w", err)
	}
	items, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (ReviewItem, error) {
		var it ReviewItem
		err := r.Scan(&it.GroupID, &it.Project, &it.FlaggedAt, &it.Reasons, &it.Confidence, &it.SuggestedOutcome,
			&it.SuggestedImageID, &it.SuggestedCrop, &it.ModelID, &it.Images)
		return it, err
	})
	if err != nil {
		return nil, fmt.Errorf("read review queue: %w", err)
	}
	return items, nil
}

// Resolution is a human decision on a flagged group.
type Resolution struct {
	GroupID int64
	// ChosenImageID 0 rejects the whole group.
	ChosenImageID int64
	// Crop is a normalised box, or nil for no crop.
	Crop []float32
	// ManualCrop keeps the chosen image for cropping by hand (__crop/).
	ManualCrop bool
	Reviewer   string
}

// ErrBadResolution wraps the reason screend.resolve_group refused a
// resolution.
var ErrBadResolution = errors.New("resolution refused")

// Resolve records a human decision through screend.resolve_group, the
// same function reviewers call in SQL, and returns the decision id.
func (db *DB) Resolve(ctx context.Context, r Resolution) (int64, error) {
	var chosen *int64
	if r.ChosenImageID != 0 {
		chosen = &r.ChosenImageID
	}
	var id int64
	err := db.pool.QueryRow(ctx, `SELECT screend.resolve_group($1, $2, $3, $4, $5)`,
		r.GroupID, chosen, r.Crop, r.Reviewer, r.ManualCrop).Scan(&id)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.SchemaName == "" && (pgErr.Code == "22023" || pgErr.Code == "P0002") {
		return 0, fmt.Errorf("%w: %s", ErrBadResolution, pgErr.Message)
	}
	if err != nil {
		return 0, fmt.Errorf("resolve group %d: %w", r.GroupID, err)
	}
	return id, nil
}

// Decision is what was decided for a group, automatically or by a human.
type Decision struct {
	ID            int64
	Outcome       screend.OutcomeKind
	ChosenImageID int64 // 0 for reject
	Crop          []float32
	Automatic     bool
	DecidedBy     string
	Confidence    *float32
	ModelID       *int64
}

// ApplyImage is an image of a group whose decision is being applied.
type ApplyImage struct {
	ID   int64
	Path string
}

// GroupToApply is a decided group with everything needed to move its files.
type GroupToApply struct {
	ID          int64
	ProjectName string
	// ProjectDir is the project's folder: root/name.
	ProjectDir string
	Decision   Decision
	Images     []ApplyImage
}

// ApplyNextDecided takes one decided group (other instances skip it),
// journals the moves plan returns for it and marks it applied, in one
// transaction; the caller then carries the moves out. In a dry run plan
// returns no moves and the decision is marked as not acted on. It returns
// false when no group is waiting.
func (db *DB) ApplyNextDecided(ctx context.Context, dryRun bool, plan func(GroupToApply) ([]Move, error)) (GroupToApply, []Move, bool, error) {
	var g GroupToApply
	var moves []Move
	found := false
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		var root string
		var name []byte
		err := tx.QueryRow(ctx, `
			SELECT g.group_id, screend.fs_path(p.name, p.name_raw), p.root, d.decision_id, d.outcome, coalesce(d.chosen_image_id, 0), d.crop,
				d.automatic, d.decided_by, d.confidence, d.model_id
			FROM screend.groups g
			JOIN screend.projects p USING (project_id)
			JOIN screend.decisions d USING (group_id)
			WHERE g.state = 'decided'
			ORDER BY g.group_id
			LIMIT 1
			FOR UPDATE OF g SKIP LOCKED`).Scan(&g.ID, &name, &root, &g.Decision.ID, &g.Decision.Outcome,
			&g.Decision.ChosenImageID, &g.Decision.Crop, &g.Decision.Automatic, &g.Decision.DecidedBy,
			&g.Decision.Confidence, &g.Decision.ModelID)
		if err == pgx.ErrNoRows {
			return nil
		}
		if err != nil {
			return err
		}
		found = true
		g.ProjectName = string(name)
		g.ProjectDir = root + "/" + g.ProjectName
		rows, err := tx.Query(ctx, `
			SELECT i.image_id, screend.fs_path(i.path, i.path_raw) FROM screend.group_images gi JOIN screend.images i USING (image_id)
			WHERE gi.group_id = $1 ORDER BY gi.position`, g.ID)
		if err != nil {
			return err
		}
		g.Images, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (ApplyImage, error) {
			var im ApplyImage
			var path []byte
			err := r.Scan(&im.ID, &path)
			im.Path = string(path)
			return im, err
		})
		if err != nil {
			return err
		}
		if moves, err = plan(g); err != nil {
			return err
		}
		if err := insertMoves(ctx, tx, moves); err != nil {
			return err
		}
		if dryRun {
			if _, err := tx.Exec(ctx, `UPDATE screend.decisions SET dry_run = true WHERE decision_id = $1`, g.Decision.ID); err != nil {
				return err
			}
		}
		_, err = tx.Exec(ctx, `UPDATE screend.groups SET state = 'applied' WHERE group_id = $1`, g.ID)
		return err
	})
	if err != nil {
		return g, nil, false, fmt.Errorf("apply decided group: %w", err)
	}
	return g, moves, found, nil
}
