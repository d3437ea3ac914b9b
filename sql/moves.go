package sql

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"screend"
)

// Move is one journaled file operation (screend.file_moves; migration 005
// documents the journal). Dst never exists before it is done: nothing is
// overwritten.
type Move struct {
	ID       int64
	GroupID  *int64
	ImageID  *int64
	Kind     screend.MoveKind
	Src      string
	Dst      string
	Content  []byte
	Crop     []float32
	Attempts int
}

// insertMoves journals moves, claimed by instance, and sets their ids.
func insertMoves(ctx context.Context, tx pgx.Tx, instance int32, moves []Move) error {
	for i := range moves {
		m := &moves[i]
		err := tx.QueryRow(ctx, `
			INSERT INTO screend.file_moves (group_id, image_id, kind, src, src_raw, dst, dst_raw, content, crop, claimed_by)
			VALUES ($1, $2, $3, NULLIF($4, ''), $5, $6, $7, $8, $9, $10)
			RETURNING move_id`, m.GroupID, m.ImageID, m.Kind, ReadablePath(m.Src), rawPath(m.Src),
			ReadablePath(m.Dst), rawPath(m.Dst), m.Content, m.Crop, instance).Scan(&m.ID)
		if err != nil {
			return err
		}
	}
	return nil
}

// ClaimDueMoves claims for instance up to limit planned operations that
// are due, oldest first: failed and past their retry time, or journaled by
// an instance that is gone (or by this one over a minute ago: its outcome
// was not recorded). An operation waits while an
// earlier one of its group waits for a retry, so a group's moves happen in
// order. Operations claimed by an instance whose database connection was
// lost (a PostgreSQL restart) are claimed again by its next registration.
func (db *DB) ClaimDueMoves(ctx context.Context, instance int32, limit int) ([]Move, error) {
	rows, err := db.pool.Query(ctx, `
		UPDATE screend.file_moves m SET claimed_by = $1
		WHERE m.move_id IN (
			SELECT c.move_id FROM screend.file_moves c
			WHERE c.state = 'planned'
			  AND (c.retry_after IS NULL OR c.retry_after <= now())
			  -- An instance's own rows are being carried out by the part
			  -- that journaled them, unless that failed to record the outcome
			  -- long ago.
			  AND (c.claimed_by IS NULL OR NOT screend.instance_alive(c.claimed_by)
				OR (c.claimed_by = $1 AND c.planned_at < now() - interval '1 minute'))
			  AND NOT EXISTS (
				SELECT 1 FROM screend.file_moves e
				WHERE e.group_id = c.group_id AND e.move_id < c.move_id AND e.state = 'planned'
				  AND e.retry_after > now())
			ORDER BY c.move_id
			LIMIT $2
			FOR UPDATE SKIP LOCKED)
		RETURNING m.move_id, m.group_id, m.image_id, m.kind, coalesce(screend.fs_path(m.src, m.src_raw), ''),
			screend.fs_path(m.dst, m.dst_raw), m.content, m.crop, m.attempts`,
		instance, limit)
	if err != nil {
		return nil, fmt.Errorf("claim due file moves: %w", err)
	}
	moves, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Move, error) {
		var m Move
		var src, dst []byte
		err := r.Scan(&m.ID, &m.GroupID, &m.ImageID, &m.Kind, &src, &dst, &m.Content, &m.Crop, &m.Attempts)
		m.Src, m.Dst = string(src), string(dst)
		return m, err
	})
	if err != nil {
		return nil, fmt.Errorf("claim due file moves: %w", err)
	}
	// RETURNING has no order of its own.
	slices.SortFunc(moves, func(a, b Move) int { return cmp.Compare(a.ID, b.ID) })
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

// FinishMove records an operation as done; a moved image's path follows
// it, and a group whose last operation this was is applied.
func (db *DB) FinishMove(ctx context.Context, m Move) error {
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `
			UPDATE screend.file_moves SET state = 'done', done_at = now(), claimed_by = NULL
			WHERE move_id = $1`, m.ID); err != nil {
			return err
		}
		if m.Kind == screend.MoveFile && m.ImageID != nil {
			if _, err := tx.Exec(ctx, `UPDATE screend.images SET path = $2, path_raw = $3 WHERE image_id = $1`,
				*m.ImageID, ReadablePath(m.Dst), rawPath(m.Dst)); err != nil {
				return err
			}
		}
		if m.GroupID != nil {
			_, err := tx.Exec(ctx, `
				UPDATE screend.groups SET state = 'applied', error = NULL
				WHERE group_id = $1 AND state = 'applying'
				  AND NOT EXISTS (SELECT 1 FROM screend.file_moves WHERE group_id = $1 AND state = 'planned')`, *m.GroupID)
			return err
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("finish move %d: %w", m.ID, err)
	}
	return nil
}

// RetryMove records a failed attempt at an operation that may succeed
// later (a permission, a full disk): it is tried again after retry. The
// later operations of its group are released too: they follow it in order
// in the rounds that carry out due operations.
func (db *DB) RetryMove(ctx context.Context, id int64, reason string, retry time.Duration) error {
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		var group *int64
		err := tx.QueryRow(ctx, `
			UPDATE screend.file_moves
			SET attempts = attempts + 1, error = $2, retry_after = now() + $3::interval, claimed_by = NULL
			WHERE move_id = $1 AND state = 'planned'
			RETURNING group_id`, id, ReadablePath(reason), retry).Scan(&group)
		if errors.Is(err, pgx.ErrNoRows) || group == nil {
			return nil
		}
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `
			UPDATE screend.file_moves SET claimed_by = NULL
			WHERE group_id = $1 AND state = 'planned' AND move_id > $2`, *group, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("record failed attempt of move %d: %w", id, err)
	}
	return nil
}

// FailMove gives an operation up with its reason. Its group, if any, is
// failed with the same reason, and the group's operations not done yet are
// given up too: the files stay where they are.
func (db *DB) FailMove(ctx context.Context, m Move, reason string) error {
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `
			UPDATE screend.file_moves SET state = 'failed', error = $2, attempts = attempts + 1, done_at = now(), claimed_by = NULL
			WHERE move_id = $1`, m.ID, ReadablePath(reason)); err != nil {
			return err
		}
		if m.GroupID == nil {
			return nil
		}
		if _, err := tx.Exec(ctx, `
			UPDATE screend.file_moves SET state = 'failed', done_at = now(), claimed_by = NULL,
				error = format('not done: move %s of the group failed', $2::bigint)
			WHERE group_id = $1 AND state = 'planned'`, *m.GroupID, m.ID); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `
			UPDATE screend.groups SET state = 'failed', error = format('move %s failed: %s', $2::bigint, $3::text)
			WHERE group_id = $1 AND state = 'applying'`, *m.GroupID, m.ID, ReadablePath(reason))
		return err
	})
	if err != nil {
		return fmt.Errorf("fail move %d: %w", m.ID, err)
	}
	return nil
}

// QuarantineImage marks an image quarantined with its reason and journals
// the move of its file into dst, claimed by instance, in one transaction.
func (db *DB) QuarantineImage(ctx context.Context, instance int32, id int64, reason, src, dst string) (Move, error) {
	moves := []Move{{ImageID: &id, Kind: screend.MoveFile, Src: src, Dst: dst}}
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `
			UPDATE screend.images SET state = 'quarantined', reason = $2, processed_at = now(), claimed_by = NULL, decodes = 0
			WHERE image_id = $1 AND claimed_by = $3 AND state = 'discovered'`, id, ReadablePath(reason), instance)
		if err != nil {
			return err
		}
		if tag.RowsAffected() != 1 {
			return fmt.Errorf("image %d is no longer claimed by instance %d", id, instance)
		}
		return insertMoves(ctx, tx, instance, moves)
	})
	if err != nil {
		return Move{}, fmt.Errorf("quarantine image %d: %w", id, err)
	}
	return moves[0], nil
}
