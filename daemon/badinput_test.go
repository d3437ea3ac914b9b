package daemon_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"screend/sql/sqltest"

	"screend/scoring/embed"
	"screend/scoring/onnxmodel"
	"screend/scoring/onnxrt/onnxrttest"
	"screend/sql"
)

func TestOversizedAndVanishedFiles(t *testing.T) {
	t.Parallel()
	dbURL, inbox := newInbox(t)
	proj := filepath.Join(inbox, "p")
	writePNG(t, filepath.Join(proj, "20250101_000000_stage1_generated.png"), photo(40, 40, 1))
	writePNG(t, filepath.Join(proj, "huge.png"), photo(80, 80, 2)) // 6400 pixels, over the limit below
	cfg := testConfig(t, dbURL, inbox)
	cfg.MaxPixels = 5000

	// A file recorded while the daemon was down that vanished before it
	// could be processed.
	ctx := context.Background()
	db, err := sql.Open(ctx, dbURL)
	must(t, err)
	pid, err := db.EnsureProject(ctx, inbox, "p")
	must(t, err)
	_, err = db.RecordFiles(ctx, []sql.NewFile{{ProjectID: pid, Path: filepath.Join(proj, "gone.png"),
		RelPath: "gone.png", FileName: "gone.png", Size: 10, MTime: time.Now().Truncate(time.Microsecond)}}, nil)
	must(t, err)
	db.Close()

	d := startDaemon(t, cfg)
	st := waitIdle(t, d.db, 30*time.Second)
	if st.Images["embedded"] != 1 || st.Images["quarantined"] != 1 || st.Images["gone"] != 1 {
		t.Errorf("images %v, want 1 embedded, 1 quarantined (too large), 1 gone", st.Images)
	}
	var reason string
	must(t, sqltest.Pool(d.db).QueryRow(ctx, `SELECT reason FROM screend.images WHERE file_name = 'huge.png'`).Scan(&reason))
	if !strings.HasPrefix(reason, "too large") {
		t.Errorf("huge.png quarantined for %q, want too large", reason)
	}
	if _, err := os.Stat(filepath.Join(proj, "__quarantine", "huge.png")); err != nil {
		t.Errorf("huge.png not quarantined: %v", err)
	}
	must(t, sqltest.Pool(d.db).QueryRow(ctx, `SELECT reason FROM screend.images WHERE file_name = 'gone.png'`).Scan(&reason))
	if !strings.Contains(reason, "vanished") {
		t.Errorf("gone.png recorded with %q", reason)
	}
}

// TestONNXEmbedderInThePipeline runs the daemon with a small ONNX encoder
// (mean colour through a linear layer) and its preprocessor_config.json.
func TestONNXEmbedderInThePipeline(t *testing.T) {
	t.Parallel()
	onnxrttest.Init(t)
	emb := testEncoder(t)

	dbURL, inbox := newInbox(t)
	for i := range 6 {
		stageFiles(t, filepath.Join(inbox, "p"), "20250101_00"+twoDigits(i)+"00", 48, uint64(500+i), "stage1_generated", "stage2_upscaled")
	}
	d := startDaemonWith(t, testConfig(t, dbURL, inbox), emb)
	st := waitIdle(t, d.db, 60*time.Second)
	if st.Images["embedded"] != 12 || st.Groups["flagged"] != 6 {
		t.Fatalf("status %+v, want 12 images embedded in 6 flagged groups", st)
	}
	var name string
	var dims, n int
	must(t, sqltest.Pool(d.db).QueryRow(context.Background(), `
		SELECT e.name, vector_dims(v.embedding), count(*) FROM screend.embeddings v JOIN screend.embedders e USING (embedder_id)
		GROUP BY 1, 2`).Scan(&name, &dims, &n))
	if name != emb.ID() || !strings.HasPrefix(name, "onnx:") || dims != 8 || n != 12 {
		t.Errorf("stored %d vectors of %d dims from %s, want 12 of 8 from %s", n, dims, name, emb.ID())
	}
}

// TestSwitchingEmbedderEmbedsAgain runs the daemon with the built-in
// embedder, then with an ONNX encoder: every image gets a vector of the new
// model too, and the vectors of the two are kept apart.
func TestSwitchingEmbedderEmbedsAgain(t *testing.T) {
	t.Parallel()
	onnxrttest.Init(t)
	dbURL, inbox := newInbox(t)
	for i := range 3 {
		stageFiles(t, filepath.Join(inbox, "p"), "20250101_00"+twoDigits(i)+"00", 40, uint64(800+i), "stage1_generated", "stage2_upscaled")
	}
	cfg := testConfig(t, dbURL, inbox)
	first := startDaemon(t, cfg)
	waitIdle(t, first.db, 60*time.Second)
	must(t, first.stop())

	emb := testEncoder(t)
	second := startDaemonWith(t, cfg, emb)
	// Idle only counts once the new embedder is registered and the images
	// queued again (creating its index takes a while on a loaded machine).
	eventually(t, func() bool {
		var n int
		err := sqltest.Pool(second.db).QueryRow(context.Background(), `SELECT count(*) FROM screend.embedders`).Scan(&n)
		return err == nil && n == 2
	}, "the second embedder to be registered")
	waitIdle(t, second.db, 60*time.Second)
	rows, err := sqltest.Pool(second.db).Query(context.Background(), `
		SELECT e.name, count(*), min(vector_dims(v.embedding)) FROM screend.embeddings v JOIN screend.embedders e USING (embedder_id)
		GROUP BY e.name ORDER BY e.name`)
	must(t, err)
	var got []string
	for rows.Next() {
		var name string
		var n, dims int
		must(t, rows.Scan(&name, &n, &dims))
		got = append(got, fmt.Sprintf("%s:%d:%d", strings.SplitN(name, ":", 2)[0], n, dims))
	}
	if want := []string{builtinID + ":6:498", "onnx:6:8"}; !slices.Equal(got, want) {
		t.Errorf("vectors by embedder %v, want %v", got, want)
	}
}

// testEncoder writes a small ONNX image encoder (mean colour through a
// linear layer to 8 dimensions) with its preprocessor_config.json and opens
// it with two lanes, so that the pipeline embeds two batches at once.
func testEncoder(t *testing.T) *embed.ONNX {
	t.Helper()
	dir := t.TempDir()
	g := onnxmodel.NewGraph("encoder")
	x := g.Input("pixel_values", onnxmodel.Batch, 3, 32, 32)
	pooled := g.Flatten(g.GlobalAveragePool(x), 1)
	w := make([]float32, 3*8)
	for i := range w {
		w[i] = float32(i%5) - 2
	}
	g.Output("embeddings", g.Dense(pooled, w, nil, 3, 8, onnxmodel.ActNone), onnxmodel.Batch, 8)
	data, err := g.Marshal()
	must(t, err)
	modelPath := filepath.Join(dir, "encoder.onnx")
	must(t, os.WriteFile(modelPath, data, 0o644))
	must(t, os.WriteFile(filepath.Join(dir, "preprocessor_config.json"), []byte(`{
		"do_resize": true, "size": {"shortest_edge": 32}, "do_center_crop": true, "crop_size": 32,
		"do_normalize": true, "image_mean": [0.5, 0.5, 0.5], "image_std": [0.25, 0.25, 0.25], "resample": 3}`), 0o644))
	emb, err := embed.NewONNX(modelPath, embed.ONNXOptions{IntraOpThreads: 1, Lanes: 2, MaxBatch: 4})
	must(t, err)
	t.Cleanup(func() { emb.Close() })
	return emb
}
