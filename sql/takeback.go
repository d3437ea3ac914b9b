package sql

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Take-back states (screend.take_backs.state).
const (
	TakeBackRequested = "requested"
	TakeBackMoving    = "moving"
	TakeBackDone      = "done"
)

// ErrBadTakeBack wraps the reason screend.undo_group refused a take-back.
var ErrBadTakeBack = errors.New("take-back refused")

// TakeBack asks, through screend.undo_group, for the decision of a group to
// be taken back, and returns the take-back's id. reviewer is recorded when
// the connection is the daemon's own role; "" records the session user.
func (db *DB) TakeBack(ctx context.Context, groupID int64, reviewer string) (int64, error) {
	var who *string
	if reviewer != "" {
		who = &reviewer
	}
	var id int64
	err := db.pool.QueryRow(ctx, `SELECT screend.undo_group($1, $2)`, groupID, who).Scan(&id)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && (pgErr.Code == "22023" || pgErr.Code == "P0002") {
		return 0, fmt.Errorf("%w: %s", ErrBadTakeBack, pgErr.Message)
	}
	if err != nil {
		return 0, fmt.Errorf("take back group %d: %w", groupID, err)
	}
	return id, nil
}

// TakeBackNote is a file a take-back left where it was, and why.
type TakeBackNote struct {
	Path   string `json:"path"`
	Reason string `json:"reason"`
}

// TakeBackStatus is the state of one take-back.
type TakeBackStatus struct {
	ID      int64
	GroupID int64
	State   string
	Report  []TakeBackNote
}

// ReadTakeBack returns the state of a take-back.
func (db *DB) ReadTakeBack(ctx context.Context, id int64) (TakeBackStatus, error) {
	s := TakeBackStatus{ID: id}
	var report []byte
	err := db.pool.QueryRow(ctx, `
		SELECT group_id, state, report FROM screend.take_backs WHERE take_back_id = $1`, id).
		Scan(&s.GroupID, &s.State, &report)
	if err == nil {
		err = json.Unmarshal(report, &s.Report)
	}
	if err != nil {
		return s, fmt.Errorf("read take-back %d: %w", id, err)
	}
	return s, nil
}

// JournalEntry is a done file operation of a group, as the journal has it,
// with what is needed to reverse it.
type JournalEntry struct {
	Move
	DoneAt time.Time
	// ImageSHA256 is the recorded content of the moved image (nil for
	// companions and outputs).
	ImageSHA256 []byte
}

// TakeBackToPlan is a requested take-back with the journal it reverses.
type TakeBackToPlan struct {
	ID         int64
	GroupID    int64
	ProjectDir string
	// Journal lists the group's done operations since its last take-back,
	// oldest first.
	Journal []JournalEntry
}

// NextTakeBack returns the oldest requested take-back whose group has no
// file operation still under way, with the journal it reverses, or false
// when there is none. It takes no lock: JournalTakeBack checks that the
// take-back is still requested, so two instances planning the same one
// store one plan.
func (db *DB) NextTakeBack(ctx context.Context) (TakeBackToPlan, bool, error) {
	var tb TakeBackToPlan
	var root, name string
	err := db.pool.QueryRow(ctx, `
		SELECT t.take_back_id, t.group_id, p.root, p.name
		FROM screend.take_backs t
		JOIN screend.groups g USING (group_id)
		JOIN screend.projects p USING (project_id)
		WHERE t.state = 'requested'
		  AND NOT EXISTS (SELECT 1 FROM screend.file_moves m WHERE m.group_id = t.group_id AND m.state = 'planned')
		ORDER BY t.take_back_id
		LIMIT 1`).Scan(&tb.ID, &tb.GroupID, &root, &name)
	if errors.Is(err, pgx.ErrNoRows) {
		return tb, false, nil
	}
	if err != nil {
		return tb, false, fmt.Errorf("read next take-back: %w", err)
	}
	tb.ProjectDir = root + "/" + name
	rows, err := db.pool.Query(ctx, `
		SELECT m.move_id, m.group_id, m.image_id, m.kind, coalesce(m.src, ''), m.dst, m.content, m.crop,
			m.done_at, i.sha256
		FROM screend.file_moves m
		LEFT JOIN screend.images i ON i.image_id = m.image_id
		WHERE m.group_id = $1 AND m.state = 'done' AND m.take_back_id IS NULL
		  AND m.move_id > coalesce((
			SELECT max(t.last_move_id) FROM screend.take_backs t
			WHERE t.group_id = $1 AND t.take_back_id <> $2), 0)
		ORDER BY m.move_id`, tb.GroupID, tb.ID)
	if err != nil {
		return tb, false, fmt.Errorf("read journal of take-back %d: %w", tb.ID, err)
	}
	tb.Journal, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (JournalEntry, error) {
		var e JournalEntry
		err := r.Scan(&e.ID, &e.GroupID, &e.ImageID, &e.Kind, &e.Src, &e.Dst, &e.Content, &e.Crop,
			&e.DoneAt, &e.ImageSHA256)
		return e, err
	})
	if err != nil {
		return tb, false, fmt.Errorf("read journal of take-back %d: %w", tb.ID, err)
	}
	return tb, true, nil
}

// PathRecorded tells whether an image is recorded at path, so that a file
// moved back never takes the name of another recorded image.
func (db *DB) PathRecorded(ctx context.Context, path string) (bool, error) {
	var taken bool
	err := db.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM screend.images WHERE path = $1)`, path).Scan(&taken)
	if err != nil {
		return false, fmt.Errorf("look up recorded path %s: %w", ReadablePath(path), err)
	}
	return taken, nil
}

// JournalTakeBack journals the reverse moves of a requested take-back with
// the notes on the files it leaves, points moved images at their
// destination (so the watcher never takes a file coming back for a new
// one) and marks it moving, in one transaction; the caller then carries
// the moves out, claimed by instance. It returns false, storing nothing,
// when the take-back is no longer requested or its group has a file
// operation under way (another instance took it).
func (db *DB) JournalTakeBack(ctx context.Context, instance int32, tb TakeBackToPlan, moves []Move, notes []TakeBackNote) ([]Move, bool, error) {
	if notes == nil {
		notes = []TakeBackNote{}
	}
	report, err := json.Marshal(notes)
	if err != nil {
		return nil, false, fmt.Errorf("journal take-back %d: %w", tb.ID, err)
	}
	stored := false
	err = pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		var id int64
		err := tx.QueryRow(ctx, `
			SELECT t.take_back_id FROM screend.take_backs t
			WHERE t.take_back_id = $1 AND t.state = 'requested'
			  AND NOT EXISTS (SELECT 1 FROM screend.file_moves m WHERE m.group_id = t.group_id AND m.state = 'planned')
			FOR UPDATE OF t`, tb.ID).Scan(&id)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		stored = true
		for i := range moves {
			m := &moves[i]
			err := tx.QueryRow(ctx, `
				INSERT INTO screend.file_moves (group_id, image_id, kind, src, dst, take_back_id, claimed_by)
				VALUES ($1, $2, $3, $4, $5, $6, $7)
				RETURNING move_id`, m.GroupID, m.ImageID, m.Kind, m.Src, m.Dst, tb.ID, instance).Scan(&m.ID)
			if err != nil {
				return err
			}
			if m.ImageID != nil {
				if _, err := tx.Exec(ctx, `UPDATE screend.images SET path = $2 WHERE image_id = $1`, *m.ImageID, m.Dst); err != nil {
					return err
				}
			}
		}
		_, err = tx.Exec(ctx, `
			UPDATE screend.take_backs SET state = 'moving', report = $2,
				last_move_id = (SELECT max(move_id) FROM screend.file_moves WHERE group_id = $3)
			WHERE take_back_id = $1`, tb.ID, report, tb.GroupID)
		return err
	})
	if err != nil {
		return nil, false, fmt.Errorf("journal take-back %d: %w", tb.ID, err)
	}
	if !stored {
		return nil, false, nil
	}
	return moves, true, nil
}

// FinishTakeBacks completes every take-back whose reverse moves are all
// done or failed: a failed move of an image points the image back at the
// file it left and is added to the report; the decision is kept in the
// take-back and removed from decisions; the group waits for review again
// with the reason taken_back. It returns the groups it returned to the
// queue.
func (db *DB) FinishTakeBacks(ctx context.Context) ([]int64, error) {
	var groups []int64
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `
			SELECT t.take_back_id, t.group_id FROM screend.take_backs t
			WHERE t.state = 'moving'
			  AND NOT EXISTS (SELECT 1 FROM screend.file_moves m WHERE m.take_back_id = t.take_back_id AND m.state = 'planned')
			ORDER BY t.take_back_id
			FOR UPDATE OF t SKIP LOCKED`)
		if err != nil {
			return err
		}
		type ids struct{ takeBack, group int64 }
		todo, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (ids, error) {
			var x ids
			err := r.Scan(&x.takeBack, &x.group)
			return x, err
		})
		if err != nil {
			return err
		}
		for _, x := range todo {
			batch := &pgx.Batch{}
			batch.Queue(`
				UPDATE screend.images i SET path = m.src
				FROM screend.file_moves m
				WHERE m.take_back_id = $1 AND m.state = 'failed' AND m.image_id = i.image_id`, x.takeBack)
			batch.Queue(`
				UPDATE screend.take_backs t SET report = t.report || coalesce((
					SELECT jsonb_agg(jsonb_build_object('path', m.src, 'reason', 'not moved back: ' || coalesce(m.error, 'failed'))
						ORDER BY m.move_id)
					FROM screend.file_moves m WHERE m.take_back_id = t.take_back_id AND m.state = 'failed'), '[]'),
					decision = (SELECT to_jsonb(d) FROM screend.decisions d WHERE d.group_id = t.group_id),
					state = 'done', done_at = now()
				WHERE t.take_back_id = $1`, x.takeBack)
			batch.Queue(`DELETE FROM screend.decisions WHERE group_id = $1`, x.group)
			batch.Queue(`
				UPDATE screend.groups SET state = 'flagged', flagged_at = now(), error = NULL, retry_after = NULL,
					reasons = array_append(array_remove(reasons, 'taken_back'), 'taken_back')
				WHERE group_id = $1`, x.group)
			if err := tx.SendBatch(ctx, batch).Close(); err != nil {
				return err
			}
			groups = append(groups, x.group)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("finish take-backs: %w", err)
	}
	return groups, nil
}
