package model

import (
	"context"
	"encoding/json"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"

	"screend"

	"screend/scoring/embed"
	"screend/scoring/onnxmodel"
	"screend/scoring/onnxrt/onnxrttest"
)

func img(stage float64, w, h int, emb ...float32) Image {
	return Image{Embedding: emb, Stage: stage, Width: w, Height: h}
}

// TestLocalChange: a stage that changed one region more than the others
// is flagged against both neighbours, a stage that changed everywhere
// alike is not, and a grid that does not fit the embedding is ignored.
func TestLocalChange(t *testing.T) {
	t.Parallel()
	// 4 regions, 2 blocks of 1 value each: region c is values c and 4+c.
	grid := embed.Grid{Cols: 2, Rows: 2, Blocks: []embed.GridBlock{{Offset: 0, Width: 1}, {Offset: 4, Width: 1}}}
	base := []float32{1, 1, 1, 1, 1, 1, 1, 1}
	local := []float32{1, 1, 1.3, 1, 1, 1, 1.4, 1}      // region 2 changed by (0.3, 0.4): 0.5
	global := []float32{1.1, 1.1, 1.1, 1.1, 1, 1, 1, 1} // every region by 0.1
	lc := func(m [][]float32, i int) (float64, float64) {
		return float64(m[i][slices.Index(MetaNames[:], "local_change_lower")]), float64(m[i][slices.Index(MetaNames[:], "local_change_higher")])
	}
	m := MetaFeatures([]Image{img(1, 8, 8, base...), img(2, 16, 16, local...), img(3, 24, 24, local...)}, grid)
	near := func(a, b float64) bool { return math.Abs(a-b) < 1e-6 }
	if lo, hi := lc(m, 0); !near(lo, 0) || !near(hi, 0.5) {
		t.Errorf("stage 1: local changes %v, %v; want 0 (no lower stage), 0.5", lo, hi)
	}
	if lo, hi := lc(m, 1); !near(lo, 0.5) || !near(hi, 0) {
		t.Errorf("stage 2: local changes %v, %v; want 0.5, 0 (stage 3 is the same)", lo, hi)
	}
	m = MetaFeatures([]Image{img(1, 8, 8, base...), img(2, 16, 16, global...)}, grid)
	if lo, _ := lc(m, 1); !near(lo, 0) {
		t.Errorf("a change everywhere alike: local change %v, want 0", lo)
	}
	tooBig := embed.Grid{Cols: 4, Rows: 2, Blocks: grid.Blocks}
	m = MetaFeatures([]Image{img(1, 8, 8, base...), img(2, 16, 16, local...)}, tooBig)
	if lo, _ := lc(m, 1); lo != 0 {
		t.Errorf("a grid beyond the embedding: local change %v, want 0", lo)
	}
}

// TestDetailOutsideFrame: detail in the bottom of the picture lies mostly
// outside the frame people keep (PriorCrop: x 0.14-0.86, y 0-0.72), detail
// at the top mostly inside; colour blocks do not count, and without detail
// the share is 0.5.
func TestDetailOutsideFrame(t *testing.T) {
	t.Parallel()
	grid := embed.Grid{Cols: 2, Rows: 2, Blocks: []embed.GridBlock{{Offset: 0, Width: 1}, {Offset: 4, Width: 2, Detail: true}}}
	for _, c := range []struct {
		name string
		emb  []float32
		want float64
	}{
		// a top cell keeps 0.72 of its width and all its height inside
		{"top", []float32{9, 9, 9, 9, 1, 0, 0, 1, 0, 0, 0, 0}, 1 - 0.72},
		// a bottom cell keeps 0.72 of its width and 0.44 of its height
		{"bottom", []float32{9, 9, 9, 9, 0, 0, 0, 0, 3, 4, 0, 5}, 1 - 0.72*0.44},
		{"no detail", []float32{9, 9, 9, 9, 0, 0, 0, 0, 0, 0, 0, 0}, 0.5},
		// regions count by their detail's magnitude, not its energy
		{"magnitude", []float32{9, 9, 9, 9, 1, 0, 0, 0, 2, 0, 0, 0}, 1 - (0.72+2*0.72*0.44)/3},
	} {
		if got := DetailOutsideFrame(c.emb, grid); math.Abs(got-c.want) > 1e-6 {
			t.Errorf("%s: detail outside the frame %v, want %v", c.name, got, c.want)
		}
	}
	if got := DetailOutsideFrame(make([]float32, 12), embed.Grid{}); got != 0.5 {
		t.Errorf("no grid: %v, want 0.5", got)
	}
}

// TestDetailAndPrior: the detail is measured on the group's lowest stage,
// and the prior box's scale follows it when FrameScale is set, anchored at
// the top and clamped to the picture.
func TestDetailAndPrior(t *testing.T) {
	t.Parallel()
	grid := embed.Grid{Cols: 1, Rows: 2, Blocks: []embed.GridBlock{{Offset: 0, Width: 1, Detail: true}}}
	p := Params{Grid: grid}
	group := []Image{{Stage: 2, Embedding: []float32{1, 0}}, {Stage: 1, Embedding: []float32{0, 1}}}
	if got, want := p.Detail(group), 1-0.72*0.44; math.Abs(got-want) > 1e-9 {
		t.Errorf("detail %v, want %v (the stage-1 image's, all at the bottom)", got, want)
	}
	if got := p.Detail(nil); got != 0.5 {
		t.Errorf("empty group: detail %v, want 0.5", got)
	}
	for _, c := range []struct {
		name   string
		scale  Linear
		detail float64
		want   [3]float64
	}{
		{"no line: PriorCrop", Linear{}, 0.9, PriorCrop},
		{"tight for dull margins", Linear{A: 0.2, B: 1}, 0.3, [3]float64{0.5, 0.25, 0.5}},
		{"clamped to the picture", Linear{A: 0.2, B: 1}, 0.95, [3]float64{0.5, 0.5, 1}},
	} {
		got := Params{FrameScale: c.scale}.Prior(c.detail)
		for k := range got {
			if math.Abs(got[k]-c.want[k]) > 1e-9 {
				t.Errorf("%s: prior %v, want %v", c.name, got, c.want)
				break
			}
		}
	}
	shrunk := Params{FrameScale: Linear{A: 0.2, B: 1}, BoxShrink: 1}.CropBox([3]float32{0.1, 0.9, 0.3}, 0.3)
	if want := (screend.Box{0.25, 0, 0.75, 0.5}); shrunk != want {
		t.Errorf("box shrunk to the prior %v, want %v", shrunk, want)
	}
}

func TestMetaFeatures(t *testing.T) {
	t.Parallel()
	group := []Image{img(1, 1024, 1024, 1, 0), img(1.5, 1024, 1024, 0.6, 0.8), img(2, 2048, 2048, 0, 1)}
	m := MetaFeatures(group, embed.Grid{}) // no grid: no local changes
	want := [][]float32{
		{1.0 / 3, 0, 0, 0, 20.0 / 24, 0, 0.25, 0.75, 0, 1.0 / 3, 0, 0.4, 0, 0},
		{0.5, 0, 0.5, 0, 20.0 / 24, 0, 0.25, 0.75, 0, 0.5 / 3, 0.4, 0.2, 0, 0},
		{2.0 / 3, 1, 1, 0, 22.0 / 24, 0, 1, 0.75, 0, 0, 0.2, 0, 0, 0},
	}
	for i := range want {
		for j := range want[i] {
			if math.Abs(float64(m[i][j]-want[i][j])) > 1e-6 {
				t.Errorf("image %d feature %s = %v, want %v", i, MetaNames[j], m[i][j], want[i][j])
			}
		}
	}
	// stage-less and single images
	m = MetaFeatures([]Image{img(0, 832, 1216)}, embed.Grid{})
	if m[0][3] != 1 || m[0][1] != 1 || m[0][2] != 1 || m[0][8] != 1 || m[0][5] >= 0 {
		t.Errorf("single stage-less portrait image: %v", m[0])
	}
	// a zero size does not produce NaN or Inf
	for _, v := range MetaFeatures([]Image{img(1, 0, 0), img(2, 10, 10)}, embed.Grid{})[0] {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			t.Fatalf("non-finite feature for a 0x0 image")
		}
	}
	if got := HighestStage([]Image{img(2, 1, 1), img(3, 1, 1), img(3, 1, 1), img(1, 1, 1)}); got != 1 {
		t.Errorf("HighestStage = %d, want 1", got)
	}
}

func testParams() Params {
	p := DefaultParams("test", 2)
	p.Thresholds = Thresholds{Select: 0.8, Crop: 0.7, Reject: 0.9}
	return p
}

func TestDecide(t *testing.T) {
	t.Parallel()
	group := []Image{img(1, 1024, 1024), img(2, 2048, 2048)}
	box := [][3]float32{{0.5, 0.5, 1}, {0.5, 0.3, 0.6}}
	sig := func(z float64) float64 { return 1 / (1 + math.Exp(-z)) }
	for _, c := range []struct {
		name     string
		raw      Raw
		kind     screend.OutcomeKind
		chosen   int
		conf     float64
		reasons  []screend.Reason
		auto     bool
		applyBox bool
	}{
		{"confident select", Raw{[]float32{0, 8}, []float32{0, -6}, box, []float32{-6, -6}}, screend.OutcomeSelect, 1,
			(1 - sig(-6)) * (1 / (1 + math.Exp(-8))) * (1 - sig(-6)), nil, true, false},
		{"confident crop", Raw{[]float32{8, 0}, []float32{6, 6}, box, []float32{-6, -6}}, screend.OutcomeCrop, 0,
			(1 - sig(-6)) * (1 / (1 + math.Exp(-8))) * sig(6), nil, true, true},
		{"low margin", Raw{[]float32{0, 0.5}, []float32{0, -6}, box, []float32{-6, -6}}, screend.OutcomeSelect, 1,
			(1 - sig(-6)) * sig(0.5) * (1 - sig(-6)), []screend.Reason{screend.ReasonLowMargin}, false, false},
		{"crop uncertain", Raw{[]float32{0, 8}, []float32{0, 0.2}, box, []float32{-6, -6}}, screend.OutcomeCrop, 1,
			(1 - sig(-6)) * sig(8) * sig(0.2), []screend.Reason{screend.ReasonCropUncertain}, false, true},
		{"confident reject (pooled mean)", Raw{[]float32{0, 8}, []float32{0, 0}, box, []float32{2, 6}}, screend.OutcomeReject, 1,
			sig(4), nil, true, false},
		{"reject uncertain", Raw{[]float32{0, 8}, []float32{0, 0}, box, []float32{0.5, 0.5}}, screend.OutcomeReject, 1,
			sig(0.5), []screend.Reason{screend.ReasonRejectUncertain}, false, false},
		{"keep uncertain", Raw{[]float32{0, 8}, []float32{-6, -6}, box, []float32{-0.5, -0.5}}, screend.OutcomeSelect, 1,
			(1 - sig(-0.5)) * sig(8) * (1 - sig(-6)), []screend.Reason{screend.ReasonRejectUncertain}, false, false},
		{"small product", Raw{[]float32{0, 2}, []float32{-2.3, -2.3}, box, []float32{-2.3, -2.3}}, screend.OutcomeSelect, 1,
			(1 - sig(-2.3)) * sig(2) * (1 - sig(-2.3)), []screend.Reason{screend.ReasonLowMargin}, false, false},
	} {
		o, err := testParams().Decide(group, c.raw)
		if err != nil {
			t.Fatal(err)
		}
		if o.Kind != c.kind || o.Chosen != c.chosen || math.Abs(o.Confidence-c.conf) > 1e-6 ||
			!reflect.DeepEqual(o.Reasons, c.reasons) || o.Auto != c.auto {
			t.Errorf("%s: got kind %s chosen %d conf %.6f reasons %v auto %v; want %s %d %.6f %v %v",
				c.name, o.Kind, o.Chosen, o.Confidence, o.Reasons, o.Auto, c.kind, c.chosen, c.conf, c.reasons, c.auto)
		}
	}

	// The box is the chosen image's, kept inside.
	o, _ := testParams().Decide(group, Raw{[]float32{0, 8}, []float32{0, 6}, box, []float32{-6, -6}})
	if d := math.Abs(o.Box[0]-0.2) + math.Abs(o.Box[1]) + math.Abs(o.Box[2]-0.8) + math.Abs(o.Box[3]-0.6); d > 1e-6 {
		t.Errorf("box %v", o.Box)
	}

	// A group of one is never automatic.
	o, err := testParams().Decide(group[:1], Raw{[]float32{1}, []float32{-6}, box[:1], []float32{-6}})
	if err != nil || o.Auto || !reflect.DeepEqual(o.Reasons, []screend.Reason{screend.ReasonSingleImage}) || o.PChoice != 1 || o.Kind != screend.OutcomeSelect {
		t.Errorf("single image: %+v %v", o, err)
	}

	// Mismatched outputs are an error.
	if _, err := testParams().Decide(group, Raw{Scores: []float32{1}}); err == nil {
		t.Error("no error for mismatched outputs")
	}
	// The temperature flattens the choice probability.
	p := testParams()
	p.Temperature = 4
	o, _ = p.Decide(group, Raw{[]float32{0, 8}, []float32{0, -6}, box, []float32{-6, -6}})
	if math.Abs(o.PChoice-sig(2)) > 1e-9 {
		t.Errorf("P_choice at T=4: %v, want %v", o.PChoice, sig(2))
	}
	// A crop call's factor is CropRight of P(crop); a select's is 1-P(crop).
	p = testParams()
	p.CropRight = Steps{X: []float64{0.9, 1}, Y: []float64{0.3, 0.6}}
	o, _ = p.Decide(group, Raw{[]float32{8, 0}, []float32{6, 6}, box, []float32{-6, -6}})
	if want := (1 - sig(-6)) * sig(8) * 0.6; o.Kind != screend.OutcomeCrop || math.Abs(o.Confidence-want) > 1e-9 ||
		!reflect.DeepEqual(o.Reasons, []screend.Reason{screend.ReasonCropUncertain}) {
		t.Errorf("crop with CropRight: %s conf %v reasons %v, want crop %v crop_uncertain", o.Kind, o.Confidence, o.Reasons, want)
	}
	o, _ = p.Decide(group, Raw{[]float32{0, 8}, []float32{0, -6}, box, []float32{-6, -6}})
	if want := (1 - sig(-6)) * sig(8) * (1 - sig(-6)); math.Abs(o.Confidence-want) > 1e-9 {
		t.Errorf("select with CropRight: conf %v, want %v", o.Confidence, want)
	}
}

// TestSteps: a step function holds its value up to each step's end and
// the last one beyond; the zero one is the identity; Validate refuses one
// that decreases.
func TestSteps(t *testing.T) {
	t.Parallel()
	s := Steps{X: []float64{0.6, 0.8}, Y: []float64{0.5, 0.9}}
	for _, c := range []struct{ x, want float64 }{{0.5, 0.5}, {0.6, 0.5}, {0.7, 0.9}, {0.8, 0.9}, {0.99, 0.9}} {
		if got := s.Apply(c.x); got != c.want {
			t.Errorf("Apply(%v) = %v, want %v", c.x, got, c.want)
		}
	}
	if got := (Steps{}).Apply(0.7); got != 0.7 {
		t.Errorf("zero Steps: Apply(0.7) = %v, want 0.7", got)
	}
	p := testParams()
	p.CropRight = Steps{X: []float64{0.6, 0.8}, Y: []float64{0.9, 0.5}}
	if err := p.Validate(); err == nil {
		t.Error("a decreasing crop_right validated")
	}
}

func TestParamsJSON(t *testing.T) {
	t.Parallel()
	p := testParams()
	p.CropPlatt = Platt{A: 0.5, B: -0.2}
	data, err := MarshalParams(p)
	if err != nil {
		t.Fatal(err)
	}
	q, err := UnmarshalParams(data)
	if err != nil || !reflect.DeepEqual(p, q) {
		t.Fatalf("round trip: %v, %+v", err, q)
	}
	var m map[string]any
	_ = json.Unmarshal(data, &m)
	for _, k := range []string{"embedder_id", "embedding_dim", "meta_dim", "temperature", "crop_platt", "reject_platt", "thresholds", "target_error_rate", "evaluation"} {
		if _, ok := m[k]; !ok {
			t.Errorf("params JSON lacks %q", k)
		}
	}
	bad := p
	bad.MetaDim = 3
	data, _ = MarshalParams(bad)
	if _, err := UnmarshalParams(data); err == nil || !strings.Contains(err.Error(), "meta_dim") {
		t.Errorf("bad meta_dim accepted: %v", err)
	}
}

// testModels builds tiny models in the contract: the ranker scores
// 12 * stage/3 + 4 * embedding[0]; the crop model says "crop" (logit 3) with
// box (0.5, 0.2, 0.6); the reject model's logit is 10 * embedding[1] - 5.
// They take m meta columns.
func testModels(t *testing.T, e, m int) (ranker, crop, reject []byte) {
	t.Helper()
	build := func(name string, body func(g *onnxmodel.Graph, emb, meta string)) []byte {
		g := onnxmodel.NewGraph(name)
		emb := g.Input(InputEmbedding, onnxmodel.Batch, int64(e))
		meta := g.Input(InputMeta, onnxmodel.Batch, int64(m))
		body(g, emb, meta)
		data, err := g.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	ranker = build("ranker", func(g *onnxmodel.Graph, emb, meta string) {
		wm := make([]float32, m)
		wm[0] = 12
		we := make([]float32, e)
		we[0] = 4
		s := g.Add(g.Dense(meta, wm, nil, m, 1, onnxmodel.ActNone), g.Dense(emb, we, nil, e, 1, onnxmodel.ActNone))
		g.Output(OutputScore, s, onnxmodel.Batch, 1)
	})
	crop = build("crop", func(g *onnxmodel.Graph, emb, meta string) {
		w := make([]float32, m*4)
		h := g.Dense(meta, w, []float32{3, 0, logit(0.2), logit(0.6)}, m, 4, onnxmodel.ActNone)
		g.Output(OutputCropLogit, g.Slice(h, []int64{0}, []int64{1}, []int64{1}), onnxmodel.Batch, 1)
		g.Output(OutputBox, g.Sigmoid(g.Slice(h, []int64{1}, []int64{4}, []int64{1})), onnxmodel.Batch, 3)
	})
	reject = build("reject", func(g *onnxmodel.Graph, emb, meta string) {
		w := make([]float32, e)
		w[1] = 10
		g.Output(OutputRejectLogit, g.Dense(emb, w, []float32{-5}, e, 1, onnxmodel.ActNone), onnxmodel.Batch, 1)
	})
	return ranker, crop, reject
}

func logit(p float64) float32 { return float32(math.Log(p / (1 - p))) }

func TestBundle(t *testing.T) {
	onnxrttest.Init(t)
	const e = 4
	r, c, j := testModels(t, e, MetaDim)
	p := DefaultParams("test", e)
	p.Thresholds = Thresholds{Select: 0.5, Crop: 0.5, Reject: 0.5}
	b, err := NewBundle(r, c, j, p, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx := context.Background()

	// Highest stage wins from meta alone.
	group := []Image{img(1, 1024, 1024, 0, 0, 0, 1), img(1.5, 1024, 1024, 0, 0, 0, 1), img(2, 2048, 2048, 0, 0, 0, 1)}
	o, err := b.Decide(ctx, "p", group)
	if err != nil {
		t.Fatal(err)
	}
	if o.Kind != screend.OutcomeCrop || o.Chosen != 2 || !o.Auto {
		t.Fatalf("outcome %+v", o)
	}
	if d := math.Abs(o.Box[0]-0.2) + math.Abs(o.Box[1]) + math.Abs(o.Box[2]-0.8) + math.Abs(o.Box[3]-0.6); d > 1e-5 {
		t.Errorf("box %v, want [0.2 0 0.8 0.6]", o.Box)
	}
	if want := 8.0 / 3 * 4 / 4; math.Abs(o.Scores[2]-o.Scores[1]-2) > 1e-5 {
		t.Errorf("scores %v, want a gap of 2 (%v)", o.Scores, want)
	}
	// The embedding overrides: image 1 carries the quality feature.
	group[1].Embedding = []float32{1, 0, 0, 0}
	if o, _ = b.Decide(ctx, "p", group); o.Chosen != 1 {
		t.Errorf("chosen %d, want 1 (embedding feature)", o.Chosen)
	}
	// Reject: pooled mean of 10*emb[1]-5 over the group.
	for i := range group {
		group[i].Embedding = []float32{0, 1, 0, 0}
	}
	if o, _ = b.Decide(ctx, "p", group); o.Kind != screend.OutcomeReject || math.Abs(o.PReject-1/(1+math.Exp(-5))) > 1e-5 {
		t.Errorf("reject outcome %+v", o)
	}
	// A group of one.
	if o, _ = b.Decide(ctx, "p", group[:1]); o.Auto || o.Reasons[0] != screend.ReasonSingleImage {
		t.Errorf("single image outcome %+v", o)
	}
	// Wrong embedding length.
	if _, err := b.Decide(ctx, "p", []Image{img(1, 1, 1, 1, 2)}); err == nil {
		t.Error("no error for a short embedding")
	}
	// Params that do not match the models.
	if _, err := NewBundle(r, c, j, DefaultParams("test", 8), 1); err == nil || !strings.Contains(err.Error(), "embedding") {
		t.Errorf("E mismatch: %v", err)
	}
	// Models trained before the local changes take the first 12 meta
	// columns, and decide as before.
	r12, c12, j12 := testModels(t, e, 12)
	p12 := p
	p12.MetaDim = 12
	b12, err := NewBundle(r12, c12, j12, p12, 1)
	if err != nil {
		t.Fatalf("a 12-column model: %v", err)
	}
	defer b12.Close()
	for i := range group {
		group[i].Embedding = []float32{0, 0, 0, 1}
	}
	if o, err := b12.Decide(ctx, "p", group); err != nil || o.Kind != screend.OutcomeCrop || o.Chosen != 2 {
		t.Errorf("12-column model: outcome %+v, %v", o, err)
	}
	if _, err := NewBundle(r, c, j, p12, 1); err == nil || !strings.Contains(err.Error(), "meta") {
		t.Errorf("14-column models with meta_dim 12: %v", err)
	}
	// Outputs missing: the ranker given as the crop model.
	if _, err := NewBundle(r, r, j, p, 1); err == nil {
		t.Error("no error for a crop model without crop outputs")
	}
}
