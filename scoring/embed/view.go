package embed

import (
	"fmt"
	"image"
	"image/draw"
	"math"
	"strings"
)

// View is a part of a picture an ONNX encoder looks at: Box is
// [x1, y1, x2, y2] in fractions of the picture's width and height, so that
// [0, 0, 1, 1] is the whole picture. The view is cut out before the
// encoder's own resize and crop, so a small view is seen at the encoder's
// full input resolution (a local defect fills more of what the encoder
// pools over).
type View struct {
	Name string     `json:"name"`
	Box  [4]float64 `json:"box"`
}

// SubjectFrame is the frame people keep around a subject
// (docs/upstream-workflow.md: centred horizontally, anchored at the top,
// linear scale 0.72), as a Box: model.PriorCrop's box.
var SubjectFrame = [4]float64{0.14, 0, 0.86, 0.72}

// namedViews are the views ParseViews knows.
var namedViews = []View{
	{Name: "full", Box: [4]float64{0, 0, 1, 1}},
	{Name: "subject", Box: SubjectFrame},
	{Name: "subject-left", Box: [4]float64{SubjectFrame[0], SubjectFrame[1], 0.5, SubjectFrame[3]}},
	{Name: "subject-right", Box: [4]float64{0.5, SubjectFrame[1], SubjectFrame[2], SubjectFrame[3]}},
}

// ViewNames returns the names ParseViews knows, in order.
func ViewNames() []string {
	names := make([]string, len(namedViews))
	for i, v := range namedViews {
		names[i] = v.Name
	}
	return names
}

// ParseViews reads a comma-separated list of view names ("full,subject").
// An empty list means the whole picture alone.
func ParseViews(s string) ([]View, error) {
	if strings.TrimSpace(s) == "" {
		return []View{namedViews[0]}, nil
	}
	var out []View
	seen := map[string]bool{}
	for _, name := range strings.Split(s, ",") {
		name = strings.TrimSpace(name)
		i := -1
		for k, v := range namedViews {
			if v.Name == name {
				i = k
			}
		}
		if i < 0 {
			return nil, fmt.Errorf("unknown view %q (known: %s)", name, strings.Join(ViewNames(), ", "))
		}
		if seen[name] {
			return nil, fmt.Errorf("view %q given twice", name)
		}
		seen[name] = true
		out = append(out, namedViews[i])
	}
	return out, nil
}

// Validate checks that the box is a non-empty part of [0, 1]².
func (v View) Validate() error {
	b := v.Box
	for _, x := range b {
		if math.IsNaN(x) || x < 0 || x > 1 {
			return fmt.Errorf("view %q: box %v is not within [0, 1]", v.Name, b)
		}
	}
	if b[2] <= b[0] || b[3] <= b[1] {
		return fmt.Errorf("view %q: box %v is empty", v.Name, b)
	}
	return nil
}

// IsFull reports whether the view is the whole picture.
func (v View) IsFull() bool { return v.Box == [4]float64{0, 0, 1, 1} }

// Rect returns the pixels of the view in a picture with bounds b: the box's
// edges rounded to the nearest pixel, at least one pixel wide and high.
func (v View) Rect(b image.Rectangle) image.Rectangle {
	w, h := float64(b.Dx()), float64(b.Dy())
	x0 := b.Min.X + int(math.Round(v.Box[0]*w))
	y0 := b.Min.Y + int(math.Round(v.Box[1]*h))
	x1 := b.Min.X + int(math.Round(v.Box[2]*w))
	y1 := b.Min.Y + int(math.Round(v.Box[3]*h))
	x0, y0 = min(x0, b.Max.X-1), min(y0, b.Max.Y-1)
	return image.Rect(x0, y0, max(x1, x0+1), max(y1, y0+1)).Intersect(b)
}

// Cut returns the view's part of img, sharing its pixels where the image
// type allows.
func (v View) Cut(img image.Image) image.Image {
	r := v.Rect(img.Bounds())
	if r == img.Bounds() {
		return img
	}
	if s, ok := img.(interface {
		SubImage(image.Rectangle) image.Image
	}); ok {
		return s.SubImage(r)
	}
	out := image.NewNRGBA(r)
	draw.Draw(out, r, img, r.Min, draw.Src)
	return out
}
