package sql

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

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
