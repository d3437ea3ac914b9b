package sql

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"screend"
)

// Status is the state of the whole system, for `screend status`.
type Status struct {
	Images      map[screend.ImageState]int `json:"images"`
	Groups      map[screend.GroupState]int `json:"groups"`
	ReviewQueue int                        `json:"review_queue"`
	ActiveModel *int64                     `json:"active_model"`
	// Pending counts the images and groups the daemon still has to process
	// without human input: images not yet processed or not yet in a final
	// group, groups open, closed or decided but not yet journaled, file
	// operations not yet tried, take-backs not finished, and files the
	// watchers of live instances saw but did not record yet (still being
	// written). Zero means idle.
	// Work that failed and waits for a retry (and the moves of its group
	// behind it) is not pending but Failing: it needs the cause fixed.
	Pending int `json:"pending"`
	// Unseen counts the images (within Pending) whose files this
	// instance cannot see now (an unmounted share, a permission error):
	// they are tried again, but no progress is expected until the outside
	// changes, so the watchdog does not count them as stalled work.
	Unseen int `json:"unseen"`
	// Failing lists the file operations and groups that failed and wait for
	// a retry (oldest first, at most 20): fix the cause (a permission, a full
	// disk) and the next retry succeeds.
	Failing []Failure `json:"failing"`
	// Retrying counts all the file operations and groups that wait for a
	// retry after a failure (Failing lists at most 20); like Failing, they
	// are not in Pending.
	Retrying int `json:"retrying"`
	// FailedGroups lists the groups whose decision could not be carried out
	// (state failed, newest first, at most 20): they wait for a person to
	// fix the cause and send them back to review (screend undo).
	FailedGroups []FailedGroup `json:"failed_groups"`
	// Readiness is screend.model_readiness: per kind, how far the active
	// model is from deciding alone; empty without an active model.
	Readiness []Readiness `json:"readiness"`
}

// Failure is a file operation or a group that failed and waits for a retry.
type Failure struct {
	MoveID     int64     `json:"move_id,omitempty"`
	GroupID    *int64    `json:"group_id"`
	Dst        string    `json:"dst,omitempty"`
	Attempts   int       `json:"attempts"`
	Error      string    `json:"error"`
	RetryAfter time.Time `json:"retry_after"`
}

// FailedGroup is a group whose decision could not be carried out.
type FailedGroup struct {
	GroupID int64  `json:"group_id"`
	Project string `json:"project"`
	Error   string `json:"error"`
}

// Readiness is one row of screend.model_readiness.
type Readiness struct {
	Kind         string `json:"kind"`
	Automated    bool   `json:"automated"`
	Recent       int    `json:"recent"`
	Alone        int    `json:"alone"`
	Wrong        int    `json:"wrong"`
	MoreReviews  int    `json:"more_reviews"`
	ReviewsSince int    `json:"reviews_since"`
}

// ReadStatus reads what `screend status` shows: images and groups by
// state, the review queue, the active model, the pending and unseen work,
// what is failing and the model's readiness.
func (db *DB) ReadStatus(ctx context.Context) (Status, error) {
	st := Status{Images: map[screend.ImageState]int{}, Groups: map[screend.GroupState]int{}}
	rows, err := db.pool.Query(ctx, `
		SELECT 'image', state, count(*) FROM screend.images GROUP BY state
		UNION ALL
		SELECT 'group', state, count(*) FROM screend.groups GROUP BY state`)
	if err != nil {
		return st, fmt.Errorf("read status: %w", err)
	}
	var kind, state string
	var n int
	for rows.Next() {
		if err := rows.Scan(&kind, &state, &n); err != nil {
			return st, fmt.Errorf("read status: %w", err)
		}
		if kind == "image" {
			st.Images[screend.ImageState(state)] = n
		} else {
			st.Groups[screend.GroupState(state)] = n
		}
	}
	if err := rows.Err(); err != nil {
		return st, fmt.Errorf("read status: %w", err)
	}
	err = db.pool.QueryRow(ctx, `
		SELECT
			(SELECT count(*) FROM screend.groups WHERE state = 'flagged'),
			(SELECT model_id FROM screend.models WHERE state = 'active'),
			(SELECT count(*) FROM screend.images WHERE state = 'discovered')
			+ (SELECT count(*) FROM screend.images i
				WHERE i.state IN ('embedded', 'duplicate') AND NOT i.in_final_group
				  AND NOT EXISTS (SELECT 1 FROM screend.group_images gi WHERE gi.image_id = i.image_id))
			+ (SELECT count(*) FROM screend.groups WHERE state IN ('open', 'closed')
				OR (state = 'decided' AND retry_after IS NULL))
			+ (SELECT count(*) FROM screend.file_moves m WHERE m.state = 'planned' AND m.attempts = 0
				AND NOT EXISTS (SELECT 1 FROM screend.file_moves e
					WHERE e.group_id = m.group_id AND e.state = 'planned' AND e.attempts > 0))
			+ (SELECT count(*) FROM screend.take_backs WHERE state <> 'done')
			+ (SELECT coalesce(sum(files_waiting), 0) FROM screend.instances
				WHERE files_waiting > 0 AND screend.instance_alive(instance_id)),
			(SELECT count(*) FROM screend.images WHERE state = 'discovered' AND reason IS NOT NULL)`).
		Scan(&st.ReviewQueue, &st.ActiveModel, &st.Pending, &st.Unseen)
	if err != nil {
		return st, fmt.Errorf("read status: %w", err)
	}
	rows, err = db.pool.Query(ctx, `
		SELECT move_id, group_id, dst, attempts, error, retry_after FROM (
			SELECT move_id, group_id, dst, attempts, coalesce(error, '') AS error, retry_after
			FROM screend.file_moves WHERE state = 'planned' AND attempts > 0
			UNION ALL
			SELECT 0, group_id, '', 0, coalesce(error, ''), retry_after
			FROM screend.groups WHERE state = 'decided' AND retry_after IS NOT NULL) f
		ORDER BY retry_after LIMIT 20`)
	if err != nil {
		return st, fmt.Errorf("read failing moves: %w", err)
	}
	st.Failing, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Failure, error) {
		var f Failure
		err := r.Scan(&f.MoveID, &f.GroupID, &f.Dst, &f.Attempts, &f.Error, &f.RetryAfter)
		return f, err
	})
	if err != nil {
		return st, fmt.Errorf("read failing moves: %w", err)
	}
	err = db.pool.QueryRow(ctx, `
		SELECT (SELECT count(*) FROM screend.file_moves WHERE state = 'planned' AND attempts > 0)
		     + (SELECT count(*) FROM screend.groups WHERE state = 'decided' AND retry_after IS NOT NULL)`).Scan(&st.Retrying)
	if err != nil {
		return st, fmt.Errorf("count failing moves: %w", err)
	}
	rows, err = db.pool.Query(ctx, `
		SELECT g.group_id, p.name, coalesce(g.error, '') FROM screend.groups g JOIN screend.projects p USING (project_id)
		WHERE g.state = 'failed' ORDER BY g.group_id DESC LIMIT 20`)
	if err != nil {
		return st, fmt.Errorf("read failed groups: %w", err)
	}
	st.FailedGroups, err = pgx.CollectRows(rows, pgx.RowToStructByPos[FailedGroup])
	if err != nil {
		return st, fmt.Errorf("read failed groups: %w", err)
	}
	if st.Readiness, err = db.ReadReadiness(ctx); err != nil {
		return st, err
	}
	return st, nil
}

// ReadReadiness reads screend.model_readiness.
func (db *DB) ReadReadiness(ctx context.Context) ([]Readiness, error) {
	rows, err := db.pool.Query(ctx, `
		SELECT kind, automated, recent, alone, wrong, more_reviews, reviews_since
		FROM screend.model_readiness ORDER BY kind`)
	if err != nil {
		return nil, fmt.Errorf("read readiness: %w", err)
	}
	defer rows.Close()
	out := []Readiness{}
	for rows.Next() {
		var r Readiness
		if err := rows.Scan(&r.Kind, &r.Automated, &r.Recent, &r.Alone, &r.Wrong, &r.MoreReviews, &r.ReviewsSince); err != nil {
			return nil, fmt.Errorf("read readiness: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read readiness: %w", err)
	}
	return out, nil
}
