package screend

// ImageState is the life of an image, as stored in screend.images.state:
// discovered, then embedded (or a duplicate of an embedded image, or
// quarantined as bad input), and gone when its file disappeared.
type ImageState string

// The image states.
const (
	// ImageDiscovered: recorded, waiting to be decoded and embedded.
	ImageDiscovered ImageState = "discovered"
	// ImageEmbedded: decoded and embedded.
	ImageEmbedded ImageState = "embedded"
	// ImageDuplicate: the same content as another image (duplicate_of).
	ImageDuplicate ImageState = "duplicate"
	// ImageQuarantined: not a valid image; moved to __quarantine with its
	// reason.
	ImageQuarantined ImageState = "quarantined"
	// ImageGone: the file disappeared before it was decided.
	ImageGone ImageState = "gone"
)

// GroupState is the life of a group, as stored in screend.groups.state:
// open while files may still join, closed when final, then flagged for a
// human or decided, and applied when its files are moved.
type GroupState string

// The group states.
const (
	// GroupOpen: files arriving later may still change the group.
	GroupOpen GroupState = "open"
	// GroupClosed: the membership is final; waiting to be scored.
	GroupClosed GroupState = "closed"
	// GroupFlagged: waiting for a human (screend.review_queue).
	GroupFlagged GroupState = "flagged"
	// GroupDecided: decided, its files not moved yet.
	GroupDecided GroupState = "decided"
	// GroupApplied: decided and its files moved.
	GroupApplied GroupState = "applied"
)

// MoveKind is the kind of a journaled file operation, as stored in
// screend.file_moves.kind.
type MoveKind string

// The move kinds.
const (
	// MoveFile renames a file (copying across file systems).
	MoveFile MoveKind = "move"
	// CropFile writes a cropped copy of a file.
	CropFile MoveKind = "crop"
	// WriteSidecar writes a small file of given content.
	WriteSidecar MoveKind = "sidecar"
)

// MoveState is the life of a journaled file operation, as stored in
// screend.file_moves.state: planned before it is carried out, then done or
// failed.
type MoveState string

// The move states.
const (
	// MovePlanned: journaled, not yet carried out.
	MovePlanned MoveState = "planned"
	// MoveDone: carried out.
	MoveDone MoveState = "done"
	// MoveFailed: given up; the file is left where it was.
	MoveFailed MoveState = "failed"
)

// ModelState is the life of a registered model, as stored in
// screend.models.state.
type ModelState string

// The model states.
const (
	// ModelCandidate: registered, never active.
	ModelCandidate ModelState = "candidate"
	// ModelActive: the model the daemon decides with; at most one.
	ModelActive ModelState = "active"
	// ModelRetired: was active, replaced.
	ModelRetired ModelState = "retired"
	// ModelFailedGate: did not pass the promotion gate.
	ModelFailedGate ModelState = "failed_gate"
)
