package onnxmodel

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"

	"google.golang.org/protobuf/proto"
)

// IRVersion is the ONNX IR version written into models (the newest that
// onnx.proto 1.12 defines; ONNX Runtime 1.24 reads IR versions up to 11).
const IRVersion int64 = int64(Version_IR_VERSION)

// OpsetVersion is the version of the default ("ai.onnx") operator set that
// models import. Operator helpers follow its signatures: ReduceMean and
// ReduceL2 take axes as an attribute, Slice and Reshape take tensors.
const OpsetVersion int64 = 17

// Batch marks the dynamic batch dimension in a shape given to Input or
// Output; it is written as the symbolic dimension BatchDim.
const Batch int64 = -1

// BatchDim is the name of the symbolic batch dimension.
const BatchDim = "N"

// Producer is the producer_name written into models.
const Producer = "screend"

// Activation is the non-linearity Dense applies after its affine map.
type Activation string

// Activations for Dense; ActNone leaves the affine output as it is.
const (
	ActNone    Activation = ""
	ActReLU    Activation = "Relu"
	ActSigmoid Activation = "Sigmoid"
	ActTanh    Activation = "Tanh"
)

// Graph builds one ONNX graph. Methods that add values return the name of the
// value they produce, to be passed to later methods. The first mistake (a
// wrong data length, a duplicate name, ...) is remembered and returned by
// Err, Model and Marshal; methods called after it do nothing useful. A Graph
// is not safe for concurrent use.
type Graph struct {
	name     string
	doc      string
	nodes    []*NodeProto
	inits    []*TensorProto
	inputs   []*ValueInfoProto
	outputs  []*ValueInfoProto
	metadata []*StringStringEntryProto
	used     map[string]bool
	seq      map[string]int
	err      error
}

// NewGraph starts an empty graph called name.
func NewGraph(name string) *Graph {
	return &Graph{name: name, used: map[string]bool{}, seq: map[string]int{}}
}

// Err returns the first error met while building, or nil.
func (g *Graph) Err() error { return g.err }

func (g *Graph) fail(format string, args ...any) {
	if g.err == nil {
		g.err = fmt.Errorf("onnxmodel: graph %q: "+format, append([]any{g.name}, args...)...)
	}
}

// claim reserves a value name; an empty name gets a fresh one from prefix.
func (g *Graph) claim(name, prefix string) string {
	if name == "" {
		for {
			g.seq[prefix]++
			name = fmt.Sprintf("%s_%d", prefix, g.seq[prefix])
			if !g.used[name] {
				break
			}
		}
	} else if g.used[name] {
		g.fail("value name %q used twice", name)
	}
	g.used[name] = true
	return name
}

// SetDoc sets the graph's doc_string.
func (g *Graph) SetDoc(doc string) { g.doc = doc }

// SetMetadata adds a key/value pair to the model's metadata_props (readable
// with ONNX Runtime's model metadata API).
func (g *Graph) SetMetadata(key, value string) {
	g.metadata = append(g.metadata, &StringStringEntryProto{Key: proto.String(key), Value: proto.String(value)})
}

func (g *Graph) valueInfo(name string, shape []int64) *ValueInfoProto {
	tt := &TypeProto_Tensor{ElemType: proto.Int32(int32(TensorProto_FLOAT))}
	if shape != nil {
		dims := make([]*TensorShapeProto_Dimension, len(shape))
		for i, d := range shape {
			switch {
			case d == Batch:
				dims[i] = &TensorShapeProto_Dimension{Value: &TensorShapeProto_Dimension_DimParam{DimParam: BatchDim}}
			case d > 0:
				dims[i] = &TensorShapeProto_Dimension{Value: &TensorShapeProto_Dimension_DimValue{DimValue: d}}
			default:
				g.fail("%s: dimension %d is %d, want > 0 or Batch", name, i, d)
			}
		}
		tt.Shape = &TensorShapeProto{Dim: dims}
	}
	return &ValueInfoProto{Name: proto.String(name), Type: &TypeProto{Value: &TypeProto_TensorType{TensorType: tt}}}
}

// Input declares a float32 graph input and returns its name. Use Batch for
// the dynamic batch dimension, e.g. Input("pixel_values", Batch, 3, 224, 224).
func (g *Graph) Input(name string, shape ...int64) string {
	if name == "" {
		g.fail("input without a name")
	}
	name = g.claim(name, "input")
	g.inputs = append(g.inputs, g.valueInfo(name, shape))
	return name
}

// Output declares value as a float32 graph output called name; an Identity
// node renames it when the names differ. With no shape the output's shape is
// left to ONNX Runtime's inference.
func (g *Graph) Output(name, value string, shape ...int64) {
	if name == "" {
		g.fail("output without a name")
		return
	}
	if name != value {
		g.nodeNamed(name, "Identity", []string{value})
	} else if !g.used[name] {
		g.fail("output %q is not a value of the graph", name)
	}
	if len(shape) == 0 {
		shape = nil
	}
	g.outputs = append(g.outputs, g.valueInfo(name, shape))
}

func shapeSize(shape []int64) (int64, bool) {
	n := int64(1)
	for _, d := range shape {
		if d < 0 {
			return 0, false
		}
		n *= d
	}
	return n, true
}

// Float32 adds a float32 initializer (a constant tensor) holding data in
// row-major order with the given shape (none for a scalar) and returns its
// name; an empty name gets a generated one. data is copied.
func (g *Graph) Float32(name string, data []float32, shape ...int64) string {
	name = g.claim(name, "const")
	if n, ok := shapeSize(shape); !ok || n != int64(len(data)) {
		g.fail("initializer %s: %d values for shape %v", name, len(data), shape)
		return name
	}
	raw := make([]byte, 4*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
	}
	g.inits = append(g.inits, &TensorProto{
		Name:     proto.String(name),
		DataType: proto.Int32(int32(TensorProto_FLOAT)),
		Dims:     append([]int64{}, shape...),
		RawData:  raw,
	})
	return name
}

// Int64 adds an int64 initializer, as operators such as Slice and Reshape
// take for their parameters, and returns its name.
func (g *Graph) Int64(name string, data []int64, shape ...int64) string {
	name = g.claim(name, "const")
	if n, ok := shapeSize(shape); !ok || n != int64(len(data)) {
		g.fail("initializer %s: %d values for shape %v", name, len(data), shape)
		return name
	}
	g.inits = append(g.inits, &TensorProto{
		Name:      proto.String(name),
		DataType:  proto.Int32(int32(TensorProto_INT64)),
		Dims:      append([]int64{}, shape...),
		Int64Data: append([]int64{}, data...),
	})
	return name
}

// AttrInt makes an INT attribute.
func AttrInt(name string, v int64) *AttributeProto {
	return &AttributeProto{Name: proto.String(name), Type: AttributeProto_INT.Enum(), I: proto.Int64(v)}
}

// AttrInts makes an INTS attribute.
func AttrInts(name string, v ...int64) *AttributeProto {
	return &AttributeProto{Name: proto.String(name), Type: AttributeProto_INTS.Enum(), Ints: append([]int64{}, v...)}
}

// AttrFloat makes a FLOAT attribute.
func AttrFloat(name string, v float32) *AttributeProto {
	return &AttributeProto{Name: proto.String(name), Type: AttributeProto_FLOAT.Enum(), F: proto.Float32(v)}
}

// AttrFloats makes a FLOATS attribute.
func AttrFloats(name string, v ...float32) *AttributeProto {
	return &AttributeProto{Name: proto.String(name), Type: AttributeProto_FLOATS.Enum(), Floats: append([]float32{}, v...)}
}

// AttrString makes a STRING attribute.
func AttrString(name, v string) *AttributeProto {
	return &AttributeProto{Name: proto.String(name), Type: AttributeProto_STRING.Enum(), S: []byte(v)}
}

// Node adds a node of the default domain with the given inputs (an empty
// string skips an optional input) and one output, and returns the output's
// name. The operator helpers below are shorthands for it.
func (g *Graph) Node(op string, inputs []string, attrs ...*AttributeProto) string {
	return g.nodeNamed("", op, inputs, attrs...)
}

func (g *Graph) nodeNamed(out, op string, inputs []string, attrs ...*AttributeProto) string {
	for _, in := range inputs {
		if in != "" && !g.used[in] {
			g.fail("%s: input %q is not a value of the graph", op, in)
		}
	}
	out = g.claim(out, strings.ToLower(op))
	g.nodes = append(g.nodes, &NodeProto{
		Name:      proto.String(out),
		OpType:    proto.String(op),
		Input:     append([]string{}, inputs...),
		Output:    []string{out},
		Attribute: attrs,
	})
	return out
}

// MatMul adds a·b with numpy broadcasting.
func (g *Graph) MatMul(a, b string) string { return g.Node("MatMul", []string{a, b}) }

// Gemm adds a·b + c for 2-D a and b, with b transposed first when transB is
// set (the layout of a PyTorch Linear weight, [out,in]).
func (g *Graph) Gemm(a, b, c string, transB bool) string {
	var attrs []*AttributeProto
	if transB {
		attrs = append(attrs, AttrInt("transB", 1))
	}
	return g.Node("Gemm", []string{a, b, c}, attrs...)
}

// Add adds a+b with broadcasting.
func (g *Graph) Add(a, b string) string { return g.Node("Add", []string{a, b}) }

// Sub adds a-b with broadcasting.
func (g *Graph) Sub(a, b string) string { return g.Node("Sub", []string{a, b}) }

// Mul adds a·b element-wise with broadcasting.
func (g *Graph) Mul(a, b string) string { return g.Node("Mul", []string{a, b}) }

// Div adds a/b element-wise with broadcasting.
func (g *Graph) Div(a, b string) string { return g.Node("Div", []string{a, b}) }

// Relu adds max(x, 0).
func (g *Graph) Relu(x string) string { return g.Node("Relu", []string{x}) }

// Sigmoid adds 1/(1+exp(-x)).
func (g *Graph) Sigmoid(x string) string { return g.Node("Sigmoid", []string{x}) }

// Tanh adds tanh(x).
func (g *Graph) Tanh(x string) string { return g.Node("Tanh", []string{x}) }

// Sqrt adds the element-wise square root.
func (g *Graph) Sqrt(x string) string { return g.Node("Sqrt", []string{x}) }

// Identity adds a copy of x.
func (g *Graph) Identity(x string) string { return g.Node("Identity", []string{x}) }

// Softmax adds a softmax over axis (-1 for the last).
func (g *Graph) Softmax(x string, axis int64) string {
	return g.Node("Softmax", []string{x}, AttrInt("axis", axis))
}

// ConvOpts are the attributes of Conv; zero values take ONNX's defaults
// (stride 1, no padding, dilation 1, one group).
type ConvOpts struct {
	Strides   []int64 // per spatial axis
	Pads      []int64 // begin values of every spatial axis, then end values
	Dilations []int64 // per spatial axis
	Group     int64
}

// Conv adds a convolution of x [N,C,H,W] with weights w [M,C/group,kH,kW]
// and optional bias b [M] ("" for none).
func (g *Graph) Conv(x, w, b string, o ConvOpts) string {
	var attrs []*AttributeProto
	if len(o.Strides) > 0 {
		attrs = append(attrs, AttrInts("strides", o.Strides...))
	}
	if len(o.Pads) > 0 {
		attrs = append(attrs, AttrInts("pads", o.Pads...))
	}
	if len(o.Dilations) > 0 {
		attrs = append(attrs, AttrInts("dilations", o.Dilations...))
	}
	if o.Group > 1 {
		attrs = append(attrs, AttrInt("group", o.Group))
	}
	in := []string{x, w}
	if b != "" {
		in = append(in, b)
	}
	return g.Node("Conv", in, attrs...)
}

// GlobalAveragePool adds the mean over all spatial axes: [N,C,H,W] to
// [N,C,1,1].
func (g *Graph) GlobalAveragePool(x string) string {
	return g.Node("GlobalAveragePool", []string{x})
}

func reduceAttrs(keepDims bool, axes []int64) []*AttributeProto {
	keep := int64(0)
	if keepDims {
		keep = 1
	}
	attrs := []*AttributeProto{AttrInt("keepdims", keep)}
	if len(axes) > 0 {
		attrs = append(attrs, AttrInts("axes", axes...))
	}
	return attrs
}

// ReduceMean adds the mean over axes (all axes when none are given).
func (g *Graph) ReduceMean(x string, keepDims bool, axes ...int64) string {
	return g.Node("ReduceMean", []string{x}, reduceAttrs(keepDims, axes)...)
}

// ReduceL2 adds the Euclidean norm over axes (all axes when none are given).
func (g *Graph) ReduceL2(x string, keepDims bool, axes ...int64) string {
	return g.Node("ReduceL2", []string{x}, reduceAttrs(keepDims, axes)...)
}

// Flatten adds a reshape to 2-D: the axes before axis become the first
// dimension, the rest the second.
func (g *Graph) Flatten(x string, axis int64) string {
	return g.Node("Flatten", []string{x}, AttrInt("axis", axis))
}

// Concat adds the concatenation of xs along axis.
func (g *Graph) Concat(axis int64, xs ...string) string {
	return g.Node("Concat", xs, AttrInt("axis", axis))
}

// Slice adds x[starts:ends] along axes (all of the same length).
func (g *Graph) Slice(x string, starts, ends, axes []int64) string {
	if len(starts) != len(ends) || len(starts) != len(axes) {
		g.fail("Slice: %d starts, %d ends, %d axes", len(starts), len(ends), len(axes))
	}
	n := int64(len(starts))
	return g.Node("Slice", []string{x,
		g.Int64("", starts, n), g.Int64("", ends, n), g.Int64("", axes, n)})
}

// Reshape adds a reshape of x to shape (0 copies a dimension of x, -1 is
// inferred).
func (g *Graph) Reshape(x string, shape ...int64) string {
	return g.Node("Reshape", []string{x, g.Int64("", shape, int64(len(shape)))})
}

// Transpose adds a permutation of x's axes.
func (g *Graph) Transpose(x string, perm ...int64) string {
	return g.Node("Transpose", []string{x}, AttrInts("perm", perm...))
}

// Dense adds a fully connected layer act(x·W + b) for x [..., in]: w holds
// the weights [in,out] row-major (w[i*out+j] links input i to output j), b
// the bias [out] (nil for none). It returns the layer's output [..., out].
func (g *Graph) Dense(x string, w, b []float32, in, out int, act Activation) string {
	if len(w) != in*out {
		g.fail("Dense: %d weights for [%d,%d]", len(w), in, out)
		return x
	}
	if b != nil && len(b) != out {
		g.fail("Dense: %d biases for %d outputs", len(b), out)
		return x
	}
	y := g.MatMul(x, g.Float32("", w, int64(in), int64(out)))
	if b != nil {
		y = g.Add(y, g.Float32("", b, int64(out)))
	}
	switch act {
	case ActNone:
		return y
	case ActReLU, ActSigmoid, ActTanh:
		return g.Node(string(act), []string{y})
	default:
		g.fail("Dense: unknown activation %q", act)
		return y
	}
}

// Model assembles the ModelProto.
func (g *Graph) Model() (*ModelProto, error) {
	if g.err != nil {
		return nil, g.err
	}
	if len(g.outputs) == 0 {
		return nil, errors.New("onnxmodel: graph " + g.name + " has no outputs")
	}
	graph := &GraphProto{
		Name:        proto.String(g.name),
		Node:        g.nodes,
		Initializer: g.inits,
		Input:       g.inputs,
		Output:      g.outputs,
	}
	if g.doc != "" {
		graph.DocString = proto.String(g.doc)
	}
	return &ModelProto{
		IrVersion:     proto.Int64(IRVersion),
		OpsetImport:   []*OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(OpsetVersion)}},
		ProducerName:  proto.String(Producer),
		Graph:         graph,
		MetadataProps: g.metadata,
	}, nil
}

// Marshal encodes the model in the ONNX protobuf format, deterministically
// (the same graph gives the same bytes).
func (g *Graph) Marshal() ([]byte, error) {
	m, err := g.Model()
	if err != nil {
		return nil, err
	}
	data, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("onnxmodel: marshal %s: %w", g.name, err)
	}
	return data, nil
}
