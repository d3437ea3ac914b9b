package daemon_test

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

	"screend/scoring/group"
)

func TestIntakeEmbedsGroupsAndFlagsWithoutModel(t *testing.T) {
	t.Parallel()
	dbURL, inbox := newInbox(t)
	proj := filepath.Join(inbox, "mojo3")
	stageFiles(t, proj, "20250708_060558", 64, 1, "stage1_generated", "stage1.5_face_swapped", "stage2_upscaled")
	stageFiles(t, filepath.Join(proj, "batch2"), "20250708_061000", 64, 2, "stage1_generated", "stage2_upscaled")
	stageFiles(t, proj, "20250708_070000", 64, 3, "stage1_generated") // a single image
	writePNG(t, filepath.Join(proj, "copy_of_single.png"), photo(64, 64, 3))

	// Bad input: each must be quarantined with its reason.
	must(t, os.WriteFile(filepath.Join(proj, "empty.png"), nil, 0o644))
	must(t, os.WriteFile(filepath.Join(proj, "notes.png"), []byte("not an image at all"), 0o644))
	good, err := os.ReadFile(filepath.Join(proj, "20250708_060558_stage1_generated.png"))
	must(t, err)
	must(t, os.WriteFile(filepath.Join(proj, "cut.png"), good[:len(good)/2], 0o644))

	// Ignored: output folders, dot-files, temporary names, other files.
	writePNG(t, filepath.Join(proj, "__selected", "old.png"), photo(16, 16, 9))
	writePNG(t, filepath.Join(proj, ".hidden.png"), photo(16, 16, 9))
	writePNG(t, filepath.Join(proj, "upload.png.part"), photo(16, 16, 9))
	writePNG(t, filepath.Join(inbox, "loose.png"), photo(16, 16, 9)) // in no project

	d := startDaemon(t, testConfig(t, dbURL, inbox))
	st := waitIdle(t, d.db, 60*time.Second)

	if got := st.Images; got["embedded"] != 6 || got["duplicate"] != 1 || got["quarantined"] != 3 || len(got) != 3 {
		t.Errorf("images by state = %v, want 6 embedded, 1 duplicate, 3 quarantined", got)
	}
	ctx := context.Background()
	var vectors int
	must(t, sqltest.Pool(d.db).QueryRow(ctx, `SELECT count(*) FROM screend.embeddings`).Scan(&vectors))
	if vectors != 6 {
		t.Errorf("%d embeddings stored, want one per embedded image (6)", vectors)
	}

	rows, err := sqltest.Pool(d.db).Query(ctx, `SELECT file_name, reason, path FROM screend.images WHERE state = 'quarantined' ORDER BY file_name`)
	must(t, err)
	reasons := map[string]string{}
	for rows.Next() {
		var name, reason, path string
		must(t, rows.Scan(&name, &reason, &path))
		reasons[name] = reason
		if want := filepath.Join(proj, "__quarantine", name); path != want {
			t.Errorf("%s recorded at %s, want %s", name, path, want)
		}
		if _, err := os.Stat(filepath.Join(proj, "__quarantine", name)); err != nil {
			t.Errorf("%s not in __quarantine: %v", name, err)
		}
		if _, err := os.Stat(filepath.Join(proj, name)); err == nil {
			t.Errorf("%s still in the project folder", name)
		}
	}
	for name, prefix := range map[string]string{"empty.png": "empty", "notes.png": "not an image", "cut.png": "truncated"} {
		if !strings.HasPrefix(reasons[name], prefix) {
			t.Errorf("%s quarantined with reason %q, want %q...", name, reasons[name], prefix)
		}
	}

	var dupOf string
	must(t, sqltest.Pool(d.db).QueryRow(ctx, `
		SELECT o.file_name FROM screend.images i JOIN screend.images o ON o.image_id = i.duplicate_of
		WHERE i.state = 'duplicate'`).Scan(&dupOf))
	if dupOf != "20250708_070000_stage1_generated.png" && dupOf != "copy_of_single.png" {
		t.Errorf("duplicate recorded of %s", dupOf)
	}

	groups := dbGroups(t, d)
	want := []string{
		"flagged [20250708_060558_stage1_generated.png 20250708_060558_stage1.5_face_swapped.png 20250708_060558_stage2_upscaled.png] {no_model}",
		"flagged [batch2/20250708_061000_stage1_generated.png batch2/20250708_061000_stage2_upscaled.png] {no_model}",
	}
	for _, w := range want {
		if !slices.Contains(groups, w) {
			t.Errorf("missing group %q in %q", w, groups)
		}
	}
	singles := 0
	for _, g := range groups {
		if strings.HasSuffix(g, "{no_model,single_image}") {
			singles++
		}
	}
	if singles != 2 || len(groups) != 4 {
		t.Errorf("groups = %q, want the 2 above and 2 single-image groups", groups)
	}
}

func TestRestartDoesNotReadProcessedFilesAgain(t *testing.T) {
	t.Parallel()
	dbURL, inbox := newInbox(t)
	for i := range 5 {
		stageFiles(t, filepath.Join(inbox, "p"), "20250101_00000"+string(rune('0'+i)), 32, uint64(i), "stage1_generated", "stage2_upscaled")
	}
	cfg := testConfig(t, dbURL, inbox)
	first := startDaemon(t, cfg)
	waitIdle(t, first.db, 60*time.Second)
	must(t, first.stop())

	second := startDaemon(t, cfg)
	time.Sleep(3 * time.Second) // a full scan and a few poll rounds
	st := waitIdle(t, second.db, 30*time.Second)
	var attempts, vectors int
	must(t, sqltest.Pool(second.db).QueryRow(context.Background(),
		`SELECT (SELECT max(attempts) FROM screend.images), (SELECT count(*) FROM screend.embeddings)`).Scan(&attempts, &vectors))
	if attempts != 1 || vectors != 10 || st.Images["embedded"] != 10 {
		t.Errorf("after restart: max attempts %d, %d vectors, images %v; want every file processed once", attempts, vectors, st.Images)
	}
}

func TestTwoInstancesProcessEachFileOnce(t *testing.T) {
	t.Parallel()
	dbURL, inbox := newInbox(t)
	for i := range 20 {
		stageFiles(t, filepath.Join(inbox, "p"), "20250101_0100"+twoDigits(i), 48, uint64(100+i), "stage1_generated", "stage1.5_face_swapped", "stage2_upscaled")
	}
	cfg := testConfig(t, dbURL, inbox)
	a := startDaemon(t, cfg)
	startDaemon(t, cfg)
	st := waitIdle(t, a.db, 90*time.Second)
	var attempts, vectors, instances int
	must(t, sqltest.Pool(a.db).QueryRow(context.Background(), `
		SELECT (SELECT max(attempts) FROM screend.images), (SELECT count(*) FROM screend.embeddings),
		       (SELECT count(*) FROM screend.instances)`).Scan(&attempts, &vectors, &instances))
	if attempts != 1 || vectors != 60 || st.Images["embedded"] != 60 || st.Groups["flagged"] != 20 {
		t.Errorf("max attempts %d, %d vectors, images %v, groups %v; want 60 images embedded once in 20 groups",
			attempts, vectors, st.Images, st.Groups)
	}
	if instances != 2 {
		t.Errorf("%d instances registered, want 2", instances)
	}
}

// TestLiveGroupsEqualPlan drops the files of many pictures in random order,
// a few at a time, and checks the groups formed live are those `plan`
// gives on the final folder.
func TestLiveGroupsEqualPlan(t *testing.T) {
	t.Parallel()
	dbURL, inbox := newInbox(t)
	staging := t.TempDir()
	shapes := [][]string{
		{"stage1_generated", "stage1.5_face_swapped", "stage2_upscaled"},
		{"stage1_generated", "stage2_upscaled"},
		{"stage1_generated", "stage1.5_face_swapped", "stage2_upscaled", "stage3_enhanced"},
		{"stage2_upscaled", "stage3_enhanced"},
		{"stage1_generated"},
	}
	var files []string
	for i := range 15 {
		stamp := "20250301_12" + twoDigits(i) + "00"
		files = append(files, stageFiles(t, filepath.Join(staging, "proj"), stamp, 24, uint64(200+i), shapes[i%len(shapes)]...)...)
	}
	r := rand.New(rand.NewPCG(7, 7))
	r.Shuffle(len(files), func(i, j int) { files[i], files[j] = files[j], files[i] })

	d := startDaemon(t, testConfig(t, dbURL, inbox))
	for i, f := range files {
		dst := filepath.Join(inbox, "proj", filepath.Base(f))
		must(t, os.MkdirAll(filepath.Dir(dst), 0o755))
		must(t, os.Rename(f, dst)) // renamed into place, as a careful writer does
		if i%4 == 3 {
			time.Sleep(150 * time.Millisecond)
		}
	}
	waitIdle(t, d.db, 60*time.Second)

	planned, err := group.FormDir(inbox)
	must(t, err)
	var want []string
	for _, g := range planned {
		want = append(want, strings.Join(g.Images, " "))
	}
	got := dbGroupPaths(t, d, 2)
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("live groups differ from plan:\n got  %q\n want %q", got, want)
	}
}

// TestFilesArrivingInOrderCloseGroupsBeforeSettle drops stage files one
// by one in the order a pipeline writes them: each group closes as soon as
// the next picture's first file ends it, long before the project settles.
func TestFilesArrivingInOrderCloseGroupsBeforeSettle(t *testing.T) {
	t.Parallel()
	dbURL, inbox := newInbox(t)
	cfg := testConfig(t, dbURL, inbox)
	cfg.Settle = time.Hour
	d := startDaemon(t, cfg)
	staging := t.TempDir()
	for i := range 3 {
		paths := stageFiles(t, staging, "20250401_10"+twoDigits(i)+"00", 32, uint64(300+i), "stage1_generated", "stage1.5_face_swapped", "stage2_upscaled")
		for _, p := range paths {
			must(t, os.MkdirAll(filepath.Join(inbox, "live"), 0o755))
			must(t, os.Rename(p, filepath.Join(inbox, "live", filepath.Base(p))))
			time.Sleep(400 * time.Millisecond)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		groups := dbGroups(t, d)
		flagged := 0
		for _, g := range groups {
			if strings.HasPrefix(g, "flagged ") {
				flagged++
			}
		}
		// The last picture could still get a stage-3 file: it stays open.
		if flagged == 2 && len(groups) == 3 && strings.HasPrefix(groups[2], "open ") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("groups = %q, want the first two flagged and the last open", groups)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestSlowWriterIsNotTakenHalfWritten(t *testing.T) {
	t.Parallel()
	dbURL, inbox := newInbox(t)
	d := startDaemon(t, testConfig(t, dbURL, inbox))
	src := filepath.Join(t.TempDir(), "x.png")
	writePNG(t, src, photo(128, 128, 5))
	data, err := os.ReadFile(src)
	must(t, err)
	dst := filepath.Join(inbox, "p", "20250101_000000_stage1_generated.png")
	must(t, os.MkdirAll(filepath.Dir(dst), 0o755))
	f, err := os.Create(dst)
	must(t, err)
	chunk := len(data)/8 + 1
	for off := 0; off < len(data); off += chunk {
		_, err := f.Write(data[off:min(off+chunk, len(data))])
		must(t, err)
		time.Sleep(150 * time.Millisecond) // under the 300ms stable window
	}
	must(t, f.Close())
	st := waitIdle(t, d.db, 30*time.Second)
	if st.Images["embedded"] != 1 || st.Images["quarantined"] != 0 {
		t.Errorf("images = %v, want the slowly written file embedded", st.Images)
	}
}

// dbGroups lists every group as "state [rel paths] {reasons}".
func dbGroups(t *testing.T, d *running) []string {
	t.Helper()
	rows, err := sqltest.Pool(d.db).Query(context.Background(), `
		SELECT g.state, array_agg(i.rel_path ORDER BY gi.position), g.reasons
		FROM screend.groups g JOIN screend.group_images gi USING (group_id) JOIN screend.images i USING (image_id)
		GROUP BY g.group_id ORDER BY g.group_id`)
	must(t, err)
	var out []string
	for rows.Next() {
		var state string
		var paths, reasons []string
		must(t, rows.Scan(&state, &paths, &reasons))
		out = append(out, state+" ["+strings.Join(paths, " ")+"] {"+strings.Join(reasons, ",")+"}")
	}
	return out
}

// dbGroupPaths lists groups of at least min images as space-separated paths
// relative to the inbox root.
func dbGroupPaths(t *testing.T, d *running, minSize int) []string {
	t.Helper()
	rows, err := sqltest.Pool(d.db).Query(context.Background(), `
		SELECT array_agg(p.name || '/' || i.rel_path ORDER BY gi.position)
		FROM screend.groups g JOIN screend.group_images gi USING (group_id)
		JOIN screend.images i USING (image_id) JOIN screend.projects p ON p.project_id = g.project_id
		GROUP BY g.group_id HAVING count(*) >= $1`, minSize)
	must(t, err)
	var out []string
	for rows.Next() {
		var paths []string
		must(t, rows.Scan(&paths))
		out = append(out, strings.Join(paths, " "))
	}
	return out
}

func twoDigits(i int) string { return string(rune('0'+i/10)) + string(rune('0'+i%10)) }

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
