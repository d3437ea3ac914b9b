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

// Resolution is a human decision to keep an image of a flagged group.
type Resolution struct {
	GroupID       int64
	ChosenImageID int64
	// Crop is a normalised box, or nil for no crop.
	Crop []float32
	// ManualCrop keeps the chosen image for cropping by hand (__crop/).
	ManualCrop bool
	// FreeAspect allows a crop box of another aspect ratio than the image's.
	FreeAspect bool
	// Reviewer is recorded as deciding; empty records the database login
	// name. Only the daemon's own role may name someone else.
	Reviewer string
}

// ErrBadResolution wraps the reason screend.resolve_group or
// screend.reject_group refused a decision.
var ErrBadResolution = errors.New("resolution refused")

// Resolve records a human decision through screend.resolve_group, the
// same function reviewers call in SQL, and returns the decision id.
func (db *DB) Resolve(ctx context.Context, r Resolution) (int64, error) {
	var chosen *int64
	if r.ChosenImageID != 0 {
		chosen = &r.ChosenImageID
	}
	var id int64
	err := db.pool.QueryRow(ctx, `
		SELECT screend.resolve_group($1, $2, $3, reviewer => NULLIF($4, ''), manual_crop => $5, free_aspect => $6)`,
		r.GroupID, chosen, r.Crop, r.Reviewer, r.ManualCrop, r.FreeAspect).Scan(&id)
	if err != nil {
		return 0, reviewError(fmt.Sprintf("resolve group %d", r.GroupID), err)
	}
	return id, nil
}

// Reject records a human decision to reject a whole flagged group through
// screend.reject_group and returns the decision id. An empty reviewer
// records the database login name.
func (db *DB) Reject(ctx context.Context, groupID int64, reviewer string) (int64, error) {
	var id int64
	err := db.pool.QueryRow(ctx, `SELECT screend.reject_group($1, reviewer => NULLIF($2, ''))`, groupID, reviewer).Scan(&id)
	if err != nil {
		return 0, reviewError(fmt.Sprintf("reject group %d", groupID), err)
	}
	return id, nil
}

// reviewError marks the errors the review functions raise for a bad
// decision (rather than a failure) with ErrBadResolution.
func reviewError(doing string, err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.SchemaName == "" &&
		(pgErr.Code == "22023" || pgErr.Code == "P0002" || pgErr.Code == "42501") {
		msg := pgErr.Message
		if pgErr.Hint != "" {
			msg += " (" + pgErr.Hint + ")"
		}
		return fmt.Errorf("%w: %s", ErrBadResolution, msg)
	}
	return fmt.Errorf("%s: %w", doing, err)
}
