package screend

// Reason says why a group is flagged for review instead of decided by the
// model. A flagged group carries every reason that applies; they are stored
// in screend.groups.reasons and shown in screend.review_queue.
type Reason string

// The flag reasons.
const (
	// ReasonLowMargin: the ranker is not sure which image is best (the
	// chosen image's probability is what held the confidence back).
	ReasonLowMargin Reason = "low_margin"
	// ReasonCropUncertain: the model is not sure whether to crop.
	ReasonCropUncertain Reason = "crop_uncertain"
	// ReasonCropTooSmall: the model would crop the chosen image to a box
	// under MinCropPixels a side, which cannot be cut; a person decides.
	ReasonCropTooSmall Reason = "crop_too_small"
	// ReasonRejectUncertain: the model is not sure whether to keep the group.
	ReasonRejectUncertain Reason = "reject_uncertain"
	// ReasonSingleImage: a group of one image is never decided
	// automatically.
	ReasonSingleImage Reason = "single_image"
	// ReasonUnfamiliar: the best image is farther from every training image
	// than the model's familiar radius.
	ReasonUnfamiliar Reason = "unfamiliar"
	// ReasonConflict: the group holds the same content as a group already
	// decided.
	ReasonConflict Reason = "conflict"
	// ReasonNoModel: there is no active model for the running embedder, so
	// nothing is decided on guesswork.
	ReasonNoModel Reason = "no_model"
	// ReasonNoEmbedding: an image of the group has no embedding for the
	// running embedder.
	ReasonNoEmbedding Reason = "no_embedding"
	// ReasonModelError: running the model, or a check beside it, failed.
	ReasonModelError Reason = "model_error"
	// ReasonTakenBack: a decision of the group was taken back
	// (screend.undo_group); a person decides it again.
	ReasonTakenBack Reason = "taken_back"
)

// Reasons lists every flag reason.
var Reasons = []Reason{
	ReasonLowMargin, ReasonCropUncertain, ReasonCropTooSmall, ReasonRejectUncertain, ReasonSingleImage,
	ReasonUnfamiliar, ReasonConflict, ReasonNoModel, ReasonNoEmbedding, ReasonModelError, ReasonTakenBack,
}
