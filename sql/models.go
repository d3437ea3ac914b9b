package sql

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
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

// ErrNoModel is returned when a model asked for does not exist, or there is
// no model to roll back to.
var ErrNoModel = errors.New("no such model")

// ModelInfo is a registry entry without the ONNX bytes.
type ModelInfo struct {
	ID         int64              `json:"model_id"`
	EmbedderID int32              `json:"embedder_id"`
	Embedder   string             `json:"embedder"`
	State      screend.ModelState `json:"state"`
	Examples   int                `json:"examples"`
	CreatedAt  time.Time          `json:"created_at"`
	PromotedAt *time.Time         `json:"promoted_at"`
	Metrics    json.RawMessage    `json:"metrics"`
}

// ListModels returns every registered model, newest first.
func (db *DB) ListModels(ctx context.Context) ([]ModelInfo, error) {
	rows, err := db.pool.Query(ctx, `
		SELECT m.model_id, m.embedder_id, e.name, m.state, m.examples, m.created_at, m.promoted_at, m.metrics
		FROM screend.models m JOIN screend.embedders e USING (embedder_id)
		ORDER BY m.model_id DESC`)
	if err != nil {
		return nil, fmt.Errorf("list models: %w", err)
	}
	ms, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (ModelInfo, error) {
		var m ModelInfo
		err := r.Scan(&m.ID, &m.EmbedderID, &m.Embedder, &m.State, &m.Examples, &m.CreatedAt, &m.PromotedAt, &m.Metrics)
		return m, err
	})
	if err != nil {
		return nil, fmt.Errorf("list models: %w", err)
	}
	return ms, nil
}

// Model returns the model with the given id, or ErrNoModel.
func (db *DB) Model(ctx context.Context, id int64) (*Model, error) {
	rows, err := db.pool.Query(ctx, `
		SELECT model_id, embedder_id, state, ranker_onnx, crop_onnx, reject_onnx, params, metrics,
			examples, created_at, promoted_at
		FROM screend.models WHERE model_id = $1`, id)
	if err != nil {
		return nil, fmt.Errorf("read model %d: %w", id, err)
	}
	m, err := pgx.CollectExactlyOneRow(rows, scanModel)
	if err == pgx.ErrNoRows {
		return nil, fmt.Errorf("read model %d: %w", id, ErrNoModel)
	}
	if err != nil {
		return nil, fmt.Errorf("read model %d: %w", id, err)
	}
	return &m, nil
}

// FailModelGate marks a candidate that did not pass the promotion gate,
// with the gate's verdict merged into its metrics under "gate".
func (db *DB) FailModelGate(ctx context.Context, id int64, gate json.RawMessage) error {
	tag, err := db.pool.Exec(ctx, `
		UPDATE screend.models SET state = 'failed_gate', metrics = metrics || jsonb_build_object('gate', $2::jsonb)
		WHERE model_id = $1 AND state = 'candidate'`, id, gate)
	if err != nil {
		return fmt.Errorf("mark model %d failed_gate: %w", id, err)
	}
	if tag.RowsAffected() != 1 {
		return fmt.Errorf("mark model %d failed_gate: not a candidate", id)
	}
	return nil
}

// SetModelGate records the gate's verdict in a model's metrics under "gate".
func (db *DB) SetModelGate(ctx context.Context, id int64, gate json.RawMessage) error {
	_, err := db.pool.Exec(ctx, `
		UPDATE screend.models SET metrics = metrics || jsonb_build_object('gate', $2::jsonb) WHERE model_id = $1`, id, gate)
	if err != nil {
		return fmt.Errorf("record gate of model %d: %w", id, err)
	}
	return nil
}

// RollbackModel re-activates the model that was active before the current
// one (the retired model promoted last before it) and retires the current
// one, in one transaction, and tells running daemons (NOTIFY screend_model).
// A model keeps its promoted_at when it is re-activated, so rolling back
// again goes one step further back. It returns the ids of the retired and
// the re-activated model, or ErrNoModel when there is no active model or no
// earlier one.
func (db *DB) RollbackModel(ctx context.Context) (retired, restored int64, err error) {
	err = pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		var promoted *time.Time
		err := tx.QueryRow(ctx, `SELECT model_id, promoted_at FROM screend.models WHERE state = 'active' FOR UPDATE`).
			Scan(&retired, &promoted)
		if err == pgx.ErrNoRows {
			return fmt.Errorf("no active model: %w", ErrNoModel)
		}
		if err != nil {
			return err
		}
		err = tx.QueryRow(ctx, `
			SELECT model_id FROM screend.models
			WHERE state = 'retired' AND promoted_at IS NOT NULL AND model_id <> $1
				AND ($2::timestamptz IS NULL OR promoted_at < $2 OR (promoted_at = $2 AND model_id < $1))
			ORDER BY promoted_at DESC, model_id DESC
			LIMIT 1
			FOR UPDATE`, retired, promoted).Scan(&restored)
		if err == pgx.ErrNoRows {
			return fmt.Errorf("no model was active before model %d: %w", retired, ErrNoModel)
		}
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE screend.models SET state = 'retired' WHERE model_id = $1`, retired); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE screend.models SET state = 'active' WHERE model_id = $1`, restored); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `SELECT pg_notify($2, $1)`, strconv.FormatInt(restored, 10), screend.ChannelModel)
		return err
	})
	if err != nil {
		return 0, 0, fmt.Errorf("roll back model: %w", err)
	}
	return retired, restored, nil
}

// LastModelCreated returns when the newest model (in any state) was
// registered; ok is false when there is none.
func (db *DB) LastModelCreated(ctx context.Context) (t time.Time, ok bool, err error) {
	var at *time.Time
	if err := db.pool.QueryRow(ctx, `SELECT max(created_at) FROM screend.models`).Scan(&at); err != nil {
		return time.Time{}, false, fmt.Errorf("read last model time: %w", err)
	}
	if at == nil {
		return time.Time{}, false, nil
	}
	return *at, true, nil
}
