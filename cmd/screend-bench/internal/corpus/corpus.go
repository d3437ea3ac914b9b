package corpus

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/png"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	_ "image/jpeg" // photos may be JPEG

	"screend/scoring/imagefile"
)

// Options configure Generate.
type Options struct {
	// Photos is the folder searched (recursively) for source photographs.
	Photos string
	// Out is the folder the corpus is written to; it is created, and must
	// not hold a corpus already unless Overwrite is set.
	Out string
	// Seed makes the corpus reproducible.
	Seed uint64
	// Pictures is the number of pictures (groups) to make.
	Pictures int
	// Projects is the number of project folders; default 1.
	Projects int
	// Sizes are the stage-1 sizes to choose from, with equal weight; default
	// 1024x1024 (50%), 832x1216 (30%), 1216x832 (20%).
	Sizes []image.Point
	// AnomalyRate is the share of all groups whose human choice is a lower
	// stage; default 0.07.
	AnomalyRate float64
	// Start is the timestamp of the first file; default 2025-07-08 06:00:00.
	Start time.Time
	// Compression is the PNG compression level; default png.BestSpeed
	// (files about 1.3x the size of the pipeline's, decoded as fast).
	Compression png.CompressionLevel
	// Workers is the number of pictures made at once; default the CPU count.
	Workers int
	// Overwrite allows writing into a folder that already holds a corpus.
	Overwrite bool
	// TestPhotoShare is the share of the photographs whose pictures are
	// test pictures (Truth.Split "test"): a model trained on the others
	// never saw them; default 0.3, negative for none.
	TestPhotoShare float64
}

// Shape is the stages a group holds, e.g. "1,1.5,2".
type Shape string

// The group shapes and their upstream frequencies.
var shapeWeights = []struct {
	Shape  Shape
	Weight float64
}{
	{"1,1.5,2", 87}, {"1,2", 8.5}, {"1,2,3", 2.3}, {"1,1.5,2,3", 1.5}, {"2,3", 0.4},
}

// Decision kinds.
const (
	Approve = "approve"
	Crop    = "crop"
	Reject  = "reject"
)

// Decision frequencies (the crop share follows from cropRates).
const (
	rejectShare = 0.28
	// noopShare is the share of crops that are full-frame no-ops.
	noopShare = 0.077
	// topShare is the share of crops (no-ops included) anchored at the top.
	topShare = 0.66
)

// Truth is one group and the human-like decision on it, one JSON line of
// truth.jsonl.
type Truth struct {
	// Picture is the picture's index, 0-based.
	Picture int `json:"picture"`
	// Project is the project folder.
	Project string `json:"project"`
	// Files are the group's image files, relative to the corpus folder, in
	// stage order.
	Files []string `json:"files"`
	// Stages are the stage numbers of Files.
	Stages []float64 `json:"stages"`
	// Shape is Stages as text, e.g. "1,1.5,2".
	Shape Shape `json:"shape"`
	// Decision is approve, crop or reject.
	Decision string `json:"decision"`
	// Chosen is the kept file (one of Files), empty for a reject.
	Chosen string `json:"chosen,omitempty"`
	// ChosenStage is the stage of Chosen, 0 for a reject.
	ChosenStage float64 `json:"chosen_stage,omitempty"`
	// Crop is the normalised crop box [x1,y1,x2,y2] of a crop decision; it
	// keeps the aspect ratio (x2-x1 == y2-y1).
	Crop []float64 `json:"crop,omitempty"`
	// Anomaly is true when Chosen is not the highest stage.
	Anomaly bool `json:"anomaly,omitempty"`
	// Defect is what is wrong with the highest stage of an anomaly.
	Defect string `json:"defect,omitempty"`
	// RejectReason is what is wrong with a rejected picture.
	RejectReason string `json:"reject_reason,omitempty"`
	// Photo is the source photograph, relative to Options.Photos.
	Photo string `json:"photo"`
	// Split is "test" when Photo is one of the test photographs, else
	// "train" (see Options.TestPhotoShare).
	Split string `json:"split"`
	// Spread is how much of the picture's detail lies outside the frame a
	// curator keeps when cropping (the centred, top-anchored box of the
	// median crop area): 0 when the margins are dull, about 0.5 when detail
	// is everywhere. It is measured on the stage-1 picture; whether and how
	// tightly a curator crops follows from it (see decideCrops).
	Spread float64 `json:"spread"`
	// Wide is how wide the shot is, 0 (the tightest framing of the photo)
	// to 1 (the widest); a curator crops wide shots.
	Wide float64 `json:"wide"`
	// Width and Height are the stage-1 size.
	Width  int `json:"width"`
	Height int `json:"height"`
	// LastFileAt is the timestamp in the name of the group's last file.
	LastFileAt time.Time `json:"last_file_at"`
}

// Manifest describes a generated corpus; Generate writes it to
// manifest.json.
type Manifest struct {
	Seed        uint64         `json:"seed"`
	Pictures    int            `json:"pictures"`
	Projects    []string       `json:"projects"`
	Photos      []string       `json:"photos"`
	TestPhotos  []string       `json:"test_photos"`
	Images      int            `json:"images"`
	Companions  int            `json:"companions"`
	Bytes       int64          `json:"bytes"`
	TruthPath   string         `json:"truth_path"`
	Shapes      map[Shape]int  `json:"shapes"`
	Decisions   map[string]int `json:"decisions"`
	Anomalies   int            `json:"anomalies"`
	GeneratedIn string         `json:"generated_in"`
}

// File names at the top of a corpus.
const (
	ManifestFile = "manifest.json"
	TruthFile    = "truth.jsonl"
)

// stageTokens name the stage files.
var stageTokens = map[float64]string{1: "stage1_generated", 1.5: "stage1.5_face_swapped", 2: "stage2_upscaled", 3: "stage3_enhanced"}

// photo is a source photograph, scaled down.
type photo struct {
	rel string
	img *image.RGBA
}

// maxPhotoShort is the largest short side photos are kept at.
const maxPhotoShort = 1600

// FindPhotos lists the usable photographs under dir: every .jpg, .jpeg and
// .png, except previews named screenshot.*, and in a folder whose name
// starts with "images" (images, images_dark) only the largest is kept.
func FindPhotos(dir string) ([]string, error) {
	best := map[string]string{} // folder -> file, for "images" folders
	bestPix := map[string]int{}
	var out []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		ext := strings.ToLower(filepath.Ext(path))
		if d.IsDir() || (ext != ".jpg" && ext != ".jpeg" && ext != ".png") {
			return nil
		}
		if strings.HasPrefix(strings.ToLower(d.Name()), "screenshot") {
			return nil // a wallpaper package's preview, not a photo
		}
		parent := filepath.Dir(path)
		if !strings.HasPrefix(filepath.Base(parent), "images") {
			out = append(out, path)
			return nil
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		cfg, _, err := image.DecodeConfig(f)
		f.Close()
		if err != nil {
			return nil // not a photo we can read
		}
		if px := cfg.Width * cfg.Height; px > bestPix[parent] {
			best[parent], bestPix[parent] = path, px
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("find photos in %s: %w", dir, err)
	}
	for _, p := range best {
		out = append(out, p)
	}
	slices.Sort(out)
	return out, nil
}

// loadPhoto decodes a photo and scales it so its short side is at most
// maxPhotoShort. It uses Go's decoders, not imagefile's native ones: a
// corpus must come out the same, bit for bit, from the same photographs
// and seed on any machine, and libjpeg-turbo's IDCT differs from Go's by
// one level in a few samples (the photographs are package files, not
// untrusted input).
func loadPhoto(path string) (*image.RGBA, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	src, _, err := image.Decode(f)
	if err != nil {
		return nil, fmt.Errorf("decode photo %s: %w", path, err)
	}
	img := toRGBA(src)
	w, h := img.Rect.Dx(), img.Rect.Dy()
	if s := min(w, h); s > maxPhotoShort {
		f := float64(maxPhotoShort) / float64(s)
		img = resize(img, img.Rect, int(float64(w)*f+0.5), int(float64(h)*f+0.5))
	}
	return img, nil
}

func (o *Options) defaults() error {
	if o.Photos == "" || o.Out == "" {
		return errors.New("corpus: Photos and Out are required")
	}
	if o.Pictures < 1 {
		return errors.New("corpus: Pictures must be at least 1")
	}
	if o.Projects < 1 {
		o.Projects = 1
	}
	if o.AnomalyRate == 0 {
		o.AnomalyRate = 0.07
	}
	if o.AnomalyRate < 0 || o.AnomalyRate > 1-rejectShare {
		return fmt.Errorf("corpus: AnomalyRate %v out of [0, %v]", o.AnomalyRate, 1-rejectShare)
	}
	if o.Start.IsZero() {
		o.Start = time.Date(2025, 7, 8, 6, 0, 0, 0, time.UTC)
	}
	if o.Compression == 0 {
		o.Compression = png.BestSpeed
	}
	if o.Workers < 1 {
		o.Workers = runtime.NumCPU()
	}
	if o.TestPhotoShare == 0 {
		o.TestPhotoShare = 0.3
	}
	if o.TestPhotoShare >= 1 {
		return fmt.Errorf("corpus: TestPhotoShare %v must be below 1", o.TestPhotoShare)
	}
	return nil
}

// Split names.
const (
	SplitTrain = "train"
	SplitTest  = "test"
)

// testPhotos returns which photos are test photos: a seeded shuffle of
// the photos' indices, the first share of them (rounded, at least one when
// there are two photos or more and share > 0).
func testPhotos(seed uint64, n int, share float64) []bool {
	out := make([]bool, n)
	if share <= 0 || n < 2 {
		return out
	}
	k := max(1, int(float64(n)*share+0.5))
	idx := rand.New(rand.NewPCG(seed, 0x7e57)).Perm(n)
	for _, i := range idx[:min(k, n-1)] {
		out[i] = true
	}
	return out
}

// cropRates are the projects' habits, cycled: the share of kept pictures
// the project's curator crops (about 48% of all groups over four projects).
var cropRates = []float64{0.9, 0.55, 0.8, 0.4}

// whim is the chance that a curator crops a kept picture against their
// habit (or leaves it whole), from how far the picture's rank among the
// project's kept pictures (by Spread, 0 to 1) lies from the habit's rate:
// a coin toss at the threshold, fading with the distance from it (half of
// it whimFade away), as people disagree with themselves on borderline
// pictures and not on clear ones; about 5% of kept pictures overall.
func whim(rank, rate float64) float64 { return 0.5 * math.Exp(-math.Abs(rank-rate)/whimFade) }

// whimFade is the distance in rank from the habit's threshold over which a
// whim becomes e times less likely.
const whimFade = 0.05

// plan is everything decided about one picture before any pixel is made.
type plan struct {
	Truth
	proj   int // index of Project
	seed   uint64
	photo  int
	w, h   int
	stages []float64
	times  []time.Time
	src    [4]float64 // normalised crop of the photo
	flip   bool
}

// Plan draws the groups and decisions of a corpus without making images:
// what Generate would write, for photos photos, except that each
// picture's Spread, which Generate measures on its pixels, is drawn at
// random (uniform on [0, 0.6]), so the crops differ. It is deterministic
// for opts.Seed.
func Plan(opts Options, photos []string) ([]Truth, error) {
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	ps := makePlans(opts, photos)
	for i := range ps {
		ps[i].Spread = 0.6 * rand.New(rand.NewPCG(opts.Seed, uint64(i)*0x9e3779b97f4a7c15+3)).Float64()
	}
	decideCrops(opts.Seed, ps)
	out := make([]Truth, len(ps))
	for i, p := range ps {
		out[i] = p.Truth
	}
	return out, nil
}

func projectName(i int) string { return fmt.Sprintf("p%02d", i+1) }

func makePlans(o Options, photos []string) []plan {
	plans := make([]plan, o.Pictures)
	clock := make([]time.Time, o.Projects)
	for i := range clock {
		clock[i] = o.Start.Add(time.Duration(i) * 17 * time.Minute)
	}
	sizes := o.Sizes
	sizeW := []float64{}
	if len(sizes) == 0 {
		sizes = []image.Point{{1024, 1024}, {832, 1216}, {1216, 832}}
		sizeW = []float64{0.5, 0.3, 0.2}
	} else {
		for range sizes {
			sizeW = append(sizeW, 1)
		}
	}
	shapeW := make([]float64, len(shapeWeights))
	for i, s := range shapeWeights {
		shapeW[i] = s.Weight
	}
	anomalyGivenKept := o.AnomalyRate / (1 - rejectShare)
	isTest := testPhotos(o.Seed, len(photos), o.TestPhotoShare)
	for i := range plans {
		rng := rand.New(rand.NewPCG(o.Seed, uint64(i)*0x9e3779b97f4a7c15+1))
		p := &plans[i]
		p.seed = rng.Uint64()
		p.Picture = i
		proj := rng.IntN(o.Projects)
		if i < o.Projects {
			proj = i // every project gets a picture
		}
		p.proj, p.Project = proj, projectName(proj)
		p.photo = rng.IntN(len(photos))
		p.Photo = photos[p.photo]
		p.Split = SplitTrain
		if isTest[p.photo] {
			p.Split = SplitTest
		}
		sz := sizes[pick(rng, sizeW)]
		p.w, p.h = sz.X, sz.Y
		p.Width, p.Height = sz.X, sz.Y
		p.Shape = shapeWeights[pick(rng, shapeW)].Shape
		for _, s := range strings.Split(string(p.Shape), ",") {
			var v float64
			fmt.Sscan(s, &v)
			p.stages = append(p.stages, v)
		}
		p.Stages = p.stages
		// Source crop of the photo: filled in by Generate with the photo's
		// size; here its relative scale and position.
		p.Wide = math.Round(rng.Float64()*1e6) / 1e6
		p.src = [4]float64{0.45 + 0.55*p.Wide, rng.Float64(), rng.Float64(), 0}
		p.flip = rng.IntN(3) == 0
		// Times.
		t := clock[proj]
		for k, s := range p.stages {
			if k > 0 {
				prev := p.stages[k-1]
				var lo, hi float64
				switch {
				case prev == 1 && s == 1.5:
					lo, hi = 15, 30
				case prev == 1.5 && s == 2:
					lo, hi = 70, 140
				case prev == 1 && s == 2:
					lo, hi = 85, 170
				default: // 2 -> 3
					lo, hi = 90, 120
				}
				t = t.Add(time.Duration(lo+(hi-lo)*rng.Float64()) * time.Second)
			}
			p.times = append(p.times, t)
			p.Files = append(p.Files, filepath.ToSlash(filepath.Join(p.Project, t.Format("20060102_150405")+"_"+stageTokens[s]+".png")))
		}
		p.LastFileAt = t
		clock[proj] = t.Add(time.Duration(5+rng.IntN(56)) * time.Second)
		// Decision.
		u := rng.Float64()
		top := len(p.stages) - 1
		switch {
		case u < rejectShare:
			p.Decision = Reject
			p.RejectReason = rejectReasons[rng.IntN(len(rejectReasons))]
		default:
			p.Decision = Approve // or Crop: see decideCrops
			chosen := top
			if rng.Float64() < anomalyGivenKept {
				p.Anomaly = true
				p.Defect = defects[rng.IntN(len(defects))]
				chosen = top - 1
			}
			p.Chosen = p.Files[chosen]
			p.ChosenStage = p.stages[chosen]
		}
	}
	return plans
}

// decideCrops decides, for every kept picture, whether the curator crops
// it and how: per project, the kept pictures are ranked by Spread (dull
// margins first); the project's habit crops the first cropRates share of
// them, except on a whim near that threshold. Among the crops, the duller
// the margins the tighter the crop: the rank among the project's crops
// (jittered by up to ±0.05) is the quantile of the crop's area.
func decideCrops(seed uint64, plans []plan) {
	byProject := map[int][]*plan{}
	for i := range plans {
		if p := &plans[i]; p.Decision != Reject {
			byProject[p.proj] = append(byProject[p.proj], p)
		}
	}
	bySpread := func(a, b *plan) int {
		if c := cmp.Compare(a.Spread, b.Spread); c != 0 {
			return c
		}
		return a.Picture - b.Picture
	}
	// Projects are independent, and every picture draws from its own
	// random source, so the order they are visited in does not matter.
	for proj, kept := range byProject {
		rate := cropRates[proj%len(cropRates)]
		slices.SortFunc(kept, bySpread)
		var crops []*plan
		for k, p := range kept {
			rng := rand.New(rand.NewPCG(seed, uint64(p.Picture)*0x9e3779b97f4a7c15+4))
			rank := (float64(k) + 0.5) / float64(len(kept))
			crop := rank < rate
			if rng.Float64() < whim(rank, rate) {
				crop = !crop
			}
			if crop {
				crops = append(crops, p)
			}
		}
		for k, p := range crops {
			rng := rand.New(rand.NewPCG(seed, uint64(p.Picture)*0x9e3779b97f4a7c15+5))
			u := clampF((float64(k)+0.5)/float64(len(crops))+0.1*(rng.Float64()-0.5), 0, 1)
			p.Decision = Crop
			p.Crop = drawCrop(rng, u)
		}
	}
}

// pick returns an index drawn with the given weights.
func pick(rng *rand.Rand, weights []float64) int {
	total := 0.0
	for _, w := range weights {
		total += w
	}
	u := rng.Float64() * total
	for i, w := range weights {
		if u < w {
			return i
		}
		u -= w
	}
	return len(weights) - 1
}

// areaQuantiles is the inverse CDF of the kept area of a (non no-op) crop,
// piecewise linear through the upstream p5, median and p95.
var areaQuantiles = [][2]float64{{0, 0.20}, {0.05, 0.27}, {0.5, 0.52}, {0.95, 0.78}, {1, 0.90}}

// drawCrop draws a normalised crop box that keeps the aspect ratio, framing
// the subject: centred horizontally, mostly anchored at the top, the bottom
// cut off; its area is the u-quantile of the upstream areas.
func drawCrop(rng *rand.Rand, u float64) []float64 {
	if rng.Float64() < noopShare {
		return []float64{0, 0, 1, 1}
	}
	area := 0.52
	for k := 1; k < len(areaQuantiles); k++ {
		a, b := areaQuantiles[k-1], areaQuantiles[k]
		if u <= b[0] {
			area = a[1] + (b[1]-a[1])*(u-a[0])/(b[0]-a[0])
			break
		}
	}
	s := math.Sqrt(area)
	x1 := (1-s)/2 + rng.NormFloat64()*0.02
	x1 = clampF(x1, 0, 1-s)
	y1 := 0.0
	// Top-anchored share among real crops so that, with no-ops, topShare.
	if rng.Float64() >= (topShare-noopShare)/(1-noopShare) {
		y1 = (1 - s) * (0.05 + 0.45*rng.Float64())
	}
	r := func(v float64) float64 { return math.Round(v*1e6) / 1e6 }
	x1, y1 = r(x1), r(y1)
	s = r(s)
	return []float64{x1, y1, r(x1 + s), r(y1 + s)}
}

// Generate writes a corpus (see the package doc) and returns its manifest.
func Generate(ctx context.Context, opts Options) (Manifest, error) {
	start := time.Now()
	var m Manifest
	if err := opts.defaults(); err != nil {
		return m, err
	}
	if _, err := os.Stat(filepath.Join(opts.Out, ManifestFile)); err == nil && !opts.Overwrite {
		return m, fmt.Errorf("corpus: %s already holds a corpus", opts.Out)
	}
	paths, err := FindPhotos(opts.Photos)
	if err != nil {
		return m, err
	}
	if len(paths) == 0 {
		return m, fmt.Errorf("corpus: no photos (.jpg, .png) under %s", opts.Photos)
	}
	rels := make([]string, len(paths))
	for i, p := range paths {
		rels[i], _ = filepath.Rel(opts.Photos, p)
	}
	plans := makePlans(opts, rels)
	for i := range opts.Projects {
		if err := os.MkdirAll(filepath.Join(opts.Out, projectName(i)), 0o755); err != nil {
			return m, fmt.Errorf("corpus: %w", err)
		}
	}
	// Photos are loaded once, on first use.
	photos := make([]*image.RGBA, len(paths))
	var once = make([]sync.Once, len(paths))
	var loadErr = make([]error, len(paths))
	get := func(i int) (*image.RGBA, error) {
		once[i].Do(func() { photos[i], loadErr[i] = loadPhoto(paths[i]) })
		return photos[i], loadErr[i]
	}
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(opts.Workers)
	for i := range plans {
		p := &plans[i]
		g.Go(func() error {
			if err := gctx.Err(); err != nil {
				return err
			}
			ph, err := get(p.photo)
			if err != nil {
				return err
			}
			n, err := makePicture(opts, p, ph)
			if err != nil {
				return err
			}
			mu.Lock()
			m.Bytes += n
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return m, err
	}
	decideCrops(opts.Seed, plans)
	m.Seed, m.Pictures = opts.Seed, opts.Pictures
	m.Photos = rels
	for i, t := range testPhotos(opts.Seed, len(rels), opts.TestPhotoShare) {
		if t {
			m.TestPhotos = append(m.TestPhotos, rels[i])
		}
	}
	m.Shapes, m.Decisions = map[Shape]int{}, map[string]int{}
	for i := range opts.Projects {
		m.Projects = append(m.Projects, projectName(i))
	}
	tf, err := os.Create(filepath.Join(opts.Out, TruthFile))
	if err != nil {
		return m, fmt.Errorf("corpus: %w", err)
	}
	w := bufio.NewWriter(tf)
	enc := json.NewEncoder(w)
	for _, p := range plans {
		m.Images += len(p.Files)
		m.Companions += len(p.Files)
		m.Shapes[p.Shape]++
		m.Decisions[p.Decision]++
		if p.Anomaly {
			m.Anomalies++
		}
		if err := enc.Encode(p.Truth); err != nil {
			return m, err
		}
	}
	if err := w.Flush(); err != nil {
		tf.Close()
		return m, fmt.Errorf("corpus: write truth: %w", err)
	}
	if err := tf.Close(); err != nil {
		return m, fmt.Errorf("corpus: write truth: %w", err)
	}
	m.TruthPath = filepath.Join(opts.Out, TruthFile)
	m.GeneratedIn = time.Since(start).Round(time.Millisecond).String()
	data, _ := json.MarshalIndent(m, "", "  ")
	if err := os.WriteFile(filepath.Join(opts.Out, ManifestFile), append(data, '\n'), 0o644); err != nil {
		return m, fmt.Errorf("corpus: write manifest: %w", err)
	}
	return m, nil
}

// makePicture renders and writes one picture's stage files and companions;
// it returns the bytes written.
func makePicture(o Options, p *plan, ph *image.RGBA) (int64, error) {
	rng := rand.New(rand.NewPCG(p.seed, 7))
	// Source crop with the picture's aspect ratio.
	pw, phh := float64(ph.Rect.Dx()), float64(ph.Rect.Dy())
	aspect := float64(p.w) / float64(p.h)
	cw, ch := pw, pw/aspect
	if ch > phh {
		cw, ch = phh*aspect, phh
	}
	cw, ch = cw*p.src[0], ch*p.src[0]
	x0, y0 := (pw-cw)*p.src[1], (phh-ch)*p.src[2]
	r := image.Rect(int(x0), int(y0), int(x0+cw), int(y0+ch))
	base := resize(ph, r, p.w, p.h)
	if p.flip {
		flipH(base)
	}
	p.Spread = spread(base)
	if p.Decision == Reject {
		base, p.RejectReason = malform(base, p.RejectReason, rng)
	}
	var total int64
	top := len(p.stages) - 1
	var prev *image.RGBA
	for k, s := range p.stages {
		var img *image.RGBA
		switch s {
		case 1:
			img = base
		case 1.5:
			img = faceSwap(prev, rng)
		case 2:
			if prev == nil { // shape (2,3): no stage-1 file
				prev = base
			}
			img = resize(prev, prev.Rect, prev.Rect.Dx()*2, prev.Rect.Dy()*2)
		case 3:
			img = resize(prev, prev.Rect, prev.Rect.Dx()*3/2, prev.Rect.Dy()*3/2)
			enhance(img)
		}
		out := img
		if k == top && p.Anomaly {
			// Only the written file is broken; nothing is derived from it.
			cp := image.NewRGBA(img.Rect)
			copy(cp.Pix, img.Pix)
			out = breakLocally(cp, p.Defect, rng)
		}
		n, err := writePNG(filepath.Join(o.Out, filepath.FromSlash(p.Files[k])), out, o.Compression)
		if err != nil {
			return total, err
		}
		total += n
		n, err = writeYAML(o, p, k)
		if err != nil {
			return total, err
		}
		total += n
		prev = img
	}
	return total, nil
}

func writePNG(path string, img image.Image, level png.CompressionLevel) (int64, error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, fmt.Errorf("corpus: %w", err)
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	enc := png.Encoder{CompressionLevel: level}
	if err := enc.Encode(bw, img); err != nil {
		f.Close()
		return 0, fmt.Errorf("corpus: encode %s: %w", path, err)
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return 0, fmt.Errorf("corpus: write %s: %w", path, err)
	}
	st, _ := f.Stat()
	if err := f.Close(); err != nil {
		return 0, fmt.Errorf("corpus: write %s: %w", path, err)
	}
	return st.Size(), nil
}

// writeYAML writes the generation parameters beside a stage file.
func writeYAML(o Options, p *plan, k int) (int64, error) {
	png := filepath.Join(o.Out, filepath.FromSlash(p.Files[k]))
	path := strings.TrimSuffix(png, ".png") + ".yaml"
	s := p.stages[k]
	w, h := p.w, p.h
	switch s {
	case 2:
		w, h = 2*w, 2*h
	case 3:
		w, h = 3*w, 3*h
	}
	body := fmt.Sprintf(`# generation parameters (screend-bench synthetic corpus)
stage: %g
stage_name: %s
timestamp: "%s"
project: %s
picture: %d
seed: %d
width: %d
height: %d
model: synthetic-photo-v1
sampler: dpmpp_2m
steps: 30
cfg_scale: 6.5
source_photo: %q
`, s, stageTokens[s], p.times[k].Format(time.RFC3339), p.Project, p.Picture, p.seed%1_000_000_007, w, h, p.Photo)
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		return 0, fmt.Errorf("corpus: %w", err)
	}
	return int64(len(body)), nil
}

// ReadTruth reads a truth.jsonl file (or the truth.jsonl of a corpus folder).
func ReadTruth(path string) ([]Truth, error) {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		path = filepath.Join(path, TruthFile)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read truth: %w", err)
	}
	defer f.Close()
	var out []Truth
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for line := 1; sc.Scan(); line++ {
		if len(strings.TrimSpace(sc.Text())) == 0 {
			continue
		}
		var t Truth
		if err := json.Unmarshal(sc.Bytes(), &t); err != nil {
			return nil, fmt.Errorf("read truth %s:%d: %w", path, line, err)
		}
		out = append(out, t)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read truth %s: %w", path, err)
	}
	return out, nil
}

// ReadManifest reads the manifest.json of a corpus folder.
func ReadManifest(dir string) (Manifest, error) {
	var m Manifest
	data, err := os.ReadFile(filepath.Join(dir, ManifestFile))
	if err != nil {
		return m, fmt.Errorf("read manifest: %w", err)
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return m, fmt.Errorf("read manifest %s: %w", dir, err)
	}
	return m, nil
}

// ImageFiles lists the image files of a corpus (relative to dir, sorted by
// the timestamp in their names, then name), for tools that replay it.
func ImageFiles(dir string) ([]string, error) {
	var out []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != dir && strings.HasPrefix(d.Name(), "__") {
				return filepath.SkipDir
			}
			return nil
		}
		if filepath.Dir(path) == filepath.Clean(dir) {
			return nil // manifest and truth
		}
		head := make([]byte, 12)
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		n, _ := f.Read(head)
		f.Close()
		if imagefile.Sniff(head[:n]) != imagefile.FormatUnknown {
			rel, _ := filepath.Rel(dir, path)
			out = append(out, rel)
		}
		return nil
	})
	slices.SortFunc(out, func(a, b string) int {
		if c := strings.Compare(filepath.Base(a), filepath.Base(b)); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	return out, err
}
