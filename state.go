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
// human or decided, applying while its journaled moves are carried out,
// and applied when every one is done, or failed when its decision could
// not be carried out (screend.groups.error says why).
type GroupState string

// The group states.
const (
	// GroupOpen: files arriving later may still change the group.
	GroupOpen GroupState = "open"
	// GroupClosed: the membership is final; waiting to be scored.
	GroupClosed GroupState = "closed"
	// GroupFlagged: waiting for a human (screend.review_queue).
	GroupFlagged GroupState = "flagged"
	// GroupDecided: decided, its moves not planned yet.
	GroupDecided GroupState = "decided"
	// GroupApplying: its moves are journaled, not all done yet (a move that
	// failed waits for a retry).
	GroupApplying GroupState = "applying"
	// GroupApplied: decided and every one of its files moved.
	GroupApplied GroupState = "applied"
	// GroupFailed: its decision could not be carried out (the chosen file
	// or the project folder is gone, a move cannot be done, the decision
	// is invalid); screend.groups.error says why. Files already moved stay
	// moved.
	GroupFailed GroupState = "failed"
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
// failed. A planned operation that failed for a reason that can go away
// (a permission, a full disk) stays planned, with attempts, error and
// retry_after, until a retry succeeds.
type MoveState string

// The move states.
const (
	// MovePlanned: journaled, not yet carried out (attempts > 0: failed
	// that often, retried after retry_after).
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
