package sql_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"screend/sql"
	"screend/sql/sqltest"
)

// withHistory returns a database whose project "p" has 30,000 images in
// 10,000 applied groups of three, with fresh planner statistics, as a
// project of the old workflow's size has after some weeks of use; and
// either 300 files of a drop being embedded, or no file since yesterday.
func withHistory(b *testing.B, drop bool) (*sql.DB, int64) {
	ctx := context.Background()
	db := sqltest.New(b)
	pool := sqltest.Pool(db)
	var p int64
	err := pool.QueryRow(ctx, `
		INSERT INTO screend.projects (root, name, last_file_at)
		VALUES ('/inbox', 'p', now() - CASE WHEN $1 THEN interval '0' ELSE interval '1 day' END)
		RETURNING project_id`, drop).Scan(&p)
	if err != nil {
		b.Fatal(err)
	}
	_, err = pool.Exec(ctx, `
		INSERT INTO screend.images (project_id, path, rel_path, file_name, size, mtime, stage, state)
		SELECT $1, '/inbox/p/' || n, n, n, 1, now(), 1, 'embedded'
		FROM generate_series(1, 30000) g, format('2024%08s_stage1_generated.png', g) n`, p)
	if err != nil {
		b.Fatal(err)
	}
	groupInThrees(b, pool, p, "applied")
	if drop {
		_, err := pool.Exec(ctx, `
			INSERT INTO screend.images (project_id, path, rel_path, file_name, size, mtime, stage, state)
			SELECT $1, '/inbox/p/' || n, n, n, 1, now(), 1, CASE WHEN g % 2 = 0 THEN 'embedded' ELSE 'discovered' END
			FROM generate_series(1, 300) g, format('2025%08s_stage1_generated.png', g) n`, p)
		if err != nil {
			b.Fatal(err)
		}
	}
	if _, err := pool.Exec(ctx, `ANALYZE`); err != nil {
		b.Fatal(err)
	}
	return db, p
}

// groupInThrees puts the images of project p, in id order, in groups of
// three (the last may be smaller) in the given final state.
func groupInThrees(b *testing.B, pool *pgxpool.Pool, p int64, state string) {
	_, err := pool.Exec(context.Background(), `
		WITH images AS (
			SELECT image_id, row_number() OVER (ORDER BY image_id) - 1 AS n
			FROM screend.images WHERE project_id = $1),
		g AS (
			INSERT INTO screend.groups (project_id, state, closed_at)
			SELECT $1, $2, now() FROM generate_series(1, (SELECT (count(*) + 2) / 3 FROM images))
			RETURNING group_id),
		numbered AS (SELECT group_id, row_number() OVER (ORDER BY group_id) AS k FROM g)
		INSERT INTO screend.group_images (group_id, image_id, position)
		SELECT numbered.group_id, images.image_id, images.n % 3
		FROM images JOIN numbered ON numbered.k = images.n / 3 + 1`, p, state)
	if err != nil {
		b.Fatal(err)
	}
}

// BenchmarkRegroupWithHistory is one regroup of a project with a long
// history during a drop, which the grouper does up to twice a second
// (its files are all of stage 1: no group forms, nothing is written).
func BenchmarkRegroupWithHistory(b *testing.B) {
	db, p := withHistory(b, true)
	ctx := context.Background()
	for b.Loop() {
		if r, err := db.Regroup(ctx, p, time.Hour); err != nil || r.Closed != 0 {
			b.Fatalf("regroup: %+v, %v", r, err)
		}
	}
}

// BenchmarkProjectsToSettleWithHistory is the settle check the grouper
// runs every second, here on an idle daemon: it finds nothing.
func BenchmarkProjectsToSettleWithHistory(b *testing.B) {
	db, _ := withHistory(b, false)
	ctx := context.Background()
	for b.Loop() {
		if ids, err := db.ProjectsToSettle(ctx, 5*time.Second); err != nil || len(ids) != 0 {
			b.Fatalf("projects to settle: %v, %v", ids, err)
		}
	}
}
