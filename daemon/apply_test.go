package daemon_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"screend"
	"screend/sql"
	"screend/sql/sqltest"
)

// waitUntil polls cond every 100ms until it holds, failing the test after
// timeout with what it was waiting for.
func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// groupState reads a group's state and error.
func groupState(t *testing.T, db *sql.DB, id int64) (screend.GroupState, string) {
	t.Helper()
	var state screend.GroupState
	var reason string
	must(t, sqltest.Pool(db).QueryRow(context.Background(), `SELECT state, coalesce(error, '') FROM screend.groups WHERE group_id = $1`, id).Scan(&state, &reason))
	return state, reason
}

// TestBadDecisionDoesNotBlockOthers stores a decision the applier cannot
// carry out (a crop box with a NULL, as resolve_group once accepted) for
// the oldest decided group: that group fails with its reason, and the next
// one is applied.
func TestBadDecisionDoesNotBlockOthers(t *testing.T) {
	t.Parallel()
	dbURL, inbox := newInbox(t)
	proj := filepath.Join(inbox, "p")
	stageFiles(t, proj, "20250101_010000", 32, 1, "stage1_generated", "stage2_upscaled")
	stageFiles(t, proj, "20250101_020000", 32, 2, "stage1_generated", "stage2_upscaled")
	d := startDaemon(t, testConfig(t, dbURL, inbox))
	waitIdle(t, d.db, 60*time.Second)
	flagged := groupIDs(t, d.db, screend.GroupFlagged)
	bad, good := flagged["20250101_010000_stage1_generated.png"], flagged["20250101_020000_stage1_generated.png"]
	ctx := context.Background()
	_, err := sqltest.Pool(d.db).Exec(ctx, `
		WITH d AS (INSERT INTO screend.decisions (group_id, outcome, chosen_image_id, crop, automatic, decided_by)
			VALUES ($1, 'crop', $2, '{0,NULL,1,1}', false, 'old-resolve-group'))
		UPDATE screend.groups SET state = 'decided' WHERE group_id = $1`, bad, imageID(t, d.db, "20250101_010000_stage2_upscaled.png"))
	must(t, err)
	_, err = d.db.Resolve(ctx, sql.Resolution{GroupID: good, ChosenImageID: imageID(t, d.db, "20250101_020000_stage2_upscaled.png")})
	must(t, err)
	waitUntil(t, 30*time.Second, "the good group applied", func() bool {
		s, _ := groupState(t, d.db, good)
		return s == screend.GroupApplied
	})
	if _, err := os.Stat(filepath.Join(proj, "__selected", "20250101_020000_stage2_upscaled.png")); err != nil {
		t.Errorf("good group's choice not moved: %v", err)
	}
	state, reason := groupState(t, d.db, bad)
	if state != screend.GroupFailed || !strings.Contains(reason, "bad crop box {0,NULL,1,1}") {
		t.Errorf("bad group is %s (%q), want failed with the bad box named", state, reason)
	}
	if _, err := os.Stat(filepath.Join(proj, "20250101_010000_stage2_upscaled.png")); err != nil {
		t.Errorf("bad group's files were moved: %v", err)
	}
}

// TestFailedMoveIsRetriedAndVisible makes the chosen image's destination
// folder impossible to create (a file holds its name): the move waits for
// a retry, visible in status and the journal, the group is not applied;
// once the cause is gone the retry moves the files. A companion with only
// a longer stem (shot.1.yaml) stays where it is.
func TestFailedMoveIsRetriedAndVisible(t *testing.T) {
	t.Parallel()
	dbURL, inbox := newInbox(t)
	proj := filepath.Join(inbox, "p")
	stageFiles(t, proj, "20250101_010000", 32, 1, "stage1_generated", "stage2_upscaled")
	must(t, os.WriteFile(filepath.Join(proj, "20250101_010000_stage2_upscaled.1.yaml"), []byte("other: 1\n"), 0o644))
	blocker := filepath.Join(proj, "__selected")
	must(t, os.WriteFile(blocker, []byte("in the way"), 0o644))
	d := startDaemon(t, testConfig(t, dbURL, inbox))
	waitIdle(t, d.db, 60*time.Second)
	g := groupIDs(t, d.db, screend.GroupFlagged)["20250101_010000_stage1_generated.png"]
	ctx := context.Background()
	_, err := d.db.Resolve(ctx, sql.Resolution{GroupID: g, ChosenImageID: imageID(t, d.db, "20250101_010000_stage2_upscaled.png")})
	must(t, err)

	var st sql.Status
	waitUntil(t, 30*time.Second, "the failing move in status", func() bool {
		st, err = d.db.ReadStatus(ctx)
		must(t, err)
		return len(st.Failing) > 0
	})
	if f := st.Failing[0]; f.GroupID == nil || *f.GroupID != g || !strings.Contains(f.Error, "not a directory") || f.Attempts < 1 {
		t.Errorf("failing move %+v, want group %d with the reason", f, g)
	}
	if state, _ := groupState(t, d.db, g); state != screend.GroupApplying {
		t.Errorf("group is %s while its move fails, want applying", state)
	}
	if st.Pending != 0 {
		t.Errorf("pending %d: work waiting for a fix is not pending (it would make a healthy daemon look stuck)", st.Pending)
	}

	must(t, os.Remove(blocker))
	waitUntil(t, 30*time.Second, "the retried move", func() bool {
		s, _ := groupState(t, d.db, g)
		return s == screend.GroupApplied
	})
	for _, p := range []string{"__selected/20250101_010000_stage2_upscaled.png", "__selected/20250101_010000_stage2_upscaled.yaml",
		"20250101_010000_stage2_upscaled.1.yaml"} {
		if _, err := os.Stat(filepath.Join(proj, p)); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
	var attempts int
	var lastError string
	must(t, sqltest.Pool(d.db).QueryRow(ctx, `
		SELECT attempts, coalesce(error, '') FROM screend.file_moves
		WHERE group_id = $1 AND dst LIKE '%/__selected/%.png'`, g).Scan(&attempts, &lastError))
	if attempts < 1 || lastError == "" {
		t.Errorf("journal keeps %d failed attempts (%q), want the failure recorded", attempts, lastError)
	}
}

// TestLiveInstanceFinishesMovesAfterLostConnection journals moves claimed
// by the running instance, then cuts every connection of the database, as
// a PostgreSQL restart does: the same process registers again and finishes
// the moves without a restart.
func TestLiveInstanceFinishesMovesAfterLostConnection(t *testing.T) {
	t.Parallel()
	dbURL, inbox := newInbox(t)
	proj := filepath.Join(inbox, "p")
	stageFiles(t, proj, "20250101_010000", 32, 1, "stage1_generated", "stage2_upscaled")
	d := startDaemon(t, testConfig(t, dbURL, inbox))
	waitIdle(t, d.db, 60*time.Second)
	ctx := context.Background()
	notes := filepath.Join(proj, "notes")
	must(t, os.MkdirAll(notes, 0o755))
	must(t, os.WriteFile(filepath.Join(notes, "a.txt"), []byte("a"), 0o644))
	must(t, os.WriteFile(filepath.Join(notes, "b.txt"), []byte("b"), 0o644))
	var instance int32
	must(t, sqltest.Pool(d.db).QueryRow(ctx, `SELECT max(instance_id) FROM screend.instances`).Scan(&instance))
	_, err := sqltest.Pool(d.db).Exec(ctx, `
		INSERT INTO screend.file_moves (kind, src, dst, claimed_by)
		VALUES ('move', $1, $2, $5), ('move', $3, $4, $5)`,
		filepath.Join(notes, "a.txt"), filepath.Join(proj, "__delete_staging", "a.txt"),
		filepath.Join(notes, "b.txt"), filepath.Join(proj, "__delete_staging", "b.txt"), instance)
	must(t, err)
	// The moves were made, but not recorded, when the connection was lost.
	must(t, os.MkdirAll(filepath.Join(proj, "__delete_staging"), 0o755))
	must(t, os.Rename(filepath.Join(notes, "a.txt"), filepath.Join(proj, "__delete_staging", "a.txt")))
	_, err = sqltest.Pool(d.db).Exec(ctx, `
		SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid()`)
	must(t, err)

	waitUntil(t, 30*time.Second, "the journal finished by the live instance", func() bool {
		var planned int
		if err := sqltest.Pool(d.db).QueryRow(ctx, `SELECT count(*) FROM screend.file_moves WHERE state = 'planned'`).Scan(&planned); err != nil {
			return false // the pool reconnects
		}
		return planned == 0
	})
	for _, n := range []string{"a.txt", "b.txt"} {
		if _, err := os.Stat(filepath.Join(proj, "__delete_staging", n)); err != nil {
			t.Errorf("%s: %v", n, err)
		}
	}
	var failed int
	must(t, sqltest.Pool(d.db).QueryRow(ctx, `SELECT count(*) FROM screend.file_moves WHERE state = 'failed'`).Scan(&failed))
	if failed != 0 {
		t.Errorf("%d moves failed", failed)
	}
}

// TestRenamedFilesAndProjectsFailTheirGroups renames a decided group's
// chosen file, and a whole project folder with a group waiting for review:
// both groups fail with a reason that says so, and neither stays in the
// review queue or counts as applied.
func TestRenamedFilesAndProjectsFailTheirGroups(t *testing.T) {
	t.Parallel()
	dbURL, inbox := newInbox(t)
	stageFiles(t, filepath.Join(inbox, "p"), "20250101_010000", 32, 1, "stage1_generated", "stage2_upscaled")
	stageFiles(t, filepath.Join(inbox, "q"), "20250101_020000", 32, 2, "stage1_generated", "stage2_upscaled")
	cfg := testConfig(t, dbURL, inbox)
	first := startDaemon(t, cfg)
	waitIdle(t, first.db, 60*time.Second)
	flagged := groupIDs(t, first.db, screend.GroupFlagged)
	gp, gq := flagged["20250101_010000_stage1_generated.png"], flagged["20250101_020000_stage1_generated.png"]
	chosen := imageID(t, first.db, "20250101_010000_stage2_upscaled.png")
	must(t, first.stop())

	ctx := context.Background()
	db, err := sql.Open(ctx, dbURL)
	must(t, err)
	defer db.Close()
	_, err = db.Resolve(ctx, sql.Resolution{GroupID: gp, ChosenImageID: chosen})
	must(t, err)
	must(t, os.Rename(filepath.Join(inbox, "p", "20250101_010000_stage2_upscaled.png"), filepath.Join(inbox, "p", "renamed.png")))
	must(t, os.Rename(filepath.Join(inbox, "q"), filepath.Join(inbox, "q-renamed")))

	second := startDaemon(t, cfg)
	waitIdle(t, second.db, 60*time.Second)
	for _, c := range []struct {
		group int64
		want  string
	}{{gp, "is gone (renamed or deleted)"}, {gq, "project folder " + filepath.Join(inbox, "q") + " is gone"}} {
		if state, reason := groupState(t, second.db, c.group); state != screend.GroupFailed || !strings.Contains(reason, c.want) {
			t.Errorf("group %d is %s (%q), want failed: %q", c.group, state, reason, c.want)
		}
	}
	items, err := second.db.ReviewQueue(ctx, 100)
	must(t, err)
	for _, it := range items {
		if it.GroupID == gq {
			t.Errorf("group %d of the renamed project is still in the review queue", gq)
		}
	}
}

// TestLongNamesNeverHang crops a chosen image whose name is 255 bytes (its
// .decision sidecar cannot have the same stem) and quarantines a broken
// 254-byte file whose name is taken in __quarantine: names are shortened to
// fit, on a character boundary, and nothing hangs.
func TestLongNamesNeverHang(t *testing.T) {
	t.Parallel()
	dbURL, inbox := newInbox(t)
	proj := filepath.Join(inbox, "p")
	long := "20250101_010000_a" + strings.Repeat("ü", 117) // 251 bytes
	longPNG := long + ".png"                               // 255 bytes
	writePNG(t, filepath.Join(proj, longPNG), photo(64, 64, 7))
	broken := strings.Repeat("x", 250) + ".png" // 254 bytes
	must(t, os.MkdirAll(filepath.Join(proj, "__quarantine"), 0o755))
	must(t, os.WriteFile(filepath.Join(proj, "__quarantine", broken), []byte("an earlier broken file"), 0o644))
	must(t, os.WriteFile(filepath.Join(proj, broken), []byte("not a png"), 0o644))

	d := startDaemon(t, testConfig(t, dbURL, inbox))
	waitIdle(t, d.db, 60*time.Second)
	ctx := context.Background()
	var g, img int64
	must(t, sqltest.Pool(d.db).QueryRow(ctx, `
		SELECT gi.group_id, i.image_id FROM screend.images i JOIN screend.group_images gi USING (image_id)
		WHERE i.file_name = $1`, longPNG).Scan(&g, &img))
	_, err := d.db.Resolve(ctx, sql.Resolution{GroupID: g, ChosenImageID: img, Crop: []float32{0, 0, 0.5, 0.5}})
	must(t, err)
	waitUntil(t, 30*time.Second, "the long-named crop applied", func() bool {
		s, _ := groupState(t, d.db, g)
		return s == screend.GroupApplied || s == screend.GroupFailed
	})
	if s, reason := groupState(t, d.db, g); s != screend.GroupApplied {
		t.Fatalf("group %s: %s", s, reason)
	}
	entries, err := os.ReadDir(filepath.Join(proj, "__cropped"))
	must(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
		if len(e.Name()) > 255 || !strings.HasPrefix(e.Name(), "20250101_010000_aü") {
			t.Errorf("cropped output %q (%d bytes)", e.Name(), len(e.Name()))
		}
	}
	if len(names) != 2 {
		t.Errorf("cropped outputs %q, want the crop and its sidecar", names)
	}
	var quarantined string
	must(t, sqltest.Pool(d.db).QueryRow(ctx, `SELECT path FROM screend.images WHERE state = 'quarantined'`).Scan(&quarantined))
	if filepath.Dir(quarantined) != filepath.Join(proj, "__quarantine") || len(filepath.Base(quarantined)) > 255 ||
		!strings.HasSuffix(quarantined, "_1.png") {
		t.Errorf("quarantined at %s", quarantined)
	}
	if _, err := os.Stat(quarantined); err != nil {
		t.Error(err)
	}
}
