package corpus

import (
	"context"
	"crypto/sha256"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"screend/scoring/group"
)

// synthPhotos writes a few synthetic "photographs" (gradients and shapes).
func synthPhotos(t *testing.T, n int) string {
	t.Helper()
	dir := t.TempDir()
	for i := range n {
		img := image.NewRGBA(image.Rect(0, 0, 640+40*i, 480))
		for y := range img.Rect.Dy() {
			for x := range img.Rect.Dx() {
				v := uint8((x*(i+1) + y*2) % 256)
				c := color.RGBA{v, uint8(255 - int(v)), uint8((x ^ y) * (i + 3)), 255}
				if (x-300)*(x-300)+(y-200)*(y-200) < 90*90 {
					c = color.RGBA{200, uint8(40 * i), 60, 255}
				}
				img.Set(x, y, c)
			}
		}
		f, err := os.Create(filepath.Join(dir, "photo"+string(rune('a'+i))+".png"))
		if err != nil {
			t.Fatal(err)
		}
		if err := png.Encode(f, img); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	return dir
}

func hashTree(t *testing.T, dir string) map[string][32]byte {
	t.Helper()
	out := map[string][32]byte{}
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() == ManifestFile {
			return err // the manifest holds the generation time
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		out[rel] = sha256.Sum256(data)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestGenerateDeterministicAndGroupsAsPlan(t *testing.T) {
	t.Parallel()
	photos := synthPhotos(t, 3)
	opts := func(out string, workers int) Options {
		return Options{Photos: photos, Out: out, Seed: 42, Pictures: 12, Projects: 2,
			Sizes: []image.Point{{96, 96}, {80, 112}}, Workers: workers}
	}
	a, b := t.TempDir(), t.TempDir()
	ma, err := Generate(context.Background(), opts(a, 1))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Generate(context.Background(), opts(b, 4)); err != nil {
		t.Fatal(err)
	}
	ha, hb := hashTree(t, a), hashTree(t, b)
	if !reflect.DeepEqual(ha, hb) {
		t.Fatalf("two corpora of one seed differ")
	}
	pngs := 0
	for rel := range ha {
		if strings.HasSuffix(rel, ".png") {
			pngs++
		}
	}
	if ma.Images != pngs {
		t.Fatalf("manifest says %d images, tree has %d", ma.Images, pngs)
	}
	// A different seed gives a different corpus.
	c := t.TempDir()
	o := opts(c, 2)
	o.Seed = 43
	if _, err := Generate(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	if reflect.DeepEqual(ha, hashTree(t, c)) {
		t.Fatal("seeds 42 and 43 gave the same corpus")
	}
	// Every image has its companion, and the nearest-up rule (screend plan)
	// gives exactly the truth's groups.
	truth, err := ReadTruth(a)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, tr := range truth {
		want = append(want, strings.Join(tr.Files, "|"))
		for _, f := range tr.Files {
			if _, ok := ha[filepath.FromSlash(strings.TrimSuffix(f, ".png")+".yaml")]; !ok {
				t.Errorf("%s has no .yaml companion", f)
			}
		}
	}
	groups, err := group.FormDir(a)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, g := range groups {
		got = append(got, strings.Join(g.Images, "|")) // relative to the corpus
	}
	sort.Strings(want)
	sort.Strings(got)
	if !slices.Equal(got, want) {
		t.Fatalf("plan groups differ from truth:\n got %v\nwant %v", got, want)
	}
}

func TestImageSizes(t *testing.T) {
	t.Parallel()
	photos := synthPhotos(t, 2)
	out := t.TempDir()
	if _, err := Generate(context.Background(), Options{Photos: photos, Out: out, Seed: 5, Pictures: 40, Sizes: []image.Point{{64, 96}}}); err != nil {
		t.Fatal(err)
	}
	truth, err := ReadTruth(filepath.Join(out, TruthFile))
	if err != nil {
		t.Fatal(err)
	}
	want := map[float64]image.Point{1: {64, 96}, 1.5: {64, 96}, 2: {128, 192}, 3: {192, 288}}
	for _, tr := range truth {
		for i, f := range tr.Files {
			fh, err := os.Open(filepath.Join(out, f))
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := png.DecodeConfig(fh)
			fh.Close()
			if err != nil {
				t.Fatal(err)
			}
			if w := want[tr.Stages[i]]; cfg.Width != w.X || cfg.Height != w.Y {
				t.Errorf("%s is %dx%d, want %v", f, cfg.Width, cfg.Height, w)
			}
		}
	}
}

func TestPlanStatistics(t *testing.T) {
	t.Parallel()
	photos := []string{"a.jpg", "b.jpg", "c.jpg"}
	const n = 4000
	truth, err := Plan(Options{Photos: "x", Out: "y", Seed: 7, Pictures: n, Projects: 4}, photos)
	if err != nil {
		t.Fatal(err)
	}
	shapes := map[Shape]int{}
	decisions := map[string]int{}
	anomalies, crops, noops, top := 0, 0, 0, 0
	var areas []float64
	for _, tr := range truth {
		shapes[tr.Shape]++
		decisions[tr.Decision]++
		if tr.Anomaly {
			anomalies++
			if tr.ChosenStage >= tr.Stages[len(tr.Stages)-1] {
				t.Fatalf("anomaly %d chose the top stage", tr.Picture)
			}
		} else if tr.Decision != Reject && tr.ChosenStage != tr.Stages[len(tr.Stages)-1] {
			t.Fatalf("group %d chose stage %v, not the top", tr.Picture, tr.ChosenStage)
		}
		if tr.Decision == Reject && (tr.Chosen != "" || tr.RejectReason == "") {
			t.Fatalf("reject %d: chosen %q reason %q", tr.Picture, tr.Chosen, tr.RejectReason)
		}
		if tr.Decision == Crop {
			crops++
			c := tr.Crop
			if len(c) != 4 || c[0] < 0 || c[1] < 0 || c[2] > 1 || c[3] > 1 || c[0] >= c[2] || c[1] >= c[3] {
				t.Fatalf("crop %v of group %d is not inside the image", c, tr.Picture)
			}
			// Normalised width == normalised height keeps the aspect ratio
			// of any image: (x2-x1)*W / ((y2-y1)*H) == W/H.
			if math.Abs((c[2]-c[0])-(c[3]-c[1])) > 2e-6 {
				t.Fatalf("crop %v of group %d changes the aspect ratio", c, tr.Picture)
			}
			if c[0] == 0 && c[1] == 0 && c[2] == 1 && c[3] == 1 {
				noops++
			} else {
				areas = append(areas, (c[2]-c[0])*(c[3]-c[1]))
				if cx := (c[0] + c[2]) / 2; math.Abs(cx-0.5) > 0.1 {
					t.Fatalf("crop %v is not centred horizontally", c)
				}
			}
			if c[1] == 0 {
				top++
			}
		}
	}
	near := func(name string, got, want, tol float64) {
		t.Helper()
		if math.Abs(got-want) > tol {
			t.Errorf("%s = %.3f, want %.3f ± %.3f", name, got, want, tol)
		}
	}
	frac := func(k int) float64 { return float64(k) / n }
	near("shape 1,1.5,2", frac(shapes["1,1.5,2"]), 0.87, 0.02)
	near("shape 1,2", frac(shapes["1,2"]), 0.085, 0.015)
	near("shape 1,2,3", frac(shapes["1,2,3"]), 0.023, 0.01)
	near("shape 1,1.5,2,3", frac(shapes["1,1.5,2,3"]), 0.015, 0.008)
	near("shape 2,3", frac(shapes["2,3"]), 0.004, 0.004)
	near("approve", frac(decisions[Approve]), 0.24, 0.025)
	near("crop", frac(decisions[Crop]), 0.48, 0.03)
	near("reject", frac(decisions[Reject]), 0.28, 0.025)
	near("anomalies", frac(anomalies), 0.07, 0.015)
	near("no-op crops", float64(noops)/float64(crops), 0.077, 0.02)
	near("top-anchored crops", float64(top)/float64(crops), 0.66, 0.03)
	sort.Float64s(areas)
	q := func(p float64) float64 { return areas[int(p*float64(len(areas)-1))] }
	near("crop area p5", q(0.05), 0.27, 0.03)
	near("crop area median", q(0.5), 0.52, 0.03)
	near("crop area p95", q(0.95), 0.78, 0.03)
}

// TestPlanHabitsAndPhotoSplit: whether to crop depends on the project's
// habit and how much detail the picture's margins hold, never on a mark in
// the picture, and test pictures come from photographs no training picture
// uses.
func TestPlanHabitsAndPhotoSplit(t *testing.T) {
	t.Parallel()
	photos := []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"}
	truth, err := Plan(Options{Photos: "x", Out: "y", Seed: 3, Pictures: 3000, Projects: 4}, photos)
	if err != nil {
		t.Fatal(err)
	}
	kept, crops := map[string]int{}, map[string]int{}
	split := map[string]string{}
	var spreadCrop, spreadKeep, nCrop, nKeep float64
	for _, tr := range truth {
		if s, ok := split[tr.Photo]; ok && s != tr.Split {
			t.Fatalf("photo %s is in both splits", tr.Photo)
		}
		split[tr.Photo] = tr.Split
		if tr.Decision == Reject {
			continue
		}
		kept[tr.Project]++
		if tr.Decision == Crop {
			crops[tr.Project]++
			spreadCrop += tr.Spread
			nCrop++
		} else {
			spreadKeep += tr.Spread
			nKeep++
		}
	}
	test := 0
	for _, s := range split {
		if s == SplitTest {
			test++
		}
	}
	if test != 3 {
		t.Errorf("%d of 10 photos are test photos, want 3", test)
	}
	lo, hi := 1.0, 0.0
	for p, k := range kept {
		r := float64(crops[p]) / float64(k)
		lo, hi = math.Min(lo, r), math.Max(hi, r)
	}
	if hi-lo < 0.4 {
		t.Errorf("projects crop between %.2f and %.2f of kept pictures: habits should differ", lo, hi)
	}
	if spreadCrop/nCrop > spreadKeep/nKeep-0.15 {
		t.Errorf("cropped pictures hold %.2f of their detail in the margins on average, pictures kept whole %.2f: dull margins should be cropped", spreadCrop/nCrop, spreadKeep/nKeep)
	}
}

func TestPlanFewHundredPictures(t *testing.T) {
	t.Parallel()
	// The statistics hold roughly already over a few hundred pictures.
	truth, err := Plan(Options{Photos: "x", Out: "y", Seed: 1, Pictures: 300, Projects: 4}, []string{"a"})
	if err != nil {
		t.Fatal(err)
	}
	d := map[string]int{}
	shapes := map[Shape]int{}
	for _, tr := range truth {
		d[tr.Decision]++
		shapes[tr.Shape]++
	}
	for k, want := range map[string]float64{Approve: 0.24, Crop: 0.48, Reject: 0.28} {
		if got := float64(d[k]) / 300; math.Abs(got-want) > 0.07 {
			t.Errorf("%s share %.2f, want about %.2f", k, got, want)
		}
	}
	if got := float64(shapes["1,1.5,2"]) / 300; math.Abs(got-0.87) > 0.05 {
		t.Errorf("shape (1,1.5,2) share %.2f, want about 0.87", got)
	}
}

func TestFindPhotosPicksLargestOfImagesFolder(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(rel string, w, h int) {
		p := filepath.Join(dir, rel)
		os.MkdirAll(filepath.Dir(p), 0o755)
		f, _ := os.Create(p)
		png.Encode(f, image.NewRGBA(image.Rect(0, 0, w, h)))
		f.Close()
	}
	write("A/contents/images/100x50.png", 100, 50)
	write("A/contents/images/300x150.png", 300, 150)
	write("A/contents/screenshot.png", 30, 20)
	write("loose.png", 40, 40)
	got, err := FindPhotos(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(dir, "A/contents/images/300x150.png"), filepath.Join(dir, "loose.png")}
	if !slices.Equal(got, want) {
		t.Fatalf("FindPhotos = %v, want %v", got, want)
	}
}

// TestMalformIsVisible: a malformation is kept only where it shows; on a
// flat picture nothing but a blotch shows, so the reason becomes blotched.
func TestMalformIsVisible(t *testing.T) {
	t.Parallel()
	flat := image.NewRGBA(image.Rect(0, 0, 160, 160))
	for i := range flat.Pix {
		flat.Pix[i] = 128
	}
	stripes := image.NewRGBA(flat.Rect)
	for y := 0; y < 160; y++ {
		for x := 0; x < 160; x++ {
			v := uint8(40)
			if (x/4+y/6)%2 == 0 {
				v = 220
			}
			i := y*stripes.Stride + x*4
			stripes.Pix[i], stripes.Pix[i+1], stripes.Pix[i+2], stripes.Pix[i+3] = v, v/2, 255-v, 255
		}
	}
	for _, reason := range []string{RejectWarped, RejectDoubled, RejectMelted, RejectBlotched} {
		for _, tc := range []struct {
			name string
			img  *image.RGBA
			want string
		}{{"flat", flat, RejectBlotched}, {"stripes", stripes, reason}} {
			img := image.NewRGBA(tc.img.Rect)
			copy(img.Pix, tc.img.Pix)
			got, applied := malform(img, reason, rand.New(rand.NewPCG(1, 2)))
			if applied != tc.want {
				t.Errorf("%s on %s: applied %s, want %s", reason, tc.name, applied, tc.want)
			}
			whole := region{cx: 80, cy: 80, rx: 200, ry: 200}
			if c := visibleChange(tc.img, got, whole); c == 0 {
				t.Errorf("%s on %s changed nothing", reason, tc.name)
			}
		}
	}
}

// TestWhimsAreBorderline: a curator goes against habit only near the
// habit's threshold, never on a clear picture, and the duller the margins
// the tighter the crop.
func TestWhimsAreBorderline(t *testing.T) {
	t.Parallel()
	truth, err := Plan(Options{Photos: "x", Out: "y", Seed: 5, Pictures: 4000, Projects: 4}, []string{"a", "b"})
	if err != nil {
		t.Fatal(err)
	}
	kept := map[string][]Truth{}
	for _, tr := range truth {
		if tr.Decision != Reject {
			kept[tr.Project] = append(kept[tr.Project], tr)
		}
	}
	against, n := 0, 0
	for proj, ts := range kept {
		var p int
		fmt.Sscanf(proj, "p%d", &p)
		rate := cropRates[(p-1)%len(cropRates)]
		sort.Slice(ts, func(a, b int) bool { return ts[a].Spread < ts[b].Spread })
		var crops []Truth
		for k, tr := range ts {
			n++
			rank := (float64(k) + 0.5) / float64(len(ts))
			if (tr.Decision == Crop) != (rank < rate) {
				against++
				if d := math.Abs(rank - rate); d > 0.35 {
					t.Errorf("picture %d of %s: against habit %.2f at rank %.2f", tr.Picture, proj, rate, rank)
				}
			}
			if tr.Decision == Crop {
				crops = append(crops, tr)
			}
		}
		area := func(tr Truth) float64 { return (tr.Crop[2] - tr.Crop[0]) * (tr.Crop[3] - tr.Crop[1]) }
		var tight, loose float64
		half := len(crops) / 2
		for k, tr := range crops {
			if k < half {
				tight += area(tr) / float64(half)
			} else {
				loose += area(tr) / float64(len(crops)-half)
			}
		}
		if tight > loose-0.1 {
			t.Errorf("%s: crops of the duller half average area %.2f, of the other half %.2f: duller margins should crop tighter", proj, tight, loose)
		}
	}
	if r := float64(against) / float64(n); r < 0.02 || r > 0.08 {
		t.Errorf("%.1f%% of kept pictures against habit, want about 5%%", 100*r)
	}
}

// TestSpreadMeasuresTheMargins: detail only inside the kept frame gives a
// spread near 0, detail only in the margins near 1, a flat picture 0.5.
func TestSpreadMeasuresTheMargins(t *testing.T) {
	t.Parallel()
	paint := func(inFrame bool) *image.RGBA {
		img := image.NewRGBA(image.Rect(0, 0, 200, 200))
		for y := 0; y < 200; y++ {
			for x := 0; x < 200; x++ {
				fx, fy := float64(x)/200, float64(y)/200
				in := fx >= keptFrame[0] && fx < keptFrame[2] && fy < keptFrame[3]
				v := uint8(100)
				if in == inFrame && (x/7+y/7)%2 == 0 {
					v = 200
				}
				i := y*img.Stride + x*4
				img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = v, v, v, 255
			}
		}
		return img
	}
	if s := spread(paint(true)); s > 0.1 {
		t.Errorf("detail in the frame: spread %.2f, want near 0", s)
	}
	if s := spread(paint(false)); s < 0.9 {
		t.Errorf("detail in the margins: spread %.2f, want near 1", s)
	}
	if s := spread(image.NewRGBA(image.Rect(0, 0, 50, 50))); s != 0.5 {
		t.Errorf("flat picture: spread %.2f, want 0.5", s)
	}
}
