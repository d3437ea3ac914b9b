package training

import (
	"fmt"
	"math"
	"time"

	"screend"

	"screend/scoring/model"
)

// Example is one human decision about a group.
type Example struct {
	// Project is the group's project; projects never mix.
	Project string
	// GroupKey identifies the group within its project.
	GroupKey string
	// Time is when the group was made (or decided); the newest groups are
	// held out for validation.
	Time time.Time
	// Images are the group's images in group order.
	Images []model.Image
	// Chosen is the index of the kept image, -1 when the group was rejected.
	Chosen int
	// Crop is the normalised box [x1, y1, x2, y2] the human cropped the
	// chosen image to, nil for no crop. A full-frame box counts as no crop.
	Crop *screend.Box
	// CropUnknown says the human kept Chosen but whether (and how) it was
	// cropped is not known (a reviewer's manual crop, log rows without
	// coordinates, the selection and anomaly logs); Crop must be nil. The
	// ranker and the reject model learn from such an example, the crop model
	// does not, and evaluation judges it on its choice and keep/reject only.
	CropUnknown bool
}

// Rejected reports whether the human rejected the whole group.
func (e Example) Rejected() bool { return e.Chosen < 0 }

// Cropped reports whether the human kept the chosen image with a real
// (not full-frame) crop; false when the crop is unknown.
func (e Example) Cropped() bool {
	return e.Chosen >= 0 && !e.CropUnknown && e.Crop != nil && !e.Crop.IsFullFrame()
}

// CropLabelled reports whether the example teaches the crop model: the
// human kept an image and it is known whether, and how, it was cropped.
func (e Example) CropLabelled() bool { return e.Chosen >= 0 && !e.CropUnknown }

// Anomaly reports whether the human kept an image of a lower stage than the
// highest present in the group.
func (e Example) Anomaly() bool {
	if e.Chosen < 0 || e.Chosen >= len(e.Images) {
		return false
	}
	for _, im := range e.Images {
		if im.Stage > e.Images[e.Chosen].Stage {
			return true
		}
	}
	return false
}

// validate checks an example against the embedding dimension e.
func (e Example) validate(dim int) error {
	if len(e.Images) == 0 {
		return fmt.Errorf("no images")
	}
	if e.Chosen < -1 || e.Chosen >= len(e.Images) {
		return fmt.Errorf("chosen %d out of range for %d images", e.Chosen, len(e.Images))
	}
	for i, im := range e.Images {
		if len(im.Embedding) != dim {
			return fmt.Errorf("image %d: embedding of length %d, want %d", i, len(im.Embedding), dim)
		}
		for _, v := range im.Embedding {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return fmt.Errorf("image %d: embedding not finite", i)
			}
		}
	}
	if e.CropUnknown && e.Crop != nil {
		return fmt.Errorf("crop %v given but crop_unknown set", *e.Crop)
	}
	if c := e.Crop; c != nil {
		for _, v := range c {
			if math.IsNaN(v) || v < -1e-6 || v > 1+1e-6 {
				return fmt.Errorf("crop %v not normalised", *c)
			}
		}
		if c[2] <= c[0] || c[3] <= c[1] {
			return fmt.Errorf("crop %v is empty", *c)
		}
	}
	return nil
}

// cropTarget returns the (cx, cy, scale) target of a cropped example.
func (e Example) cropTarget() [3]float64 {
	cx, cy, s := e.Crop.Center()
	return [3]float64{clamp01(cx), clamp01(cy), math.Min(1, math.Max(screend.MinScale, s))}
}

func clamp01(v float64) float64 { return math.Min(1, math.Max(0, v)) }
