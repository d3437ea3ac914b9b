package main

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"screend/sql"
	"screend/sql/sqltest"
)

// TestStatusSaysWhatWaitsForAPerson shows, beside pending (which counts
// only work the daemon does alone), the move waiting for a retry and the
// failed group with its reason and the way back to review.
func TestStatusSaysWhatWaitsForAPerson(t *testing.T) {
	url := sqltest.URL(t)
	t.Setenv("SCREEND_DATABASE_URL", url)
	ctx := context.Background()
	db, err := sql.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	project, err := db.EnsureProject(ctx, "/inbox", "p")
	if err != nil {
		t.Fatal(err)
	}
	var failed, applying int64
	if err := sqltest.Pool(db).QueryRow(ctx, `
		INSERT INTO screend.groups (project_id, state, error) VALUES ($1, 'failed', 'chosen image /inbox/p/a.png is gone (renamed or deleted)')
		RETURNING group_id`, project).Scan(&failed); err != nil {
		t.Fatal(err)
	}
	if err := sqltest.Pool(db).QueryRow(ctx, `
		INSERT INTO screend.groups (project_id, state) VALUES ($1, 'applying') RETURNING group_id`, project).Scan(&applying); err != nil {
		t.Fatal(err)
	}
	if _, err := sqltest.Pool(db).Exec(ctx, `
		INSERT INTO screend.file_moves (group_id, kind, src, dst, attempts, error, retry_after)
		VALUES ($1, 'move', '/inbox/p/b.png', '/inbox/p/__selected/b.png', 2, 'permission denied', now() + interval '1 minute')`, applying); err != nil {
		t.Fatal(err)
	}

	code, out, errOut := runCLI(t, "status")
	if code != 0 {
		t.Fatalf("status: exit %d, %s", code, errOut)
	}
	for _, want := range []string{
		"pending:      0 (idle but for the retries below",
		"failing:      1 waiting for a retry, not counted in pending",
		"group " + strconv.FormatInt(applying, 10) + " move",
		"failed:       1 groups whose decision could not be carried out",
		"`screend undo GROUP_ID`",
		"group " + strconv.FormatInt(failed, 10) + " (p): chosen image /inbox/p/a.png is gone",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	code, out, _ = runCLI(t, "status", "--json")
	var st sql.Status
	if err := json.Unmarshal([]byte(out), &st); code != 0 || err != nil {
		t.Fatalf("status --json: exit %d, %v", code, err)
	}
	if st.Pending != 0 || st.Retrying != 1 || len(st.FailedGroups) != 1 || st.FailedGroups[0].GroupID != failed {
		t.Errorf("status --json: pending %d, retrying %d, failed groups %+v; want 0, 1, group %d", st.Pending, st.Retrying, st.FailedGroups, failed)
	}
}
