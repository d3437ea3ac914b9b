package embed

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"

	"screend/scoring/onnxrt"
)

// ONNXOptions configure NewONNX.
type ONNXOptions struct {
	// IntraOpThreads is the number of threads one model run uses inside
	// ONNX Runtime; default 1. With one, a run computes on the thread that
	// calls it.
	IntraOpThreads int
	// Lanes is the number of model runs that may go on at once on the one
	// ONNX Runtime session, each with its own input buffer and its own
	// activations (the weights are shared); default 1. Embed spreads a
	// batch over the free lanes, and concurrent Embed calls share them.
	Lanes int
	// MaxBatch is the largest number of images one model run takes; Embed
	// splits larger batches. Default DefaultMaxBatch. A model with a fixed
	// batch size runs batches of exactly that size instead (the last one
	// padded).
	MaxBatch int
	// PreprocessorConfig is the path of the Hugging Face preprocessing
	// config; default preprocessor_config.json beside the model.
	PreprocessorConfig string
	// Output names the model output holding the embeddings; default the
	// one named image_embeds, embeddings, image_embeddings or embedding,
	// else the only [N,D] output.
	Output string
	// Views are the parts of the picture the encoder looks at, one model
	// run each (see View); default the whole picture alone. With more than
	// one view, or one that is not the whole picture, the embedding is the
	// views' vectors, each L2-normalised, concatenated and normalised, and
	// the ID names the views.
	Views []View
}

// DefaultMaxBatch is the default ONNXOptions.MaxBatch. ONNX Runtime's
// arena keeps the largest run's activations resident: with the
// ViT-B/32-shaped model, runs of 8 left 445 MB resident against 509 MB for
// runs of 16, at no more CPU per image (0.068 against 0.072-0.079 s, two
// threads, same session options).
const DefaultMaxBatch = 8

// preferredOutputs are the output names NewONNX picks, best first.
var preferredOutputs = []string{"image_embeds", "embeddings", "image_embeddings", "embedding"}

// ONNX is an Embedder that runs an ONNX image encoder (such as the visual
// tower of CLIP ViT-B/32) with ONNX Runtime. The model takes one float32
// input [N,3,H,W] and gives one float32 output [N,D]; Preprocess prepares
// images as the model's preprocessor_config.json says (see ImageProcessor).
//
// Preprocess and Embed are safe for concurrent use. Model runs go on one
// session, at most Lanes of them at once (each with IntraOpThreads
// threads): Embed splits a batch into runs that take free lanes, and
// concurrent calls wait for a lane.
type ONNX struct {
	id       string
	dim      int
	proc     *ImageProcessor
	h, w     int
	fixed    int // the model's fixed batch size, 0 when dynamic
	maxBatch int
	views    []View // nil: the whole picture, vectors as the model gives them

	// mu is held for reading by every Embed and for writing by Close, so
	// that Close waits for the runs under way.
	mu    sync.RWMutex
	sess  *onnxrt.Session // nil once closed
	lanes chan *lane      // the free lanes; cap(lanes) of them in all
}

// lane is what one model run needs for itself: its input tensor, reused
// across runs.
type lane struct {
	buf []float32
}

var _ Embedder = (*ONNX)(nil)

// NewONNX opens the image encoder at modelPath. ONNX Runtime must be
// initialised first (onnxrt.Init). The preprocessing config must exist.
func NewONNX(modelPath string, opts ONNXOptions) (*ONNX, error) {
	if opts.IntraOpThreads == 0 {
		opts.IntraOpThreads = 1
	}
	if opts.MaxBatch == 0 {
		opts.MaxBatch = DefaultMaxBatch
	}
	if opts.Lanes == 0 {
		opts.Lanes = 1
	}
	if opts.MaxBatch < 0 || opts.IntraOpThreads < 0 || opts.Lanes < 0 {
		return nil, fmt.Errorf("embed: onnx model %s: negative MaxBatch, IntraOpThreads or Lanes", modelPath)
	}
	for _, v := range opts.Views {
		if err := v.Validate(); err != nil {
			return nil, fmt.Errorf("embed: onnx model %s: %w", modelPath, err)
		}
	}
	if len(opts.Views) == 1 && opts.Views[0].IsFull() {
		opts.Views = nil
	}
	cfgPath := opts.PreprocessorConfig
	if cfgPath == "" {
		cfgPath = filepath.Join(filepath.Dir(modelPath), PreprocessorConfigName)
	}
	if _, err := os.Stat(cfgPath); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("embed: onnx model %s: preprocessing config %s does not exist: "+
			"an image encoder needs the Hugging Face %s it was exported with, beside the model "+
			"(or set its path)", modelPath, cfgPath, PreprocessorConfigName)
	}
	proc, err := LoadImageProcessor(cfgPath)
	if err != nil {
		return nil, fmt.Errorf("embed: onnx model %s: %w", modelPath, err)
	}
	modelHash, err := fileSHA256(modelPath)
	if err != nil {
		return nil, fmt.Errorf("embed: onnx model: %w", err)
	}

	ph, pw, _ := proc.Config().OutputSize()
	var in, out onnxrt.TensorInfo
	sess, err := onnxrt.NewSession(modelPath, onnxrt.SessionOptions{
		IntraOpThreads: opts.IntraOpThreads,
		Select: func(inputs, outputs []onnxrt.TensorInfo) ([]string, []string, error) {
			var err error
			if in, err = onnxPickInput(inputs, ph, pw); err != nil {
				return nil, nil, err
			}
			if out, err = onnxPickOutput(outputs, opts.Output); err != nil {
				return nil, nil, err
			}
			return []string{in.Name}, []string{out.Name}, nil
		},
	})
	if err != nil {
		return nil, fmt.Errorf("embed: onnx model %s: %w", modelPath, err)
	}
	e := &ONNX{
		id:       "onnx:" + modelHash[:16] + "-" + onnxSetupHash(proc.Config(), out.Name),
		dim:      int(out.Shape[1]),
		proc:     proc,
		h:        ph,
		w:        pw,
		maxBatch: opts.MaxBatch,
		views:    opts.Views,
		sess:     sess,
		lanes:    make(chan *lane, opts.Lanes),
	}
	for range opts.Lanes {
		e.lanes <- &lane{}
	}
	if len(e.views) > 0 {
		e.id += "+" + viewsID(e.views)
		e.dim *= len(e.views)
	}
	if b := in.Shape[0]; b > 0 {
		e.fixed, e.maxBatch = int(b), int(b)
	}
	return e, nil
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hash %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// onnxSetupHash names what besides the weights decides the vectors: the
// preprocessing settings and the output used (8 hex digits).
func onnxSetupHash(cfg ImageConfig, output string) string {
	data, _ := json.Marshal(cfg) // plain fields: cannot fail
	sum := sha256.Sum256(append(append(data, 0), output...))
	return hex.EncodeToString(sum[:4])
}

// onnxPickInput finds the image input: the one float32 [N,3,H,W] input,
// whose H and W, when fixed, must be those of the preprocessing.
func onnxPickInput(inputs []onnxrt.TensorInfo, h, w int) (onnxrt.TensorInfo, error) {
	var images []onnxrt.TensorInfo
	for _, t := range inputs {
		if t.Type == "float32" && len(t.Shape) == 4 && (t.Shape[1] == 3 || t.Shape[1] < 0) {
			images = append(images, t)
		}
	}
	if len(images) != 1 || len(inputs) != 1 {
		return onnxrt.TensorInfo{}, fmt.Errorf("want one input, a float32 image batch [N,3,H,W]; the model has %s",
			onnxInfoList(inputs))
	}
	in := images[0]
	if (in.Shape[2] > 0 && in.Shape[2] != int64(h)) || (in.Shape[3] > 0 && in.Shape[3] != int64(w)) {
		return in, fmt.Errorf("input %s does not take the %dx%d images the preprocessing config makes", in, w, h)
	}
	return in, nil
}

// onnxPickOutput finds the embedding output: the one named want, else one
// of preferredOutputs, else the only output. It must be [N,D].
func onnxPickOutput(outputs []onnxrt.TensorInfo, want string) (onnxrt.TensorInfo, error) {
	var out *onnxrt.TensorInfo
	find := func(name string) *onnxrt.TensorInfo {
		for i := range outputs {
			if outputs[i].Name == name {
				return &outputs[i]
			}
		}
		return nil
	}
	switch {
	case want != "":
		if out = find(want); out == nil {
			return onnxrt.TensorInfo{}, fmt.Errorf("no output %q; the model has %s", want, onnxInfoList(outputs))
		}
	case len(outputs) == 1:
		out = &outputs[0]
	default:
		for _, name := range preferredOutputs {
			if out = find(name); out != nil {
				break
			}
		}
		if out == nil {
			return onnxrt.TensorInfo{}, fmt.Errorf("cannot tell which output holds the embeddings among %s: "+
				"name it in the options", onnxInfoList(outputs))
		}
	}
	switch {
	case out.Type != "float32":
		return *out, fmt.Errorf("output %s: want float32 embeddings", out)
	case len(out.Shape) == 3:
		return *out, fmt.Errorf("output %s is a sequence of token vectors [N,T,D], not one embedding per image: "+
			"not supported; export the pooled (projected) image embedding [N,D]", out)
	case len(out.Shape) != 2 || out.Shape[1] <= 0:
		return *out, fmt.Errorf("output %s: want [N,D] with a fixed D", out)
	}
	return *out, nil
}

func onnxInfoList(ts []onnxrt.TensorInfo) string {
	if len(ts) == 0 {
		return "none"
	}
	s := make([]string, len(ts))
	for i, t := range ts {
		s[i] = t.String()
	}
	return strings.Join(s, ", ")
}

// ID is "onnx:", 16 hex digits of the SHA-256 of the model file, "-", and 8
// hex digits that hash the preprocessing settings and the output's name;
// with views (other than the whole picture alone), "+views:", their names
// and 8 hex digits hashing their boxes ("+views:full,subject:1a2b3c4d").
func (e *ONNX) ID() string { return e.id }

// Dim is D of the model's [N,D] output, times the number of views.
func (e *ONNX) Dim() int { return e.dim }

// Lanes is the number of model runs that may go on at once.
func (e *ONNX) Lanes() int { return cap(e.lanes) }

// InputSize returns the height and width of the images the model takes.
func (e *ONNX) InputSize() (h, w int) { return e.h, e.w }

// Preprocess resizes, crops and normalises img into the model's CHW input,
// one after the other for every view. It is safe for concurrent use.
func (e *ONNX) Preprocess(img image.Image) ([]float32, error) {
	if len(e.views) == 0 {
		v, err := e.proc.Process(img)
		if err != nil {
			return nil, fmt.Errorf("embed: %w", err)
		}
		return v, nil
	}
	out := make([]float32, 0, len(e.views)*3*e.h*e.w)
	for _, view := range e.views {
		v, err := e.proc.Process(view.Cut(img))
		if err != nil {
			return nil, fmt.Errorf("embed: view %s: %w", view.Name, err)
		}
		out = append(out, v...)
	}
	return out, nil
}

// viewsID names views in the embedder's ID: their names and 8 hex digits
// hashing their boxes.
func viewsID(views []View) string {
	names := make([]string, len(views))
	for i, v := range views {
		names[i] = v.Name
	}
	data, _ := json.Marshal(views) // plain fields: cannot fail
	sum := sha256.Sum256(data)
	return "views:" + strings.Join(names, ",") + ":" + hex.EncodeToString(sum[:4])
}

// Embed runs the model on batch, MaxBatch images per run, and returns one
// Dim-long vector per input: with views, every view's vector L2-normalised,
// concatenated and normalised. The runs of one call go on at once on as
// many free lanes as there are, each run at most MaxBatch images and the
// images shared out evenly (16 images on two lanes: two runs of 8).
func (e *ONNX) Embed(ctx context.Context, batch [][]float32) ([][]float32, error) {
	nv := max(len(e.views), 1)
	size := 3 * e.h * e.w
	images := make([][]float32, 0, nv*len(batch))
	for i, x := range batch {
		if len(x) != nv*size {
			return nil, fmt.Errorf("embed: onnx: input %d has %d values, want %d (%d views of 3x%dx%d): not from Preprocess?",
				i, len(x), nv*size, nv, e.h, e.w)
		}
		for v := range nv {
			images = append(images, x[v*size:(v+1)*size])
		}
	}
	vecs, err := e.run(ctx, images)
	if err != nil || len(e.views) == 0 {
		return vecs, err
	}
	res := make([][]float32, len(batch))
	for i := range batch {
		res[i] = joinViews(vecs[i*nv : (i+1)*nv])
	}
	return res, nil
}

// joinViews concatenates the vectors, each L2-normalised, and normalises
// the result (a zero vector stays zero).
func joinViews(vecs [][]float32) []float32 {
	var out []float32
	for _, v := range vecs {
		var s float64
		for _, x := range v {
			s += float64(x) * float64(x)
		}
		n := math.Sqrt(s) * math.Sqrt(float64(len(vecs)))
		for _, x := range v {
			if n > 0 {
				out = append(out, float32(float64(x)/n))
			} else {
				out = append(out, 0)
			}
		}
	}
	return out
}

// run runs the model on 3xHxW images, spread over the lanes, and returns
// the model's vector of each.
func (e *ONNX) run(ctx context.Context, images [][]float32) ([][]float32, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.sess == nil {
		return nil, errors.New("embed: onnx: embedder is closed")
	}
	// The first failure stops the other runs of the call.
	g, gctx := errgroup.WithContext(ctx)
	per := runSize(len(images), cap(e.lanes), e.maxBatch, e.fixed)
	res := make([][]float32, len(images))
runs:
	for start := 0; start < len(images); start += per {
		var l *lane
		select {
		case l = <-e.lanes:
		case <-gctx.Done():
			break runs
		}
		chunk := images[start:min(start+per, len(images))]
		g.Go(func() error {
			defer func() { e.lanes <- l }()
			vecs, err := e.runOne(gctx, l, chunk)
			if err != nil {
				return err
			}
			copy(res[start:], vecs)
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil { // cancelled before every run began
		return nil, err
	}
	return res, nil
}

// runSize is the number of images per model run when n images are spread
// over lanes: evenly, at most maxBatch; a model with a fixed batch size
// takes exactly that many (the last run padded).
func runSize(n, lanes, maxBatch, fixed int) int {
	if fixed > 0 {
		return fixed
	}
	return max(1, min(maxBatch, (n+lanes-1)/lanes))
}

// runOne runs the model once, on lane l, on at most the batch size of
// images, and returns the model's vector of each.
func (e *ONNX) runOne(ctx context.Context, l *lane, images [][]float32) ([][]float32, error) {
	size := 3 * e.h * e.w
	d := e.dim / max(len(e.views), 1)
	n := len(images)
	if e.fixed > 0 {
		n = e.fixed
	}
	if cap(l.buf) < n*size {
		l.buf = make([]float32, n*size)
	}
	buf := l.buf[:n*size]
	for i, x := range images {
		copy(buf[i*size:], x)
	}
	clear(buf[len(images)*size:]) // padding of a fixed-size batch
	out, err := e.sess.Run(ctx, onnxrt.Tensor{Shape: []int64{int64(n), 3, int64(e.h), int64(e.w)}, Data: buf})
	if err != nil {
		return nil, fmt.Errorf("embed: onnx: %w", err)
	}
	o := out[0]
	if len(o.Shape) != 2 || o.Shape[0] != int64(n) || o.Shape[1] != int64(d) {
		return nil, fmt.Errorf("embed: onnx: output shape %v for a batch of %d, want [%d %d]", o.Shape, n, n, d)
	}
	res := make([][]float32, len(images))
	for i := range images {
		res[i] = o.Data[i*d : (i+1)*d : (i+1)*d]
	}
	return res, nil
}

// Close destroys the ONNX Runtime session, after the Embed calls under way
// return. Closing twice does nothing.
func (e *ONNX) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.sess == nil {
		return nil
	}
	err := e.sess.Close()
	e.sess = nil
	for range cap(e.lanes) {
		<-e.lanes // all free once no Embed runs: drop their buffers
	}
	if err != nil {
		return fmt.Errorf("embed: onnx: %w", err)
	}
	return nil
}
