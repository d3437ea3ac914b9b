package screend

import (
	"fmt"
	"math"
	"testing"
)

func TestBoxFromCenter(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		cx, cy, s float64
		want      Box
	}{
		{0.5, 0.5, 0.5, Box{0.25, 0.25, 0.75, 0.75}},
		{0.5, 0.1, 0.6, Box{0.2, 0, 0.8, 0.6}},         // shifted down to the top edge
		{0.95, 0.95, 0.4, Box{0.6, 0.6, 1, 1}},         // shifted back from the corner
		{0.3, 0.7, 1.5, Box{0, 0, 1, 1}},               // scale clamped to 1
		{0.5, 0.5, 0, Box{0.475, 0.475, 0.525, 0.525}}, // MinScale
		{math.NaN(), 0, math.NaN(), Box{0, 0, 1, 1}},
	} {
		got := BoxFromCenter(c.cx, c.cy, c.s)
		for k := range got {
			if math.Abs(got[k]-c.want[k]) > 1e-9 {
				t.Errorf("BoxFromCenter(%v, %v, %v) = %v, want %v", c.cx, c.cy, c.s, got, c.want)
				break
			}
		}
		// aspect kept (normalised width == height), inside the image
		if math.Abs((got[2]-got[0])-(got[3]-got[1])) > 1e-12 || got[0] < 0 || got[1] < 0 || got[2] > 1 || got[3] > 1 {
			t.Errorf("box %v leaves the image or changes the aspect", got)
		}
	}
	if cx, cy, s := (Box{0.2, 0, 0.8, 0.6}).Center(); math.Abs(cx-0.5) > 1e-12 || math.Abs(cy-0.3) > 1e-12 || math.Abs(s-0.6) > 1e-12 {
		t.Errorf("Center = %v %v %v", cx, cy, s)
	}
	if !(Box{0, 0.005, 1, 1}).IsFullFrame() || (Box{0, 0, 1, 0.9}).IsFullFrame() {
		t.Error("IsFullFrame")
	}
	if v := (Box{0, 0, 0.5, 0.5}).IoU(Box{0.25, 0.25, 0.75, 0.75}); math.Abs(v-1.0/7) > 1e-12 {
		t.Errorf("IoU = %v, want 1/7", v)
	}
}

func ExampleBoxFromCenter() {
	// A crop centred horizontally near the top, 60% of the image's width
	// and height: shifted down so that it starts at the top edge.
	fmt.Printf("%.2f\n", [4]float64(BoxFromCenter(0.5, 0.2, 0.6)))
	// Output: [0.20 0.00 0.80 0.60]
}

func TestBoxFloat32s(t *testing.T) {
	t.Parallel()
	b := Box{0.25, 0, 0.75, 0.5}
	got, err := BoxFromFloat32s(b.Float32s())
	if err != nil || got == nil || *got != b {
		t.Errorf("BoxFromFloat32s(Float32s(%v)) = %v, %v", b, got, err)
	}
	if got, err := BoxFromFloat32s(nil); got != nil || err != nil {
		t.Errorf("BoxFromFloat32s(nil) = %v, %v, want nil, nil", got, err)
	}
	if _, err := BoxFromFloat32s([]float32{0, 0, 1}); err == nil {
		t.Error("BoxFromFloat32s of three numbers: no error")
	}
}

func TestParseBox(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in   string
		want Box
		err  bool
	}{
		{"0.1,0,0.9,0.8", Box{0.1, 0, 0.9, 0.8}, false},
		{" 0 , 0 , 2 , 1 ", Box{0, 0, 2, 1}, false}, // resolve_group judges the values
		{"0,0,1", Box{}, true},
		{"0,0,x,1", Box{}, true},
	} {
		got, err := ParseBox(c.in)
		if (err != nil) != c.err {
			t.Errorf("ParseBox(%q) error = %v, want error %v", c.in, err, c.err)
			continue
		}
		for k := range got {
			if math.Abs(got[k]-c.want[k]) > 1e-6 {
				t.Errorf("ParseBox(%q) = %v, want %v", c.in, got, c.want)
				break
			}
		}
	}
}
