package daemon

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"screend/sql"
	"screend/sql/sqltest"
)

// testGrouper returns a grouper of db with the given settle time.
func testGrouper(db *sql.DB, settle time.Duration) *grouper {
	return &grouper{cfg: Options{Settle: settle}, db: db, log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		metrics: NewMetrics(), closed: func() {}}
}

// A round for a project that could close nothing and got no new file is
// skipped: a file that went gone leaves its group only when a new file
// arrives (or groups may close).
func TestGrouperSkipsRoundsThatCanCloseNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, _, pid := projectDB(t)
	openGroups := func() int {
		t.Helper()
		var n int
		if err := sqltest.Pool(db).QueryRow(ctx, `SELECT count(*) FROM screend.groups WHERE project_id = $1 AND state = 'open'`, pid).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	// Out of order: nothing may close before the project settles.
	recordFiles(t, db, pid, "20250708_070000_stage1_generated.png", "20250708_070000_stage2_upscaled.png")
	early := recordFiles(t, db, pid, "20250708_060000_stage1_generated.png", "20250708_060000_stage2_upscaled.png")
	g := testGrouper(db, time.Hour)
	if err := g.regroup(ctx, pid, true); err != nil || openGroups() != 2 {
		t.Fatalf("first round: %d open groups (%v), want 2", openGroups(), err)
	}

	if _, err := sqltest.Pool(db).Exec(ctx, `UPDATE screend.images SET state = 'gone' WHERE image_id = ANY($1)`, early); err != nil {
		t.Fatal(err)
	}
	if err := g.regroup(ctx, pid, true); err != nil || openGroups() != 2 {
		t.Fatalf("round with no new file: %d open groups (%v), want 2 (skipped)", openGroups(), err)
	}
	recordFiles(t, db, pid, "20250708_080000_stage1_generated.png")
	if err := g.regroup(ctx, pid, true); err != nil || openGroups() != 1 {
		t.Errorf("round after a new file: %d open groups (%v), want 1 (the gone files' group dropped)", openGroups(), err)
	}
}

// A settled project the settle check finds again is left alone while
// nothing was recorded or processed in it here since a regroup that could
// close groups, for up to recheckQuiet: what another instance processed
// meanwhile is closed after that.
func TestGrouperLeavesUnchangedSettledProjects(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, _, pid := projectDB(t)
	ids := recordFiles(t, db, pid, "20250708_060000_stage1_generated.png", "20250708_060000_stage2_upscaled.png")
	pool := sqltest.Pool(db)
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := pool.Exec(ctx, q, args...); err != nil {
			t.Fatal(err)
		}
	}
	state := func() string {
		t.Helper()
		var s string
		if err := pool.QueryRow(ctx, `SELECT state FROM screend.groups WHERE project_id = $1`, pid).Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	exec(`UPDATE screend.projects SET last_file_at = now() - interval '1 hour' WHERE project_id = $1`, pid)
	g := testGrouper(db, time.Minute)
	if err := g.regroup(ctx, pid, false); err != nil || state() != "open" {
		t.Fatalf("first round: group %s (%v), want open (its images wait)", state(), err)
	}

	// Another instance embeds both images.
	exec(`UPDATE screend.images SET state = 'embedded' WHERE image_id = ANY($1)`, ids)
	if err := g.regroup(ctx, pid, false); err != nil || state() != "open" {
		t.Fatalf("settle check again: group %s (%v), want open (left alone)", state(), err)
	}
	last := g.last[pid] // as if the last regroup were recheckQuiet earlier
	last.Quiet -= recheckQuiet
	g.last[pid] = last
	if err := g.regroup(ctx, pid, false); err != nil || state() != "closed" {
		t.Errorf("settle check after %v: group %s (%v), want closed", recheckQuiet, state(), err)
	}
}
