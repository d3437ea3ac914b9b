package main

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"screend/sql/sqltest"
)

// TestKillNineAtAnyMoment runs the real binary and kills it with SIGKILL
// at random moments, first while it embeds a burst of files, then while it
// moves the files of resolved groups. After a last clean run every file is
// processed once, every move is finished, and the inbox holds exactly the
// files it held, moved.
func TestKillNineAtAnyMoment(t *testing.T) {
	inbox := t.TempDir()
	b := newBinaryDaemon(t, inbox, "SCREEND_BATCH_SIZE=4")
	r := rand.New(rand.NewPCG(1, 2))
	writeBursts(t, inbox, "20250601", 40, 384, r, func(_, stage string) string { return stage })
	if err := os.WriteFile(filepath.Join(inbox, "proj", "broken.png"), []byte("\x89PNG\r\n\x1a\nnot really"), 0o644); err != nil {
		t.Fatal(err)
	}
	before := hashes(t, inbox)

	killAfter := func(d time.Duration) {
		cmd := b.start()
		time.Sleep(d)
		b.kill(cmd)
	}
	ctx := context.Background()
	db := b.db
	runToIdle := func() {
		cmd := b.start()
		defer b.stop(cmd)
		started := time.Now()
		deadline := started.Add(90 * time.Second)
		defer func() { t.Logf("idle after %s", time.Since(started).Round(100*time.Millisecond)) }()
		idle := 0
		for idle < 5 {
			st, err := db.ReadStatus(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if st.Pending == 0 && len(st.Images) > 0 {
				idle++
			} else {
				idle = 0
			}
			if time.Now().After(deadline) {
				t.Fatalf("not idle: %+v\n%s", st, b.logs.String())
			}
			time.Sleep(200 * time.Millisecond)
		}
	}

	for range 6 {
		killAfter(time.Duration(300+r.IntN(900)) * time.Millisecond)
	}
	runToIdle()
	var embedded, vectors, flagged int
	if err := sqltest.Pool(db).QueryRow(ctx, `
		SELECT (SELECT count(*) FROM screend.images WHERE state = 'embedded'),
		       (SELECT count(*) FROM screend.embeddings),
		       (SELECT count(*) FROM screend.groups WHERE state = 'flagged')`).Scan(&embedded, &vectors, &flagged); err != nil {
		t.Fatal(err)
	}
	if embedded != 120 || vectors != 120 || flagged != 40 {
		t.Fatalf("after kills: %d embedded, %d vectors, %d flagged groups; want 120, 120, 40\n%s", embedded, vectors, flagged, b.logs.String())
	}

	// Resolve every group, keeping its last image, and kill the daemon
	// while it moves the files.
	if _, err := sqltest.Pool(db).Exec(ctx, `
		SELECT screend.resolve_group(q.group_id, (q.images -> -1 ->> 'image_id')::bigint, NULL, 'tester')
		FROM screend.review_queue q`); err != nil {
		t.Fatal(err)
	}
	for range 4 {
		killAfter(time.Duration(150+r.IntN(400)) * time.Millisecond)
	}
	runToIdle()

	var planned, failed, applied int
	if err := sqltest.Pool(db).QueryRow(ctx, `
		SELECT (SELECT count(*) FROM screend.file_moves WHERE state = 'planned'),
		       (SELECT count(*) FROM screend.file_moves WHERE state = 'failed'),
		       (SELECT count(*) FROM screend.groups WHERE state = 'applied')`).Scan(&planned, &failed, &applied); err != nil {
		t.Fatal(err)
	}
	if planned != 0 || failed != 0 || applied != 40 {
		t.Errorf("moves planned %d, failed %d; groups applied %d (want 0, 0, 40)\n%s", planned, failed, applied, b.logs.String())
	}
	after := hashes(t, inbox)
	if !slices.Equal(before, after) {
		t.Errorf("the inbox's contents changed: %d files before, %d after", len(before), len(after))
	}
	b.checkPaths()
	selected, _ := filepath.Glob(filepath.Join(inbox, "proj", "__selected", "*_stage2_upscaled.png"))
	if len(selected) != 40 {
		t.Errorf("%d images in __selected, want 40", len(selected))
	}
	if !strings.Contains(b.logs.String(), "quarantined") {
		t.Error("the broken file was not quarantined")
	}
}
