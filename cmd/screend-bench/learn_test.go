package main

import (
	"context"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"screend/cmd/screend-bench/internal/corpus"
	"screend/scoring/onnxrt/onnxrttest"
	"screend/training"
)

// writeTestPhotos writes n synthetic "photographs" (smooth colour fields
// with a few shapes and some grain) into dir.
func writeTestPhotos(t *testing.T, dir string, n int) {
	t.Helper()
	for k := range n {
		rng := rand.New(rand.NewPCG(uint64(k), 3))
		w, h := 480, 360
		img := image.NewRGBA(image.Rect(0, 0, w, h))
		type blob struct{ x, y, r float64 }
		var blobs []blob
		for range 6 {
			blobs = append(blobs, blob{rng.Float64() * float64(w), rng.Float64() * float64(h), 20 + 60*rng.Float64()})
		}
		c0 := [3]float64{255 * rng.Float64(), 255 * rng.Float64(), 255 * rng.Float64()}
		c1 := [3]float64{255 * rng.Float64(), 255 * rng.Float64(), 255 * rng.Float64()}
		for y := range h {
			for x := range w {
				f := float64(y) / float64(h)
				var px [3]float64
				for c := range 3 {
					px[c] = c0[c]*(1-f) + c1[c]*f
				}
				for i, b := range blobs {
					if d := math.Hypot(float64(x)-b.x, float64(y)-b.y); d < b.r {
						px[i%3] = 255 - px[i%3]*0.5
					}
				}
				g := 12 * rng.NormFloat64()
				img.SetRGBA(x, y, color.RGBA{clampByte(px[0] + g), clampByte(px[1] + g), clampByte(px[2] + g), 255})
			}
		}
		f, err := os.Create(filepath.Join(dir, "photo"+string(rune('a'+k))+".png"))
		if err != nil {
			t.Fatal(err)
		}
		if err := png.Encode(f, img); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func clampByte(v float64) uint8 { return uint8(math.Max(0, math.Min(255, v+0.5))) }

// jsonKeys returns the JSON names of a struct type's fields.
func jsonKeys(t reflect.Type) []string {
	var out []string
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			out = append(out, name)
		}
	}
	return out
}

// TestLearnTinyCorpus runs the whole learn path on a tiny corpus made from
// generated photos and checks the report and the split.
func TestLearnTinyCorpus(t *testing.T) {
	onnxrttest.Init(t) // runLearn initialises the same library again, a no-op
	start := time.Now()
	ctx := context.Background()
	tmp := t.TempDir()
	photos, dir, reportDir := filepath.Join(tmp, "photos"), filepath.Join(tmp, "corpus"), filepath.Join(tmp, "report")
	if err := os.MkdirAll(photos, 0o755); err != nil {
		t.Fatal(err)
	}
	writeTestPhotos(t, photos, 4)
	m, err := corpus.Generate(ctx, corpus.Options{
		Photos: photos, Out: dir, Seed: 3, Pictures: 80, Projects: 2, AnomalyRate: 0.15,
		Sizes: []image.Point{{96, 96}, {80, 112}}, Workers: 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	opts := learnOptions{
		Corpus: dir, ReportDir: reportDir, Seed: 2,
		Training: training.Config{MaxEpochs: 8, RankerHidden: []int{8}, CropHidden: []int{8}, RejectHidden: []int{8}},
	}
	res, err := runLearn(ctx, opts, log)
	if err != nil {
		t.Fatal(err)
	}
	if res.Embedded != m.Images || res.Cached != 0 {
		t.Errorf("embedded %d, cached %d; want %d and 0", res.Embedded, res.Cached, m.Images)
	}
	if res.Examples.Groups != 80 || res.Split.Train+res.Split.Test != 80 || res.Split.Test == 0 {
		t.Errorf("examples %+v, split %+v", res.Examples, res.Split)
	}

	// report.json has every field, the overall metrics too
	data, err := os.ReadFile(filepath.Join(reportDir, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		t.Fatal(err)
	}
	for _, k := range jsonKeys(reflect.TypeFor[training.Report]()) {
		if _, ok := raw[k]; !ok {
			t.Errorf("report.json lacks %q", k)
		}
	}
	var overall map[string]json.RawMessage
	if err := json.Unmarshal(raw["overall"], &overall); err != nil {
		t.Fatal(err)
	}
	for _, k := range jsonKeys(reflect.TypeFor[training.Metrics]()) {
		if _, ok := overall[k]; !ok {
			t.Errorf("report.json overall lacks %q", k)
		}
	}
	var rep training.Report
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.EvaluatedOn != "test" || len(rep.RiskCoverage) == 0 || len(rep.Losses) != 3 || rep.Overall.Groups != res.Split.Test {
		t.Errorf("report: evaluated on %q, %d risk-coverage points, %d loss curves, %d groups (test %d)",
			rep.EvaluatedOn, len(rep.RiskCoverage), len(rep.Losses), rep.Overall.Groups, res.Split.Test)
	}
	for _, f := range []string{"risk_coverage.png", "reliability.png", "losses.png", "learn.json", "summary.md"} {
		if st, err := os.Stat(filepath.Join(reportDir, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
	md, _ := os.ReadFile(filepath.Join(reportDir, "summary.md"))
	for _, s := range []string{"generator seed | 3", "highest-stage baseline", "anomaly groups", "decided alone", "Wilson"} {
		if !strings.Contains(string(md), s) {
			t.Errorf("summary.md lacks %q", s)
		}
	}

	// the evaluated groups are exactly the test groups, none fitted on
	g := rep.Groups
	if len(g.Evaluated) != res.Split.Test || len(g.Train) != res.Split.Train {
		t.Errorf("group lists %d/%d, split %+v", len(g.Train), len(g.Evaluated), res.Split)
	}
	fitted := map[string]bool{}
	for _, k := range g.Train {
		fitted[k] = true
	}
	for _, k := range g.Evaluated {
		if fitted[k] {
			t.Errorf("test group %s was also used for fitting", k)
		}
	}
	if !res.Disjoint {
		t.Error("learn result says the sets are not disjoint")
	}

	// a second run reads every embedding from the cache
	res2, err := runLearn(ctx, opts, log)
	if err != nil {
		t.Fatal(err)
	}
	if res2.Embedded != 0 || res2.Cached != m.Images || !reflect.DeepEqual(res2.Overall, res.Overall) {
		t.Errorf("second run: embedded %d, cached %d; same metrics %v", res2.Embedded, res2.Cached, reflect.DeepEqual(res2.Overall, res.Overall))
	}
	// the learning curve: trained on training photographs, tested on the others
	cur, err := runCurve(ctx, curveOptions{Corpus: dir, ReportDir: filepath.Join(tmp, "curve"), Reviewed: []int{30, 45},
		Embedders: []string{"builtin"}, Seed: 1, Workers: 2, Training: opts.Training}, "test", log)
	if err != nil {
		t.Fatal(err)
	}
	if len(cur.Points) != 2 || cur.TestGroups == 0 || cur.TrainPool+cur.TestGroups != 80 || cur.Points[1].Test.Groups != cur.TestGroups {
		t.Errorf("curve: %d points, pool %d, test %d", len(cur.Points), cur.TrainPool, cur.TestGroups)
	}
	for _, f := range []string{"curve.json", "curve.md", "curve.png"} {
		if _, err := os.Stat(filepath.Join(tmp, "curve", f)); err != nil {
			t.Error(err)
		}
	}
	if d := time.Since(start); d > time.Minute {
		t.Errorf("took %v, want under a minute", d)
	}
}
