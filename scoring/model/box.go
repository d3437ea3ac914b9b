package model

import "math"

// MinScale is the smallest linear crop scale BoxFromCenter produces.
const MinScale = 0.05

// FullFrameTolerance is how close to the image's edges a box must be, on every
// side, to count as a full-frame crop, which means "no crop".
const FullFrameTolerance = 0.01

// BoxFromCenter turns a crop given as centre (cx, cy) and linear scale, all
// normalised to the image, into corners [x1, y1, x2, y2] normalised to [0, 1].
// The box keeps the image's aspect ratio (its width and height are both scale
// times the image's); the scale is clamped to [MinScale, 1] and a box that
// would leave the image is shifted back inside, never shrunk.
func BoxFromCenter(cx, cy, scale float64) [4]float64 {
	if math.IsNaN(scale) {
		scale = 1
	}
	s := math.Min(1, math.Max(MinScale, scale))
	x1 := shiftInside(cx-s/2, s)
	y1 := shiftInside(cy-s/2, s)
	return [4]float64{x1, y1, x1 + s, y1 + s}
}

// shiftInside moves the start of a segment of length s so that it lies in [0, 1].
func shiftInside(start, s float64) float64 {
	if math.IsNaN(start) {
		start = (1 - s) / 2
	}
	return math.Min(1-s, math.Max(0, start))
}

// CenterFromBox is the inverse of BoxFromCenter for a normalised box: its
// centre and its linear scale, the mean of its width and height (which are
// equal for a box that keeps the aspect ratio).
func CenterFromBox(b [4]float64) (cx, cy, scale float64) {
	return (b[0] + b[2]) / 2, (b[1] + b[3]) / 2, ((b[2] - b[0]) + (b[3] - b[1])) / 2
}

// IsFullFrame reports whether a normalised box covers the whole image within
// FullFrameTolerance: such a crop is a no-op and means "no crop".
func IsFullFrame(b [4]float64) bool {
	t := FullFrameTolerance
	return b[0] <= t && b[1] <= t && b[2] >= 1-t && b[3] >= 1-t
}

// IoU returns the intersection over union of two normalised boxes.
func IoU(a, b [4]float64) float64 {
	iw := math.Min(a[2], b[2]) - math.Max(a[0], b[0])
	ih := math.Min(a[3], b[3]) - math.Max(a[1], b[1])
	if iw <= 0 || ih <= 0 {
		return 0
	}
	inter := iw * ih
	union := (a[2]-a[0])*(a[3]-a[1]) + (b[2]-b[0])*(b[3]-b[1]) - inter
	if union <= 0 {
		return 0
	}
	return inter / union
}
