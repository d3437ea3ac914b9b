package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"image"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"screend/cmd/screend/config"

	"screend/cmd/screend-bench/internal/corpus"
	"screend/scoring/embed"
	"screend/scoring/imagefile"
	"screend/scoring/onnxrt"
)

// Limits are the machine's own speeds on a set of files, measured the way
// the daemon's pipeline works: DecodeWorkers goroutines that read, hash and
// decode (and preprocess), and inference in batches of BatchSize, in
// Lanes runs at once of Threads threads each (the daemon's setting), and
// for ONNX also in the other layouts the cores allow (InferenceLayouts).
type Limits struct {
	Dir           string `json:"dir"`
	Embedder      string `json:"embedder"`
	Files         int    `json:"files"`
	DecodeWorkers int    `json:"decode_workers"`
	Threads       int    `json:"intra_op_threads"`
	Lanes         int    `json:"inference_lanes"`
	BatchSize     int    `json:"batch_size"`
	// DecodeOnly is images/s read, hashed and decoded: the better of the
	// decode-only passes and the decode+preprocess passes, since doing more
	// work cannot be faster (in a process with a small heap, Go's garbage
	// collector runs so often during decode-only passes that they can come
	// out slower than decode+preprocess; DecodeOnlyMeasured keeps the raw
	// value).
	DecodeOnly         float64 `json:"decode_only_per_s"`
	DecodeOnlyMeasured float64 `json:"decode_only_measured_per_s"`
	// Decoder names the decoders DecodeOnly used (imagefile.NativeStatus).
	Decoder string `json:"decoder"`
	// GoDecodeOnly and GoDecodeCPU are DecodeOnlyMeasured and DecodeCPU
	// with Go's standard decoders, measured in the same passes on the same
	// files; DecoderSpeedup is GoDecodeCPU over DecodeCPU.
	GoDecodeOnly   float64 `json:"go_decode_only_per_s"`
	GoDecodeCPU    float64 `json:"go_decode_only_cpu_s_per_image"`
	DecoderSpeedup float64 `json:"decoder_speedup_cpu"`
	// MegapixelsPerS is DecodeOnly in decoded megapixels per second.
	MegapixelsPerS float64 `json:"decode_megapixels_per_s"`
	// DecodePreprocess is images/s read, hashed, decoded and preprocessed
	// (for the built-in embedder, preprocessing is the whole descriptor).
	DecodePreprocess float64 `json:"decode_preprocess_per_s"`
	// InferenceOnly is images/s through the embedder alone: for ONNX,
	// preprocessed inputs run in batches, the best of InferenceLayouts;
	// for the built-in embedder, the descriptor computed on images already
	// decoded.
	InferenceOnly float64 `json:"inference_only_per_s"`
	// InferenceLayouts are the ONNX inference passes, one per layout of
	// lanes and threads: the daemon's, one lane with a thread per core,
	// and one-thread lanes on every core. The limit is the best of them
	// (InferenceOnly the fastest, InferenceCPU the cheapest), so a daemon
	// setting cannot make the limit look easier than the machine allows.
	InferenceLayouts []InferencePass `json:"inference_layouts,omitempty"`
	// Combined is the rate the measured costs allow when decoding and
	// inference share the machine: 1 / (1/DecodePreprocess + 1/InferenceOnly)
	// for ONNX, 1 / (1/DecodeOnly + 1/InferenceOnly) for the built-in embedder.
	Combined float64 `json:"combined_limit_per_s"`
	// The CPU seconds one image costs in each pass (user+system time of
	// this process, all threads): unlike rates, these hold when other
	// work shares the machine.
	DecodeCPU           float64 `json:"decode_only_cpu_s_per_image"`
	DecodePreprocessCPU float64 `json:"decode_preprocess_cpu_s_per_image"`
	InferenceCPU        float64 `json:"inference_only_cpu_s_per_image"`
	// CombinedCPU is the CPU cost of one image through the pipeline's work:
	// DecodePreprocessCPU+InferenceCPU for ONNX, DecodeCPU+InferenceCPU for
	// the built-in embedder.
	CombinedCPU float64 `json:"combined_cpu_s_per_image"`
}

// InferencePass is inference alone in one layout of lanes and threads.
type InferencePass struct {
	Lanes   int     `json:"lanes"`
	Threads int     `json:"intra_op_threads"`
	Rate    float64 `json:"per_s"`
	CPU     float64 `json:"cpu_s_per_image"`
}

// cpuNow returns the CPU time (user+system) the process has used, in seconds.
func cpuNow() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

// minPositive is the smaller of a and b, ignoring zeros.
func minPositive(a, b float64) float64 {
	if a == 0 {
		return b
	}
	if b == 0 {
		return a
	}
	return min(a, b)
}

func limitsCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("limits", flag.ContinueOnError)
	dir := fs.String("dir", "", "folder of images (a corpus)")
	embedder := fs.String("embedder", "builtin", "builtin or the path of an ONNX model")
	threads := fs.Int("threads", 0, "ONNX intra-op threads (default: the daemon's setting)")
	lanes := fs.Int("lanes", 0, "ONNX inference lanes (default: the daemon's setting)")
	maxFiles := fs.Int("max-files", 0, "measure at most this many files (0: all)")
	out := fs.String("out", "", "write the JSON report to FILE and the Markdown beside it")
	if err := parse(fs, args, stderr); err != nil {
		return err
	}
	if *dir == "" {
		return usageError{"--dir is required"}
	}
	rep := newReport(append([]string{"limits"}, args...))
	cfg, err := benchConfig(*embedder, *threads, *lanes)
	if err != nil {
		return err
	}
	l, err := measureLimits(ctx, cfg, *dir, *maxFiles)
	if err != nil {
		return err
	}
	rep.Limits = append(rep.Limits, l)
	return rep.finish(*out, stdout)
}

// benchConfig is the daemon's configuration (file and environment) with
// the embedder, thread and lane counts of the command line (0: not given).
func benchConfig(embedder string, threads, lanes int) (config.Config, error) {
	// The command line's values are validated with the rest
	// (SCREEND_EMBEDDER_VIEWS needs an ONNX encoder), and the lanes and
	// threads are laid out as the daemon does.
	cfg, err := config.Load("", func(k string) (string, bool) {
		switch {
		case k == "SCREEND_EMBEDDER":
			return embedder, true
		case k == "SCREEND_INTRA_OP_THREADS" && threads > 0:
			return strconv.Itoa(threads), true
		case k == "SCREEND_INFERENCE_LANES" && lanes > 0:
			return strconv.Itoa(lanes), true
		}
		return os.LookupEnv(k)
	})
	if err != nil {
		return cfg, usageError{err.Error()}
	}
	return cfg, nil
}

// openEmbedder builds the embedder the daemon would, initialising ONNX
// Runtime when needed.
func openEmbedder(cfg config.Config) (embed.Embedder, func(), error) {
	if cfg.Embedder == "builtin" {
		return embed.NewBuiltin(), func() {}, nil
	}
	if _, err := onnxrt.Init(cfg.ONNXRuntimeLib); err != nil {
		return nil, nil, err
	}
	e, err := embed.NewONNX(cfg.Embedder, embed.ONNXOptions{IntraOpThreads: cfg.IntraOpThreads,
		Lanes: cfg.InferenceLanes, Views: cfg.EmbedderViews})
	if err != nil {
		return nil, nil, err
	}
	return e, func() { e.Close() }, nil
}

// measureLimits measures decode-only, decode+preprocess and inference-only
// throughput on the images under dir.
func measureLimits(ctx context.Context, cfg config.Config, dir string, maxFiles int) (*Limits, error) {
	rels, err := corpus.ImageFiles(dir)
	if err != nil {
		return nil, err
	}
	if len(rels) == 0 {
		return nil, fmt.Errorf("no images under %s", dir)
	}
	if maxFiles > 0 && len(rels) > maxFiles {
		rels = spread(rels, maxFiles)
	}
	files := make([]string, len(rels))
	for i, r := range rels {
		files[i] = filepath.Join(dir, r)
	}
	emb, closeEmb, err := openEmbedder(cfg)
	if err != nil {
		return nil, err
	}
	defer closeEmb()
	l := &Limits{Dir: dir, Embedder: cfg.Embedder, Files: len(files), DecodeWorkers: cfg.DecodeWorkers,
		Threads: cfg.IntraOpThreads, Lanes: cfg.InferenceLanes, BatchSize: cfg.BatchSize}
	if cfg.Embedder == "builtin" {
		l.Threads, l.Lanes = 0, 0
	}
	// Warm the page cache so the first pass is not a disk benchmark.
	for _, f := range files {
		if _, err := os.ReadFile(f); err != nil {
			return nil, err
		}
	}
	// Each pass runs twice, alternating, and the better run counts: the
	// limit is what the machine can do, and shared machines are noisy.
	_, l.Decoder = imagefile.NativeStatus()
	var pixels atomic.Int64
	goDecodeOnly := func(path string) error {
		_, err := readDecodeWith(path, cfg.MaxPixels, imagefile.DecodeBytesGo)
		return err
	}
	decodeOnly := func(path string) error {
		img, err := readDecode(path, cfg.MaxPixels)
		if err == nil {
			b := img.Bounds()
			pixels.Add(int64(b.Dx() * b.Dy()))
			imagefile.Recycle(img) // as the pipeline does
		}
		return err
	}
	decodePre := func(path string) error {
		img, err := readDecode(path, cfg.MaxPixels)
		if err != nil {
			return err
		}
		_, err = emb.Preprocess(img)
		imagefile.Recycle(img)
		return err
	}
	var goDecodeCPU float64
	for range 2 {
		c0 := cpuNow()
		rate, err := overFiles(ctx, files, cfg.DecodeWorkers, goDecodeOnly)
		if err != nil {
			return nil, err
		}
		goDecodeCPU = minPositive(goDecodeCPU, (cpuNow()-c0)/float64(len(files)))
		l.GoDecodeOnly = max(l.GoDecodeOnly, round(rate, 2))
		c0 = cpuNow()
		rate, err = overFiles(ctx, files, cfg.DecodeWorkers, decodeOnly)
		if err != nil {
			return nil, err
		}
		l.DecodeCPU = minPositive(l.DecodeCPU, (cpuNow()-c0)/float64(len(files)))
		l.DecodeOnly = max(l.DecodeOnly, round(rate, 2))
		c0 = cpuNow()
		if rate, err = overFiles(ctx, files, cfg.DecodeWorkers, decodePre); err != nil {
			return nil, err
		}
		l.DecodePreprocessCPU = minPositive(l.DecodePreprocessCPU, (cpuNow()-c0)/float64(len(files)))
		l.DecodePreprocess = max(l.DecodePreprocess, round(rate, 2))
	}
	l.DecodeOnlyMeasured = l.DecodeOnly
	l.DecodeOnly = max(l.DecodeOnly, l.DecodePreprocess)
	l.MegapixelsPerS = round(l.DecodeOnly*float64(pixels.Load())/2/float64(len(files))/1e6, 1)
	if cfg.Embedder == "builtin" {
		if l.InferenceOnly, l.InferenceCPU, err = builtinOnly(ctx, cfg, emb, files); err != nil {
			return nil, err
		}
	} else {
		if l.InferenceLayouts, err = onnxLayouts(ctx, cfg, emb, files); err != nil {
			return nil, err
		}
		for _, p := range l.InferenceLayouts {
			l.InferenceOnly = max(l.InferenceOnly, p.Rate)
			l.InferenceCPU = minPositive(l.InferenceCPU, p.CPU)
		}
	}
	l.InferenceOnly = round(l.InferenceOnly, 2)
	decode := l.DecodePreprocess
	if cfg.Embedder == "builtin" {
		decode = l.DecodeOnly
	}
	l.Combined = round(1/(1/decode+1/l.InferenceOnly), 2)
	l.DecodeCPU = min(l.DecodeCPU, l.DecodePreprocessCPU)
	l.GoDecodeCPU = round(goDecodeCPU, 4)
	l.DecoderSpeedup = round(goDecodeCPU/l.DecodeCPU, 2)
	if cfg.Embedder == "builtin" {
		l.CombinedCPU = l.DecodeCPU + l.InferenceCPU
	} else {
		l.CombinedCPU = l.DecodePreprocessCPU + l.InferenceCPU
	}
	l.DecodeCPU = round(l.DecodeCPU, 4)
	l.DecodePreprocessCPU = round(l.DecodePreprocessCPU, 4)
	l.InferenceCPU = round(l.InferenceCPU, 4)
	l.CombinedCPU = round(l.CombinedCPU, 4)
	return l, nil
}

// spread picks n items evenly from s.
func spread(s []string, n int) []string {
	out := make([]string, 0, n)
	for i := range n {
		out = append(out, s[i*len(s)/n])
	}
	return out
}

// readDecode does what the pipeline's decode stage does before the
// embedder: read, hash, decode.
func readDecode(path string, maxPixels int64) (image.Image, error) {
	return readDecodeWith(path, maxPixels, imagefile.DecodeBytes)
}

// readDecodeWith is readDecode with the given decoder.
func readDecodeWith(path string, maxPixels int64, decode func([]byte, int64) (image.Image, imagefile.Info, error)) (image.Image, error) {
	data, err := readPooled(path)
	if err != nil {
		return nil, err
	}
	_ = sha256.Sum256(data)
	img, _, err := decode(data, maxPixels)
	imagefile.RecycleBuffer(data)
	if err != nil {
		return nil, fmt.Errorf("decode %s: %w", path, err)
	}
	return img, nil
}

// readPooled reads a file whole into a buffer from imagefile.Buffer, as
// the pipeline does.
func readPooled(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	data := imagefile.Buffer(int(st.Size()))
	if _, err := io.ReadFull(f, data); err != nil {
		imagefile.RecycleBuffer(data)
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return data, nil
}

// overFiles runs f on every file with workers goroutines and returns files/s.
func overFiles(ctx context.Context, files []string, workers int, f func(string) error) (float64, error) {
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	var first error
	var once sync.Once
	for range workers {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= len(files) {
					return
				}
				if err := f(files[i]); err != nil {
					once.Do(func() { first = err })
					return
				}
			}
		})
	}
	wg.Wait()
	if first != nil {
		return 0, first
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	return float64(len(files)) / time.Since(start).Seconds(), nil
}

// inferenceMinDuration is how long inference alone is measured at least.
const inferenceMinDuration = 8 * time.Second

// builtinOnly measures the built-in descriptor alone on a sample of the
// files, decoded beforehand, with DecodeWorkers goroutines.
func builtinOnly(ctx context.Context, cfg config.Config, emb embed.Embedder, files []string) (rate, cpuPerImage float64, err error) {
	// Keep a small sample in memory (large images take 4 bytes a pixel).
	sample := spread(files, min(len(files), 12))
	imgs := make([]image.Image, len(sample))
	for i, f := range sample {
		img, err := readDecode(f, cfg.MaxPixels)
		if err != nil {
			return 0, 0, err
		}
		imgs[i] = img
	}
	var done atomic.Int64
	start, c0 := time.Now(), cpuNow()
	var wg sync.WaitGroup
	var next atomic.Int64
	for range cfg.DecodeWorkers {
		wg.Go(func() {
			for ctx.Err() == nil && (time.Since(start) < inferenceMinDuration || next.Load() < int64(len(imgs))) {
				i := int(next.Add(1)-1) % len(imgs)
				if _, err := emb.Preprocess(imgs[i]); err != nil {
					return
				}
				done.Add(1)
			}
		})
	}
	wg.Wait()
	n := float64(done.Load())
	return n / time.Since(start).Seconds(), (cpuNow() - c0) / n, ctx.Err()
}

// onnxLayouts measures an ONNX encoder alone on a sample of the files,
// preprocessed beforehand, in the daemon's layout of lanes and threads
// (emb) and in the two others the cores allow: one lane with a thread per
// core, and one-thread lanes on every core. Each other layout opens the
// model anew, after the previous one is closed.
func onnxLayouts(ctx context.Context, cfg config.Config, emb embed.Embedder, files []string) ([]InferencePass, error) {
	sample := spread(files, min(len(files), 2*cfg.BatchSize))
	inputs := make([][]float32, len(sample))
	for i, f := range sample {
		img, err := readDecode(f, cfg.MaxPixels)
		if err != nil {
			return nil, err
		}
		inputs[i], err = emb.Preprocess(img)
		imagefile.Recycle(img)
		if err != nil {
			return nil, err
		}
	}
	cpus := runtime.NumCPU()
	layouts := [][2]int{{cfg.InferenceLanes, cfg.IntraOpThreads}}
	for _, l := range [][2]int{{1, cpus}, {min(cpus, config.MaxAutoLanes), 1}} {
		if !slices.Contains(layouts, l) {
			layouts = append(layouts, l)
		}
	}
	var passes []InferencePass
	for i, l := range layouts {
		e, closeE := emb, func() {}
		if i > 0 {
			c := cfg
			c.InferenceLanes, c.IntraOpThreads = l[0], l[1]
			var err error
			if e, closeE, err = openEmbedder(c); err != nil {
				return nil, err
			}
		}
		rate, cpu, err := inferenceOnly(ctx, e, l[0], inputs, cfg.BatchSize)
		closeE()
		if err != nil {
			return nil, err
		}
		passes = append(passes, InferencePass{Lanes: l[0], Threads: l[1], Rate: round(rate, 2), CPU: round(cpu, 4)})
	}
	return passes, nil
}

// inferenceOnly runs batches of inputs through emb from lanes goroutines
// at once, as the daemon's inference stage does, for at least
// inferenceMinDuration, and returns images/s and CPU seconds per image.
func inferenceOnly(ctx context.Context, emb embed.Embedder, lanes int, inputs [][]float32, batchSize int) (rate, cpuPerImage float64, err error) {
	// Warm-up: ONNX Runtime allocates on the first runs of every lane.
	var wg sync.WaitGroup
	errs := make([]error, lanes)
	for g := range lanes {
		wg.Go(func() { _, errs[g] = emb.Embed(ctx, inputs[:min(len(inputs), batchSize)]) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return 0, 0, err
	}
	var n, next atomic.Int64
	start, c0 := time.Now(), cpuNow()
	for g := range lanes {
		wg.Go(func() {
			for ctx.Err() == nil && (time.Since(start) < inferenceMinDuration || n.Load() < int64(2*batchSize)) {
				lo := int(next.Add(1)-1) * batchSize % len(inputs)
				batch := inputs[lo:min(lo+batchSize, len(inputs))]
				if _, errs[g] = emb.Embed(ctx, batch); errs[g] != nil {
					return
				}
				n.Add(int64(len(batch)))
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return 0, 0, err
	}
	return float64(n.Load()) / time.Since(start).Seconds(), (cpuNow() - c0) / float64(n.Load()), ctx.Err()
}
