package training_test

import (
	"context"
	"testing"
	"time"

	"screend/sql"
	"screend/sql/sqltest"
	"screend/training"
	"screend/training/trainingtest"
)

func TestLoadExamplesFromReviewAndImports(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := sqltest.New(t)
	groups := trainingtest.Seed(t, db, trainingtest.Options{Embedder: "test-v1", Dim: 8, Groups: 6})
	other := trainingtest.Seed(t, db, trainingtest.Options{Embedder: "test-v1", Dim: 8, Groups: 1, Project: "q", Seed: 2})
	embedderID, _, ok, err := db.EmbedderByName(ctx, "test-v1")
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := sqltest.Pool(db).Exec(ctx, q, args...); err != nil {
			t.Fatal(err)
		}
	}
	// group 3 was marked for manual cropping: crop unknown, still an example
	exec(`UPDATE screend.decisions SET outcome = 'manual_crop', crop = NULL,
		chosen_image_id = $2 WHERE group_id = $1`, groups[3].ID, groups[3].ImageIDs[0])
	// group 4 has an image that is not embedded
	exec(`DELETE FROM screend.embeddings WHERE image_id = $1`, groups[4].ImageIDs[0])
	// group 5 was decided automatically: not a human decision
	exec(`UPDATE screend.decisions SET automatic = true WHERE group_id = $1`, groups[5].ID)

	at := time.Date(2025, 10, 5, 1, 0, 0, 0, time.UTC)
	g0, g1, g2 := groups[0], groups[1], groups[2]
	rows := []sql.ImportedDecision{
		// exactly group 0's images: the review resolution wins
		{Line: 2, Format: "select_crop", Project: "p", DecidedAt: &at, ChosenFile: g0.Files[0], Candidates: g0.Files,
			CropStatus: "box", Crop: []float32{0, 0, 0.5, 0.5}},
		// two of group 1's images, full-frame crop: an example in group 1's key
		{Line: 3, Format: "select_crop", Project: "p", DecidedAt: &at, ChosenFile: g1.Files[1], Candidates: g1.Files[:2],
			CropStatus: "full_frame"},
		// a file that is not on disk
		{Line: 4, Format: "selection", Project: "p", DecidedAt: &at, ChosenFile: "gone.png",
			Candidates: []string{"gone.png", g2.Files[0]}, CropStatus: "not_logged"},
		// group 2's files, but the log says another project: never mixed
		{Line: 5, Format: "select_crop", Project: "q", DecidedAt: &at, ChosenFile: g2.Files[0], Candidates: g2.Files[:2],
			CropStatus: "full_frame"},
		// an anomaly log row: the crop is not recorded
		{Line: 6, Format: "anomaly", Project: "p", DecidedAt: &at, ChosenFile: g2.Files[0], Candidates: g2.Files[:2],
			CropStatus: "not_logged"},
		// two of group 2's images with a box: an example in group 2's key
		{Line: 7, Format: "select_crop", Project: "p", DecidedAt: &at, ChosenFile: g2.Files[2], Candidates: g2.Files[1:3],
			CropStatus: "box", Crop: []float32{0.1, 0, 0.9, 0.8}},
		// project q's own images exactly: the review resolution wins
		{Line: 8, Format: "select_crop", Project: "q", DecidedAt: &at, ChosenFile: other[0].Files[0], Candidates: other[0].Files,
			CropStatus: "full_frame"},
	}
	if _, err := db.ReplaceImport(ctx, "test.csv", rows, nil); err != nil {
		t.Fatal(err)
	}

	examples, sum, err := training.LoadExamples(ctx, db, embedderID)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s", sum)
	// review: groups 0, 1, 2, 3 of p and group 0 of q (5); imports: lines 3, 6 and 7
	if sum.Review != 5 || sum.Imported != 3 || len(examples) != 8 || sum.CropUnknown != 2 {
		t.Fatalf("summary %s, %d examples; want 5 review and 3 imported, 2 with the crop unknown", sum, len(examples))
	}
	want := map[string]int{"not_embedded": 1, "not_on_disk": 2, "superseded": 2}
	for k, n := range want {
		if sum.Skipped[k] != n {
			t.Errorf("skipped %s = %d, want %d (all: %v)", k, sum.Skipped[k], n, sum.Skipped)
		}
	}
	if len(sum.Skipped) != len(want) {
		t.Errorf("skipped %v, want %v", sum.Skipped, want)
	}
	// the imports of part of groups 1 and 2 share their keys
	keys := map[string]int{}
	for _, ex := range examples {
		keys[ex.Project+"/"+ex.GroupKey]++
		for _, im := range ex.Images {
			if len(im.Embedding) != 8 {
				t.Fatalf("embedding of length %d", len(im.Embedding))
			}
		}
	}
	if len(keys) != 5 || sum.Groups != 5 {
		t.Errorf("group keys %v (summary %d groups), want 5", keys, sum.Groups)
	}
	var line3, line6, line7, manual *training.Example
	for i := range examples {
		ex := &examples[i]
		switch {
		case ex.Time.Equal(at) && ex.CropUnknown:
			line6 = ex
		case ex.Time.Equal(at) && ex.Crop == nil:
			line3 = ex
		case ex.Time.Equal(at):
			line7 = ex
		case ex.CropUnknown:
			manual = ex
		}
	}
	if line3 == nil || line6 == nil || line7 == nil || manual == nil {
		t.Fatalf("examples not found: %+v", examples)
	}
	if line6.Chosen != 0 || line6.Crop != nil || line6.GroupKey != line7.GroupKey {
		t.Errorf("import of line 6 (anomaly log, crop not recorded): %+v; want chosen 0, no box, group 2's key", line6)
	}
	if manual.Chosen != 0 || manual.Crop != nil || len(manual.Images) != len(groups[3].ImageIDs) {
		t.Errorf("manual crop of group 3: %+v; want chosen 0, crop unknown", manual)
	}
	if line3.CropUnknown || line7.CropUnknown {
		t.Error("lines 3 and 7 record their crop but are marked crop unknown")
	}
	if line3.Project != "p" || line3.Chosen != 1 || len(line3.Images) != 2 || line3.Images[0].Stage != g1Stage(t, db, g1) {
		t.Errorf("import of line 3: %+v", line3)
	}
	if line7.Chosen != 1 || (*line7.Crop)[2] < 0.89 {
		t.Errorf("import of line 7: chosen %d, crop %v; want 1, the box", line7.Chosen, *line7.Crop)
	}
	if line3.GroupKey == line7.GroupKey {
		t.Errorf("imports of groups 1 and 2 share key %s", line3.GroupKey)
	}
}

// g1Stage returns the stage of group g's first image as stored.
func g1Stage(t *testing.T, db *sql.DB, g trainingtest.Group) float64 {
	var s float64
	if err := sqltest.Pool(db).QueryRow(context.Background(), `SELECT stage FROM screend.images WHERE image_id = $1`, g.ImageIDs[0]).Scan(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestLoadExamplesDuplicateResolvesToOriginal(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := sqltest.New(t)
	groups := trainingtest.Seed(t, db, trainingtest.Options{Groups: 1})
	g := groups[0]
	// the first image turns out to be a duplicate of an image outside the group
	var orig int64
	err := sqltest.Pool(db).QueryRow(ctx, `
		INSERT INTO screend.images (project_id, path, rel_path, file_name, size, mtime, stage, width, height, state)
		SELECT project_id, '/seed/p/orig.png', 'orig.png', 'orig.png', 1, now(), 1, 640, 640, 'embedded'
		FROM screend.images WHERE image_id = $1 RETURNING image_id`, g.ImageIDs[0]).Scan(&orig)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sqltest.Pool(db).Exec(ctx, `UPDATE screend.embeddings SET image_id = $2 WHERE image_id = $1`, g.ImageIDs[0], orig); err != nil {
		t.Fatal(err)
	}
	if _, err := sqltest.Pool(db).Exec(ctx, `UPDATE screend.images SET state = 'duplicate', duplicate_of = $2 WHERE image_id = $1`, g.ImageIDs[0], orig); err != nil {
		t.Fatal(err)
	}
	id, _, _, _ := db.EmbedderByName(ctx, "test-v1")
	examples, sum, err := training.LoadExamples(ctx, db, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(examples) != 1 || examples[0].Images[0].Width != 640 || examples[0].Images[0].Stage != 1 {
		t.Fatalf("examples %+v, %s: want one, its first image read through the original", examples, sum)
	}
}
