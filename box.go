package screend

import (
	"fmt"
	"image"
	"math"
	"strconv"
	"strings"
)

// Box is a crop: its corners [x1, y1, x2, y2] normalised to the image, so
// that [0, 0, 1, 1] is the whole image. The database stores it as real[4]
// (Float32s, BoxFromFloat32s).
type Box [4]float64

// MinScale is the smallest linear crop scale BoxFromCenter produces.
const MinScale = 0.05

// FullFrameTolerance is how close to the image's edges a box must be, on every
// side, to count as a full-frame crop, which means "no crop".
const FullFrameTolerance = 0.01

// BoxFromCenter turns a crop given as centre (cx, cy) and linear scale, all
// normalised to the image, into a Box. The box keeps the image's aspect ratio
// (its width and height are both scale times the image's); the scale is
// clamped to [MinScale, 1] and a box that would leave the image is shifted
// back inside, never shrunk.
func BoxFromCenter(cx, cy, scale float64) Box {
	if math.IsNaN(scale) {
		scale = 1
	}
	s := math.Min(1, math.Max(MinScale, scale))
	x1 := shiftInside(cx-s/2, s)
	y1 := shiftInside(cy-s/2, s)
	return Box{x1, y1, x1 + s, y1 + s}
}

// shiftInside moves the start of a segment of length s so that it lies in [0, 1].
func shiftInside(start, s float64) float64 {
	if math.IsNaN(start) {
		start = (1 - s) / 2
	}
	return math.Min(1-s, math.Max(0, start))
}

// Center is the inverse of BoxFromCenter: the box's centre and its linear
// scale, the mean of its width and height (which are equal for a box that
// keeps the aspect ratio).
func (b Box) Center() (cx, cy, scale float64) {
	return (b[0] + b[2]) / 2, (b[1] + b[3]) / 2, ((b[2] - b[0]) + (b[3] - b[1])) / 2
}

// MinCropPixels is the smallest side of a crop, in pixels of the image:
// resolve_group refuses a smaller box, the decider flags a group whose
// suggested crop is smaller (ReasonCropTooSmall), and no smaller crop is
// ever written.
const MinCropPixels = 16

// Rect returns the box in pixels of a w×h image, rounded as a crop is cut
// and clipped to the image.
func (b Box) Rect(w, h int) image.Rectangle {
	fw, fh := float64(w), float64(h)
	r := image.Rect(int(math.Round(b[0]*fw)), int(math.Round(b[1]*fh)), int(math.Round(b[2]*fw)), int(math.Round(b[3]*fh)))
	return r.Intersect(image.Rect(0, 0, w, h))
}

// IsFullFrame reports whether the box covers the whole image within
// FullFrameTolerance: such a crop is a no-op and means "no crop".
func (b Box) IsFullFrame() bool {
	t := FullFrameTolerance
	return b[0] <= t && b[1] <= t && b[2] >= 1-t && b[3] >= 1-t
}

// IoU returns the intersection over union of two boxes.
func (b Box) IoU(o Box) float64 {
	iw := math.Min(b[2], o[2]) - math.Max(b[0], o[0])
	ih := math.Min(b[3], o[3]) - math.Max(b[1], o[1])
	if iw <= 0 || ih <= 0 {
		return 0
	}
	inter := iw * ih
	union := (b[2]-b[0])*(b[3]-b[1]) + (o[2]-o[0])*(o[3]-o[1]) - inter
	if union <= 0 {
		return 0
	}
	return inter / union
}

// Float32s returns the box as the database stores it.
func (b Box) Float32s() []float32 {
	return []float32{float32(b[0]), float32(b[1]), float32(b[2]), float32(b[3])}
}

// BoxFromFloat32s reads a box as the database stores it; nil is no box.
func BoxFromFloat32s(v []float32) (*Box, error) {
	if v == nil {
		return nil, nil
	}
	if len(v) != 4 {
		return nil, fmt.Errorf("crop box %v: want four numbers", v)
	}
	return &Box{float64(v[0]), float64(v[1]), float64(v[2]), float64(v[3])}, nil
}

// ParseBox reads a box written "x1,y1,x2,y2". It does not validate it:
// screend.resolve_group does, for Go and SQL callers alike.
func ParseBox(s string) (Box, error) {
	parts := strings.Split(s, ",")
	if len(parts) != 4 {
		return Box{}, fmt.Errorf("crop %q: want four numbers x1,y1,x2,y2", s)
	}
	var b Box
	for i, p := range parts {
		v, err := strconv.ParseFloat(strings.TrimSpace(p), 32)
		if err != nil {
			return Box{}, fmt.Errorf("crop %q: %w", s, err)
		}
		b[i] = v
	}
	return b, nil
}
