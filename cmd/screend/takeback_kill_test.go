package main

import (
	"context"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"screend/sql/sqltest"
)

// TestKillNineDuringTakeBack takes back twelve applied groups (six
// cropped, six selected) and kills the daemon with SIGKILL at random
// moments while it moves their files back. After a last run every file is
// where the journal says: each original at the path it was found at, each
// crop output and sidecar in __delete_staging, nothing lost, nothing left
// planned.
func TestKillNineDuringTakeBack(t *testing.T) {
	inbox := t.TempDir()
	b := newBinaryDaemon(t, inbox)
	r := rand.New(rand.NewPCG(7, 8))
	writeBursts(t, inbox, "20250701", 12, 256, r, func(stamp, stage string) string { return stamp + stage })
	initial := filesByPath(t, inbox)

	ctx := context.Background()
	db := b.db
	count := b.count
	runUntil := func(what, q string, want int) {
		cmd := b.start()
		defer b.stop(cmd)
		deadline := time.Now().Add(90 * time.Second)
		for count(q) != want {
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d, want %d\n%s", what, count(q), want, b.logs.String())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	runUntil("flagged groups", `SELECT count(*) FROM screend.groups WHERE state = 'flagged'`, 12)
	if _, err := sqltest.Pool(db).Exec(ctx, `
		SELECT screend.resolve_group(q.group_id, (q.images -> -1 ->> 'image_id')::bigint,
			CASE WHEN q.group_id % 2 = 0 THEN '{0.1,0.1,0.6,0.6}'::real[] END, 'tester')
		FROM screend.review_queue q`); err != nil {
		t.Fatal(err)
	}
	runUntil("applied groups", `SELECT count(*) FROM screend.groups WHERE state = 'applied'`, 12)
	if _, err := sqltest.Pool(db).Exec(ctx, `SELECT screend.undo_group(group_id, 'tester') FROM screend.groups WHERE state = 'applied'`); err != nil {
		t.Fatal(err)
	}
	// Each round starts the daemon, waits until it has journaled more
	// reverse moves than before, and kills it a random moment later: in
	// the middle of moving files back, or of recording them.
	journaled := `SELECT count(*) FROM screend.file_moves WHERE take_back_id IS NOT NULL`
	kills := 0
	for range 6 {
		seen := count(journaled)
		if count(`SELECT count(*) FROM screend.take_backs WHERE state = 'done'`) == 12 {
			break
		}
		cmd := b.start()
		deadline := time.Now().Add(60 * time.Second)
		for count(journaled) == seen && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		time.Sleep(time.Duration(r.IntN(60)) * time.Millisecond)
		b.kill(cmd)
		kills++
		t.Logf("kill %d: %d of 12 take-backs done, %d reverse moves journaled, %d of them not recorded as done", kills,
			count(`SELECT count(*) FROM screend.take_backs WHERE state = 'done'`), count(journaled),
			count(`SELECT count(*) FROM screend.file_moves WHERE take_back_id IS NOT NULL AND state = 'planned'`))
	}
	runUntil("take-backs done", `SELECT count(*) FROM screend.take_backs WHERE state = 'done'`, 12)

	if n := count(`SELECT count(*) FROM screend.file_moves WHERE state <> 'done'`); n != 0 {
		t.Errorf("%d journaled moves not done\n%s", n, b.logs.String())
	}
	if n := count(`SELECT count(*) FROM screend.take_backs WHERE report <> '[]'`); n != 0 {
		t.Errorf("%d take-backs left files behind", n)
	}
	if n := count(`SELECT count(*) FROM screend.groups WHERE state = 'flagged' AND 'taken_back' = ANY(reasons)`); n != 12 {
		t.Errorf("%d groups back in the queue, want 12", n)
	}
	after := filesByPath(t, inbox)
	for rel, sum := range initial {
		if after[rel] != sum {
			t.Errorf("%s is not back where it was", rel)
		}
	}
	var staged, elsewhere []string
	for rel := range after {
		if _, ok := initial[rel]; ok {
			continue
		}
		if strings.HasPrefix(rel, "proj/__delete_staging/") {
			staged = append(staged, rel)
		} else {
			elsewhere = append(elsewhere, rel)
		}
	}
	if len(staged) != 12 || len(elsewhere) != 0 {
		t.Errorf("new files: %v in __delete_staging (want 6 crops and 6 sidecars), %v elsewhere", staged, elsewhere)
	}
	b.checkPaths()
}
