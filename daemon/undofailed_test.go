package daemon_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"screend"
	"screend/sql"
	"screend/sql/sqltest"
)

// TestUndoFailedGroups sends failed groups back to the review queue once
// their cause is fixed, against the real daemon and folders: a group whose
// chosen file vanished after a sibling had been moved (the sibling returns
// where it was), and a group waiting for review whose project folder was
// renamed (taken back before the folder is back, it fails again with the
// reason). Both are then decided and applied; the new decisions are not
// counted as corrections of the model.
func TestUndoFailedGroups(t *testing.T) {
	t.Parallel()
	dbURL, inbox := newInbox(t)
	proj := filepath.Join(inbox, "p")
	stageFiles(t, proj, "20250101_010000", 32, 1, "stage1_generated", "stage2_upscaled")
	stageFiles(t, filepath.Join(inbox, "q"), "20250101_020000", 32, 2, "stage1_generated", "stage2_upscaled")
	// A file where __selected should be: the chosen image's move waits.
	blocker := filepath.Join(proj, screend.FolderSelected)
	must(t, os.WriteFile(blocker, []byte("in the way"), 0o644))
	d := startDaemon(t, testConfig(t, dbURL, inbox))
	waitIdle(t, d.db, 60*time.Second)
	ctx := context.Background()
	flagged := groupIDs(t, d.db, screend.GroupFlagged)
	gp, gq := flagged["20250101_010000_stage1_generated.png"], flagged["20250101_020000_stage1_generated.png"]
	waitState := func(g int64, want screend.GroupState) string {
		t.Helper()
		var reason string
		waitUntil(t, 30*time.Second, "group "+string(want), func() bool {
			var s screend.GroupState
			s, reason = groupState(t, d.db, g)
			return s == want
		})
		return reason
	}

	// The sibling is moved, the chosen image's move waits, and the chosen
	// file vanishes meanwhile: once the way is free, the group fails.
	chosen := filepath.Join(proj, "20250101_010000_stage2_upscaled.png")
	sibling := filepath.Join(proj, "20250101_010000_stage1_generated.png")
	chosenData, err := os.ReadFile(chosen)
	must(t, err)
	chosenInfo, err := os.Stat(chosen)
	must(t, err)
	_, err = d.db.Resolve(ctx, sql.Resolution{GroupID: gp, ChosenImageID: imageID(t, d.db, "20250101_010000_stage2_upscaled.png")})
	must(t, err)
	waitUntil(t, 30*time.Second, "the sibling moved and the chosen image's move failing", func() bool {
		st, err := d.db.ReadStatus(ctx)
		must(t, err)
		_, err = os.Stat(filepath.Join(proj, screend.FolderDeleteStaging, filepath.Base(sibling)))
		return err == nil && len(st.Failing) > 0
	})
	must(t, os.Remove(chosen))
	must(t, os.Remove(blocker))
	reason := waitState(gp, screend.GroupFailed)
	if !strings.Contains(reason, "vanished") {
		t.Errorf("group failed with %q, want the vanished source", reason)
	}

	// The cause fixed (the file is back), the group is taken back: the
	// sibling returns, and the group waits for review.
	must(t, os.WriteFile(chosen, chosenData, 0o644))
	must(t, os.Chtimes(chosen, chosenInfo.ModTime(), chosenInfo.ModTime()))
	id, err := d.db.TakeBack(ctx, gp, "tester")
	must(t, err)
	waitTakenBack(t, d.db, id)
	if s, reason := groupState(t, d.db, gp); s != screend.GroupFlagged || reason != "" {
		t.Errorf("taken back, the group is %s (%q), want flagged without an error", s, reason)
	}
	for _, p := range []string{sibling, chosen, strings.TrimSuffix(sibling, ".png") + ".yaml", strings.TrimSuffix(chosen, ".png") + ".yaml"} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("not back where it was: %v", err)
		}
	}
	var failure string
	must(t, sqltest.Pool(d.db).QueryRow(ctx, `SELECT coalesce(failure, '') FROM screend.take_backs WHERE take_back_id = $1`, id).Scan(&failure))
	if !strings.Contains(failure, "vanished") {
		t.Errorf("take-back records the failure %q, want why the group had failed", failure)
	}

	// A group waiting for review whose project folder is renamed fails; taken
	// back before the folder is back, it fails again, with the reason. (The
	// daemon looks for missing project folders at start and every 30 s: a
	// restart makes it look now.)
	cfg := d.cfg
	restart := func() {
		t.Helper()
		must(t, d.stop())
		d = startDaemon(t, cfg)
	}
	q, away := filepath.Join(inbox, "q"), filepath.Join(inbox, "q-away")
	must(t, os.Rename(q, away))
	restart()
	waitState(gq, screend.GroupFailed)
	_, err = d.db.TakeBack(ctx, gq, "tester")
	must(t, err)
	if s, _ := groupState(t, d.db, gq); s != screend.GroupFlagged {
		t.Errorf("a failed group without moved files taken back is %s, want flagged at once", s)
	}
	restart()
	if reason := waitState(gq, screend.GroupFailed); !strings.Contains(reason, "is gone") {
		t.Errorf("taken back with its folder still away, the group failed with %q, want the folder gone", reason)
	}
	must(t, os.Rename(away, q))
	_, err = d.db.TakeBack(ctx, gq, "tester")
	must(t, err)
	waitState(gq, screend.GroupFlagged)
	items, err := d.db.ReviewQueue(ctx, 100)
	must(t, err)
	var queued []int64
	for _, it := range items {
		queued = append(queued, it.GroupID)
	}
	for _, g := range []int64{gp, gq} {
		if !slices.Contains(queued, g) {
			t.Errorf("group %d is not in the review queue (%v)", g, queued)
		}
	}

	// Decided again, both are applied; neither decision is a correction.
	for _, c := range []struct {
		group int64
		image string
	}{{gp, chosen}, {gq, filepath.Join(q, "20250101_020000_stage2_upscaled.png")}} {
		var img int64
		must(t, sqltest.Pool(d.db).QueryRow(ctx, `SELECT image_id FROM screend.images WHERE path = $1`, c.image).Scan(&img))
		_, err := d.db.Resolve(ctx, sql.Resolution{GroupID: c.group, ChosenImageID: img})
		must(t, err)
		waitState(c.group, screend.GroupApplied)
	}
	for _, p := range []string{filepath.Join(proj, screend.FolderSelected, filepath.Base(chosen)),
		filepath.Join(q, screend.FolderSelected, "20250101_020000_stage2_upscaled.png")} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("after the new decision: %v", err)
		}
	}
	var corrections int
	must(t, sqltest.Pool(d.db).QueryRow(ctx, `SELECT count(*) FROM screend.decisions WHERE correction_of IS NOT NULL`).Scan(&corrections))
	if corrections != 0 {
		t.Errorf("%d decisions counted as corrections, want 0: a failed decision was not judged wrong", corrections)
	}
}
