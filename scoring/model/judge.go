package model

import (
	"slices"

	"screend"
)

// Evidence is what is known of a group beside the model's outcome: facts
// the decider gathers from the database and from running the model.
type Evidence struct {
	// Images is the number of images in the group.
	Images int
	// NoModel: no model is active for the running embedder.
	NoModel bool
	// NoEmbedding: an image of the group has no embedding for the running
	// embedder.
	NoEmbedding bool
	// ModelError: running the model on the group failed.
	ModelError bool
	// Conflict: the group holds the same content as a group already
	// decided.
	Conflict bool
	// Unfamiliar: the chosen image is farther from every training image
	// than the model's familiar radius.
	Unfamiliar bool
	// FamiliarityError: the familiarity check failed.
	FamiliarityError bool
	// CropTooSmall: the outcome crops the chosen image to a box under
	// screend.MinCropPixels a side (Outcome.CropTooSmall).
	CropTooSmall bool
}

// Verdict is what becomes of a group: decided automatically, or flagged for
// review with every reason that applies.
type Verdict struct {
	Decided bool
	Reasons []screend.Reason
}

// Judge decides whether a group may be decided without a human, from the
// model's outcome (nil when the model did not run) and the evidence. A
// group is decided only when the model ran, is sure of its outcome (Auto)
// and nothing else speaks against it; otherwise every reason is given:
// no_model (with conflict), no_embedding, model_error, or the outcome's
// reasons with crop_too_small, conflict, model_error (a failed
// familiarity check) or unfamiliar; single_image is always among the reasons of a group of one.
func Judge(ev Evidence, out *Outcome) Verdict {
	var rs []screend.Reason
	switch {
	case ev.NoModel:
		rs = append(rs, screend.ReasonNoModel)
		if ev.Conflict {
			rs = append(rs, screend.ReasonConflict)
		}
	case ev.NoEmbedding:
		rs = append(rs, screend.ReasonNoEmbedding)
	case ev.ModelError || out == nil:
		rs = append(rs, screend.ReasonModelError)
	default:
		rs = append(rs, out.Reasons...)
		if ev.Conflict {
			rs = append(rs, screend.ReasonConflict)
		}
		if ev.CropTooSmall {
			rs = append(rs, screend.ReasonCropTooSmall)
		}
		if ev.FamiliarityError {
			rs = append(rs, screend.ReasonModelError)
		} else if ev.Unfamiliar {
			rs = append(rs, screend.ReasonUnfamiliar)
		}
		if out.Auto && len(rs) == 0 {
			return Verdict{Decided: true}
		}
	}
	if ev.Images == 1 && !slices.Contains(rs, screend.ReasonSingleImage) {
		rs = append(rs, screend.ReasonSingleImage)
	}
	return Verdict{Reasons: rs}
}

// CropTooSmall reports whether the outcome crops its chosen image, of w×h
// pixels, to a box under screend.MinCropPixels a side, as the box is stored
// (real[]) and cut: such a crop cannot be carried out, so the group goes to
// a person instead of failing. An image of unknown size (0) is not judged.
func (o Outcome) CropTooSmall(w, h int) bool {
	if o.Kind != screend.OutcomeCrop || w <= 0 || h <= 0 {
		return false
	}
	stored, err := screend.BoxFromFloat32s(o.Box.Float32s())
	if err != nil || stored == nil {
		return false
	}
	r := stored.Rect(w, h)
	return r.Dx() < screend.MinCropPixels || r.Dy() < screend.MinCropPixels
}
