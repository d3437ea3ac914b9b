package sql

import (
	"context"
	"fmt"

	"screend"

	"github.com/jackc/pgx/v5"
)

// Move is one journaled file operation. Dst never exists before it is done:
// nothing is overwritten.
type Move struct {
	ID      int64
	GroupID *int64
	ImageID *int64
	Kind    screend.MoveKind
	Src     string
	Dst     string
	Content []byte
	Crop    []float32
}

// PlanMoves journals operations before any of them is carried out, in one
// transaction with whatever fn does in it (e.g. the state change that the
// moves carry out), and returns them with their ids.
func (db *DB) PlanMoves(ctx context.Context, moves []Move, fn func(pgx.Tx) error) ([]Move, error) {
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		if err := insertMoves(ctx, tx, moves); err != nil {
			return err
		}
		if fn != nil {
			return fn(tx)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("plan file moves: %w", err)
	}
	return moves, nil
}

// insertMoves journals moves and sets their ids.
func insertMoves(ctx context.Context, tx pgx.Tx, moves []Move) error {
	for i := range moves {
		m := &moves[i]
		err := tx.QueryRow(ctx, `
			INSERT INTO screend.file_moves (group_id, image_id, kind, src, src_raw, dst, dst_raw, content, crop)
			VALUES ($1, $2, $3, NULLIF($4, ''), $5, $6, $7, $8, $9)
			RETURNING move_id`, m.GroupID, m.ImageID, m.Kind, ReadablePath(m.Src), rawPath(m.Src),
			ReadablePath(m.Dst), rawPath(m.Dst), m.Content, m.Crop).Scan(&m.ID)
		if err != nil {
			return err
		}
	}
	return nil
}

// PlannedMoves returns the operations journaled but not yet done, oldest
// first, for recovery.
func (db *DB) PlannedMoves(ctx context.Context) ([]Move, error) {
	rows, err := db.pool.Query(ctx, `
		SELECT move_id, group_id, image_id, kind, coalesce(screend.fs_path(src, src_raw), ''), screend.fs_path(dst, dst_raw), content, crop
		FROM screend.file_moves WHERE state = 'planned' ORDER BY move_id`)
	if err != nil {
		return nil, fmt.Errorf("read planned moves: %w", err)
	}
	moves, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Move, error) {
		var m Move
		var src, dst []byte
		err := r.Scan(&m.ID, &m.GroupID, &m.ImageID, &m.Kind, &src, &dst, &m.Content, &m.Crop)
		m.Src, m.Dst = string(src), string(dst)
		return m, err
	})
	if err != nil {
		return nil, fmt.Errorf("read planned moves: %w", err)
	}
	return moves, nil
}

// RedirectMove changes the destination of a planned operation whose
// destination turned out to be taken.
func (db *DB) RedirectMove(ctx context.Context, id int64, dst string) error {
	_, err := db.pool.Exec(ctx, `UPDATE screend.file_moves SET dst = $2, dst_raw = $3 WHERE move_id = $1 AND state = 'planned'`,
		id, ReadablePath(dst), rawPath(dst))
	if err != nil {
		return fmt.Errorf("redirect move %d: %w", id, err)
	}
	return nil
}

// FinishMove records an operation as done; a moved image's path follows it.
func (db *DB) FinishMove(ctx context.Context, m Move) error {
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE screend.file_moves SET state = 'done', done_at = now() WHERE move_id = $1`, m.ID); err != nil {
			return err
		}
		if m.Kind == screend.MoveFile && m.ImageID != nil {
			_, err := tx.Exec(ctx, `UPDATE screend.images SET path = $2, path_raw = $3 WHERE image_id = $1`,
				*m.ImageID, ReadablePath(m.Dst), rawPath(m.Dst))
			return err
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("finish move %d: %w", m.ID, err)
	}
	return nil
}

// FailMove records an operation that cannot be done, with the reason.
func (db *DB) FailMove(ctx context.Context, id int64, reason string) error {
	_, err := db.pool.Exec(ctx, `UPDATE screend.file_moves SET state = 'failed', error = $2, done_at = now() WHERE move_id = $1`, id, ReadablePath(reason))
	if err != nil {
		return fmt.Errorf("fail move %d: %w", id, err)
	}
	return nil
}

// QuarantineImage marks an image quarantined with its reason and journals
// the move of its file into dst, in one transaction.
func (db *DB) QuarantineImage(ctx context.Context, instance int32, id int64, reason, src, dst string) (Move, error) {
	m := Move{ImageID: &id, Kind: screend.MoveFile, Src: src, Dst: dst}
	moves, err := db.PlanMoves(ctx, []Move{m}, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `
			UPDATE screend.images SET state = 'quarantined', reason = $2, processed_at = now(), claimed_by = NULL
			WHERE image_id = $1 AND claimed_by = $3 AND state = 'discovered'`, id, ReadablePath(reason), instance)
		if err != nil {
			return err
		}
		if tag.RowsAffected() != 1 {
			return fmt.Errorf("image %d is no longer claimed by instance %d", id, instance)
		}
		return nil
	})
	if err != nil {
		return Move{}, fmt.Errorf("quarantine image %d: %w", id, err)
	}
	return moves[0], nil
}
