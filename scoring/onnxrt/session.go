package onnxrt

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"

	ort "github.com/yalue/onnxruntime_go"
)

// TensorInfo describes one input or output of a model.
type TensorInfo struct {
	Name string
	// Shape has -1 for every dynamic dimension (such as the batch); it is nil
	// for values that are not tensors.
	Shape []int64
	// Type is the element type: "float32", "float16", "float64", "int64",
	// "int32", "uint8", "int8", "bool", "string", or ONNX Runtime's own name
	// of a rarer type; "" for values that are not tensors.
	Type string
}

// String formats the info as name[d0,d1,...]type, N for a dynamic dimension.
func (t TensorInfo) String() string {
	s := t.Name + "["
	for i, d := range t.Shape {
		if i > 0 {
			s += ","
		}
		if d < 0 {
			s += "N"
		} else {
			s += strconv.FormatInt(d, 10)
		}
	}
	return s + "]" + t.Type
}

func typeName(t ort.TensorElementDataType) string {
	switch t {
	case ort.TensorElementDataTypeFloat:
		return "float32"
	case ort.TensorElementDataTypeFloat16:
		return "float16"
	case ort.TensorElementDataTypeDouble:
		return "float64"
	case ort.TensorElementDataTypeInt64:
		return "int64"
	case ort.TensorElementDataTypeInt32:
		return "int32"
	case ort.TensorElementDataTypeUint8:
		return "uint8"
	case ort.TensorElementDataTypeInt8:
		return "int8"
	case ort.TensorElementDataTypeBool:
		return "bool"
	case ort.TensorElementDataTypeString:
		return "string"
	}
	return t.String()
}

func convertInfo(in []ort.InputOutputInfo) []TensorInfo {
	out := make([]TensorInfo, len(in))
	for i, v := range in {
		out[i].Name = v.Name
		if v.OrtValueType == ort.ONNXTypeTensor {
			out[i].Shape = append([]int64{}, v.Dimensions...)
			out[i].Type = typeName(v.DataType)
		}
	}
	return out
}

// ModelInfo reads the names, shapes and element types of the inputs and
// outputs of the model file at path. It reads them from the protobuf,
// skipping the weights (see modelinfo.go), which takes milliseconds and no
// memory to speak of. Only when a declared shape leaves a dimension other
// than the first (the batch) open, which ONNX Runtime's shape inference may
// fill in, does it load the model in ONNX Runtime (briefly, with one thread
// and no graph optimisation, about as long as opening a session), and
// returns the memory that frees to the kernel.
func ModelInfo(path string) (inputs, outputs []TensorInfo, err error) {
	if !initialized() {
		return nil, nil, ErrNotInitialized
	}
	in, out, err := readSignature(path)
	if err != nil {
		return nil, nil, fmt.Errorf("onnxrt: read inputs and outputs of %s: %w", path, err)
	}
	complete := true
	for _, v := range in {
		inputs = append(inputs, tensorInfo(v))
	}
	for _, v := range out {
		outputs = append(outputs, tensorInfo(v))
	}
	for _, t := range append(slices.Clone(inputs), outputs...) {
		if t.Shape == nil || slices.Contains(t.Shape[min(1, len(t.Shape)):], -1) {
			complete = false
		}
	}
	if complete {
		return inputs, outputs, nil
	}
	return modelInfoORT(path)
}

// modelInfoORT is ModelInfo through ONNX Runtime, with its shape inference.
func modelInfoORT(path string) (inputs, outputs []TensorInfo, err error) {
	defer releaseFreedMemory()
	o, err := ort.NewSessionOptions()
	if err != nil {
		return nil, nil, fmt.Errorf("onnxrt: session options: %w", err)
	}
	defer o.Destroy()
	if err := o.SetIntraOpNumThreads(1); err != nil {
		return nil, nil, fmt.Errorf("onnxrt: session options: %w", err)
	}
	if err := o.SetGraphOptimizationLevel(ort.GraphOptimizationLevelDisableAll); err != nil {
		return nil, nil, fmt.Errorf("onnxrt: session options: %w", err)
	}
	in, out, err := ort.GetInputOutputInfoWithOptions(path, o)
	if err != nil {
		return nil, nil, fmt.Errorf("onnxrt: read inputs and outputs of %s: %w", path, err)
	}
	return convertInfo(in), convertInfo(out), nil
}

// ModelInfoBytes is ModelInfo for a model held in memory.
func ModelInfoBytes(model []byte) (inputs, outputs []TensorInfo, err error) {
	if !initialized() {
		return nil, nil, ErrNotInitialized
	}
	in, out, err := ort.GetInputOutputInfoWithONNXData(model)
	if err != nil {
		return nil, nil, fmt.Errorf("onnxrt: read inputs and outputs: %w", err)
	}
	return convertInfo(in), convertInfo(out), nil
}

// NewSessionOptions returns ONNX Runtime session options that use
// intraOpThreads threads inside operators (at least 1: it is always set
// explicitly, never left to ONNX Runtime's all-cores default), one inter-op
// thread and sequential execution, and let idle pool threads sleep instead of
// spinning, so that inference leaves the other cores to image decoding. The
// caller must Destroy them once the session is created.
func NewSessionOptions(intraOpThreads int) (*ort.SessionOptions, error) {
	if !initialized() {
		return nil, ErrNotInitialized
	}
	if intraOpThreads < 1 {
		return nil, fmt.Errorf("onnxrt: intra-op threads %d, want at least 1", intraOpThreads)
	}
	o, err := ort.NewSessionOptions()
	if err != nil {
		return nil, fmt.Errorf("onnxrt: session options: %w", err)
	}
	for _, set := range []func() error{
		func() error { return o.SetIntraOpNumThreads(intraOpThreads) },
		func() error { return o.SetInterOpNumThreads(1) },
		func() error { return o.SetExecutionMode(ort.ExecutionModeSequential) },
		func() error { return o.SetGraphOptimizationLevel(ort.GraphOptimizationLevelEnableAll) },
		func() error { return o.AddSessionConfigEntry("session.intra_op.allow_spinning", "0") },
	} {
		if err := set(); err != nil {
			o.Destroy()
			return nil, fmt.Errorf("onnxrt: session options: %w", err)
		}
	}
	return o, nil
}

// SessionOptions configure NewSession.
type SessionOptions struct {
	// IntraOpThreads is the number of threads one Run uses inside
	// operators; default 1.
	IntraOpThreads int
	// Inputs names the inputs Run takes, in order; default all of the
	// model's inputs in the model's order.
	Inputs []string
	// Outputs names the outputs Run returns, in order; default all of the
	// model's outputs in the model's order.
	Outputs []string
	// Select, when set, is called with the model's inputs and outputs and
	// returns the names of those to use, in place of Inputs and Outputs:
	// for callers that pick them by shape, without reading the model twice.
	Select func(inputs, outputs []TensorInfo) (in, out []string, err error)
}

// Tensor is a float32 tensor: Data holds the values in row-major order.
type Tensor struct {
	Shape []int64
	Data  []float32
}

// Session runs a model whose selected inputs and outputs are float32
// tensors, with any dynamic dimensions (such as the batch). Run is safe for
// concurrent use; Close waits for running calls.
type Session struct {
	mu      sync.RWMutex
	s       *ort.DynamicAdvancedSession
	inputs  []TensorInfo
	outputs []TensorInfo
}

// NewSession opens the model file at path.
func NewSession(path string, opts SessionOptions) (*Session, error) {
	in, out, err := ModelInfo(path)
	if err != nil {
		return nil, err
	}
	s, err := newSession(in, out, opts, func(inNames, outNames []string, o *ort.SessionOptions) (*ort.DynamicAdvancedSession, error) {
		return ort.NewDynamicAdvancedSession(path, inNames, outNames, o)
	})
	if err != nil {
		return nil, fmt.Errorf("onnxrt: open %s: %w", path, err)
	}
	return s, nil
}

// NewSessionBytes opens a model held in memory.
func NewSessionBytes(model []byte, opts SessionOptions) (*Session, error) {
	in, out, err := ModelInfoBytes(model)
	if err != nil {
		return nil, err
	}
	s, err := newSession(in, out, opts, func(inNames, outNames []string, o *ort.SessionOptions) (*ort.DynamicAdvancedSession, error) {
		return ort.NewDynamicAdvancedSessionWithONNXData(model, inNames, outNames, o)
	})
	if err != nil {
		return nil, fmt.Errorf("onnxrt: open model: %w", err)
	}
	return s, nil
}

func pick(kind string, all []TensorInfo, names []string) ([]TensorInfo, error) {
	if len(names) == 0 {
		names = make([]string, len(all))
		for i, t := range all {
			names[i] = t.Name
		}
	}
	picked := make([]TensorInfo, 0, len(names))
	for _, n := range names {
		found := false
		for _, t := range all {
			if t.Name == n {
				if t.Type != "float32" {
					return nil, fmt.Errorf("%s %s: Session runs float32 tensors only", kind, t)
				}
				picked = append(picked, t)
				found = true
				break
			}
		}
		if !found {
			return nil, fmt.Errorf("model has no %s %q", kind, n)
		}
	}
	return picked, nil
}

func newSession(in, out []TensorInfo, opts SessionOptions,
	open func(in, out []string, o *ort.SessionOptions) (*ort.DynamicAdvancedSession, error)) (*Session, error) {
	if opts.Select != nil {
		var err error
		if opts.Inputs, opts.Outputs, err = opts.Select(in, out); err != nil {
			return nil, err
		}
	}
	inputs, err := pick("input", in, opts.Inputs)
	if err != nil {
		return nil, err
	}
	outputs, err := pick("output", out, opts.Outputs)
	if err != nil {
		return nil, err
	}
	if len(inputs) == 0 || len(outputs) == 0 {
		return nil, errors.New("model without inputs or outputs")
	}
	threads := opts.IntraOpThreads
	if threads == 0 {
		threads = 1
	}
	o, err := NewSessionOptions(threads)
	if err != nil {
		return nil, err
	}
	defer o.Destroy()
	s, err := open(names(inputs), names(outputs), o)
	if err != nil {
		return nil, err
	}
	releaseFreedMemory()
	return &Session{s: s, inputs: inputs, outputs: outputs}, nil
}

func names(ts []TensorInfo) []string {
	n := make([]string, len(ts))
	for i, t := range ts {
		n[i] = t.Name
	}
	return n
}

// Inputs describes the inputs Run takes, in order.
func (s *Session) Inputs() []TensorInfo { return append([]TensorInfo{}, s.inputs...) }

// Outputs describes the outputs Run returns, in order.
func (s *Session) Outputs() []TensorInfo { return append([]TensorInfo{}, s.outputs...) }

// Run runs the model on one tensor per input and returns one tensor per
// output. The inputs' data are read in place, not copied, and must not change
// during the call. When ctx ends during the run, ONNX Runtime is told to stop
// and Run returns ctx's error.
func (s *Session) Run(ctx context.Context, inputs ...Tensor) ([]Tensor, error) {
	if len(inputs) != len(s.inputs) {
		return nil, fmt.Errorf("onnxrt: run: %d inputs, the session takes %d", len(inputs), len(s.inputs))
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.s == nil {
		return nil, errors.New("onnxrt: run: session is closed")
	}
	in := make([]ort.Value, len(inputs))
	defer func() {
		for _, v := range in {
			if v != nil {
				v.Destroy()
			}
		}
	}()
	for i, t := range inputs {
		info := s.inputs[i]
		if len(t.Shape) != len(info.Shape) {
			return nil, fmt.Errorf("onnxrt: run: input %s given shape %v", info, t.Shape)
		}
		for j, d := range info.Shape {
			if d >= 0 && t.Shape[j] != d {
				return nil, fmt.Errorf("onnxrt: run: input %s given shape %v", info, t.Shape)
			}
		}
		if n := ort.Shape(t.Shape).FlattenedSize(); n != int64(len(t.Data)) {
			return nil, fmt.Errorf("onnxrt: run: input %s: %d values for shape %v", info.Name, len(t.Data), t.Shape)
		}
		v, err := ort.NewTensor(ort.Shape(t.Shape), t.Data)
		if err != nil {
			return nil, fmt.Errorf("onnxrt: run: input %s: %w", info.Name, err)
		}
		in[i] = v
	}

	var ro *ort.RunOptions
	if ctx.Done() != nil {
		var err error
		if ro, err = ort.NewRunOptions(); err != nil {
			return nil, fmt.Errorf("onnxrt: run options: %w", err)
		}
		defer ro.Destroy()
		terminated := make(chan struct{})
		stop := context.AfterFunc(ctx, func() {
			ro.Terminate()
			close(terminated)
		})
		// Runs before ro.Destroy: wait for a Terminate already under way.
		defer func() {
			if !stop() {
				<-terminated
			}
		}()
	}

	out := make([]ort.Value, len(s.outputs))
	err := s.s.RunWithOptions(in, out, ro)
	defer func() {
		for _, v := range out {
			if v != nil {
				v.Destroy()
			}
		}
	}()
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("onnxrt: run: %w", ctx.Err())
		}
		return nil, fmt.Errorf("onnxrt: run: %w", err)
	}
	res := make([]Tensor, len(out))
	for i, v := range out {
		t, ok := v.(*ort.Tensor[float32])
		if !ok {
			return nil, fmt.Errorf("onnxrt: run: output %s is not a float32 tensor", s.outputs[i].Name)
		}
		// Auto-allocated outputs live in Go memory that Destroy leaves alone.
		res[i] = Tensor{Shape: append([]int64{}, t.GetShape()...), Data: t.GetData()}
	}
	return res, nil
}

// Close destroys the session, after any running calls have returned.
// Closing twice does nothing.
func (s *Session) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.s == nil {
		return nil
	}
	err := s.s.Destroy()
	s.s = nil
	if err != nil {
		return fmt.Errorf("onnxrt: close session: %w", err)
	}
	return nil
}
