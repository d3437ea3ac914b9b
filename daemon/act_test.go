package daemon_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"image/png"
	"io/fs"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"screend/sql/sqltest"

	"screend"

	"screend/daemon"
	"screend/scoring/model"
	"screend/scoring/onnxmodel"
	"screend/scoring/onnxrt/onnxrttest"
	"screend/sql"
)

// inventory maps the sha256 of every file under root to its paths
// (relative to root).
func inventory(t *testing.T, root string) map[string][]string {
	t.Helper()
	inv := map[string][]string{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		rel, _ := filepath.Rel(root, path)
		key := hex.EncodeToString(sum[:])
		inv[key] = append(inv[key], rel)
		return nil
	})
	must(t, err)
	return inv
}

// checkNothingLost checks that every file of before is still there exactly
// as often, and returns the files that are new.
func checkNothingLost(t *testing.T, before, after map[string][]string) []string {
	t.Helper()
	var added []string
	for h, paths := range after {
		if n := len(before[h]); len(paths) < n {
			t.Errorf("content of %v: %d copies before, %d after (%v)", before[h], n, len(paths), paths)
		} else if len(paths) > n {
			added = append(added, paths[n:]...)
		}
	}
	for h, paths := range before {
		if _, ok := after[h]; !ok {
			t.Errorf("lost: %v", paths)
		}
	}
	slices.Sort(added)
	return added
}

// groupIDs returns the ids of the groups in state, with their first image's
// relative path, in that order.
func groupIDs(t *testing.T, db *sql.DB, state screend.GroupState) map[string]int64 {
	t.Helper()
	rows, err := sqltest.Pool(db).Query(context.Background(), `
		SELECT g.group_id, (array_agg(i.rel_path ORDER BY gi.position))[1]
		FROM screend.groups g JOIN screend.group_images gi USING (group_id) JOIN screend.images i USING (image_id)
		WHERE g.state = $1 GROUP BY g.group_id`, state)
	must(t, err)
	out := map[string]int64{}
	for rows.Next() {
		var id int64
		var first string
		must(t, rows.Scan(&id, &first))
		out[first] = id
	}
	return out
}

func imageID(t *testing.T, db *sql.DB, relPath string) int64 {
	t.Helper()
	var id int64
	must(t, sqltest.Pool(db).QueryRow(context.Background(), `SELECT image_id FROM screend.images WHERE rel_path = $1`, relPath).Scan(&id))
	return id
}

// waitApplied waits until no group is decided but not yet applied.
func waitApplied(t *testing.T, db *sql.DB) sql.Status {
	t.Helper()
	return waitIdle(t, db, 30*time.Second)
}

func TestReviewerResolutionsMoveFilesAndLoseNothing(t *testing.T) {
	t.Parallel()
	dbURL, inbox := newInbox(t)
	proj := filepath.Join(inbox, "mojo3")
	shape := []string{"stage1_generated", "stage1.5_face_swapped", "stage2_upscaled"}
	for i, stamp := range []string{"20250708_060000", "20250708_061000", "20250708_062000", "20250708_063000"} {
		stageFiles(t, proj, stamp, 48, uint64(40+i), shape...)
	}
	// The old tools' group-level decision file travels with the chosen image.
	must(t, os.WriteFile(filepath.Join(proj, "20250708_060000.decision"), []byte(`{"group_id":"old"}`), 0o644))
	// A clash: a different file already holds the chosen image's name.
	writePNG(t, filepath.Join(proj, "__selected", "20250708_060000_stage1.5_face_swapped.png"), photo(8, 8, 99))
	before := inventory(t, inbox)

	d := startDaemon(t, testConfig(t, dbURL, inbox))
	waitIdle(t, d.db, 60*time.Second)
	flagged := groupIDs(t, d.db, screend.GroupFlagged)
	if len(flagged) != 4 {
		t.Fatalf("flagged groups %v, want 4", flagged)
	}
	ctx := context.Background()
	resolve := func(first string, r sql.Resolution) {
		r.GroupID, r.Reviewer = flagged[first], "alice"
		if _, err := d.db.Resolve(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	// Reviewers call the SQL function directly; the Go call does the same.
	chosen := imageID(t, d.db, "20250708_060000_stage1.5_face_swapped.png")
	if _, err := sqltest.Pool(d.db).Exec(ctx, `SELECT screend.resolve_group($1, $2)`, flagged["20250708_060000_stage1_generated.png"], chosen); err != nil {
		t.Fatal(err)
	}
	resolve("20250708_061000_stage1_generated.png", sql.Resolution{
		ChosenImageID: imageID(t, d.db, "20250708_061000_stage2_upscaled.png"), Crop: []float32{0.25, 0, 0.75, 0.5}})
	if _, err := d.db.Reject(ctx, flagged["20250708_062000_stage1_generated.png"], "alice"); err != nil {
		t.Fatal(err)
	}
	resolve("20250708_063000_stage1_generated.png", sql.Resolution{
		ChosenImageID: imageID(t, d.db, "20250708_063000_stage2_upscaled.png"), ManualCrop: true})
	st := waitApplied(t, d.db)
	if st.Groups[screend.GroupApplied] != 4 || st.ReviewQueue != 0 {
		t.Fatalf("status %+v, want 4 groups applied", st)
	}

	after := inventory(t, inbox)
	added := checkNothingLost(t, before, after)
	wantAdded := []string{
		"mojo3/__cropped/20250708_061000_stage2_upscaled.decision",
		"mojo3/__cropped/20250708_061000_stage2_upscaled.png",
	}
	if !slices.Equal(added, wantAdded) {
		t.Errorf("new files %v, want only the crop and its sidecar %v", added, wantAdded)
	}
	for _, p := range []string{
		"__selected/20250708_060000_stage1.5_face_swapped_1.png", // renamed: the name was taken
		"__selected/20250708_060000_stage1.5_face_swapped_1.yaml",
		"__selected/20250708_060000.decision",
		"__selected/20250708_060000_stage1.5_face_swapped.png", // the file that was there, untouched
		"__delete_staging/20250708_060000_stage1_generated.png",
		"__delete_staging/20250708_060000_stage2_upscaled.yaml",
		"__originals/20250708_061000_stage2_upscaled.png",
		"__cropped/20250708_061000_stage2_upscaled.yaml",
		"__delete_staging/20250708_062000_stage1_generated.png",
		"__delete_staging/20250708_062000_stage1.5_face_swapped.png",
		"__delete_staging/20250708_062000_stage2_upscaled.png",
		"__delete_staging/20250708_062000_stage2_upscaled.yaml",
		"__crop/20250708_063000_stage2_upscaled.png",
		"__crop/20250708_063000_stage2_upscaled.yaml",
	} {
		if _, err := os.Stat(filepath.Join(proj, p)); err != nil {
			t.Errorf("missing %s: %v", p, err)
		}
	}
	entries, _ := os.ReadDir(proj)
	for _, e := range entries {
		if !e.IsDir() {
			t.Errorf("%s left in the project folder", e.Name())
		}
	}

	// The crop keeps the box: 96x96 stage-2 image, box [0.25,0,0.75,0.5].
	f, err := os.Open(filepath.Join(proj, "__cropped/20250708_061000_stage2_upscaled.png"))
	must(t, err)
	cfg, err := png.DecodeConfig(f)
	f.Close()
	must(t, err)
	if cfg.Width != 48 || cfg.Height != 48 {
		t.Errorf("cropped image is %dx%d, want 48x48", cfg.Width, cfg.Height)
	}
	var sidecar struct {
		ProjectID string    `json:"project_id"`
		NeedsCrop bool      `json:"needs_crop"`
		Route     string    `json:"ai_route"`
		Coords    []float64 `json:"ai_crop_coords"`
	}
	data, err := os.ReadFile(filepath.Join(proj, "__cropped/20250708_061000_stage2_upscaled.decision"))
	must(t, err)
	must(t, json.Unmarshal(data, &sidecar))
	if sidecar.ProjectID != "mojo3" || !sidecar.NeedsCrop || sidecar.Route != "human" || !slices.Equal(sidecar.Coords, []float64{0.25, 0, 0.75, 0.5}) {
		t.Errorf("sidecar %s", data)
	}

	// The database agrees with the files: every image's path exists.
	rows, err := sqltest.Pool(d.db).Query(ctx, `SELECT path FROM screend.images`)
	must(t, err)
	for rows.Next() {
		var p string
		must(t, rows.Scan(&p))
		if _, err := os.Stat(p); err != nil {
			t.Errorf("recorded path %s: %v", p, err)
		}
	}
	var humans int
	must(t, sqltest.Pool(d.db).QueryRow(ctx, `SELECT count(*) FROM screend.decisions WHERE NOT automatic AND decided_by IN ('alice', current_user)`).Scan(&humans))
	if humans != 4 {
		t.Errorf("%d human decisions recorded, want 4", humans)
	}
}

func TestResolveRefusesBadResolutions(t *testing.T) {
	t.Parallel()
	dbURL, inbox := newInbox(t)
	stageFiles(t, filepath.Join(inbox, "p"), "20250101_010000", 32, 1, "stage1_generated", "stage2_upscaled")
	stageFiles(t, filepath.Join(inbox, "p"), "20250101_020000", 32, 2, "stage1_generated", "stage2_upscaled")
	d := startDaemon(t, testConfig(t, dbURL, inbox))
	waitIdle(t, d.db, 60*time.Second)
	flagged := groupIDs(t, d.db, screend.GroupFlagged)
	g1, g2 := flagged["20250101_010000_stage1_generated.png"], flagged["20250101_020000_stage1_generated.png"]
	other := imageID(t, d.db, "20250101_020000_stage2_upscaled.png")
	mine := imageID(t, d.db, "20250101_010000_stage2_upscaled.png")
	ctx := context.Background()
	for _, c := range []struct {
		name string
		r    sql.Resolution
		want string
	}{
		{"no such group", sql.Resolution{GroupID: 999999, Reviewer: "bob"}, "does not exist"},
		{"image of another group", sql.Resolution{GroupID: g1, ChosenImageID: other, Reviewer: "bob"}, "is not in group"},
		{"box outside", sql.Resolution{GroupID: g1, ChosenImageID: mine, Crop: []float32{0, 0, 1.2, 1}, Reviewer: "bob"}, "bad crop box"},
		{"box inverted", sql.Resolution{GroupID: g1, ChosenImageID: mine, Crop: []float32{0.6, 0, 0.4, 1}, Reviewer: "bob"}, "bad crop box"},
		{"box short", sql.Resolution{GroupID: g1, ChosenImageID: mine, Crop: []float32{0, 0, 1}, Reviewer: "bob"}, "bad crop box"},
		{"no image", sql.Resolution{GroupID: g1, Crop: []float32{0, 0, 0.5, 0.5}, Reviewer: "bob"}, "reject_group"},
		{"crop and manual", sql.Resolution{GroupID: g1, ChosenImageID: mine, Crop: []float32{0, 0, 0.5, 0.5}, ManualCrop: true, Reviewer: "bob"}, "not both"},
	} {
		_, err := d.db.Resolve(ctx, c.r)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want %q", c.name, err, c.want)
		}
	}
	if _, err := d.db.Reject(ctx, g2, "bob"); err != nil {
		t.Fatal(err)
	}
	_, err := d.db.Reject(ctx, g2, "bob")
	if err == nil || !strings.Contains(err.Error(), "is not waiting for review") {
		t.Errorf("second resolution: err = %v, want 'is not waiting for review'", err)
	}
	st := waitApplied(t, d.db)
	if st.Groups[screend.GroupFlagged] != 1 || st.Groups[screend.GroupApplied] != 1 {
		t.Errorf("groups %v, want g1 still flagged and g2 applied", st.Groups)
	}
}

// installModel registers and promotes tiny models in the model contract
// that decide by the group's size: two images are cropped (box centred,
// top-anchored), three selected, four rejected; the highest stage always
// ranks first.
func installModel(t *testing.T, db *sql.DB, embedderDim int, adjust ...func(*model.Params)) int64 {
	t.Helper()
	idx := func(name string) int { return slices.Index(model.MetaNames[:], name) }
	logit := func(p float64) float32 { return float32(math.Log(p / (1 - p))) }
	build := func(name string, body func(g *onnxmodel.Graph, emb, meta string)) []byte {
		g := onnxmodel.NewGraph(name)
		emb := g.Input(model.InputEmbedding, onnxmodel.Batch, int64(embedderDim))
		meta := g.Input(model.InputMeta, onnxmodel.Batch, model.MetaDim)
		body(g, emb, meta)
		data, err := g.Marshal()
		must(t, err)
		return data
	}
	ranker := build("ranker", func(g *onnxmodel.Graph, emb, meta string) {
		w := make([]float32, model.MetaDim)
		w[idx("stage_norm")] = 30
		g.Output(model.OutputScore, g.Dense(meta, w, nil, model.MetaDim, 1, onnxmodel.ActNone), onnxmodel.Batch, 1)
	})
	crop := build("crop", func(g *onnxmodel.Graph, emb, meta string) {
		w := make([]float32, model.MetaDim*4)
		w[idx("group_size")*4] = -80 // size/4: 0.5 -> +10 (crop), 0.75 -> -10
		h := g.Dense(meta, w, []float32{50, 0, logit(0.3), logit(0.6)}, model.MetaDim, 4, onnxmodel.ActNone)
		g.Output(model.OutputCropLogit, g.Slice(h, []int64{0}, []int64{1}, []int64{1}), onnxmodel.Batch, 1)
		g.Output(model.OutputBox, g.Sigmoid(g.Slice(h, []int64{1}, []int64{4}, []int64{1})), onnxmodel.Batch, 3)
	})
	reject := build("reject", func(g *onnxmodel.Graph, emb, meta string) {
		w := make([]float32, model.MetaDim)
		w[idx("group_size")] = 80 // 1.0 -> +10 (reject), 0.75 -> -10
		g.Output(model.OutputRejectLogit, g.Dense(meta, w, []float32{-70}, model.MetaDim, 1, onnxmodel.ActNone), onnxmodel.Batch, 1)
	})
	p := model.DefaultParams(builtinID, embedderDim)
	p.Thresholds = model.Thresholds{Select: 0.9, Crop: 0.9, Reject: 0.9}
	for _, f := range adjust {
		f(&p)
	}
	params, err := model.MarshalParams(p)
	must(t, err)
	ctx := context.Background()
	embedderID, err := db.EnsureEmbedder(ctx, builtinID, embedderDim)
	must(t, err)
	id, err := db.InsertModel(ctx, sql.Model{EmbedderID: embedderID, Ranker: ranker, Crop: crop, Reject: reject,
		Params: params, Metrics: json.RawMessage(`{}`), Examples: 0})
	must(t, err)
	must(t, db.PromoteModel(ctx, id))
	return id
}

func TestModelDecidesEachOutcome(t *testing.T) {
	t.Parallel()
	onnxrttest.Init(t)
	for _, dryRun := range []bool{false, true} {
		t.Run(map[bool]string{false: "apply", true: "dry_run"}[dryRun], func(t *testing.T) {
			t.Parallel()
			dbURL, inbox := newInbox(t)
			proj := filepath.Join(inbox, "p")
			stageFiles(t, proj, "20250101_010000", 40, 1, "stage1_generated", "stage2_upscaled")                                             // crop
			stageFiles(t, proj, "20250101_020000", 40, 2, "stage1_generated", "stage1.5_face_swapped", "stage2_upscaled")                    // select
			stageFiles(t, proj, "20250101_030000", 40, 3, "stage1_generated", "stage1.5_face_swapped", "stage2_upscaled", "stage3_enhanced") // reject
			before := inventory(t, inbox)
			cfg := testConfig(t, dbURL, inbox)
			cfg.DryRun = dryRun
			cfg.Settle = time.Second
			d := startDaemon(t, cfg)
			modelID := installModel(t, d.db, 498)
			st := waitIdle(t, d.db, 60*time.Second)
			if st.Groups[screend.GroupApplied] != 3 || st.ReviewQueue != 0 {
				t.Fatalf("status %+v, want 3 groups decided and applied", st)
			}
			rows, err := sqltest.Pool(d.db).Query(context.Background(), `
				SELECT d.outcome, d.automatic, d.model_id, d.confidence, d.dry_run, coalesce(i.file_name, '')
				FROM screend.decisions d LEFT JOIN screend.images i ON i.image_id = d.chosen_image_id ORDER BY d.group_id`)
			must(t, err)
			var got []string
			for rows.Next() {
				var outcome, file string
				var auto, dry bool
				var mid int64
				var conf float32
				must(t, rows.Scan(&outcome, &auto, &mid, &conf, &dry, &file))
				if !auto || mid != modelID || conf < 0.9 || dry != dryRun {
					t.Errorf("decision %s: automatic %v, model %d, confidence %.3f, dry run %v", outcome, auto, mid, conf, dry)
				}
				got = append(got, outcome+" "+file)
			}
			want := []string{"crop 20250101_010000_stage2_upscaled.png", "select 20250101_020000_stage2_upscaled.png", "reject "}
			if !slices.Equal(got, want) {
				t.Errorf("decisions %q, want %q", got, want)
			}
			after := inventory(t, inbox)
			added := checkNothingLost(t, before, after)
			if dryRun {
				if len(added) != 0 || !maps.EqualFunc(before, after, slices.Equal) {
					t.Errorf("dry run changed files: added %v", added)
				}
				return
			}
			for _, p := range []string{
				"__cropped/20250101_010000_stage2_upscaled.png", "__cropped/20250101_010000_stage2_upscaled.decision",
				"__originals/20250101_010000_stage2_upscaled.png", "__delete_staging/20250101_010000_stage1_generated.png",
				"__selected/20250101_020000_stage2_upscaled.png", "__selected/20250101_020000_stage2_upscaled.yaml",
				"__delete_staging/20250101_030000_stage3_enhanced.png", "__delete_staging/20250101_030000_stage1_generated.yaml",
			} {
				if _, err := os.Stat(filepath.Join(proj, p)); err != nil {
					t.Errorf("missing %s: %v", p, err)
				}
			}
			// Box (0.5, 0.3, 0.6) on 80x80: 48x48, shifted to the top edge.
			f, err := os.Open(filepath.Join(proj, "__cropped/20250101_010000_stage2_upscaled.png"))
			must(t, err)
			c, err := png.DecodeConfig(f)
			f.Close()
			must(t, err)
			if c.Width != 48 || c.Height != 48 {
				t.Errorf("auto crop %dx%d, want 48x48 (aspect kept)", c.Width, c.Height)
			}
		})
	}
}

// TestCrashesWhileMovingAreFinishedOnRestart journals a decision's moves
// and stops as a crash would: once before any move, once after some moves
// were made but not all were recorded. The next start finishes them.
func TestCrashesWhileMovingAreFinishedOnRestart(t *testing.T) {
	t.Parallel()
	dbURL, inbox := newInbox(t)
	proj := filepath.Join(inbox, "p")
	stageFiles(t, proj, "20250101_010000", 32, 1, "stage1_generated", "stage1.5_face_swapped", "stage2_upscaled")
	stageFiles(t, proj, "20250101_020000", 32, 2, "stage1_generated", "stage2_upscaled")
	before := inventory(t, inbox)
	cfg := testConfig(t, dbURL, inbox)
	first := startDaemon(t, cfg)
	waitIdle(t, first.db, 60*time.Second)
	must(t, first.stop())

	ctx := context.Background()
	db, err := sql.Open(ctx, dbURL)
	must(t, err)
	defer db.Close()
	flagged := groupIDs(t, db, screend.GroupFlagged)
	for first, chosen := range map[string]string{
		"20250101_010000_stage1_generated.png": "20250101_010000_stage2_upscaled.png",
		"20250101_020000_stage1_generated.png": "20250101_020000_stage2_upscaled.png",
	} {
		_, err := db.Resolve(ctx, sql.Resolution{GroupID: flagged[first], ChosenImageID: imageID(t, db, chosen),
			Crop: []float32{0, 0, 0.5, 0.5}, Reviewer: "carol"})
		must(t, err)
	}
	// Crash 1: the moves of a group are journaled, none is made.
	untouched, err := daemon.JournalNextDecision(ctx, cfg, db)
	must(t, err)
	// Crash 2: the next group's files were partly moved (the crop written,
	// two renames done) but none of it recorded.
	partial, err := daemon.JournalNextDecision(ctx, cfg, db)
	must(t, err)
	if len(untouched) == 0 || len(partial) < 4 {
		t.Fatalf("journaled %d and %d moves", len(untouched), len(partial))
	}
	done := 0
	for _, mv := range partial {
		if mv.Kind == screend.MoveFile && done < 2 {
			must(t, os.MkdirAll(filepath.Dir(mv.Dst), 0o755))
			must(t, os.Rename(mv.Src, mv.Dst))
			done++
		}
	}

	second := startDaemon(t, cfg)
	waitIdle(t, second.db, 30*time.Second)
	var planned, failed int
	must(t, sqltest.Pool(second.db).QueryRow(ctx, `SELECT count(*) FILTER (WHERE state = 'planned'), count(*) FILTER (WHERE state = 'failed') FROM screend.file_moves`).Scan(&planned, &failed))
	if planned != 0 || failed != 0 {
		t.Errorf("%d moves still planned, %d failed after restart", planned, failed)
	}
	for _, mv := range append(untouched, partial...) {
		if _, err := os.Stat(mv.Dst); err != nil {
			t.Errorf("%s not at its destination: %v", mv.Dst, err)
		}
		if mv.Kind == screend.MoveFile {
			if _, err := os.Stat(mv.Src); err == nil {
				t.Errorf("%s still at its source", mv.Src)
			}
		}
	}
	added := checkNothingLost(t, before, inventory(t, inbox))
	if len(added) != 4 { // two crops and two sidecars
		t.Errorf("new files %v, want two crops and two sidecars", added)
	}
}

// TestConflictingGroupIsFlagged drops two pictures where the second holds a
// byte-for-byte copy of a file of the first: once the first is decided, the
// second is flagged conflict, whatever the model's confidence.
func TestConflictingGroupIsFlagged(t *testing.T) {
	t.Parallel()
	onnxrttest.Init(t)
	dbURL, inbox := newInbox(t)
	proj := filepath.Join(inbox, "p")
	a := stageFiles(t, proj, "20250101_010000", 40, 1, "stage1_generated", "stage2_upscaled")
	stageFiles(t, proj, "20250101_020000", 40, 2, "stage1_generated")
	data, err := os.ReadFile(a[1])
	must(t, err)
	must(t, os.WriteFile(filepath.Join(proj, "20250101_020100_stage2_upscaled.png"), data, 0o644))
	cfg := testConfig(t, dbURL, inbox)
	cfg.Settle = time.Second
	d := startDaemon(t, cfg)
	installModel(t, d.db, 498)
	waitIdle(t, d.db, 60*time.Second)
	groups := dbGroups(t, d)
	want := []string{
		"applied [20250101_010000_stage1_generated.png 20250101_010000_stage2_upscaled.png] {}",
		"flagged [20250101_020000_stage1_generated.png 20250101_020100_stage2_upscaled.png] {conflict}",
	}
	if !slices.Equal(groups, want) {
		t.Errorf("groups %q, want %q", groups, want)
	}
}

// TestUnfamiliarGroupIsFlagged checks the nearest-neighbour familiarity
// test against the images of human-decided groups: with a radius smaller
// than any real distance a new picture is unfamiliar; with a generous one it
// is decided.
func TestUnfamiliarGroupIsFlagged(t *testing.T) {
	t.Parallel()
	onnxrttest.Init(t)
	for _, c := range []struct {
		radius float64
		want   string
	}{
		{1e-6, "flagged [20250101_020000_stage1_generated.png 20250101_020000_stage2_upscaled.png] {unfamiliar}"},
		{0.9, "applied [20250101_020000_stage1_generated.png 20250101_020000_stage2_upscaled.png] {}"},
	} {
		t.Run(fmt.Sprint(c.radius), func(t *testing.T) {
			t.Parallel()
			dbURL, inbox := newInbox(t)
			proj := filepath.Join(inbox, "p")
			stageFiles(t, proj, "20250101_010000", 40, 1, "stage1_generated", "stage2_upscaled")
			cfg := testConfig(t, dbURL, inbox)
			cfg.Settle = time.Second
			d := startDaemon(t, cfg)
			waitIdle(t, d.db, 60*time.Second)
			// A human decides the first picture: it is the training data.
			first := groupIDs(t, d.db, screend.GroupFlagged)["20250101_010000_stage1_generated.png"]
			_, err := d.db.Resolve(context.Background(), sql.Resolution{GroupID: first,
				ChosenImageID: imageID(t, d.db, "20250101_010000_stage2_upscaled.png"), Reviewer: "erin"})
			must(t, err)
			waitIdle(t, d.db, 30*time.Second)
			installModel(t, d.db, 498, func(p *model.Params) { p.UnfamiliarDistance = c.radius })
			time.Sleep(3 * time.Second) // the decider loads the model
			stageFiles(t, proj, "20250101_020000", 40, 7, "stage1_generated", "stage2_upscaled")
			waitIdle(t, d.db, 60*time.Second)
			groups := dbGroups(t, d)
			if len(groups) != 2 || groups[1] != c.want {
				t.Errorf("groups %q, want the second %q", groups, c.want)
			}
		})
	}
}
