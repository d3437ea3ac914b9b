package screend

// PostgreSQL NOTIFY channels. The payload is an id as text.
const (
	// ChannelResolved carries the id of a group a human resolved
	// (screend.resolve_group sends it); the daemon's applier wakes on it.
	ChannelResolved = "screend_resolved"
	// ChannelModel carries the id of a newly promoted model; the daemon's
	// decider loads it.
	ChannelModel = "screend_model"
	// ChannelTakeBack carries the id of a group whose decision is to be
	// taken back (screend.undo_group sends it); the daemon's take-back
	// service moves its files back.
	ChannelTakeBack = "screend_take_back"
)
