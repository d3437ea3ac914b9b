package daemon_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"screend/sql/sqltest"

	"screend"
	"screend/scoring/onnxrt/onnxrttest"
	"screend/sql"
)

// waitTakenBack waits until the take-back is done and returns it.
func waitTakenBack(t *testing.T, db *sql.DB, id int64) sql.TakeBackStatus {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := db.ReadTakeBack(context.Background(), id)
		must(t, err)
		if st.State == sql.TakeBackDone {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("take-back %d still %s", id, st.State)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestTakeBackAutomaticDecisions lets a model crop one picture and select
// another automatically, then takes both back: every file returns where it
// was, the crop and its sidecar go to __delete_staging, a companion edited
// since stays where it is and is reported, and the groups wait for review.
// The reviewer's new decision is a correction, counted in model_agreement.
func TestTakeBackAutomaticDecisions(t *testing.T) {
	t.Parallel()
	onnxrttest.Init(t)
	dbURL, inbox := newInbox(t)
	proj := filepath.Join(inbox, "p")
	stageFiles(t, proj, "20250101_010000", 40, 1, "stage1_generated", "stage2_upscaled")                          // crop
	stageFiles(t, proj, "20250101_020000", 40, 2, "stage1_generated", "stage1.5_face_swapped", "stage2_upscaled") // select
	before := inventory(t, inbox)
	cfg := testConfig(t, dbURL, inbox)
	cfg.Settle = time.Second
	d := startDaemon(t, cfg)
	modelID := installModel(t, d.db, 498)
	st := waitIdle(t, d.db, 60*time.Second)
	if st.Groups[screend.GroupApplied] != 2 {
		t.Fatalf("status %+v, want 2 groups decided and applied", st)
	}
	ctx := context.Background()
	applied := groupIDs(t, d.db, screend.GroupApplied)
	cropped := applied["20250101_010000_stage1_generated.png"]
	selected := applied["20250101_020000_stage1_generated.png"]

	// A person edits a companion of the selected image after it was moved.
	edited := filepath.Join(proj, "__selected", "20250101_020000_stage2_upscaled.yaml")
	must(t, os.WriteFile(edited, []byte("seed: 1\nnote: kept\n"), 0o644))
	future := time.Now().Add(time.Minute)
	must(t, os.Chtimes(edited, future, future))
	for h, paths := range before { // its old content is gone by the person's hand
		before[h] = slices.DeleteFunc(paths, func(p string) bool { return p == "p/20250101_020000_stage2_upscaled.yaml" })
	}

	var reports []sql.TakeBackNote
	for _, g := range []int64{cropped, selected} {
		id, err := d.db.TakeBack(ctx, g, "dana")
		must(t, err)
		reports = append(reports, waitTakenBack(t, d.db, id).Report...)
	}
	if len(reports) != 1 || reports[0].Path != edited || !strings.Contains(reports[0].Reason, "changed") {
		t.Errorf("report %+v, want only the edited companion", reports)
	}
	for _, rel := range []string{
		"20250101_010000_stage1_generated.png", "20250101_010000_stage1_generated.yaml",
		"20250101_010000_stage2_upscaled.png", "20250101_010000_stage2_upscaled.yaml",
		"20250101_020000_stage1_generated.png", "20250101_020000_stage1.5_face_swapped.yaml",
		"20250101_020000_stage2_upscaled.png",
		"__delete_staging/20250101_010000_stage2_upscaled.png", "__delete_staging/20250101_010000_stage2_upscaled.decision",
		"__selected/20250101_020000_stage2_upscaled.yaml",
	} {
		if _, err := os.Stat(filepath.Join(proj, rel)); err != nil {
			t.Errorf("after take-back: %v", err)
		}
	}
	for _, dir := range []string{"__cropped", "__originals"} {
		if entries, _ := os.ReadDir(filepath.Join(proj, dir)); len(entries) != 0 {
			t.Errorf("%s still holds %d files", dir, len(entries))
		}
	}
	after := inventory(t, inbox)
	added := checkNothingLost(t, before, after)
	// The crop and its sidecar are new, and so is the edited companion.
	if len(added) != 3 {
		t.Errorf("new files %v, want the crop, its sidecar and the edited companion", added)
	}
	for _, paths := range before {
		for _, p := range paths {
			if strings.HasSuffix(p, "20250101_020000_stage2_upscaled.yaml") {
				continue
			}
			if _, err := os.Stat(filepath.Join(inbox, p)); err != nil {
				t.Errorf("%s is not back where it was: %v", p, err)
			}
		}
	}
	rows, err := sqltest.Pool(d.db).Query(ctx, `SELECT path FROM screend.images`)
	must(t, err)
	for rows.Next() {
		var p string
		must(t, rows.Scan(&p))
		if _, err := os.Stat(p); err != nil || strings.Contains(p, "/__") {
			t.Errorf("recorded path %s: %v", p, err)
		}
	}
	queue, err := d.db.ReviewQueue(ctx, 10)
	must(t, err)
	if len(queue) != 2 || !slices.Contains(queue[0].Reasons, "taken_back") {
		t.Fatalf("review queue %+v, want both groups taken back", queue)
	}

	// The reviewer keeps the first stage instead of the model's crop.
	_, err = d.db.Resolve(ctx, sql.Resolution{GroupID: cropped, ChosenImageID: imageID(t, d.db, "20250101_010000_stage1_generated.png"), Reviewer: "dana"})
	must(t, err)
	waitApplied(t, d.db)
	if _, err := os.Stat(filepath.Join(proj, "__selected", "20250101_010000_stage1_generated.png")); err != nil {
		t.Errorf("the correction was not applied: %v", err)
	}
	var decisions, agreed, corrections int
	must(t, sqltest.Pool(d.db).QueryRow(ctx, `SELECT decisions, agreed, corrections FROM screend.model_agreement WHERE model_id = $1`, modelID).
		Scan(&decisions, &agreed, &corrections))
	if decisions != 1 || agreed != 0 || corrections != 1 {
		t.Errorf("agreement: %d decisions, %d agreed, %d corrections; want 1, 0, 1", decisions, agreed, corrections)
	}
}
