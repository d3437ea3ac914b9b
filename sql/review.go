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

// reviewColumns are the columns of screend.review_queue a ReviewItem holds.
const reviewColumns = `group_id, project, flagged_at, reasons, confidence, suggested_outcome,
	suggested_image_id, suggested_crop, model_id, images`

func scanReviewItem(r pgx.CollectableRow) (ReviewItem, error) {
	var it ReviewItem
	err := r.Scan(&it.GroupID, &it.Project, &it.FlaggedAt, &it.Reasons, &it.Confidence, &it.SuggestedOutcome,
		&it.SuggestedImageID, &it.SuggestedCrop, &it.ModelID, &it.Images)
	return it, err
}

// ReviewQueueExcept returns up to limit groups of the review queue, in its
// order, leaving out the groups in except (skipped by the reviewer), and
// the length of the whole queue.
func (db *DB) ReviewQueueExcept(ctx context.Context, limit int, except []int64) ([]ReviewItem, int, error) {
	rows, err := db.pool.Query(ctx, `
		SELECT `+reviewColumns+` FROM screend.review_queue
		WHERE group_id <> ALL(coalesce($2::bigint[], '{}')) LIMIT $1`, limit, except)
	if err != nil {
		return nil, 0, fmt.Errorf("read review queue: %w", err)
	}
	items, err := pgx.CollectRows(rows, scanReviewItem)
	if err != nil {
		return nil, 0, fmt.Errorf("read review queue: %w", err)
	}
	var total int
	if err := db.pool.QueryRow(ctx, `SELECT count(*) FROM screend.review_queue`).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count review queue: %w", err)
	}
	return items, total, nil
}

// ReviewGroup returns a group of the review queue; false when it is not
// waiting for review.
func (db *DB) ReviewGroup(ctx context.Context, groupID int64) (ReviewItem, bool, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+reviewColumns+` FROM screend.review_queue WHERE group_id = $1`, groupID)
	if err != nil {
		return ReviewItem{}, false, fmt.Errorf("read review group %d: %w", groupID, err)
	}
	items, err := pgx.CollectRows(rows, scanReviewItem)
	if err != nil {
		return ReviewItem{}, false, fmt.Errorf("read review group %d: %w", groupID, err)
	}
	if len(items) == 0 {
		return ReviewItem{}, false, nil
	}
	return items[0], true, nil
}

// ImageFile is a recorded image of a group, as the review page serves it.
type ImageFile struct {
	ID     int64
	Path   string
	SHA256 []byte
	Format string
	Width  int
	Height int
}

// GroupImage returns the recorded image with id if it belongs to a group;
// false otherwise. The review page serves no other file.
func (db *DB) GroupImage(ctx context.Context, id int64) (ImageFile, bool, error) {
	f := ImageFile{ID: id}
	var format *string
	var w, h *int
	err := db.pool.QueryRow(ctx, `
		SELECT i.path, o.sha256, o.format, o.width, o.height
		FROM screend.images i
		JOIN screend.images o ON o.image_id = coalesce(i.duplicate_of, i.image_id)
		WHERE i.image_id = $1 AND EXISTS (SELECT 1 FROM screend.group_images gi WHERE gi.image_id = i.image_id)`, id).
		Scan(&f.Path, &f.SHA256, &format, &w, &h)
	if err == pgx.ErrNoRows {
		return f, false, nil
	}
	if err != nil {
		return f, false, fmt.Errorf("read image %d: %w", id, err)
	}
	if format != nil {
		f.Format = *format
	}
	if w != nil && h != nil {
		f.Width, f.Height = *w, *h
	}
	return f, true, nil
}
