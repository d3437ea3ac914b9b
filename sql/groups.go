package sql

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"screend/scoring/group"

	"screend"

	"github.com/jackc/pgx/v5"
)

// projectImage is an image of a project that is not yet in a closed group.
type projectImage struct {
	ID      int64
	RelPath string
	State   screend.ImageState
	// GroupID is the open group the image is in, if any.
	GroupID int64
}

// Regrouped is what a Regroup did and saw.
type Regrouped struct {
	// Closed counts the groups it closed.
	Closed int
	// LastFileAt is when the project's last file was recorded, and Quiet
	// how long before the regroup that was.
	LastFileAt time.Time
	Quiet      time.Duration
	// InOrder tells whether the project's images in no closed group were
	// discovered in sort order (see group.Regroup).
	InOrder bool
}

// Regroup replaces the open groups of a project with those of the closing
// rule (group.Regroup, a pure function of the images read here), under the
// project's lock: the project's images in no closed group (discovered,
// embedded or duplicate) in discovery order, and how long it has been
// quiet. Groups that stay the same keep their id; open groups left with no
// such image (their files went gone) are dropped. The commit does not wait
// for the disk (recomputable): groups lost in a crash of PostgreSQL are
// formed again.
func (db *DB) Regroup(ctx context.Context, projectID int64, settle time.Duration) (Regrouped, error) {
	var r Regrouped
	err := pgx.BeginTxFunc(ctx, db.pool, recomputable, func(tx pgx.Tx) error {
		r = Regrouped{}
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, $2::int)`, int32(screend.LockProject), projectID); err != nil {
			return err
		}
		var err error
		if r.LastFileAt, r.Quiet, err = lastFile(ctx, tx, projectID); err != nil {
			return err
		}
		// An image in no final group (images.in_final_group, kept by
		// triggers) is in an open group or in none.
		rows, err := tx.Query(ctx, `
			SELECT i.image_id, i.rel_path, i.state, coalesce(gi.group_id, 0)
			FROM screend.images i
			LEFT JOIN screend.group_images gi USING (image_id)
			WHERE i.project_id = $1 AND NOT i.in_final_group
			  AND i.state IN ('discovered', 'embedded', 'duplicate')
			ORDER BY i.image_id`, projectID)
		if err != nil {
			return err
		}
		images, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (projectImage, error) {
			var im projectImage
			err := r.Scan(&im.ID, &im.RelPath, &im.State, &im.GroupID)
			return im, err
		})
		if err != nil {
			return err
		}

		// The open groups as they are, keyed by their image ids.
		existing := map[string]int64{}
		members := map[int64][]int64{}
		candidates := make([]group.Member, len(images))
		for i, im := range images {
			candidates[i] = group.Member{ID: im.ID, RelPath: im.RelPath, Processed: im.State != screend.ImageDiscovered}
			if im.GroupID != 0 {
				members[im.GroupID] = append(members[im.GroupID], im.ID)
			}
		}
		for gid, ids := range members {
			slices.Sort(ids)
			existing[idsKey(ids)] = gid
		}

		formed, inOrder := group.Regroup(candidates, r.Quiet, settle)
		r.InOrder = inOrder
		keep := make([]int64, 0, len(members))
		batch := &pgx.Batch{}
		for _, g := range formed {
			if g.Closed {
				r.Closed++
			}
			sortedIDs := slices.Sorted(slices.Values(g.ImageIDs))
			if gid, ok := existing[idsKey(sortedIDs)]; ok {
				keep = append(keep, gid)
				if g.Closed {
					batch.Queue(`UPDATE screend.groups SET state = 'closed', closed_at = now() WHERE group_id = $1`, gid)
				}
				continue
			}
			state := screend.GroupOpen
			if g.Closed {
				state = screend.GroupClosed
			}
			batch.Queue(`
				WITH g AS (
					INSERT INTO screend.groups (project_id, state, closed_at)
					VALUES ($1, $2, CASE WHEN $2 = 'closed' THEN now() END)
					RETURNING group_id)
				INSERT INTO screend.group_images (group_id, image_id, position)
				SELECT g.group_id, m.image_id, m.position - 1
				FROM g, unnest($3::bigint[]) WITH ORDINALITY AS m(image_id, position)`,
				projectID, state, g.ImageIDs)
		}
		// Every other open group goes, deleted first so that its images are
		// free for the new groups: the groups formed anew, and those left
		// with no image read above (every file of theirs went gone or was
		// quarantined).
		if _, err := tx.Exec(ctx, `
			DELETE FROM screend.groups
			WHERE project_id = $1 AND state = 'open' AND group_id NOT IN (SELECT unnest($2::bigint[]))`, projectID, keep); err != nil {
			return err
		}
		return tx.SendBatch(ctx, batch).Close()
	})
	if err != nil {
		return Regrouped{}, fmt.Errorf("regroup project %d: %w", projectID, err)
	}
	return r, nil
}

// LastFile returns when the last file of a project was recorded and how
// long ago that was.
func (db *DB) LastFile(ctx context.Context, projectID int64) (at time.Time, quiet time.Duration, err error) {
	at, quiet, err = lastFile(ctx, db.pool, projectID)
	if err != nil {
		return time.Time{}, 0, fmt.Errorf("last file of project %d: %w", projectID, err)
	}
	return at, quiet, nil
}

// rowQuerier is a pool or a transaction, for queries of one row.
type rowQuerier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// lastFile reads LastFile's answer through q.
func lastFile(ctx context.Context, q rowQuerier, projectID int64) (at time.Time, quiet time.Duration, err error) {
	var now time.Time
	err = q.QueryRow(ctx, `SELECT last_file_at, now() FROM screend.projects WHERE project_id = $1`, projectID).
		Scan(&at, &now)
	return at, now.Sub(at), err
}

func idsKey(ids []int64) string {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = strconv.FormatInt(id, 10)
	}
	return strings.Join(parts, ",")
}

// ProjectsToSettle returns the projects quiet for at least settle that
// still have open groups or processed images in no final group.
func (db *DB) ProjectsToSettle(ctx context.Context, settle time.Duration) ([]int64, error) {
	// It runs every second. The first row in index order of each project
	// lets the planner only walk the two partial indexes for it (an
	// EXISTS may scan the whole table, a cost that grows with the history).
	rows, err := db.pool.Query(ctx, `
		SELECT p.project_id FROM screend.projects p
		WHERE p.last_file_at <= now() - $1::interval
		  AND ((SELECT g.group_id FROM screend.groups g
				WHERE g.project_id = p.project_id AND g.state = 'open'
				ORDER BY g.group_id LIMIT 1) IS NOT NULL
			OR (SELECT i.image_id FROM screend.images i
				WHERE i.project_id = p.project_id AND NOT i.in_final_group
				  AND i.state IN ('embedded', 'duplicate')
				ORDER BY i.image_id LIMIT 1) IS NOT NULL)`, settle)
	if err != nil {
		return nil, fmt.Errorf("find projects to settle: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("find projects to settle: %w", err)
	}
	return ids, nil
}
