package onnxrt

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"

	ort "github.com/yalue/onnxruntime_go"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"screend/scoring/onnxmodel"
)

// Reading a model's inputs and outputs from its protobuf, without ONNX
// Runtime: loading a 350 MB model just for its signature took as long as
// opening the session and left glibc holding hundreds of megabytes that the
// session did not reuse (measured: 1.08 GB resident with the ViT-B/32-shaped
// model after a few batches, against 0.59 GB without the extra load).
// Only the graph's input, output and initializer names are read; the
// weights are skipped with seeks.

// Field numbers of onnx.proto (ONNX 1.12).
const (
	modelGraphField       = 7  // ModelProto.graph
	graphInitializerField = 5  // GraphProto.initializer
	graphInputField       = 11 // GraphProto.input
	graphOutputField      = 12 // GraphProto.output
	tensorNameField       = 8  // TensorProto.name
)

// protoReader reads protobuf fields from a file, skipping values with seeks.
type protoReader struct {
	f   *os.File
	br  *bufio.Reader
	pos int64
}

func (r *protoReader) ReadByte() (byte, error) {
	b, err := r.br.ReadByte()
	if err == nil {
		r.pos++
	}
	return b, err
}

func (r *protoReader) varint() (uint64, error) {
	var v uint64
	for shift := 0; shift < 64; shift += 7 {
		b, err := r.ReadByte()
		if err != nil {
			return 0, err
		}
		v |= uint64(b&0x7f) << shift
		if b < 0x80 {
			return v, nil
		}
	}
	return 0, errors.New("varint overflows")
}

// field reads the next field's tag; for length-delimited fields n is the
// length of the value that follows.
func (r *protoReader) field() (num protowire.Number, typ protowire.Type, n int64, err error) {
	tag, err := r.varint()
	if err != nil {
		return 0, 0, 0, err
	}
	num, typ = protowire.Number(tag>>3), protowire.Type(tag&7)
	switch typ {
	case protowire.BytesType:
		l, err := r.varint()
		return num, typ, int64(l), err
	case protowire.VarintType:
		_, err := r.varint()
		return num, typ, 0, err
	case protowire.Fixed32Type:
		return num, typ, 0, r.skip(4)
	case protowire.Fixed64Type:
		return num, typ, 0, r.skip(8)
	}
	return 0, 0, 0, fmt.Errorf("unsupported protobuf wire type %d", typ)
}

func (r *protoReader) skip(n int64) error {
	if n <= int64(r.br.Buffered()) {
		_, err := r.br.Discard(int(n))
		r.pos += n
		return err
	}
	r.pos += n
	if _, err := r.f.Seek(r.pos, io.SeekStart); err != nil {
		return err
	}
	r.br.Reset(r.f)
	return nil
}

func (r *protoReader) bytes(n int64) ([]byte, error) {
	if n > 64<<20 {
		return nil, fmt.Errorf("field of %d bytes where a name or signature was expected", n)
	}
	b := make([]byte, n)
	_, err := io.ReadFull(r.br, b)
	r.pos += int64(len(b))
	return b, err
}

// readSignature reads the graph inputs (without those that are
// initializers, as ONNX Runtime reports them) and outputs of the ONNX
// model file at path.
func readSignature(path string) (inputs, outputs []*onnxmodel.ValueInfoProto, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return nil, nil, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, nil, err
	}
	r := &protoReader{f: f, br: bufio.NewReaderSize(f, 64<<10)}
	initializers := map[string]bool{}
	sawGraph := false
	for r.pos < size {
		num, typ, n, err := r.field()
		if err != nil {
			return nil, nil, err
		}
		if typ != protowire.BytesType {
			continue
		}
		if num != modelGraphField {
			if err := r.skip(n); err != nil {
				return nil, nil, err
			}
			continue
		}
		sawGraph = true
		for end := r.pos + n; r.pos < end; {
			num, typ, n, err := r.field()
			if err != nil {
				return nil, nil, err
			}
			if typ != protowire.BytesType {
				continue
			}
			switch num {
			case graphInputField, graphOutputField:
				b, err := r.bytes(n)
				if err != nil {
					return nil, nil, err
				}
				v := new(onnxmodel.ValueInfoProto)
				if err := proto.Unmarshal(b, v); err != nil {
					return nil, nil, err
				}
				if num == graphInputField {
					inputs = append(inputs, v)
				} else {
					outputs = append(outputs, v)
				}
			case graphInitializerField:
				name, err := r.tensorName(n)
				if err != nil {
					return nil, nil, err
				}
				initializers[name] = true
			default:
				if err := r.skip(n); err != nil {
					return nil, nil, err
				}
			}
		}
	}
	if !sawGraph {
		return nil, nil, errors.New("no graph in the model")
	}
	kept := inputs[:0]
	for _, v := range inputs {
		if !initializers[v.GetName()] {
			kept = append(kept, v)
		}
	}
	return kept, outputs, nil
}

// tensorName reads a TensorProto of n bytes, keeping only its name.
func (r *protoReader) tensorName(n int64) (string, error) {
	var name string
	for end := r.pos + n; r.pos < end; {
		num, typ, l, err := r.field()
		if err != nil {
			return "", err
		}
		if typ != protowire.BytesType {
			continue
		}
		if num == tensorNameField {
			b, err := r.bytes(l)
			if err != nil {
				return "", err
			}
			name = string(b)
			continue
		}
		if err := r.skip(l); err != nil {
			return "", err
		}
	}
	return name, nil
}

// tensorInfo converts a graph input or output to TensorInfo as ONNX
// Runtime reports it: -1 for dynamic dimensions, "" type for non-tensors.
func tensorInfo(v *onnxmodel.ValueInfoProto) TensorInfo {
	t := TensorInfo{Name: v.GetName()}
	tt := v.GetType().GetTensorType()
	if tt == nil {
		return t
	}
	t.Type = typeName(ort.TensorElementDataType(tt.GetElemType()))
	t.Shape = []int64{}
	for _, d := range tt.GetShape().GetDim() {
		if d.GetDimParam() == "" && d.GetDimValue() > 0 {
			t.Shape = append(t.Shape, d.GetDimValue())
		} else {
			t.Shape = append(t.Shape, -1)
		}
	}
	return t
}
