package sql

import (
	"context"
	"fmt"

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
	// group, groups open, closed or decided but not applied, file
	// operations not yet done, take-backs not finished, and files the
	// watchers of live instances saw but did not record yet (still being
	// written). Zero means idle.
	Pending int `json:"pending"`
	// Unseen counts the images (within Pending) whose files this
	// instance cannot see now (an unmounted share, a permission error):
	// they are tried again, but no progress is expected until the outside
	// changes, so the watchdog does not count them as stalled work.
	Unseen int `json:"unseen"`
	// Readiness is screend.model_readiness: per kind, how far the active
	// model is from deciding alone; empty without an active model.
	Readiness []Readiness `json:"readiness"`
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

// ReadStatus counts images and groups by state.
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
				WHERE i.state IN ('embedded', 'duplicate')
				  AND NOT EXISTS (SELECT 1 FROM screend.group_images gi WHERE gi.image_id = i.image_id))
			+ (SELECT count(*) FROM screend.groups WHERE state IN ('open', 'closed', 'decided'))
			+ (SELECT count(*) FROM screend.file_moves WHERE state = 'planned')
			+ (SELECT count(*) FROM screend.take_backs WHERE state <> 'done')
			+ (SELECT coalesce(sum(files_waiting), 0) FROM screend.instances i
				WHERE files_waiting > 0 AND EXISTS (
					-- The instance's lock, in this database (a killed instance's
					-- count is stale, whatever runs in other databases).
					SELECT 1 FROM pg_locks l
					WHERE l.locktype = 'advisory' AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
					  AND l.classid::bigint = $1 AND l.objid::bigint = i.instance_id AND l.objsubid = 2 AND l.granted)),
			(SELECT count(*) FROM screend.images WHERE state = 'discovered' AND reason IS NOT NULL)`, int64(screend.LockInstance)).
		Scan(&st.ReviewQueue, &st.ActiveModel, &st.Pending, &st.Unseen)
	if err != nil {
		return st, fmt.Errorf("read status: %w", err)
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
