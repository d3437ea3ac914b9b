package daemon

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"screend/sql"
	"screend/sql/sqltest"
)

// Issue 11: jobs to be retried (their files changed) are released under the
// instance that claimed each, not all under the first job's: an instance
// that registered again (a lost connection) has jobs of both ids in flight.
func TestRetriedJobsAreReleasedByTheirClaimers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := sqltest.URL(t)
	db, err := sql.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	pid, err := db.EnsureProject(ctx, "/inbox", "p")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().Truncate(time.Microsecond)
	var files []sql.NewFile
	for _, name := range []string{"a.png", "b.png"} {
		files = append(files, sql.NewFile{ProjectID: pid, Path: filepath.Join("/inbox/p", name), RelPath: name, FileName: name, Size: 1, MTime: now})
	}
	if _, err := db.RecordFiles(ctx, files, nil); err != nil {
		t.Fatal(err)
	}
	var batch []*job
	for range 2 {
		inst, err := sql.RegisterInstance(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		defer inst.Close(ctx)
		claimed, err := db.ClaimImages(ctx, inst.ID, 1)
		if err != nil || len(claimed) != 1 {
			t.Fatalf("claim: %v %v", claimed, err)
		}
		batch = append(batch, &job{img: claimed[0], claimer: inst.ID, retry: true, start: time.Now()})
	}
	p := &pipeline{db: db, log: slog.New(slog.NewTextHandler(io.Discard, nil)), metrics: NewMetrics(), processed: func([]int64) {}}
	if err := p.writeBatch(ctx, batch); err != nil {
		t.Fatal(err)
	}
	var still int
	if err := sqltest.Pool(db).QueryRow(ctx, `SELECT count(*) FROM screend.images WHERE claimed_by IS NOT NULL`).Scan(&still); err != nil {
		t.Fatal(err)
	}
	if still != 0 {
		t.Errorf("%d of 2 retried images still claimed", still)
	}
}
