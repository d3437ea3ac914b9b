package model

import (
	"reflect"
	"testing"

	"screend"
)

func TestJudge(t *testing.T) {
	t.Parallel()
	sure := &Outcome{Kind: screend.OutcomeSelect, Auto: true}
	unsure := &Outcome{Kind: screend.OutcomeCrop, Reasons: []screend.Reason{screend.ReasonCropUncertain}}
	single := &Outcome{Kind: screend.OutcomeSelect, Reasons: []screend.Reason{screend.ReasonSingleImage}}
	type R = []screend.Reason
	for _, c := range []struct {
		name string
		ev   Evidence
		out  *Outcome
		want Verdict
	}{
		{"sure and nothing against it", Evidence{Images: 3}, sure, Verdict{Decided: true}},
		{"the model's own reasons", Evidence{Images: 3}, unsure, Verdict{Reasons: R{screend.ReasonCropUncertain}}},
		{"no model", Evidence{Images: 2, NoModel: true}, nil, Verdict{Reasons: R{screend.ReasonNoModel}}},
		{"no model, conflict", Evidence{Images: 2, NoModel: true, Conflict: true}, nil,
			Verdict{Reasons: R{screend.ReasonNoModel, screend.ReasonConflict}}},
		{"no model, one image", Evidence{Images: 1, NoModel: true}, nil,
			Verdict{Reasons: R{screend.ReasonNoModel, screend.ReasonSingleImage}}},
		{"missing embedding", Evidence{Images: 2, NoEmbedding: true, Conflict: true}, nil,
			Verdict{Reasons: R{screend.ReasonNoEmbedding}}},
		{"model failed", Evidence{Images: 2, ModelError: true}, nil, Verdict{Reasons: R{screend.ReasonModelError}}},
		{"sure but conflicting", Evidence{Images: 2, Conflict: true}, sure, Verdict{Reasons: R{screend.ReasonConflict}}},
		{"sure but unfamiliar", Evidence{Images: 2, Unfamiliar: true}, sure, Verdict{Reasons: R{screend.ReasonUnfamiliar}}},
		{"familiarity unknown", Evidence{Images: 2, Unfamiliar: true, FamiliarityError: true}, sure,
			Verdict{Reasons: R{screend.ReasonModelError}}},
		{"unsure, conflicting and unfamiliar", Evidence{Images: 2, Conflict: true, Unfamiliar: true}, unsure,
			Verdict{Reasons: R{screend.ReasonCropUncertain, screend.ReasonConflict, screend.ReasonUnfamiliar}}},
		{"sure crop, box too small", Evidence{Images: 2, CropTooSmall: true}, &Outcome{Kind: screend.OutcomeCrop, Auto: true},
			Verdict{Reasons: R{screend.ReasonCropTooSmall}}},
		{"one image: single_image once", Evidence{Images: 1}, single, Verdict{Reasons: R{screend.ReasonSingleImage}}},
		{"one image, conflict", Evidence{Images: 1, Conflict: true}, single,
			Verdict{Reasons: R{screend.ReasonSingleImage, screend.ReasonConflict}}},
	} {
		if got := Judge(c.ev, c.out); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: got %+v, want %+v", c.name, got, c.want)
		}
	}
}

func TestOutcomeCropTooSmall(t *testing.T) {
	t.Parallel()
	half := screend.Box{0.25, 0.25, 0.75, 0.75}
	for _, c := range []struct {
		name string
		kind screend.OutcomeKind
		box  screend.Box
		w, h int
		want bool
	}{
		{"half of 40 px: 20 px", screend.OutcomeCrop, half, 40, 40, false},
		{"half of 30 px: 15 px", screend.OutcomeCrop, half, 30, 30, true},
		{"wide enough, too short", screend.OutcomeCrop, half, 400, 30, true},
		{"exactly 16 px", screend.OutcomeCrop, half, 32, 32, false},
		{"a tiny box of a large image", screend.OutcomeCrop, screend.Box{0.5, 0.5, 0.5001, 0.5001}, 3072, 3072, true},
		{"not a crop: the box is only a suggestion", screend.OutcomeSelect, half, 20, 20, false},
		{"size unknown", screend.OutcomeCrop, half, 0, 0, false},
	} {
		o := Outcome{Kind: c.kind, Box: c.box}
		if got := o.CropTooSmall(c.w, c.h); got != c.want {
			t.Errorf("%s: CropTooSmall(%d, %d) = %v, want %v", c.name, c.w, c.h, got, c.want)
		}
	}
}
