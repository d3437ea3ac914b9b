package sql

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

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

// HistoryFilter selects decided groups; zero values select everything.
type HistoryFilter struct {
	Project string
	// Outcome is select, crop, reject or manual_crop.
	Outcome string
	// Automatic is "auto", "human" or "".
	Automatic                    string
	MinConfidence, MaxConfidence *float64
	ModelID                      int64
	// Before pages: only groups decided before the decision with this id.
	Before int64
	Limit  int
}

// HistoryItem is one decided group of screend.decision_history.
type HistoryItem struct {
	GroupID          int64           `json:"group_id"`
	Project          string          `json:"project"`
	DecisionID       int64           `json:"decision_id"`
	Outcome          string          `json:"outcome"`
	ChosenImageID    *int64          `json:"chosen_image_id"`
	Crop             []float32       `json:"crop"`
	Automatic        bool            `json:"automatic"`
	DecidedBy        string          `json:"decided_by"`
	DecidedAt        time.Time       `json:"decided_at"`
	SuggestedOutcome *string         `json:"suggested_outcome"`
	SuggestedImageID *int64          `json:"suggested_image_id"`
	Confidence       *float32        `json:"confidence"`
	ModelID          *int64          `json:"model_id"`
	Reasons          []string        `json:"reasons"`
	CorrectionOf     *int64          `json:"correction_of"`
	GroupState       string          `json:"group_state"`
	TakeBackState    *string         `json:"take_back_state"`
	Images           json.RawMessage `json:"images"`
}

// History returns decided groups, newest decision first.
func (db *DB) History(ctx context.Context, f HistoryFilter) ([]HistoryItem, error) {
	if f.Limit <= 0 {
		f.Limit = 100
	}
	rows, err := db.pool.Query(ctx, `
		SELECT group_id, project, decision_id, outcome, chosen_image_id, crop, automatic, decided_by, decided_at,
			suggested_outcome, suggested_image_id, confidence, model_id, reasons, correction_of, group_state,
			take_back_state, images
		FROM screend.decision_history
		WHERE ($1 = '' OR project = $1)
		  AND ($2 = '' OR outcome = $2)
		  AND ($3 = '' OR automatic = ($3 = 'auto'))
		  AND ($4::float8 IS NULL OR confidence >= $4)
		  AND ($5::float8 IS NULL OR confidence <= $5)
		  AND ($6 = 0 OR model_id = $6)
		  AND ($7 = 0 OR decision_id < $7)
		ORDER BY decision_id DESC
		LIMIT $8`, f.Project, f.Outcome, f.Automatic, f.MinConfidence, f.MaxConfidence, f.ModelID, f.Before, f.Limit)
	if err != nil {
		return nil, fmt.Errorf("read decision history: %w", err)
	}
	items, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (HistoryItem, error) {
		var h HistoryItem
		err := r.Scan(&h.GroupID, &h.Project, &h.DecisionID, &h.Outcome, &h.ChosenImageID, &h.Crop, &h.Automatic,
			&h.DecidedBy, &h.DecidedAt, &h.SuggestedOutcome, &h.SuggestedImageID, &h.Confidence, &h.ModelID,
			&h.Reasons, &h.CorrectionOf, &h.GroupState, &h.TakeBackState, &h.Images)
		return h, err
	})
	if err != nil {
		return nil, fmt.Errorf("read decision history: %w", err)
	}
	return items, nil
}

// HistoryChoices returns the projects and model ids that decided groups
// have, for the history's filters.
func (db *DB) HistoryChoices(ctx context.Context) (projects []string, models []int64, err error) {
	err = db.pool.QueryRow(ctx, `
		SELECT coalesce((SELECT array_agg(DISTINCT project ORDER BY project) FROM screend.decision_history), '{}'),
		       coalesce((SELECT array_agg(DISTINCT model_id ORDER BY model_id) FROM screend.decision_history WHERE model_id IS NOT NULL), '{}')`).
		Scan(&projects, &models)
	if err != nil {
		return nil, nil, fmt.Errorf("read history choices: %w", err)
	}
	return projects, models, nil
}
