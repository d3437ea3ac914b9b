package daemon_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"screend"
	"screend/scoring/onnxrt/onnxrttest"
	"screend/sql/sqltest"
)

// TestTinyAutomaticCropGoesToReview lets a sure model crop two pictures:
// on the large one the crop is cut and applied; on the small one the box
// is under 16 pixels a side, so instead of a decision whose crop cannot be
// cut (a failed group), the group waits for review with the reason
// crop_too_small and the suggested crop, and no file moves.
func TestTinyAutomaticCropGoesToReview(t *testing.T) {
	t.Parallel()
	onnxrttest.Init(t)
	dbURL, inbox := newInbox(t)
	proj := filepath.Join(inbox, "p")
	stageFiles(t, proj, "20250101_010000", 40, 1, "stage1_generated", "stage2_upscaled") // 80 px: a 48 px crop
	stageFiles(t, proj, "20250101_020000", 12, 2, "stage1_generated", "stage2_upscaled") // 24 px: a 14 px crop
	cfg := testConfig(t, dbURL, inbox)
	cfg.Settle = time.Second
	d := startDaemon(t, cfg)
	installModel(t, d.db, 498)
	st := waitIdle(t, d.db, 60*time.Second)
	if st.Groups[screend.GroupApplied] != 1 || st.Groups[screend.GroupFailed] != 0 || st.ReviewQueue != 1 {
		t.Fatalf("status %+v, want one group applied, one waiting for review, none failed", st)
	}
	if _, err := os.Stat(filepath.Join(proj, screend.FolderCropped, "20250101_010000_stage2_upscaled.png")); err != nil {
		t.Errorf("the large picture's crop: %v", err)
	}
	items, err := d.db.ReviewQueue(context.Background(), 10)
	must(t, err)
	if len(items) != 1 {
		t.Fatalf("%d groups in the queue, want 1", len(items))
	}
	var reasons []string
	var outcome string
	var crop []float32
	must(t, sqltest.Pool(d.db).QueryRow(context.Background(), `
		SELECT reasons, suggested_outcome, suggested_crop FROM screend.review_queue WHERE group_id = $1`, items[0].GroupID).
		Scan(&reasons, &outcome, &crop))
	if !slices.Equal(reasons, []string{string(screend.ReasonCropTooSmall)}) || outcome != string(screend.OutcomeCrop) || len(crop) != 4 {
		t.Errorf("flagged with %v, suggestion %s %v; want crop_too_small and the suggested crop", reasons, outcome, crop)
	}
	for _, n := range []string{"20250101_020000_stage1_generated.png", "20250101_020000_stage2_upscaled.png"} {
		if _, err := os.Stat(filepath.Join(proj, n)); err != nil {
			t.Errorf("the small picture's files moved: %v", err)
		}
	}
}
