package screend

// OutcomeKind is what a decision does with a group. It is stored in
// screend.decisions.outcome and screend.groups.suggested_outcome.
type OutcomeKind string

// The outcome kinds.
const (
	// OutcomeSelect keeps the chosen image as it is (to __selected).
	OutcomeSelect OutcomeKind = "select"
	// OutcomeCrop keeps the chosen image cropped to the decision's box (to
	// __cropped, its original to __originals).
	OutcomeCrop OutcomeKind = "crop"
	// OutcomeReject discards the whole group (to __delete_staging).
	OutcomeReject OutcomeKind = "reject"
	// OutcomeManualCrop keeps the chosen image for cropping by hand (to
	// __crop). Only a human decides it; the model never suggests it.
	OutcomeManualCrop OutcomeKind = "manual_crop"
)
