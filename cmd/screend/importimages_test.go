package main

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"screend/sql/sqltest"

	"screend/training"
)

// treeState returns every file and folder under dir with its mode, size,
// modification time and content hash.
func treeState(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		st, err := os.Lstat(p)
		if err != nil {
			return err
		}
		h := [32]byte{}
		if d.Type().IsRegular() {
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			h = sha256.Sum256(data)
		}
		out[p] = st.Mode().String() + st.ModTime().String() + string(h[:])
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func writePNG(t *testing.T, path string, seed int) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	img := image.NewRGBA(image.Rect(0, 0, 64, 48))
	for y := 0; y < 48; y++ {
		for x := 0; x < 64; x++ {
			img.Set(x, y, color.RGBA{uint8(x * seed), uint8(y * 5), uint8((x + y) * seed), 255})
		}
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

// TestImportImagesReadOnlyAndExamples: historical files are embedded where
// they lie without a change to their folders, no group is formed, and the
// imported log decisions whose files are found become training examples;
// the others are counted by reason.
func TestImportImagesReadOnlyAndExamples(t *testing.T) {
	e, db, out := testEnv(t)
	ctx := context.Background()
	root := t.TempDir()
	writePNG(t, filepath.Join(root, "proj", "20250101_000000_stage1_generated.png"), 3)
	writePNG(t, filepath.Join(root, "proj", "sub", "20250101_000000_stage2_upscaled.png"), 4)
	writePNG(t, filepath.Join(root, "proj", "__selected", "20250102_000000_stage2_upscaled.png"), 5) // output folder: ignored
	if err := os.WriteFile(filepath.Join(root, "proj", "broken.png"), []byte("not a png"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "proj", "20250101_000000.yaml"), []byte("a: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(root, 0o555); err != nil { // nothing may be written into ROOT
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(root, 0o755) })
	before := treeState(t, root)

	log := filepath.Join(t.TempDir(), "history_selection_log.csv")
	csv := "session_id,set_id,chosen_path,neg_paths,timestamp\n" +
		`s,20250101_000000,training data/proj/20250101_000000_stage2_upscaled.png,"[""training data/proj/20250101_000000_stage1_generated.png""]",20250101_000000` + "\n" +
		`s,20250103_000000,training data/proj/20250103_000000_stage2_upscaled.png,"[""training data/proj/20250103_000000_stage1_generated.png""]",20250103_000000` + "\n"
	if err := os.WriteFile(log, []byte(csv), 0o644); err != nil {
		t.Fatal(err)
	}
	runImport(t, e, out, log)

	run := func() HistoryReport {
		t.Helper()
		out.Reset()
		if err := importCmd(ctx, e, []string{"images", "--json", root}); err != nil {
			t.Fatalf("import images: %v\n%s", err, out)
		}
		var rep HistoryReport
		if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
			t.Fatalf("import images output: %v\n%s", err, out)
		}
		return rep
	}
	rep := run()
	if rep.Files != 3 || rep.Embedded != 2 || len(rep.Failed) != 1 || !reflect.DeepEqual(rep.Projects, []string{"proj"}) {
		t.Errorf("report %+v: want 3 files in proj, 2 embedded, 1 broken", rep)
	}
	if rep.Examples != 1 || rep.NotExamples["not_on_disk"] != 1 {
		t.Errorf("report %+v: want 1 example and 1 row not on disk", rep)
	}
	if after := treeState(t, root); !reflect.DeepEqual(before, after) {
		t.Error("the import changed the files under ROOT")
	}
	var images, groups, history int
	if err := sqltest.Pool(db).QueryRow(ctx, `SELECT (SELECT count(*) FROM screend.images), (SELECT count(*) FROM screend.groups),
		(SELECT count(*) FROM screend.history_images)`).Scan(&images, &groups, &history); err != nil {
		t.Fatal(err)
	}
	if images != 0 || groups != 0 || history != 3 {
		t.Errorf("%d images, %d groups, %d history rows; want 0, 0, 3", images, groups, history)
	}
	// what `screend train` loads: the imported row is an example with both images
	embID, _, _, err := db.EmbedderByName(ctx, builtinID)
	if err != nil {
		t.Fatal(err)
	}
	examples, sum, err := training.LoadExamples(ctx, db, embID)
	if err != nil {
		t.Fatal(err)
	}
	if len(examples) != 1 || len(examples[0].Images) != 2 || examples[0].Project != "proj" || sum.Imported != 1 {
		t.Fatalf("examples %+v, summary %+v", examples, sum)
	}
	if ex := examples[0]; ex.Images[ex.Chosen].Stage != 2 {
		t.Errorf("chosen image of stage %v, want the stage-2 file", ex.Images[ex.Chosen].Stage)
	}

	// a second import reads nothing again
	time.Sleep(10 * time.Millisecond)
	if rep := run(); rep.Embedded != 0 || rep.Unchanged != 3 || rep.Examples != 1 {
		t.Errorf("second import %+v: want nothing embedded, 3 unchanged, 1 example", rep)
	}
	out.Reset()
	if err := importCmd(ctx, e, []string{"images", root}); err != nil || !strings.Contains(out.String(), "1 are training examples") {
		t.Errorf("human output: %v\n%s", err, out)
	}
}
