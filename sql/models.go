package sql

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"screend"

	"github.com/jackc/pgx/v5"
)

// Model is a trained bundle in the registry.
type Model struct {
	ID         int64
	EmbedderID int32
	State      screend.ModelState
	Ranker     []byte
	Crop       []byte
	Reject     []byte
	// Params is the JSON of scoring/model.Params; Metrics the JSON of the
	// training report's summary.
	Params     json.RawMessage
	Metrics    json.RawMessage
	Examples   int
	CreatedAt  time.Time
	PromotedAt *time.Time
}

// ActiveModel returns the active model, or nil when there is none.
func (db *DB) ActiveModel(ctx context.Context) (*Model, error) {
	rows, err := db.pool.Query(ctx, `
		SELECT model_id, embedder_id, state, ranker_onnx, crop_onnx, reject_onnx, params, metrics,
			examples, created_at, promoted_at
		FROM screend.models WHERE state = 'active'`)
	if err != nil {
		return nil, fmt.Errorf("read active model: %w", err)
	}
	m, err := pgx.CollectExactlyOneRow(rows, scanModel)
	if err == pgx.ErrNoRows {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read active model: %w", err)
	}
	return &m, nil
}

// ActiveModelID returns the id of the active model, or 0, cheaply enough to
// poll.
func (db *DB) ActiveModelID(ctx context.Context) (int64, error) {
	var id int64
	err := db.pool.QueryRow(ctx, `SELECT coalesce((SELECT model_id FROM screend.models WHERE state = 'active'), 0)`).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("read active model id: %w", err)
	}
	return id, nil
}

// InsertModel registers a trained model as a candidate and returns its id.
func (db *DB) InsertModel(ctx context.Context, m Model) (int64, error) {
	var id int64
	err := db.pool.QueryRow(ctx, `
		INSERT INTO screend.models (embedder_id, ranker_onnx, crop_onnx, reject_onnx, params, metrics, examples)
		VALUES ($1, $2, $3, $4, $5, $6, $7)
		RETURNING model_id`, m.EmbedderID, m.Ranker, m.Crop, m.Reject, m.Params, m.Metrics, m.Examples).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("register model: %w", err)
	}
	return id, nil
}

// PromoteModel makes the model active and retires the one active before,
// in one transaction, and tells running daemons (NOTIFY screend_model).
func (db *DB) PromoteModel(ctx context.Context, id int64) error {
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE screend.models SET state = 'retired' WHERE state = 'active' AND model_id <> $1`, id); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `UPDATE screend.models SET state = 'active', promoted_at = now() WHERE model_id = $1`, id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() != 1 {
			return fmt.Errorf("no model %d", id)
		}
		_, err = tx.Exec(ctx, `SELECT pg_notify($2, $1::bigint::text)`, id, screend.ChannelModel)
		return err
	})
	if err != nil {
		return fmt.Errorf("promote model %d: %w", id, err)
	}
	return nil
}

func scanModel(r pgx.CollectableRow) (Model, error) {
	var m Model
	err := r.Scan(&m.ID, &m.EmbedderID, &m.State, &m.Ranker, &m.Crop, &m.Reject, &m.Params, &m.Metrics,
		&m.Examples, &m.CreatedAt, &m.PromotedAt)
	return m, err
}
